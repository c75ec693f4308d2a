"""`make figures`' runner (scripts/run_notebook.py): params checked before running, figures
published only when every cell ran, nothing half-written left behind."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import run_notebook  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {"WIDTHS": [64, 128], "N_SEEDS": 4, "LR": 0.5, "DEVICE": "cpu", "FAST": True}


def test_params_of_the_right_types_pass():
    ok = {"WIDTHS": [500, 10000], "N_SEEDS": 10, "LR": 1, "DEVICE": "cuda", "FAST": False}
    assert run_notebook.check_params(ok, DEFAULTS, "p.yml") == []


@pytest.mark.parametrize(
    "params,words",
    [
        ({"N_SEED": 10}, ["unknown parameter 'N_SEED'", "N_SEEDS"]),
        ({"n_seeds": 10}, ["did you mean N_SEEDS?"]),
        ({"WIDTHS": 500}, ["WIDTHS: got 500 (int)", "type list"]),
        ({"WIDTHS": [500.5]}, ["WIDTHS"]),
        ({"N_SEEDS": "10"}, ["N_SEEDS: got '10' (str)"]),
        ({"N_SEEDS": 2.0}, ["N_SEEDS: got 2.0 (float)"]),
        ({"FAST": 1}, ["FAST: got 1 (int)"]),
        ([1, 2], ["expected a mapping"]),
    ],
)
def test_unknown_keys_and_wrong_types_are_refused(params, words):
    problems = run_notebook.check_params(params, DEFAULTS, "p.yml")
    assert problems and all(any(w in p for p in problems) for w in words), problems


def _notebook(path: Path, *, fail: bool, sleep: float = 0.0):
    cells = [
        {
            "cell_type": "code",
            "metadata": {"tags": ["parameters"]},
            "outputs": [],
            "execution_count": None,
            "source": "N = 3\n",
        },
        {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": (
                "import os, pathlib\n"
                "d = pathlib.Path(os.environ['NTKLIB_FIGURES'])\n"
                "(d / '99_new.png').write_bytes(b'new')\n(d / '99_new.pdf').write_bytes(b'new')\n"
                f"import time; time.sleep({sleep})\n"
            ),
        },
        {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": f"assert {not fail}, 'verdict failed'\n",
        },
    ]
    for i, c in enumerate(cells):
        c["id"] = f"cell-{i}"
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


def _run(tmp_path, params=None):
    args = [
        "99_demo",
        "--notebooks",
        str(tmp_path / "nb"),
        "--figures",
        str(tmp_path / "figures"),
        "--build",
        str(tmp_path / "build"),
        "--params",
        str(tmp_path / "p.yml"),
    ]
    (tmp_path / "p.yml").write_text(params or "")
    return run_notebook.main(args)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "nb").mkdir()
    figures = tmp_path / "figures"
    figures.mkdir()
    for name in ("99_new.png", "99_stale.png", "01_other.png"):
        (figures / name).write_bytes(b"old " + name.encode())
    return tmp_path


def _snapshot(d: Path):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_a_failing_notebook_leaves_figures_exactly_as_they_were(project):
    _notebook(project / "nb" / "99_demo.ipynb", fail=True)
    before = _snapshot(project / "figures")
    assert _run(project) == 1
    assert _snapshot(project / "figures") == before
    assert not (project / "build" / "stage" / "99_demo").exists()


def test_a_passing_notebook_replaces_its_figures_and_drops_stale_ones(project):
    _notebook(project / "nb" / "99_demo.ipynb", fail=False)
    assert _run(project) == 0
    after = _snapshot(project / "figures")
    assert after == {
        "01_other.png": b"old 01_other.png",
        "99_new.pdf": b"new",
        "99_new.png": b"new",
    }
    assert not (project / "build" / "stage" / "99_demo").exists()


def test_a_bad_params_file_is_refused_before_running(project, capsys):
    _notebook(project / "nb" / "99_demo.ipynb", fail=False)
    before = _snapshot(project / "figures")
    assert _run(project, params="NN: 5\n") == 2
    assert "unknown parameter 'NN'" in capsys.readouterr().err
    assert _snapshot(project / "figures") == before
    assert not (project / "build").exists()


def test_an_interrupted_run_leaves_figures_as_they_were_and_no_temporary_files(project):
    """SIGTERM (what make sends on Ctrl-C) while a cell runs, after a figure was staged."""
    import signal
    import subprocess
    import time

    _notebook(project / "nb" / "99_demo.ipynb", fail=False, sleep=60)
    before = _snapshot(project / "figures")
    (project / "p.yml").write_text("")
    script = Path(run_notebook.__file__)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "99_demo",
            "--notebooks",
            str(project / "nb"),
            "--figures",
            str(project / "figures"),
            "--build",
            str(project / "build"),
            "--params",
            str(project / "p.yml"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    staged = project / "build" / "stage" / "99_demo" / "99_new.pdf"
    deadline = time.time() + 60
    while not staged.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert staged.exists(), "the notebook never staged its figure"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; figures/ unchanged" in err
    assert _snapshot(project / "figures") == before
    assert not (project / "build" / "stage" / "99_demo").exists()


@pytest.mark.parametrize(
    "path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem
)
def test_papermill_can_override_every_parameter(path):
    """papermill reads the parameters cell line by line and skips (with only a log warning) a line
    it cannot parse, e.g. one whose comment holds an '=': such a parameter could never be set from
    params/*.yml.  Every name assigned in the cell must be one papermill infers."""
    import ast

    import nbformat
    from papermill.inspection import _infer_parameters

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = {
        t.id
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    inferred = {p.name for p in _infer_parameters(nb)}
    assert assigned == inferred, f"papermill cannot read: {sorted(assigned - inferred)}"
