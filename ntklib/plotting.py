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
    """Apply the project's matplotlib style (inline figures stay PNG)."""
    plt.rcParams.update(STYLE)
    try:  # in a notebook: PNG only, so nbval has nothing volatile to compare
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("png")
    except Exception:  # noqa: BLE001 - not in IPython
        pass


def figure_dir() -> Path:
    env = os.environ.get("NTKLIB_FIGURES")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    if (repo / "notebooks").is_dir():
        return repo / "figures"
    return Path.cwd() / "figures"


def save(fig, name: str, directory=None):
    """Write `fig` to DIR/NAME.png and DIR/NAME.pdf, atomically and byte-stably; returns the paths."""
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
    dashed reference line x^reference_slope through the first curve's first point."""
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
    """Normal QQ plot of standardised samples against N(0, 1) quantiles, with the diagonal."""
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
    """Side-by-side images of matrices {title: M} on a shared colour scale."""
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

    gamma: (A,) angles; theory: (A,) the limit kernel; snapshots: {label: (K0, KT)} with K0, KT of shape
    (seeds, A) - thin solid lines at t = 0, dashed after training, one colour per label.
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


# ---- convergence: function-space dynamics, eigendirections, NTK PCA (notebook 03; numbers from
# ntklib.dynamics) ---------------------------------------------------------------------------------

__all__ += ["plot_function_dynamics", "plot_mode_decay", "plot_valley", "plot_pca_scatter",
            "plot_curves"]


def plot_function_dynamics(gamma, f_net, f_theory, times, *, gamma_train=None, y_train=None, target=None,
                           ax=None):
    """A network's outputs along a curve of inputs (angle gamma) at a few times (solid) beside the
    infinite-width prediction (dashed, same colour); training targets as black dots, the target
    function as a thin grey line.  f_net, f_theory: {time: (A,) array}; times: the keys to draw."""
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
    """|c_i(t) / c_i(0)| of each eigendirection (markers) against exp(-rate_i t) (lines), log scale."""
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
    narrow_valley`): filled contours of the real loss, dashed contours of the second-order model."""
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
    """Kernel principal coordinates sqrt(lam_i) v_i of each input, coloured by its label (NTK PCA)."""
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
    """Plain curves {label: y} against x (optionally log y), one colour each; styles {label: kwargs}."""
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
