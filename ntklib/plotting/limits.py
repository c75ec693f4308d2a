"""Pictures of notebooks 01 and 02 (the infinite-width limits, numbers from ntklib.limits): the
kernel on the circle (Jacot et al. 2018, Fig. 1) and finite-width laws with their error bars."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ..stats import to_numpy
from .style import COLORS

__all__ = ["plot_ntk_on_circle", "plot_width_law"]


def plot_ntk_on_circle(
    gamma,
    theory,
    snapshots: dict,
    *,
    ax=None,
    t_label="trained",
    theory_label=None,
    others: dict | None = None,
):
    """Jacot et al. 2018, Fig. 1: Theta(x0, x(gamma)) on the unit circle.

    Args:
        gamma: (A,) angles.  theory: (A,) the limit kernel Theta_inf(x0, x(gamma)).
        snapshots: {label: (K0, KT)} with K0, KT of shape (seeds, A) - thin solid lines at t = 0,
            dashed after training, one colour per label.
        ax: axis (a new 5.2 x 3.4 figure when None).  t_label: legend text of the trained curves.
        theory_label: legend text of the limit (None: Theta_inf in mathtext).
        others: optional {label: (A,) curve}, further limits drawn dotted in grey (e.g. the kernel
            of another parametrisation).
    Returns:
        the matplotlib Figure.
    Example:
        >>> X, g = nk.data.circle(16)
        >>> s = nk.limits.ntk_training_snapshots(X[:1], X[::4], X[::4, 0], width=64, seeds=2,
        ...                                      depth=3, lr=0.5, steps=5, Y_eval=X)
        >>> fig = nk.plotting.limits.plot_ntk_on_circle(
        ...     g, nk.ntk(X[:1], X, depth=3)[0], {"width 64": (s["K0"][:, 0], s["KT"][:, 0])})
        >>> len(fig.axes[0].lines)                       # 2 seeds x (t = 0, trained) and the limit
        5
    """
    if theory_label is None:
        theory_label = r"$\Theta_\infty$"
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.4))
    g = to_numpy(gamma)
    for i, (label, (K0, KT)) in enumerate(snapshots.items()):
        col = COLORS[i % len(COLORS)]
        for s, (k0, kt) in enumerate(zip(to_numpy(K0), to_numpy(KT))):
            ax.plot(
                g, k0, color=col, lw=0.8, alpha=0.7, label=f"{label}, t = 0" if s == 0 else None
            )
            ax.plot(
                g,
                kt,
                color=col,
                lw=0.8,
                ls="--",
                alpha=0.7,
                label=f"{label}, {t_label}" if s == 0 else None,
            )
    ax.plot(g, to_numpy(theory), color="k", lw=2.2, label=theory_label)
    for label, curve in (others or {}).items():
        ax.plot(g, to_numpy(curve), color="0.45", lw=1.6, ls=":", label=label)
    ax.set_xlabel(r"$\gamma$")
    ax.set_ylabel(r"$\Theta(x_0, x(\gamma))$")
    ax.legend(loc="upper left", fontsize=7)
    return ax.figure


def plot_width_law(
    widths,
    law: dict,
    *,
    exponent=-0.5,
    axes=None,
    label="deviation",
    ylabel="relative deviation",
    title=None,
):
    """A finite-width law mean ~ C width^exponent, drawn two ways: the log-log curve with its fitted
    slope and the reference slope (left), and width^(-exponent) x mean with its error bars and their
    weighted mean (right: flat when the law holds).

    Args:
        widths: (W,) widths.  law: the dict of `nk.limits.width_law_test` (mean, se, scaled,
            scaled_se, plateau).
        exponent: the law's exponent, as given to width_law_test.
        axes: two axes (a new 9 x 3.3 figure when None).  label, ylabel, title: texts of the left
            panel.
    Returns:
        the matplotlib Figure.
    Example:
        >>> d = [[0.19, 0.21], [0.09, 0.11], [0.05, 0.06]]
        >>> law = nk.limits.width_law_test([64, 256, 1024], d)
        >>> fig = nk.plotting.limits.plot_width_law([64, 256, 1024], law)
        >>> len(fig.axes), fig.axes[1].get_xlabel()
        (2, 'width')
    """
    from .common import plot_loglog

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    w = np.asarray(to_numpy(widths), dtype=float)
    plot_loglog(
        w,
        {label: law["mean"]},
        errors={label: law["se"]},
        reference_slope=exponent,
        ax=axes[0],
        ylabel=ylabel,
        title=title,
    )
    y, ey = law["scaled"], law["scaled_se"]
    axes[1].errorbar(
        w,
        y,
        yerr=ey,
        fmt="o",
        ms=4,
        capsize=3,
        color=COLORS[0],
        label=rf"width$^{{{-exponent:g}}}$ $\times$ {label}",
    )
    axes[1].plot([w[0], w[-1]], [law["plateau"]] * 2, color="k", lw=1, label="weighted mean")
    axes[1].set_xscale("log")
    axes[1].set_ylim(0, 1.5 * (y + ey).max())
    axes[1].set_xlabel("width")
    axes[1].set_ylabel(rf"width$^{{{-exponent:g}}}$ $\times$ {label}")
    axes[1].set_title(f"flat if the law width$^{{{exponent:g}}}$ holds")
    axes[1].legend(loc="lower right")
    for ax in axes:  # the widths themselves as tick labels
        ax.set_xticks(w, [f"{v:g}" for v in w])
        ax.xaxis.set_minor_formatter(NullFormatter())
    # log y: labels at 1, 2, 5 x 10^k in plain numbers, none on the minor ticks (matplotlib labels
    # minor ticks of a short log axis as "3 x 10^-1", "4 x 10^-1", ... which overlap each other)
    axes[0].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[0].yaxis.set_minor_formatter(NullFormatter())
    return axes[0].figure
