"""Pictures of notebook 01 (the network at initialisation is a Gaussian process): normal QQ plots
and the five panels of 01_gaussian_outputs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..stats import to_numpy

__all__ = ["plot_qq", "plot_gaussian_outputs"]


def plot_qq(samples, *, ax=None, label=None, color=None):
    """Normal QQ plot of standardised samples against N(0, 1) quantiles, with the diagonal.

    The i-th smallest of n samples is drawn against the N(0, 1) quantile Phi^{-1}((i - 1/2) / n): a
    Gaussian sample lies on the diagonal.

    Args:
        samples: values (any shape; flattened), already standardised.  ax: axis (new figure when
            None).
        label, color: of the points.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.gaussian.plot_qq(
        ...     torch.randn(200, generator=torch.Generator().manual_seed(0)))
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


def plot_gaussian_outputs(standardised, d2, C, Sigma, *, title=None):
    """Notebook 01's five panels (figure 01_gaussian_outputs), laid out so that no text collides
    (constrained layout: the title above every panel, legends inside their own axes, every axis
    labelled): the histogram of f(x0)/sqrt(Sigma(x0, x0)) against N(0, 1), its QQ plot, the
    Mahalanobis distances d^2 = f(X)^T Sigma^-1 f(X) against chi^2_N, and the empirical covariance
    beside the analytic Sigma^(L) on one colour scale.

    Args:
        standardised: (S,) or (S, N) outputs divided by sqrt(Sigma(x, x)); column 0 is drawn.
        d2: (S,) Mahalanobis distances over the N inputs.  C, Sigma: (N, N) empirical and analytic
            covariances.  title: the figure's title (None: none).
    Returns:
        the matplotlib Figure.
    Example:
        >>> z = torch.randn(400, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> I = torch.eye(3, dtype=torch.float64)
        >>> fig = nk.plotting.gaussian.plot_gaussian_outputs(z, (z**2).sum(1), I, I)
        >>> [ax.get_ylabel() for ax in fig.axes[:3]]
        ['density', 'sample quantile', 'density']
    """
    from scipy import stats

    from .common import plot_matrices

    z = to_numpy(standardised)
    z = z[:, 0] if z.ndim == 2 else z
    d2, C, Sigma = to_numpy(d2).ravel(), to_numpy(C), to_numpy(Sigma)
    n = Sigma.shape[0]
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.3), layout="constrained")
    grid = np.linspace(-4, 4, 200)
    axes[0].hist(z, bins=50, density=True, alpha=0.6, label="random networks")
    axes[0].plot(grid, stats.norm.pdf(grid), "k", lw=1.5, label="N(0, 1)")
    axes[0].set_xlabel(r"$f(x_0)/\sqrt{\Sigma^{(L)}(x_0, x_0)}$")
    axes[0].set_ylabel("density")
    axes[0].set_ylim(0, 1.35 * stats.norm.pdf(0))  # head room for the legend
    axes[0].legend(loc="upper left", fontsize=7)
    plot_qq(z, ax=axes[1])
    axes[1].set_title("QQ plot, input $x_0$")
    grid2 = np.linspace(0, np.quantile(d2, 0.999), 200)
    axes[2].hist(d2, bins=60, density=True, alpha=0.6, label="random networks")
    axes[2].plot(grid2, stats.chi2(n).pdf(grid2), "k", lw=1.5, label=rf"$\chi^2_{{{n}}}$")
    axes[2].set_xlabel(r"$d^2 = f(X)^\top\Sigma^{-1}f(X)$, all inputs")
    axes[2].set_ylabel("density")
    axes[2].legend(fontsize=7, loc="upper right")
    plot_matrices({"empirical covariance": C, r"analytic $\Sigma^{(L)}$": Sigma}, axes=axes[3:])
    if title:
        fig.suptitle(title)
    return fig
