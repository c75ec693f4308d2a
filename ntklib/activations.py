"""Nonlinearities and their Gaussian dual kernels.

For a nonlinearity sigma and a centred Gaussian pair

    (u, v) ~ N(0, [[a, c], [c, b]]),   rho = c / sqrt(a b)

the infinite-width recursions (CONVENTIONS.md §1) need the *dual kernels*

    dual(a, b, c)       = E[sigma(u) sigma(v)]
    dual_deriv(a, b, c) = E[sigma'(u) sigma'(v)]
    mean(a)             = E[sigma(u)]

`Activation` carries a torch function, its derivative and these three maps.  How they are computed:

* closed forms, pure torch elementwise: relu, abs, leaky_relu, step and the identity (all of the
  form p relu(x) - q relu(-x) or its derivative: arc-cosine kernels, Cho and Saul 2009) and erf
  (Williams 1997);
* elu: its kink is at 0, so in polar coordinates u = sqrt(a) r cos(phi),
  v = sqrt(b) r cos(phi - theta), theta = arccos(rho), the signs of u and v are constant on four
  arcs of phi; there the radial integrals are closed forms (Gaussian moments of
  r^k exp(-lambda r), with erfcx) and each arc is a fixed Gauss-Legendre rule in phi of a smooth
  function (exact to ~1e-15);
* smooth functions without a closed form (tanh, sigmoid, gelu, softplus, silu, sin, cos, or a torch
  callable): Mehler's expansion of the bivariate Gaussian,

      E[f(u) g(v)] = sum_k rho^k alpha_k(a) gamma_k(b),
      alpha_k(a) = E[f(sqrt(a) z) h_k(z)],  gamma_k(b) = E[g(sqrt(b) z) h_k(z)]

  with h_k the orthonormal Hermite polynomials and the coefficients from one 1-D Gauss-Hermite rule
  per input (~1e-13 for erf against its closed form, ~1e-15 for tanh against an adaptive reference
  at variance 1; the truncation error grows with the variances: ~1e-6 at variance 9, so standardise
  the inputs, e.g. ||x||^2 = n_0);
* a torch callable with kinks (or jumps) at known points, `Activation(name, fn, kinks=(k_1, ...))`:
  the conditional expectation E[f(u) g(v)] = E_z1[f(sqrt(a) z1) E[g(v) | z1]] with both integrals
  split at the kinks (fixed Gauss-Legendre panels, vectorised over the entries; see
  `Activation.dual`).

Every quadrature carries an error estimate; one above the tolerance `Activation.tol` raises a
`QuadratureWarning` naming the estimate instead of returning a silently wrong kernel.  The 1-D
moments of a callable (E sigma, E sigma^2, E sigma'^2: r and the normalisation constants) come from
an adaptive Gauss-Legendre rule that bisects wherever the function has a kink or a jump.
`gaussian_expectation` (plain 2-D Gauss-Hermite) is kept as an independent reference for smooth
functions.
"""
from __future__ import annotations

import math
import numbers
import warnings
from functools import lru_cache

import numpy as np
import torch

__all__ = ["Activation", "get_activation", "normalized", "scaled", "standardized", "ACTIVATIONS",
           "gaussian_expectation", "gaussian_mean", "mehler_expectation", "hermite_coefficients",
           "leaky_relu", "QuadratureWarning"]

# Quadrature sizes: the 2-D reference rule uses K x K nodes per pair, 1-D rules K1 nodes;
# Mehler's expansion keeps MEHLER_TERMS + 1 Hermite terms (numpy's hermgauss: stable to ~350 nodes).
QUAD_NODES = 64
QUAD_NODES_1D = 320
MEHLER_TERMS = 160
# Upper bound on the size of one quadrature block (number of float64 entries), to bound memory.
_QUAD_BLOCK = 2 ** 21
# Tolerances: a dual whose error estimate exceeds DUAL_TOL * max(1, |value|) warns; the adaptive 1-D
# moments are computed to MOMENT_TOL.
DUAL_TOL = 1e-10
MOMENT_TOL = 1e-12
# Gauss-Legendre nodes per arc of the elu polar rule: 16 up to variance 4, then 8 + 4 sqrt(variance)
# (the arc integrands vary on the scale 1 / sqrt(variance); measured error <= 2e-13 up to 25).
_ELU_NODES = 16
# Kink-split 2-D rule: |z| <= _TRUNC (the Gaussian mass outside is 2e-19); outer panels between
# the kinks of f, the points _SOFT (in units of the width sd / (|rho| sqrt(b))) around each kink of
# g seen from z1, and _OUTER_GRID; (outer nodes per panel, inner nodes per piece) of the main and
# the check rule, whose difference is the error estimate.
_TRUNC = 9.0
_OUTER_GRID = (-9.0, -6.0, -3.0, 0.0, 3.0, 6.0, 9.0)
_INNER_GRID = (-9.0, -5.0, -2.5, 0.0, 2.5, 5.0, 9.0)
_SOFT = (-8.0, -3.0, -1.0, 0.0, 1.0, 3.0, 8.0)
_KINK_RULES = ((14, 12), (12, 10))
# Adaptive 1-D rule: |z| <= _TRUNC_1D, start panels of width 2, Gauss-Legendre (20, 10) pairs.
_TRUNC_1D = 14.0
_ADAPT_NODES = (20, 10)
_ADAPT_LEVELS = 64


class QuadratureWarning(RuntimeWarning):
    """A dual kernel or moment whose quadrature error estimate exceeds its tolerance.

    Raised (as a warning) by `Activation.dual`, `dual_deriv`, `duals` and `moments` when the
    estimate is above `Activation.tol` (DUAL_TOL = 1e-10, relative to max(1, |value|)); the
    message names the estimate.  Turn it into an error with
    `warnings.simplefilter("error", QuadratureWarning)`.

    Args:
        message: the text (the activation, the quantity, the estimate and the tolerance).
    Example:
        >>> from ntklib.activations import QuadratureWarning
        >>> issubclass(QuadratureWarning, RuntimeWarning)
        True
    """


# ---- quadrature rules ---------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _hermite(n: int):
    """Nodes and weights for E_{z ~ N(0,1)}[h(z)] ~= sum_k w_k h(z_k) (probabilists' scaling)."""
    x, w = np.polynomial.hermite.hermgauss(n)
    return x * math.sqrt(2.0), w / math.sqrt(math.pi)


def _nodes(n, like):
    z, w = _hermite(n)
    return (torch.as_tensor(z, dtype=like.dtype, device=like.device),
            torch.as_tensor(w, dtype=like.dtype, device=like.device))


@lru_cache(maxsize=None)
def _legendre_np(n: int):
    return np.polynomial.legendre.leggauss(n)


def _legendre(n, like):
    """Gauss-Legendre nodes and weights on [0, 1] (exact for polynomials of degree < 2n)."""
    x, w = _legendre_np(n)
    return (torch.as_tensor((x + 1) / 2, dtype=like.dtype, device=like.device),
            torch.as_tensor(w / 2, dtype=like.dtype, device=like.device))


def _panels(edges, n):
    """Composite Gauss-Legendre rule on the panels between consecutive entries of the sorted last
    axis of edges (..., B): nodes and weights of shape (..., (B - 1) n); empty panels weigh 0."""
    x, w = _legendre(n, edges)
    lo, width = edges[..., :-1, None], (edges[..., 1:] - edges[..., :-1])[..., None]
    return (lo + width * x).flatten(-2), (width * w).flatten(-2)


def _phi(z):
    return torch.exp(-0.5 * z * z) * (1.0 / math.sqrt(2 * math.pi))


def _safe_sqrt(x):
    return torch.sqrt(torch.clamp(x, min=0.0))


def _correlation(a, b, c):
    """c / sqrt(a b) clipped into [-1, 1]; 1 where a norm vanishes (the x -> 0 limit along x = y)"""
    s = _safe_sqrt(a * b)
    pos = s > 0
    rho = torch.where(pos, c / torch.where(pos, s, torch.ones_like(s)), torch.ones_like(s))
    return rho.clamp(-1.0, 1.0), s


def _blocks(total, per_entry):
    """Slices of range(total), each holding at most _QUAD_BLOCK / per_entry entries."""
    step = max(1, _QUAD_BLOCK // max(1, per_entry))
    return [slice(s, s + step) for s in range(0, total, step)]


def gaussian_expectation(f, g, a, b, c, n: int = QUAD_NODES):
    """E[f(u) g(v)] for (u, v) ~ N(0, [[a, c], [c, b]]), elementwise over broadcast a, b, c.

    Gauss-Hermite with n x n nodes: u = sqrt(a) z1, v = sqrt(b) (rho z1 + sqrt(1 - rho^2) z2).
    Vectorised over all entries, in blocks of bounded memory.  Converges fast for smooth f and g
    only (a kink costs ~1e-3 at n = 64).

    Args:
        f, g: elementwise torch functions.
        a, b: variances of u and v; c: their covariance (float64 tensors, broadcast together).
        n: Gauss-Hermite nodes per dimension.
    Returns:
        float64 tensor of the broadcast shape of a, b, c.
    Example:
        >>> a, c = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
        >>> round(float(nk.gaussian_expectation(torch.square, torch.square, a, a, c)), 10)
        1.5
    """
    a, b, c = torch.broadcast_tensors(a, b, c)
    shape = a.shape
    a, b, c = a.reshape(-1), b.reshape(-1), c.reshape(-1)
    z, w = _nodes(n, a)
    rho, _ = _correlation(a, b, c)
    sa, sb = _safe_sqrt(a), _safe_sqrt(b)
    perp = _safe_sqrt(1.0 - rho * rho)
    out = torch.empty_like(a)
    for e in _blocks(a.numel(), n * n):
        fu = f(sa[e, None] * z) * w                                         # (B, K)
        v = sb[e, None, None] * (rho[e, None, None] * z[:, None] + perp[e, None, None] * z[None, :])
        gv = g(v) @ w                                                        # (B, K)
        out[e] = (fu * gv).sum(-1)
    return out.reshape(shape)


def gaussian_mean(f, a, n: int = QUAD_NODES_1D):
    """E[f(u)] for u ~ N(0, a), elementwise over the variances a (1-D Gauss-Hermite quadrature).

        E[f(u)] = E_{z ~ N(0,1)}[f(sqrt(a) z)] ~= sum_i w_i f(sqrt(a) z_i)

    with the n nodes z_i and weights w_i of the probabilists' Gauss-Hermite rule (exact for
    polynomials of degree < 2n in z).  Negative a are treated as 0.  The fallback of
    `Activation.mean` for a smooth function (E sigma(u)).

    Args:
        f: elementwise torch function.
        a: variances, a float64 tensor of any shape.
        n: number of Gauss-Hermite nodes.
    Returns:
        tensor of the shape and dtype of a.
    Example:
        >>> from ntklib.activations import gaussian_mean
        >>> a = torch.tensor([0.5, 1.0, 4.0], dtype=torch.float64)
        >>> torch.allclose(gaussian_mean(torch.cos, a), torch.exp(-a / 2))     # E cos(u) = e^(-a/2)
        True
    """
    z, w = _nodes(n, a)
    return f(_safe_sqrt(a)[..., None] * z) @ w


def _kinked_mean(f, a, kinks, n: int = 40):
    """E[f(sqrt(a) z)], z ~ N(0, 1), by Gauss-Legendre on [-_TRUNC, _TRUNC] split at kinks / sqrt(a)
    and at the grid _OUTER_GRID (vectorised over the entries of a)."""
    shape = a.shape
    sa = _safe_sqrt(a.reshape(-1))
    K = torch.as_tensor(kinks, dtype=a.dtype, device=a.device)
    pos = sa > 0
    fk = torch.where(pos[:, None], K / torch.where(pos, sa, torch.ones_like(sa))[:, None],
                     torch.full_like(K, _TRUNC))
    grid = torch.as_tensor(_OUTER_GRID, dtype=a.dtype, device=a.device).expand(sa.numel(), -1)
    edges = torch.cat([fk, grid], 1).clamp(-_TRUNC, _TRUNC).sort(-1).values
    z, w = _panels(edges, n)
    return (f(sa[:, None] * z) * _phi(z) * w).sum(-1).reshape(shape)


def _adaptive_gaussian(fns, kinks=(), tol: float = MOMENT_TOL):
    """E_{z ~ N(0,1)}[fn(z)] for each fn in fns, by adaptive Gauss-Legendre on [-14, 14].

    Start panels of width 2 (split at the kinks, if known); every round evaluates a 20- and a
    10-node rule on each panel, |difference| is the panel's error estimate, and the panels whose
    estimate exceeds tol / (2 * number of panels) are bisected, until the summed estimate is below
    tol (a kink or a jump anywhere is found this way: its panel is halved until it no longer
    matters).
    Returns (values, error estimates) as lists of floats."""
    like = torch.zeros((), dtype=torch.float64)
    edges = sorted({-_TRUNC_1D, _TRUNC_1D} | {float(k) for k in kinks if abs(k) < _TRUNC_1D}
                   | {float(x) for x in np.arange(-_TRUNC_1D + 2, _TRUNC_1D - 1, 2.0)})
    lo = torch.tensor(edges[:-1], dtype=torch.float64)
    hi = torch.tensor(edges[1:], dtype=torch.float64)
    rules = [_legendre(n, like) for n in _ADAPT_NODES]
    for _ in range(_ADAPT_LEVELS):
        width = (hi - lo)[:, None]
        est = []
        for x, w in rules:
            z = lo[:, None] + width * x
            wz = width * w * _phi(z)
            est.append(torch.stack([(fn(z) * wz).sum(-1) for fn in fns]))     # (F, P)
        err = (est[0] - est[1]).abs().amax(0)
        total = float(err.sum())
        if total <= tol:
            break
        split = err > tol / (2 * err.numel())
        mid = (lo[split] + hi[split]) / 2
        lo = torch.cat([lo[~split], lo[split], mid])
        hi = torch.cat([hi[~split], mid, hi[split]])
    values = est[0].sum(-1)
    return [float(v) for v in values], [total] * len(fns)


@lru_cache(maxsize=None)
def _hermite_functions(n: int, terms: int):
    """phi[k, i] = h_k(z_i) sqrt(w_i): orthonormal Hermite polynomials at the nodes, weight folded
    in (the recurrence h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k + 1) stays in range so)."""
    z, w = _hermite(n)
    sw = np.sqrt(w)
    phi = np.zeros((terms + 1, n))
    phi[0] = sw
    phi[1] = z * sw
    for k in range(1, terms):
        phi[k + 1] = (z * phi[k] - math.sqrt(k) * phi[k - 1]) / math.sqrt(k + 1)
    return z, sw, phi


def hermite_coefficients(f, a, n: int = QUAD_NODES_1D, terms: int = MEHLER_TERMS):
    """Hermite coefficients alpha_k(a) = E_{z ~ N(0,1)}[f(sqrt(a) z) h_k(z)], k = 0..terms.

    h_k are the orthonormal (probabilists') Hermite polynomials, h_0 = 1, h_1 = z,
    h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k + 1), so that
    f(sqrt(a) z) = sum_k alpha_k(a) h_k(z) and sum_k alpha_k(a)^2 = E[f(u)^2], u ~ N(0, a)
    (Parseval).  Computed with one n-node Gauss-Hermite rule per entry of a; these are the
    coefficients of Mehler's expansion (module docstring).

    Args:
        f: elementwise torch function.
        a: variances, a float64 tensor of any shape.
        n: number of Gauss-Hermite nodes.
        terms: highest Hermite degree kept.
    Returns:
        tensor of shape a.shape + (terms + 1,), dtype of a.
    Example:
        >>> from ntklib.activations import hermite_coefficients
        >>> a = torch.tensor(2.0, dtype=torch.float64)
        >>> alpha = hermite_coefficients(torch.square, a, terms=3)   # u^2 = a h_0 + a sqrt(2) h_2
        >>> torch.allclose(alpha, torch.tensor([2.0, 0.0, 2 * 2 ** 0.5, 0.0], dtype=torch.float64))
        True
    """
    z, sw, phi = (torch.as_tensor(t, dtype=a.dtype, device=a.device)
                  for t in _hermite_functions(n, terms))
    return (f(_safe_sqrt(a)[..., None] * z) * sw) @ phi.T


def _mehler(f, g, a, b, c, terms: int = MEHLER_TERMS):
    """Mehler's expansion and an estimate of its truncation error: twice the bound
    |rho|^K0 sqrt(sum_{k >= K0} alpha_k^2) sqrt(sum_{k >= K0} gamma_k^2) on the last nine terms,
    K0 = terms - 8, maximised over the entries (it tracks the true error of tanh, gelu, silu,
    sigmoid, softplus within a factor 3 at variances 1 to 9)."""
    A = hermite_coefficients(f, a, terms=terms)
    B = A if (g is f and b is a) else hermite_coefficients(g, b, terms=terms)
    rho, _ = _correlation(a, b, c)
    acc = A[..., terms] * B[..., terms] * torch.ones_like(rho)
    for k in range(terms - 1, -1, -1):
        acc = torch.addcmul(A[..., k] * B[..., k], acc, rho)
    if rho.numel() == 0:
        return acc, 0.0
    k0 = terms - 8
    tail = float(A[..., k0:].square().sum(-1).max().sqrt()
                 * B[..., k0:].square().sum(-1).max().sqrt())
    return acc, 2.0 * float(rho.abs().max()) ** k0 * tail


def mehler_expectation(f, g, a, b, c, terms: int = MEHLER_TERMS):
    """E[f(u) g(v)] for (u, v) ~ N(0, [[a, c], [c, b]]) by Mehler's expansion (module docstring).

        E[f(u) g(v)] = sum_{k=0}^{terms} rho^k alpha_k(a) gamma_k(b),   rho = c / sqrt(a b)

    with alpha_k, gamma_k the `hermite_coefficients` of f and g (rho = 1 where a or b vanishes).
    a, b, c broadcast (e.g. a of shape (N, 1), b of shape (1, M), c of shape (N, M)); the Hermite
    coefficients are computed once per entry of a and of b, then summed by Horner's rule in rho.
    This is how `Activation` computes dual kernels of smooth functions that have no closed form.

    Args:
        f, g: elementwise torch functions.
        a, b: variances of u and v; c: their covariance (float64 tensors, broadcast together).
        terms: highest Hermite degree kept.
    Returns:
        float64 tensor of the broadcast shape of a, b, c.
    Example:
        >>> from ntklib.activations import mehler_expectation
        >>> a, b, c = (torch.tensor(x, dtype=torch.float64) for x in (1.0, 2.0, 0.5))
        >>> round(float(mehler_expectation(torch.square, torch.square, a, b, c)), 10)   # ab + 2c^2
        2.5
        >>> a, b = a.reshape(1, 1), torch.tensor([[1.0, 3.0]], dtype=torch.float64)
        >>> c = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
        >>> torch.allclose(mehler_expectation(torch.erf, torch.erf, a, b, c),
        ...                nk.get_activation("erf").dual(a, b, c))                     # closed form
        True
    """
    return _mehler(f, g, a, b, c, terms)[0]


def _kinked_block(fns, a, b, c, kinks, n_outer, n_inner):
    """[E[f(u) f(v)] for f in fns] on 1-D a, b, c: the conditional expectation
    E_z1[f(sqrt(a) z1) E[f(m + sd t)]], m = rho sqrt(b) z1, sd = sqrt(b (1 - rho^2)), t ~ N(0, 1),
    with composite Gauss-Legendre rules: the inner integral over |t| <= _TRUNC split at
    (k - m) / sd for every kink k and at _INNER_GRID, the outer over |z1| <= _TRUNC split at
    k / sqrt(a), at k / (rho sqrt(b)) + _SOFT * sd / (|rho| sqrt(b)) (where E[f(v) | z1] turns, on
    that scale) and at _OUTER_GRID."""
    K = torch.as_tensor(kinks, dtype=a.dtype, device=a.device)
    sa, sb = _safe_sqrt(a), _safe_sqrt(b)
    rho, _ = _correlation(a, b, c)
    s = _safe_sqrt(1.0 - rho * rho)
    far = torch.full_like(K, 2 * _TRUNC)
    pos = sa > 0
    fk = torch.where(pos[:, None], K / torch.where(pos, sa, torch.ones_like(sa))[:, None], far)
    ok = (rho.abs() > 1e-150) & (sb > 0)
    denom = torch.where(ok, rho * sb, torch.ones_like(rho))
    zs = torch.where(ok[:, None], K / denom[:, None], far)
    width = torch.where(ok, s / torch.where(ok, rho.abs(), torch.ones_like(rho)),
                        torch.zeros_like(rho))
    offsets = torch.as_tensor(_SOFT, dtype=a.dtype, device=a.device)
    soft = zs[:, :, None] + width[:, None, None] * offsets
    grid = torch.as_tensor(_OUTER_GRID, dtype=a.dtype, device=a.device).expand(a.numel(), -1)
    edges = torch.cat([fk, soft.flatten(1), grid], 1).clamp(-_TRUNC, _TRUNC).sort(-1).values
    z, wz = _panels(edges, n_outer)                                          # (E, Po)
    wz = wz * _phi(z)
    m = (rho * sb)[:, None] * z                                              # (E, Po)
    sd = (sb * s)[:, None, None]                                             # (E, 1, 1)
    tk = ((K - m[..., None]) / sd.clamp(min=1e-300)).clamp(-_TRUNC, _TRUNC)
    ig = torch.as_tensor(_INNER_GRID, dtype=a.dtype, device=a.device).expand(*m.shape, -1)
    t, wt = _panels(torch.cat([tk, ig], -1).sort(-1).values, n_inner)        # (E, Po, Pi)
    wt = wt * _phi(t)
    v = m[..., None] + sd * t
    u = sa[:, None] * z
    return [(f(u) * wz * (f(v) * wt).sum(-1)).sum(-1) for f in fns]


def _check_sample(a, b, c, size: int = 48):
    """Indices of the entries on which the check rule runs: the largest |rho| below 1 (where the
    kink-split rule is hardest), the extreme variances, and an even sample of the rest."""
    rho, _ = _correlation(a, b, c)
    n = a.numel()
    if n <= 2 * size:
        return torch.arange(n, device=a.device)
    hard = torch.where(rho.abs() < 1, rho.abs(), torch.zeros_like(rho))
    picks = [hard.topk(size).indices, a.argmax()[None], a.argmin()[None], b.argmax()[None],
             b.argmin()[None], torch.linspace(0, n - 1, size, device=a.device).long()]
    return torch.unique(torch.cat(picks))


def _kinked_expectation(fns, a, b, c, kinks):
    """The kink-split 2-D rule (`_kinked_block`) on broadcast a, b, c, in blocks of bounded memory.
    Returns (values, error estimates): one tensor of the broadcast shape per function, and per
    function the largest |main - check| (the rules of _KINK_RULES) over `_check_sample`."""
    a, b, c = torch.broadcast_tensors(a, b, c)
    shape = a.shape
    a, b, c = a.reshape(-1), b.reshape(-1), c.reshape(-1)
    m = len(kinks)
    vals = [torch.empty_like(a) for _ in fns]
    pieces = (m + len(_SOFT) * m + len(_OUTER_GRID) - 1) * (m + len(_INNER_GRID) - 1)
    (no, ni), (co, ci) = _KINK_RULES
    for e in _blocks(a.numel(), 4 * pieces * no * ni):
        for v, r in zip(vals, _kinked_block(fns, a[e], b[e], c[e], kinks, no, ni)):
            v[e] = r
    errs = [0.0] * len(fns)
    if a.numel():
        idx = _check_sample(a, b, c)
        check = _kinked_block(fns, a[idx], b[idx], c[idx], kinks, co, ci)
        errs = [float((v[idx] - r).abs().max()) for v, r in zip(vals, check)]
    return [v.reshape(shape) for v in vals], errs


def _autograd_derivative(fn):
    def deriv(x):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            y = fn(x)
            if not y.requires_grad:                # piecewise constant (x > 0, sign): 0 a.e.
                return torch.zeros_like(x)
            (g,) = torch.autograd.grad(y.sum(), x)
        return g
    return deriv


def _check_kinks(kinks):
    """kinks as a tuple of floats (None stays None); ValueError unless finite and increasing."""
    if kinks is None:
        return None
    try:
        values = tuple(kinks)
    except TypeError:
        values = None
    if values is None or not all(isinstance(k, numbers.Real) and not isinstance(k, bool)
                                 for k in values):
        raise ValueError(f"kinks: got {kinks!r}; accepted: a sequence of finite real numbers in "
                         "increasing order (the points where sigma or sigma' jumps), or None")
    values = tuple(float(k) for k in values)
    if not all(math.isfinite(k) for k in values):
        raise ValueError(f"kinks: got {kinks!r}, which is not finite; accepted: a sequence of "
                         "finite real numbers in increasing order, or None")
    if any(x >= y for x, y in zip(values[:-1], values[1:])):
        raise ValueError(f"kinks: got {kinks!r}, which is not strictly increasing; accepted: a "
                         "sequence of finite real numbers in increasing order, or None")
    return values


class Activation:
    """A nonlinearity sigma: a torch function, its derivative and its Gaussian dual kernels.

    dual(a, b, c) = E[sigma(u) sigma(v)], dual_deriv(a, b, c) = E[sigma'(u) sigma'(v)] and
    mean(a) = E[sigma(u)] for (u, v) ~ N(0, [[a, c], [c, b]]), elementwise over broadcast float64
    tensors; `duals` returns both kernels at once (sharing work); `moments()` =
    (E sigma(z), E sigma(z)^2, E sigma'(z)^2) for z ~ N(0, 1).  Without closed forms the duals are
    Mehler's expansion (smooth sigma) or, when `kinks` is given, the kink-split 2-D quadrature
    (module docstring); both carry an error estimate, and one above `tol` warns
    (`QuadratureWarning`).  The moments of a callable come from adaptive quadrature (1e-12, kinks
    or not).

    Args:
        name: a label used in plots and error messages.
        fn: elementwise torch function.
        deriv: its derivative (autograd when None; 0 where fn is piecewise constant).
        dual, dual_deriv: closed forms (a, b, c) -> E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)];
            quadrature when None.
        mean: closed form a -> E[sigma(u)], u ~ N(0, a); quadrature when None.
        duals: optional fused (a, b, c) -> (dual, dual_deriv) sharing work (one arccos for relu).
        kinks: increasing finite points where sigma or sigma' is not smooth (a kink or a jump), e.g.
            (-1, 1) for hardtanh; the quadratures split there.  None: sigma is taken to be smooth.
    Attributes:
        kinks: the tuple of kinks, or None.  tol: the tolerance of the quadrature error estimates.
        error_estimates: the largest error estimate seen so far, per quantity ("dual",
            "dual_deriv", "moments"); 0.0 for closed forms.
    Calling the object applies `fn`; `affine(s, h)` is `s * sigma + h`, closed forms and kinks kept.
    Example:
        >>> softsign = nk.Activation("softsign", lambda x: x / (1 + x.abs()), kinks=(0,))  # sigma''
        >>> nk.ntk([[1.0, 0.0]], depth=2, activation=softsign).shape            # jumps at 0
        torch.Size([1, 1])
        >>> hardtanh = nk.Activation("hardtanh", lambda x: torch.clamp(x, -1, 1), kinks=(-1, 1))
        >>> round(hardtanh.moments()[2], 10)               # E sigma'(z)^2 = P(|z| < 1)
        0.6826894921
    """

    def __init__(self, name, fn, deriv=None, *, dual=None, dual_deriv=None, mean=None, duals=None,
                 kinks=None):
        self.name = name
        self.fn = fn
        self._deriv = deriv if deriv is not None else _autograd_derivative(fn)
        self._dual, self._dual_deriv, self._mean = dual, dual_deriv, mean
        self._duals = duals
        self.kinks = _check_kinks(kinks)
        self.tol = DUAL_TOL
        self.error_estimates = {}
        self._warned = {}
        self._moments = None
        self._parseval = None

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return f"Activation({self.name!r})"

    @property
    def closed_form(self) -> bool:
        """True when the dual kernels are exact formulas rather than quadrature."""
        return self._dual is not None and self._dual_deriv is not None

    @property
    def _kinked(self) -> bool:
        return bool(self.kinks)

    def deriv(self, x):
        return self._deriv(x)

    # -- error bookkeeping --
    def _report(self, what, est, scale, method):
        """Record est; warn (QuadratureWarning) when it exceeds tol * max(1, scale), at most once
        per tenfold growth of the estimate."""
        est = float(est)
        self.error_estimates[what] = max(self.error_estimates.get(what, 0.0), est)
        if est > self.tol * max(1.0, float(scale)) and est > 10 * self._warned.get(what, 0.0):
            self._warned[what] = est
            hint = ("" if self._kinked else "; if sigma has kinks or jumps, pass them: "
                    f"Activation({self.name!r}, fn, kinks=(...))")
            warnings.warn(f"activation {self.name}: {what} by {method} has an estimated error "
                          f"{est:.3g}, above the tolerance {self.tol:.3g}{hint}",
                          QuadratureWarning, stacklevel=3)

    def _parseval_defect(self):
        """|sum_k alpha_k(1)^2 - E f(z)^2| for fn and deriv: the error of Mehler's expansion at
        a = b = c = 1 (coefficients from Gauss-Hermite, E f^2 adaptive); computed once."""
        if self._parseval is None:
            one = torch.ones((), dtype=torch.float64)
            exact, _ = _adaptive_gaussian([lambda z: self.fn(z) ** 2,
                                           lambda z: self._deriv(z) ** 2])
            series = [float(hermite_coefficients(f, one).square().sum())
                      for f in (self.fn, self._deriv)]
            self._parseval = tuple(abs(s - e) for s, e in zip(series, exact))
        return self._parseval

    def _quadrature(self, fns, whats, a, b, c):
        if self._kinked:
            vals, errs = _kinked_expectation(fns, a, b, c, self.kinks)
            for v, r, what in zip(vals, errs, whats):
                scale = float(v.abs().max()) if v.numel() else 0.0
                self._report(what, r, scale, "the kink-split quadrature")
            return vals
        out = []
        defect = self._parseval_defect()
        for f, what in zip(fns, whats):
            v, est = _mehler(f, f, a, b, c)
            est += defect[0 if f is self.fn else 1]
            scale = v.abs().max() if v.numel() else 0.0
            self._report(what, est, scale, "Mehler's expansion")
            out.append(v)
        return out

    def dual(self, a, b, c):
        """E[sigma(u) sigma(v)], (u, v) ~ N(0, [[a, c], [c, b]]), elementwise, a, b, c broadcast."""
        if self._dual is not None:
            return self._dual(a, b, c)
        return self._quadrature([self.fn], ["dual"], a, b, c)[0]

    def dual_deriv(self, a, b, c):
        """E[sigma'(u) sigma'(v)], (u, v) ~ N(0, [[a, c], [c, b]]), elementwise."""
        if self._dual_deriv is not None:
            return self._dual_deriv(a, b, c)
        return self._quadrature([self._deriv], ["dual_deriv"], a, b, c)[0]

    def duals(self, a, b, c):
        """(dual(a, b, c), dual_deriv(a, b, c)) together, sharing work where the method allows."""
        if self._duals is not None:
            return self._duals(a, b, c)
        if self._dual is None and self._dual_deriv is None and self._kinked:
            k, kd = self._quadrature([self.fn, self._deriv], ["dual", "dual_deriv"], a, b, c)
            return k, kd
        return self.dual(a, b, c), self.dual_deriv(a, b, c)

    def mean(self, a):
        """E[sigma(u)], u ~ N(0, a), elementwise over the variances a."""
        if self._mean is not None:
            return self._mean(a)
        if self._kinked:
            return _kinked_mean(self.fn, a, self.kinks)
        return gaussian_mean(self.fn, a)

    def moments(self):
        """(E sigma(z), E sigma(z)^2, E sigma'(z)^2) for z ~ N(0, 1), computed once, as floats."""
        if self._moments is None:
            one = torch.ones((), dtype=torch.float64)
            if self.closed_form:
                self._moments = (float(self.mean(one)), float(self.dual(one, one, one)),
                                 float(self.dual_deriv(one, one, one)))
                self.error_estimates.setdefault("moments", 0.0)
            else:
                vals, errs = _adaptive_gaussian(
                    [self.fn, lambda z: self.fn(z) ** 2, lambda z: self._deriv(z) ** 2],
                    self.kinks or ())
                self._report("moments", max(errs), max(abs(v) for v in vals),
                             "adaptive quadrature")
                self._moments = tuple(vals)
        return self._moments

    def affine(self, scale: float, shift: float = 0.0, name: str | None = None) -> "Activation":
        """The nonlinearity scale * sigma + shift, with closed forms and kinks kept."""
        s, h, base = float(scale), float(shift), self
        name = name or f"{s:g}*{self.name}" + (f"{h:+g}" if h else "")
        dual = dual_deriv = mean = None
        if base._mean is not None and base._dual is not None:
            def dual(a, b, c):
                return s * s * base.dual(a, b, c) + s * h * (base.mean(a) + base.mean(b)) + h * h
        if base._dual_deriv is not None:
            def dual_deriv(a, b, c):
                return s * s * base.dual_deriv(a, b, c)
        if base._mean is not None:
            def mean(a):
                return s * base.mean(a) + h
        duals = None
        if dual is not None and dual_deriv is not None:
            def duals(a, b, c):
                k, kd = base.duals(a, b, c)          # out of place: a base may return its input c
                if h:
                    k = k * (s * s) + (s * h * (base.mean(a) + base.mean(b)) + h * h)
                else:
                    k = k * (s * s)
                return k, kd * (s * s)
        return Activation(name, lambda x: s * base.fn(x) + h, lambda x: s * base.deriv(x),
                          dual=dual, dual_deriv=dual_deriv, mean=mean, duals=duals,
                          kinks=base.kinks)


# ---- closed forms -------------------------------------------------------------------------------
# sigma(x) = p relu(x) - q relu(-x) (slope p for x > 0, q for x < 0): with theta = arccos(rho),
#   E[sigma(u) sigma(v)]   = sqrt(ab)/(2 pi) [(p - q)^2 sin(theta) + ((p^2 + q^2)(pi - theta)
#                                                                     + 2 p q theta) rho]
#   E[sigma'(u) sigma'(v)] = ((p^2 + q^2)(pi - theta) + 2 p q theta) / (2 pi)
#   E[sigma(u)]            = (p - q) sqrt(a / (2 pi)),
# from E[relu(u) relu(v)] = sqrt(ab)/(2 pi) (sin theta + (pi - theta) cos theta) at rho and -rho and
# P(u > 0, v > 0) = (pi - theta)/(2 pi): relu (1, 0), abs (1, -1), leaky relu (1, alpha).

def _relu_dual(a, b, c):
    rho, s = _correlation(a, b, c)
    return s / (2 * math.pi) * (_safe_sqrt(1 - rho * rho) + (math.pi - torch.arccos(rho)) * rho)


def _relu_dual_deriv(a, b, c):
    rho, _ = _correlation(a, b, c)
    return (math.pi - torch.arccos(rho)) / (2 * math.pi)


def _relu_duals(a, b, c):
    """Both relu dual kernels with one arccos and in-place arithmetic (the hot path of nk.ntk)."""
    sa, sb = _safe_sqrt(a), _safe_sqrt(b)
    if not (bool((sa > 0).all()) and bool((sb > 0).all())):
        return _relu_dual(a, b, c), _relu_dual_deriv(a, b, c)
    s_ab = torch.sqrt(a * b)                       # exact on the diagonal, where c = a = b
    rho = torch.div(c, s_ab).clamp_(-1.0, 1.0)
    pt = torch.arccos(rho).neg_().add_(math.pi)                 # pi - theta
    deriv = pt * (1.0 / (2 * math.pi))
    sin = torch.mul(rho, rho).neg_().add_(1.0).clamp_(min=0.0).sqrt_()
    k = pt.mul_(rho).add_(sin).mul_(s_ab).mul_(1.0 / (2 * math.pi))
    return k, deriv


def _two_slope(p: float, q: float):
    """(dual, dual_deriv, duals, mean) of sigma(x) = p x (x > 0), q x (x < 0): the forms above."""
    pp, pq, dd = p * p + q * q, 2 * p * q, (p - q) ** 2

    def parts(a, b, c):
        rho, s = _correlation(a, b, c)
        theta = torch.arccos(rho)
        kd = (pp * math.pi + (pq - pp) * theta) * (1.0 / (2 * math.pi))
        k = s * (dd / (2 * math.pi) * _safe_sqrt(1 - rho * rho) + kd * rho)
        return k, kd

    def mean(a):
        return (p - q) / math.sqrt(2 * math.pi) * _safe_sqrt(a)
    return (lambda a, b, c: parts(a, b, c)[0]), (lambda a, b, c: parts(a, b, c)[1]), parts, mean


def _step_dual(a, b, c):
    """E[step(u) step(v)] = P(u > 0, v > 0) = (pi - arccos rho) / (2 pi)."""
    return _relu_dual_deriv(a, b, c)


def _erf_dual(a, b, c):
    d = torch.sqrt((1 + 2 * a) * (1 + 2 * b))
    return (2 / math.pi) * torch.arcsin((2 * c / d).clamp(-1.0, 1.0))


def _erf_dual_deriv(a, b, c):
    return (4 / math.pi) / _safe_sqrt((1 + 2 * a) * (1 + 2 * b) - 4 * c * c)


def _step(x):
    return (x > 0).to(x.dtype)


# ---- elu: four arcs in polar coordinates ---------------------------------------------------------
# u = sqrt(a) r cos(phi), v = sqrt(b) r cos(phi - theta), E = (1/2 pi) int dphi int r e^{-r^2/2} dr.
# elu(x) = x (x > 0), e^x - 1 (x < 0).  With I_k(l) = int_0^inf r^k e^{-l r - r^2/2} dr (l >= 0),
# I_0 = sqrt(pi/2) erfcx(l / sqrt 2), I_1 = 1 - l I_0, I_2 = I_0 - l I_1, on the arcs
#   (+,-) phi = -pi/2 + psi, psi in [0, theta]: alpha = sqrt(a) sin psi,
#                                               beta = sqrt(b) sin(theta - psi)
#   (-,+) phi =  pi/2 + psi, psi in [0, theta]:  |u| / r = alpha, v / r = beta (the same nodes)
#   (-,-) phi = theta + pi/2 + psi, psi in [0, pi - theta]: alpha = sqrt(a) sin(theta + psi),
#                                                           beta = sqrt(b) sin psi
# the radial integrals are (+,+) relu and step closed forms,
#   (+,-) alpha (I_2(beta) - I_2(0)) and I_1(beta), (-,+) beta (I_2(alpha) - I_2(0)) and I_1(alpha),
#   (-,-) I_1(alpha + beta) - I_1(alpha) - I_1(beta) + 1 and I_1(alpha + beta)
# (for E elu elu and E elu' elu'); the arcs are integrated by Gauss-Legendre in psi.

_SQRT_HALF_PI = math.sqrt(math.pi / 2)


def _radial(lam):
    """(I_1(lam), I_2(lam)) for lam >= 0."""
    i0 = _SQRT_HALF_PI * torch.special.erfcx(lam * (1 / math.sqrt(2)))
    i1 = 1.0 - lam * i0
    return i1, i0 - lam * i1


def _elu_nodes(top: float) -> int:
    return _ELU_NODES if top <= 4 else min(256, int(8 + 4 * math.sqrt(top)))


def _elu_block(a, b, c, want_dual=True, want_deriv=True):
    rho, s = _correlation(a, b, c)
    theta = torch.arccos(rho)
    top = float(torch.maximum(a.max(), b.max())) if a.numel() else 1.0
    x, w = _legendre(_elu_nodes(top), a)
    sa, sb = _safe_sqrt(a)[:, None], _safe_sqrt(b)[:, None]
    t = theta[:, None]
    psi1, w1 = t * x, t * w                                   # arcs (+,-) and (-,+)
    psi2, w2 = t + (math.pi - t) * x, (math.pi - t) * w       # arc (-,-), psi2 = theta + psi
    al1, be1 = sa * torch.sin(psi1), sb * torch.sin(t - psi1)
    al2, be2 = sa * torch.sin(psi2), sb * torch.sin(psi2 - t)
    i1_a1, i2_a1 = _radial(al1)
    i1_b1, i2_b1 = _radial(be1)
    i1_a2, _ = _radial(al2)
    i1_b2, _ = _radial(be2)
    i1_ab, _ = _radial(al2 + be2)
    out = []
    if want_dual:
        arcs = ((al1 * (i2_b1 - _SQRT_HALF_PI) + be1 * (i2_a1 - _SQRT_HALF_PI)) * w1).sum(-1)
        arcs = arcs + ((i1_ab - i1_a2 - i1_b2 + 1.0) * w2).sum(-1)
        relu = s / (2 * math.pi) * (_safe_sqrt(1 - rho * rho) + (math.pi - theta) * rho)
        out.append(relu + arcs * (1 / (2 * math.pi)))
    if want_deriv:
        arcs = ((i1_b1 + i1_a1) * w1).sum(-1) + (i1_ab * w2).sum(-1)
        out.append((math.pi - theta + arcs) * (1 / (2 * math.pi)))
    return out


def _elu_apply(a, b, c, want_dual, want_deriv):
    a, b, c = torch.broadcast_tensors(a, b, c)
    shape = a.shape
    a, b, c = a.reshape(-1), b.reshape(-1), c.reshape(-1)
    n_out = int(want_dual) + int(want_deriv)
    outs = [torch.empty_like(a) for _ in range(n_out)]
    top = float(torch.maximum(a.max(), b.max())) if a.numel() else 1.0
    for e in _blocks(a.numel(), 16 * _elu_nodes(top)):
        for o, r in zip(outs, _elu_block(a[e], b[e], c[e], want_dual, want_deriv)):
            o[e] = r
    return [o.reshape(shape) for o in outs]


def _elu_mean(a):
    """E elu(u) = sqrt(a / (2 pi)) + e^{a/2} Phi(-sqrt a) - 1/2
    = sqrt(a / (2 pi)) + erfcx(sqrt(a / 2)) / 2 - 1/2."""
    r = _safe_sqrt(a)
    return r / math.sqrt(2 * math.pi) + 0.5 * torch.special.erfcx(r / math.sqrt(2)) - 0.5


def _elu():
    f = torch.nn.functional.elu
    return Activation("elu", f, lambda x: torch.where(x > 0, torch.ones_like(x), torch.exp(x)),
                      dual=lambda a, b, c: _elu_apply(a, b, c, True, False)[0],
                      dual_deriv=lambda a, b, c: _elu_apply(a, b, c, False, True)[0],
                      duals=lambda a, b, c: tuple(_elu_apply(a, b, c, True, True)),
                      mean=_elu_mean, kinks=(0.0,))


def leaky_relu(negative_slope: float = 0.01) -> Activation:
    """Leaky ReLU sigma(x) = x (x > 0), negative_slope * x (x <= 0), with closed-form duals.

    With theta = arccos(rho), alpha = negative_slope (p = 1, q = alpha in the two-slope form):
        E[sigma(u) sigma(v)]   = sqrt(ab)/(2 pi) [(1 - alpha)^2 sin(theta)
                                      + ((1 + alpha^2)(pi - theta) + 2 alpha theta) rho]
        E[sigma'(u) sigma'(v)] = ((1 + alpha^2)(pi - theta) + 2 alpha theta) / (2 pi)
        E[sigma(u)]            = (1 - alpha) sqrt(a / (2 pi)).
    The named activation "leaky_relu" is leaky_relu(0.01) (torch's default slope).

    Args:
        negative_slope: alpha, a finite real number (alpha = -1 is abs, 0 relu, 1 the identity).
    Returns:
        Activation named "leaky_relu" (alpha = 0.01) or "leaky_relu(ALPHA)".
    Example:
        >>> from ntklib.activations import leaky_relu
        >>> round(leaky_relu(0.2).moments()[2], 12)        # E sigma'(z)^2 = (1 + 0.2^2) / 2
        0.52
    """
    if (not isinstance(negative_slope, numbers.Real) or isinstance(negative_slope, bool)
            or not math.isfinite(negative_slope)):
        raise ValueError(f"negative_slope: got {negative_slope!r}; accepted: a finite real number")
    alpha = float(negative_slope)
    dual, dual_deriv, duals, mean = _two_slope(1.0, alpha)
    name = "leaky_relu" if alpha == 0.01 else f"leaky_relu({alpha:g})"
    return Activation(name, lambda x: torch.nn.functional.leaky_relu(x, alpha),
                      lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, alpha)),
                      dual=dual, dual_deriv=dual_deriv, duals=duals, mean=mean, kinks=(0.0,))


def _build_named():
    t = torch
    relu = Activation("relu", t.relu, _step, dual=_relu_dual, dual_deriv=_relu_dual_deriv,
                      mean=lambda a: _safe_sqrt(a) / math.sqrt(2 * math.pi), duals=_relu_duals,
                      kinks=(0.0,))
    erf = Activation("erf", t.erf, lambda x: (2 / math.sqrt(math.pi)) * t.exp(-x * x),
                     dual=_erf_dual, dual_deriv=_erf_dual_deriv, mean=lambda a: t.zeros_like(a),
                     kinks=())
    identity = Activation("identity", lambda x: x, t.ones_like, dual=lambda a, b, c: c,
                          dual_deriv=lambda a, b, c: t.ones_like(c), mean=lambda a: t.zeros_like(a),
                          kinks=())
    a_dual, a_deriv, a_duals, a_mean = _two_slope(1.0, -1.0)
    absolute = Activation("abs", t.abs, t.sign, dual=a_dual, dual_deriv=a_deriv, duals=a_duals,
                          mean=a_mean, kinks=(0.0,))
    step = Activation("step", _step, t.zeros_like, dual=_step_dual,
                      dual_deriv=lambda a, b, c: t.zeros_like(c),
                      duals=lambda a, b, c: (_step_dual(a, b, c), t.zeros_like(c)),
                      mean=lambda a: t.full_like(a, 0.5), kinks=(0.0,))

    def sig_d(x):
        s = t.sigmoid(x)
        return s * (1 - s)

    def gelu_d(x):
        return (0.5 * (1 + t.erf(x / math.sqrt(2)))
                + x * t.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))

    def silu_d(x):
        s = t.sigmoid(x)
        return s * (1 + x * (1 - s))

    def smooth(name, fn, d):
        return Activation(name, fn, d, kinks=())

    return {
        "identity": identity,
        "relu": relu,
        "erf": erf,
        "tanh": smooth("tanh", t.tanh, lambda x: 1 - t.tanh(x) ** 2),
        "sigmoid": smooth("sigmoid", t.sigmoid, sig_d),
        "gelu": smooth("gelu", lambda x: 0.5 * x * (1 + t.erf(x / math.sqrt(2))), gelu_d),
        "softplus": smooth("softplus", torch.nn.functional.softplus, t.sigmoid),
        "silu": smooth("silu", torch.nn.functional.silu, silu_d),
        "elu": _elu(),
        "sin": smooth("sin", t.sin, t.cos),
        "cos": smooth("cos", t.cos, lambda x: -t.sin(x)),
        "abs": absolute,
        "leaky_relu": leaky_relu(0.01),
        "step": step,
    }


ACTIVATIONS = _build_named()
_ALIASES = {"linear": "identity", "id": "identity", "swish": "silu", "heaviside": "step",
            "leakyrelu": "leaky_relu"}


def get_activation(spec, kinks=None) -> Activation:
    """Turn a name, an `Activation` or a torch callable into an `Activation`.

    Names (case-insensitive): identity (linear), relu, erf, tanh, sigmoid, gelu, softplus, silu
    (swish), elu, sin, cos, abs, leaky_relu (slope 0.01), step (heaviside: 1 for x > 0, derivative
    0 almost everywhere) - all plain, unscaled.  A callable must map a float64 tensor to a tensor of
    the same shape, elementwise; its dual kernels are then computed by quadrature (Mehler's
    expansion, or the kink-split rule when kinks are given).

    Args:
        spec: a name, an `Activation`, or an elementwise torch callable.
        kinks: for a callable only: the increasing points where it or its derivative jumps
            (as for `Activation`); None means smooth.
    Returns:
        Activation (raises ValueError for an unknown name, listing the accepted ones).
    Example:
        >>> [round(m, 6) for m in nk.get_activation("relu").moments()]   # E s, E s^2, E s'^2
        [0.398942, 0.5, 0.5]
        >>> act = nk.get_activation(lambda x: torch.clamp(x, -1, 1), kinks=(-1, 1))
        >>> act.kinks
        (-1.0, 1.0)
    """
    if kinks is not None and (isinstance(spec, (str, Activation)) or not callable(spec)):
        raise ValueError(f"kinks: got {kinks!r} with activation {spec!r}; accepted: kinks only "
                         "with a torch callable (a name or an Activation carries its own kinks)")
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        key = _ALIASES.get(spec.lower(), spec.lower())
        if key not in ACTIVATIONS:
            raise ValueError(f"activation: unknown name {spec!r}; accepted names are "
                             f"{sorted(ACTIVATIONS) + sorted(_ALIASES)}, an object from "
                             "nk.normalized(...) / nk.scaled(...), or a torch callable")
        return ACTIVATIONS[key]
    if callable(spec):
        probe = torch.linspace(-2.0, 2.0, 5, dtype=torch.float64)
        try:
            out = spec(probe)
        except Exception as err:  # noqa: BLE001 - report what the callable did
            raise ValueError(f"activation: the callable {spec!r} failed on a float64 torch tensor "
                             f"({err}); it must be an elementwise torch function") from err
        if not isinstance(out, torch.Tensor) or out.shape != probe.shape:
            raise ValueError(f"activation: the callable {spec!r} must return a torch tensor of the "
                             f"input's shape, got {type(out).__name__} {getattr(out, 'shape', '')}")
        return Activation(getattr(spec, "__name__", "callable"), spec, kinks=kinks)
    raise ValueError(f"activation: got {spec!r} of type {type(spec).__name__}; accepted: a name "
                     f"({', '.join(sorted(ACTIVATIONS))}), an Activation, or a torch callable")


def normalized(activation) -> Activation:
    """sigma_bar = (sigma - E sigma(z)) / sqrt(Var sigma(z)), z ~ N(0, 1) (Jacot et al. 2019b, §4).

    The mean and variance are computed once, here (closed forms, or adaptive quadrature to 1e-12).
    sigma_bar satisfies E sigma_bar(z) = 0 and E sigma_bar(z)^2 = 1, so Sigma^(l)(x, x) = 1 at every
    layer for inputs with ||x||^2 = n_0, and by the Gaussian Poincare inequality
    E sigma_bar'(z)^2 >= 1 with equality only for affine sigma (sigma weakly differentiable; the
    step function's a.e. derivative 0 is not its distributional one).  Usable wherever an
    activation name is; the kinks of an Activation are kept.

    Args:
        activation: a name, an `Activation` (e.g. one with kinks=), or an elementwise torch
            callable (not constant).
    Returns:
        Activation sigma_bar (closed forms kept: relu, abs, leaky_relu, step, elu, erf, identity).
    Example:
        >>> round(nk.normalized("relu").moments()[1], 12)
        1.0
    """
    act = get_activation(activation)
    mu, m2, _ = act.moments()
    var = m2 - mu * mu
    if not var > 1e-14:
        raise ValueError(f"activation: {act.name} has variance {var:.3g} under N(0, 1); a constant "
                         "function cannot be normalised")
    sd = math.sqrt(var)
    return act.affine(1.0 / sd, -mu / sd, name=f"normalized({act.name})")


def scaled(activation, factor: float) -> Activation:
    """factor * sigma, closed forms kept: `scaled("relu", math.sqrt(2))` is the edge-of-chaos ReLU.

    Its duals are factor^2 E[sigma(u) sigma(v)] and factor^2 E[sigma'(u) sigma'(v)], so
    r(sigma, beta) scales by factor^2.

    Args:
        activation: a name, an `Activation`, or an elementwise torch callable.
        factor: the scale.
    Returns:
        Activation.
    Example:
        >>> round(nk.scaled("relu", 2 ** 0.5).moments()[2], 12)      # E[sigma'(z)^2] = 2 * 1/2
        1.0
    """
    act = get_activation(activation)
    return act.affine(factor, 0.0, name=f"{factor:.4g}*{act.name}")


def standardized(activation) -> Activation:
    """sigma / sqrt(E sigma(z)^2), z ~ N(0, 1): the scaling the freeze/chaos theorems assume.

    With E sigma(z)^2 = 1 and inputs ||x||^2 = n_0, Sigma^(l)(x, x) = 1 at every layer (beta or
    not), so the characteristic value r(sigma, beta) alone decides freeze or chaos (Jacot, Gabriel,
    Hongler 2019b, Thm. 3).  Unlike `normalized`, the mean is kept; `standardized("relu")` is
    sqrt(2) relu.  Closed forms are kept (relu, abs, leaky_relu, step, elu, erf, identity).

    Args:
        activation: a name, an Activation, or a torch callable.
    Returns:
        Activation named "standardized(NAME)".
    Example:
        >>> round(nk.standardized("relu").moments()[1], 12)      # E sigma(z)^2
        1.0
    """
    act = get_activation(activation)
    m2 = act.moments()[1]
    if not m2 > 1e-14:
        raise ValueError(f"activation: {act.name} has E sigma(z)^2 = {m2:.3g}; accepted: a "
                         "function that is not zero almost everywhere")
    return act.affine(1.0 / math.sqrt(m2), 0.0, name=f"standardized({act.name})")
