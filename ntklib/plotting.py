"""One style and one `save` for every figure; plot helpers that draw numbers computed elsewhere.

`save(fig, name)` writes figures/NAME.png and figures/NAME.pdf atomically (a temporary file, then a
rename, so an interrupted run never leaves half a figure) and byte-stable (no creation date in the
PDF).  The folder is $NTKLIB_FIGURES when set (the Makefile sets it), else figures/ at the top of the
repository, else ./figures.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from .stats import loglog_slope, to_numpy

__all__ = ["setup", "save", "figure_dir", "plot_loglog", "plot_qq", "plot_matrices", "COLORS",
           "plot_ntk_on_circle"]

COLORS = ["#1b6ca8", "#d1495b", "#3c8d2f", "#edae49", "#6a4c93", "#00798c", "#8c564b"]

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight",
    "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "legend.fontsize": 8,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=COLORS), "image.cmap": "viridis",
    "svg.hashsalt": "ntk-notebooks", "figure.max_open_warning": 0,
}


def setup():
    """Apply the project's matplotlib style; in a notebook, show figures inline as PNG.

    In a Jupyter kernel the inline backend is switched on whatever MPLBACKEND says: a kernel started
    with MPLBACKEND=Agg would otherwise drop every figure from the committed outputs (and the book).

    Returns:
        None (the style goes into matplotlib's global rcParams: STYLE, colour cycle COLORS).
    Example:
        >>> nk.plotting.setup()
        >>> import matplotlib.pyplot as plt; plt.rcParams["savefig.dpi"], plt.rcParams["axes.spines.top"]
        (150.0, False)
    """
    try:
        from IPython import get_ipython
        shell = get_ipython()
        if shell is not None and getattr(shell, "kernel", None) is not None:
            shell.run_line_magic("matplotlib", "inline")
    except Exception:  # noqa: BLE001 - not in IPython
        pass
    plt.rcParams.update(STYLE)
    try:  # in a notebook: PNG only, so nbval has nothing volatile to compare
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("png")
    except Exception:  # noqa: BLE001 - not in IPython
        pass


def figure_dir() -> Path:
    """The folder `save` writes to: $NTKLIB_FIGURES when set (the Makefile sets it), else figures/ at the
    top of the repository (when ntklib sits in a checkout with notebooks/), else ./figures.

    Returns:
        pathlib.Path (not created here; `save` creates it).
    Example:
        >>> import os; from unittest import mock
        >>> with mock.patch.dict(os.environ, {"NTKLIB_FIGURES": "/tmp/my_figures"}):
        ...     nk.plotting.figure_dir().as_posix()
        '/tmp/my_figures'
    """
    env = os.environ.get("NTKLIB_FIGURES")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    if (repo / "notebooks").is_dir():
        return repo / "figures"
    return Path.cwd() / "figures"


def save(fig, name: str, directory=None):
    """Write `fig` to DIR/NAME.png and DIR/NAME.pdf, atomically and byte-stably.

    Each file is written to a temporary name in DIR and renamed into place (an interrupted run never
    leaves half a figure); the PNG carries no Software tag and the PDF no CreationDate or Producer, so
    the same figure gives the same bytes.  Notebooks save every figure through it, NAME prefixed by the
    notebook number (e.g. "04_gram_matrices").

    Args:
        fig: a matplotlib Figure.  name: file name without extension.
        directory: the folder (created if missing); None means `figure_dir()`.
    Returns:
        [path of the PNG, path of the PDF] as pathlib.Path objects.
    Example:
        >>> import tempfile
        >>> fig = nk.plotting.plot_curves([0, 1], {"y": [0.0, 1.0]})
        >>> with tempfile.TemporaryDirectory() as d:
        ...     first = [p.read_bytes() for p in nk.plotting.save(fig, "00_example", directory=d)]
        ...     again = nk.plotting.save(fig, "00_example", directory=d)
        ...     [p.name for p in again], first == [p.read_bytes() for p in again]
        (['00_example.png', '00_example.pdf'], True)
    """
    d = Path(directory) if directory is not None else figure_dir()
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        path = d / f"{name}.{ext}"
        tmp = d / f".{name}.{os.getpid()}.tmp.{ext}"
        fig.savefig(tmp, format=ext, metadata=meta)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def plot_loglog(x, ys: dict, *, ax=None, reference_slope=None, xlabel="width", ylabel="", title=None,
                errors: dict | None = None):
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
        >>> fig = nk.plotting.plot_loglog([64, 256, 1024], {"deviation": [0.2, 0.1, 0.05]}, reference_slope=-0.5)
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
        ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=2, color=COLORS[i % len(COLORS)],
                    label=f"{label} (slope {s:+.2f})")
    if reference_slope is not None:
        y0 = to_numpy(next(iter(ys.values()))).astype(float)[0]
        ax.plot(x, y0 * (x / x[0]) ** reference_slope, "k--", lw=1,
                label=f"width$^{{{reference_slope:g}}}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax.figure


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
        >>> fig = nk.plotting.plot_qq(torch.randn(200, generator=torch.Generator().manual_seed(0)))
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
        >>> fig = nk.plotting.plot_matrices({"Theta_inf": nk.ntk(X, depth=3),
        ...                                  "width 256": nk.empirical_ntk(nk.FCNet(3, 256, 3, seed=0), X)})
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
        >>> s = nk.ntk_training_snapshots(X[:1], X[::4], X[::4, 0], width=64, seeds=2, depth=3, lr=0.5,
        ...                               steps=5, Y_eval=X)
        >>> fig = nk.plotting.plot_ntk_on_circle(g, nk.ntk(X[:1], X, depth=3)[0],
        ...                                      {"width 64": (s["K0"][:, 0], s["KT"][:, 0])})
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


# ---- freeze and chaos, normalisation (notebooks 04 and 05; numbers from ntklib.phases) -----------

__all__ += ["plot_r_curves", "plot_phase_map", "plot_gain_diagram", "plot_gram_grid", "plot_vs_depth",
            "plot_freeze_bound", "plot_training_losses", "plot_diagonal_drift", "plot_spectra",
            "plot_poincare"]

PHASE_COLORS = {"freeze": "#1b6ca8", "edge": "#3c8d2f", "chaos": "#d1495b"}


def _ax(ax, size=(4.2, 3.2)):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def _many_colors(n):
    return COLORS if n <= len(COLORS) else [plt.cm.tab20(i % 20) for i in range(n)]


def plot_r_curves(diagram: dict, *, ax=None, standardised_only=False):
    """r(sigma, beta) = (1 - beta^2) E[sigma'(z)^2] against beta for each nonlinearity of
    `phases.phase_diagram`, with the edge r = 1 between the freeze (r < 1) and the chaos (r > 1);
    nonlinearities with E sigma^2 != 1 (outside the theorem's hypothesis) are dashed.

    Args:
        diagram: the dict of `nk.phase_diagram`.  ax: axis (new figure when None).
        standardised_only: leave out the nonlinearities with E sigma^2 != 1.
    Returns:
        the matplotlib Figure.
    Example:
        >>> d = nk.phase_diagram(["sqrt2*relu", "normalized(relu)", "relu"], [0.0, 0.5, 0.9])
        >>> print(*[t.get_text() for t in nk.plotting.plot_r_curves(d).axes[0].get_legend().get_texts()], sep=" | ")
        sqrt2*relu | normalized(relu) | relu ($E\\sigma^2\\neq1$)
    """
    ax = _ax(ax)
    b = diagram["betas"]
    cols = _many_colors(len(diagram["names"]))
    for i, name in enumerate(diagram["names"]):
        std = abs(diagram["second_moment"][i] - 1.0) < 1e-9
        if standardised_only and not std:
            continue
        ax.plot(b, diagram["r"][i], ls="-" if std else "--", color=cols[i], lw=1.4,
                label=name + ("" if std else r" ($E\sigma^2\neq1$)"))
    ax.axhline(1.0, color="k", lw=1)
    top = max(1.05, float(np.nanmax(diagram["r"]))) * 1.04
    ax.axhspan(0, 1, color=PHASE_COLORS["freeze"], alpha=0.06)
    ax.axhspan(1, top, color=PHASE_COLORS["chaos"], alpha=0.06)
    ax.text(0.98, 0.60, "FREEZE  r < 1", transform=ax.transAxes, color=PHASE_COLORS["freeze"], ha="right")
    ax.text(0.98, 0.95, "CHAOS  r > 1", transform=ax.transAxes, color=PHASE_COLORS["chaos"], ha="right", va="top")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$r(\sigma,\beta)=(1-\beta^2)\,E[\sigma'(z)^2]$")
    ax.set_ylim(0, top)
    ax.legend(fontsize=5.8, loc="lower left", ncol=2, handlelength=1.6, columnspacing=0.8, framealpha=0.9)
    return ax.figure


def _log2r_mesh(ax, x, y, r, clip):
    """log2 r clipped to [-clip, clip] as a pcolormesh on a diverging scale centred on r = 1."""
    from matplotlib.colors import TwoSlopeNorm

    with np.errstate(divide="ignore"):
        lr = np.clip(np.log2(np.asarray(r, dtype=float)), -clip, clip)
    lim = max(1e-3, float(np.abs(lr).max()))
    return ax.pcolormesh(x, y, lr, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -lim, lim), shading="nearest")


def plot_phase_map(diagram: dict, *, ax=None, clip=1.0):
    """The phase diagram over (beta, nonlinearity): log2 r on a diverging scale (blue freeze, red chaos,
    clipped to [-clip, clip]; r = 0 at beta = 1) with the edge r = 1 drawn through each row's edge beta.

    r = (1 - beta^2) E[sigma'(z)^2], from `nk.phase_diagram`.

    Args:
        diagram: the dict of `nk.phase_diagram`.  ax: axis (new figure when None).
        clip: log2 r is clipped to [-clip, clip].
    Returns:
        the matplotlib Figure.
    Example:
        >>> d = nk.phase_diagram(["sqrt2*relu", "normalized(relu)"], [0.0, 0.5, 0.9])
        >>> len(nk.plotting.plot_phase_map(d).axes)        # the map and its colour bar
        2
    """
    ax = _ax(ax, (5.0, 0.35 * len(diagram["names"]) + 1.2))
    b, names = diagram["betas"], diagram["names"]
    im = _log2r_mesh(ax, b, np.arange(len(names)), diagram["r"], clip)
    edge = diagram["edge"]
    rows = np.arange(len(names))
    for i, e in zip(rows, edge):
        if np.isfinite(e):
            ax.plot([e, e], [i - 0.5, i + 0.5], color="k", lw=2.2)
    ax.set_yticks(rows)
    ax.set_yticklabels(names, fontsize=7)
    ax.set_xlabel(r"$\beta$")
    ax.grid(False)
    ax.figure.colorbar(im, ax=ax, label=r"$\log_2 r$ (clipped)", shrink=0.9)
    return ax.figure


def plot_gain_diagram(family: dict, *, ax=None, clip=1.0):
    """Continuous phase diagram of the normalised family normalized(sigma(g z)) over (beta, gain g),
    log2 r on a diverging scale (clipped to [-clip, clip]), with the contour r = 1.

    r = (1 - beta^2) E[sigma_g'(z)^2], from `nk.gain_family_diagram`.

    Args:
        family: the dict of `nk.gain_family_diagram`.  ax: axis (new figure when None).
        clip: log2 r is clipped to [-clip, clip].
    Returns:
        the matplotlib Figure.
    Example:
        >>> fam = nk.gain_family_diagram("erf", [0.5, 1.0, 2.0], [0.0, 0.5, 0.9])
        >>> nk.plotting.plot_gain_diagram(fam).axes[0].get_ylabel()
        'gain g'
    """
    ax = _ax(ax, (4.4, 3.4))
    im = _log2r_mesh(ax, family["betas"], family["gains"], family["r"], clip)
    ax.contour(family["betas"], family["gains"], family["r"], levels=[1.0], colors="k", linewidths=1.6)
    ax.plot(family["edge"], family["gains"], "k:", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel("gain g")
    ax.set_title(f"normalized({family['base']}(g z)): edge r = 1 in black")
    ax.text(0.05, 0.9, "CHAOS", transform=ax.transAxes, color="w", fontweight="bold")
    ax.text(0.95, 0.06, "FREEZE", transform=ax.transAxes, color="w", fontweight="bold", ha="right")
    ax.grid(False)
    ax.figure.colorbar(im, ax=ax, label=r"$\log_2 r$ (clipped)")
    return ax.figure


def plot_gram_grid(rows: dict, *, cmap="RdBu_r", vmin=-1.0, vmax=1.0):
    """A grid of matrices: rows {row label: {column title: (N, N) matrix}}, one shared colour scale.

    Args:
        rows: {row label: {column title: (N, N) matrix}} (e.g. `nk.gram_ratio` of each kernel).
        cmap: colour map.  vmin, vmax: the shared scale (default [-1, 1], the range of Gram ratios).
    Returns:
        the matplotlib Figure.
    Example:
        >>> T = nk.ntk_by_depth(nk.data.sphere(6, 3), [2, 8], activation="sqrt2*relu", beta=0.1)
        >>> fig = nk.plotting.plot_gram_grid({"edge": {"L = 2": nk.gram_ratio(T[0]), "L = 8": nk.gram_ratio(T[1])}})
        >>> len(fig.axes)                                  # two panels and the colour bar
        3
    """
    nr = len(rows)
    nc = max(len(r) for r in rows.values())
    fig, axes = plt.subplots(nr, nc, figsize=(3.1 * nc, 3.0 * nr), squeeze=False)
    for i, (row_label, mats) in enumerate(rows.items()):
        for j, (title, M) in enumerate(mats.items()):
            ax = axes[i, j]
            im = ax.imshow(to_numpy(M), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if j == 0:
                ax.set_ylabel(row_label)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
    return fig


def plot_vs_depth(depths, curves: dict, *, points: dict | None = None, ax=None, logy=True, ylabel="",
                  colors: dict | None = None, title=None):
    """Theory curves {label: y(L)} against depth, with optional finite-network markers
    {label: (depths, values of shape (D, seeds))} (mean and min-max range) in the same colour.

    Args:
        depths: (D,) depths of the theory curves.  curves: {label: (D,) values}.
        points: optional {label: (depths (D',), values (D', seeds))}.  ax: axis (new figure when None).
        logy: log-scale y axis.  ylabel, title: axis texts.  colors: optional {label: colour}.
    Returns:
        the matplotlib Figure.
    Example:
        >>> X = nk.data.sphere(5, 3)
        >>> theory = nk.gram_condition_numbers(X, [2, 4, 8], activation="normalized(relu)", beta=0.1)
        >>> nets = nk.empirical_condition_numbers(X, [2, 4], activation="normalized(relu)", beta=0.1,
        ...                                       width=64, n_seeds=2)
        >>> fig = nk.plotting.plot_vs_depth([2, 4, 8], {"chaos": theory}, points={"chaos": ([2, 4], nets)})
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
            ax.errorbar(to_numpy(d), m, yerr=[m - v.min(1), v.max(1) - m], fmt="o", ms=4, capsize=2,
                        color=col, mfc="white", label=f"{label} (finite net)")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return ax.figure


def plot_freeze_bound(results: list, *, axes=None):
    """Left: 1 - min Theta(x,y)/Theta(x,x) against depth with the bound C L r^L (C fitted on the shaded
    depths); right: the scaled gap (1 - min ratio)/(L r^L), bounded for smooth sigma, with each C.

    Args:
        results: list of dicts from `nk.freeze_bound` (one per nonlinearity).
        axes: two axes (a new 9.2 x 3.4 figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> fb = nk.freeze_bound(nk.data.sphere(5, 3), [2, 3, 4, 5, 6], activation="standardized(erf)",
        ...                      beta=0.5, fit_max=3)
        >>> len(nk.plotting.plot_freeze_bound([fb]).axes)
        2
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9.2, 3.4))
    for i, res in enumerate(results):
        col = COLORS[i % len(COLORS)]
        L = res["depths"]
        lab = f"{res['name']} (r = {res['r']:.3f})"
        axes[0].semilogy(L, res["gap"], "o", ms=2.5, color=col, label=lab)
        axes[0].semilogy(L, res["C"] * L * res["r"] ** L.astype(float), "-", lw=1, color=col)
        axes[1].semilogy(L, res["scaled_gap"], "-", lw=1.4, color=col, label=lab)
        axes[1].axhline(res["C"], color=col, lw=0.8, ls="--")
    fit = max(r["fit_max"] for r in results)
    for ax in axes:
        ax.axvspan(0.5, fit + 0.5, color="0.85", alpha=0.5, lw=0)
        ax.set_xlabel("depth L")
    axes[0].set_ylabel(r"$1-\min\,\Theta(x,y)/\Theta(x,x)$  (dots),  $C L r^L$ (lines)")
    axes[1].set_ylabel(r"$(1-\min\,\Theta(x,y)/\Theta(x,x)) / (L r^L)$")
    axes[1].set_title("dashed: C fitted on the shaded depths")
    axes[0].legend(fontsize=7)
    return axes[0].figure


def plot_training_losses(speed: dict, *, ax=None, rel_target=None, colors: dict | None = None):
    """Relative loss against gradient-descent steps per regime: theory (linearised model, solid) and
    the finite network (dashed), from `phases.training_speed`.

    Args:
        speed: the dict of `nk.training_speed` ({label: dict with loss_theory and loss_network}).
        ax: axis (new figure when None).  rel_target: draws the target level (and sets the y range).
        colors: optional {label: colour}.
    Returns:
        the matplotlib Figure.
    Example:
        >>> X = nk.data.sphere(4, 3)
        >>> s = nk.training_speed(X, X[:, 0], {"freeze": ("standardized(erf)", 0.8), "chaos": ("normalized(erf)", 0.1)},
        ...                       depth=3, width=32, rel_target=0.1, max_steps=10)
        >>> len(nk.plotting.plot_training_losses(s, rel_target=0.1).axes[0].lines)   # 2 x 2 curves, the target
        5
    """
    ax = _ax(ax, (4.6, 3.3))
    for i, (label, res) in enumerate(speed.items()):
        col = (colors or {}).get(label, COLORS[i % len(COLORS)])
        th, net = res["loss_theory"], res["loss_network"]
        ax.semilogy(th / th[0], color=col, lw=1.6, label=f"{label} (theory)")
        ax.semilogy(net / net[0], color=col, lw=1.2, ls="--", label=f"{label} (network)")
    if rel_target is not None:
        ax.axhline(rel_target, color="k", lw=0.8, ls=":")
        ax.set_ylim(rel_target * 1e-3, 2.0)
    ax.set_xlabel("gradient-descent step (eta = N / (2 lambda_max))")
    ax.set_ylabel("loss / initial loss")
    ax.legend(fontsize=7)
    return ax.figure


def plot_diagonal_drift(profiles: list, *, empirical: dict | None = None, ax=None):
    """Sigma^(l)(x, x) against layer for each profile of `phases.diagonal_profile` (log scale), with
    optional finite-network markers {name: values (L,)}; the line Sigma = 1 is the standardised case.

    Args:
        profiles: list of dicts from `nk.diagonal_profile`.
        empirical: optional {profile name: (L,) values}, e.g. from `nk.empirical_diagonal_profile`.
        ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> p = [nk.diagonal_profile("sqrt2*relu", 0.1, 4), nk.diagonal_profile("mean_one(relu)", 0.1, 4)]
        >>> fig = nk.plotting.plot_diagonal_drift(p, empirical={"mean_one(relu)": [1.0, 3.0, 9.5, 29.0]})
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ['1.414*relu', 'mean_one(relu)']
    """
    ax = _ax(ax, (4.6, 3.3))
    for i, p in enumerate(profiles):
        col = COLORS[i % len(COLORS)]
        ax.semilogy(p["layers"], p["sigma"], "-", color=col, lw=1.5, label=p["name"])
        if empirical and p["name"] in empirical:
            ax.semilogy(p["layers"], empirical[p["name"]], "o", ms=4, mfc="white", color=col)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"$\Sigma^{(l)}(x,x)$,  $\|x\|^2=n_0$")
    ax.legend(fontsize=7)
    return ax.figure


def plot_spectra(spectra: dict, *, marks: dict | None = None, ax=None):
    """Descending eigenvalues {label: (N,)} on a log scale; marks {label: value} draws a horizontal
    line (e.g. the Rayleigh quotient of the constant vector) in the same colour.

    Args:
        spectra: {label: (N,) eigenvalues, largest first}.  marks: optional {label: value}.
        ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> m = nk.constant_mode(nk.ntk(nk.data.sphere(6, 3), depth=3))
        >>> fig = nk.plotting.plot_spectra({"Theta_inf": m["eigenvalues"]}, marks={"Theta_inf": m["rayleigh"]})
        >>> len(fig.axes[0].lines)                         # the spectrum and the mark
        2
    """
    ax = _ax(ax, (4.6, 3.3))
    for i, (label, ev) in enumerate(spectra.items()):
        col = COLORS[i % len(COLORS)]
        ev = to_numpy(ev)
        ax.semilogy(np.arange(1, ev.size + 1), ev, "o-", ms=3.5, lw=1, color=col, label=label)
        if marks and label in marks:
            ax.axhline(marks[label], color=col, lw=0.9, ls="--")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("eigenvalue")
    ax.legend(fontsize=7)
    return ax.figure


def plot_poincare(rows: list, *, ax=None):
    """Bars of E[sigma_bar'(z)^2] per nonlinearity (from `phases.poincare_table`), drawn up from the
    Poincare bound 1: every bar reaches it, only affine functions (diamonds) stop there.

    sigma_bar = (sigma - E sigma) / sd(sigma); Gaussian Poincare: E sigma_bar'(z)^2 >= 1.

    Args:
        rows: list of dicts from `nk.poincare_table` (keys name and poincare).  ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.plot_poincare(nk.poincare_table(["relu", "identity"]))
        >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
        ['relu', 'identity']
    """
    ax = _ax(ax, (5.2, 3.2))
    names = [r["name"] for r in rows]
    vals = np.array([r["poincare"] for r in rows])
    x = np.arange(len(rows))
    aff = np.abs(vals - 1) < 1e-9
    ax.bar(x, vals - 1.0, bottom=1.0, color=PHASE_COLORS["chaos"], alpha=0.85)
    ax.plot(x[aff], vals[aff], "D", color=PHASE_COLORS["edge"], ms=6, label="affine: equality")
    ax.axhline(1.0, color="k", lw=1)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(r"$E[\bar\sigma'(z)^2]$")
    ax.set_ylim(0.9, vals.max() * 1.05)
    ax.set_title("Gaussian Poincare: every bar starts at the bound 1")
    ax.legend(fontsize=7, loc="upper left")
    return ax.figure


# ---- convergence: function-space dynamics, eigendirections, NTK PCA (notebook 03; numbers from
# ntklib.dynamics) ---------------------------------------------------------------------------------

__all__ += ["plot_function_dynamics", "plot_mode_decay", "plot_valley", "plot_pca_scatter",
            "plot_curves"]


def plot_function_dynamics(gamma, f_net, f_theory, times, *, gamma_train=None, y_train=None, target=None,
                           ax=None):
    """A network's outputs along a curve of inputs (angle gamma) at a few times (solid) beside the
    infinite-width prediction (dashed, same colour); training targets as black dots, the target
    function as a thin grey line.

    Args:
        gamma: (A,) angles of the inputs x = (cos gamma, sin gamma).
        f_net, f_theory: {time: (A,) outputs}, e.g. rows of TrainRecord.f_test and of `nk.ntk_flow`.
        times: the keys to draw.  gamma_train, y_train: optional training angles and targets.
        target: optional (A,) target function.  ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> X, g = nk.data.circle(32); tr = [0, 8, 16, 24]; Y = torch.sin(2 * g); K = nk.ntk(X, depth=3)
        >>> _, f = nk.ntk_flow(K[tr][:, tr], torch.zeros(4), Y[tr], [1.0, 10.0], theta_tX=K[:, tr], f0_t=torch.zeros(32))
        >>> curves = {1.0: f[0], 10.0: f[1]}                # here the "network" is the prediction itself
        >>> fig = nk.plotting.plot_function_dynamics(g, curves, curves, [1.0, 10.0], gamma_train=g[tr],
        ...                                          y_train=Y[tr], target=Y)
        >>> fig.axes[0].get_ylabel()
        '$f_t(x)$'
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.4))
    g = to_numpy(gamma)
    if target is not None:
        ax.plot(g, to_numpy(target), color="0.6", lw=1, label="target")
    for i, t in enumerate(times):
        col = COLORS[i % len(COLORS)]
        ax.plot(g, to_numpy(f_net[t]), color=col, lw=1.4, label=f"network, t = {t:g}")
        ax.plot(g, to_numpy(f_theory[t]), color=col, lw=1.4, ls="--")
    if gamma_train is not None:
        ax.plot(to_numpy(gamma_train), to_numpy(y_train), "ko", ms=4, label="training points")
    ax.plot([], [], "k--", lw=1.2, label="linear ODE, $\\Theta_\\infty$")
    ax.set_xlabel(r"$\gamma$  (input $x = (\cos\gamma, \sin\gamma)$)")
    ax.set_ylabel(r"$f_t(x)$")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    return ax.figure


def plot_mode_decay(times, observed, predicted, *, labels=None, ax=None):
    """|c_i(t) / c_i(0)| of each eigendirection (markers) against exp(-rate_i t) (lines), log scale.

    Under the flow the residual along eigenvector v_i decays as exp(-2 lam_i t / N).

    Args:
        times: (T,) flow times.  observed, predicted: (T, k) from `nk.mode_decay`.
        labels: optional k legend labels (default "mode i").  ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> K = nk.ntk(nk.data.circle(4)[0], depth=2); lam, V = nk.ntk_pca(K); Y = V.sum(1)
        >>> t = torch.linspace(0, 4, 9); f_X, _ = nk.ntk_flow(K, torch.zeros(4), Y, t)
        >>> obs, pred, _ = nk.mode_decay(t, nk.mode_coefficients(f_X, Y, V), nk.mode_rates(lam, 4))
        >>> len(nk.plotting.plot_mode_decay(t, obs, pred).axes[0].get_legend().get_texts())   # 4 modes + the law
        5
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 3.4))
    t = to_numpy(times)
    obs, pred = to_numpy(observed), to_numpy(predicted)
    every = max(1, len(t) // 25)
    k = obs.shape[1]
    for i in range(k):
        col = COLORS[i] if k <= len(COLORS) else plt.get_cmap("plasma")(0.9 * i / (k - 1))
        lab = labels[i] if labels is not None else f"mode {i + 1}"
        ax.semilogy(t, pred[:, i], color=col, lw=1.2)
        ax.semilogy(t[::every], np.abs(obs[::every, i]), "o", ms=3, color=col, label=lab)
    ax.plot([], [], "k-", lw=1.2, label=r"$e^{-2\lambda_i t/N}$")
    ax.set_ylim(max(1e-3, float(np.abs(obs).min()) / 2), 1.5)
    ax.set_xlabel("flow time t")
    ax.set_ylabel(r"$|c_i(t) / c_i(0)|$")
    ax.legend(fontsize=7)
    return ax.figure


def plot_valley(valley: dict, *, ax=None):
    """The loss of a network on the plane of its top and bottom NTK eigendirections (`dynamics.
    narrow_valley`): filled contours of the real loss, dashed contours of the second-order model.

    The curvature along eigendirection i is 2 lam_i / N: steep along the top one, flat along the bottom.

    Args:
        valley: the dict of `nk.narrow_valley`.  ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> X, _ = nk.data.circle(4)
        >>> v = nk.narrow_valley(nk.FCNet(2, 64, 2, seed=0), X, X[:, 0], n_grid=5)
        >>> len(nk.plotting.plot_valley(v).axes)            # the contours and the colour bar
        2
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    s = to_numpy(valley["s"])
    L, Q = to_numpy(valley["loss"]), to_numpy(valley["loss_quadratic"])
    levels = np.geomspace(max(min(L.min(), Q.min()), 1e-4), max(L.max(), Q.max()), 14)
    norm = matplotlib.colors.LogNorm(levels[0], levels[-1])
    cs = ax.contourf(s, s, L.T, levels=levels, norm=norm, cmap="viridis", extend="both")
    ax.contour(s, s, Q.T, levels=levels, norm=norm, colors="w", linewidths=0.7, linestyles="--")
    i, j = valley["modes"]
    ax.set_xlabel(f"$s_1$ along top eigendirection ($\\lambda_{{{i + 1}}}$)")
    ax.set_ylabel(f"$s_2$ along bottom eigendirection ($\\lambda_{{{j + 1}}}$)")
    ax.set_aspect("equal")
    ax.grid(False)
    cbar = ax.figure.colorbar(cs, ax=ax, shrink=0.85, label="loss C")
    cbar.set_ticks(levels[::3])
    cbar.set_ticklabels([f"{v:.2g}" for v in levels[::3]])
    cbar.ax.minorticks_off()
    return ax.figure


def plot_pca_scatter(lam, V, labels, *, components=(1, 2), ax=None):
    """Kernel principal coordinates sqrt(lam_i) v_i of each input, coloured by its label (NTK PCA).

    Args:
        lam, V: eigenvalues (k,) and eigenvectors (N, k) from `nk.ntk_pca`.
        labels: (N,) integer class of each input.  components: the two 0-based component indices.
        ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> X, g = nk.data.circle(12); lam, V = nk.ntk_pca(nk.ntk(X, depth=3))
        >>> nk.plotting.plot_pca_scatter(lam, V, torch.arange(12) % 3, components=(0, 1)).axes[0].get_xlabel()
        'principal component 1'
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    lam, V, lab = to_numpy(lam), to_numpy(V), to_numpy(labels)
    a, b = components
    xa, xb = np.sqrt(lam[a]) * V[:, a], np.sqrt(lam[b]) * V[:, b]
    cmap = plt.get_cmap("tab10")
    for c in np.unique(lab):
        m = lab == c
        ax.scatter(xa[m], xb[m], s=9, color=cmap(int(c) % 10), label=str(c))
    ax.set_xlabel(f"principal component {a + 1}")
    ax.set_ylabel(f"principal component {b + 1}")
    ax.legend(fontsize=6, ncol=2, markerscale=1.2, handletextpad=0.1, columnspacing=0.5)
    return ax.figure


def plot_curves(x, ys: dict, *, ax=None, logy=False, xlabel="", ylabel="", styles: dict | None = None):
    """Plain curves {label: y} against x (optionally log y), one colour each; styles {label: kwargs}.

    Args:
        x: (T,) abscissae.  ys: {label: (T,) values}.  ax: axis (new figure when None).
        logy: log-scale y axis.  xlabel, ylabel: axis texts.  styles: optional {label: matplotlib kwargs}.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.plot_curves([1, 2, 3], {"a": [1, 2, 4], "b": [1, 1, 1]}, logy=True,
        ...                               styles={"b": {"ls": "--"}})
        >>> [line.get_linestyle() for line in fig.axes[0].lines]
        ['-', '--']
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.2))
    xv = to_numpy(x)
    for i, (label, y) in enumerate(ys.items()):
        kw = {"color": COLORS[i % len(COLORS)], "lw": 1.4}
        kw.update((styles or {}).get(label, {}))
        ax.plot(xv, to_numpy(y), label=label, **kw)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return ax.figure


# ---- architectural universality (notebook 07; numbers from ntklib.tensor_programs) -------------------

__all__ += ["plot_tensor_program", "plot_sgd_trajectories", "plot_parameter_shares", "plot_width_sweep"]


def _tp_axes(ax, size):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_tensor_program(*, ax=None, n_steps=3):
    """The simple RNN of `nk.RNN` drawn as a tensor program (the graphical notation of Yang and
    Littwin 2021, simplified): vectors are circles, each multiplication by a Gaussian matrix is a
    square on an edge (one colour per matrix: the tied W appears at every step), nonlinearities are
    plain edges; the backward program below runs right to left and uses W^T (dashed squares), which
    the gradient-independence assumption treats as a fresh matrix.

    Args:
        ax: axes to draw on (a new 11.5 x 4.6 figure when None).  n_steps: time steps drawn.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.plot_tensor_program(n_steps=2)
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
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", lw=1.0, color="0.25", shrinkA=12, shrinkB=12))
        mx, my = (x0 + x1) / 2 + lx, (y0 + y1) / 2 + ly
        if mat is not None:
            ax.add_patch(FancyBboxPatch((mx - 0.2, my - 0.2), 0.4, 0.4, boxstyle="square,pad=0",
                                        facecolor=mat_col[mat.rstrip("T").rstrip("^")] if not dashed else "white",
                                        edgecolor=mat_col[mat.rstrip("T").rstrip("^")], lw=1.5,
                                        ls="--" if dashed else "-", zorder=5))
            ax.text(mx, my, mat if not dashed else mat.replace("^T", "$^\\top$"), ha="center", va="center",
                    fontsize=7.5, color="white" if not dashed else mat_col[mat.rstrip("T").rstrip("^")],
                    zorder=6, fontweight="bold")
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
        ax.annotate("", xy=(xp, y_h + 0.28), xytext=(x + 1.6, y_h + 0.3),
                    arrowprops=dict(arrowstyle="-|>", lw=0.6, color="0.6", shrinkA=10, shrinkB=8,
                                    connectionstyle="arc3,rad=-0.18"))
    ax.text(xp, y_h + 0.5, "mean over t", ha="center", fontsize=7.5, color="0.4")
    ax.text(xp + 0.75, y_h - 0.02, r"$f = v^\top \bar h / \sqrt{n}$", ha="left", va="center", fontsize=9,
            color=COLORS[1])
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
        ax.annotate("", xy=(x + 1.6, y_b - 0.28), xytext=(xp, y_b - 0.3),
                    arrowprops=dict(arrowstyle="-|>", lw=0.6, color="0.6", shrinkA=8, shrinkB=10,
                                    connectionstyle="arc3,rad=-0.18"))
    ax.text(-0.55, y_b, "backward", fontsize=9, fontweight="bold", rotation=90, va="center")

    notes = [r"each circle: a vector of $n$ coordinates $\to$ i.i.d. copies of one random variable $Z$",
             r"square: multiplication by a Gaussian matrix $\to$ a fresh Gaussian $Z$, covariance $E[Z^h Z^{h'}]$; "
             r"the same $W$ at every step $\Rightarrow$ shared (cross-time) covariances",
             r"dashed $W^\top$: independent of $W$ in the limit (readout $v$ Gaussian, used once)",
             r"NTK $= \sum_{\mathrm{uses}\,s,s'}$ E[backward Z Z'] $\times$ E[forward Z Z']  for every matrix"]
    for i, s in enumerate(notes):
        ax.text(-0.4, -2.3 - 0.36 * i, s, fontsize=8.3, va="center")
    return ax.figure


def plot_sgd_trajectories(results: dict, *, point=0, widths=None, axes=None, title_suffix=""):
    """For each architecture {name: SGDComparison}: the output at one tracked input (point: an index
    into the tracked inputs, or {name: index}) during training,
    network (solid) against kernel gradient descent with the infinite-width NTK (dashed), at the
    smallest and largest width (or the given widths).

    Args:
        results: {name: nk.SGDComparison}.  point: tracked-input index, or {name: index}.
        widths: widths to draw (default smallest and largest).  axes: one axis per architecture.
        title_suffix: appended to each panel title.
    Returns:
        the matplotlib Figure.
    Example:
        >>> a = nk.architecture("ResNet"); X = a.inputs(6); Y = nk.regression_targets(X)
        >>> r = nk.sgd_vs_kernel(a, X, Y, None, [32], range(1), lr=0.05, batch_size=2, steps=3, progress=False)
        >>> fig = nk.plotting.plot_sgd_trajectories({"ResNet": r}, point=0)
        >>> fig.axes[0].get_title(), fig.axes[0].get_ylabel()
        ('ResNet', 'f(training input 0)')
    """
    n = len(results)
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(3.5 * n, 3.0), squeeze=False)
        axes = axes[0]
    for ax, (name, res) in zip(axes, results.items()):
        pt = point[name] if isinstance(point, dict) else point
        ws = widths or [int(res.widths[0]), int(res.widths[-1])]
        for i, w in enumerate(ws):
            col = COLORS[(2 * i) % len(COLORS)]
            ax.plot(res.steps, to_numpy(res.f_net[w][:, pt]), color=col, lw=1.5, label=f"SGD, width {w}")
            ax.plot(res.steps, to_numpy(res.f_kernel[w][:, pt]), color=col, lw=1.3, ls="--")
        if pt < res.n_train:
            ax.axhline(float(res.Y[pt]), color="0.5", lw=0.8, ls=":")
        ax.plot([], [], "k--", lw=1.2, label=r"kernel GD, $\Theta_\infty$")
        ax.set_title(name + title_suffix)
        ax.set_xlabel("SGD step")
        where = f"training input {pt}" if pt < res.n_train else f"test input {pt - res.n_train}"
        ax.set_ylabel(f"f({where})")
        ax.legend(fontsize=6.5)
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_parameter_shares(widths, shares: dict, *, ax=None, reference_slope=-1.0):
    """Share of chosen parameters in the empirical NTK against width, log-log, with fitted slopes and
    a reference line width^reference_slope; shares {label: (W,) or (W, seeds)} (seeds are averaged).

    Args:
        widths: (W,).  shares: curves.  ax: axis (new figure when None).  reference_slope: of the dashed line.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.plot_parameter_shares([64, 256], {"W_q, W_k": [1e-3, 2.5e-4]})
    """
    ys = {k: np.asarray(to_numpy(v)).reshape(len(widths), -1).mean(1) for k, v in shares.items()}
    return plot_width_sweep(widths, ys, ax=ax, reference_slope=reference_slope, ylabel="share of the NTK")


def plot_width_sweep(widths, ys: dict, *, ax=None, reference_slope=-0.5, ylabel="", title=None, legend_loc="best",
                     size=(5.6, 4.0)):
    """`plot_loglog` of curves {label: y} against width, with the widths themselves as x tick labels
    (powers of two, no overlapping minor labels) and the legend where asked.

    Args:
        widths: (W,).  ys: {label: (W,) values}.  ax: axis (new figure of `size` when None).
        reference_slope: dashed width^slope line.  ylabel, title, legend_loc: as in matplotlib.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.plot_width_sweep([64, 256], {"deviation": [0.2, 0.1]})
    """
    from matplotlib.ticker import NullFormatter

    ax = _tp_axes(ax, size)
    plot_loglog(widths, ys, ax=ax, reference_slope=reference_slope, ylabel=ylabel, title=title)
    w = [int(v) for v in widths]
    ax.set_xticks(w, [str(v) for v in w])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(loc=legend_loc, fontsize=7)
    return ax.figure


# ---- notebook 06: deconvolutional generators, checkerboards, GANs -----------------------------------
__all__ += ["plot_image_grid", "plot_checkerboard_bounds", "plot_share_vs_r", "plot_eigen_images",
            "plot_mode_coverage", "plot_ring_samples", "plot_checkerboard_scores"]


def _blank(ax):
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def plot_image_grid(rows: dict, *, cmap="RdBu_r", symmetric=True, vmin=None, vmax=None, size=1.45, titles=None,
                    row_pad=1.2):
    """A grid of images: {row label: list of 2-D arrays (1-D signals are drawn as a strip)}.

    Each image has its own colour scale (symmetric about 0 when `symmetric`) unless vmin/vmax fix a
    shared one; `titles` is an optional {row label: list of per-image titles}.

    Args:
        rows: {row label: list of images, each (S, S) or (S,)}.  cmap: colour map.
        symmetric: each image's own scale symmetric about 0.  vmin, vmax: one shared scale (with a
            colour bar when both are given).  size: inches per panel.
        titles: optional {row label: list of per-image titles}.  row_pad: extra width for the row labels.
    Returns:
        the matplotlib Figure.
    Example:
        >>> K = nk.deconv_ntk(nk.data.sphere(1, 4), depth=3, activation=nk.standardized("erf"), beta=0.5)[0, 0]
        >>> lam, imgs = nk.eigen_images(K, 8, k=3)           # 1-D generator: 2^3 pixels
        >>> len(nk.plotting.plot_image_grid({"top eigenvectors": list(imgs)}).axes)
        3
    """
    n_rows = len(rows)
    n_cols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols + row_pad, size * n_rows + 0.3),
                             squeeze=False)
    for i, (label, imgs) in enumerate(rows.items()):
        for j in range(n_cols):
            ax = axes[i, j]
            _blank(ax)
            if j >= len(imgs):
                ax.axis("off")
                continue
            a = to_numpy(imgs[j]).astype(float)
            a = a[None, :] if a.ndim == 1 else a
            if vmin is not None or vmax is not None:
                kw = dict(vmin=vmin, vmax=vmax)
            elif symmetric:
                lim = np.abs(a).max() or 1.0
                kw = dict(vmin=-lim, vmax=lim)
            else:
                kw = {}
            im = ax.imshow(a, cmap=cmap, interpolation="nearest", aspect="auto" if a.shape[0] == 1 else "equal",
                           **kw)
            if titles is not None and j < len(titles.get(label, [])):
                ax.set_title(titles[label][j], fontsize=7)
        axes[i, 0].set_ylabel(label, fontsize=8)
    fig.tight_layout()
    if vmin is not None and vmax is not None:          # a shared scale deserves a colour bar
        fig.colorbar(im, ax=list(axes.ravel()), shrink=0.6, pad=0.02)
    return fig


def plot_checkerboard_bounds(results: dict, *, axes=None, size=(3.3, 3.0)):
    """One panel per regime: the ratio Theta_{p,p'}(x, y)/Theta_{p,p}(x, x) of every pixel pair against its v
    (each distinct value drawn once, marker area growing with the number of pairs), with the upper bound
    (1 - r^(v+1))/(1 - r^L) and, where given, the lower bound (1 - r^(v+1))/(1 - r^L) - C1 (v+1) r^v
    (the freeze theorem for deconvolutional generators, CONVENTIONS.md §1).

    Args:
        results: {title: dict(v=(n,), ratio=(n,), depth=L, r=r, c1=None or C1)}, with v from
            `nk.checkerboard_v` and C1 e.g. from `nk.fit_c1`.
        axes: one axis per regime (a new row of panels when None).  size: inches per panel.
    Returns:
        the matplotlib Figure.
    Example:
        >>> act = nk.standardized("erf"); r = nk.r_value(act, 0.5); v = nk.checkerboard_v(3)
        >>> K = nk.deconv_ntk(nk.data.sphere(1, 4), depth=3, activation=act, beta=0.5)[0, 0]
        >>> ratio = K / K.diagonal()[:, None]                 # Theta_{p,p'}(x, x) / Theta_{p,p}(x, x)
        >>> fig = nk.plotting.plot_checkerboard_bounds(
        ...     {"freeze": dict(v=v, ratio=ratio, depth=3, r=r, c1=nk.fit_c1(ratio, v, r, 3))})
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ['64 pixel pairs', 'upper bound', 'lower bound, $C_1$=0.27']
    """
    from .deconv import checkerboard_lower_bound, checkerboard_upper_bound

    n = len(results)
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(size[0] * n, size[1]), squeeze=False)
        axes = axes[0]
    for i, (ax, (title, d)) in enumerate(zip(axes, results.items())):
        v = to_numpy(d["v"]).astype(float).ravel()
        ratio = to_numpy(d["ratio"]).astype(float).ravel()
        L, r = d["depth"], d["r"]
        # the ratio takes few distinct values per v: draw each once, its area growing with its pair count
        pts, counts = np.unique(np.stack([v, np.round(ratio, 6)], 1), axis=0, return_counts=True)
        ax.scatter(pts[:, 0], pts[:, 1], s=8 + 6 * np.log10(counts), alpha=0.6, color=COLORS[i % len(COLORS)],
                   label=f"{v.size} pixel pairs")
        grid = np.arange(L)
        ax.plot(grid, to_numpy(checkerboard_upper_bound(r, grid, L)), "k-", marker="_", ms=14, lw=1,
                label="upper bound")
        if d.get("c1") is not None:
            lo = to_numpy(checkerboard_lower_bound(r, grid, L, d["c1"]))
            ax.plot(grid, lo, "k--", marker="_", ms=14, lw=1, label=f"lower bound, $C_1$={d['c1']:.2f}")
        ax.set_xlabel("v  (largest power of s dividing p - p')")
        ax.set_title(f"{title}  (r = {r:.3f})")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel(r"$\Theta_{p,p'}(x,y)\,/\,\Theta_{p,p}(x,x)$")
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_share_vs_r(r, enrichment: dict, *, ax=None, marks: dict | None = None):
    """Checkerboard enrichment (share of the kernel's non-constant mass at the stride frequencies, over
    the share of a kernel with no preferred pattern) against r, one curve per label, with the edge
    r = 1 and optional marked points {label: (r, value)}.

    enrichment = share(K) / ((s^dim - 1) / (size^dim - 1)) with share from `nk.checkerboard_share`;
    1 means no preferred pattern.  r = (1 - beta^2) E[sigma'(z)^2].

    Args:
        r: (R,) values of r.  enrichment: {label: (R,) positive values}.  ax: axis (new figure when None).
        marks: optional {label: (r, value)} points to annotate.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.plot_share_vs_r([0.5, 1.0, 1.5], {"L = 4": [3.0, 1.5, 1.0]}, marks={"DCGAN": (0.5, 3.0)})
        >>> fig.axes[0].get_ylabel()
        'checkerboard enrichment'
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.4, 3.3))
    r = to_numpy(r).astype(float)
    for i, (label, y) in enumerate(enrichment.items()):
        ax.plot(r, to_numpy(y), "o-", ms=3.5, color=COLORS[i % len(COLORS)], label=label)
    ax.axvline(1.0, color="k", lw=1, ls=":")
    ax.axhline(1.0, color="0.5", lw=1, ls="--")
    for label, (rx, y) in (marks or {}).items():
        ax.annotate(label, (rx, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
        ax.plot([rx], [y], "k*", ms=8)
    ax.set_yscale("log")
    ax.set_xlabel("r = (1 - beta^2) E[sigma'(z)^2]")
    ax.set_ylabel("checkerboard enrichment")
    ax.text(0.02, 0.12, "freeze  r < 1", transform=ax.transAxes, fontsize=8)
    ax.text(0.98, 0.9, "chaos  r > 1", transform=ax.transAxes, fontsize=8, ha="right")
    ax.legend(fontsize=7, loc="center right")
    return ax.figure


def plot_eigen_images(eigs: dict, *, size=1.45):
    """Rows of top eigen-images of pixel kernels: {row label: (eigenvalues (k,), images (k, S, S))},
    each titled with its eigenvalue.

    Args:
        eigs: {row label: (eigenvalues (k,), images (k, S, S) or (k, S))}, e.g. from `nk.eigen_images`.
        size: inches per panel.
    Returns:
        the matplotlib Figure.
    Example:
        >>> K = nk.deconv_ntk(nk.data.sphere(1, 4), depth=2, dim=2, activation=nk.standardized("erf"), beta=0.5)[0, 0]
        >>> lam, imgs = nk.eigen_images(K, 4, dim=2, k=3)     # 2-D generator: 4 x 4 pixels
        >>> len(nk.plotting.plot_eigen_images({"freeze": (lam, imgs)}).axes)
        3
    """
    rows = {label: list(imgs) for label, (lam, imgs) in eigs.items()}
    titles = {label: [f"$\\lambda$={float(v):.3g}" for v in to_numpy(lam)] for label, (lam, _) in eigs.items()}
    return plot_image_grid(rows, titles=titles, size=size, row_pad=1.6)


def plot_mode_coverage(steps, covered: dict, good: dict, *, axes=None, modes=8):
    """Modes covered and share of good samples against training step: {label: (T, seeds)} arrays, the
    mean over seeds as a line and the range over seeds as a band.

    Args:
        steps: (T,) training steps.  covered: {label: (T, seeds) number of modes covered}.
        good: {label: (T, seeds) share of good samples}.  axes: two axes (a new figure when None).
        modes: number of modes of the mixture (sets the y range).
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.plot_mode_coverage([0, 10, 20], {"freeze": [[1, 1], [2, 1], [2, 3]]},
        ...                                      {"freeze": [[0.1, 0.2], [0.5, 0.4], [0.8, 0.9]]})
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['modes covered (of 8)', 'share of good samples']
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9.0, 3.2))
    steps = to_numpy(steps)
    panels = ((axes[0], covered, f"modes covered (of {modes})"), (axes[1], good, "share of good samples"))
    for ax, data, ylabel in panels:
        for i, (label, y) in enumerate(data.items()):
            y, c = to_numpy(y).astype(float), COLORS[i % len(COLORS)]
            ax.plot(steps, y.mean(1), "-", color=c, label=label)
            ax.fill_between(steps, y.min(1), y.max(1), color=c, alpha=0.18, lw=0)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
    axes[0].set_ylim(-0.3, modes + 0.3)
    axes[1].set_ylim(-0.03, 1.03)
    axes[0].legend(fontsize=8)
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_ring_samples(samples: dict, centres, *, ncols=None, lim=3.0, size=2.4):
    """Scatter plots of generated 2-D samples {title: (n, 2)} with the mixture's centres (crosses),
    `ncols` panels per row.

    Args:
        samples: {title: (n, 2) samples}.  centres: (K, 2) centres of the mixture.
        ncols: panels per row (default: all in one row).  lim: axes run over [-lim, lim].
        size: inches per panel.
    Returns:
        the matplotlib Figure.
    Example:
        >>> g = torch.Generator().manual_seed(0); c = torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
        >>> s = {"two modes": c[torch.randint(2, (100,), generator=g)] + 0.1 * torch.randn(100, 2, generator=g),
        ...      "noise": torch.randn(100, 2, generator=g)}
        >>> [ax.get_title() for ax in nk.plotting.plot_ring_samples(s, c).axes]
        ['two modes', 'noise']
    """
    n = len(samples)
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    c = to_numpy(centres)
    for i, (ax, (title, s)) in enumerate(zip(axes.ravel(), samples.items())):
        s = to_numpy(s)
        ax.plot(s[:, 0], s[:, 1], ".", ms=2, alpha=0.5, color=COLORS[(i % ncols) % len(COLORS)])
        ax.plot(c[:, 0], c[:, 1], "kx", ms=5)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_checkerboard_scores(steps, scores: dict, *, real=None, ax=None):
    """Checkerboard score of generated images against training step: {label: (T, seeds)}, the mean
    over seeds as a line and each seed faintly; `real` draws the data set's own score.

    The score (`checkerboard_score` in ntklib.gan) is the share of an image's non-constant spectral
    power at the stride frequencies: ~0 for a smooth image, 1 for a pure checkerboard.

    Args:
        steps: (T,) training steps.  scores: {label: (T, seeds) or (T,) scores}.
        real: optional score of the real data (a dotted line).  ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.plot_checkerboard_scores([0, 10, 20], {"freeze": [[0.3, 0.2], [0.5, 0.4], [0.6, 0.7]]},
        ...                                            real=0.01)
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ['freeze', 'real digits']
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 3.3))
    steps = to_numpy(steps)
    for i, (label, y) in enumerate(scores.items()):
        y = to_numpy(y).astype(float).reshape(len(steps), -1)
        c = COLORS[i % len(COLORS)]
        ax.plot(steps, y, "-", color=c, alpha=0.25, lw=0.8)
        ax.plot(steps, y.mean(1), "o-", ms=3, color=c, label=label)
    if real is not None:
        ax.axhline(real, color="k", ls=":", lw=1, label="real digits")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("checkerboard score")
    ax.legend(fontsize=8)
    return ax.figure
