"""Pictures of notebook 07 (architectural universality; numbers from ntklib.architectures): the
tensor program of an RNN, SGD against kernel gradient descent, parameter shares, width sweeps, the
seed-mean bias of the empirical NTKs and attention maps.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..stats import to_numpy
from .common import plot_loglog
from .style import COLORS

__all__ = [
    "plot_tensor_program",
    "plot_sgd_trajectories",
    "plot_parameter_shares",
    "plot_width_sweep",
    "plot_ntk_bias",
    "plot_attention_maps",
]


def _tp_axes(ax, size):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_tensor_program(*, ax=None, n_steps=3):
    """The simple RNN of `nk.architectures.RNN` drawn as a tensor program (the graphical notation of
    Yang and Littwin 2021, simplified): vectors are circles, each multiplication by a Gaussian
    matrix is a square on an edge (one colour per matrix: the tied W appears at every step),
    nonlinearities are plain edges; the backward program below runs right to left and uses W^T
    (dashed squares), which the gradient-independence assumption treats as a fresh matrix.

    Args:
        ax: axes to draw on (a new 11.5 x 4.6 figure when None).  n_steps: time steps drawn.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.architectures.plot_tensor_program(n_steps=2)
    """
    from matplotlib.patches import Circle, FancyBboxPatch

    ax = _tp_axes(ax, (11.5, 4.6))
    ax.set_xlim(-0.6, 3.2 * n_steps + 2.6)
    ax.set_ylim(-3.75, 2.05)
    ax.set_aspect("equal")
    ax.axis("off")
    mat_col = {"U": COLORS[2], "W": COLORS[0], "v": COLORS[1]}

    def node(x, y, label, color="white", edge="k"):
        ax.add_patch(Circle((x, y), 0.3, facecolor=color, edgecolor=edge, lw=1.2, zorder=3))
        ax.text(x, y, label, ha="center", va="center", fontsize=9, zorder=4)

    def arrow(x0, y0, x1, y1, label=None, mat=None, dashed=False, lx=0.0, ly=0.0):
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops=dict(arrowstyle="-|>", lw=1.0, color="0.25", shrinkA=12, shrinkB=12),
        )
        mx, my = (x0 + x1) / 2 + lx, (y0 + y1) / 2 + ly
        if mat is not None:
            ax.add_patch(
                FancyBboxPatch(
                    (mx - 0.2, my - 0.2),
                    0.4,
                    0.4,
                    boxstyle="square,pad=0",
                    facecolor=mat_col[mat.rstrip("T").rstrip("^")] if not dashed else "white",
                    edgecolor=mat_col[mat.rstrip("T").rstrip("^")],
                    lw=1.5,
                    ls="--" if dashed else "-",
                    zorder=5,
                )
            )
            ax.text(
                mx,
                my,
                mat if not dashed else mat.replace("^T", "$^\\top$"),
                ha="center",
                va="center",
                fontsize=7.5,
                color="white" if not dashed else mat_col[mat.rstrip("T").rstrip("^")],
                zorder=6,
                fontweight="bold",
            )
        elif label:
            ax.text(mx, my + 0.16, label, ha="center", va="bottom", fontsize=8, color="0.25")

    # forward program
    y_in, y_g, y_h = 1.7, 0.75, 0.75
    xs = [0.4 + 3.2 * t for t in range(n_steps)]
    for t, x in enumerate(xs):
        node(x, y_in, f"$x_{t + 1}$", color="0.9")
        node(x + 0.2, y_g - 0.0, f"$g_{t + 1}$")
        node(x + 1.6, y_h, f"$h_{t + 1}$")
        arrow(x, y_in, x + 0.2, y_g, mat="U", lx=-0.25, ly=0.05)
        arrow(x + 0.2, y_g, x + 1.6, y_h, label=r"$\phi$")
        if t + 1 < n_steps:
            arrow(x + 1.6, y_h, xs[t + 1] + 0.2, y_g, mat="W")
    xp = xs[-1] + 3.0
    node(xp, y_h, r"$\bar h$")
    for x in xs:
        ax.annotate(
            "",
            xy=(xp, y_h + 0.28),
            xytext=(x + 1.6, y_h + 0.3),
            arrowprops=dict(
                arrowstyle="-|>",
                lw=0.6,
                color="0.6",
                shrinkA=10,
                shrinkB=8,
                connectionstyle="arc3,rad=-0.18",
            ),
        )
    ax.text(xp, y_h + 0.5, "mean over t", ha="center", fontsize=7.5, color="0.4")
    ax.text(
        xp + 0.75,
        y_h - 0.02,
        r"$f = v^\top \bar h / \sqrt{n}$",
        ha="left",
        va="center",
        fontsize=9,
        color=COLORS[1],
    )
    ax.text(-0.55, y_h + 1.2, "forward", fontsize=9, fontweight="bold", rotation=90, va="center")

    # backward program (right to left)
    y_b = -1.0
    for t, x in enumerate(xs):
        node(x + 0.2, y_b, f"$dg_{t + 1}$", color="#f6f6f6")
        node(x + 1.6, y_b, f"$dh_{t + 1}$", color="#f6f6f6")
        arrow(x + 1.6, y_b, x + 0.2, y_b, label=r"$\odot\,\phi'(g)$")
        if t + 1 < n_steps:
            arrow(xs[t + 1] + 0.2, y_b, x + 1.6, y_b, mat="W^T", dashed=True)
    node(xp, y_b, r"$v$", color=COLORS[1])
    for x in xs:
        ax.annotate(
            "",
            xy=(x + 1.6, y_b - 0.28),
            xytext=(xp, y_b - 0.3),
            arrowprops=dict(
                arrowstyle="-|>",
                lw=0.6,
                color="0.6",
                shrinkA=8,
                shrinkB=10,
                connectionstyle="arc3,rad=-0.18",
            ),
        )
    ax.text(-0.55, y_b, "backward", fontsize=9, fontweight="bold", rotation=90, va="center")

    notes = [
        r"each circle: a vector of $n$ coordinates $\to$ i.i.d. copies of one random variable $Z$",
        r"square: multiplication by a Gaussian matrix $\to$ a fresh Gaussian $Z$, "
        r"covariance $E[Z^h Z^{h'}]$; "
        r"the same $W$ at every step $\Rightarrow$ shared (cross-time) covariances",
        r"dashed $W^\top$: independent of $W$ in the limit (readout $v$ Gaussian, used once)",
        r"NTK $= \sum_{\mathrm{uses}\,s,s'}$ E[backward Z Z'] $\times$ "
        r"E[forward Z Z']  for every matrix",
    ]
    for i, s in enumerate(notes):
        ax.text(-0.4, -2.3 - 0.36 * i, s, fontsize=8.3, va="center")
    return ax.figure


def plot_sgd_trajectories(
    results: dict,
    *,
    point=0,
    widths=None,
    axes=None,
    title_suffix="",
    kernel_label=None,
    reference_label=None,
):
    """For each architecture {name: SGDComparison}: the output at one tracked input (point: an index
    into the tracked inputs, or {name: index}) during training,
    network (solid) against kernel gradient descent with the infinite-width kernel (dashed), at the
    smallest and largest width (or the given widths); with reference_label, also kernel GD with the
    comparison's reference kernel at the largest width (dotted).

    Args:
        results: {name: nk.architectures.SGDComparison}.  point: tracked-input index, or {name:
            index}.
        widths: widths to draw (default smallest and largest).  axes: one axis per architecture.
        title_suffix: appended to each panel title.  kernel_label: legend of the dashed curves
            (None: "kernel GD, Theta_inf" in mathtext).
        reference_label: legend of the dotted reference curve (None: not drawn).
    Returns:
        the matplotlib Figure.
    Example:
        >>> a = nk.architectures.architecture("ResNet"); X = a.inputs(6)
        >>> Y = nk.architectures.regression_targets(X)
        >>> r = nk.architectures.sgd_vs_kernel(a, X, Y, None, [32], range(1), lr=0.05, batch_size=2,
        ...                                    steps=3, progress=False)
        >>> fig = nk.plotting.architectures.plot_sgd_trajectories({"ResNet": r}, point=0)
        >>> fig.axes[0].get_title(), fig.axes[0].get_ylabel()
        ('ResNet', 'f(training input 0)')
    """
    if kernel_label is None:
        kernel_label = r"kernel GD, $\Theta_\infty$"
    n = len(results)
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(3.5 * n, 3.0), squeeze=False)
        axes = axes[0]
    for ax, (name, res) in zip(axes, results.items()):
        pt = point[name] if isinstance(point, dict) else point
        ws = widths or [int(res.widths[0]), int(res.widths[-1])]
        for i, w in enumerate(ws):
            col = COLORS[(2 * i) % len(COLORS)]
            ax.plot(
                res.steps, to_numpy(res.f_net[w][:, pt]), color=col, lw=1.5, label=f"SGD, width {w}"
            )
            ax.plot(res.steps, to_numpy(res.f_kernel[w][:, pt]), color=col, lw=1.3, ls="--")
        if reference_label is not None and res.f_reference is not None:
            ax.plot(
                res.steps,
                to_numpy(res.f_reference[ws[-1]][:, pt]),
                color="k",
                lw=1.2,
                ls=":",
                label=reference_label,
            )
        if pt < res.n_train:
            ax.axhline(float(res.Y[pt]), color="0.5", lw=0.8, ls=":")
        ax.plot([], [], "k--", lw=1.2, label=kernel_label)
        ax.set_title(name + title_suffix)
        ax.set_xlabel("SGD step")
        where = f"training input {pt}" if pt < res.n_train else f"test input {pt - res.n_train}"
        ax.set_ylabel(f"f({where})")
        ax.legend(fontsize=6.5)
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_parameter_shares(widths, shares: dict, *, ax=None, reference_slope=-1.0):
    """Share of chosen parameters in the empirical NTK against width, log-log, with fitted slopes
    and a reference line width^reference_slope; shares {label: (W,) or (W, seeds)} (seeds are
    averaged).

    Args:
        widths: (W,).  shares: curves.  ax: axis (new figure when None).  reference_slope: of the
            dashed line.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.architectures.plot_parameter_shares([64, 256],
        ...                                                       {"W_q, W_k": [1e-3, 2.5e-4]})
    """
    ys = {k: np.asarray(to_numpy(v)).reshape(len(widths), -1).mean(1) for k, v in shares.items()}
    return plot_width_sweep(
        widths, ys, ax=ax, reference_slope=reference_slope, ylabel="share of the NTK"
    )


def plot_width_sweep(
    widths,
    ys: dict,
    *,
    ax=None,
    reference_slope=-0.5,
    ylabel="",
    title=None,
    legend_loc="best",
    size=(5.6, 4.0),
):
    """`plot_loglog` of curves {label: y} against width, with the widths themselves as x tick labels
    (powers of two, no overlapping minor labels) and the legend where asked.

    Args:
        widths: (W,).  ys: {label: (W,) values}.  ax: axis (new figure of `size` when None).
        reference_slope: dashed width^slope line.  ylabel, title, legend_loc: as in matplotlib.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.architectures.plot_width_sweep([64, 256], {"deviation": [0.2, 0.1]})
    """
    from matplotlib.ticker import NullFormatter

    ax = _tp_axes(ax, size)
    plot_loglog(widths, ys, ax=ax, reference_slope=reference_slope, ylabel=ylabel, title=title)
    w = [int(v) for v in widths]
    ax.set_xticks(w, [str(v) for v in w])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(loc=legend_loc, fontsize=7)
    return ax.figure


def plot_ntk_bias(biases: dict, *, offset=0.03, n_se=3.0, ax=None):
    """The seed-mean scale bias <Theta_hat - Theta, Theta>/<Theta, Theta> of each architecture's
    empirical NTK (`nk.architectures.ntk_bias`), with n_se standard errors as error bars, against 0
    (the limit) and against -offset/(1 + offset), where the same networks would sit if the
    infinite-width kernel were offset (e.g. 3%) too large.

    Args:
        biases: {name: NTKBias}.  offset: relative kernel error drawn for comparison.  n_se: length
        of the error bars in standard errors.  ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> a = nk.architectures.architecture("ResNet"); X = a.inputs(4)
        >>> b = nk.architectures.ntk_bias(a, X, 64, range(8), progress=False)
        >>> fig = nk.plotting.architectures.plot_ntk_bias({"ResNet": b})
        >>> fig.axes[0].get_ylabel()
        'seed-mean scale bias'
    """
    ax = _tp_axes(ax, (1.4 + 1.1 * len(biases), 3.4))
    names = list(biases)
    x = np.arange(len(names))
    ax.errorbar(
        x,
        [biases[k].scale for k in names],
        yerr=[n_se * biases[k].scale_se for k in names],
        fmt="o",
        color=COLORS[0],
        capsize=4,
        label=rf"measured, $\pm${n_se:g} s.e.",
    )
    ax.axhline(0.0, color="k", lw=1.0, label=r"the limit $\mathring\Theta$")
    ax.axhline(
        -offset / (1 + offset),
        color=COLORS[3],
        lw=1.2,
        ls="--",
        label=rf"if $\mathring\Theta$ were {100 * offset:g}% too large",
    )
    ax.set_xticks(x, names, rotation=20, fontsize=8)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel("seed-mean scale bias")
    widths = sorted({b.width for b in biases.values()})
    seeds = sorted({b.n_seeds for b in biases.values()})
    ax.set_title(
        f"width {', '.join(map(str, widths))}, {', '.join(map(str, seeds))} networks each",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    ax.figure.tight_layout()
    return ax.figure


def plot_attention_maps(maps: dict, *, axes=None, vmax=None):
    """Attention matrices (T x T, rows: queries t, columns: keys s) side by side, as heatmaps with
    their values written in (e.g. the infinite-width attention of a transformer block against a wide
    network's).

    Args:
        maps: {title: (T, T) array}.  axes: one axis per map (new figure when None).  vmax: top of
        the colour scale (default the largest entry).
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.architectures.plot_attention_maps(
        ...     {"uniform": torch.full((3, 3), 1 / 3)})
        >>> fig.axes[0].get_title()
        'uniform'
    """
    mats = {k: np.asarray(to_numpy(v), dtype=float) for k, v in maps.items()}
    if axes is None:
        _, axes = plt.subplots(1, len(mats), figsize=(2.7 * len(mats), 2.8), squeeze=False)
        axes = axes[0]
    top = vmax if vmax is not None else max(float(m.max()) for m in mats.values())
    for ax, (title, m) in zip(axes, mats.items()):
        ax.imshow(m, cmap="Blues", vmin=0.0, vmax=top)
        for (i, j), v in np.ndenumerate(m):
            ax.text(
                j,
                i,
                f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if v > 0.6 * top else "k",
            )
        T = m.shape[0]
        ax.set_xticks(range(T), [f"s={k + 1}" for k in range(T)], fontsize=7)
        ax.set_yticks(range(T), [f"t={k + 1}" for k in range(T)], fontsize=7)
        ax.set_title(title, fontsize=9)
    axes[0].figure.tight_layout()
    return axes[0].figure
