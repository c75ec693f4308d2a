"""Pictures of notebooks 04 and 05 (freeze and chaos, normalisation; numbers from ntklib.phases):
r curves and phase maps, Gram ratios, the freeze bound, training losses, diagonal drift, spectra,
the Poincare bars.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..stats import to_numpy
from .common import _ax, _many_colors
from .style import COLORS, PHASE_COLORS

__all__ = [
    "plot_r_curves",
    "plot_phase_map",
    "plot_gain_diagram",
    "plot_gram_grid",
    "plot_freeze_bound",
    "plot_training_losses",
    "plot_diagonal_drift",
    "plot_spectra",
    "plot_poincare",
]


def plot_r_curves(diagram: dict, *, ax=None, standardised_only=False):
    """r(sigma, beta) = (1 - beta^2) E[sigma'(z)^2] against beta for each nonlinearity of
    `phases.phase_diagram`, with the edge r = 1 between the freeze (r < 1) and the chaos (r > 1);
    nonlinearities with E sigma^2 != 1 (outside the theorem's hypothesis) are dashed.

    Args:
        diagram: the dict of `nk.phases.phase_diagram`.  ax: axis (new figure when None).
        standardised_only: leave out the nonlinearities with E sigma^2 != 1.
    Returns:
        the matplotlib Figure.
    Example:
        >>> d = nk.phases.phase_diagram(["sqrt2*relu", "normalized(relu)", "relu"], [0.0, 0.5, 0.9])
        >>> fig = nk.plotting.phases.plot_r_curves(d)
        >>> print(*[t.get_text() for t in fig.axes[0].get_legend().get_texts()], sep=" | ")
        sqrt2*relu | normalized(relu) | relu ($E\\sigma^2\\neq1$)
    """
    ax = _ax(ax)
    b = diagram["betas"]
    cols = _many_colors(len(diagram["names"]))
    for i, name in enumerate(diagram["names"]):
        std = abs(diagram["second_moment"][i] - 1.0) < 1e-9
        if standardised_only and not std:
            continue
        ax.plot(
            b,
            diagram["r"][i],
            ls="-" if std else "--",
            color=cols[i],
            lw=1.4,
            label=name + ("" if std else r" ($E\sigma^2\neq1$)"),
        )
    ax.axhline(1.0, color="k", lw=1)
    top = max(1.05, float(np.nanmax(diagram["r"]))) * 1.04
    ax.axhspan(0, 1, color=PHASE_COLORS["freeze"], alpha=0.06)
    ax.axhspan(1, top, color=PHASE_COLORS["chaos"], alpha=0.06)
    ax.text(
        0.98,
        0.60,
        "FREEZE  r < 1",
        transform=ax.transAxes,
        color=PHASE_COLORS["freeze"],
        ha="right",
    )
    ax.text(
        0.98,
        0.95,
        "CHAOS  r > 1",
        transform=ax.transAxes,
        color=PHASE_COLORS["chaos"],
        ha="right",
        va="top",
    )
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$r(\sigma,\beta)=(1-\beta^2)\,E[\sigma'(z)^2]$")
    ax.set_ylim(0, top)
    ax.legend(
        fontsize=5.8, loc="lower left", ncol=2, handlelength=1.6, columnspacing=0.8, framealpha=0.9
    )
    return ax.figure


def _log2r_mesh(ax, x, y, r, clip):
    """log2 r clipped to [-clip, clip] as a pcolormesh on a diverging scale centred on r = 1."""
    from matplotlib.colors import TwoSlopeNorm

    with np.errstate(divide="ignore"):
        lr = np.clip(np.log2(np.asarray(r, dtype=float)), -clip, clip)
    lim = max(1e-3, float(np.abs(lr).max()))
    return ax.pcolormesh(
        x, y, lr, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -lim, lim), shading="nearest"
    )


def plot_phase_map(diagram: dict, *, ax=None, clip=1.0):
    """The phase diagram over (beta, nonlinearity): log2 r on a diverging scale (blue freeze, red
    chaos, clipped to [-clip, clip]; r = 0 at beta = 1) with the edge r = 1 drawn through each row's
    edge beta.

    r = (1 - beta^2) E[sigma'(z)^2], from `nk.phases.phase_diagram`.

    Args:
        diagram: the dict of `nk.phases.phase_diagram`.  ax: axis (new figure when None).
        clip: log2 r is clipped to [-clip, clip].
    Returns:
        the matplotlib Figure.
    Example:
        >>> d = nk.phases.phase_diagram(["sqrt2*relu", "normalized(relu)"], [0.0, 0.5, 0.9])
        >>> len(nk.plotting.phases.plot_phase_map(d).axes)        # the map and its colour bar
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

    r = (1 - beta^2) E[sigma_g'(z)^2], from `nk.phases.gain_family_diagram`.

    Args:
        family: the dict of `nk.phases.gain_family_diagram`.  ax: axis (new figure when None).
        clip: log2 r is clipped to [-clip, clip].
    Returns:
        the matplotlib Figure.
    Example:
        >>> fam = nk.phases.gain_family_diagram("erf", [0.5, 1.0, 2.0], [0.0, 0.5, 0.9])
        >>> nk.plotting.phases.plot_gain_diagram(fam).axes[0].get_ylabel()
        'gain g'
    """
    ax = _ax(ax, (4.4, 3.4))
    im = _log2r_mesh(ax, family["betas"], family["gains"], family["r"], clip)
    ax.contour(
        family["betas"], family["gains"], family["r"], levels=[1.0], colors="k", linewidths=1.6
    )
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
        rows: {row label: {column title: (N, N) matrix}} (e.g. `nk.phases.gram_ratio` of each
            kernel).
        cmap: colour map.  vmin, vmax: the shared scale (default [-1, 1], the range of Gram ratios).
    Returns:
        the matplotlib Figure.
    Example:
        >>> T = nk.phases.ntk_by_depth(nk.data.sphere(6, 3), [2, 8], activation="sqrt2*relu",
        ...                            beta=0.1)
        >>> fig = nk.plotting.phases.plot_gram_grid({"edge": {"L = 2": nk.phases.gram_ratio(T[0]),
        ...                                                   "L = 8": nk.phases.gram_ratio(T[1])}})
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


def plot_freeze_bound(results: list, *, axes=None):
    """Left: 1 - min Theta(x,y)/Theta(x,x) against depth with the bound C L r^L (C fitted on the
    shaded depths); right: the scaled gap (1 - min ratio)/(L r^L), bounded for smooth sigma, with
    each C.

    Args:
        results: list of dicts from `nk.phases.freeze_bound` (one per nonlinearity).
        axes: two axes (a new 9.2 x 3.4 figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> fb = nk.phases.freeze_bound(nk.data.sphere(5, 3), [2, 3, 4, 5, 6],
        ...                             activation="standardized(erf)", beta=0.5, fit_max=3)
        >>> len(nk.plotting.phases.plot_freeze_bound([fb]).axes)
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
    # the note on the dashed lines goes in a legend, not a title: a title collides with a suptitle
    axes[1].plot([], [], color="0.3", lw=0.8, ls="--", label="C fitted on the shaded depths")
    axes[1].legend(handles=axes[1].get_lines()[-1:], fontsize=7, loc="upper left")
    axes[0].legend(fontsize=7)
    return axes[0].figure


def plot_training_losses(speed: dict, *, ax=None, rel_target=None, colors: dict | None = None):
    """Relative loss against gradient-descent steps per regime: theory (linearised model, solid) and
    the finite network (dashed), from `phases.training_speed`.

    Args:
        speed: the dict of `nk.phases.training_speed` ({label: dict with loss_theory and
            loss_network}).
        ax: axis (new figure when None).  rel_target: draws the target level (and sets the y range).
        colors: optional {label: colour}.
    Returns:
        the matplotlib Figure.
    Example:
        >>> X = nk.data.sphere(4, 3)
        >>> regimes = {"freeze": ("standardized(erf)", 0.8), "chaos": ("normalized(erf)", 0.1)}
        >>> s = nk.phases.training_speed(X, X[:, 0], regimes, depth=3, width=32, rel_target=0.1,
        ...                              max_steps=10)
        >>> # 2 x 2 curves, the target
        >>> len(nk.plotting.phases.plot_training_losses(s, rel_target=0.1).axes[0].lines)
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
    optional finite-network markers {name: values (L,)}; the line Sigma = 1 is the standardised
    case.

    Args:
        profiles: list of dicts from `nk.phases.diagonal_profile`.
        empirical: optional {profile name: (L,) values}, e.g. from
            `nk.phases.empirical_diagonal_profile`.
        ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> p = [nk.phases.diagonal_profile("sqrt2*relu", 0.1, 4),
        ...      nk.phases.diagonal_profile("mean_one(relu)", 0.1, 4)]
        >>> fig = nk.plotting.phases.plot_diagonal_drift(
        ...     p, empirical={"mean_one(relu)": [1.0, 3.0, 9.5, 29.0]})
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
        >>> m = nk.phases.constant_mode(nk.ntk(nk.data.sphere(6, 3), depth=3))
        >>> fig = nk.plotting.phases.plot_spectra({"Theta_inf": m["eigenvalues"]},
        ...                                       marks={"Theta_inf": m["rayleigh"]})
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
        rows: list of dicts from `nk.phases.poincare_table` (keys name and poincare).  ax: axis (new
            figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.phases.plot_poincare(nk.phases.poincare_table(["relu", "identity"]))
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
