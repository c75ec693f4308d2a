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
  at variance 1; the truncation error grows with the variances: ~1e-6 at variance 9, ~1e-2 for
  gelu's derivative dual at 1e3, because sigma(sqrt(a) z) turns on a scale ~ 1/sqrt(a)); the
  entries whose estimated error is above the tolerance are recomputed by the kink-split rule below
  with break points at -8, -6, -4, -3, ..., 8 in the pre-activation (where the built-in smooth
  functions turn): ~1e-10 for gelu up to variance 1e5;
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

import torch

__all__ = [
    "Activation",
    "get_activation",
    "normalized",
    "scaled",
    "standardized",
    "ACTIVATIONS",
    "gaussian_expectation",
    "gaussian_mean",
    "mehler_expectation",
    "hermite_coefficients",
    "leaky_relu",
    "QuadratureWarning",
]

from ._closed_forms import (
    _elu_apply,
    _elu_mean,
    _erf_dual,
    _erf_dual_deriv,
    _relu_dual,
    _relu_dual_deriv,
    _relu_duals,
    _step,
    _step_dual,
    _two_slope,
)
from ._activation import Activation
from ._quadrature import (
    QuadratureWarning,
    _safe_sqrt,
    gaussian_expectation,
    gaussian_mean,
    hermite_coefficients,
    mehler_expectation,
)

# Activation lives in ntklib/_activation.py (file size); it is documented and pickled as
# ntklib.activations.Activation.
Activation.__module__ = __name__


def _elu():
    f = torch.nn.functional.elu
    return Activation(
        "elu",
        f,
        lambda x: torch.where(x > 0, torch.ones_like(x), torch.exp(x)),
        dual=lambda a, b, c: _elu_apply(a, b, c, True, False)[0],
        dual_deriv=lambda a, b, c: _elu_apply(a, b, c, False, True)[0],
        duals=lambda a, b, c: tuple(_elu_apply(a, b, c, True, True)),
        mean=_elu_mean,
        kinks=(0.0,),
    )


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
    if (
        not isinstance(negative_slope, numbers.Real)
        or isinstance(negative_slope, bool)
        or not math.isfinite(negative_slope)
    ):
        raise ValueError(f"negative_slope: got {negative_slope!r}; accepted: a finite real number")
    alpha = float(negative_slope)
    dual, dual_deriv, duals, mean = _two_slope(1.0, alpha)
    name = "leaky_relu" if alpha == 0.01 else f"leaky_relu({alpha:g})"
    return Activation(
        name,
        lambda x: torch.nn.functional.leaky_relu(x, alpha),
        lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, alpha)),
        dual=dual,
        dual_deriv=dual_deriv,
        duals=duals,
        mean=mean,
        kinks=(0.0,),
    )


def _build_named():
    t = torch
    relu = Activation(
        "relu",
        t.relu,
        _step,
        dual=_relu_dual,
        dual_deriv=_relu_dual_deriv,
        mean=lambda a: _safe_sqrt(a) / math.sqrt(2 * math.pi),
        duals=_relu_duals,
        kinks=(0.0,),
    )
    erf = Activation(
        "erf",
        t.erf,
        lambda x: (2 / math.sqrt(math.pi)) * t.exp(-x * x),
        dual=_erf_dual,
        dual_deriv=_erf_dual_deriv,
        mean=lambda a: t.zeros_like(a),
        kinks=(),
    )
    identity = Activation(
        "identity",
        lambda x: x,
        t.ones_like,
        dual=lambda a, b, c: c,
        dual_deriv=lambda a, b, c: t.ones_like(c),
        mean=lambda a: t.zeros_like(a),
        kinks=(),
    )
    a_dual, a_deriv, a_duals, a_mean = _two_slope(1.0, -1.0)
    absolute = Activation(
        "abs",
        t.abs,
        t.sign,
        dual=a_dual,
        dual_deriv=a_deriv,
        duals=a_duals,
        mean=a_mean,
        kinks=(0.0,),
    )
    step = Activation(
        "step",
        _step,
        t.zeros_like,
        dual=_step_dual,
        dual_deriv=lambda a, b, c: t.zeros_like(c),
        duals=lambda a, b, c: (_step_dual(a, b, c), t.zeros_like(c)),
        mean=lambda a: t.full_like(a, 0.5),
        kinks=(0.0,),
    )

    def sig_d(x):
        s = t.sigmoid(x)
        return s * (1 - s)

    def gelu_d(x):
        return 0.5 * (1 + t.erf(x / math.sqrt(2))) + x * t.exp(-0.5 * x * x) / math.sqrt(
            2 * math.pi
        )

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
_ALIASES = {
    "linear": "identity",
    "id": "identity",
    "swish": "silu",
    "heaviside": "step",
    "leakyrelu": "leaky_relu",
}


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
        raise ValueError(
            f"kinks: got {kinks!r} with activation {spec!r}; accepted: kinks only "
            "with a torch callable (a name or an Activation carries its own kinks)"
        )
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        key = _ALIASES.get(spec.lower(), spec.lower())
        if key not in ACTIVATIONS:
            raise ValueError(
                f"activation: unknown name {spec!r}; accepted names are "
                f"{sorted(ACTIVATIONS) + sorted(_ALIASES)}, an object from "
                "nk.normalized(...) / nk.scaled(...), or a torch callable"
            )
        return ACTIVATIONS[key]
    if callable(spec):
        probe = torch.linspace(-2.0, 2.0, 5, dtype=torch.float64)
        try:
            out = spec(probe)
        except Exception as err:  # noqa: BLE001 - report what the callable did
            raise ValueError(
                f"activation: the callable {spec!r} failed on a float64 torch tensor "
                f"({err}); it must be an elementwise torch function"
            ) from err
        if not isinstance(out, torch.Tensor) or out.shape != probe.shape:
            raise ValueError(
                f"activation: the callable {spec!r} must return a torch tensor of the "
                f"input's shape, got {type(out).__name__} {getattr(out, 'shape', '')}"
            )
        return _checked_callable(
            spec, Activation(getattr(spec, "__name__", "callable"), spec, kinks=kinks)
        )
    raise ValueError(
        f"activation: got {spec!r} of type {type(spec).__name__}; accepted: a name "
        f"({', '.join(sorted(ACTIVATIONS))}), an Activation, or a torch callable"
    )


# Where a callable activation must be finite with a finite derivative: the Gaussian quadratures
# sample |z| up to ~40 standard deviations of the layer's variance, so a function undefined on part
# of R (torch.log, torch.sqrt) gives NaN kernels; refused here, before any work.
_PROBE = torch.cat(
    [
        torch.linspace(-40.0, 40.0, 81, dtype=torch.float64),
        torch.tensor([-1e-3, 1e-3, 0.5, -0.5], dtype=torch.float64),
    ]
)


def _checked_callable(spec, act):
    """act, after checking that spec and its derivative are finite on the probe points of R."""
    name = getattr(spec, "__name__", repr(spec))
    out = spec(_PROBE)
    bad = ~torch.isfinite(out)
    if bad.any():
        z = float(_PROBE[bad][0])
        raise ValueError(
            f"activation: {name} is not finite at z = {z:g} ({float(out[bad][0])}); "
            "accepted: a function finite on all of R (the Gaussian expectations "
            "integrate over every real z)"
        )
    try:
        d = act.deriv(_PROBE)
    except Exception as err:  # noqa: BLE001 - report what autograd said
        raise ValueError(
            f"activation: could not differentiate {name} ({type(err).__name__}: "
            f"{err}); accepted: a torch function autograd can differentiate, or an "
            "Activation with its derivative"
        ) from err
    if not isinstance(d, torch.Tensor) or d.shape != _PROBE.shape or not torch.isfinite(d).all():
        raise ValueError(
            f"activation: the derivative of {name} is not a finite tensor on R; "
            "accepted: a function with a finite (a.e.) derivative"
        )
    return act


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
        raise ValueError(
            f"activation: {act.name} has variance {var:.3g} under N(0, 1); accepted: "
            "a non-constant function with finite variance (a constant cannot be "
            "normalised)"
        )
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
    from ._checks import check_real

    factor = check_real(factor, "factor")
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
        raise ValueError(
            f"activation: {act.name} has E sigma(z)^2 = {m2:.3g}; accepted: a "
            "function that is not zero almost everywhere"
        )
    return act.affine(1.0 / math.sqrt(m2), 0.0, name=f"standardized({act.name})")
