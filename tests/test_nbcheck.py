"""The verdict comparator of `make test` (tests/nbcheck.py) keeps nbval's semantics."""

from __future__ import annotations

import copy

import nbcheck


def _nb(*cells):
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _cell(src, outputs, tags=()):
    return {
        "cell_type": "code",
        "source": src,
        "metadata": {"tags": list(tags)},
        "outputs": outputs,
        "execution_count": 1,
    }


def _stream(text, name="stdout"):
    return {"output_type": "stream", "name": name, "text": text}


VERDICT = _cell(
    "assert True\nprint('Claim holds.')  # NBVAL_CHECK_OUTPUT", [_stream("Claim holds.\n")]
)
TAGGED = _cell("print('ok')", [_stream("ok\n")], tags=["nbval-check-output"])
PLAIN = _cell("print(3.14159)", [_stream("3.14159\n")])


def test_equal_verdicts_pass_and_unmarked_cells_are_not_compared():
    committed = _nb(PLAIN, VERDICT, TAGGED)
    executed = copy.deepcopy(committed)
    executed["cells"][0]["outputs"] = [_stream("2.71828\n")]  # unmarked: may differ
    executed["cells"][1]["execution_count"] = 7  # counts are not compared
    assert nbcheck.compare(committed, executed, "nb") == (2, [])


def test_a_changed_verdict_line_fails_with_a_diff():
    executed = _nb(PLAIN, copy.deepcopy(VERDICT), TAGGED)
    executed["cells"][1]["outputs"] = [_stream("Claim fails.\n")]
    n, failures = nbcheck.compare(_nb(PLAIN, VERDICT, TAGGED), executed, "nb")
    assert n == 2 and len(failures) == 1
    assert (
        "-[stream:stdout] Claim holds." in failures[0]
        and "+[stream:stdout] Claim fails." in failures[0]
    )


def test_stream_chunks_are_joined_and_png_is_ignored():
    png = {"output_type": "display_data", "data": {"image/png": "AAAA", "text/plain": "<Figure>"}}
    committed = _nb(_cell("# NBVAL_CHECK_OUTPUT", [_stream("a\nb\n"), png]))
    png2 = copy.deepcopy(png)
    png2["data"]["image/png"] = "BBBB"
    executed = _nb(_cell("# NBVAL_CHECK_OUTPUT", [_stream("a\n"), _stream("b\n"), png2]))
    assert nbcheck.compare(committed, executed, "nb") == (1, [])
    png2["data"]["text/plain"] = "<Figure 2>"
    assert len(nbcheck.compare(committed, executed, "nb")[1]) == 1


def test_unexecuted_or_unmarked_notebooks_fail():
    empty = _nb(_cell("print(1)  # NBVAL_CHECK_OUTPUT", []))
    assert "no outputs" in nbcheck.compare(empty, empty, "nb")[1][0]
    assert "no verdict cell" in nbcheck.compare(_nb(PLAIN), _nb(PLAIN), "nb")[1][0]


def test_a_missing_verdict_cell_fails():
    n, failures = nbcheck.compare(_nb(VERDICT, TAGGED), _nb(VERDICT), "nb")
    assert failures and "2 verdict cells committed, 1 executed" in failures[0]


def test_committed_notebooks_tag_their_verdicts_instead_of_a_visible_marker():
    """Readers never see the marker: every notebook's verdict cells carry the nbval-check-output
    tag, and no code cell's source contains the NBVAL_CHECK_OUTPUT comment."""
    import json
    from pathlib import Path

    for path in sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        tagged = [c for c in cells if "nbval-check-output" in c.get("metadata", {}).get("tags", [])]
        assert tagged, f"{path.name}: no verdict cell"
        assert not any("NBVAL_CHECK_OUTPUT" in "".join(c["source"]) for c in cells), path.name


def test_committed_notebooks_carry_no_stderr_or_error_outputs():
    """The book renders the committed outputs, and a stderr stream there (a progress bar from a run
    without NTKLIB_QUIET, a warning) is a build warning that fails `make book`; an error output
    means the committed copy did not run to the end.  `make notebooks` runs quiet."""
    import json
    from pathlib import Path

    for path in sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            for out in cell.get("outputs", []):
                assert out.get("output_type") != "error", f"{path.name} cell {i}: error output"
                assert out.get("name") != "stderr", (
                    f"{path.name} cell {i}: stderr output {''.join(out.get('text', ''))[:60]!r}"
                )
