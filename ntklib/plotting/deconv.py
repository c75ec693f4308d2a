"""Pictures of notebook 06 (deconvolutional generators, checkerboards, GANs; numbers from
ntklib.deconv and ntklib.gan): image grids, the checkerboard bounds, enrichment against r,
eigen-images, mode coverage, ring samples, checkerboard scores, overlapping filters and borders.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..stats import to_numpy
from .style import COLORS, LINESTYLES, MARKERS

__all__ = [
    "plot_image_grid",
    "plot_checkerboard_bounds",
    "plot_share_vs_r",
    "plot_eigen_images",
    "plot_mode_coverage",
    "plot_ring_samples",
    "plot_checkerboard_scores",
    "plot_overlap_borders",
]


def _blank(ax):
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def plot_image_grid(
    rows: dict,
    *,
    cmap="RdBu_r",
    symmetric=True,
    vmin=None,
    vmax=None,
    size=1.45,
    titles=None,
    row_pad=1.2,
):
    """A grid of images: {row label: list of 2-D arrays (1-D signals are drawn as a strip)}.

    Each image has its own colour scale (symmetric about 0 when `symmetric`) unless vmin/vmax fix a
    shared one; `titles` is an optional {row label: list of per-image titles}.

    Args:
        rows: {row label: list of images, each (S, S) or (S,)}.  cmap: colour map.
        symmetric: each image's own scale symmetric about 0.  vmin, vmax: one shared scale (with a
            colour bar when both are given).  size: inches per panel.
        titles: optional {row label: list of per-image titles}.  row_pad: extra width for the row
            labels.
    Returns:
        the matplotlib Figure.
    Example:
        >>> K = nk.deconv.deconv_ntk(nk.data.sphere(1, 4), depth=3,
        ...                          activation=nk.standardized("erf"), beta=0.5)[0, 0]
        >>> lam, imgs = nk.deconv.eigen_images(K, 8, k=3)           # 1-D generator: 2^3 pixels
        >>> len(nk.plotting.deconv.plot_image_grid({"top eigenvectors": list(imgs)}).axes)
        3
    """
    n_rows = len(rows)
    n_cols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(size * n_cols + row_pad, size * n_rows + 0.3), squeeze=False
    )
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
            im = ax.imshow(
                a,
                cmap=cmap,
                interpolation="nearest",
                aspect="auto" if a.shape[0] == 1 else "equal",
                **kw,
            )
            if titles is not None and j < len(titles.get(label, [])):
                ax.set_title(titles[label][j], fontsize=7)
        axes[i, 0].set_ylabel(label, fontsize=8)
    fig.tight_layout()
    if vmin is not None and vmax is not None:  # a shared scale deserves a colour bar
        fig.colorbar(im, ax=list(axes.ravel()), shrink=0.6, pad=0.02)
    return fig


def plot_checkerboard_bounds(results: dict, *, axes=None, size=(3.3, 3.0)):
    """One panel per regime: the ratio Theta_{p,p'}(x, y)/Theta_{p,p}(x, x) of every pixel pair
    against its v (each distinct value drawn once, marker area growing with the number of pairs),
    with the upper bound (1 - r^(v+1))/(1 - r^L) and, where given, the lower bound
    (1 - r^(v+1))/(1 - r^L) - C1 (v+1) r^v (the freeze theorem for deconvolutional generators,
    CONVENTIONS.md §1).

    Args:
        results: {title: dict(v=(n,), ratio=(n,), depth=L, r=r, c1=None or C1)}, with v from
            `nk.deconv.checkerboard_v` and C1 e.g. from `nk.deconv.fit_c1`.
        axes: one axis per regime (a new row of panels when None).  size: inches per panel.
    Returns:
        the matplotlib Figure.
    Example:
        >>> act = nk.standardized("erf"); r = nk.r_value(act, 0.5); v = nk.deconv.checkerboard_v(3)
        >>> K = nk.deconv.deconv_ntk(nk.data.sphere(1, 4), depth=3, activation=act, beta=0.5)[0, 0]
        >>> ratio = K / K.diagonal()[:, None]  # Theta_{p,p'}(x, x) / Theta_{p,p}(x, x)
        >>> fig = nk.plotting.deconv.plot_checkerboard_bounds(
        ...     {"freeze": dict(v=v, ratio=ratio, depth=3, r=r,
        ...                     c1=nk.deconv.fit_c1(ratio, v, r, 3))})
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ['64 pixel pairs', 'upper bound', 'lower bound, $C_1$=0.27']
    """
    from ..deconv import checkerboard_lower_bound, checkerboard_upper_bound

    n = len(results)
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(size[0] * n, size[1]), squeeze=False)
        axes = axes[0]
    for i, (ax, (title, d)) in enumerate(zip(axes, results.items())):
        v = to_numpy(d["v"]).astype(float).ravel()
        ratio = to_numpy(d["ratio"]).astype(float).ravel()
        L, r = d["depth"], d["r"]
        # the ratio takes few distinct values per v: draw each once, its area growing with its pair
        # count
        pts, counts = np.unique(np.stack([v, np.round(ratio, 6)], 1), axis=0, return_counts=True)
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=8 + 6 * np.log10(counts),
            alpha=0.6,
            color=COLORS[i % len(COLORS)],
            label=f"{v.size} pixel pairs",
        )
        grid = np.arange(L)
        ax.plot(
            grid,
            to_numpy(checkerboard_upper_bound(r, grid, L)),
            "k-",
            marker="_",
            ms=14,
            lw=1,
            label="upper bound",
        )
        if d.get("c1") is not None:
            lo = to_numpy(checkerboard_lower_bound(r, grid, L, d["c1"]))
            ax.plot(
                grid, lo, "k--", marker="_", ms=14, lw=1, label=f"lower bound, $C_1$={d['c1']:.2f}"
            )
        ax.set_xlabel("v  (largest power of s dividing p - p')")
        ax.set_title(f"{title}  (r = {r:.3f})")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel(r"$\Theta_{p,p'}(x,y)\,/\,\Theta_{p,p}(x,x)$")
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_share_vs_r(r, enrichment: dict, *, ax=None, marks: dict | None = None):
    """Checkerboard enrichment (share of the kernel's non-constant mass at the stride frequencies,
    over the share of a kernel with no preferred pattern) against r, one curve per label, with the
    edge r = 1 and optional marked points {label: (r, value)}.

    enrichment = share(K) / ((s^dim - 1) / (size^dim - 1)) with share from
    `nk.deconv.checkerboard_share`; 1 means no preferred pattern.  r = (1 - beta^2) E[sigma'(z)^2].

    Args:
        r: (R,) values of r.  enrichment: {label: (R,) positive values}.  ax: axis (new figure when
            None).
        marks: optional {label: (r, value)} points to annotate.
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.deconv.plot_share_vs_r([0.5, 1.0, 1.5], {"L = 4": [3.0, 1.5, 1.0]},
        ...                                          marks={"DCGAN": (0.5, 3.0)})
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
    ax.set_xlabel(r"$r=(1-\beta^2)\,\mathbb{E}[\sigma'(z)^2]$")
    ax.set_ylabel("checkerboard enrichment")
    ax.text(0.02, 0.12, "freeze  r < 1", transform=ax.transAxes, fontsize=8)
    ax.text(0.98, 0.9, "chaos  r > 1", transform=ax.transAxes, fontsize=8, ha="right")
    ax.legend(fontsize=7, loc="center right")
    return ax.figure


def plot_eigen_images(eigs: dict, *, size=1.45):
    """Rows of top eigen-images of pixel kernels: {row label: (eigenvalues (k,), images (k, S, S))},
    each titled with its eigenvalue.

    Args:
        eigs: {row label: (eigenvalues (k,), images (k, S, S) or (k, S))}, e.g. from
            `nk.deconv.eigen_images`.
        size: inches per panel.
    Returns:
        the matplotlib Figure.
    Example:
        >>> K = nk.deconv.deconv_ntk(nk.data.sphere(1, 4), depth=2, dim=2,
        ...                          activation=nk.standardized("erf"), beta=0.5)[0, 0]
        >>> lam, imgs = nk.deconv.eigen_images(K, 4, dim=2, k=3)     # 2-D generator: 4 x 4 pixels
        >>> len(nk.plotting.deconv.plot_eigen_images({"freeze": (lam, imgs)}).axes)
        3
    """
    rows = {label: list(imgs) for label, (lam, imgs) in eigs.items()}
    titles = {
        label: [f"$\\lambda$={float(v):.3g}" for v in to_numpy(lam)]
        for label, (lam, _) in eigs.items()
    }
    return plot_image_grid(rows, titles=titles, size=size, row_pad=1.6)


def _seed_bands(ax, steps, data, ylabel):
    """{label: (T, seeds)} against steps: the mean over seeds as a line, the range as a band
    (NaN entries, e.g. a quantity undefined at step 0, are left out)."""
    steps = to_numpy(steps)
    for i, (label, y) in enumerate(data.items()):
        y, c = to_numpy(y).astype(float), COLORS[i % len(COLORS)]
        keep = np.isfinite(y).all(1)
        style = ("-", "--", ":", "-.")[i % 4]
        marker = ("o", "s", "^", "D")[i % 4]
        ax.plot(
            steps[keep],
            y[keep].mean(1),
            linestyle=style,
            marker=marker,
            ms=3.5,
            color=c,
            label=label,
        )
        ax.fill_between(steps[keep], y[keep].min(1), y[keep].max(1), color=c, alpha=0.18, lw=0)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)


def plot_common_start(steps_gd, shared: dict, steps_adam, covered: dict, *, modes=8):
    """Generators trained from the same initial samples (gan.CommonStart): (a) under gradient
    descent, the shared share of the samples' moves since initialisation (log scale); (b) under
    Adam, the modes covered.  Each a {label: (T, seeds)} array, mean over seeds as a line and
    range as a band.

    Args:
        steps_gd: (T,) steps of the gradient-descent runs.  shared: {label: (T, seeds)} shared
            share (gan.shared_share; NaN at step 0 is skipped).
        steps_adam: (T',) steps of the Adam runs.  covered: {label: (T', seeds)} modes covered.
        modes: number of modes of the mixture (sets the y range of (b)).
    Returns:
        the matplotlib Figure.
    Example:
        >>> nan = float("nan")
        >>> fig = nk.plotting.deconv.plot_common_start(
        ...     [0, 10, 20], {"freeze": [[nan, nan], [0.5, 0.4], [0.6, 0.5]]},
        ...     [0, 10], {"freeze": [[0, 0], [2, 3]]})
        >>> [ax.get_yscale() for ax in fig.axes]
        ['log', 'linear']
    """
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.2))
    _seed_bands(axes[0], steps_gd, shared, "shared share of the moves")
    axes[0].set_yscale("log")
    axes[0].set_title("(a) gradient descent", fontsize=9)
    _seed_bands(axes[1], steps_adam, covered, f"modes covered (of {modes})")
    axes[1].set_ylim(-0.3, modes + 0.3)
    axes[1].set_title("(b) Adam", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_mode_coverage(steps, covered: dict, good: dict, *, axes=None, modes=8):
    """Modes covered and share of good samples against training step: {label: (T, seeds)} arrays,
    the mean over seeds as a line and the range over seeds as a band.

    Args:
        steps: (T,) training steps.  covered: {label: (T, seeds) number of modes covered}.
        good: {label: (T, seeds) share of good samples}.  axes: two axes (a new figure when None).
        modes: number of modes of the mixture (sets the y range).
    Returns:
        the matplotlib Figure.
    Example:
        >>> fig = nk.plotting.deconv.plot_mode_coverage(
        ...     [0, 10, 20], {"freeze": [[1, 1], [2, 1], [2, 3]]},
        ...     {"freeze": [[0.1, 0.2], [0.5, 0.4], [0.8, 0.9]]})
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['modes covered (of 8)', 'share of good samples']
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9.0, 3.2))
    _seed_bands(axes[0], steps, covered, f"modes covered (of {modes})")
    _seed_bands(axes[1], steps, good, "share of good samples")
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
        >>> s = {"two modes": c[torch.randint(2, (100,), generator=g)]
        ...                   + 0.1 * torch.randn(100, 2, generator=g),
        ...      "noise": torch.randn(100, 2, generator=g)}
        >>> [ax.get_title() for ax in nk.plotting.deconv.plot_ring_samples(s, c).axes]
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
        >>> scores = {"freeze": [[0.3, 0.2], [0.5, 0.4], [0.6, 0.7]]}
        >>> fig = nk.plotting.deconv.plot_checkerboard_scores([0, 10, 20], scores, real=0.01)
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


def plot_overlap_borders(diagonals: dict, offsets, profiles: dict, *, log=(), size=3.1):
    """Pixel kernels of a generator with overlapping filters (e.g. DCGAN's kernel 4, stride 2,
    padding 1) against the tree (kernel = stride): the NTK diagonal across a 1-D image, and pixel
    correlations against the offset, one panel per group of curves.

    Args:
        diagonals: {label: (P,) Theta_pp(x, x) of a 1-D generator divided by the tree's, which is
            the same at every pixel (drawn as the dashed line at 1)}.
        offsets: (D,) pixel offsets d = p' - p.
        profiles: {panel title: {curve label: (D,) correlations at those offsets}}, e.g. the mean
            of Theta_pp' / sqrt(Theta_pp Theta_p'p') over interior pairs at offset d.
        log: titles of the profile panels drawn on a log scale.
        size: inches per panel.
    Returns:
        the matplotlib Figure.
    Example:
        >>> K = nk.deconv.deconv_ntk(nk.data.sphere(1, 4), depth=3, kernel_size=4, padding=1,
        ...                          activation=nk.normalized("tanh"), beta=0.7)[0, 0]  # 8 pixels
        >>> d = K.diagonal()
        >>> corr = K[0, 1:4] / (d[0] * d[1:4]).sqrt()
        >>> fig = nk.plotting.deconv.plot_overlap_borders(
        ...     {"freeze": d / d.max()}, [1, 2, 3], {"from pixel 0": {"overlap": corr}})
        >>> [ax.get_xlabel() for ax in fig.axes]
        ['pixel p', "offset p' - p"]
    """
    n = 1 + len(profiles)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 0.9), squeeze=False)
    axes = axes[0]
    ax = axes[0]
    for i, (label, d) in enumerate(diagonals.items()):
        d = to_numpy(d).astype(float)
        ax.plot(
            np.arange(d.size),
            d,
            marker=MARKERS[i % len(MARKERS)],
            ms=2.5,
            lw=1,
            color=COLORS[i % len(COLORS)],
            label=label,
        )
    ax.axhline(1.0, color="k", ls="--", lw=1, label="tree (every pixel)")
    ax.set_ylim(0.0, 1.15)
    ax.set_xlabel("pixel p")
    ax.set_ylabel(r"$\Theta_{pp}(x,x)$ / tree's")
    ax.set_title("NTK diagonal", fontsize=9)
    ax.legend(fontsize=7, loc="lower center")
    offsets = to_numpy(offsets).astype(float)
    for j, (ax, (title, curves)) in enumerate(zip(axes[1:], profiles.items())):
        for i, (label, y) in enumerate(curves.items()):
            ax.plot(
                offsets,
                to_numpy(y).astype(float),
                marker=MARKERS[i % len(MARKERS)],
                ls=LINESTYLES[i % len(LINESTYLES)],
                ms=3.5,
                lw=1,
                color=COLORS[(i + 2) % len(COLORS)],
                label=label,
            )
        if title in log:
            ax.set_yscale("log")
        ax.set_xlabel("offset p' - p")
        ax.set_ylabel(r"$\Theta_{pp'}/\sqrt{\Theta_{pp}\Theta_{p'p'}}$")
        ax.set_title(title, fontsize=9)
        if j == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
