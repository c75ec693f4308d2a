"""Small statistics used by the checks: log-log slopes, relative deviations, Gaussianity."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["loglog_slope", "relative_error", "to_numpy"]


def to_numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def loglog_slope(x, y):
    """Least-squares slope and intercept of log(y) against log(x): y ~ exp(intercept) x^slope.

    Returns (slope, intercept).  x and y are 1-D and positive (y may be a mean over seeds).
    """
    x, y = to_numpy(x).astype(float).ravel(), to_numpy(y).astype(float).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"x, y: need two 1-D arrays of equal length >= 2, got {x.shape} and {y.shape}")
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("x, y: a log-log fit needs positive values")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


def relative_error(A, B):
    """Relative Frobenius deviation ||A - B||_F / ||B||_F (B the reference)."""
    A, B = torch.as_tensor(A), torch.as_tensor(B)
    return float(torch.linalg.norm(A - B) / torch.linalg.norm(B))
