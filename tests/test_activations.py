"""Activations: closed-form dual kernels against quadrature, integrals and Monte Carlo (CONVENTIONS.md §1)."""
from __future__ import annotations

import math

import pytest
import torch

import ntklib as nk
from conftest import (DTYPE, gaussian_moment_1d, randn, relu_affine_dual_1d, relu_affine_dual_deriv_1d,
                      relu_affine_mean_1d)
from ntklib.activations import gaussian_expectation, mehler_expectation

# Normalised ReLU from textbook moments of z ~ N(0, 1): E relu = 1/sqrt(2 pi), E relu^2 = 1/2.
RELU_MEAN = 1.0 / math.sqrt(2 * math.pi)
RELU_SD = math.sqrt(0.5 - 1.0 / (2 * math.pi))
# (name, activation, s, h) with activation = s * relu + h
RELU_FAMILY = [
    ("relu", "relu", 1.0, 0.0),
    ("normalized_relu", nk.normalized("relu"), 1.0 / RELU_SD, -RELU_MEAN / RELU_SD),
    ("sqrt2_relu", nk.scaled("relu", 2 ** 0.5), 2 ** 0.5, 0.0),
]
# Covariances (a, b, c = rho sqrt(ab)) spanning small and large variances and both signs of rho.
PAIRS = [(a, b, rho * math.sqrt(a * b)) for a in (0.3, 1.0, 2.5) for b in (0.5, 1.7)
         for rho in (-0.9, -0.3, 0.2, 0.8)]


def _grid(top=3.0):
    """Broadcastable (a, b, c): a (5, 1), b (1, 5), c (5, 5); variances up to `top`, correlations
    -1, -0.6, 0, 0.7, 1 down the rows."""
    a = torch.tensor([0.1, 0.5, 1.0, 2.0, 3.0], dtype=DTYPE)[:, None].clamp(max=top)
    b = torch.tensor([0.2, 0.7, 1.0, 1.5, 3.0], dtype=DTYPE)[None, :].clamp(max=top)
    rho = torch.tensor([-1.0, -0.6, 0.0, 0.7, 1.0], dtype=DTYPE)[:, None] * torch.ones(1, 5, dtype=DTYPE)
    return a, b, rho * torch.sqrt(a * b)


def _t(x):
    return torch.tensor(x, dtype=DTYPE)


# ---- smooth closed forms (erf, identity, affine erf) against two quadratures -----------------------

def _assert_matches_gauss_hermite(act, a, b, c, *, n, atol):
    """act.dual, act.dual_deriv and act.mean against the plain 2-D (1-D for the mean) Gauss-Hermite rule
    with n nodes per axis, to atol."""
    torch.testing.assert_close(act.dual(a, b, c), gaussian_expectation(act.fn, act.fn, a, b, c, n=n),
                               rtol=0, atol=atol)
    torch.testing.assert_close(act.dual_deriv(a, b, c),
                               gaussian_expectation(act.deriv, act.deriv, a, b, c, n=n), rtol=0, atol=atol)
    a_flat = a.reshape(-1)
    torch.testing.assert_close(act.mean(a_flat),
                               gaussian_expectation(act.fn, torch.ones_like, a_flat, a_flat, a_flat, n=n),
                               rtol=0, atol=atol)


@pytest.mark.parametrize("act", ["erf", nk.normalized("erf"), nk.scaled("erf", 1.7)],
                         ids=["erf", "normalized_erf", "scaled_erf"])
def test_erf_closed_forms_match_2d_gauss_hermite(act):
    """Property: Williams' erf kernels (and their affine versions) equal E[sigma(u)sigma(v)],
    E[sigma'(u)sigma'(v)], E[sigma(u)] computed by the plain 2-D Gauss-Hermite rule.
    Tolerance 1e-8: erf is entire, so 256 x 256 nodes converge to rounding (measured ~1e-15 for
    variances up to 3; at 64 nodes the rule is off by ~1e-5, so 1e-8 still checks convergence)."""
    act = nk.get_activation(act)
    assert act.closed_form
    _assert_matches_gauss_hermite(act, *_grid(), n=256, atol=1e-8)


@pytest.mark.parametrize("act", ["erf", nk.normalized("erf")], ids=["erf", "normalized_erf"])
def test_erf_closed_forms_match_mehler(act):
    """Property: the closed forms equal Mehler's expansion (the quadrature every non-closed-form
    activation goes through), including rho = +-1 where the series converges slowest.
    Tolerance 1e-8 (smooth function; measured ~1e-13)."""
    act = nk.get_activation(act)
    a, b, c = _grid()
    torch.testing.assert_close(act.dual(a, b, c), mehler_expectation(act.fn, act.fn, a, b, c),
                               rtol=0, atol=1e-8)
    torch.testing.assert_close(act.dual_deriv(a, b, c), mehler_expectation(act.deriv, act.deriv, a, b, c),
                               rtol=0, atol=1e-8)


def test_identity_closed_forms_match_quadrature():
    """Property: for sigma(x) = x, E[uv] = c, E[1 * 1] = 1, E[u] = 0.  Gauss-Hermite with n nodes is
    exact for polynomials of degree < 2n, so the only error is rounding: tolerance 1e-12."""
    act = nk.get_activation("identity")
    a, b, c = _grid()
    torch.testing.assert_close(act.dual(a, b, c), gaussian_expectation(act.fn, act.fn, a, b, c, n=16),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(act.dual_deriv(a, b, c) * torch.ones_like(c),
                               gaussian_expectation(act.deriv, act.deriv, a, b, c, n=16), rtol=0, atol=1e-12)
    torch.testing.assert_close(act.dual(a, b, c), mehler_expectation(act.fn, act.fn, a, b, c),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(act.mean(a.reshape(-1)), torch.zeros(5, dtype=DTYPE), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["tanh", "gelu", "sin", "sigmoid", "silu", "softplus"])
def test_mehler_quadrature_matches_2d_gauss_hermite(name):
    """Property: for smooth functions without a closed form, Activation.dual / dual_deriv / mean
    (Mehler's expansion, 1-D rules) equal the independent 2-D Gauss-Hermite rule with 340 x 340
    nodes.  Tolerance 1e-8: tanh has poles at +-i pi/2, so both rules converge geometrically but
    not to rounding (the 340-node rule moves by ~1e-13 from 300 nodes; Mehler is off by ~1e-10 at
    rho = +-1); variances kept <= 2."""
    act = nk.get_activation(name)
    assert not act.closed_form
    _assert_matches_gauss_hermite(act, *_grid(top=2.0), n=340, atol=1e-8)


# ---- ReLU family: a fine 1-D integral and Monte Carlo ---------------------------------------------

@pytest.mark.parametrize("name,act,s,h", RELU_FAMILY, ids=[r[0] for r in RELU_FAMILY])
def test_relu_family_duals_match_1d_integral(name, act, s, h):
    """Property: the arc-cosine kernels of s * relu + h equal the expectations written as a 1-D
    integral (inner Gaussian expectation of a rectified Gaussian in closed form, outer integral by
    scipy.quad on each half-line where the integrand is smooth).  Tolerance 1e-9: quad is asked
    for 1e-13; the slack covers the affine bookkeeping (2-D Gauss-Hermite would only reach ~1e-3
    for this kinked function)."""
    act = nk.get_activation(act)
    assert act.closed_form
    for a, b, c in PAIRS:
        got = float(act.dual(_t(a), _t(b), _t(c)))
        assert got == pytest.approx(relu_affine_dual_1d(s, h, a, b, c), abs=1e-9), (a, b, c)
        got_d = float(act.dual_deriv(_t(a), _t(b), _t(c)))
        assert got_d == pytest.approx(relu_affine_dual_deriv_1d(s, a, b, c), abs=1e-9), (a, b, c)
    for a in (0.3, 1.0, 2.5):
        assert float(act.mean(_t(a))) == pytest.approx(relu_affine_mean_1d(s, h, a), abs=1e-9)


def test_normalized_relu_is_the_textbook_affine_map():
    """Property: nk.normalized("relu") is (relu - 1/sqrt(2 pi)) / sqrt(1/2 - 1/(2 pi)) pointwise, so
    the (s, h) used by the 1-D references above describe the object under test.  Tolerance 1e-12
    (the library computes the moments numerically from closed forms: a few ulps)."""
    x = torch.linspace(-3, 3, 61, dtype=DTYPE)
    expect = (torch.relu(x) - RELU_MEAN) / RELU_SD
    torch.testing.assert_close(nk.normalized("relu")(x), expect, rtol=0, atol=1e-12)
    torch.testing.assert_close(nk.scaled("relu", 2 ** 0.5)(x), 2 ** 0.5 * torch.relu(x), rtol=0, atol=1e-15)


@pytest.mark.parametrize("rho", [0.4, -0.7])
def test_relu_duals_match_monte_carlo(rho):
    """Property: E[relu u relu v], E[step u step v], E[relu u] from 2e6 Gaussian samples agree with the
    closed forms.  Tolerance: 5 standard errors of the sample means, computed from the samples
    (a second, fully independent check of the 1-D references above)."""
    a, b = 1.3, 0.6
    n = 2_000_000
    g = torch.Generator().manual_seed(7)
    z1 = torch.randn(n, generator=g, dtype=DTYPE)
    z2 = torch.randn(n, generator=g, dtype=DTYPE)
    u = math.sqrt(a) * z1
    v = math.sqrt(b) * (rho * z1 + math.sqrt(1 - rho * rho) * z2)
    act = nk.get_activation("relu")
    c = _t(rho * math.sqrt(a * b))
    for samples, closed in [(torch.relu(u) * torch.relu(v), act.dual(_t(a), _t(b), c)),
                            ((u > 0).to(DTYPE) * (v > 0).to(DTYPE), act.dual_deriv(_t(a), _t(b), c)),
                            (torch.relu(u), act.mean(_t(a)))]:
        se = samples.std() / math.sqrt(n)
        assert abs(samples.mean() - closed) < 5 * se, (float(samples.mean()), float(closed), float(se))


def test_closed_forms_clip_correlations_beyond_one():
    """Property: correlations pushed past +-1 by rounding are clipped: the duals stay finite and equal
    their rho = +-1 limits, E[relu(u) relu(v)] = sqrt(ab)/2 (rho = 1) or 0 (rho = -1),
    P(u > 0, v > 0) = 1/2 or 0, and erf's arcsine form at |2c| = sqrt((1+2a)(1+2b)) stays finite.
    Tolerance 1e-9 (the overshoot 1e-12 in c moves the limits by ~1e-12)."""
    a, b = _t(0.8), _t(1.9)
    top = torch.sqrt(a * b) * (1 + 1e-12)
    relu = nk.get_activation("relu")
    assert float(relu.dual(a, b, top)) == pytest.approx(math.sqrt(0.8 * 1.9) / 2, abs=1e-9)
    assert float(relu.dual(a, b, -top)) == pytest.approx(0.0, abs=1e-9)
    assert float(relu.dual_deriv(a, b, top)) == pytest.approx(0.5, abs=1e-9)
    assert float(relu.dual_deriv(a, b, -top)) == pytest.approx(0.0, abs=1e-9)
    erf = nk.get_activation("erf")
    expect = (2 / math.pi) * math.asin(2 * math.sqrt(0.8 * 1.9) / math.sqrt(2.6 * 4.8))
    assert float(erf.dual(a, b, top)) == pytest.approx(expect, abs=1e-9)
    # the erf argument itself beyond 1: c larger than any covariance allows
    assert torch.isfinite(erf.dual(a, b, _t(10.0)))


# ---- derivatives, normalisation moments, r ---------------------------------------------------------

@pytest.mark.parametrize("name", sorted(nk.ACTIVATIONS))
def test_named_derivatives_match_autograd(name):
    """Property: each named activation's hand-written derivative (used by dual_deriv through Mehler)
    equals autograd of its function, away from kinks at 0.  Tolerance 1e-12 (analytic formulas)."""
    act = nk.get_activation(name)
    x = torch.linspace(-3.05, 3.05, 62, dtype=DTYPE).requires_grad_(True)   # never hits 0
    (auto,) = torch.autograd.grad(act(x).sum(), x)
    torch.testing.assert_close(act.deriv(x.detach()), auto, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["relu", "erf", "tanh", "gelu", "sin", "softplus"])
def test_normalized_has_zero_mean_unit_second_moment(name):
    """Property: sigma_bar = nk.normalized(sigma) has E sigma_bar(z) = 0 and E sigma_bar(z)^2 = 1 for
    z ~ N(0, 1), checked by scipy's adaptive quadrature of the returned function.  Tolerance 1e-9
    (quad reaches ~1e-13; the library's moments come from a 320-node rule)."""
    f = nk.normalized(name)
    fz = lambda z: float(f(torch.tensor([z], dtype=DTYPE)))  # noqa: E731
    assert gaussian_moment_1d(fz) == pytest.approx(0.0, abs=1e-9)
    assert gaussian_moment_1d(lambda z: fz(z) ** 2) == pytest.approx(1.0, abs=1e-9)


def _tanh_d2():
    return gaussian_moment_1d(lambda z: (1 - math.tanh(z) ** 2) ** 2)


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 1.0])
def test_r_value_matches_textbook_moments(beta):
    """Property: r = (1 - beta^2) E[sigma'(z)^2] with moments from first principles:
    relu' = step -> 1/2; sqrt(2) relu -> 1 (the edge); normalized relu -> (1/2)/(1/2 - 1/(2 pi))
    = pi/(pi - 1); erf' = 2/sqrt(pi) e^{-z^2} -> (4/pi) E e^{-2 z^2} = 4/(pi sqrt(5)); normalized erf divides by
    Var erf = (2/pi) arcsin(2/3); tanh and normalized tanh by scipy quadrature.
    Tolerance 1e-10 (closed forms exact; tanh moments from a 320-node rule)."""
    w2 = 1 - beta * beta
    tanh_var = gaussian_moment_1d(lambda z: math.tanh(z) ** 2)
    cases = [
        ("relu", 0.5),
        (nk.scaled("relu", 2 ** 0.5), 1.0),
        (nk.normalized("relu"), math.pi / (math.pi - 1)),
        ("erf", 4 / (math.pi * math.sqrt(5))),
        (nk.normalized("erf"), (4 / (math.pi * math.sqrt(5))) / ((2 / math.pi) * math.asin(2 / 3))),
        ("tanh", _tanh_d2()),
        (nk.normalized("tanh"), _tanh_d2() / tanh_var),
        ("identity", 1.0),
    ]
    for act, d2 in cases:
        assert nk.r_value(act, beta) == pytest.approx(w2 * d2, abs=1e-10), act


# ---- a plain torch callable goes through quadrature and matches the closed form -------------------

@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5])
def test_callable_erf_matches_named_erf_kernels(beta):
    """Property: `lambda x: torch.erf(x)` (no closed form: Mehler quadrature, autograd derivative)
    gives the same nk.nngp and nk.ntk as the named "erf" (Williams' closed forms), depths 1..5, with
    and without Y.  Tolerance 1e-8: erf is smooth, the quadrature is exact to ~1e-13 for the
    variances of standard-normal inputs (||x||^2/n_0 <= 4 here, about the range the module documents;
    at ||x||^2/n_0 ~ 9 the 160-term Mehler series is off by ~1e-7 on the diagonal)."""
    X = randn(5, 3, seed=21)
    Y = randn(3, 3, seed=22)
    generic = lambda x: torch.erf(x)  # noqa: E731
    for depth in range(1, 6):
        for args in [(X,), (X, Y)]:
            for fn in (nk.nngp, nk.ntk):
                got = fn(*args, depth=depth, activation=generic, beta=beta)
                want = fn(*args, depth=depth, activation="erf", beta=beta)
                torch.testing.assert_close(got, want, rtol=0, atol=1e-8)



FUSED = [("relu", "relu"), ("normalized_relu", nk.normalized("relu")), ("sqrt2_relu", nk.scaled("relu", 2 ** 0.5)),
         ("erf", "erf"), ("normalized_erf", nk.normalized("erf")), ("tanh", "tanh"), ("identity", "identity"),
         ("scaled_identity", nk.scaled("identity", 2.0)),
         ("shifted_identity", nk.get_activation("identity").affine(1.5, 0.3))]


@pytest.mark.parametrize("act", [a for _, a in FUSED], ids=[n for n, _ in FUSED])
def test_fused_duals_equal_separate_duals_and_leave_inputs_alone(act):
    """Property: Activation.duals(a, b, c) (the fused evaluation nk.ntk uses) returns exactly
    (dual(a, b, c), dual_deriv(a, b, c)) and, like any function of its arguments, leaves a, b, c
    unchanged.  Tolerance 1e-14 (the same formulas, fused)."""
    act = nk.get_activation(act)
    a, b, c = _grid()
    a0, b0, c0 = a.clone(), b.clone(), c.clone()
    k, kd = act.duals(a, b, c)
    for t, t0, name in [(a, a0, "a"), (b, b0, "b"), (c, c0, "c")]:
        assert torch.equal(t, t0), f"duals modified its argument {name} in place"
    torch.testing.assert_close(k, act.dual(a0, b0, c0), rtol=0, atol=1e-14)
    torch.testing.assert_close(kd * torch.ones_like(c0), act.dual_deriv(a0, b0, c0) * torch.ones_like(c0),
                               rtol=0, atol=1e-14)


@pytest.mark.parametrize("name,act,s,h", RELU_FAMILY, ids=[r[0] for r in RELU_FAMILY])
def test_fused_relu_duals_match_1d_integral(name, act, s, h):
    """Property: the fused relu kernels (one shared arccos) equal the 1-D integral references, as the
    separate closed forms do above.  Tolerance 1e-9 (same reasoning)."""
    act = nk.get_activation(act)
    for a, b, c in PAIRS:
        k, kd = act.duals(_t(a), _t(b), _t(c))
        assert float(k) == pytest.approx(relu_affine_dual_1d(s, h, a, b, c), abs=1e-9), (a, b, c)
        assert float(kd) == pytest.approx(relu_affine_dual_deriv_1d(s, a, b, c), abs=1e-9), (a, b, c)
