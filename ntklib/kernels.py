"""Infinite-width NNGP and NTK kernels of fully connected networks (CONVENTIONS.md §1).

Network, NTK parametrisation, parameters N(0, 1), balance beta in [0, 1]:
    z^(l+1)(x) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l)(x) + beta b^(l),   a^(l+1) = sigma(z^(l+1))
Kernels (Jacot, Gabriel, Hongler 2018, Prop. 1 and Thm. 1), (u, v) ~ N(0, Sigma^(l) on {x, y}):
    Sigma^(1)(x, y)      = (1 - beta^2) x.y / n_0 + beta^2
    Sigma^(l+1)(x, y)    = (1 - beta^2) E[sigma(u) sigma(v)] + beta^2
    SigmaDot^(l+1)(x, y) = (1 - beta^2) E[sigma'(u) sigma'(v)]
    Theta^(1) = Sigma^(1),   Theta^(l+1) = Theta^(l) SigmaDot^(l+1) + Sigma^(l+1)
The slides print Sigma^(1) without the 1/n_0 (an erratum; notebook 02 shows it numerically).

parametrization="jacot2018" is the network of Jacot, Gabriel, Hongler 2018 (§2),
z^(l+1) = W^(l) a^(l)/sqrt(n_l) + beta b^(l): every (1 - beta^2) above becomes 1 (CONVENTIONS.md
§1.5 gives the exact rescaling between the two).
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import torch

from . import _fused
from ._checks import as_input_pair, check_beta, check_depth, check_dtype, check_input_scale
from .activations import get_activation
from .networks import check_parametrization

__all__ = ["nngp", "ntk", "kernel_layers", "r_value", "edge_beta", "KernelLayers"]


@dataclass
class KernelLayers:
    """Every layer's kernels of an FC network (returned by `kernel_layers`); 1-based layer numbers.

    Theta^(L) = sum_l Sigma^(l) SigmaDot^(l+1) ... SigmaDot^(L), so each layer's share of the NTK is
    Sigma(l) * SigmaDot(l+1) * ... * SigmaDot(L) (elementwise products).

    Args:
        sigma: list, sigma[l-1] = Sigma^(l) for l = 1..depth.
        sigma_dot: list, sigma_dot[l-1] = SigmaDot^(l) for l = 2..depth (sigma_dot[0] is None).
        theta: list, theta[l-1] = Theta^(l) for l = 1..depth.
    Example:
        >>> k = nk.kernel_layers([[1.0, 0.0]], depth=2, beta=0.1)
        >>> float(k.Theta(2) - (k.Sigma(1) * k.SigmaDot(2) + k.Sigma(2)))
        0.0
    """

    sigma: list
    sigma_dot: list
    theta: list

    def Sigma(self, l):
        return self.sigma[l - 1]

    def SigmaDot(self, l):
        if l < 2:
            raise ValueError(f"l: got {l}; SigmaDot^(l) exists for l = 2..{len(self.sigma)}")
        return self.sigma_dot[l - 1]

    def Theta(self, l):
        return self.theta[l - 1]


def _weights(beta, parametrization):
    """(w2, b2): the weights' and the biases' shares of every Sigma, (1 - beta^2, beta^2)
    ("balanced") or (1, beta^2) ("jacot2018")."""
    return (1.0 - beta * beta if parametrization == "balanced" else 1.0), beta * beta


def _recursion(
    X, Y, depth, activation, beta, *, want_theta=True, keep=False, parametrization="balanced"
):
    """Run the layer recursion; returns (Sigma^(L), Theta^(L) or None, KernelLayers or None)."""
    act = get_activation(activation)
    w2, b2 = _weights(beta, parametrization)
    n0 = X.shape[1]
    qx = w2 * (X * X).sum(1) / n0 + b2  # Sigma^(l)(x, x), shape (N,)
    qy = qx if Y is None else w2 * (Y * Y).sum(1) / n0 + b2
    S = w2 * (X @ (X if Y is None else Y).T) / n0 + b2  # Sigma^(1)(x, y), shape (N, M)
    if Y is None:  # exact symmetry and diagonal (see _tiled)
        S = _symmetrised(S)
        S.diagonal().copy_(qx)
    T = S if want_theta else None
    layers = KernelLayers([S], [None], [T]) if keep else None
    for _ in range(depth - 1):
        a, b = qx[:, None], qy[None, :]
        if want_theta:
            Sd = w2 * act.dual_deriv(a, b, S)
        S_next = w2 * act.dual(a, b, S) + b2
        qx_next = w2 * act.dual(qx, qx, qx) + b2
        qy = qx_next if Y is None else w2 * act.dual(qy, qy, qy) + b2
        qx, S = qx_next, S_next
        if Y is None:
            S.diagonal().copy_(qx)
        if want_theta:
            T = T * Sd + S
        if keep:
            layers.sigma.append(S)
            layers.sigma_dot.append(Sd)
            layers.theta.append(T)
    return S, T, layers


def _symmetrised(A):
    """(A + A^T)/2, exactly symmetric: IEEE addition is commutative, so entry (i, j) and (j, i) are
    the same sum.  A BLAS product X X^T need not be (MKL's AVX-512 kernels differ by an ulp across
    the diagonal), and arccos near 1 would turn that ulp into ~1e-8."""
    return (A + A.T).mul_(0.5)


# Tile edge of the blocked evaluation: all layers of one tile are computed while it sits in cache,
# so memory traffic is one pass over the output and peak memory is the output plus a few tiles.
# TILE is the generic path's; the closed-form families (_fused) choose theirs by the scratch bytes
# (_fused.tile_for, measured there).
TILE = 256


def _diagonals(X, depth, act, w2, b2):
    """Sigma^(l)(x, x) for l = 1..depth - 1 (the variances each layer's recursion needs), shape
    (depth - 1, N)."""
    q = w2 * (X * X).sum(1) / X.shape[1] + b2
    out = [q]
    for _ in range(depth - 2):
        q = w2 * act.dual(q, q, q) + b2
        out.append(q)
    return out


def _tiled(
    X, Y, depth, activation, beta, want_theta, tile=None, fused=True, parametrization="balanced"
):
    """Sigma^(L) or Theta^(L) on (X, Y), tile by tile, all layers per tile; symmetric tiles once
    when Y is None.  Activations of the relu and erf families (recognised by _fused.family) take
    the fused tile kernels of _fused (fused=False forces this generic code, the tests'
    reference)."""
    act = get_activation(activation)
    w2, b2 = _weights(beta, parametrization)
    sym = Y is None
    fam = _fused.family(act) if fused and depth > 1 and w2 > 0.0 else None
    if fam is not None:  # relu / erf families: the same recursion in fewer passes
        qx = _diagonals(X, depth + 1, act, w2, b2)
        qy = qx if sym else _diagonals(Y, depth + 1, act, w2, b2)
        return _fused.fused_tiled(
            fam, X, Y, depth, qx, qy, w2, b2, want_theta, tile or _fused.tile_for(X)
        )
    tile = tile or TILE
    Yv = X if sym else Y
    n0 = X.shape[1]
    qx = _diagonals(X, depth, act, w2, b2) if depth > 1 else []
    qy = qx if sym else (_diagonals(Y, depth, act, w2, b2) if depth > 1 else [])
    N, M = X.shape[0], Yv.shape[0]
    out = torch.empty(N, M, dtype=X.dtype, device=X.device)
    for i0 in range(0, N, tile):
        i1 = min(i0 + tile, N)
        for j0 in range(i0 if sym else 0, M, tile):
            j1 = min(j0 + tile, M)
            diag = sym and j0 == i0  # pin x = y entries to the exact variances (arccos near 1
            S = (X[i0:i1] @ Yv[j0:j1].T).mul_(w2 / n0).add_(b2)  # turns an ulp into ~1e-8)
            if diag:
                S = _symmetrised(S)
                S.diagonal().copy_(
                    qx[0][i0:i1] if depth > 1 else (X[i0:i1] ** 2).sum(1) * (w2 / n0) + b2
                )
            T = S.clone() if want_theta else None
            for l in range(depth - 1):
                a, b = qx[l][i0:i1, None], qy[l][None, j0:j1]
                if want_theta:
                    K, Kd = act.duals(a, b, S)
                    S = K.mul_(w2).add_(b2)
                    if diag and l + 1 < depth - 1:
                        S.diagonal().copy_(qx[l + 1][i0:i1])
                    T.mul_(Kd.mul_(w2)).add_(S)
                else:
                    S = act.dual(a, b, S).mul_(w2).add_(b2)
                    if diag and l + 1 < depth - 1:
                        S.diagonal().copy_(qx[l + 1][i0:i1])
            block = T if want_theta else S
            if diag:
                block = _symmetrised(block)
            out[i0:i1, j0:j1] = block
            if sym and j0 != i0:
                out[j0:j1, i0:i1] = block.T
    return out


def _prepare(X, Y, depth, beta, dtype, device):
    """Validated (X, Y, beta, depth): everything refused before any work (see ntklib._checks)."""
    depth = check_depth(depth)
    beta = check_beta(beta)
    check_dtype(dtype)
    X, Y = as_input_pair(X, Y, dtype=dtype, device=device)
    check_input_scale(X, "X")
    if Y is not None:
        check_input_scale(Y, "Y")
    return X, Y, beta, depth


def nngp(
    X,
    Y=None,
    *,
    depth,
    activation="relu",
    beta=0.1,
    dtype=torch.float64,
    device=None,
    parametrization="balanced",
):
    """Infinite-width NNGP kernel Sigma^(depth)(X, Y): the covariance of the outputs at
    initialisation.

    Network (NTK parametrisation, CONVENTIONS.md §1):
        z^(l+1) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l) + beta b^(l),  W, b ~ N(0, 1)
    Recursion: Sigma^(1) = (1 - beta^2) x.y/n_0 + beta^2;
               Sigma^(l+1) = (1 - beta^2) E[sigma(u) sigma(v)] + beta^2
    (Neal 1996; Lee et al. 2018; Jacot, Gabriel, Hongler 2018, Prop. 1).

    Args:
        X: inputs, shape (N, n_0), numpy or torch.  Y: shape (M, n_0); None means X.
        depth: number of weight layers L >= 1 (depth=1 is the linear model).
        activation: a name ("relu", "erf", "tanh", ...), nk.normalized(...), or a torch callable.
        beta: weight/bias balance in [0, 1].
        dtype, device: of the computation and the result (default float64, the inputs' device).
        parametrization: "balanced" (default, the weights carry sqrt(1 - beta^2): the slides and
            nk.FCNet's default) or "jacot2018" (z = W a/sqrt(n) + beta b, Jacot et al. 2018 §2).
    Returns:
        tensor of shape (N, M).
    Example:
        >>> nk.nngp([[1.0, 0.0], [0.0, 1.0]], depth=1, beta=0.0)
        tensor([[0.5000, 0.0000],
                [0.0000, 0.5000]], dtype=torch.float64)
    """
    X, Y, beta, depth = _prepare(X, Y, depth, beta, dtype, device)
    parametrization = check_parametrization(parametrization)
    return _tiled(X, Y, depth, activation, beta, want_theta=False, parametrization=parametrization)


def ntk(
    X,
    Y=None,
    *,
    depth,
    activation="relu",
    beta=0.1,
    dtype=torch.float64,
    device=None,
    parametrization="balanced",
):
    """Infinite-width neural tangent kernel Theta^(depth)(X, Y) of a fully connected network.

    Network (NTK parametrisation, CONVENTIONS.md §1):
        z^(l+1) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l) + beta b^(l),  W, b ~ N(0, 1)
    Recursion: Theta^(1) = Sigma^(1);  Theta^(l+1) = Theta^(l) SigmaDot^(l+1) + Sigma^(l+1),
    i.e. Theta^(L) = sum_l Sigma^(l) prod_{k > l} SigmaDot^(k)
    (Jacot, Gabriel, Hongler 2018, Thm. 1).

    Args:
        X: inputs, shape (N, n_0).  Y: inputs, shape (M, n_0); None means X.
        depth: number of weight layers L >= 1 (depth=1 is the linear model).
        activation: a name ("relu", "erf", ...), nk.normalized(...), or any torch callable.
        beta: weight/bias balance in [0, 1].
        dtype, device: of the computation and the result (default float64, the inputs' device).
        parametrization: "balanced" (default, the weights carry sqrt(1 - beta^2): the slides and
            nk.FCNet's default) or "jacot2018" (z = W a/sqrt(n) + beta b, Jacot et al. 2018 §2).
    Returns:
        tensor of shape (N, M).
    Example:
        >>> nk.ntk([[1.0, 0.0]], depth=2, activation="erf", beta=0.1).shape
        torch.Size([1, 1])
    """
    X, Y, beta, depth = _prepare(X, Y, depth, beta, dtype, device)
    parametrization = check_parametrization(parametrization)
    return _tiled(X, Y, depth, activation, beta, want_theta=True, parametrization=parametrization)


def kernel_layers(
    X,
    Y=None,
    *,
    depth,
    activation="relu",
    beta=0.1,
    dtype=torch.float64,
    device=None,
    parametrization="balanced",
):
    """Sigma^(l), SigmaDot^(l) and Theta^(l) for every layer l = 1..depth, as a `KernelLayers`.

    The recursions of `nngp` and `ntk` (NTK parametrisation, CONVENTIONS.md §1), kept layer by
    layer:
        Sigma^(1) = (1 - beta^2) x.y / n_0 + beta^2,
        Sigma^(l+1) = (1 - beta^2) E[sigma(u) sigma(v)] + beta^2,
        SigmaDot^(l+1) = (1 - beta^2) E[sigma'(u) sigma'(v)],   (u, v) ~ N(0, Sigma^(l) on {x, y}),
        Theta^(1) = Sigma^(1),   Theta^(l+1) = Theta^(l) SigmaDot^(l+1) + Sigma^(l+1).

    Args:
        X, Y, depth, activation, beta, dtype, device, parametrization: as in `ntk`.
    Returns:
        KernelLayers: `.Sigma(l)`, `.SigmaDot(l)` (l >= 2) and `.Theta(l)`, 1-based, each of shape
        (N, M).
    Example:
        >>> k = nk.kernel_layers([[1.0, 0.0]], depth=3); k.Theta(3).shape
        torch.Size([1, 1])
        >>> torch.allclose(k.Theta(3), nk.ntk([[1.0, 0.0]], depth=3))
        True
    """
    X, Y, beta, depth = _prepare(X, Y, depth, beta, dtype, device)
    parametrization = check_parametrization(parametrization)
    return _recursion(X, Y, depth, activation, beta, keep=True, parametrization=parametrization)[2]


def r_value(activation, beta) -> float:
    """The characteristic value r(sigma, beta) = (1 - beta^2) E_{z ~ N(0,1)}[sigma'(z)^2].

    For a standardised sigma (E sigma(z)^2 = 1) and inputs with ||x||^2 = n_0, r < 1 is the FREEZE
    (Theta(x, y)/Theta(x, x) -> 1), r > 1 the CHAOS (-> 0 for x != +-y), and
    Theta^(L)(x, x) = (1 - r^L)/(1 - r) (Jacot, Gabriel, Hongler 2019b, Thm. 3).

    Args:
        activation: a name, nk.normalized(...), nk.scaled(...), or a torch callable.
        beta: weight/bias balance in [0, 1].
    Returns:
        float.
    Example:
        >>> round(nk.r_value(nk.scaled("relu", 2 ** 0.5), 0.1), 12)   # the edge: 1 - beta^2
        0.99
    """
    beta = check_beta(beta)
    return (1.0 - beta * beta) * get_activation(activation).moments()[2]


def edge_beta(activation) -> float:
    """The balance beta at which r(sigma, beta) = (1 - beta^2) E sigma'(z)^2 = 1:
    sqrt(1 - 1/E sigma'(z)^2).

    For a normalised sigma (E sigma'^2 > 1 by the Gaussian Poincare inequality) beta < edge_beta is
    the chaos and beta > edge_beta the freeze.  When E sigma'^2 < 1, r < 1 for every beta (always
    frozen) and there is no edge: nan is returned.  The identity (E sigma'^2 = 1) has its edge at
    beta = 0.

    Args:
        activation: a name, an Activation (e.g. nk.normalized("tanh")), or a torch callable.
    Returns:
        float in [0, 1), or nan.
    Example:
        >>> (round(nk.edge_beta(nk.scaled("relu", 2.0)), 6),  # E s'^2 = 2
        ...  nk.edge_beta("erf"))                              # 4/(pi sqrt 5) < 1
        (0.707107, nan)
    """
    d2 = get_activation(activation).moments()[2]
    if d2 < 1.0 - 1e-12:
        return float("nan")
    return math.sqrt(max(0.0, 1.0 - 1.0 / d2))
