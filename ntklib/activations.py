"""Nonlinearities and their Gaussian dual kernels.

For a nonlinearity sigma and a centred Gaussian pair

    (u, v) ~ N(0, [[a, c], [c, b]])

the infinite-width recursions (CONVENTIONS.md §1) need the *dual kernels*

    dual(a, b, c)       = E[sigma(u) sigma(v)]
    dual_deriv(a, b, c) = E[sigma'(u) sigma'(v)]
    mean(a)             = E[sigma(u)]

`Activation` carries a torch function, its derivative and these three maps.  Closed forms are used
for relu (arc-cosine kernel, Cho and Saul 2009), erf (Williams 1997) and the identity, and they
survive affine changes `s * sigma + h` (so `normalized("relu")` and `scaled("relu", sqrt(2))` stay
exact).  Everything else - a named function such as tanh or gelu, or any torch callable - goes
through Mehler's expansion of the bivariate Gaussian,

    E[f(u) g(v)] = sum_k rho^k alpha_k(a) gamma_k(b),   rho = c / sqrt(a b),
    alpha_k(a) = E[f(sqrt(a) z) h_k(z)],  gamma_k(b) = E[g(sqrt(b) z) h_k(z)]

with h_k the orthonormal Hermite polynomials and the coefficients from one 1-D Gauss-Hermite rule
per input.  A pair then costs MEHLER_TERMS multiply-adds instead of a 2-D quadrature; for smooth
functions the result agrees with the closed forms to ~1e-13 (erf, variances up to 3) and with a
256 x 256 Gauss-Hermite rule to ~1e-10 (tanh).  Non-smooth functions (abs, elu') converge slowly.
The truncation error grows with the variances: about 1e-6 at variance 9 and 1e-5 at variance 16 (measured for
tanh and erf), so standardise raw inputs (e.g. to ||x||^2 = n_0, variance about 1) for 1e-8 accuracy.
`gaussian_expectation` (plain 2-D Gauss-Hermite) is kept as an independent reference.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

__all__ = ["Activation", "get_activation", "normalized", "scaled", "standardized", "ACTIVATIONS",
           "gaussian_expectation", "gaussian_mean", "mehler_expectation", "hermite_coefficients"]

# Quadrature sizes: the 2-D reference rule uses K x K nodes per pair, 1-D rules K1 nodes;
# Mehler's expansion keeps MEHLER_TERMS + 1 Hermite terms (numpy's hermgauss is stable to ~350 nodes).
QUAD_NODES = 64
QUAD_NODES_1D = 320
MEHLER_TERMS = 160
# Upper bound on the size of one quadrature block (number of float64 entries), to bound memory.
_QUAD_BLOCK = 2 ** 23


@lru_cache(maxsize=None)
def _hermite(n: int):
    """Nodes and weights for E_{z ~ N(0,1)}[h(z)] ~= sum_k w_k h(z_k) (probabilists' scaling)."""
    x, w = np.polynomial.hermite.hermgauss(n)
    return x * math.sqrt(2.0), w / math.sqrt(math.pi)


def _nodes(n, like):
    z, w = _hermite(n)
    return (torch.as_tensor(z, dtype=like.dtype, device=like.device),
            torch.as_tensor(w, dtype=like.dtype, device=like.device))


def _safe_sqrt(x):
    return torch.sqrt(torch.clamp(x, min=0.0))


def _correlation(a, b, c):
    """c / sqrt(a b) clipped into [-1, 1]; 1 where a norm vanishes (the x -> 0 limit along x = y)."""
    s = _safe_sqrt(a * b)
    pos = s > 0
    rho = torch.where(pos, c / torch.where(pos, s, torch.ones_like(s)), torch.ones_like(s))
    return rho.clamp(-1.0, 1.0), s


def gaussian_expectation(f, g, a, b, c, n: int = QUAD_NODES):
    """E[f(u) g(v)] for (u, v) ~ N(0, [[a, c], [c, b]]), elementwise over broadcast a, b, c.

    Gauss-Hermite with n x n nodes: u = sqrt(a) z1, v = sqrt(b) (rho z1 + sqrt(1 - rho^2) z2).
    Vectorised over all entries, in blocks of bounded memory.

    Args:
        f, g: elementwise torch functions.
        a, b: variances of u and v; c: their covariance (float64 tensors, broadcast together).
        n: Gauss-Hermite nodes per dimension.
    Returns:
        float64 tensor of the broadcast shape of a, b, c.
    Example:
        >>> a, c = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
        >>> round(float(nk.gaussian_expectation(torch.square, torch.square, a, a, c)), 10)   # a b + 2 c^2
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
    step = max(1, _QUAD_BLOCK // (n * n))
    for s in range(0, a.numel(), step):
        e = slice(s, s + step)
        fu = f(sa[e, None] * z) * w                                         # (B, K)
        v = sb[e, None, None] * (rho[e, None, None] * z[:, None] + perp[e, None, None] * z[None, :])
        gv = g(v) @ w                                                        # (B, K)
        out[e] = (fu * gv).sum(-1)
    return out.reshape(shape)


def gaussian_mean(f, a, n: int = QUAD_NODES_1D):
    """E[f(u)] for u ~ N(0, a), elementwise over the variances a (1-D Gauss-Hermite quadrature).

        E[f(u)] = E_{z ~ N(0,1)}[f(sqrt(a) z)] ~= sum_i w_i f(sqrt(a) z_i)

    with the n nodes z_i and weights w_i of the probabilists' Gauss-Hermite rule (exact for polynomials
    of degree < 2n in z).  Negative a are treated as 0.  The fallback of `Activation.mean` (E sigma(u)).

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


@lru_cache(maxsize=None)
def _hermite_functions(n: int, terms: int):
    """phi[k, i] = h_k(z_i) sqrt(w_i): orthonormal Hermite polynomials at the nodes, weight folded in
    (the recurrence h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k + 1) stays in range this way)."""
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
    h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k + 1), so that f(sqrt(a) z) = sum_k alpha_k(a) h_k(z) and
    sum_k alpha_k(a)^2 = E[f(u)^2], u ~ N(0, a) (Parseval).  Computed with one n-node Gauss-Hermite rule
    per entry of a; these are the coefficients of Mehler's expansion (module docstring).

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
    z, sw, phi = (torch.as_tensor(t, dtype=a.dtype, device=a.device) for t in _hermite_functions(n, terms))
    return (f(_safe_sqrt(a)[..., None] * z) * sw) @ phi.T


def mehler_expectation(f, g, a, b, c, terms: int = MEHLER_TERMS):
    """E[f(u) g(v)] for (u, v) ~ N(0, [[a, c], [c, b]]) by Mehler's expansion (module docstring).

        E[f(u) g(v)] = sum_{k=0}^{terms} rho^k alpha_k(a) gamma_k(b),   rho = c / sqrt(a b) clipped to [-1, 1]

    with alpha_k, gamma_k the `hermite_coefficients` of f and g (rho = 1 where a or b vanishes).
    a, b, c broadcast (e.g. a of shape (N, 1), b of shape (1, M), c of shape (N, M)); the Hermite
    coefficients are computed once per entry of a and of b, then summed by Horner's rule in rho.
    This is how `Activation` computes dual kernels that have no closed form.

    Args:
        f, g: elementwise torch functions.
        a, b: variances of u and v; c: their covariance (float64 tensors, broadcast together).
        terms: highest Hermite degree kept.
    Returns:
        float64 tensor of the broadcast shape of a, b, c.
    Example:
        >>> from ntklib.activations import mehler_expectation
        >>> a, b, c = (torch.tensor(x, dtype=torch.float64) for x in (1.0, 2.0, 0.5))
        >>> round(float(mehler_expectation(torch.square, torch.square, a, b, c)), 10)   # a b + 2 c^2
        2.5
        >>> a, b = a.reshape(1, 1), torch.tensor([[1.0, 3.0]], dtype=torch.float64)
        >>> c = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
        >>> torch.allclose(mehler_expectation(torch.erf, torch.erf, a, b, c),
        ...                nk.get_activation("erf").dual(a, b, c))                     # closed form
        True
    """
    A = hermite_coefficients(f, a, terms=terms)
    B = A if (g is f and b is a) else hermite_coefficients(g, b, terms=terms)
    rho, _ = _correlation(a, b, c)
    acc = A[..., terms] * B[..., terms] * torch.ones_like(rho)
    for k in range(terms - 1, -1, -1):
        acc = torch.addcmul(A[..., k] * B[..., k], acc, rho)
    return acc


def _autograd_derivative(fn):
    def deriv(x):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(fn(x).sum(), x)
        return g
    return deriv


class Activation:
    """A nonlinearity sigma: a torch function, its derivative and its Gaussian dual kernels.

    Args:
        name: a label used in plots and error messages.
        fn: elementwise torch function.
        deriv: its derivative (autograd when None).
        dual, dual_deriv: closed forms (a, b, c) -> E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)]
            for (u, v) ~ N(0, [[a, c], [c, b]]); Mehler's expansion when None.
        mean: closed form a -> E[sigma(u)], u ~ N(0, a); quadrature when None.
        duals: optional fused (a, b, c) -> (dual, dual_deriv) sharing work (one arccos for relu).
    Calling the object applies `fn`.  `affine(s, h)` is `s * sigma + h`, closed forms kept.
    `moments()` = (E sigma(z), E sigma(z)^2, E sigma'(z)^2) for z ~ N(0, 1).
    Example:
        >>> softsign = nk.Activation("softsign", lambda x: x / (1 + x.abs()))   # duals by quadrature
        >>> nk.ntk([[1.0, 0.0]], depth=2, activation=softsign).shape
        torch.Size([1, 1])
    """

    def __init__(self, name, fn, deriv=None, *, dual=None, dual_deriv=None, mean=None, duals=None):
        self.name = name
        self.fn = fn
        self._deriv = deriv if deriv is not None else _autograd_derivative(fn)
        self._dual, self._dual_deriv, self._mean = dual, dual_deriv, mean
        self._duals = duals
        self._moments = None

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return f"Activation({self.name!r})"

    @property
    def closed_form(self) -> bool:
        """True when the dual kernels are exact formulas rather than quadrature."""
        return self._dual is not None and self._dual_deriv is not None

    def deriv(self, x):
        return self._deriv(x)

    def dual(self, a, b, c):
        if self._dual is not None:
            return self._dual(a, b, c)
        return mehler_expectation(self.fn, self.fn, a, b, c)

    def dual_deriv(self, a, b, c):
        if self._dual_deriv is not None:
            return self._dual_deriv(a, b, c)
        return mehler_expectation(self._deriv, self._deriv, a, b, c)

    def duals(self, a, b, c):
        """(dual(a, b, c), dual_deriv(a, b, c)) together, sharing work where a closed form allows."""
        if self._duals is not None:
            return self._duals(a, b, c)
        return self.dual(a, b, c), self.dual_deriv(a, b, c)

    def mean(self, a):
        if self._mean is not None:
            return self._mean(a)
        return gaussian_mean(self.fn, a)

    def moments(self):
        """(E sigma(z), E sigma(z)^2, E sigma'(z)^2) for z ~ N(0, 1), computed once, as floats."""
        if self._moments is None:
            one = torch.ones((), dtype=torch.float64)
            if self.closed_form:
                m2, d2 = self.dual(one, one, one), self.dual_deriv(one, one, one)
            else:
                m2 = gaussian_mean(lambda u: self.fn(u) ** 2, one)
                d2 = gaussian_mean(lambda u: self._deriv(u) ** 2, one)
            self._moments = (float(self.mean(one)), float(m2), float(d2))
        return self._moments

    def affine(self, scale: float, shift: float = 0.0, name: str | None = None) -> "Activation":
        """The nonlinearity scale * sigma + shift, with closed forms kept where sigma has them."""
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
                          dual=dual, dual_deriv=dual_deriv, mean=mean, duals=duals)


# ---- closed forms -------------------------------------------------------------------------------

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


def _erf_dual(a, b, c):
    d = torch.sqrt((1 + 2 * a) * (1 + 2 * b))
    return (2 / math.pi) * torch.arcsin((2 * c / d).clamp(-1.0, 1.0))


def _erf_dual_deriv(a, b, c):
    return (4 / math.pi) / _safe_sqrt((1 + 2 * a) * (1 + 2 * b) - 4 * c * c)


def _step(x):
    return (x > 0).to(x.dtype)


def _build_named():
    t = torch
    relu = Activation("relu", t.relu, _step, dual=_relu_dual, dual_deriv=_relu_dual_deriv,
                      mean=lambda a: _safe_sqrt(a) / math.sqrt(2 * math.pi), duals=_relu_duals)
    erf = Activation("erf", t.erf, lambda x: (2 / math.sqrt(math.pi)) * t.exp(-x * x),
                     dual=_erf_dual, dual_deriv=_erf_dual_deriv, mean=lambda a: t.zeros_like(a))
    identity = Activation("identity", lambda x: x, t.ones_like, dual=lambda a, b, c: c,
                          dual_deriv=lambda a, b, c: t.ones_like(c), mean=lambda a: t.zeros_like(a))

    def sig_d(x):
        s = t.sigmoid(x)
        return s * (1 - s)

    def gelu_d(x):
        return 0.5 * (1 + t.erf(x / math.sqrt(2))) + x * t.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def silu_d(x):
        s = t.sigmoid(x)
        return s * (1 + x * (1 - s))

    return {
        "identity": identity,
        "relu": relu,
        "erf": erf,
        "tanh": Activation("tanh", t.tanh, lambda x: 1 - t.tanh(x) ** 2),
        "sigmoid": Activation("sigmoid", t.sigmoid, sig_d),
        "gelu": Activation("gelu", lambda x: 0.5 * x * (1 + t.erf(x / math.sqrt(2))), gelu_d),
        "softplus": Activation("softplus", torch.nn.functional.softplus, t.sigmoid),
        "silu": Activation("silu", torch.nn.functional.silu, silu_d),
        "elu": Activation("elu", torch.nn.functional.elu, lambda x: t.where(x > 0, t.ones_like(x), t.exp(x))),
        "sin": Activation("sin", t.sin, t.cos),
        "cos": Activation("cos", t.cos, lambda x: -t.sin(x)),
        "abs": Activation("abs", t.abs, t.sign),
    }


ACTIVATIONS = _build_named()
_ALIASES = {"linear": "identity", "id": "identity", "swish": "silu"}


def get_activation(spec) -> Activation:
    """Turn a name, an `Activation` or a torch callable into an `Activation`.

    Names (case-insensitive): identity (linear), relu, erf, tanh, sigmoid, gelu, softplus, silu
    (swish), elu, sin, cos, abs - all plain, unscaled.  A callable must map a float64 tensor to a
    tensor of the same shape, elementwise; its dual kernels are then computed by quadrature.

    Args:
        spec: a name, an `Activation`, or an elementwise torch callable.
    Returns:
        Activation (raises ValueError for an unknown name, listing the accepted ones).
    Example:
        >>> [round(m, 6) for m in nk.get_activation("relu").moments()]   # E s, E s^2, E s'^2
        [0.398942, 0.5, 0.5]
    """
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
        return Activation(getattr(spec, "__name__", "callable"), spec)
    raise ValueError(f"activation: got {spec!r} of type {type(spec).__name__}; accepted: a name "
                     f"({', '.join(sorted(ACTIVATIONS))}), an Activation, or a torch callable")


def normalized(activation) -> Activation:
    """sigma_bar = (sigma - E sigma(z)) / sqrt(Var sigma(z)), z ~ N(0, 1) (Jacot et al. 2019b, §4).

    The mean and variance are computed once, here.  sigma_bar satisfies E sigma_bar(z) = 0 and
    E sigma_bar(z)^2 = 1, so Sigma^(l)(x, x) = 1 at every layer for inputs with ||x||^2 = n_0, and
    by the Gaussian Poincare inequality E sigma_bar'(z)^2 >= 1 with equality only for affine sigma.
    Usable wherever an activation name is.

    Args:
        activation: a name, an `Activation`, or an elementwise torch callable (not constant).
    Returns:
        Activation sigma_bar (closed forms kept for relu, erf and identity).
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

    Its duals are factor^2 E[sigma(u) sigma(v)] and factor^2 E[sigma'(u) sigma'(v)], so r(sigma, beta)
    scales by factor^2.

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

    With E sigma(z)^2 = 1 and inputs ||x||^2 = n_0, Sigma^(l)(x, x) = 1 at every layer (beta or not),
    so the characteristic value r(sigma, beta) alone decides freeze or chaos (Jacot, Gabriel, Hongler
    2019b, Thm. 3).  Unlike `normalized`, the mean is kept; `standardized("relu")` is sqrt(2) relu.
    Closed forms are kept (relu, erf, identity).

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
        raise ValueError(f"activation: {act.name} has E sigma(z)^2 = {m2:.3g}; accepted: a function that "
                         "is not zero almost everywhere")
    return act.affine(1.0 / math.sqrt(m2), 0.0, name=f"standardized({act.name})")
