"""Mehler's expansion with its memoised Hermite coefficients and its truncated Horner sum
(ntklib/_quadrature.py): the same values as the full series computed from scratch, a bounded
cache, and the batched kernel-scale fit against the record-by-record formula."""

import numpy as np
import pytest
import torch

import ntklib as nk
from ntklib import _quadrature as q
from ntklib.dynamics import ntk_flow

DTYPE = torch.float64


def _full_series(f, g, a, b, c):
    """Mehler's series with all MEHLER_TERMS + 1 terms, coefficients computed afresh."""
    A = q.hermite_coefficients(f, a)
    B = q.hermite_coefficients(g, b)
    rho, _ = q._correlation(a, b, c)
    return sum(rho**k * A[..., k] * B[..., k] for k in range(q.MEHLER_TERMS + 1))


@pytest.mark.parametrize("name", ["tanh", "gelu", "sigmoid"])
def test_cached_truncated_series_equals_the_full_series(name):
    """Tolerance 1e-14 relative: the dropped terms are below 2^-60 of the largest term by
    construction, so the two differ by the rounding of two orderings of a sum of ~160 terms (the
    reference sums in powers of rho, not by Horner's rule), each ~1e-16 of the largest term."""
    act = nk.get_activation(name)
    g = torch.Generator().manual_seed(3)
    a = 0.2 + 2 * torch.rand(40, 1, generator=g, dtype=DTYPE)
    b = 0.2 + 2 * torch.rand(1, 30, generator=g, dtype=DTYPE)
    c = (2 * torch.rand(40, 30, generator=g, dtype=DTYPE) - 1) * (a * b).sqrt() * 0.999
    q._SIDE_CACHE.clear()
    first, est = q._mehler(act.fn, act.fn, a, b, c)
    again, est2 = q._mehler(act.fn, act.fn, a, b, c)  # coefficients from the cache
    assert torch.equal(first, again) and torch.equal(est, est2)
    ref = _full_series(act.fn, act.fn, a, b, c)
    scale = float(ref.abs().max())
    assert float((first - ref).abs().max()) <= 1e-14 * scale


def test_side_cache_is_bounded_and_keyed_by_values():
    q._SIDE_CACHE.clear()
    f = torch.tanh
    a = torch.linspace(0.1, 3.0, 256, dtype=DTYPE)
    A1, *_ = q._mehler_side(f, a, q.MEHLER_TERMS)
    A2, *_ = q._mehler_side(f, a.clone(), q.MEHLER_TERMS)  # same values, another tensor: a hit
    assert A1 is A2
    A3, *_ = q._mehler_side(f, a + 1e-3, q.MEHLER_TERMS)  # other values: computed
    assert A3 is not A1 and not torch.equal(A3, A1)
    limit, q._SIDE_CACHE_BYTES = q._SIDE_CACHE_BYTES, 2 * A1.numel() * 8
    try:
        for k in range(5):
            q._mehler_side(f, a + k, q.MEHLER_TERMS)
        size = sum(v[0].numel() * v[0].element_size() for v in q._SIDE_CACHE.values())
        assert size <= q._SIDE_CACHE_BYTES and len(q._SIDE_CACHE) == 2
    finally:
        q._SIDE_CACHE_BYTES = limit
        q._SIDE_CACHE.clear()


@pytest.mark.parametrize("lr", [None, 0.5])
def test_kernel_scale_fit_batch_equals_the_fit_record_by_record(lr):
    """The batched Gauss-Newton fit against the same iteration written with nk.ntk_flow on c Theta,
    record by record (its definition).  Tolerance 1e-10: both are the same three Gauss-Newton steps
    from c = 1; they differ by the rounding of eigh(c Theta) against c eigh(Theta) (~1e-15),
    amplified by the central difference of step h = 1e-4 to ~1e-11."""
    X, _ = nk.data.circle(5)
    Xt, _ = nk.data.circle(7, offset=0.2)
    Y = X[:, 0] * X[:, 1]
    K, Kt = nk.ntk(X, depth=2), nk.ntk(Xt, X, depth=2)
    g = torch.Generator().manual_seed(1)
    steps = np.array([0, 1, 2, 4, 8, 16])
    times = steps * 0.5  # the records' step is 0.5: TrainRecord.times = 0.5 * steps
    recs = []
    for s in range(6):
        c = 1 + 0.1 * float(torch.randn(1, generator=g))
        f0 = 0.3 * torch.randn(5, generator=g, dtype=DTYPE)
        ft0 = 0.3 * torch.randn(7, generator=g, dtype=DTYPE)
        f, ft = ntk_flow(c * K, f0, Y, times, theta_tX=c * Kt, f0_t=ft0, lr=lr)
        f = f + 1e-3 * torch.randn(f.shape, generator=g, dtype=DTYPE)
        ft = ft + 1e-3 * torch.randn(ft.shape, generator=g, dtype=DTYPE)
        recs.append(nk.TrainRecord(steps, f, ft, torch.zeros(len(times)), 0.5))
    got = nk.convergence.kernel_scale_fit(recs, K, Kt, Y, lr=lr)
    want = []
    for rec in recs:

        def flow(c):
            fX, fT = ntk_flow(
                c * K, rec.f_train[0], Y, rec.times, theta_tX=c * Kt, f0_t=rec.f_test[0], lr=lr
            )
            return torch.cat([fX.reshape(-1), fT.reshape(-1)])

        net = torch.cat([rec.f_train.reshape(-1), rec.f_test.reshape(-1)])
        c = 1.0
        for _ in range(3):
            D = (flow(c + 1e-4) - flow(c - 1e-4)) / 2e-4
            c += float((net - flow(c)) @ D / (D @ D))
        want.append(c)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    assert np.ptp(got) > 0.05  # the records differ, so a fit that ignored them would fail
