"""Shared references for the ntklib unit tests.

Everything here is written independently of the code under test: numpy/scipy integrals, a
hand-written autograd Jacobian, a numpy re-implementation of the CONVENTIONS.md §1 recursion.  The
tests import these helpers directly (`from conftest import ...`; pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest
import torch
from scipy import integrate, special
from torch import nn

DTYPE = torch.float64


# ---- inputs --------------------------------------------------------------------------------------


def randn(*shape, seed):
    """Standard normal float64 tensor from a private, fixed-seed generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=DTYPE)


def on_sphere(X):
    """Rows rescaled to ||x||^2 = n_0 (the freeze/chaos normalisation)."""
    return X / X.norm(dim=1, keepdim=True) * math.sqrt(X.shape[1])


@pytest.fixture
def inputs():
    """Four inputs in n_0 = 3 with different norms (so the 1/n_0 and the norms both matter)."""
    X = randn(4, 3, seed=11)
    X[1] *= 2.0
    X[2] *= 0.4
    return X


def arccos_rounding_tol(X, Y, depth, rtol=1e-12):
    """Relative tolerance, entry by entry, for two evaluations of the same kernel formulas that
    differ only in rounding (another matmul blocking, another summation order).

    Floating-point argument: a dot product of n_0 terms is exact to gamma = n_0 eps
    (Higham, Thm. 3.5), so the first-layer correlation c carries an error dc <= 4 n_0 eps.  Each
    layer's arccos amplifies it to dt <= min(dc / sqrt(1 - c^2), sqrt(2 dc)) (the square root
    at c -> 1, near-duplicate inputs), which enters the kernel relative to its scale; L - 1 layers
    add up.  Away from c = 1 this is ~1e-14, so the tolerance stays rtol there."""
    Yv = X if Y is None else Y
    nx, ny = X.norm(dim=1), Yv.norm(dim=1)
    c = ((X @ Yv.T) / (nx[:, None] * ny[None, :])).clamp(-1, 1)
    dc = 4 * X.shape[1] * torch.finfo(X.dtype).eps
    dt = torch.minimum(
        dc / torch.sqrt((1 - c * c).clamp_min(1e-300)), torch.tensor(math.sqrt(2 * dc))
    )
    return rtol + (depth - 1) * dt


def assert_close_within(actual, expected, tol):
    """|actual - expected| <= tol * max(|expected|, scale) entrywise, scale = max |expected|."""
    scale = expected.abs().max()
    err = (actual - expected).abs() / torch.maximum(expected.abs(), scale)
    bad = err > tol
    assert not bad.any(), (
        f"{int(bad.sum())} entries beyond tolerance: max relative error "
        f"{float(err.max()):.3g} where the tolerance is {float(tol.min()):.3g}.."
    )


# ---- 1-D reference integrals for ReLU-type activations s * relu + h ------------------------------


def _phi(z):
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _Phi(z):
    return float(special.ndtr(z))


def _quad(f, lo, hi):
    val, _ = integrate.quad(f, lo, hi, epsabs=1e-14, epsrel=1e-13, limit=200)
    return val


def relu_affine_dual_1d(s, h, a, b, c):
    """E[(s relu(u) + h)(s relu(v) + h)], (u, v) ~ N(0, [[a, c], [c, b]]), a, b > 0, |c| < sqrt(ab).

    Condition on z1 = u / sqrt(a): v | z1 ~ N(m, sd^2), m = sqrt(b) rho z1,
    sd = sqrt(b (1 - rho^2)), and E[relu(m + sd Z)] = m Phi(m/sd) + sd phi(m/sd) (the mean of a
    rectified Gaussian).  The remaining 1-D integral over z1 is smooth on each half-line, so scipy's
    adaptive quadrature reaches ~1e-13.
    """
    rho = c / math.sqrt(a * b)
    sd = math.sqrt(b * (1.0 - rho * rho))

    def inner(z):
        m = math.sqrt(b) * rho * z
        return s * (m * _Phi(m / sd) + sd * _phi(m / sd)) + h

    def integrand(z):
        return (s * max(math.sqrt(a) * z, 0.0) + h) * inner(z) * _phi(z)

    return _quad(integrand, -np.inf, 0.0) + _quad(integrand, 0.0, np.inf)


def relu_affine_dual_deriv_1d(s, a, b, c):
    """E[(s step(u))(s step(v))] = s^2 P(u > 0, v > 0) = s^2 int_0^inf phi(z)
    Phi(rho z / sqrt(1 - rho^2)) dz."""
    rho = c / math.sqrt(a * b)
    k = rho / math.sqrt(1.0 - rho * rho)
    return s * s * _quad(lambda z: _phi(z) * _Phi(k * z), 0.0, np.inf)


def relu_affine_mean_1d(s, h, a):
    """E[s relu(u) + h], u ~ N(0, a), by 1-D quadrature."""
    return _quad(lambda z: (s * max(math.sqrt(a) * z, 0.0) + h) * _phi(z), -np.inf, 0.0) + _quad(
        lambda z: (s * max(math.sqrt(a) * z, 0.0) + h) * _phi(z), 0.0, np.inf
    )


def gaussian_moment_1d(f):
    """E[f(z)], z ~ N(0, 1), for a scalar python function, by adaptive quadrature."""
    return _quad(lambda z: f(z) * _phi(z), -np.inf, np.inf)


# ---- numpy reference of the infinite-width recursion (CONVENTIONS.md §1), one pair at a time -----


@lru_cache(maxsize=None)
def _hermgauss_prob(n):
    """Probabilists' Gauss-Hermite rule on a 2-D tensor grid: (z1, z2, weights), each (n, n)."""
    x, w = np.polynomial.hermite.hermgauss(n)
    z, w = x * math.sqrt(2.0), w / math.sqrt(math.pi)
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    return z1, z2, np.outer(w, w)


def gh_expect_2d_np(f, g, a, b, c, n=200):
    """E[f(u) g(v)] by a Cholesky-factor Gauss-Hermite rule in numpy:
    u = sqrt(a) z1, v = (c / sqrt(a)) z1 + sqrt(b - c^2 / a) z2 (a different factorisation from the
    library's, which goes through the correlation)."""
    z1, z2, W = _hermgauss_prob(n)
    l11 = math.sqrt(a)
    l21 = c / l11
    l22 = math.sqrt(max(b - l21 * l21, 0.0))
    return float((f(l11 * z1) * g(l21 * z1 + l22 * z2) * W).sum())


def np_relu_duals(a, b, c):
    """The arc-cosine kernel as printed in CONVENTIONS.md §1 (angle form)."""
    t = math.acos(max(-1.0, min(1.0, c / math.sqrt(a * b))))
    return (
        math.sqrt(a * b) / (2 * math.pi) * (math.sin(t) + (math.pi - t) * math.cos(t)),
        (math.pi - t) / (2 * math.pi),
    )


def np_erf_duals(a, b, c):
    """Williams' erf kernels as printed in CONVENTIONS.md §1."""
    d = (1 + 2 * a) * (1 + 2 * b)
    return (2 / math.pi) * math.asin(2 * c / math.sqrt(d)), (4 / math.pi) / math.sqrt(d - 4 * c * c)


def np_tanh_duals(a, b, c):
    sech2 = lambda x: 1.0 / np.cosh(x) ** 2  # noqa: E731
    return gh_expect_2d_np(np.tanh, np.tanh, a, b, c), gh_expect_2d_np(sech2, sech2, a, b, c)


NP_DUALS = {"relu": np_relu_duals, "erf": np_erf_duals, "tanh": np_tanh_duals}


def reference_kernels(X, Y, depth, duals, beta):
    """(Sigma^(depth), Theta^(depth)) by tracking the 2x2 covariance of each pair (x, y)
    separately."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n0 = X.shape[1]
    w2, b2 = 1.0 - beta * beta, beta * beta
    S = np.empty((len(X), len(Y)))
    T = np.empty((len(X), len(Y)))
    for i, x in enumerate(X):
        for j, y in enumerate(Y):
            a = w2 * float(x @ x) / n0 + b2
            b = w2 * float(y @ y) / n0 + b2
            c = w2 * float(x @ y) / n0 + b2
            theta = c
            for _ in range(depth - 1):
                e_xy, d_xy = duals(a, b, c)
                e_xx, _ = duals(a, a, a)
                e_yy, _ = duals(b, b, b)
                theta = theta * w2 * d_xy + (w2 * e_xy + b2)
                a, b, c = w2 * e_xx + b2, w2 * e_yy + b2, w2 * e_xy + b2
            S[i, j], T[i, j] = c, theta
    return S, T


# ---- empirical NTK by hand -----------------------------------------------------------------------


def autograd_ntk(model, X, Y=None, *, batch=False):
    """J(X) J(Y)^T with J built row by row from torch.autograd.grad of one output w.r.t. all
    parameters.

    batch=False: output i is model(x_i) alone.  batch=True: output i is the i-th entry of the batch
    output model([X; Y]) (BatchNorm couples the batch), and the (X, Y) block is returned.
    """
    params = [p for p in model.parameters() if p.requires_grad]

    def row(out):
        grads = torch.autograd.grad(out, params, retain_graph=True, allow_unused=True)
        return torch.cat(
            [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)]
        )

    if batch:
        Z = X if Y is None else torch.cat([X, Y])
        F = model(Z).reshape(-1)
        J = torch.stack([row(F[i]) for i in range(len(Z))])
        K = J @ J.T
        return K if Y is None else K[: len(X), len(X) :]
    JX = torch.stack([row(model(X[i : i + 1]).reshape(())) for i in range(len(X))])
    JY = (
        JX
        if Y is None
        else torch.stack([row(model(Y[i : i + 1]).reshape(())) for i in range(len(Y))])
    )
    return JX @ JY.T


class NTKDense(nn.Module):
    """A dense layer in NTK parametrisation with balance beta (CONVENTIONS.md §1), for nn.Sequential
    models: x -> sqrt(1 - beta^2)/sqrt(n_in) x W^T + beta b,  W, b ~ N(0, 1)."""

    def __init__(self, n_in, n_out, beta, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(n_out, n_in, generator=g, dtype=DTYPE))
        self.bias = nn.Parameter(torch.randn(n_out, generator=g, dtype=DTYPE))
        self.scale = math.sqrt(1.0 - beta * beta) / math.sqrt(n_in)
        self.beta = beta

    def forward(self, x):
        return self.scale * (x @ self.weight.T) + self.beta * self.bias


# ---- independent references for Gaussian integrals of kinked nonlinearities ---------------------
# Written with numpy/scipy only: an outer scipy.integrate.quad over z1 = u / sqrt(a), split at the
# kinks, of phi(z1) f(sqrt(a) z1) G(m, sd), where G(m, sd) = E[g(m + sd Z)] is the conditional
# expectation of g(v) given u (m = rho sqrt(b) z1, sd = sqrt(b (1 - rho^2))), in closed form for the
# piecewise linear / exponential functions below and by a 200-node Gauss-Hermite sum for smooth g.


def _np_phi(x):
    return np.exp(-0.5 * np.square(x)) / math.sqrt(2 * math.pi)


def _ramp_mean(mu, sd):
    """E[relu(mu + sd Z)] = mu Phi(mu/sd) + sd phi(mu/sd), sd > 0."""
    x = mu / sd
    return mu * special.ndtr(x) + sd * _np_phi(x)


def _exp_below(m, sd):
    """E[exp(m + sd Z) 1{m + sd Z < 0}] = exp(m + sd^2/2) Phi(-m/sd - sd), sd > 0, in log space."""
    return np.exp(m + 0.5 * sd * sd + special.log_ndtr(-m / sd - sd))


def _leaky(alpha):
    return (
        lambda x: np.where(x > 0, x, alpha * x),
        lambda m, sd: _ramp_mean(m, sd) - alpha * _ramp_mean(-m, sd),
    )


def _leaky_d(alpha):
    return (
        lambda x: np.where(x > 0, 1.0, alpha),
        lambda m, sd: special.ndtr(m / sd) + alpha * special.ndtr(-m / sd),
    )


# name -> (g(x) pointwise, G(m, sd) = E[g(m + sd Z)] for sd > 0, kinks of g)
KINKED_REFERENCE = {
    "relu": (lambda x: np.maximum(x, 0.0), _ramp_mean, (0.0,)),
    "step": (lambda x: (x > 0).astype(float), lambda m, sd: special.ndtr(m / sd), (0.0,)),
    "abs": (np.abs, lambda m, sd: _ramp_mean(m, sd) + _ramp_mean(-m, sd), (0.0,)),
    "sign": (np.sign, lambda m, sd: 2 * special.ndtr(m / sd) - 1, (0.0,)),
    "elu": (
        lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
        lambda m, sd: _ramp_mean(m, sd) + _exp_below(m, sd) - special.ndtr(-m / sd),
        (0.0,),
    ),
    "elu_deriv": (
        lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))),
        lambda m, sd: special.ndtr(m / sd) + _exp_below(m, sd),
        (0.0,),
    ),
    "hardtanh": (
        lambda x: np.clip(x, -1.0, 1.0),
        lambda m, sd: _ramp_mean(m + 1, sd) - _ramp_mean(m - 1, sd) - 1,
        (-1.0, 1.0),
    ),
    "hardtanh_deriv": (
        lambda x: (np.abs(x) < 1).astype(float),
        lambda m, sd: special.ndtr((1 - m) / sd) - special.ndtr((-1 - m) / sd),
        (-1.0, 1.0),
    ),
    "leaky_relu": _leaky(0.01) + ((0.0,),),
    "leaky_relu_deriv": _leaky_d(0.01) + ((0.0,),),
}


@lru_cache(maxsize=None)
def _hermgauss_1d(n):
    x, w = np.polynomial.hermite.hermgauss(n)
    return x * math.sqrt(2.0), w / math.sqrt(math.pi)


def smooth_reference(g, n=200):
    """(g, G, ()) for a smooth numpy function g: G(m, sd) by an n-node Gauss-Hermite sum."""
    z, w = _hermgauss_1d(n)
    return g, (lambda m, sd: g(m + sd * z) @ w), ()


def _quad_split(fun, points, T=12.0):
    """int_{-T}^{T} fun, by scipy.quad on the pieces between the sorted points (outside [-T, T] the
    Gaussian weight is below 1e-31)."""
    edges = sorted({-T, T} | {p for p in points if -T < p < T})
    return sum(
        integrate.quad(fun, lo, hi, epsabs=1e-14, epsrel=1e-13, limit=500)[0]
        for lo, hi in zip(edges[:-1], edges[1:])
    )


def pair_expectation(f_ref, g_ref, a, b, c):
    """E[f(u) g(v)], (u, v) ~ N(0, [[a, c], [c, b]]), a, b > 0, for references f_ref, g_ref =
    (pointwise function, conditional mean G, kinks) as in KINKED_REFERENCE / smooth_reference.

    Outer integral over z1 split at f's kinks k / sqrt(a) and, for |rho| > 0, at g's kinks seen
    from z1 (k / (rho sqrt(b)), where G changes on the scale sd / (|rho| sqrt(b))) and at 1, 3,
    10, 30 such scales on either side; rho = +-1 (sd = 0) uses g(m) itself."""
    f, _, fk = f_ref
    g, G, gk = g_ref
    rho = max(-1.0, min(1.0, c / math.sqrt(a * b)))
    sd = math.sqrt(max(b * (1.0 - rho * rho), 0.0))
    sa, sb = math.sqrt(a), math.sqrt(b)
    points = [k / sa for k in fk]
    if rho != 0:
        w = sd / (abs(rho) * sb)
        for k in gk:
            z0 = k / (rho * sb)
            points += [z0] + [z0 + s * m * w for s in (-1, 1) for m in (1, 3, 10, 30)]
    inner = (lambda m: float(g(np.asarray(m)))) if sd == 0 else (lambda m: float(G(m, sd)))

    def integrand(z):
        return float(f(np.asarray(sa * z))) * inner(rho * sb * z) * float(_np_phi(z))

    return _quad_split(integrand, points)


def mean_1d(f_ref, a):
    """E[f(u)], u ~ N(0, a), by scipy.quad split at the kinks."""
    f, _, fk = f_ref
    sa = math.sqrt(a)
    return _quad_split(
        lambda z: float(f(np.asarray(sa * z))) * float(_np_phi(z)), [k / sa for k in fk]
    )
