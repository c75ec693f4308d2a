"""Pictures of notebook 01 (the network at initialisation is a Gaussian process): normal QQ plots."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..stats import to_numpy

__all__ = ["plot_qq"]


def plot_qq(samples, *, ax=None, label=None, color=None):
    """Normal QQ plot of standardised samples against N(0, 1) quantiles, with the diagonal.

    The i-th smallest of n samples is drawn against the N(0, 1) quantile Phi^{-1}((i - 1/2) / n): a
    Gaussian sample lies on the diagonal.

    Args:
        samples: values (any shape; flattened), already standardised.  ax: axis (new figure when None).
        label, color: of the points.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.gaussian.plot_qq(torch.randn(200, generator=torch.Generator().manual_seed(0)))
        >>> fig.axes[0].get_xlabel()
        'N(0, 1) quantile'
    """
    from scipy import stats

    if ax is None:
        _, ax = plt.subplots(figsize=(3.4, 3.2))
    s = np.sort(to_numpy(samples).ravel())
    q = stats.norm.ppf((np.arange(1, s.size + 1) - 0.5) / s.size)
    ax.plot(q, s, ".", ms=3, label=label, color=color)
    lim = max(abs(q).max(), abs(s).max())
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=1)
    ax.set_xlabel("N(0, 1) quantile")
    ax.set_ylabel("sample quantile")
    return ax.figure
