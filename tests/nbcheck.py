"""Compare the verdict cells of executed notebooks with the committed ones
(nbval's semantics, one run).

    python tests/nbcheck.py EXECUTED_DIR notebooks/01_gp_init.ipynb [...]

`make test` executes every notebook once with papermill (which fails on any error or failing
assert) into EXECUTED_DIR, then this script compares, cell by cell, the outputs of the verdict
cells: code cells tagged `nbval-check-output` or containing the `# NBVAL_CHECK_OUTPUT` marker, as
nbval's `--nbval-lax` mode selects them.  As nbval does, it compares stream text (consecutive chunks
of one stream joined), errors, and the `text/plain`, `text/html` and `image/svg+xml` data of results
and displays; PNG images and execution counts are not compared.  Committed notebooks without any
verdict output fail: a notebook committed unexecuted would otherwise compare nothing.

It prints one line per notebook and closes with 'N passed, M failed' (verdict cells); exit 1 on any
failure.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path

MARKER = "NBVAL_CHECK_OUTPUT"
TAG = "nbval-check-output"
COMPARED = ("text/plain", "text/html", "image/svg+xml")


def is_verdict(cell) -> bool:
    """nbval --nbval-lax: the cell is compared when tagged or marked in its source."""
    if cell.get("cell_type") != "code":
        return False
    src = "".join(cell.get("source", ""))
    return MARKER in src or TAG in cell.get("metadata", {}).get("tags", [])


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def normalised_outputs(cell) -> list[tuple[str, str]]:
    """The compared parts of a cell's outputs, in order: (kind, text) pairs."""
    out: list[tuple[str, str]] = []
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "stream":
            name = f"stream:{o.get('name', 'stdout')}"
            if out and out[-1][0] == name:  # nbval joins consecutive chunks of one stream
                out[-1] = (name, out[-1][1] + _text(o.get("text", "")))
            else:
                out.append((name, _text(o.get("text", ""))))
        elif kind in ("execute_result", "display_data"):
            for mime in COMPARED:
                if mime in o.get("data", {}):
                    out.append((mime, _text(o["data"][mime])))
        elif kind == "error":
            out.append(("error", f"{o.get('ename')}: {o.get('evalue')}"))
    return out


def verdict_cells(nb: dict) -> list[tuple[int, dict]]:
    return [(i, c) for i, c in enumerate(nb["cells"]) if is_verdict(c)]


def compare(committed: dict, executed: dict, name: str) -> tuple[int, list[str]]:
    """(number of verdict cells, failure messages) for one notebook."""
    want, got = verdict_cells(committed), verdict_cells(executed)
    failures = []
    if not want:
        return 0, [f"{name}: no verdict cell (tag '{TAG}' or marker '{MARKER}')"]
    if not any(c.get("outputs") for _, c in want):
        return len(want), [
            f"{name}: the committed verdict cells have no outputs (commit it executed)"
        ]
    if len(want) != len(got):
        return len(want), [f"{name}: {len(want)} verdict cells committed, {len(got)} executed"]
    for (i, a), (_, b) in zip(want, got):
        wa, gb = normalised_outputs(a), normalised_outputs(b)
        if wa == gb:
            continue
        diff = difflib.unified_diff(
            [f"[{k}] {line}" for k, t in wa for line in t.splitlines()],
            [f"[{k}] {line}" for k, t in gb for line in t.splitlines()],
            "committed",
            "executed",
            lineterm="",
            n=1,
        )
        failures.append(f"{name}, cell {i}: verdict output differs\n  " + "\n  ".join(diff))
    return len(want), failures


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    executed_dir, notebooks = Path(argv[0]), [Path(p) for p in argv[1:]]
    passed = failed = 0
    for path in notebooks:
        ran = executed_dir / path.name
        if not ran.exists():
            print(f"FAILED {path.name}: no executed copy at {ran}")
            failed += 1
            continue
        n, failures = compare(json.loads(path.read_text()), json.loads(ran.read_text()), path.name)
        bad = len(failures) if n else 1
        passed += max(n - bad, 0)
        failed += bad
        print(f"{'ok' if not failures else 'FAILED'} {path.name}: {n} verdict cells")
        for f in failures:
            print("  " + f)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
