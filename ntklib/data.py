"""Small, deterministic input sets used across the notebooks (no downloads)."""
from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import check_positive_int

__all__ = ["circle", "sphere", "digits"]


def circle(n: int, *, radius: float = 1.0, offset: float = 0.0, dtype=torch.float64):
    """n points x = radius (cos g, sin g), g = offset + 2 pi k / n; returns (X of shape (n, 2), g)."""
    n = check_positive_int(n, "n")
    g = offset + 2 * math.pi * torch.arange(n, dtype=dtype) / n
    return radius * torch.stack([torch.cos(g), torch.sin(g)], 1), g


def sphere(n: int, dim: int, *, seed: int = 0, dtype=torch.float64):
    """n points drawn uniformly on the sphere ||x||^2 = dim in R^dim (the scaling of Jacot et al. 2019b)."""
    n, dim = check_positive_int(n, "n"), check_positive_int(dim, "dim")
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, dim, generator=g, dtype=dtype)
    return X / X.norm(dim=1, keepdim=True) * math.sqrt(dim)


def digits(n: int | None = None, *, seed: int = 0, standardise: bool = True):
    """The 8x8 digits of scikit-learn (1797 real images, shipped inside the package, no download).

    Returns (X, labels): X of shape (n, 64) float64, each image centred and scaled to ||x||^2 = 64 when
    `standardise` (the sphere scaling used by the kernels); a random subset of n images when n is given.
    """
    from sklearn.datasets import load_digits  # optional dependency (the [dev] extra)

    d = load_digits()
    X, y = d.data.astype(np.float64), d.target
    if n is not None:
        idx = np.random.default_rng(seed).choice(len(X), size=check_positive_int(n, "n"), replace=False)
        X, y = X[np.sort(idx)], y[np.sort(idx)]
    X = torch.as_tensor(X)
    if standardise:
        X = X - X.mean(1, keepdim=True)
        X = X / X.norm(dim=1, keepdim=True) * math.sqrt(X.shape[1])
    return X, torch.as_tensor(y)
