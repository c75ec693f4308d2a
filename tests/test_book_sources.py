"""The project's own reference pages: CONVENTIONS.md, REFERENCES.md, CITATION.cff, LICENSE.

Text checks only (no Sphinx needed): every author-year citation in the notebooks, the package,
the book's pages and the reference pages has an entry in REFERENCES.md; every "CONVENTIONS.md §N"
names a section that exists; the errata table links existing notebooks; CITATION.cff and LICENSE say
what pyproject.toml says.  The citation finder is the one the book uses to link citations
(book/_ext/ntkrefs.py).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import ntkrefs  # noqa: E402

# Citations that cannot be resolved from the text alone.  "Yang 2019" (ntklib/tensor_programs.py,
# "Tensor Programs (Yang 2019, 2020; ...)") may mean Yang's 2019 "Scaling limits of wide neural
# networks with weight sharing" (arXiv 1902.04760) or Tensor Programs I (arXiv 1910.12478):
# the docstring should say which.
AMBIGUOUS = {"yang2019"}
WITHOUT_LINK = {
    "ntktalk2019",
    "williams1997",
    "cho2009",
    "rasmussen2006",
}  # a talk, two NIPS papers, a book


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def notebook_text(path: Path) -> str:
    cells = json.loads(read(path))["cells"]
    return "\n".join(
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells
    )


def cited_texts() -> dict[str, str]:
    """{file: text} of every file whose citations readers see (notebook outputs left out)."""
    files = {p: notebook_text(p) for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
    for pattern in ("ntklib/**/*.py", "book/*.md", "*.md"):
        files.update({p: read(p) for p in sorted(ROOT.glob(pattern)) if p.name != "REFERENCES.md"})
    return {p.relative_to(ROOT).as_posix(): text for p, text in files.items()}


REFS = ntkrefs.references(read(ROOT / "REFERENCES.md"))
SECTIONS = ntkrefs.convention_sections(read(ROOT / "CONVENTIONS.md"))


def test_reference_keys_are_author_and_year():
    """Each entry's anchor is its first author's surname and year, so "Jacot et al. 2019b" finds
    jacot2019b."""
    assert len(REFS) >= 20
    for key, label in REFS.items():
        if key == "ntktalk2019":
            continue
        first, year = label.split()[0].rstrip(","), label.split()[-1]
        assert key == ntkrefs.citation_key(first, year), (key, label)
    text = read(ROOT / "REFERENCES.md")
    assert len(re.findall(r'<a id="', text)) == len(REFS), (
        "an entry without the anchor-and-label form"
    )


def test_reference_links_are_well_formed():
    """Every entry but those of WITHOUT_LINK links an arXiv abstract or a DOI; the link text matches
    its target."""
    entries = re.split(r'\n(?=\* <a id=")', read(ROOT / "REFERENCES.md"))
    for entry in entries:
        m = re.match(r'\* <a id="([^"]+)">', entry)
        if not m:
            continue
        links = re.findall(r"\[([^\]]+)\]\(([^)]+)\)", entry)
        if m.group(1) in WITHOUT_LINK:
            assert not links, m.group(1)
            continue
        assert links, f"{m.group(1)}: no arXiv or DOI link"
        for text, url in links:
            arxiv = re.fullmatch(r"arXiv:(\d{4}\.\d{4,5})", text)
            doi = re.fullmatch(r"doi:(10\.\d{4,5}/\S+)", text)
            assert arxiv or doi, (m.group(1), text)
            if arxiv:
                assert url == f"https://arxiv.org/abs/{arxiv.group(1)}", (text, url)
            else:
                assert url == f"https://doi.org/{doi.group(1)}", (text, url)


def test_every_citation_has_a_reference():
    """An author-year citation in a notebook, in ntklib or on a page resolves to an entry
    of REFERENCES.md."""
    missing = {}
    for name, text in cited_texts().items():
        for a, b, key in ntkrefs.citations(text):
            if key not in REFS and key not in AMBIGUOUS:
                missing.setdefault(name, []).append(text[a:b])
    assert not missing, f"citations without an entry in REFERENCES.md: {missing}"


def test_conventions_sections():
    """§1 is the network and its kernels (what the code cites); the top-level sections run 1, 2,
    ... 7."""
    top = [n for n in SECTIONS if "." not in n]
    assert top == [str(k) for k in range(1, len(top) + 1)] and len(top) == 7, top
    assert SECTIONS["1"] == "Network, parametrisation and kernels"
    assert SECTIONS["7"].startswith("Errata")


def test_cited_convention_sections_exist():
    """Every "CONVENTIONS.md §N" in the code, the tests, the notebooks and the pages names
    an existing section."""
    texts = cited_texts()
    texts.update(
        {p.relative_to(ROOT).as_posix(): read(p) for p in sorted((ROOT / "tests").glob("*.py"))}
    )
    bad = [
        (name, m.group(0))
        for name, text in texts.items()
        for m in ntkrefs.CONVENTION_REF.finditer(text)
        if m.group("section") and m.group("section") not in SECTIONS
    ]
    assert not bad, bad


def test_errata_table_links_the_notebooks():
    """Four errata, each with the notebook that shows it (an existing file)."""
    text = read(ROOT / "CONVENTIONS.md").split("## 7.", 1)[1]
    rows = [line for line in text.splitlines() if line.startswith("| *")]
    assert len(rows) == 4, rows
    for row in rows:
        targets = re.findall(r"\]\((notebooks/[^)]+\.ipynb)\)", row)
        assert len(targets) == 1 and (ROOT / targets[0]).is_file(), row


@pytest.mark.parametrize("page", ["CONVENTIONS.md", "REFERENCES.md"])
def test_relative_links_resolve(page):
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", read(ROOT / page)):
        assert (ROOT / target).exists(), f"{page}: link to {target}"


def test_citation_cff_and_license():
    """CITATION.cff (CFF 1.2.0) and LICENSE agree with pyproject.toml: version 0.1.0, MIT."""
    cff = yaml.safe_load(read(ROOT / "CITATION.cff"))
    version = re.search(r'^version = "([^"]+)"', read(ROOT / "pyproject.toml"), re.M).group(1)
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == version and cff["license"] == "MIT"
    assert cff["title"] and cff["message"]
    assert cff["authors"] == [{"name": "the ntk-notebooks authors"}]
    titles = [r["title"] for r in cff["references"]]
    assert any("Neural Tangent Kernel" in t for t in titles) and any(
        "Tensor Programs IIb" in t for t in titles
    )
    assert 'license = { text = "MIT" }' in read(ROOT / "pyproject.toml")
    lic = read(ROOT / "LICENSE")
    assert lic.startswith("MIT License") and "Copyright (c) 2026 the ntk-notebooks authors" in lic
