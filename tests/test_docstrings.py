"""Every public name of ntklib is documented, and every example in the docstrings runs.

The docstrings are the API pages of the course book (book/build.py renders them and writes a
docstring audit); this file makes the same promise a test:

* the doctests of every ntklib module pass, run as a reader would run them: `import ntklib as nk`
  and `import torch` in the globals, default doctest options.  Each docstring runs with torch's
  global generator seeded (and restored afterwards), so an example that draws torch.randn is
  reproducible and leaves no trace in the other tests; figures are closed after each docstring.
* no example is switched off (`# doctest: +SKIP`): an example that cannot run is not an example.
* every public function and class (the `__all__` of each module, and everything in `ntklib.__all__`)
  has a docstring with an "Args:" section when it takes arguments, a "Returns" section when it is a
  function, and at least one `>>>` example - the rules of the book's audit, so the two agree.

No numerical tolerance is involved here: each doctest compares its printed output exactly, and the
examples print rounded numbers, shapes or booleans so that a different BLAS cannot change them.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import pkgutil
import re

import matplotlib
import pytest
import torch

import ntklib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

MODULES = sorted(
    m.name.removeprefix("ntklib.")
    for m in pkgutil.walk_packages(ntklib.__path__, "ntklib.")
    if not any(part.startswith("_") for part in m.name.split("."))
)  # subpackages too
ARGS = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:", re.M)
RETURNS = re.compile(r"^\s*(Returns?|Yields?)\b", re.M)


def _module(name):
    return importlib.import_module(f"ntklib.{name}")


def _public(mod):
    """(name, object) for each function and class in the module's __all__ that the module defines
    (re-exports are checked in their home module; constants such as COLORS carry no docstring)."""
    out = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == mod.__name__:
            out.append((name, obj))
    return out


def _gaps(obj):
    """The sections obj's docstring lacks, as in book/build.py's docstring_audit."""
    doc = (
        inspect.getdoc(obj) if inspect.isfunction(obj) else (obj.__doc__ or "")
    )  # no inherited class docs
    if not doc:
        return ["docstring"]
    try:
        params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
    except (TypeError, ValueError):
        params = []
    missing = []
    if params and not ARGS.search(doc):
        missing.append("Args")
    if inspect.isfunction(obj) and not RETURNS.search(doc):
        missing.append("Returns")
    if ">>>" not in doc:
        missing.append("Example")
    return missing


def _assert_complete(found: dict):
    """found: name -> the sections it lacks; any entry fails."""
    lines = [f"  {k}: missing {', '.join(v)}" for k, v in sorted(found.items())]
    assert not lines, "\n".join(lines)


def test_top_level_names_documented():
    """Everything `import ntklib as nk` offers: nk.<name> for name in ntklib.__all__ (functions and
    classes wherever they are defined; the modules nk.data, nk.stats, nk.plotting need
    a docstring)."""
    found = {}
    for n in ntklib.__all__:
        obj = getattr(ntklib, n)
        if inspect.ismodule(obj):
            if not (obj.__doc__ or "").strip():
                found[f"nk.{n}"] = ["module docstring"]
        elif inspect.isfunction(obj) or inspect.isclass(obj):
            home = f"{obj.__module__}.{obj.__name__}"
            gaps = _gaps(obj)
            if gaps:
                found[f"nk.{n} ({home})"] = gaps
    _assert_complete(found)


@pytest.mark.parametrize("name", MODULES)
def test_public_names_documented(name):
    mod = _module(name)
    assert (mod.__doc__ or "").strip(), f"ntklib.{name}: no module docstring"
    found = {f"ntklib.{name}.{n}": _gaps(obj) for n, obj in _public(mod)}
    _assert_complete({k: v for k, v in found.items() if v})


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name, monkeypatch):
    monkeypatch.setenv("NTKLIB_QUIET", "1")  # no progress bars on stderr
    mod = _module(name)
    tests = [
        t
        for t in doctest.DocTestFinder(exclude_empty=True).find(
            mod, globs={"nk": ntklib, "torch": torch}
        )
        if t.examples
    ]
    skipped = [
        f"{t.name}, line {t.lineno + ex.lineno + 1}"
        for t in tests
        for ex in t.examples
        if ex.options.get(doctest.SKIP)
    ]
    assert not skipped, f"examples switched off with +SKIP: {skipped}"
    failed, report = set(), io.StringIO()
    for t in tests:
        runner = doctest.DocTestRunner(verbose=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            runner.run(t, out=report.write, clear_globs=True)
        plt.close("all")
        if runner.failures:
            failed.add(t.name)
    assert not failed, (
        f"failing examples in ntklib.{name} ({sorted(failed)}):\n" + report.getvalue()
    )
