"""Finite networks' Theta_hat(x, x) against the freeze-and-chaos diagonal (1 - r^L)/(1 - r).

With ||x||^2 = n_0 and E sigma(z)^2 = 1, every Sigma^(l)(x, x) = 1 and every
Sigma_dot^(l)(x, x) = r,
so Theta^(L)(x, x) = sum_{l<L} r^l = (1 - r^L)/(1 - r) (Jacot, Gabriel, Hongler 2019b, proof of
Thm. 3).  Here the left side is measured on finite FCNets (NTK parametrisation, CONVENTIONS.md §1)
and the right side is computed from nk.r_value alone, so the comparison is not the library's
recursion against its own algebra.
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import as_inputs, check_positive_int
from ..devices import resolve_device
from ..activations import normalized
from ..empirical import empirical_ntk
from ..kernels import r_value
from ..networks import FCNet
from .freeze_chaos import resolve_activation, theta_diagonal_formula


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
