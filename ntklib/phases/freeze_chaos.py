"""Freeze and chaos (notebook 04): families of nonlinearities, the phase diagram, Gram ratios and
the theorems' bounds, their consequences for conditioning and training speed, and the E[sigma] = 1
erratum.

Conventions of CONVENTIONS.md §1.  For inputs on the sphere ||x||^2 = n_0 and a *standardised*
sigma, E_{z ~ N(0,1)}[sigma(z)^2] = 1 (the slides write E[sigma(z)] = 1: an erratum, see
`mean_one`), Sigma^(l)(x, x) = 1 at every layer, SigmaDot^(l)(x, x) = r and
(Jacot, Gabriel, Hongler 2019b, Thm. 3)

    r = r(sigma, beta) = (1 - beta^2) E[sigma'(z)^2]
    Theta^(L)(x, x) = sum_{l=1}^{L} r^(L - l) = (1 - r^L) / (1 - r)
    FREEZE (r < 1):  1 >= Theta(x, y)/Theta(x, x) >= 1 - C L r^L     (twice differentiable sigma)
    CHAOS  (r > 1):  Theta(x, y)/Theta(x, x) -> 0 for x != +-y
    EDGE:  sqrt(2) relu has r = 1 - beta^2.

Everything here returns numbers (numpy arrays, floats, dicts); the pictures are in
ntklib.plotting.phases.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np
import torch

from .._checks import as_inputs, check_beta, check_depth
from ..activations import Activation, get_activation, normalized, scaled
from ..activations import standardized  # noqa: F401 - used by resolve_activation's wrappers
from ..kernels import edge_beta, kernel_layers, r_value


__all__ = [
    # nonlinearities and the phase diagram
    "mean_one",
    "input_scaled",
    "resolve_activation",
    "phase_of",
    "phase_diagram",
    "gain_family_diagram",
    # Gram matrices and the theorems
    "gram_ratio",
    "ntk_by_depth",
    "theta_diagonal_formula",
    "diagonal_identity_error",
    "freeze_bound",
    "resolvable_depth",
    "chaos_decay",
]


# ---- nonlinearities ------------------------------------------------------------------------------


def mean_one(activation) -> Activation:
    """sigma / E sigma(z): the slides' hypothesis E[sigma(z)] = 1 taken literally (the erratum).

    By Jensen E sigma^2 >= (E sigma)^2 = 1, with equality only for a constant, so Sigma(x, x) grows
    past 1 at the first nonlinearity and drifts layer by layer.  Odd functions (tanh, erf) have
    E sigma = 0 and cannot meet the hypothesis at all.

    Args:
        activation: a name, an Activation or a callable with E sigma(z) != 0 (relu, gelu,
            softplus, ...).
    Returns:
        Activation named "mean_one(NAME)", closed forms kept.
    Example:
        >>> # E sigma = 1, E sigma^2 = pi
        >>> [round(m, 6) for m in nk.phases.mean_one("relu").moments()[:2]]
        [1.0, 3.141593]
    """
    act = get_activation(activation)
    mu = act.moments()[0]
    if abs(mu) < 1e-12:
        raise ValueError(
            f"activation: {act.name} has E sigma(z) = {mu:.3g}; no scaling makes it 1 "
            "(accepted: a function with nonzero Gaussian mean, e.g. relu, gelu, softplus)"
        )
    return act.affine(1.0 / mu, 0.0, name=f"mean_one({act.name})")


def input_scaled(activation, gain: float) -> Activation:
    """z -> sigma(gain z), closed forms kept (E[s(gu) s(gv)] is the dual at covariance gain^2
    Sigma).

    normalized(input_scaled("erf", g)) runs from the identity (g -> 0, r = 1 - beta^2) to the sign
    function (g -> inf, E sigma_bar'^2 -> inf): a continuous family for the phase diagram.

    Args:
        activation: a name, an Activation or a callable.  gain: g > 0.
    Returns:
        Activation named "NAME(gz)" with fn sigma(g z), derivative g sigma'(g z) and the rescaled
        duals.
    Example:
        >>> # relu(3z) = 3 relu(z): E = 9/2
        >>> round(nk.phases.input_scaled("relu", 3.0).moments()[1], 12)
        4.5
    """
    act = get_activation(activation)
    g = float(gain)
    if not (math.isfinite(g) and g > 0):
        raise ValueError(f"gain: got {gain!r}; accepted: a positive finite number")
    g2 = g * g
    dual = dual_deriv = mean = None
    if act._dual is not None:

        def dual(a, b, c):
            return act.dual(g2 * a, g2 * b, g2 * c)

    if act._dual_deriv is not None:

        def dual_deriv(a, b, c):
            return g2 * act.dual_deriv(g2 * a, g2 * b, g2 * c)

    if act._mean is not None:

        def mean(a):
            return act.mean(g2 * a)

    return Activation(
        f"{act.name}({g:g}z)",
        lambda x: act.fn(g * x),
        lambda x: g * act.deriv(g * x),
        dual=dual,
        dual_deriv=dual_deriv,
        mean=mean,
    )


_WRAPPERS = {"normalized": normalized, "standardized": standardized, "mean_one": mean_one}


@lru_cache(maxsize=None)
def _resolve_string(spec: str) -> Activation:
    s = spec.strip()
    m = re.fullmatch(r"(\w+)\((.*)\)", s)
    if m is None:
        m2 = re.fullmatch(r"([0-9.eE+-]+|sqrt2)\s*\*\s*(.+)", s)
        if m2 is not None:
            c = math.sqrt(2.0) if m2.group(1) == "sqrt2" else float(m2.group(1))
            return scaled(_resolve_string(m2.group(2)), c)
        return get_activation(s)
    head, arg = m.group(1), m.group(2)
    if head in _WRAPPERS:
        return _WRAPPERS[head](_resolve_string(arg))
    if head in ("scaled", "input_scaled"):
        inner, _, num = arg.rpartition(",")
        fn = scaled if head == "scaled" else input_scaled
        return fn(_resolve_string(inner), float(num))
    raise ValueError(
        f"activation: cannot read {spec!r}; accepted: a name, normalized(SPEC), "
        "standardized(SPEC), mean_one(SPEC), scaled(SPEC, c), input_scaled(SPEC, g), sqrt2*SPEC"
    )


def resolve_activation(spec) -> Activation:
    """An Activation from a string such as "normalized(tanh)", "standardized(relu)", "sqrt2*relu",
    "mean_one(relu)", "scaled(erf, 1.5)", "input_scaled(erf, 2)" (so papermill parameters stay
    literals); Activations, names and callables pass through `get_activation`.  Results are cached,
    so the moments of a spec are computed once per session.

    Args:
        spec: a string as above (wrappers nest: "normalized(input_scaled(erf, 2))"), an Activation,
            a name or a callable.
    Returns:
        Activation.
    Example:
        >>> edge = nk.phases.resolve_activation("sqrt2*relu")  # E sigma'^2 = 1: r = 1 - beta^2
        >>> edge.name, round(nk.r_value(edge, 0.6), 12)
        ('1.414*relu', 0.64)
    """
    if isinstance(spec, str):
        return _resolve_string(spec)
    return get_activation(spec)


def phase_of(r: float, tol: float = 1e-9) -> str:
    """The phase of r = (1 - beta^2) E[sigma'(z)^2]: 'freeze' (r < 1), 'edge' (|r - 1| <= tol) or
    'chaos' (r > 1).

    Args:
        r: the value r(sigma, beta) (e.g. nk.r_value).  tol: half-width of the edge.
    Returns:
        'freeze', 'edge' or 'chaos'.
    Example:
        >>> [nk.phases.phase_of(r) for r in (0.5, 1.0, 2.0)]
        ['freeze', 'edge', 'chaos']
    """
    if not isinstance(r, (int, float, np.floating, np.integer)) or not math.isfinite(r):
        raise ValueError(f"r must be a finite real number (r(sigma, beta) >= 0), got {r!r}")
    if abs(r - 1.0) <= tol:
        return "edge"
    return "freeze" if r < 1.0 else "chaos"


def phase_diagram(activations, betas) -> dict:
    """r(sigma, beta) = (1 - beta^2) E[sigma'(z)^2] over a list of nonlinearities (specs for
    `resolve_activation`) and a beta grid; the edge r = 1 is at beta = sqrt(1 - 1/E sigma'^2).

    Args:
        activations: list of specs, e.g. ["sqrt2*relu", "normalized(tanh)"].  betas: (B,) values in
            [0, 1].
    Returns:
        dict: names (A,), betas (B,), r (A, B), edge (A,) the beta with r = 1 (nan: frozen for every
        beta), second_moment (A,) E sigma(z)^2 (the theorem needs 1), derivative_moment (A,)
        E sigma'^2.
    Example:
        >>> d = nk.phases.phase_diagram(["sqrt2*relu", "normalized(tanh)"], [0.0, 0.5])
        >>> d["r"].round(6).tolist()
        [[1.0, 0.75], [1.177807, 0.883355]]
    """
    acts = [resolve_activation(a) for a in activations]
    betas = np.asarray([check_beta(float(b)) for b in betas])
    d2 = np.array([a.moments()[2] for a in acts])
    return {
        "names": [a if isinstance(a, str) else resolve_activation(a).name for a in activations],
        "betas": betas,
        "r": (1.0 - betas[None, :] ** 2) * d2[:, None],
        "edge": np.array([edge_beta(a) for a in acts]),
        "second_moment": np.array([a.moments()[1] for a in acts]),
        "derivative_moment": d2,
    }


def gain_family_diagram(base, gains, betas) -> dict:
    """r = (1 - beta^2) E[sigma_g'(z)^2] of the normalised family sigma_g = normalized(base(g z))
    over gains g and betas (E sigma_g'^2 grows from 1 at g -> 0, the identity, without bound).

    Args:
        base: the nonlinearity (a name or an Activation, e.g. "erf").  gains: (G,) positive gains.
        betas: (B,) values in [0, 1].
    Returns:
        dict: base (name), gains (G,), betas (B,), r (G, B), edge (G,) the beta with r = 1 (nan
        where E sigma_g'^2 < 1), derivative_moment (G,) E sigma_g'^2.
    Example:
        >>> g = nk.phases.gain_family_diagram("erf", [0.5, 2.0], [0.0, 0.5])
        >>> g["r"].shape, g["derivative_moment"].round(4).tolist()
        ((2, 2), [1.0404, 1.7721])
    """
    gains = np.asarray(gains, dtype=float)
    betas = np.asarray([check_beta(float(b)) for b in betas])
    d2 = np.array([normalized(input_scaled(base, g)).moments()[2] for g in gains])
    edge = np.where(d2 >= 1.0, np.sqrt(np.clip(1.0 - 1.0 / d2, 0.0, None)), np.nan)
    return {
        "base": get_activation(base).name,
        "gains": gains,
        "betas": betas,
        "r": (1.0 - betas[None, :] ** 2) * d2[:, None],
        "edge": edge,
        "derivative_moment": d2,
    }


# ---- Gram matrices and the theorems --------------------------------------------------------------


def gram_ratio(theta):
    """Theta(x_i, x_j) / Theta(x_i, x_i) (the slides' normalisation): each row divided by its
    diagonal.

    Args:
        theta: (N, N) kernel matrix.
    Returns:
        float64 tensor (N, N) with ones on the diagonal.
    Example:
        >>> nk.phases.gram_ratio(torch.tensor([[2.0, 1.0], [1.0, 4.0]])).tolist()
        [[1.0, 0.5], [0.25, 1.0]]
    """
    T = torch.as_tensor(theta, dtype=torch.float64)
    return T / torch.diagonal(T)[:, None]


def ntk_by_depth(X, depths, *, activation, beta):
    """Theta^(L)(X, X) for every L in `depths` from one run of the recursion
    Theta^(l+1) = Theta^(l) SigmaDot^(l+1) + Sigma^(l+1) (nk.kernel_layers, CONVENTIONS.md §1).

    Args:
        X: inputs (N, n_0).  depths: weight-layer counts L >= 1.
        activation: a spec for `resolve_activation`.  beta: balance in [0, 1].
    Returns:
        float64 tensor (len(depths), N, N).
    Example:
        >>> X = nk.data.sphere(5, 3)
        >>> T = nk.phases.ntk_by_depth(X, [1, 3], activation="relu", beta=0.1)
        >>> tuple(T.shape), bool(torch.allclose(T[1],
        ...                                     nk.ntk(X, depth=3, activation="relu", beta=0.1)))
        ((2, 5, 5), True)
    """
    depths = [check_depth(L) for L in depths]
    k = kernel_layers(X, depth=max(depths), activation=resolve_activation(activation), beta=beta)
    return torch.stack([k.Theta(L) for L in depths])


def theta_diagonal_formula(r: float, depth: int) -> float:
    """sum_{l=1}^{L} r^(L - l) = (1 - r^L)/(1 - r)  (= L at r = 1): Theta^(L)(x, x) on the sphere
    ||x||^2 = n_0 for a standardised sigma (Jacot, Gabriel, Hongler 2019b).

    Args:
        r: r(sigma, beta).  depth: L >= 1.
    Returns:
        float.
    Example:
        >>> # 1 + r + r^2
        >>> nk.phases.theta_diagonal_formula(0.5, 3), nk.phases.theta_diagonal_formula(1.0, 3)
        (1.75, 3.0)
    """
    depth = check_depth(depth)
    if abs(1.0 - r) < 1e-6:  # the closed form loses digits near r = 1: sum the series (exact there)
        return float(math.fsum(r**k for k in range(depth)))
    return (1.0 - r**depth) / (1.0 - r)


def diagonal_identity_error(X, depths, *, activation, beta) -> np.ndarray:
    """max_x |Theta^(L)(x, x) - (1 - r^L)/(1 - r)| / ((1 - r^L)/(1 - r)) for each L in `depths`,
    with Theta from nk.kernel_layers (the recursion) and r from nk.r_value.

    Args:
        X: inputs (N, n_0), on the sphere ||x||^2 = n_0 for the identity to hold.
        depths: the L to check.  activation: a spec for `resolve_activation` (standardised for the
        identity to hold).  beta: balance in [0, 1].
    Returns:
        numpy array (len(depths),) of relative errors.
    Example:
        >>> err = nk.phases.diagonal_identity_error(nk.data.sphere(5, 3), [2, 5],
        ...                                         activation="standardized(erf)", beta=0.3)
        >>> bool(err.max() < 1e-12)
        True
    """
    act = resolve_activation(activation)
    r = r_value(act, beta)
    T = ntk_by_depth(X, depths, activation=act, beta=beta)
    out = []
    for L, TL in zip(depths, T):
        f = theta_diagonal_formula(r, L)
        out.append(float((torch.diagonal(TL) - f).abs().max()) / abs(f))
    return np.array(out)


def resolvable_depth(r: float, floor: float = 1e-11, cap: int = 400) -> int:
    """The largest L <= cap with L r^L >= floor: beyond it 1 - C L r^L is below float64 resolution
    of the ratio Theta(x, y)/Theta(x, x) (rounding ~1e-16), so the freeze bound cannot be tested
    there.

    Args:
        r: r(sigma, beta) < 1.  floor: smallest L r^L still resolved.  cap: largest depth returned.
    Returns:
        int.
    Example:
        >>> nk.phases.resolvable_depth(0.5)           # 41 * 2^-41 = 1.9e-11, 42 * 2^-42 = 9.5e-12
        41
    """
    L = 1
    while L < cap and (L + 1) * r ** (L + 1) >= floor:
        L += 1
    return L


def freeze_bound(X, depths, *, activation, beta, fit_max: int) -> dict:
    """The freeze lower bound 1 - C L r^L, with C fitted on the depths <= fit_max and tested on all.

    For each depth: min_ratio = min_ij Theta(x_i, x_j)/Theta(x_i, x_i), max_ratio (the upper bound
    1), gap = 1 - min_ratio.  C = max over depths <= fit_max of gap / (L r^L); bound = 1 - C L r^L;
    scaled_gap = gap / (L r^L) (bounded, with a limit, for twice differentiable sigma; it grows like
    r^(-L/2)/L for relu, whose derivative jumps).

    Args:
        X: inputs (N, n_0) on the sphere ||x||^2 = n_0.  depths: the L to evaluate.
        activation: a spec for `resolve_activation` (standardised).  beta: balance in [0, 1].
        fit_max: C is fitted on the depths <= fit_max only.
    Returns:
        dict: name, r, depths, min_ratio, max_ratio, gap, scaled_gap, bound (numpy arrays over
        depths), C and fit_max.
    Example:
        >>> fb = nk.phases.freeze_bound(nk.data.sphere(5, 3), [2, 3, 4, 5, 6],
        ...                             activation="standardized(erf)", beta=0.5, fit_max=3)
        >>> round(fb["r"], 6), bool((fb["min_ratio"] >= fb["bound"] - 1e-12).all())
        (0.919275, True)
    """
    act = resolve_activation(activation)
    r = r_value(act, beta)
    depths = np.array([check_depth(L) for L in depths])
    R = torch.stack([gram_ratio(T) for T in ntk_by_depth(X, depths, activation=act, beta=beta)])
    mn = R.amin(dim=(1, 2)).numpy()
    off = R - torch.diag_embed(torch.diagonal(R, dim1=1, dim2=2))  # zero the (exactly 1) diagonal
    mx = off.amax(dim=(1, 2)).numpy()
    gap = 1.0 - mn
    scale = depths * r ** depths.astype(float)
    fit = depths <= fit_max
    if not fit.any():
        raise ValueError(
            f"fit_max: got {fit_max}; accepted: at least the smallest depth {depths.min()}"
        )
    C = float((gap[fit] / scale[fit]).max())
    return {
        "name": act.name,
        "r": r,
        "depths": depths,
        "min_ratio": mn,
        "max_ratio": mx,
        "gap": gap,
        "scaled_gap": gap / scale,
        "C": C,
        "bound": 1.0 - C * scale,
        "fit_max": fit_max,
    }


def chaos_decay(X, depths, *, activation, beta, antipodal_tol: float = 1e-9) -> np.ndarray:
    """max |Theta(x_i, x_j)/Theta(x_i, x_i)| over pairs with x_i != +-x_j, for each depth: in the
    chaos (r > 1) it tends to 0 as the depth grows, and the Gram matrix to a multiple of the
    identity.

    Args:
        X: inputs (N, n_0), at least two not parallel.  depths: the L to evaluate.
        activation: a spec for `resolve_activation`.  beta: balance in [0, 1].
        antipodal_tol: pairs with |cos(x_i, x_j)| >= 1 - antipodal_tol count as x = +-y and are left
            out.
    Returns:
        numpy array (len(depths),).
    Example:
        >>> d = nk.phases.chaos_decay(nk.data.sphere(5, 3), [2, 10, 30],
        ...                           activation="normalized(relu)", beta=0.1)
        >>> [round(float(v), 3) + 0.0 for v in d]           # r = 0.99 E[relu_bar'^2] = 1.45
        [0.746, 0.069, 0.0]
    """
    X = as_inputs(X)
    U = X / X.norm(dim=1, keepdim=True)
    cos = (U @ U.T).abs()
    mask = cos < 1.0 - antipodal_tol
    if not mask.any():
        raise ValueError(
            "X: every pair of inputs is x = +-y; accepted: at least two non-parallel inputs"
        )
    T = ntk_by_depth(X, depths, activation=activation, beta=beta)
    return np.array([float(gram_ratio(TL)[mask].abs().max()) for TL in T])
