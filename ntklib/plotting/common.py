"""Plot helpers shared by several notebooks: log-log sweeps with fitted slopes, plain curves,
matrices, theory against depth.  Each draws numbers computed elsewhere and returns the matplotlib
Figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..stats import loglog_slope, to_numpy
from .style import COLORS, LINESTYLES, MARKERS

__all__ = ["plot_loglog", "plot_curves", "plot_matrices", "plot_vs_depth"]


def _ax(ax, size=(4.2, 3.2)):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def _many_colors(n):
    return COLORS if n <= len(COLORS) else [plt.cm.tab20(i % 20) for i in range(n)]


def plot_loglog(
    x,
    ys: dict,
    *,
    ax=None,
    reference_slope=None,
    xlabel="width",
    ylabel="",
    title=None,
    errors: dict | None = None,
):
    """Log-log curves {label: y} against x with their fitted slopes in the legend, and optionally a
    dashed reference line x^reference_slope through the first curve's first point.

    The slope is the least-squares fit of log y against log x (`nk.stats.loglog_slope`).

    Args:
        x: (W,) positive values (e.g. widths).  ys: {label: (W,) positive values}.
        ax: axis to draw on (a new 4.2 x 3.2 figure when None).
        reference_slope: slope of the dashed reference line (None: no line).
        xlabel, ylabel, title: axis texts.  errors: optional {label: (W,) or (2, W) error bars}.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.plot_loglog([64, 256, 1024], {"deviation": [0.2, 0.1, 0.05]},
        ...                               reference_slope=-0.5)
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ['width$^{-0.5}$', 'deviation (slope -0.50)']
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.2))
    x = to_numpy(x).astype(float)
    for i, (label, y) in enumerate(ys.items()):
        y = to_numpy(y).astype(float)
        s, _ = loglog_slope(x, y)
        err = None if errors is None else to_numpy(errors[label])
        ax.errorbar(
            x,
            y,
            yerr=err,
            marker=MARKERS[i % len(MARKERS)],
            ms=4,
            capsize=2,
            color=COLORS[i % len(COLORS)],
            label=f"{label} (slope {s:+.2f})",
        )
    if reference_slope is not None:
        y0 = to_numpy(next(iter(ys.values()))).astype(float)[0]
        ax.plot(
            x,
            y0 * (x / x[0]) ** reference_slope,
            "k--",
            lw=1,
            label=f"width$^{{{reference_slope:g}}}$",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax.figure


def plot_curves(
    x, ys: dict, *, ax=None, logy=False, xlabel="", ylabel="", styles: dict | None = None
):
    """Plain curves {label: y} against x (optionally log y), one colour and line style each (not
    colour alone); styles {label: kwargs} override them.

    Args:
        x: (T,) abscissae.  ys: {label: (T,) values}.  ax: axis (new figure when None).
        logy: log-scale y axis.  xlabel, ylabel: axis texts.  styles: optional {label: matplotlib
            kwargs}.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.plot_curves([1, 2, 3], {"a": [1, 2, 4], "b": [1, 1, 1]}, logy=True,
        ...                               styles={"b": {"ls": ":"}})
        >>> [line.get_linestyle() for line in fig.axes[0].lines]
        ['-', ':']
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.2))
    xv = to_numpy(x)
    for i, (label, y) in enumerate(ys.items()):
        kw = {"color": COLORS[i % len(COLORS)], "ls": LINESTYLES[i % len(LINESTYLES)], "lw": 1.4}
        kw.update((styles or {}).get(label, {}))
        ax.plot(xv, to_numpy(y), label=label, **kw)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return ax.figure


def plot_matrices(mats: dict, *, axes=None, cmap="viridis", vmin=None, vmax=None, colorbar=True):
    """Side-by-side images of matrices {title: M} on a shared colour scale.

    Args:
        mats: {title: (N, M) matrix}.  axes: one axis per matrix (a new row of panels when None).
        cmap: colour map.  vmin, vmax: the shared scale (default: min and max over all matrices).
        colorbar: draw one colour bar for all panels.
    Returns:
        the matplotlib Figure.
    Example:
        >>> X = nk.data.sphere(6, 3)
        >>> fig = nk.plotting.plot_matrices(
        ...     {"Theta_inf": nk.ntk(X, depth=3),
        ...      "width 256": nk.empirical_ntk(nk.FCNet(3, 256, 3, seed=0), X)})
        >>> len(fig.axes)                                  # two panels and the colour bar
        3
    """
    n = len(mats)
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(3.0 * n, 2.9), squeeze=False)
        axes = axes[0]
    arrs = {k: to_numpy(v) for k, v in mats.items()}
    lo = min(a.min() for a in arrs.values()) if vmin is None else vmin
    hi = max(a.max() for a in arrs.values()) if vmax is None else vmax
    for ax, (title, a) in zip(axes, arrs.items()):
        im = ax.imshow(a, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    if colorbar:
        axes[-1].figure.colorbar(im, ax=list(axes), shrink=0.8)
    return axes[0].figure


def plot_vs_depth(
    depths,
    curves: dict,
    *,
    points: dict | None = None,
    ax=None,
    logy=True,
    ylabel="",
    colors: dict | None = None,
    title=None,
):
    """Theory curves {label: y(L)} against depth, with optional finite-network markers
    {label: (depths, values of shape (D, seeds))} (mean and min-max range) in the same colour.

    Args:
        depths: (D,) depths of the theory curves.  curves: {label: (D,) values}.
        points: optional {label: (depths (D',), values (D', seeds))}.  ax: axis (new figure when
            None).
        logy: log-scale y axis.  ylabel, title: axis texts.  colors: optional {label: colour}.
    Returns:
        the matplotlib Figure.
    Example:
        >>> X = nk.data.sphere(5, 3)
        >>> theory = nk.phases.gram_condition_numbers(X, [2, 4, 8], activation="normalized(relu)",
        ...                                           beta=0.1)
        >>> nets = nk.phases.empirical_condition_numbers(X, [2, 4], activation="normalized(relu)",
        ...                                              beta=0.1, width=64, n_seeds=2)
        >>> fig = nk.plotting.plot_vs_depth([2, 4, 8], {"chaos": theory},
        ...                                 points={"chaos": ([2, 4], nets)})
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ['chaos (theory)', 'chaos (finite net)']
    """
    ax = _ax(ax)
    palette = _many_colors(len(curves))
    suffix = " (theory)" if points else ""
    for i, (label, y) in enumerate(curves.items()):
        col = (colors or {}).get(label, palette[i])
        ax.plot(to_numpy(depths), to_numpy(y), color=col, lw=1.6, label=f"{label}{suffix}")
        if points and label in points:
            d, v = points[label]
            v = np.atleast_2d(to_numpy(v).T).T
            m = v.mean(1)
            ax.errorbar(
                to_numpy(d),
                m,
                yerr=[m - v.min(1), v.max(1) - m],
                fmt="o",
                ms=4,
                capsize=2,
                color=col,
                mfc="white",
                label=f"{label} (finite net)",
            )
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return ax.figure
