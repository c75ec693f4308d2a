"""Pictures of notebook 02 (the NTK limit, numbers from ntklib.limits): the kernel on the circle."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ..stats import to_numpy
from .style import COLORS

__all__ = ["plot_ntk_on_circle"]


def plot_ntk_on_circle(gamma, theory, snapshots: dict, *, ax=None, t_label="trained"):
    """Jacot et al. 2018, Fig. 1: Theta(x0, x(gamma)) on the unit circle.

    Args:
        gamma: (A,) angles.  theory: (A,) the limit kernel Theta_inf(x0, x(gamma)).
        snapshots: {label: (K0, KT)} with K0, KT of shape (seeds, A) - thin solid lines at t = 0, dashed
            after training, one colour per label.
        ax: axis (a new 5.2 x 3.4 figure when None).  t_label: legend text of the trained curves.
    Returns:
        the matplotlib Figure.
    Example:
        >>> X, g = nk.data.circle(16)
        >>> s = nk.limits.ntk_training_snapshots(X[:1], X[::4], X[::4, 0], width=64, seeds=2, depth=3, lr=0.5,
        ...                                      steps=5, Y_eval=X)
        >>> fig = nk.plotting.limits.plot_ntk_on_circle(g, nk.ntk(X[:1], X, depth=3)[0],
        ...                                             {"width 64": (s["K0"][:, 0], s["KT"][:, 0])})
        >>> len(fig.axes[0].lines)                       # 2 seeds x (t = 0, trained) and the limit
        5
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.4))
    g = to_numpy(gamma)
    for i, (label, (K0, KT)) in enumerate(snapshots.items()):
        col = COLORS[i % len(COLORS)]
        for s, (k0, kt) in enumerate(zip(to_numpy(K0), to_numpy(KT))):
            ax.plot(g, k0, color=col, lw=0.8, alpha=0.7, label=f"{label}, t = 0" if s == 0 else None)
            ax.plot(g, kt, color=col, lw=0.8, ls="--", alpha=0.7, label=f"{label}, {t_label}" if s == 0 else None)
    ax.plot(g, to_numpy(theory), color="k", lw=2.2, label=r"$\Theta_\infty$")
    ax.set_xlabel(r"$\gamma$")
    ax.set_ylabel(r"$\Theta(x_0, x(\gamma))$")
    ax.legend(loc="upper left", fontsize=7)
    return ax.figure
