"""Pictures of notebook 03 (convergence; numbers from ntklib.dynamics and ntklib.convergence):
function-space dynamics, the distribution of trained networks, decay per eigendirection, the
Hessian's spectrum (the narrow valley), NTK PCA.
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from ..stats import to_numpy
from .style import COLORS, MARKERS

__all__ = [
    "plot_function_dynamics",
    "plot_mode_decay",
    "plot_valley",
    "plot_pca_scatter",
    "plot_ensemble_band",
    "plot_hessian_spectrum",
]


def plot_function_dynamics(
    gamma, f_net, f_theory, times, *, gamma_train=None, y_train=None, target=None, ax=None
):
    """A network's outputs along a curve of inputs (angle gamma) at a few times (solid) beside the
    infinite-width prediction (dashed, same colour); each time also has its own marker (every
    A/12-th point), so the times are told apart without colour.  Training targets as black dots,
    the target function as a thin grey line.

    Args:
        gamma: (A,) angles of the inputs x = (cos gamma, sin gamma).
        f_net, f_theory: {time: (A,) outputs}, e.g. rows of TrainRecord.f_test and of `nk.ntk_flow`.
        times: the keys to draw.  gamma_train, y_train: optional training angles and targets.
        target: optional (A,) target function.  ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> X, g = nk.data.circle(32); tr = [0, 8, 16, 24]; Y = torch.sin(2 * g)
        >>> K = nk.ntk(X, depth=3)
        >>> _, f = nk.ntk_flow(K[tr][:, tr], torch.zeros(4), Y[tr], [1.0, 10.0], theta_tX=K[:, tr],
        ...                    f0_t=torch.zeros(32))
        >>> curves = {1.0: f[0], 10.0: f[1]}  # here the "network" is the prediction itself
        >>> fig = nk.plotting.convergence.plot_function_dynamics(g, curves, curves, [1.0, 10.0],
        ...                                                      gamma_train=g[tr], y_train=Y[tr],
        ...                                                      target=Y)
        >>> fig.axes[0].get_ylabel()
        '$f_t(x)$'
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.4))
    g = to_numpy(gamma)
    if target is not None:
        ax.plot(g, to_numpy(target), color="0.6", lw=1, label="target")
    every = max(1, len(g) // 12)
    for i, t in enumerate(times):
        col, mk = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
        start = (i * every) // max(1, len(times))  # markers of different times staggered
        ax.plot(
            g,
            to_numpy(f_net[t]),
            color=col,
            lw=1.4,
            marker=mk,
            ms=4,
            mfc="white",
            markevery=(start, every),
            label=f"network, t = {t:g}",
        )
        ax.plot(g, to_numpy(f_theory[t]), color=col, lw=1.4, ls="--")
    if gamma_train is not None:
        ax.plot(to_numpy(gamma_train), to_numpy(y_train), "ko", ms=4, label="training points")
    ax.plot([], [], "k--", lw=1.2, label="linear ODE, $\\Theta_\\infty$")
    ax.set_xlabel(r"$\gamma$  (input $x = (\cos\gamma, \sin\gamma)$)")
    ax.set_ylabel(r"$f_t(x)$")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    return ax.figure


def plot_mode_decay(times, observed, predicted, *, labels=None, ax=None, law=None):
    """|c_i(t) / c_i(0)| of each eigendirection (markers) against exp(-rate_i t) (lines), log scale.

    Under the flow the residual along eigenvector v_i decays as exp(-2 lam_i t / N).

    Args:
        times: (T,) flow times.  observed, predicted: (T, k) from `nk.convergence.mode_decay`.
        labels: optional k legend labels (default "mode i").  ax: axis (new figure when None).
        law: legend text of the predicted curves (default the flow's exp(-2 lam_i t / N)).
    Returns:
        the matplotlib Figure.
    Example:
        >>> K = nk.ntk(nk.data.circle(4)[0], depth=2); lam, V = nk.ntk_pca(K); Y = V.sum(1)
        >>> t = torch.linspace(0, 4, 9); f_X, _ = nk.ntk_flow(K, torch.zeros(4), Y, t)
        >>> obs, pred, _ = nk.convergence.mode_decay(t, nk.mode_coefficients(f_X, Y, V),
        ...                                          nk.mode_rates(lam, 4))
        >>> fig = nk.plotting.convergence.plot_mode_decay(t, obs, pred)
        >>> len(fig.axes[0].get_legend().get_texts())                     # 4 modes + the law
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
        ax.semilogy(
            t[::every],
            np.abs(obs[::every, i]),
            MARKERS[i % len(MARKERS)],
            ms=3,
            color=col,
            label=lab,
        )
    ax.plot([], [], "k-", lw=1.2, label=law or r"$e^{-2\lambda_i t/N}$")
    ax.set_ylim(max(1e-3, float(np.abs(obs).min()) / 2), 1.5)
    ax.set_xlabel("flow time t")
    ax.set_ylabel(r"$|c_i(t) / c_i(0)|$")
    ax.legend(fontsize=7)
    return ax.figure


def plot_valley(valley: dict, *, ax=None):
    """The loss of a network on the plane of its top and bottom NTK eigendirections (`dynamics.
    narrow_valley`): filled contours of the real loss, dashed contours of the second-order model.

    The curvature along eigendirection i is 2 lam_i / N: steep along the top one, flat along the
    bottom.

    Args:
        valley: the dict of `nk.convergence.narrow_valley`.  ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> X, _ = nk.data.circle(4)
        >>> v = nk.convergence.narrow_valley(nk.FCNet(2, 64, 2, seed=0), X, X[:, 0], n_grid=5)
        >>> len(nk.plotting.convergence.plot_valley(v).axes)  # the contours and the colour bar
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
        >>> fig = nk.plotting.convergence.plot_pca_scatter(lam, V, torch.arange(12) % 3,
        ...                                                components=(0, 1))
        >>> fig.axes[0].get_xlabel()
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


def plot_ensemble_band(
    gamma, mean, sd, nets, *, gamma_train=None, y_train=None, ax=None, label=None
):
    """Trained networks' outputs along a curve of inputs (thin lines) over the predicted Gaussian of
    infinitely wide trained networks: its mean (black) and mean +- 2 sd (shaded), as in Jacot,
    Gabriel, Hongler (2018), Figure 2.

    Args:
        gamma: (A,) angles of the inputs x = (cos gamma, sin gamma), increasing.
        mean, sd: (A,) predicted mean and standard deviation (e.g. from `nk.ntk_ensemble`).
        nets: (S, A) outputs of S trained networks.  gamma_train, y_train: optional training points.
        ax: axis (new figure when None).  label: legend text of the networks.
    Returns:
        the matplotlib Figure.
    Example:
        >>> g = torch.linspace(-3, 3, 20); m = torch.sin(g)
        >>> fig = nk.plotting.convergence.plot_ensemble_band(g, m, 0.1 + 0 * g, torch.stack([m, m]))
        >>> len(fig.axes[0].lines), len(fig.axes[0].collections)            # 2 nets + mean; band
        (3, 1)
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.4))
    g, m, sd, F = to_numpy(gamma), to_numpy(mean), to_numpy(sd), to_numpy(nets)
    ax.fill_between(
        g,
        m - 2 * sd,
        m + 2 * sd,
        color=COLORS[0],
        alpha=0.25,
        lw=0,
        label=r"infinite width: mean $\pm$ 2 sd",
    )
    for i, f in enumerate(F):
        ax.plot(
            g,
            f,
            color=COLORS[1],
            lw=0.6,
            alpha=0.7,
            label=(label or "trained networks") if i == 0 else None,
        )
    ax.plot(g, m, "k", lw=1.3, label="infinite width: mean")
    if gamma_train is not None:
        ax.plot(to_numpy(gamma_train), to_numpy(y_train), "ko", ms=5, mfc="white", zorder=5)
    ax.set_xlabel(r"angle $\gamma$ of $x = (\cos\gamma, \sin\gamma)$")
    ax.set_ylabel("$f(x)$ after training")
    ax.legend(fontsize=7)
    return ax.figure


def plot_hessian_spectrum(spectra: dict, theory, *, ax=None):
    """The Hessian's largest-magnitude eigenvalues (markers, one set per label) against (2/N) eig
    Theta_inf (dashes), with the band [-||R||, ||R||] that the bulk cannot leave (Weyl), log scale.

    Args:
        spectra: {label: dict of `nk.convergence.hessian_spectrum`}.  theory: (N,) (2/N) eig
            Theta_inf, decreasing.  ax: axis (new figure when None).
    Returns:
        the matplotlib Figure.
    Example:
        >>> X, _ = nk.data.circle(3); net = nk.FCNet(2, 16, 2, seed=0)
        >>> s = nk.convergence.hessian_spectrum(net, X, X[:, 0], n_bulk=1)
        >>> th = 2 / 3 * torch.linalg.eigvalsh(nk.ntk(X, depth=2)).flip(0)
        >>> fig = nk.plotting.convergence.plot_hessian_spectrum({"init": s}, th)
        >>> fig.axes[0].get_yscale()
        'log'
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 3.4))
    th = to_numpy(theory)
    k = np.arange(1, len(th) + 1)
    ax.hlines(
        th, k - 0.35, k + 0.35, colors="k", lw=1.5, label=r"$\frac{2}{N}$ eig $\Theta_\infty$"
    )
    values = [np.abs(np.asarray(sp["top"])) for sp in spectra.values()]
    floor = 0.3 * min(
        min(v[v > 0].min(), sp["residual_norm"]) for v, sp in zip(values, spectra.values())
    )
    for i, ((label, sp), top) in enumerate(zip(spectra.items(), values)):
        col = COLORS[i % len(COLORS)]
        ax.plot(
            np.arange(1, len(top) + 1) + 0.12 * (i - (len(spectra) - 1) / 2),
            top,
            "o",
            ms=4,
            color=col,
            mfc="white" if i else col,
            label=f"{label}: |eig H|",
        )
        ax.axhspan(floor, sp["residual_norm"], color=col, alpha=0.1, lw=0)
        ax.axhline(sp["residual_norm"], color=col, lw=0.8, ls=":", label=f"{label}: $\\|R\\|$")
    ax.set_yscale("log")
    ax.set_ylim(floor, 2 * max(float(th.max()), max(float(v.max()) for v in values)))
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("eigenvalue")
    ax.legend(fontsize=7)
    return ax.figure
