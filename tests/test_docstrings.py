"""Every public name of ntklib is documented, and every example in the docstrings runs.

The docstrings are the API pages of the course book (book/build.py renders them and writes a
docstring audit); this file makes the same promise a test:

* the doctests of every ntklib module pass, run as a reader would run them: `import ntklib as nk` and
  `import torch` in the globals, default doctest options.  Each docstring runs with torch's global
  generator seeded (and restored afterwards), so an example that draws torch.randn is reproducible
  and leaves no trace in the other tests; figures are closed after each docstring.
* no example is switched off (`# doctest: +SKIP`): an example that cannot run is not an example.
* every public function and class (the `__all__` of each module, and everything in `ntklib.__all__`)
  has a docstring with an "Args:" section when it takes arguments, a "Returns" section when it is a
  function, and at least one `>>>` example - the rules of the book's audit, so the two agree.

No numerical tolerance is involved here: each doctest compares its printed output exactly, and the
examples print rounded numbers, shapes or booleans so that a different BLAS cannot change them.

PENDING lists the gaps that were known when this file was written, in modules whose owners were still
writing them (deconv.py and gan.py, notebook 06) or outside the docstring pass (three quadrature
helpers of activations.py).  The comparison is exact both ways: a new gap fails, and so does a listed
gap that has been fixed (delete its line), so the list can only shrink.
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

MODULES = sorted(m.name for m in pkgutil.iter_modules(ntklib.__path__) if not m.name.startswith("_"))
ARGS = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:", re.M)
RETURNS = re.compile(r"^\s*(Returns?|Yields?)\b", re.M)

# name -> the sections it still lacks (see the module docstring: delete a line once it is fixed).
PENDING = {
    "ntklib.activations.gaussian_mean": ["Args", "Returns", "Example"],
    "ntklib.activations.mehler_expectation": ["Args", "Returns", "Example"],
    "ntklib.activations.hermite_coefficients": ["Args", "Returns", "Example"],
    "ntklib.deconv.deconv_ntk_levels": ["Example"],
    "ntklib.deconv.pixel_levels": ["Args", "Returns"],
    "ntklib.deconv.checkerboard_v": ["Args", "Returns", "Example"],
    "ntklib.deconv.empirical_pixel_ntk": ["Example"],
    "ntklib.deconv.checkerboard_upper_bound": ["Args", "Returns", "Example"],
    "ntklib.deconv.checkerboard_lower_bound": ["Args", "Returns", "Example"],
    "ntklib.deconv.fit_c1": ["Args", "Returns", "Example"],
    "ntklib.deconv.stride_frequencies": ["Args", "Returns", "Example"],
    "ntklib.deconv.fourier_mass": ["Args", "Returns", "Example"],
    "ntklib.deconv.checkerboard_share": ["Args", "Returns", "Example"],
    "ntklib.deconv.eigen_images": ["Args", "Example"],
    "ntklib.deconv.upsample_conv": ["Args", "Returns", "Example"],
    "ntklib.gan.ring_centres": ["Args", "Returns", "Example"],
    "ntklib.gan.ring_of_gaussians": ["Args", "Returns", "Example"],
    "ntklib.gan.mode_coverage": ["Example"],
    "ntklib.gan.EnsembleMLP": ["Args", "Example"],
    "ntklib.gan.ToyGANRecord": ["Args", "Example"],
    "ntklib.gan.train_toy_gan": ["Args", "Returns", "Example"],
    "ntklib.gan.digit_images": ["Args", "Returns", "Example"],
    "ntklib.gan.checkerboard_score": ["Args", "Example"],
    "ntklib.gan.sample_diversity": ["Args", "Returns", "Example"],
    "ntklib.gan.ImageDiscriminator": ["Args", "Example"],
    "ntklib.gan.DCGANRecord": ["Args", "Example"],
    "ntklib.gan.train_dcgan": ["Args", "Returns", "Example"],
}
# docstrings whose example fails (the printed tensor is on one line; torch prints one row per line)
PENDING_DOCTEST_FAILURES = {"ntklib.deconv.pixel_levels"}


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
    doc = inspect.getdoc(obj) if inspect.isfunction(obj) else (obj.__doc__ or "")   # no inherited class docs
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


def _compare(found: dict, expected: dict, what: str):
    new = {k: v for k, v in found.items() if expected.get(k) != v}
    fixed = sorted(set(expected) - set(found))
    lines = [f"  {k}: missing {', '.join(v)}" for k, v in sorted(new.items())]
    lines += [f"  {k}: {what} now complete - delete its line from PENDING in tests/test_docstrings.py"
              for k in fixed]
    assert not lines, "\n".join(lines)


def test_top_level_names_documented():
    """Everything `import ntklib as nk` offers: nk.<name> for name in ntklib.__all__ (functions and
    classes wherever they are defined; the modules nk.data, nk.stats, nk.plotting need a docstring)."""
    found = {}
    for n in ntklib.__all__:
        obj = getattr(ntklib, n)
        if inspect.ismodule(obj):
            if not (obj.__doc__ or "").strip():
                found[f"nk.{n}"] = ["module docstring"]
        elif inspect.isfunction(obj) or inspect.isclass(obj):
            home = f"{obj.__module__}.{obj.__name__}"
            gaps = _gaps(obj)
            if gaps and PENDING.get(home) != gaps:
                found[f"nk.{n} ({home})"] = gaps
    _compare(found, {}, "docstring")


@pytest.mark.parametrize("name", MODULES)
def test_public_names_documented(name):
    mod = _module(name)
    assert (mod.__doc__ or "").strip(), f"ntklib.{name}: no module docstring"
    found = {f"ntklib.{name}.{n}": _gaps(obj) for n, obj in _public(mod)}
    found = {k: v for k, v in found.items() if v}
    _compare(found, {k: v for k, v in PENDING.items() if k.startswith(f"ntklib.{name}.")}, "docstring")


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name, monkeypatch):
    monkeypatch.setenv("NTKLIB_QUIET", "1")            # no progress bars on stderr
    mod = _module(name)
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(mod, globs={"nk": ntklib, "torch": torch})
             if t.examples]
    skipped = [f"{t.name}, line {t.lineno + ex.lineno + 1}" for t in tests for ex in t.examples
               if ex.options.get(doctest.SKIP)]
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
    pending = {k for k in PENDING_DOCTEST_FAILURES if k.startswith(f"ntklib.{name}.")}
    assert failed <= pending, f"failing examples in ntklib.{name}:\n" + report.getvalue()
    assert failed == pending, (f"{sorted(pending - failed)}: the examples pass now - delete them from "
                               "PENDING_DOCTEST_FAILURES in tests/test_docstrings.py")
