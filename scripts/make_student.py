"""The student edition (`make student`): build/student/NAME.ipynb for every notebooks/NN_*.ipynb,
without the exercise solutions, with the course cells (scripts/course_cells.py: badges, install).

How the notebooks mark solutions (see any notebooks/NN_*.ipynb, section "Solutions"): each solution
is an HTML block `<details><summary><b>Solution k</b>...</summary> ... </details>` in a Markdown
cell, which the book renders collapsed.  This script removes those blocks, every cell tagged
`solution` or `solutions`, and a "Solutions" cell that has nothing left but its heading and
introduction, which becomes one line pointing to the full edition.  Every other cell is unchanged.

    python scripts/make_student.py [--out build/student] [notebooks ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import course_cells  # noqa: E402

SOLUTION = re.compile(
    r"<details>\s*<summary>(?:(?!</summary>).)*?solution(?:(?!</summary>).)*?</summary>"
    r".*?</details>[ \t]*\n?",
    re.I | re.S,
)
HEADING = re.compile(r"^#+\s*solutions?\b", re.I | re.M)
NOTE = (
    "### Solutions\n\nThe solutions are in the full edition of this notebook "
    "(notebooks/ in the repository, or the book).\n"
)
TAGS = {"solution", "solutions"}


def _source(cell) -> str:
    s = cell["source"]
    return s if isinstance(s, str) else "".join(s)


def student_notebook(nb: dict) -> tuple[dict, int]:
    """(the notebook without its solutions, the number of solution blocks and cells removed)."""
    cells, removed = [], 0
    for cell in nb["cells"]:
        if TAGS & set(cell.get("metadata", {}).get("tags", [])):
            removed += 1
            continue
        if cell["cell_type"] == "markdown":
            src = _source(cell)
            new, n = SOLUTION.subn("", src)
            if n:
                removed += n
                if HEADING.search(new) and "<details" not in new:
                    new = NOTE
                cell = dict(cell, source=course_cells._lines(new.rstrip("\n") + "\n"))
        cells.append(cell)
    return dict(nb, cells=cells), removed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/[0-9]*.ipynb")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        student, removed = student_notebook(nb)
        student = course_cells.with_course_cells(student, path.name)
        (args.out / path.name).write_text(course_cells.dumps(student), encoding="utf-8")
        print(f"{args.out / path.name}: {removed} solution(s) removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
