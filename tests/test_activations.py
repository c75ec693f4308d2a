"""Activations: closed-form dual kernels against quadrature, integrals and Monte Carlo
(CONVENTIONS.md §1); kinked nonlinearities against independent scipy integrals; kinks=, error
estimates and warnings."""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import pytest
import torch
from scipy import special

import ntklib as nk
from conftest import (
    DTYPE,
    KINKED_REFERENCE,
    gaussian_moment_1d,
    mean_1d,
    pair_expectation,
    randn,
    reference_kernels,
    relu_affine_dual_1d,
    relu_affine_dual_deriv_1d,
    relu_affine_mean_1d,
    smooth_reference,
)
from ntklib.activations import (
    QuadratureWarning,
    gaussian_expectation,
    leaky_relu,
    mehler_expectation,
)

# Normalised ReLU from textbook moments of z ~ N(0, 1): E relu = 1/sqrt(2 pi), E relu^2 = 1/2.
RELU_MEAN = 1.0 / math.sqrt(2 * math.pi)
RELU_SD = math.sqrt(0.5 - 1.0 / (2 * math.pi))
# (name, activation, s, h) with activation = s * relu + h
RELU_FAMILY = [
    ("relu", "relu", 1.0, 0.0),
    ("normalized_relu", nk.normalized("relu"), 1.0 / RELU_SD, -RELU_MEAN / RELU_SD),
    ("sqrt2_relu", nk.scaled("relu", 2**0.5), 2**0.5, 0.0),
]
# Covariances (a, b, c = rho sqrt(ab)) spanning small and large variances and both signs of rho.
PAIRS = [
    (a, b, rho * math.sqrt(a * b))
    for a in (0.3, 1.0, 2.5)
    for b in (0.5, 1.7)
    for rho in (-0.9, -0.3, 0.2, 0.8)
]


def _grid(top=3.0):
    """Broadcastable (a, b, c): a (5, 1), b (1, 5), c (5, 5); variances up to `top`, correlations
    -1, -0.6, 0, 0.7, 1 down the rows."""
    a = torch.tensor([0.1, 0.5, 1.0, 2.0, 3.0], dtype=DTYPE)[:, None].clamp(max=top)
    b = torch.tensor([0.2, 0.7, 1.0, 1.5, 3.0], dtype=DTYPE)[None, :].clamp(max=top)
    rho = torch.tensor([-1.0, -0.6, 0.0, 0.7, 1.0], dtype=DTYPE)[:, None]
    rho = rho * torch.ones(1, 5, dtype=DTYPE)
    return a, b, rho * torch.sqrt(a * b)


def _t(x):
    return torch.tensor(x, dtype=DTYPE)


# ---- smooth closed forms (erf, identity, affine erf) against two quadratures ---------------------


def _assert_matches_gauss_hermite(act, a, b, c, *, n, atol):
    """act.dual, act.dual_deriv and act.mean against the plain 2-D (1-D for the mean) Gauss-Hermite
    rule with n nodes per axis, to atol."""
    torch.testing.assert_close(
        act.dual(a, b, c), gaussian_expectation(act.fn, act.fn, a, b, c, n=n), rtol=0, atol=atol
    )
    torch.testing.assert_close(
        act.dual_deriv(a, b, c),
        gaussian_expectation(act.deriv, act.deriv, a, b, c, n=n),
        rtol=0,
        atol=atol,
    )
    a_flat = a.reshape(-1)
    torch.testing.assert_close(
        act.mean(a_flat),
        gaussian_expectation(act.fn, torch.ones_like, a_flat, a_flat, a_flat, n=n),
        rtol=0,
        atol=atol,
    )


@pytest.mark.parametrize(
    "act",
    ["erf", nk.normalized("erf"), nk.scaled("erf", 1.7)],
    ids=["erf", "normalized_erf", "scaled_erf"],
)
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
    torch.testing.assert_close(
        act.dual(a, b, c), mehler_expectation(act.fn, act.fn, a, b, c), rtol=0, atol=1e-8
    )
    torch.testing.assert_close(
        act.dual_deriv(a, b, c),
        mehler_expectation(act.deriv, act.deriv, a, b, c),
        rtol=0,
        atol=1e-8,
    )


def test_identity_closed_forms_match_quadrature():
    """Property: for sigma(x) = x, E[uv] = c, E[1 * 1] = 1, E[u] = 0.  Gauss-Hermite with n nodes is
    exact for polynomials of degree < 2n, so the only error is rounding: tolerance 1e-12."""
    act = nk.get_activation("identity")
    a, b, c = _grid()
    torch.testing.assert_close(
        act.dual(a, b, c), gaussian_expectation(act.fn, act.fn, a, b, c, n=16), rtol=0, atol=1e-12
    )
    torch.testing.assert_close(
        act.dual_deriv(a, b, c) * torch.ones_like(c),
        gaussian_expectation(act.deriv, act.deriv, a, b, c, n=16),
        rtol=0,
        atol=1e-12,
    )
    torch.testing.assert_close(
        act.dual(a, b, c), mehler_expectation(act.fn, act.fn, a, b, c), rtol=0, atol=1e-12
    )
    torch.testing.assert_close(act.mean(a.reshape(-1)), torch.zeros(5, dtype=DTYPE), rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore::ntklib.activations.QuadratureWarning")  # tanh at variance 2
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


# ---- ReLU family: a fine 1-D integral and Monte Carlo --------------------------------------------


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
    torch.testing.assert_close(
        nk.scaled("relu", 2**0.5)(x), 2**0.5 * torch.relu(x), rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("rho", [0.4, -0.7])
def test_relu_duals_match_monte_carlo(rho):
    """Property: E[relu u relu v], E[step u step v], E[relu u] from 2e6 Gaussian samples agree with
    the closed forms.  Tolerance: 5 standard errors of the sample means, computed from the samples
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
    for samples, closed in [
        (torch.relu(u) * torch.relu(v), act.dual(_t(a), _t(b), c)),
        ((u > 0).to(DTYPE) * (v > 0).to(DTYPE), act.dual_deriv(_t(a), _t(b), c)),
        (torch.relu(u), act.mean(_t(a))),
    ]:
        se = samples.std() / math.sqrt(n)
        assert abs(samples.mean() - closed) < 5 * se, (
            float(samples.mean()),
            float(closed),
            float(se),
        )


def test_closed_forms_clip_correlations_beyond_one():
    """Property: correlations pushed past +-1 by rounding are clipped: the duals stay finite and
    equal their rho = +-1 limits, E[relu(u) relu(v)] = sqrt(ab)/2 (rho = 1) or 0 (rho = -1),
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


# ---- derivatives, normalisation moments, r -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(nk.ACTIVATIONS))
def test_named_derivatives_match_autograd(name):
    """Property: each named activation's hand-written derivative (used by dual_deriv through Mehler)
    equals autograd of its function, away from kinks at 0.  Tolerance 1e-12 (analytic formulas)."""
    act = nk.get_activation(name)
    x = torch.linspace(-3.05, 3.05, 62, dtype=DTYPE).requires_grad_(True)  # never hits 0
    y = act(x)
    # a piecewise constant function (step) has no autograd graph: its a.e. derivative is 0
    auto = torch.autograd.grad(y.sum(), x)[0] if y.requires_grad else torch.zeros_like(x)
    torch.testing.assert_close(act.deriv(x.detach()), auto, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["relu", "erf", "tanh", "gelu", "sin", "softplus"])
def test_normalized_has_zero_mean_unit_second_moment(name):
    """Property: sigma_bar = nk.normalized(sigma) has E sigma_bar(z) = 0 and E sigma_bar(z)^2 = 1
    for z ~ N(0, 1), checked by scipy's adaptive quadrature of the returned function.  Tolerance
    1e-9 (quad reaches ~1e-13; the library's moments are closed forms or adaptive to 1e-12)."""
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
    = pi/(pi - 1); erf' = 2/sqrt(pi) e^{-z^2} -> (4/pi) E e^{-2 z^2} = 4/(pi sqrt(5)); normalized
    erf divides by Var erf = (2/pi) arcsin(2/3); tanh and normalized tanh by scipy quadrature.
    Tolerance 1e-10 (closed forms exact; tanh moments from a 320-node rule)."""
    w2 = 1 - beta * beta
    tanh_var = gaussian_moment_1d(lambda z: math.tanh(z) ** 2)
    cases = [
        ("relu", 0.5),
        (nk.scaled("relu", 2**0.5), 1.0),
        (nk.normalized("relu"), math.pi / (math.pi - 1)),
        ("erf", 4 / (math.pi * math.sqrt(5))),
        (nk.normalized("erf"), (4 / (math.pi * math.sqrt(5))) / ((2 / math.pi) * math.asin(2 / 3))),
        ("tanh", _tanh_d2()),
        (nk.normalized("tanh"), _tanh_d2() / tanh_var),
        ("identity", 1.0),
    ]
    for act, d2 in cases:
        assert nk.r_value(act, beta) == pytest.approx(w2 * d2, abs=1e-10), act


# ---- a plain torch callable goes through quadrature and matches the closed form ------------------


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5])
def test_callable_erf_matches_named_erf_kernels(beta):
    """Property: `lambda x: torch.erf(x)` (no closed form: Mehler quadrature, autograd derivative)
    gives the same nk.nngp and nk.ntk as the named "erf" (Williams' closed forms), depths 1..5, with
    and without Y.  Tolerance 1e-8: erf is smooth, the quadrature is exact to ~1e-13 for the
    variances of standard-normal inputs (||x||^2/n_0 <= 4 here, about the range the module
    documents; at ||x||^2/n_0 ~ 9 the 160-term Mehler series is off by ~1e-7 on the diagonal)."""
    X = randn(5, 3, seed=21)
    Y = randn(3, 3, seed=22)
    generic = lambda x: torch.erf(x)  # noqa: E731
    for depth in range(1, 6):
        for args in [(X,), (X, Y)]:
            for fn in (nk.nngp, nk.ntk):
                got = fn(*args, depth=depth, activation=generic, beta=beta)
                want = fn(*args, depth=depth, activation="erf", beta=beta)
                torch.testing.assert_close(got, want, rtol=0, atol=1e-8)


FUSED = [
    ("relu", "relu"),
    ("normalized_relu", nk.normalized("relu")),
    ("sqrt2_relu", nk.scaled("relu", 2**0.5)),
    ("erf", "erf"),
    ("normalized_erf", nk.normalized("erf")),
    ("tanh", "tanh"),
    ("identity", "identity"),
    ("scaled_identity", nk.scaled("identity", 2.0)),
    ("shifted_identity", nk.get_activation("identity").affine(1.5, 0.3)),
    ("abs", "abs"),
    ("leaky_relu", "leaky_relu"),
    ("step", "step"),
    ("elu", "elu"),
    ("normalized_elu", nk.normalized("elu")),
    ("normalized_abs", nk.normalized("abs")),
    ("hardtanh_kinks", nk.Activation("hardtanh", lambda x: torch.clamp(x, -1, 1), kinks=(-1, 1))),
]


@pytest.mark.filterwarnings("ignore::ntklib.activations.QuadratureWarning")  # tanh at variance 3
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
    torch.testing.assert_close(
        kd * torch.ones_like(c0),
        act.dual_deriv(a0, b0, c0) * torch.ones_like(c0),
        rtol=0,
        atol=1e-14,
    )


@pytest.mark.parametrize("name,act,s,h", RELU_FAMILY, ids=[r[0] for r in RELU_FAMILY])
def test_fused_relu_duals_match_1d_integral(name, act, s, h):
    """Property: the fused relu kernels (one shared arccos) equal the 1-D integral references, as
    the separate closed forms do above.  Tolerance 1e-9 (same reasoning)."""
    act = nk.get_activation(act)
    for a, b, c in PAIRS:
        k, kd = act.duals(_t(a), _t(b), _t(c))
        assert float(k) == pytest.approx(relu_affine_dual_1d(s, h, a, b, c), abs=1e-9), (a, b, c)
        want = relu_affine_dual_deriv_1d(s, a, b, c)
        assert float(kd) == pytest.approx(want, abs=1e-9), (a, b, c)


# ---- every named activation, its normalised and scaled versions, against independent integrals
# -------- References: conftest.pair_expectation / mean_1d (scipy.quad on the outer variable, split
# at the kinks, with the conditional mean of the inner variable in closed form or by a 200-node
# numpy Gauss-Hermite sum for smooth functions); none of ntklib's integrators is used.


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


_SMOOTH_NP = {
    "identity": (lambda x: x, lambda x: np.ones_like(x)),
    "erf": (special.erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x)),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": (_sig, lambda x: _sig(x) * (1 - _sig(x))),
    "gelu": (
        lambda x: 0.5 * x * (1 + special.erf(x / math.sqrt(2))),
        lambda x: (
            0.5 * (1 + special.erf(x / math.sqrt(2)))
            + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        ),
    ),
    "softplus": (lambda x: np.logaddexp(0.0, x), _sig),
    "silu": (lambda x: x * _sig(x), lambda x: _sig(x) * (1 + x * (1 - _sig(x)))),
    "sin": (np.sin, np.cos),
    "cos": (np.cos, lambda x: -np.sin(x)),
}
_ZERO = (lambda x: np.zeros_like(x, dtype=float), lambda m, sd: 0.0, ())
_KINKED_NP = {
    "relu": ("relu", "step"),
    "abs": ("abs", "sign"),
    "elu": ("elu", "elu_deriv"),
    "leaky_relu": ("leaky_relu", "leaky_relu_deriv"),
    "step": ("step", None),
}


@lru_cache(maxsize=None)
def _references(name):
    """(f, f') references for a named activation (or "hardtanh"): (pointwise, conditional mean,
    kinks)."""
    if name in _SMOOTH_NP:
        f, d = _SMOOTH_NP[name]
        return smooth_reference(f), smooth_reference(d)
    if name == "hardtanh":
        return KINKED_REFERENCE["hardtanh"], KINKED_REFERENCE["hardtanh_deriv"]
    fn, dn = _KINKED_NP[name]
    return KINKED_REFERENCE[fn], (KINKED_REFERENCE[dn] if dn else _ZERO)


@lru_cache(maxsize=None)
def _base_reference(name, a, b, c):
    """(E f(u) f(v), E f'(u) f'(v), E f(u), E f(v)) by the independent integrals."""
    f, d = _references(name)
    return (
        pair_expectation(f, f, a, b, c),
        pair_expectation(d, d, a, b, c),
        mean_1d(f, a),
        mean_1d(f, b),
    )


@lru_cache(maxsize=None)
def _affine_of(name, version):
    """(s, h) of the version s * f + h: normalised from the reference moments, scaled by 1.7."""
    if version == "plain":
        return 1.0, 0.0
    if version == "scaled":
        return 1.7, 0.0
    m2, _, mu, _ = _base_reference(name, 1.0, 1.0, 1.0)
    sd = math.sqrt(m2 - mu * mu)
    return 1.0 / sd, -mu / sd


def _reference(name, version, a, b, c):
    """(dual, dual_deriv, mean(a)) of the version of name, from the base references."""
    s, h = _affine_of(name, version)
    k, kd, ma, mb = _base_reference(name, a, b, c)
    return s * s * k + s * h * (ma + mb) + h * h, s * s * kd, s * ma + h


def _hardtanh(kinks=(-1, 1)):
    return nk.Activation("hardtanh", lambda x: torch.clamp(x, -1, 1), kinks=kinks)


def _build(name, version):
    act = _hardtanh() if name == "hardtanh" else nk.get_activation(name)
    if version == "normalized":
        return nk.normalized(act)
    if version == "scaled":
        return nk.scaled(act, 1.7)
    return act


NAMED = sorted(nk.ACTIVATIONS) + ["hardtanh"]
VERSIONS = [
    (n, v)
    for n in NAMED
    for v in ("plain", "normalized", "scaled")
    if not (v == "normalized" and n == "identity")
] + [("identity", "normalized")]
RHOS = [0.0, 0.5, 0.9, 0.99, 0.999]
VARIANCES = [(1.0, 1.0), (0.6, 1.7)]


def test_every_named_activation_has_a_reference():
    """Property: the list above covers ACTIVATIONS, and each reference function equals the library's
    function pointwise (so the references describe the objects under test).  Tolerance 1e-13."""
    x = np.linspace(-3.05, 3.05, 62)  # never hits a kink (0, +-1)
    for name in NAMED:
        f, d = _references(name)
        act = _build(name, "plain")
        xt = torch.tensor(x, dtype=DTYPE)
        np.testing.assert_allclose(act(xt).numpy(), f[0](x), rtol=0, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(act.deriv(xt).numpy(), d[0](x), rtol=0, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("name,version", VERSIONS, ids=[f"{v}-{n}" for n, v in VERSIONS])
def test_moments_and_duals_match_independent_integrals(name, version):
    """Property: moments() = (E s(z), E s(z)^2, E s'(z)^2), mean(a), dual and dual_deriv of every
    named activation (plain, normalized, scaled by 1.7) and of a callable hardtanh with kinks=(-1,
    1) equal the independent scipy integrals at rho in {0, 0.5, 0.9, 0.99, 0.999}, both signs,
    variances (1, 1) and (0.6, 1.7).  Tolerance 1e-10 (the requirement; references ~1e-13; measured
    <= 1e-12)."""
    act = _build(name, version)
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuadratureWarning)  # converged: no warning either
        mom = act.moments()
        k1, kd1, m1 = _reference(name, version, 1.0, 1.0, 1.0)
        for got, want, what in zip(mom, (m1, k1, kd1), ("E s", "E s^2", "E s'^2")):
            assert got == pytest.approx(want, abs=1e-10), what
        for a, b in VARIANCES:
            for rho in RHOS + [-r for r in RHOS[1:]]:
                c = rho * math.sqrt(a * b)
                k, kd, ma = _reference(name, version, a, b, c)
                got, got_d = act.duals(_t(a), _t(b), _t(c))
                assert float(got) == pytest.approx(k, abs=1e-10), (a, b, rho)
                assert float(got_d) == pytest.approx(kd, abs=1e-10), (a, b, rho)
                assert float(act.dual(_t(a), _t(b), _t(c))) == pytest.approx(k, abs=1e-10)
                assert float(act.dual_deriv(_t(a), _t(b), _t(c))) == pytest.approx(kd, abs=1e-10)
            assert float(act.mean(_t(a))) == pytest.approx(ma, abs=1e-10)


def test_issue_numbers_are_exact():
    """Property: the values the issue found off: E|z| = sqrt(2/pi), r(normalized(abs), 0) = 1/(1 -
    2/pi), the abs dual at rho = 0 is E|u| E|v| = 2 sqrt(ab)/pi and its derivative dual at rho =
    0.99 is (2/pi) asin(0.99); a callable hardtanh has E s'^2 = P(|z| < 1) = erf(1/sqrt 2)
    (adaptive quadrature, no kinks given).  Tolerance 1e-12 (closed forms; adaptive rule to
    1e-12)."""
    assert nk.get_activation("abs").moments()[0] == pytest.approx(math.sqrt(2 / math.pi), abs=1e-14)
    assert nk.r_value(nk.normalized("abs"), 0.0) == pytest.approx(1 / (1 - 2 / math.pi), abs=1e-12)
    act = nk.get_activation("abs")
    want = 2 * math.sqrt(0.91) / math.pi
    assert float(act.dual(_t(0.7), _t(1.3), _t(0.0))) == pytest.approx(want, abs=1e-14)
    assert float(act.dual_deriv(_t(1.0), _t(1.0), _t(0.99))) == pytest.approx(
        2 / math.pi * math.asin(0.99), abs=1e-14
    )
    plain = nk.get_activation(lambda x: torch.clamp(x, -1, 1))
    assert plain.moments()[2] == pytest.approx(math.erf(1 / math.sqrt(2)), abs=1e-12)
    ht = KINKED_REFERENCE["hardtanh"]
    assert plain.moments()[1] == pytest.approx(pair_expectation(ht, ht, 1, 1, 1), abs=1e-12)


@pytest.mark.parametrize("alpha", [0.0, -1.0, 1.0, 0.2])
def test_leaky_relu_family_special_cases(alpha):
    """Property: leaky_relu(0) has relu's kernels, leaky_relu(-1) abs's, leaky_relu(1) the
    identity's (c and 1); any slope matches the independent integral of max-type functions.
    Tolerance 1e-13."""
    act = leaky_relu(alpha)
    a, b, c = _grid()
    same = {0.0: "relu", -1.0: "abs", 1.0: "identity"}.get(alpha)
    if same:
        ref = nk.get_activation(same)
        torch.testing.assert_close(act.dual(a, b, c), ref.dual(a, b, c), rtol=0, atol=1e-13)
        torch.testing.assert_close(
            act.dual_deriv(a, b, c),
            ref.dual_deriv(a, b, c) * torch.ones_like(c),
            rtol=0,
            atol=1e-13,
        )
    ramp = KINKED_REFERENCE["relu"][1]
    f = (
        lambda x: np.where(x > 0, x, alpha * x),
        lambda m, sd: ramp(m, sd) - alpha * ramp(-m, sd),
        (0.0,),
    )
    assert float(act.dual(_t(0.8), _t(1.4), _t(0.5))) == pytest.approx(
        pair_expectation(f, f, 0.8, 1.4, 0.5), abs=1e-13
    )


def test_leaky_relu_rejects_bad_slopes():
    for bad in [float("nan"), float("inf"), "0.1", None, True]:
        with pytest.raises(ValueError, match=r"negative_slope: got .*; accepted: a finite real"):
            leaky_relu(bad)


def test_kinked_callable_kernels_match_pairwise_reference():
    """Property: nk.ntk / nk.nngp with a callable hardtanh and kinks=(-1, 1) equal the pair-by-pair
    numpy recursion (conftest.reference_kernels) driven by the independent scipy integrals, depth 3,
    beta 0.1, with and without Y.  Tolerance 1e-10 (each dual ~1e-13, three layers)."""
    X, Y = randn(3, 2, seed=31), randn(2, 2, seed=32)
    act = _hardtanh()

    def duals(a, b, c):
        f, d = _references("hardtanh")
        return pair_expectation(f, f, a, b, c), pair_expectation(d, d, a, b, c)

    for args in [(X, None), (X, Y)]:
        S, T = reference_kernels(
            args[0].numpy(), (X if args[1] is None else args[1]).numpy(), 3, duals, 0.1
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error", QuadratureWarning)
            got_t = nk.ntk(*args, depth=3, activation=act, beta=0.1)
            got_s = nk.nngp(*args, depth=3, activation=act, beta=0.1)
        np.testing.assert_allclose(got_t.numpy(), T, rtol=0, atol=1e-10)
        np.testing.assert_allclose(got_s.numpy(), S, rtol=0, atol=1e-10)


def test_kinked_quadrature_is_vectorised_over_broadcast_entries():
    """Property: the kink-split duals on broadcast (N, 1), (1, M), (N, M) arguments equal the same
    duals entry by entry, including rho = +-1 and a zero variance (u = 0).  Tolerance 1e-14."""
    act = _hardtanh()
    a = torch.tensor([[0.0], [0.5], [2.0]], dtype=DTYPE)
    b = torch.tensor([[1.0, 0.3]], dtype=DTYPE)
    rho = torch.tensor([[1.0, -1.0], [0.3, 0.999], [-0.6, 0.0]], dtype=DTYPE)
    c = rho * torch.sqrt(a * b)
    k, kd = act.duals(a, b, c)
    assert k.shape == kd.shape == (3, 2) and torch.isfinite(k).all() and torch.isfinite(kd).all()
    for i in range(3):
        for j in range(2):
            ki, kdi = act.duals(a[i, 0], b[0, j], c[i, j])
            assert float(k[i, j]) == pytest.approx(float(ki), abs=1e-14)
            assert float(kd[i, j]) == pytest.approx(float(kdi), abs=1e-14)
    # u = 0: E[clamp(0) clamp(v)] = 0; E[1 * 1{|v| < 1}] = P(|v| < 1) = erf(1 / sqrt(2 b))
    assert float(k[0, 0]) == pytest.approx(0.0, abs=1e-14)
    assert float(kd[0, 0]) == pytest.approx(math.erf(1 / math.sqrt(2.0)), abs=1e-12)


def test_missing_kinks_warn_with_the_estimate():
    """Property: a kinked callable whose kinks are not (all) declared still returns a kernel, but
    says so: a QuadratureWarning naming the estimated error, above the tolerance; the estimate is in
    error_estimates.  Declared correctly, no warning is raised."""
    # kinks at -0.7 and 1.3: off the break points of the rule that takes over from Mehler's series
    undeclared = nk.get_activation(lambda x: torch.clamp(x, -0.7, 1.3))
    for act in [undeclared, _hardtanh(kinks=(-1,))]:
        with pytest.warns(QuadratureWarning, match=r"estimated error [0-9.e+-]+, above the tol"):
            act.dual_deriv(_t(1.0), _t(1.0), _t(0.9))
        assert act.error_estimates["dual_deriv"] > act.tol
    act = _hardtanh()
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuadratureWarning)
        act.duals(_t(1.0), _t(1.0), _t(0.9))
    assert act.error_estimates["dual"] < act.tol and act.error_estimates["dual_deriv"] < act.tol


def _gauss_2d_reference(f, a, rho):
    """E[f(u) f(v)], u, v ~ N(0, a), corr rho, by scipy's adaptive quad, nested (the conditional
    expectation given u, each integral split where f turns, |x| < 8 in the pre-activation)."""
    from scipy import integrate

    s = math.sqrt(a)
    pts = [x / s for x in (-8.0, -4.0, -1.0, 0.0, 1.0, 4.0, 8.0)]

    def inner(z1):
        if rho == 1.0:  # v = u
            return f(s * z1) * math.sqrt(2 * math.pi)
        m, sd = rho * s * z1, s * math.sqrt(1 - rho * rho)
        at = [(x - m) / sd for x in (-8.0, -4.0, -1.0, 0.0, 1.0, 4.0, 8.0)]
        g = lambda t: f(m + sd * t) * math.exp(-t * t / 2)  # noqa: E731
        at = sorted(t for t in at if -12 < t < 12)
        return integrate.quad(g, -12, 12, points=at, limit=400, epsabs=1e-13, epsrel=1e-12)[0]

    h = lambda z: f(s * z) * inner(z) * math.exp(-z * z / 2)  # noqa: E731
    val = integrate.quad(h, -12, 12, points=pts, limit=400, epsabs=1e-12, epsrel=1e-11)[0]
    return val / (2 * math.pi)


@pytest.mark.parametrize("variance", [1e2, 1e4])
def test_smooth_duals_at_large_variance_match_an_adaptive_reference(variance):
    """Property: gelu seen at a large variance turns on the scale 1/sqrt(a), where Mehler's 160
    terms have not converged (1e-2 relative error in the derivative dual at 1e3); the entries are
    recomputed by the kink-split rule, and the duals agree with scipy's nested adaptive quad to
    1e-8 relative, without a warning.  The reference uses scipy's erf, not the library's gelu."""
    gelu = lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    gelu_d = lambda x: (
        0.5 * (1 + math.erf(x / math.sqrt(2))) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    )  # noqa: E731
    act = nk.get_activation("gelu")
    a = _t(variance)
    rhos = [1.0, 0.9, -0.5]
    c = torch.tensor([r * variance for r in rhos], dtype=DTYPE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuadratureWarning)
        k, kd = act.duals(a, a, c)
    for i, r in enumerate(rhos):
        assert float(k[i]) == pytest.approx(_gauss_2d_reference(gelu, variance, r), rel=1e-8)
        assert float(kd[i]) == pytest.approx(_gauss_2d_reference(gelu_d, variance, r), rel=1e-8)


def test_kinks_are_kept_by_the_wrappers():
    """Property: normalized, scaled, standardized and get_activation keep an Activation's kinks (the
    duals of the wrapped function are still split there); get_activation(callable, kinks=...) sets
    them."""
    act = _hardtanh()
    for wrapped in (
        nk.normalized(act),
        nk.scaled(act, 2.0),
        nk.standardized(act),
        nk.get_activation(act),
    ):
        assert wrapped.kinks == (-1.0, 1.0)
    fn = nk.get_activation(lambda x: torch.clamp(x, -1, 1), kinks=[-1, 1])
    assert fn.kinks == (-1.0, 1.0)
    assert nk.get_activation("elu").kinks == (0.0,) and nk.get_activation("tanh").kinks == ()


BAD_KINKS = [
    ((1.0, -1.0), "not strictly increasing"),
    ((0.0, 0.0), "not strictly"),
    ((float("nan"),), "not finite"),
    ((float("inf"),), "not finite"),
    (("a",), "accepted: a sequence"),
    (3.0, "accepted: a sequence"),
    ((True,), "accepted: a sequence"),
]


@pytest.mark.parametrize("kinks,why", BAD_KINKS)
def test_bad_kinks_raise(kinks, why):
    """Property: kinks that are not finite, not increasing or not numbers raise a ValueError naming
    kinks, repeating the value and saying what is accepted."""
    with pytest.raises(ValueError, match=rf"kinks: got .*{why}"):
        nk.Activation("x", torch.relu, kinks=kinks)


def test_kinks_only_with_a_callable():
    for spec in ["relu", nk.get_activation("tanh")]:
        with pytest.raises(ValueError, match=r"kinks: got \(0,\) with activation .*; accepted"):
            nk.get_activation(spec, kinks=(0,))


def test_step_is_the_heaviside_function():
    """Property: step = 1{x > 0} has E[step(u) step(v)] = (pi - arccos rho)/(2 pi), derivative 0
    almost everywhere (so its NTK is its NNGP), mean 1/2.  Tolerance 1e-14."""
    act = nk.get_activation("step")
    for rho in (-0.8, 0.0, 0.5, 1.0):
        got = float(act.dual(_t(1.3), _t(0.4), _t(rho * math.sqrt(0.52))))
        assert got == pytest.approx((math.pi - math.acos(rho)) / (2 * math.pi), abs=1e-14)
    assert act.moments() == pytest.approx((0.5, 0.5, 0.0), abs=1e-14)
    X = randn(3, 2, seed=5)
    torch.testing.assert_close(
        nk.ntk(X, depth=3, activation="step", beta=0.0),
        nk.nngp(X, depth=3, activation="step", beta=0.0),
        rtol=0,
        atol=1e-14,
    )


@pytest.mark.parametrize("a", [4.0, 16.0, 25.0])
def test_elu_polar_rule_at_large_variances(a):
    """Property: the elu arcs rule adapts its node count to the variance: exact to 1e-10 (relative
    to max(1, |value|)) against the independent integral up to variance 25, rho up to 1."""
    act = nk.get_activation("elu")
    f, d = _references("elu")
    for rho in (0.0, 0.9, 0.999, 1.0, -0.7):
        c = rho * a
        k, kd = act.duals(_t(a), _t(a), _t(c))
        want = pair_expectation(f, f, a, a, c)
        assert float(k) == pytest.approx(want, abs=1e-10 * max(1, abs(want)))
        assert float(kd) == pytest.approx(pair_expectation(d, d, a, a, c), abs=1e-10)
