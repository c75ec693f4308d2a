"""Build the course-material site: `make book` (python book/build.py).

Stages the Sphinx sources under build/book/src, then runs Sphinx (myst-nb, sphinx-book-theme) to
build/book/html.  Every notebook matching notebooks/[0-9][0-9]_*.ipynb is picked up, rendered from
its committed outputs (never executed).  Generated here:

* the notebook table of the landing page (title, learning goals) from each notebook's first cell;
* CONVENTIONS.md and REFERENCES.md of the repository root, copied as pages of the same names (one
  source: the links between them and to notebooks/ read the same in the repository and in the
  book);
* gallery.md: every figure a notebook saves with ``save(fig, "NAME")``, taken from figures/NAME.png
  (paper scale, written by `make figures`) when present, else from the notebook's committed output
  (CI scale);
* api/: one page per ntklib module or subpackage (autodoc, from the docstrings) and a table of every
  name in ``ntklib.__all__`` and in each namespace's ``__all__`` (nk.phases, nk.plotting.phases,
  ...);
* build/book/docstring_audit.txt: public names whose docstring lacks Args/Returns/Example sections.

After the build, every HTML and CSS file is scanned: a script, style sheet, font or image loaded
from an http(s) URL fails the build (the book must work offline).  Links (<a href>) to the web are
allowed.
"""

import argparse
import base64
import inspect
import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
ROOT_PAGES = ("CONVENTIONS.md", "REFERENCES.md")  # repository files that are also pages of the book
GALLERY_PX_PER_INCH = 100  # a figure is shown at the size it has in the notebook
SAVE_CALL = re.compile(r"""\bsave\(\s*[^,()]+,\s*f?["']([^"']+)["']""")
EXTERNAL_LOAD = re.compile(
    r"""<(?:script|img|iframe|source|audio|video)\b[^>]*\bsrc\s*=\s*["']\s*(?:https?:)?//[^"']*["']"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']\s*(?:https?:)?//[^"']*["'][^>]*>"""
    r"""|url\(\s*["']?\s*(?:https?:)?//[^)]*\)|@import\s+["']\s*(?:https?:)?//[^"']*""",
    re.I,
)
LINK_REL_OK = re.compile(r"""\brel\s*=\s*["'](?:canonical|author|license|me)["']""", re.I)


def write_if_changed(path: Path, data: bytes) -> None:
    """Write only when the content differs, so Sphinx rebuilds only what changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob(NOTEBOOK_GLOB))


def md_source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def notebook_summary(path: Path) -> tuple[str, str]:
    """(title, learning goals) from the notebook's markdown cells."""
    nb = json.loads(path.read_text())
    title, goals = path.stem, ""
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = md_source(cell)
        if title == path.stem:
            m = re.search(r"^#\s+(.+)$", text, re.M)
            if m:
                title = m.group(1).strip()
        m = re.search(
            r"^>?\s*\*\*Learning goals\.?\*\*\.?\s*(.+?)(?:\n\s*\n|\Z)", text, re.M | re.S
        )
        if m and not goals:
            goals = " ".join(line.lstrip("> ").strip() for line in m.group(1).splitlines())
    return title, goals


def notebook_table(nbs: list[Path]) -> str:
    if not nbs:
        return "*(no notebook found in notebooks/)*\n"
    rows = ["| | notebook | learning goals |", "|---|---|---|"]
    for p in nbs:
        title, goals = notebook_summary(p)
        title = re.sub(r"^\d+\s*[·.:-]\s*", "", title)
        goals = goals.replace("|", r"\|") or "-"
        rows.append(f"| {p.stem[:2]} | [{title}](notebooks/{p.name}) | {goals} |")
    return "\n".join(rows) + "\n"


def png_display_width(data: bytes) -> int | None:
    """CSS width of a PNG at GALLERY_PX_PER_INCH, from its size and its pHYs resolution (matplotlib
    writes one)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width = struct.unpack(">I", data[16:20])[0]
    i = data.find(b"pHYs", 8, 4096)
    dpi = 100.0
    if i > 0:
        ppu_x, _, unit = struct.unpack(">IIB", data[i + 4 : i + 13])
        if unit == 1 and ppu_x > 0:
            dpi = ppu_x * 0.0254
    return max(1, round(width * GALLERY_PX_PER_INCH / dpi))


def gallery(nbs: list[Path], src: Path) -> tuple[str, list[str]]:
    """The gallery page and the list of figure names in it."""
    out = [
        "# Figures gallery",
        "",
        (
            "Every figure the notebooks save, in notebook order. Figures marked *paper scale* come "
            "from"
        ),
        (
            "`figures/` (written by `make figures` with `params/NAME.yml`); the others are the "
            "notebook's committed"
        ),
        (
            "output at CI scale. Click a notebook link to see the figure in context, with the code "
            "that made it."
        ),
        "",
    ]
    names = []
    for p in nbs:
        nb = json.loads(p.read_text())
        title, _ = notebook_summary(p)
        heading, figs = "", []
        for cell in nb["cells"]:
            text = md_source(cell)
            if cell["cell_type"] == "markdown":
                hs = re.findall(r"^#{1,3}\s+(.+)$", text, re.M)
                if hs:
                    heading = hs[-1].strip()
                continue
            if cell["cell_type"] != "code":
                continue
            saved = SAVE_CALL.findall(text)
            pngs = [
                o["data"]["image/png"]
                for o in cell.get("outputs", [])
                if "data" in o and "image/png" in o["data"]
            ]
            for i, name in enumerate(saved):
                paper = ROOT / "figures" / f"{name}.png"
                if paper.exists():
                    data, scale = paper.read_bytes(), "paper scale"
                elif i < len(pngs):
                    b64 = pngs[i] if isinstance(pngs[i], str) else "".join(pngs[i])
                    data, scale = base64.b64decode(b64), "CI scale"
                else:
                    continue
                write_if_changed(src / "_gallery" / f"{name}.png", data)
                figs.append((name, scale, heading, png_display_width(data)))
        if not figs:
            continue
        out += [f"## {title}", ""]
        for name, scale, heading, width in figs:
            names.append(name)
            caption = f"`{name}` ({scale}). {heading}" if heading else f"`{name}` ({scale})."
            # the figure's own size (ntkbook.css caps it at the column width), never stretched to
            # the column
            out += [
                f":::{{figure}} _gallery/{name}.png",
                f":name: fig-{name}",
                *([f":width: {width}px"] if width else []),
                f":alt: figure {name}",
                "",
                caption + f" From [{p.stem}](notebooks/{p.name}).",
                ":::",
                "",
            ]
    if not names:
        out.append("*(no saved figure found in the notebooks)*")
    return "\n".join(out) + "\n", names


def ntklib_modules() -> list[str]:
    """One API page per module of the package top level and per subpackage (phases, deconv, ...)."""
    pkg = ROOT / "ntklib"
    files = [p.stem for p in pkg.glob("*.py") if not p.stem.startswith("_")]
    packages = [
        p.parent.name for p in pkg.glob("*/__init__.py") if not p.parent.name.startswith("_")
    ]
    return sorted(files + packages)


def submodules(name: str) -> list[str]:
    """The modules of subpackage ntklib.NAME (dotted, under ntklib), or [] for a plain module."""
    folder = ROOT / "ntklib" / name
    if not (folder / "__init__.py").exists():
        return []
    return sorted(f"{name}.{p.stem}" for p in folder.glob("*.py") if not p.stem.startswith("_"))


def first_line(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ").replace("|", r"\|")


def name_rows(prefix: str, names, owner) -> list[str]:
    """Table rows for the names of a namespace: `nk.PREFIX.NAME`, its home module, its first
    line."""
    rows = []
    for name in names:
        obj = getattr(owner, name)
        shown = f"{prefix}{name}"
        if inspect.ismodule(obj):
            page = obj.__name__.removeprefix("ntklib.").split(".")[
                0
            ]  # a subpackage's modules share its page
            rows.append(
                f"| [`{shown}`]({page}.md) | `{obj.__name__}` | {first_line(obj) or 'module'} |"
            )
            continue
        mod = getattr(obj, "__module__", "") or ""
        if mod.startswith("ntklib.") and (inspect.isfunction(obj) or inspect.isclass(obj)):
            rows.append(f"| {{py:obj}}`{shown} <{mod}.{name}>` | `{mod}` | {first_line(obj)} |")
        else:
            rows.append(f"| `{shown}` | | {type(obj).__name__} |")
    return rows


def namespaces():
    """(prefix, module) for every namespace in ntklib.__all__ and the modules listed in theirs
    (nk.plotting.phases)."""
    import ntklib

    out, todo = (
        [],
        [
            ("nk." + n + ".", getattr(ntklib, n))
            for n in ntklib.__all__
            if inspect.ismodule(getattr(ntklib, n))
        ],
    )
    while todo:
        prefix, mod = todo.pop(0)
        out.append((prefix, mod))
        todo += [
            (prefix + n + ".", getattr(mod, n))
            for n in getattr(mod, "__all__", [])
            if inspect.ismodule(getattr(mod, n))
        ]
    return out


def api_pages(src: Path) -> dict[str, str]:
    """api/index.md and one api/<module>.md per ntklib module or subpackage."""
    sys.path.insert(0, str(ROOT))
    import ntklib

    pages = {}
    mods = ntklib_modules()
    head = ["| name | module | what it computes |", "|---|---|---|"]
    sections = ["## The core: `nk.NAME`", "", *head, *name_rows("nk.", ntklib.__all__, ntklib), ""]
    for prefix, mod in namespaces():
        public = [n for n in getattr(mod, "__all__", []) if not inspect.ismodule(getattr(mod, n))]
        if public:
            sections += [
                f"## `{prefix.rstrip('.')}`",
                "",
                first_line(mod),
                "",
                *head,
                *name_rows(prefix, public, mod),
                "",
            ]
    pages["index"] = "\n".join(
        [
            "# API reference: `ntklib`",
            "",
            (
                "Generated from the docstrings by `make book`. The reusable core is importable "
                "from the package top"
            ),
            (
                "level (`import ntklib as nk; nk.ntk(...)`); each topic is a namespace named "
                "after its concept, so a"
            ),
            (
                "call says where to look (`nk.phases.poincare_table(...)`, "
                "`nk.plotting.phases.plot_phase_map(...)`)."
            ),
            (
                "The pages below group the names by module; a topic with several files has one "
                "page with a section"
            ),
            (
                "per file. Conventions (NTK parametrisation, balance $\\beta$, `depth` = number of "
                "weight layers) are"
            ),
            "those of the [conventions page](../CONVENTIONS.md); docstrings cite its sections as",
            "CONVENTIONS.md §1, ...",
            "",
            *sections,
            "```{toctree}",
            ":maxdepth: 1",
            ":caption: Modules",
            "",
            *mods,
            "```",
            "",
        ]
    )
    for mod in mods:
        subs = submodules(mod)
        if not subs:
            pages[mod] = "\n".join(
                [
                    f"# `ntklib.{mod}`",
                    "",
                    "```{eval-rst}",
                    f".. automodule:: ntklib.{mod}",
                    "   :members:",
                    "```",
                    "",
                ]
            )
            continue
        lines = [
            f"# `ntklib.{mod}`",
            "",
            "```{eval-rst}",
            f".. automodule:: ntklib.{mod}",
            "   :no-members:",
            "```",
            "",
        ]
        for sub in subs:
            lines += [
                f"## `ntklib.{sub}`",
                "",
                "```{eval-rst}",
                f".. automodule:: ntklib.{sub}",
                "   :members:",
                "```",
                "",
            ]
        pages[mod] = "\n".join(lines)
    return pages


def docstring_audit() -> list[str]:
    """Public names whose docstring lacks a section the course material relies on."""
    import ntklib

    gaps = []
    names = [(name, getattr(ntklib, name)) for name in ntklib.__all__]
    for (
        prefix,
        mod,
    ) in namespaces():  # nk.data.circle, nk.phases.poincare_table, nk.plotting.phases...
        names.append((prefix.removeprefix("nk.").rstrip("."), mod))
        public = getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")])
        names += [
            (prefix.removeprefix("nk.") + n, getattr(mod, n))
            for n in public
            if str(getattr(getattr(mod, n), "__module__", None)).startswith(mod.__name__)
        ]
    for name, obj in names:
        if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj)):
            continue
        where = (
            obj.__name__ if inspect.ismodule(obj) else f"{obj.__module__}.{name.rsplit('.', 1)[-1]}"
        )
        doc = inspect.getdoc(obj) if not inspect.isclass(obj) else (obj.__doc__ or "")
        if inspect.ismodule(obj):
            if not doc:
                gaps.append(f"{where}: no module docstring")
            continue
        missing = []
        if not doc:
            missing.append("docstring")
        else:
            try:
                params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
            except (TypeError, ValueError):
                params = []
            if params and not re.search(r"^\s*(Args|Arguments|Parameters)\s*:", doc, re.M):
                missing.append("Args")
            if inspect.isfunction(obj) and not re.search(r"^\s*(Returns?|Yields?)\b", doc, re.M):
                missing.append("Returns")
            if not re.search(r"^\s*(Examples?\s*:|>>>)", doc, re.M):
                missing.append("Example")
        if missing:
            gaps.append(f"{where}: missing {', '.join(missing)}")
    return gaps


def stage(src: Path) -> list[str]:
    nbs = notebooks()
    keep = set()
    for f in BOOK.rglob("*"):
        rel = f.relative_to(BOOK)
        if f.is_dir() or rel.name in ("build.py", "check_site.py") or "__pycache__" in rel.parts:
            continue
        data = f.read_bytes()
        if rel.as_posix() == "index.md":
            data = data.replace(b"<!-- ntkbook:notebook-table -->", notebook_table(nbs).encode())
        write_if_changed(src / rel, data)
        keep.add(rel.as_posix())
    for name in ROOT_PAGES:
        if (ROOT / name).exists():
            write_if_changed(src / name, (ROOT / name).read_bytes())
            keep.add(name)
    for p in nbs:
        write_if_changed(src / "notebooks" / p.name, p.read_bytes())
        keep.add(f"notebooks/{p.name}")
    text, figs = gallery(nbs, src)
    write_if_changed(src / "gallery.md", text.encode())
    keep.add("gallery.md")
    keep.update(f"_gallery/{n}.png" for n in figs)
    for name, text in api_pages(src).items():
        write_if_changed(src / "api" / f"{name}.md", text.encode())
        keep.add(f"api/{name}.md")
    for f in list(src.rglob("*")):  # a notebook or figure that went away leaves no page behind
        if (
            f.is_file()
            and f.relative_to(src).as_posix() not in keep
            and "__pycache__" not in f.parts
        ):
            f.unlink()
    return [p.stem for p in nbs]


def offline_scan(html: Path) -> list[str]:
    bad = []
    for f in sorted(list(html.rglob("*.html")) + list(html.rglob("*.css"))):
        if "_sources" in f.parts:
            continue
        for m in EXTERNAL_LOAD.finditer(f.read_text(errors="replace")):
            if m.group(0).lower().startswith("<link") and LINK_REL_OK.search(m.group(0)):
                continue
            bad.append(f"{f.relative_to(html)}: {m.group(0)[:160]}")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--out", default=str(ROOT / "build" / "book"), help="build folder (default build/book)"
    )
    ap.add_argument(
        "--repo",
        default=os.environ.get("BOOK_REPO", ""),
        help="public repository URL for Binder links, e.g. https://github.com/OWNER/REPO",
    )
    args = ap.parse_args()
    out = Path(args.out).resolve()
    src, html, doctrees = out / "src", out / "html", out / "doctrees"
    t0 = time.time()
    names = stage(src)
    repo = args.repo.strip()
    if not repo:
        r = subprocess.run(
            ["git", "-C", str(ROOT), "remote", "get-url", "origin"], capture_output=True, text=True
        )
        url = r.stdout.strip()
        m = re.match(r"(?:https://github\.com/|git@github\.com:)([^/]+/[^/]+?)(?:\.git)?/?$", url)
        repo = f"https://github.com/{m.group(1)}" if m else ""
    if not repo:  # the project's one setting (book/links.py)
        sys.path.insert(0, str(BOOK))
        import links

        repo = links.REPOSITORY_URL
    env = dict(os.environ, NTKBOOK_ROOT=str(ROOT), NTKBOOK_REPOSITORY_URL=repo, PYTHONHASHSEED="0")
    warnings = out / "sphinx-warnings.txt"
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-q",
        "-d",
        str(doctrees),
        "-w",
        str(warnings),
        "--keep-going",
        str(src),
        str(html),
    ]
    r = subprocess.run(cmd, env=env, cwd=str(ROOT))
    if r.returncode != 0:
        print(f"book: sphinx-build failed (exit {r.returncode}); see {warnings}", file=sys.stderr)
        return r.returncode
    bad = offline_scan(html)
    if bad:
        print(
            "book: pages load resources from the network (the book must build and work offline):",
            *bad,
            sep="\n  ",
            file=sys.stderr,
        )
        return 1
    gaps = docstring_audit()
    (out / "docstring_audit.txt").write_text("\n".join(gaps) + ("\n" if gaps else ""))
    lines = warnings.read_text().splitlines() if warnings.exists() else []
    n_warn = sum(1 for line in lines if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line))
    ours = [
        line
        for line in lines
        if line.startswith(str(src)) and re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line)
    ]
    if (
        ours
    ):  # a broken cross-reference or bad markup in a page (docstring warnings are only counted)
        print("book: Sphinx warnings in the book's pages:", *ours, sep="\n  ", file=sys.stderr)
        return 1
    pages = sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not {"_static", "_sources", "_modules"} & set(p.parts)
        and p.name not in ("genindex.html", "search.html", "py-modindex.html")
    )
    print(
        f"book: {len(pages)} pages ({len(names)} notebooks: {', '.join(names)}) in "
        f"{html.relative_to(ROOT) if html.is_relative_to(ROOT) else html}"
        f" in {time.time() - t0:.0f} s; {n_warn} Sphinx warnings ({warnings.name}); "
        f"{len(gaps)} docstring gaps (docstring_audit.txt)"
        + (
            ""
            if repo
            else "; no repository URL: Binder links omitted (make book BOOK_REPO=https://github.com/OWNER/REPO)"
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
