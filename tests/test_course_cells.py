"""scripts/course_cells.py (badges, install cell, idempotent, --check) and scripts/make_student.py
(the student edition without solutions), run on copies of the notebooks in a temporary folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "book"))
import course_cells  # noqa: E402
import links  # noqa: E402
import make_student  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


@pytest.fixture
def copies(tmp_path):
    for p in NOTEBOOKS:
        shutil.copy(p, tmp_path / p.name)
    return sorted(tmp_path.glob("*.ipynb"))


def _src(cell):
    return "".join(cell["source"])


def test_course_cells_inserted_once_and_check_mode(copies):
    assert course_cells.main([str(p) for p in copies]) == 0
    first = [p.read_text(encoding="utf-8") for p in copies]
    for path, text in zip(copies, first):
        nb = json.loads(text)
        cells = nb["cells"]
        assert cells[0]["id"] == "course-badges" and cells[0]["cell_type"] == "markdown"
        assert links.colab_url(path.name) in _src(cells[0])
        assert links.binder_url(path.name) in _src(cells[0])
        code = [c for c in cells if c["cell_type"] == "code"]
        assert code[0]["id"] == "course-install"
        assert "except ImportError:" in _src(code[0]) and "%pip install" in _src(code[0])
        assert [c.get("id") for c in cells].count("course-install") == 1
        original = json.loads((ROOT / "notebooks" / path.name).read_text(encoding="utf-8"))
        rest = [c for c in cells if not c.get("id", "").startswith("course-")]
        assert rest == original["cells"]  # nothing else touched
    assert course_cells.main(["--check", *map(str, copies)]) == 0
    assert course_cells.main([str(p) for p in copies]) == 0  # idempotent: same bytes again
    assert [p.read_text(encoding="utf-8") for p in copies] == first


def test_check_reports_stale_notebooks_and_changes_nothing(copies):
    before = copies[0].read_bytes()
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "course_cells.py"), "--check", str(copies[0])],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "stale" in r.stdout
    assert copies[0].read_bytes() == before
    course_cells.main([str(copies[0])])
    nb = json.loads(copies[0].read_text(encoding="utf-8"))  # an edited link is stale again
    nb["cells"][0]["source"] = ["[old link](https://example.org)\n"]
    copies[0].write_text(course_cells.dumps(nb), encoding="utf-8")
    assert course_cells.main(["--check", str(copies[0])]) == 1


def test_links_from_one_setting():
    assert links.colab_url("x.ipynb").startswith(
        "https://colab.research.google.com/github/" + links.REPOSITORY_URL.split("github.com/")[1]
    )
    with pytest.raises(ValueError, match="repo="):
        links.binder_url("x.ipynb", repo="https://gitlab.com/a/b")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [p.name for p in NOTEBOOKS]
    assert links.readme_section(names) in readme  # regenerate: course_cells.py --readme
    assert all(links.colab_url(n) in readme and links.binder_url(n) in readme for n in names)


def test_student_edition_has_no_solutions(copies, tmp_path):
    out = tmp_path / "student"
    assert make_student.main(["--out", str(out), *map(str, copies)]) == 0
    total = 0
    for path in copies:
        full = json.loads(path.read_text(encoding="utf-8"))
        student = json.loads((out / path.name).read_text(encoding="utf-8"))
        n_full = sum(_src(c).count("<summary><b>Solution") for c in full["cells"])
        total += n_full
        text = "\n".join(_src(c) for c in student["cells"])
        assert "<summary><b>Solution" not in text
        assert student["cells"][0]["id"] == "course-badges"
        # every non-solution cell survives: the code cells are the same, in the same order
        assert [_src(c) for c in student["cells"] if c["cell_type"] == "code"][1:] == [
            _src(c) for c in full["cells"] if c["cell_type"] == "code"
        ]
    assert total > 0  # there were solutions to remove


def test_student_removes_blocks_and_tagged_cells():
    nb = {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "a",
                "metadata": {},
                "source": ["## Exercises\n", "1. Do it.\n"],
            },
            {
                "cell_type": "markdown",
                "id": "b",
                "metadata": {},
                "source": [
                    "### Solutions\n",
                    "\n",
                    "Try first.\n",
                    "\n",
                    "<details><summary><b>Solution 1</b>: x</summary>\n",
                    "\n",
                    "The answer is 42.\n",
                    "\n",
                    "</details>\n",
                ],
            },
            {
                "cell_type": "code",
                "id": "c",
                "metadata": {"tags": ["solution"]},
                "outputs": [],
                "execution_count": None,
                "source": ["answer = 42\n"],
            },
            {
                "cell_type": "markdown",
                "id": "d",
                "metadata": {},
                "source": ["<details><summary>Hint</summary>keep me</details>\n"],
            },
        ]
    }
    student, removed = make_student.student_notebook(nb)
    text = json.dumps(student)
    assert removed == 2 and "42" not in text and "keep me" in text and "Do it." in text
    assert [c["id"] for c in student["cells"]] == ["a", "b", "d"]


def test_make_student_target_in_makefile():
    r = subprocess.run(["make", "-n", "student"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "scripts/make_student.py" in r.stdout
