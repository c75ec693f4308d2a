"""Put the course cells at the top of each notebook, idempotently: a first Markdown cell with the
"Open in Colab" and Binder badges, and, before the notebook's first code cell, a cell that installs
ntklib when it is missing (Colab and Binder have no clone).  The links come from book/links.py.

    python scripts/course_cells.py                       # notebooks/NN_*.ipynb, rewritten in place
    python scripts/course_cells.py --check               # exit 1, listing those not up to date
    python scripts/course_cells.py path/a.ipynb ...      # chosen notebooks
    python scripts/course_cells.py --readme              # only README.md's links section

The cells are recognised by their ids (course-badges, course-install): running it again replaces
them with the current text and position, so two runs give what one run gives.  Notebooks are
written as nbformat writes them (indent 1, UTF-8, final newline).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
import links  # noqa: E402

BADGES_ID, INSTALL_ID = "course-badges", "course-install"


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def badge_cell(name: str, repo: str, branch: str) -> dict:
    return {
        "cell_type": "markdown",
        "id": BADGES_ID,
        "metadata": {"tags": [BADGES_ID]},
        "source": _lines(links.badges_markdown(name, repo, branch)),
    }


def install_cell(repo: str, branch: str) -> dict:
    src = (
        "# Colab or Binder, without a clone of the repository: install ntklib when it is missing\n"
        "try:\n"
        "    import ntklib  # noqa: F401\n"
        "except ImportError:\n"
        f'    %pip install --quiet "ntklib @ {links.install_command(repo, branch)}"'
    )
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": INSTALL_ID,
        "metadata": {"tags": [INSTALL_ID]},
        "outputs": [],
        "source": _lines(src),
    }


def with_course_cells(
    nb: dict, name: str, repo: str = links.REPOSITORY_URL, branch: str = links.BRANCH
) -> dict:
    """A copy of notebook `nb` with the two course cells in place (older copies removed)."""
    cells = [c for c in nb["cells"] if c.get("id") not in (BADGES_ID, INSTALL_ID)]
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    cells = cells[:first_code] + [install_cell(repo, branch)] + cells[first_code:]
    return dict(nb, cells=[badge_cell(name, repo, branch)] + cells)


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def write_readme(repo: str, branch: str, readme: Path = ROOT / "README.md") -> int:
    """Replace README's section between links.README_BEGIN and README_END (append it if absent)."""
    names = [p.name for p in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))]
    section = links.readme_section(names, repo, branch)
    text = readme.read_text(encoding="utf-8")
    if links.README_BEGIN in text:
        head, rest = text.split(links.README_BEGIN, 1)
        text = head + section + rest.split(links.README_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    readme.write_text(text, encoding="utf-8")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/[0-9]*.ipynb")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if any is stale")
    ap.add_argument("--repo", default=links.REPOSITORY_URL)
    ap.add_argument("--branch", default=links.BRANCH)
    ap.add_argument(
        "--readme", action="store_true", help="(re)write only README.md's links section"
    )
    args = ap.parse_args(argv)
    if args.readme:
        return write_readme(args.repo, args.branch)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    stale = []
    for path in paths:
        old = path.read_text(encoding="utf-8")
        new = dumps(with_course_cells(json.loads(old), path.name, args.repo, args.branch))
        if json.loads(new) != json.loads(old) or (not args.check and new != old):
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if args.check else 'updated'}: {path}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
