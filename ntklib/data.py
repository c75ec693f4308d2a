"""Small, deterministic input sets used across the notebooks (no downloads)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import check_positive_int

__all__ = ["circle", "sphere", "digits"]


def circle(n: int, *, radius: float = 1.0, offset: float = 0.0, dtype=torch.float64):
    """n points x = radius (cos g, sin g), g = offset + 2 pi k / n, evenly spaced on a circle.

    Args:
        n: number of points.  radius: of the circle.  offset: angle of the first point.  dtype: of X
            and g.
    Returns:
        (X, g): X of shape (n, 2) and the angles g of shape (n,).
    Example:
        >>> X, g = nk.data.circle(4); X.shape, [round(float(v), 4) for v in X[1]]
        (torch.Size([4, 2]), [0.0, 1.0])
    """
    n = check_positive_int(n, "n")
    g = offset + 2 * math.pi * torch.arange(n, dtype=dtype) / n
    return radius * torch.stack([torch.cos(g), torch.sin(g)], 1), g


def sphere(n: int, dim: int, *, seed: int = 0, dtype=torch.float64):
    """n points drawn uniformly on the sphere ||x||^2 = dim in R^dim (the scaling of
    Jacot et al. 2019b).

    With ||x||^2 = n_0 every input has Sigma^(1)(x, x) = 1 - beta^2 + beta^2 = 1.

    Args:
        n: number of points.  dim: the input dimension n_0.  seed: of a private generator.  dtype:
            of X.
    Returns:
        tensor of shape (n, dim).
    Example:
        >>> X = nk.data.sphere(3, 5); X.shape, [round(float(v), 6) for v in (X ** 2).sum(1)]
        (torch.Size([3, 5]), [5.0, 5.0, 5.0])
    """
    n, dim = check_positive_int(n, "n"), check_positive_int(dim, "dim")
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, dim, generator=g, dtype=dtype)
    return X / X.norm(dim=1, keepdim=True) * math.sqrt(dim)


def digits(n: int | None = None, *, seed: int = 0, standardise: bool = True):
    """The 8x8 digits of scikit-learn (1797 real images, shipped inside the package, no download).

    Args:
        n: number of images (a random subset); None means all 1797.  seed: of the subset.
        standardise: centre each image and scale it to ||x||^2 = 64 (the sphere scaling of the
            kernels).
    Returns:
        (X, labels): X of shape (n, 64) float64 and the digit labels (n,).
    Example:
        >>> X, labels = nk.data.digits(10); X.shape, round(float((X[0] ** 2).sum()), 6)
        (torch.Size([10, 64]), 64.0)
    """
    from sklearn.datasets import load_digits  # optional dependency (the [dev] extra)

    d = load_digits()
    X, y = d.data.astype(np.float64), d.target
    if n is not None:
        idx = np.random.default_rng(seed).choice(
            len(X), size=check_positive_int(n, "n"), replace=False
        )
        X, y = X[np.sort(idx)], y[np.sort(idx)]
    X = torch.as_tensor(X)
    if standardise:
        X = X - X.mean(1, keepdim=True)
        X = X / X.norm(dim=1, keepdim=True) * math.sqrt(X.shape[1])
    return X, torch.as_tensor(y)
