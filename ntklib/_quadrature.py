"""Gaussian quadrature for the dual kernels of ntklib.activations: 2-D Gauss-Hermite, Mehler's
expansion, kink-split Gauss-Legendre panels and an adaptive 1-D rule, each with an error estimate
(the methods are described in the docstring of ntklib.activations)."""

from __future__ import annotations

import math
import numbers
import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import torch

# Quadrature sizes: the 2-D reference rule uses K x K nodes per pair, 1-D rules K1 nodes;
# Mehler's expansion keeps MEHLER_TERMS + 1 Hermite terms (numpy's hermgauss: stable to ~350 nodes).
QUAD_NODES = 64
QUAD_NODES_1D = 320
MEHLER_TERMS = 160
# Upper bound on the size of one quadrature block (number of float64 entries), to bound memory.
_QUAD_BLOCK = 2**21
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
# Where Mehler's series has not converged (a smooth sigma seen at a large variance turns on a
# scale << sqrt(variance), so its Hermite coefficients decay slowly), those entries are recomputed
# by the kink-split rule with these break points, in units of the pre-activation: the built-in
# smooth nonlinearities turn within |x| < 8.  At variances 1e2 to 1e5, gelu's dual and derivative
# dual then agree with scipy's adaptive quad to 3e-10 (Mehler's 160 terms: 1e-2 at 1e3).
SMOOTH_BREAKS = (-8.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
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
    return (
        torch.as_tensor(z, dtype=like.dtype, device=like.device),
        torch.as_tensor(w, dtype=like.dtype, device=like.device),
    )


@lru_cache(maxsize=None)
def _legendre_np(n: int):
    return np.polynomial.legendre.leggauss(n)


def _legendre(n, like):
    """Gauss-Legendre nodes and weights on [0, 1] (exact for polynomials of degree < 2n)."""
    x, w = _legendre_np(n)
    return (
        torch.as_tensor((x + 1) / 2, dtype=like.dtype, device=like.device),
        torch.as_tensor(w / 2, dtype=like.dtype, device=like.device),
    )


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
        fu = f(sa[e, None] * z) * w  # (B, K)
        v = sb[e, None, None] * (rho[e, None, None] * z[:, None] + perp[e, None, None] * z[None, :])
        gv = g(v) @ w  # (B, K)
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
    fk = torch.where(
        pos[:, None],
        K / torch.where(pos, sa, torch.ones_like(sa))[:, None],
        torch.full_like(K, _TRUNC),
    )
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
    edges = sorted(
        {-_TRUNC_1D, _TRUNC_1D}
        | {float(k) for k in kinks if abs(k) < _TRUNC_1D}
        | {float(x) for x in np.arange(-_TRUNC_1D + 2, _TRUNC_1D - 1, 2.0)}
    )
    lo = torch.tensor(edges[:-1], dtype=torch.float64)
    hi = torch.tensor(edges[1:], dtype=torch.float64)
    rules = [_legendre(n, like) for n in _ADAPT_NODES]
    for _ in range(_ADAPT_LEVELS):
        width = (hi - lo)[:, None]
        est = []
        for x, w in rules:
            z = lo[:, None] + width * x
            wz = width * w * _phi(z)
            est.append(torch.stack([(fn(z) * wz).sum(-1) for fn in fns]))  # (F, P)
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
    z, sw, phi = (
        torch.as_tensor(t, dtype=a.dtype, device=a.device) for t in _hermite_functions(n, terms)
    )
    return (f(_safe_sqrt(a)[..., None] * z) * sw) @ phi.T


def _mehler(f, g, a, b, c, terms: int = MEHLER_TERMS):
    """Mehler's expansion and, entry by entry, an estimate of its error (values and estimates
    both of the broadcast shape).  The estimate adds three parts:
      * truncation within the kept terms: twice |rho|^K0 sqrt(sum_{k >= K0} alpha_k^2)
        sqrt(sum_{k >= K0} gamma_k^2) on the last nine terms, K0 = terms - 8;
      * truncation beyond them: |rho|^(K+1) sqrt(m_a m_b), K = terms, with m_a the mass
        sum_{K < k <= 2K} alpha_k^2 of the next K coefficients (Cauchy-Schwarz bounds the
        dropped sum_{k > K} rho^k alpha_k gamma_k so, the mass beyond 2K being in the next part);
      * the coefficients: the Parseval defects |sum_{k <= 2K} alpha_k(a)^2 - E f(sqrt(a) z)^2|
        and the same for g at b, E f^2 by Gauss-Legendre panels split at SMOOTH_BREAKS / sqrt(a),
        undamped.  The Gauss-Hermite rule cannot resolve f(sqrt(a) z) once f turns on a scale
        << sqrt(a), and this defect sees it where the truncation bound does not (gelu at variance
        1e3: true error 0.5, truncation bound 2e-3, defect ~1e-3; both far above the tolerance).
        The mass between K and 2K is split off because it is damped: tanh' at variance 3.45 has
        2.8e-8 of it and a defect of 3e-10 beyond 2K, so the entries at |rho| < 0.95 are within
        1e-11 of the series, where an undamped 2.8e-8 sent them to the 2-D panel rule.
    Over tanh, gelu, silu, sigmoid, softplus at variances 1/4 to 1e3 the sum is within a factor 3
    of the true error, or above it, wherever that error exceeds 1e-10."""
    A, da, ma = _mehler_side(f, a, terms)
    B, db, mb = (A, da, ma) if (g is f and b is a) else _mehler_side(g, b, terms)
    rho, _ = _correlation(a, b, c)
    # Horner's rule from the highest degree whose terms can still matter: beyond K the products
    # sum to at most sum_{k > K} max|alpha_k| max|gamma_k| (|rho| <= 1), kept below 2^-60 of the
    # largest term, i.e. below the rounding (2^-53 of the largest term) of the sum itself
    width = terms + 1
    bound = A.reshape(-1, width).abs().amax(0) * B.reshape(-1, width).abs().amax(0)
    tail = bound.flip(0).cumsum(0).flip(0)  # tail[k] = sum_{j >= k} bound[j]
    lead = float(bound.max()) if A.numel() and B.numel() else 0.0
    top = int((tail > 2.0**-60 * lead).sum()) - 1  # the last degree with tail above the cut
    top = min(terms, max(top, 1))
    acc = A[..., top] * B[..., top] * torch.ones_like(rho)
    for k in range(top - 1, -1, -1):
        acc = torch.addcmul(A[..., k] * B[..., k], acc, rho)
    k0 = terms - 8
    tail = A[..., k0:].square().sum(-1).sqrt() * B[..., k0:].square().sum(-1).sqrt()
    r = rho.abs()
    return acc, 2.0 * r**k0 * tail + r ** (terms + 1) * (ma * mb).sqrt() + da + db


# The Hermite coefficients and Parseval defect of (f, variances), memoised: the generic tile loop
# of kernels.py asks for the same row and column variances in every tile of a layer, and these
# cost about as much as the series itself.  Keyed by the function and the variances' values (a
# pure function of both); least recently used entries are dropped beyond _SIDE_CACHE_BYTES.
_SIDE_CACHE: "OrderedDict" = OrderedDict()
_SIDE_CACHE_BYTES = 64 * 2**20
_SIDE_LOCK = threading.Lock()


def _mehler_side(f, a, terms):
    """(alpha_0..terms, the Parseval defect |sum_{k <= 2 terms} alpha_k^2 - E f(sqrt(a) z)^2|, the
    mass sum_{terms < k <= 2 terms} alpha_k^2), alpha = hermite_coefficients(f, a): memoised (CPU
    only)."""

    def compute():
        A2 = hermite_coefficients(f, a, terms=2 * terms)
        sq = A2.square()
        mass = sq[..., terms + 1 :].sum(-1)
        d = (sq.sum(-1) - _kinked_mean(lambda x: f(x) ** 2, a, SMOOTH_BREAKS)).abs()
        return A2[..., : terms + 1].contiguous(), d, mass

    if a.device.type != "cpu" or a.requires_grad:
        return compute()
    key = (f, a.dtype, tuple(a.shape), terms, a.contiguous().numpy().tobytes())
    with _SIDE_LOCK:
        hit = _SIDE_CACHE.get(key)
        if hit is not None:
            _SIDE_CACHE.move_to_end(key)
            return hit
    A, d, mass = compute()
    with _SIDE_LOCK:
        _SIDE_CACHE[key] = (A, d, mass)
        size = sum(v[0].numel() * v[0].element_size() for v in _SIDE_CACHE.values())
        while size > _SIDE_CACHE_BYTES and len(_SIDE_CACHE) > 1:
            _, old = _SIDE_CACHE.popitem(last=False)
            size -= old[0].numel() * old[0].element_size()
    return A, d, mass


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
    width = torch.where(
        ok, s / torch.where(ok, rho.abs(), torch.ones_like(rho)), torch.zeros_like(rho)
    )
    offsets = torch.as_tensor(_SOFT, dtype=a.dtype, device=a.device)
    soft = zs[:, :, None] + width[:, None, None] * offsets
    grid = torch.as_tensor(_OUTER_GRID, dtype=a.dtype, device=a.device).expand(a.numel(), -1)
    edges = torch.cat([fk, soft.flatten(1), grid], 1).clamp(-_TRUNC, _TRUNC).sort(-1).values
    z, wz = _panels(edges, n_outer)  # (E, Po)
    wz = wz * _phi(z)
    m = (rho * sb)[:, None] * z  # (E, Po)
    sd = (sb * s)[:, None, None]  # (E, 1, 1)
    tk = ((K - m[..., None]) / sd.clamp(min=1e-300)).clamp(-_TRUNC, _TRUNC)
    ig = torch.as_tensor(_INNER_GRID, dtype=a.dtype, device=a.device).expand(*m.shape, -1)
    t, wt = _panels(torch.cat([tk, ig], -1).sort(-1).values, n_inner)  # (E, Po, Pi)
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
    picks = [
        hard.topk(size).indices,
        a.argmax()[None],
        a.argmin()[None],
        b.argmax()[None],
        b.argmin()[None],
        torch.linspace(0, n - 1, size, device=a.device).long(),
    ]
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


def _degenerate_expectation(fns, a, b, rho, breaks, n: int = 40, n_check: int = 30):
    """[E[f(u) f(v)] for f in fns] where |rho| = 1 (u = sqrt(a) z, v = sign(rho) sqrt(b) z): a 1-D
    integral, by Gauss-Legendre panels on |z| <= _TRUNC split at breaks / sqrt(a), at
    sign(rho) breaks / sqrt(b) and at _OUTER_GRID (1-D a, b, rho).  Returns (values, estimates):
    per function the largest |n-node rule - n_check-node rule| over the entries."""
    K = torch.as_tensor(breaks, dtype=a.dtype, device=a.device)
    sa, sb = _safe_sqrt(a), _safe_sqrt(b) * torch.where(rho < 0, -1.0, 1.0).to(a)

    def cuts(s):
        pos = s != 0
        return torch.where(
            pos[:, None], K / torch.where(pos, s, torch.ones_like(s))[:, None], _TRUNC
        )

    grid = torch.as_tensor(_OUTER_GRID, dtype=a.dtype, device=a.device).expand(a.numel(), -1)
    edges = torch.cat([cuts(sa), cuts(sb), grid], 1).clamp(-_TRUNC, _TRUNC).sort(-1).values

    def rule(m):
        z, w = _panels(edges, m)
        w = w * _phi(z)
        u, v = sa[:, None] * z, sb[:, None] * z
        return [(f(u) * f(v) * w).sum(-1) for f in fns]

    vals, check = rule(n), rule(n_check)
    errs = [float((x - y).abs().max()) if x.numel() else 0.0 for x, y in zip(vals, check)]
    return vals, errs


def _autograd_derivative(fn):
    def deriv(x):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            y = fn(x)
            if not y.requires_grad:  # piecewise constant (x > 0, sign): 0 a.e.
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
    if values is None or not all(
        isinstance(k, numbers.Real) and not isinstance(k, bool) for k in values
    ):
        raise ValueError(
            f"kinks: got {kinks!r}; accepted: a sequence of finite real numbers in "
            "increasing order (the points where sigma or sigma' jumps), or None"
        )
    values = tuple(float(k) for k in values)
    if not all(math.isfinite(k) for k in values):
        raise ValueError(
            f"kinks: got {kinks!r}, which is not finite; accepted: a sequence of "
            "finite real numbers in increasing order, or None"
        )
    if any(x >= y for x, y in zip(values[:-1], values[1:])):
        raise ValueError(
            f"kinks: got {kinks!r}, which is not strictly increasing; accepted: a "
            "sequence of finite real numbers in increasing order, or None"
        )
    return values
