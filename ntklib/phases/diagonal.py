"""Finite networks' Theta_hat(x, x) against the freeze-and-chaos diagonal (1 - r^L)/(1 - r).

With ||x||^2 = n_0 and E sigma(z)^2 = 1, every Sigma^(l)(x, x) = 1 and every
Sigma_dot^(l)(x, x) = r,
so Theta^(L)(x, x) = sum_{l<L} r^l = (1 - r^L)/(1 - r) (Jacot, Gabriel, Hongler 2019b, proof of
Thm. 3).  Here the left side is measured on finite FCNets (NTK parametrisation, CONVENTIONS.md §1)
and the right side is computed from nk.r_value alone, so the comparison is not the library's
recursion against its own algebra.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import as_inputs, check_depth, check_positive_int
from ..devices import resolve_device
from ..activations import normalized
from ..empirical import empirical_ntk
from ..kernels import kernel_layers, r_value
from ..networks import FCNet
from .freeze_chaos import resolve_activation, theta_diagonal_formula

__all__ = ["finite_diagonal_test", "diagonal_profile", "empirical_diagonal_profile"]


def finite_diagonal_test(
    X, activation, beta, depths, *, width, n_seeds, seed=0, device=None, norm=None
) -> dict:
    """Theta_hat^(L)(x, x), averaged over the inputs, in n_seeds FCNets per depth, against
    (1 - r^L)/(1 - r) in standard errors over the seeds.

    Args:
        X: inputs (N, n_0) with ||x||^2 = n_0.  activation: a spec for `resolve_activation`
            (standardised: E sigma^2 = 1).  beta: balance in [0, 1].  depths: list of depths L.
        width: hidden width.  n_seeds: networks per depth (seeds seed + 7 s + 1000 L).
        seed: first seed.  device: where the networks run (None: CPU).
        norm: FCNet's norm (None, or "layer": LayerNorm networks of the plain sigma, whose
            infinite-width kernel is the normalised sigma's (notebook 05): r is then that of
            nk.normalized(activation)).
    Returns:
        dict: name, r, depths (D,), formula (D,), values (S, D) the input-mean diagonal of each
        network, ratio (D,) seed-mean / formula, se (D,) its standard error, z (D,) (ratio - 1)/se.
    Example:
        >>> t = nk.phases.finite_diagonal_test(nk.data.sphere(4, 3), "standardized(relu)", 0.3, [2],
        ...                                    width=64, n_seeds=4)
        >>> t["values"].shape
        (4, 1)
    """
    X = as_inputs(X)
    act = resolve_activation(activation)
    depths = [int(L) for L in depths]
    n_seeds = check_positive_int(n_seeds, "n_seeds")
    if n_seeds < 2:
        raise ValueError(f"n_seeds must be >= 2 for a standard error, got {n_seeds}")
    device = resolve_device(device)
    r = r_value(normalized(act) if norm == "layer" else act, beta)
    formula = np.array([theta_diagonal_formula(r, L) for L in depths])
    values = np.empty((n_seeds, len(depths)))
    for j, L in enumerate(depths):
        for s in range(n_seeds):
            net = FCNet(
                X.shape[1],
                width,
                L,
                activation=act,
                beta=beta,
                seed=seed + 7 * s + 1000 * L,
                device=device,
                **({} if norm is None else {"norm": norm}),
            )
            T = empirical_ntk(net, X.to(device))
            values[s, j] = float(torch.diagonal(T).mean())
    rel = values / formula[None, :]
    ratio = rel.mean(0)
    se = rel.std(0, ddof=1) / np.sqrt(n_seeds)
    return {
        "name": act.name,
        "r": r,
        "depths": np.array(depths),
        "formula": formula,
        "values": values,
        "ratio": ratio,
        "se": se,
        "z": (ratio - 1.0) / se,
    }


# ---- the E[sigma] = 1 erratum: the diagonal drifts -----------------------------------------------


def diagonal_profile(activation, beta, depth, n0: int = 2) -> dict:
    """Sigma^(l)(x, x) and Theta^(l)(x, x), l = 1..depth, for one input with ||x||^2 = n_0
    (nk.kernel_layers), beside the standardised prediction Sigma = 1, Theta = (1 - r^l)/(1 - r).

    Args:
        activation: a spec for `resolve_activation`.  beta: balance in [0, 1].  depth: layers L.
        n0: input dimension (the input is sqrt(n0) e_1).
    Returns:
        dict: name, r, and numpy arrays (depth,) layers, sigma, theta, formula.
    Example:
        >>> [round(float(v), 9)
        ...  for v in nk.phases.diagonal_profile("sqrt2*relu", 0.1, 3)["sigma"]]  # E sigma^2 = 1
        [1.0, 1.0, 1.0]
        >>> [round(float(v), 3)
        ...  for v in nk.phases.diagonal_profile("mean_one(relu)", 0.1, 3)["sigma"]]  # the erratum
        [1.0, 3.12, 9.714]
    """
    act = resolve_activation(activation)
    x = torch.zeros(1, n0, dtype=torch.float64)
    x[0, 0] = math.sqrt(n0)
    k = kernel_layers(x, depth=depth, activation=act, beta=beta)
    r = r_value(act, beta)
    return {
        "name": act.name,
        "r": r,
        "layers": np.arange(1, depth + 1),
        "sigma": np.array([float(k.Sigma(l)[0, 0]) for l in range(1, depth + 1)]),
        "theta": np.array([float(k.Theta(l)[0, 0]) for l in range(1, depth + 1)]),
        "formula": np.array([theta_diagonal_formula(r, l) for l in range(1, depth + 1)]),
    }


def empirical_diagonal_profile(
    X, activation, beta, depth, *, width, n_seeds=1, seed=0, device=None
) -> np.ndarray:
    """The finite-width Sigma^(l)(x, x): mean over neurons, inputs and n_seeds networks of
    z^(l)(x)^2, l = 1..depth, in FCNets whose output layer is also `width` wide (so the last layer
    is averaged too).  One network fluctuates by ~ sqrt(2/width) per layer, compounding with depth.

    Args:
        X: inputs (N, n_0).  activation: a spec for `resolve_activation`.  beta: balance in [0, 1].
        depth: layers L.  width: width of every layer (the output layer included).
        n_seeds: networks averaged (seeds seed + 7 s).  seed: first seed.
        device: where the networks run ("cuda", "auto", ... as in `nk.resolve_device`; None: CPU);
            results come back on the CPU.
    Returns:
        numpy array (depth,).
    Example:
        >>> p = nk.phases.empirical_diagonal_profile(nk.data.sphere(5, 3), "sqrt2*relu", 0.1, 3,
        ...                                          width=256, n_seeds=2)
        >>> p.shape, bool(abs(p - 1).max() < 0.2)  # near the infinite-width Sigma^(l)(x, x) = 1
        ((3,), True)
    """
    X = as_inputs(X)
    act = resolve_activation(activation)
    acc = np.zeros(check_depth(depth))
    device = resolve_device(device)
    for s in range(check_positive_int(n_seeds, "n_seeds")):
        net = FCNet(
            X.shape[1],
            width,
            depth,
            n_out=width,
            activation=act,
            beta=beta,
            seed=seed + 7 * s,
            device=device,
        )
        with torch.no_grad():
            _, pre = net.layers(X)
        acc += np.array([float((z * z).mean()) for z in pre])
    return acc / n_seeds
