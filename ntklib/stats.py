"""Small statistics used by the checks: log-log slopes, relative deviations, Gaussianity."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["loglog_slope", "relative_error", "to_numpy"]


def to_numpy(x):
    """A torch tensor (detached, on the CPU) or any array-like as a numpy array.

    Args:
        x: a torch tensor (any device, with or without grad), a numpy array, a list or a number.
    Returns:
        numpy array (the tensor's dtype is kept; no copy where numpy allows it).
    Example:
        >>> nk.stats.to_numpy(torch.ones(2))
        array([1., 1.], dtype=float32)
    """
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def loglog_slope(x, y):
    """Least-squares slope and intercept of log(y) against log(x): y ~ exp(intercept) x^slope.

    Args:
        x, y: 1-D, positive, same length (numpy, torch or lists; y may be a mean over seeds).
    Returns:
        (slope, intercept) as floats.
    Example:
        >>> [round(v, 6) + 0.0
        ...  for v in nk.stats.loglog_slope([1, 4, 16], [1.0, 0.5, 0.25])]   # y = x^(-1/2)
        [-0.5, 0.0]
    """
    x, y = to_numpy(x).astype(float).ravel(), to_numpy(y).astype(float).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError(
            f"x, y: need two 1-D arrays of equal length >= 2, got {x.shape} and {y.shape}"
        )
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("x, y: a log-log fit needs positive values")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


def relative_error(A, B):
    """Relative Frobenius deviation ||A - B||_F / ||B||_F (B the reference).

    Args:
        A, B: arrays or tensors of the same shape (B is moved to A's device).
    Returns:
        float.
    Example:
        >>> round(nk.stats.relative_error(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 0.0])), 6)
        1.333333
    """
    A = torch.as_tensor(A)
    B = torch.as_tensor(B).to(A.device)
    return float(torch.linalg.norm(A - B) / torch.linalg.norm(B))
