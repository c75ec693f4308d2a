"""Smoke tests of `make bench`'s correctness checks (benchmarks/floors.py, benchmarks/run.py):
the checks pass on the real results and fail on results off by more than their tolerance, the
spy on implementation='auto' restores the module, and the report marks a failed check."""

import sys
from pathlib import Path

import pytest
import torch

import ntklib as nk
from ntklib import empirical as emp
from ntklib.kernels import _tiled

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
floors = pytest.importorskip("floors")
run = pytest.importorskip("run")


def test_analytic_check_passes_the_fused_kernel_and_fails_a_1e_10_error():
    """Property: rounding_check (issue 18's 1e-12, widened as tests/test_kernels.py) accepts the
    fused kernel against the generic recursion (depth 11, both activations) and rejects the same
    kernel scaled by 1 + 1e-10 (100x the tolerance)."""
    X = torch.randn(40, 100, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for act in ("relu", "erf"):
        got = nk.ntk(X, depth=11, activation=act, beta=0.1)
        ref = _tiled(X, None, 11, act, 0.1, True, fused=False)
        assert floors.rounding_check(got, ref, X, 11, 1e-12)[1] <= 1.0
        assert floors.rounding_check(got * (1 + 1e-10), ref, X, 11, 1e-12)[1] > 1.0


def test_multi_output_reference_and_the_auto_spy():
    """Property: the float64 torch.func reference (N, N, O, O) agrees with empirical_ntk of the
    SmallCNN with O = 3 within the empirical tolerance (and a 1e-3 error exceeds it); `picked`
    names a method and leaves ntklib.empirical's functions as they were."""
    X = torch.randn(3, 100, generator=torch.Generator().manual_seed(4), dtype=torch.float32)
    cnn = floors.small_cnn(3)
    ref = floors.jac_reference(cnn, X)
    got = nk.empirical_ntk(cnn, X)
    assert got.shape == ref.shape == (3, 3, 3, 3)
    assert floors.normwise_rel(got, ref) <= floors.TOL["empirical"]
    assert floors.normwise_rel(got * (1 + 1e-3), ref) > floors.TOL["empirical"]
    before = emp._jacobian_ntk, emp._ntvp_ntk
    assert floors.picked(cnn, X, trace=True) in ("jacobian", "ntvp")
    assert (emp._jacobian_ntk, emp._ntvp_ntk) == before


def test_report_marks_a_failed_check():
    """Property: one error above its tolerance makes the report FAIL (exit status 1)."""
    a = dict(
        act="relu",
        dtype="float64",
        kind="ntk",
        N=10,
        n_ref=5,
        time_s=1.0,
        floor_s=1.0,
        ratio=1.0,
        floor_lib_s=None,
        ratio_lib=None,
        err=1e-15,
        err_over_tol=0.5,
    )
    fc = dict(N=4, width=8, time_s=1.0, floor_s=1.0, ratio=1.0, err=1e-6, n_ref=4)
    cnn = dict(case="SmallCNN O=1", mode="scalar", impl="auto", N=4, time_s=1.0, err=1e-6)
    good = {"analytic": {"rows": [a]}, "fc": {"rows": [fc]}, "cnn": {"rows": [cnn]}}
    assert run.report(good)[1]
    bad = dict(good, analytic={"rows": [dict(a, err_over_tol=2.0)]})
    lines, ok = run.report(bad)
    assert not ok and any("FAIL" in line for line in lines)
    assert not run.report(dict(good, fc={"error": "timeout"}))[1]
    assert any("n/a" in line for line in lines)
    lib = dict(a, floor_lib_s=0.5, ratio_lib=2.0)
    lines, ok = run.report(dict(good, analytic={"rows": [lib]}))
    assert ok and any("met/MISSED" in line for line in lines)


def test_libmvec_floor_runs_or_says_not_available(monkeypatch):
    """Property: the libmvec floor gives a positive time for every analytic case where the C
    kernels build, and None where they cannot (no compiler): the report then prints n/a."""
    from ntklib import _ctiles

    for act, _ in floors.ANALYTIC_CASES:
        for dtype in (torch.float64, torch.float32):
            t = floors.libmvec_floor(act, 50, 3, dtype, 1)
            assert t is None if _ctiles.compiled(torch.zeros(1, dtype=dtype)) is None else t > 0
    monkeypatch.setattr(_ctiles, "COMPILED", False)
    assert floors.libmvec_floor("relu", 50, 3, torch.float64, 1) is None
