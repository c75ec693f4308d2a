"""The normalised nonlinearity, LayerNorm and BatchNorm (notebook 05).

Conventions of CONVENTIONS.md §1.  The normalised nonlinearity
sigma_bar = (sigma - E sigma)/sd(sigma) has E sigma_bar'^2 >= 1, with equality only for affine
sigma (Gaussian Poincare inequality; in the Hermite basis sigma = sum c_k h_k,
Var sigma = sum_{k>=1} c_k^2 and E sigma'^2 = sum_k k c_k^2), so a small beta puts it in the
chaos (r = (1 - beta^2) E sigma_bar'^2 > 1, ntklib.phases.freeze_chaos).  BatchNorm (batch
statistics, no affine parameters) after the last nonlinearity centres every last hidden neuron over
the batch, so the batch mean of the outputs is beta b^(L) alone and
(1/N^2) sum_ij Theta(x_i, x_j) = beta^2 exactly: the constant vector is an exact eigenvector of the
batch-output NTK with eigenvalue N beta^2, at every width and depth.

Everything here returns numbers (numpy arrays, floats, dicts); the pictures are in
ntklib.plotting.phases.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from .._checks import as_inputs, check_depth
from ..devices import resolve_device
from ..activations import hermite_coefficients, normalized
from ..convergence import constant_mode_cosine
from ..dynamics import train_gd
from ..empirical import empirical_ntk
from ..kernels import edge_beta, r_value
from ..networks import FCNet
from ..stats import relative_error
from .freeze_chaos import phase_of, resolve_activation
from .training import gd_step_size, kernel_gd_losses, steps_to_loss

__all__ = [
    "gaussian_moments",
    "poincare_table",
    "hermite_poincare",
    "empirical_deviation",
    "constant_mode",
    "constant_direction",
    "batchnorm_mass",
    "compare_norms",
]


# ---- notebook 05: the Gaussian Poincare inequality -----------------------------------------------


@lru_cache(maxsize=None)
def _legendre_half_line(n: int, cut: float):
    x, w = np.polynomial.legendre.leggauss(n)
    z = 0.5 * cut * (x + 1.0)  # nodes on [0, cut]
    wz = 0.5 * cut * w * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return z, wz


def gaussian_moments(activation, n: int = 600, cut: float = 14.0) -> dict:
    """E sigma, Var sigma, E sigma'^2 and E sigma_bar'^2 = E sigma'^2 / Var sigma under z ~ N(0, 1),
    by Gauss-Legendre on [-cut, 0] and [0, cut] separately (so a kink or jump at 0, as in relu, abs,
    elu, is resolved to ~1e-13; Gauss-Hermite converges slowly there).  An independent check of
    Activation.moments().

    Args:
        activation: a spec for `resolve_activation`.  n: Gauss-Legendre nodes per half-line.
        cut: the integrals run over [-cut, cut].
    Returns:
        dict: name, mean (E sigma), var (Var sigma), deriv2 (E sigma'^2), poincare (deriv2 / var,
        nan for a constant).
    Example:
        >>> m = nk.phases.gaussian_moments("relu")          # 1/sqrt(2 pi), 1/2 - 1/(2 pi), 1/2
        >>> [round(m[k], 6) for k in ("mean", "var", "deriv2")]
        [0.398942, 0.340845, 0.5]
    """
    act = resolve_activation(activation)
    z, w = _legendre_half_line(n, cut)
    zt = torch.as_tensor(np.concatenate([-z[::-1], z]), dtype=torch.float64)
    wt = np.concatenate([w[::-1], w])
    f = act.fn(zt).numpy()
    d = act.deriv(zt).numpy()
    mean = float(wt @ f)
    var = float(wt @ (f * f)) - mean * mean
    d2 = float(wt @ (d * d))
    return {
        "name": act.name,
        "mean": mean,
        "var": var,
        "deriv2": d2,
        "poincare": d2 / var if var > 1e-14 else float("nan"),
    }


def poincare_table(activations, beta: float = 0.1) -> list[dict]:
    """One row per nonlinearity: gaussian_moments(...), the library's E sigma_bar'^2 (through
    nk.normalized(...).moments()), edge beta of sigma_bar, r(sigma_bar, beta) and its phase.

    Args:
        activations: list of specs for `resolve_activation`.  beta: balance for r and the phase.
    Returns:
        list of dicts: the keys of `gaussian_moments` plus poincare_library, edge_beta, r, phase.
    Example:
        >>> [(r["name"], round(r["poincare"], 6), r["phase"])
        ...  for r in nk.phases.poincare_table(["relu", "identity"])]
        [('relu', 1.466942, 'chaos'), ('identity', 1.0, 'freeze')]
    """
    rows = []
    for spec in activations:
        act = resolve_activation(spec)
        row = gaussian_moments(act)
        bar = normalized(act)
        row["poincare_library"] = bar.moments()[2]
        row["edge_beta"] = edge_beta(bar)
        row["r"] = r_value(bar, beta)
        row["phase"] = phase_of(row["r"])
        rows.append(row)
    return rows


def hermite_poincare(activation, terms: int = 120) -> dict:
    """The proof of Poincare in numbers: with c_k = E[sigma(z) h_k(z)] (orthonormal Hermite),
    Var sigma = sum_{k>=1} c_k^2 and E sigma'^2 = sum_k k c_k^2, so the ratio is an average of
    k >= 1 weighted by c_k^2: >= 1, and = 1 only when c_k = 0 for k >= 2 (sigma affine).
    Converges fast for smooth sigma only.

    Args:
        activation: a spec for `resolve_activation`.  terms: highest Hermite degree kept.
    Returns:
        dict: c (terms + 1,) the coefficients c_0..c_terms, ratio = sum_k k c_k^2 / sum_{k>=1}
        c_k^2.
    Example:
        >>> h = nk.phases.hermite_poincare("erf")  # agrees with the quadrature of gaussian_moments
        >>> (h["c"].shape,
        ...  round(h["ratio"], 9) == round(nk.phases.gaussian_moments("erf")["poincare"], 9))
        ((121,), True)
    """
    act = resolve_activation(activation)
    c = hermite_coefficients(act.fn, torch.ones((), dtype=torch.float64), terms=terms).numpy()
    k = np.arange(c.size)
    var = float((c[1:] ** 2).sum())
    return {"c": c, "ratio": float((k * c * c).sum()) / var}


# ---- notebook 05: LayerNorm and BatchNorm --------------------------------------------------------


def empirical_deviation(
    X, references: dict, *, widths, n_seeds, depth, activation, beta, norm=None, seed=0, device=None
) -> dict:
    """Relative Frobenius deviation ||Theta_hat - reference||_F / ||reference||_F of the empirical
    NTK of FCNet(..., norm=norm) from each reference kernel (the same networks for every reference).

    Args:
        X: inputs (N, n_0).  references: {label: (N, N) kernel}.  widths: hidden widths.
        n_seeds: networks per width.  depth, activation (spec), beta, norm: of the FCNets.  seed:
            first seed.
        device: where the networks run ("cuda", "auto", ... as in `nk.resolve_device`; None: CPU);
            results come back on the CPU.
    Returns:
        {label: numpy array (len(widths), n_seeds)}.
    Example:
        >>> X = nk.data.sphere(4, 3)
        >>> d = nk.phases.empirical_deviation(X, {"Theta_inf": nk.ntk(X, depth=2)},
        ...                                   widths=[64, 256], n_seeds=2, depth=2,
        ...                                   activation="relu", beta=0.1)
        >>> d["Theta_inf"].shape
        (2, 2)
    """
    X = as_inputs(X)
    act = resolve_activation(activation)
    out = {k: np.zeros((len(widths), n_seeds)) for k in references}
    device = resolve_device(device)
    for i, w in enumerate(widths):
        for s in range(n_seeds):
            K = empirical_ntk(
                FCNet(
                    X.shape[1],
                    w,
                    depth,
                    activation=act,
                    beta=beta,
                    norm=norm,
                    seed=seed + 100003 * s + i,
                    device=device,
                ),
                X,
            ).cpu()
            for label, ref in references.items():
                out[label][i, s] = relative_error(K, ref)
    return out


def constant_mode(theta) -> dict:
    """How the constant vector u = 1/sqrt(N) sits in the spectrum of a kernel matrix Theta (N, N).

    mass = (1/N^2) sum_ij Theta_ij (= beta^2 with BatchNorm after the last nonlinearity);
    rayleigh = u^T Theta u = N mass; eig_residual = ||Theta u - rayleigh u|| / ||Theta|| (0 when u
    is an eigenvector); top_overlap = |<u, top eigenvector>|; rank = the position (0 = largest) of
    the eigenvector closest to u in the descending spectrum; overlap = |<u, that eigenvector>|;
    eigenvalues (descending, numpy).

    Args:
        theta: (N, N) kernel matrix.
    Returns:
        dict with the keys above.
    Example:
        >>> # u is the top eigenvector, eigenvalue 4
        >>> m = nk.phases.constant_mode(torch.ones(3, 3) + torch.eye(3))
        >>> m["rank"], round(m["rayleigh"], 12), round(m["mass"], 6), m["eig_residual"] < 1e-12
        (0, 4.0, 1.333333, True)
    """
    T = torch.as_tensor(theta, dtype=torch.float64)
    N = T.shape[0]
    u = torch.full((N,), 1.0 / math.sqrt(N), dtype=T.dtype)
    lam, V = torch.linalg.eigh((T + T.T) / 2)
    lam, V = lam.flip(0), V.flip(1)  # descending
    ov = (V.T @ u).abs()
    ray = float(u @ T @ u)
    return {
        "mass": float(T.sum()) / N**2,
        "rayleigh": ray,
        "eig_residual": float((T @ u - ray * u).norm() / torch.linalg.norm(T)),
        "top_overlap": constant_mode_cosine(V[:, 0]),
        "eigenvalues": lam.numpy(),
        "rank": int(ov.argmax()),
        "overlap": float(ov.max()),
    }


def constant_direction(f_train, Y) -> np.ndarray:
    """The batch mean of the residual, mean_i (f(x_i) - y_i), at each recorded step: (T,).

    With BatchNorm after the last nonlinearity the mean output is beta b^(L), so gradient descent
    with step eta gives exactly m_k = (1 - 2 eta beta^2)^k m_0 at every width.

    Args:
        f_train: (T, N) outputs at each recorded step (TrainRecord.f_train).  Y: (N,) targets.
    Returns:
        numpy array (T,).
    Example:
        >>> nk.phases.constant_direction(torch.tensor([[1.0, 3.0], [0.5, 0.5]]),
        ...                              torch.tensor([0.0, 2.0])).tolist()
        [1.0, -0.5]
    """
    F = torch.as_tensor(f_train, dtype=torch.float64)
    return (F - torch.as_tensor(Y, dtype=F.dtype).reshape(1, -1)).mean(1).numpy()


def batchnorm_mass(
    X, *, widths, depths, betas, activation="relu", seed=0, device=None
) -> np.ndarray:
    """(1/N^2) sum_ij Theta(x_i, x_j) - beta^2 of the batch-output NTK of FCNet(norm="batch") for
    every width, depth (>= 2: BatchNorm needs a hidden layer) and beta: array (len(widths),
    len(depths), len(betas)).  Zero up to rounding at every width: the identity is exact, not a
    large-width limit.

    Args:
        X: inputs (N, n_0).  widths: hidden widths.  depths: L >= 2.  betas: balances.
        activation: a spec for `resolve_activation`.  seed: base seed.
        device: where the networks run ("cuda", "auto", ... as in `nk.resolve_device`; None: CPU);
            results come back on the CPU.
    Returns:
        numpy array (len(widths), len(depths), len(betas)).
    Example:
        >>> m = nk.phases.batchnorm_mass(nk.data.sphere(6, 3), widths=[16], depths=[2, 3],
        ...                              betas=[0.1, 0.5])
        >>> m.shape, bool(abs(m).max() < 1e-12)
        ((1, 2, 2), True)
    """
    X = as_inputs(X)
    act = resolve_activation(activation)
    out = np.zeros((len(widths), len(depths), len(betas)))
    device = resolve_device(device)
    for i, w in enumerate(widths):
        for j, L in enumerate(depths):
            if check_depth(L) < 2:
                raise ValueError(
                    f"depths: got {L}; accepted: depths >= 2 (BatchNorm acts on hidden layers)"
                )
            for k, b in enumerate(betas):
                net = FCNet(
                    X.shape[1],
                    w,
                    L,
                    activation=act,
                    beta=b,
                    norm="batch",
                    seed=seed + 31 * i + 7 * j + k,
                    device=device,
                )
                out[i, j, k] = constant_mode(empirical_ntk(net, X).cpu())["mass"] - float(b) ** 2
    return out


def compare_norms(
    X,
    Y,
    *,
    width,
    depth,
    activation,
    beta,
    steps,
    rel_target,
    norms=(None, "batch"),
    fraction=0.5,
    seed=0,
    train=True,
    device=None,
) -> dict:
    """The same FCNet (same seed) with each norm: its NTK at initialisation (batch-output NTK for
    BatchNorm), where the constant vector sits in that spectrum, and gradient descent at the step
    eta = fraction N / lambda_max of its own kernel.

    Returns {norm label: dict(theta, mode (constant_mode), lr, loss_theory (linearised model with
    the initial kernel), steps_theory, and when train: loss_network, steps_network, mean_residual
    (constant_direction), mean_residual_theory = (1 - 2 eta beta^2)^k m_0 (exact with BatchNorm))}.

    Args:
        X: inputs (N, n_0).  Y: (N,) targets.  width, depth, activation (spec), beta: of the FCNet.
        steps: gradient-descent steps.  rel_target: loss fraction for steps_theory / steps_network.
        norms: the norm of each variant (None, "layer", "batch").  fraction: of the largest stable
            step.
        seed: the network seed (the same for every norm).  train: also train the networks.
        device: where the networks run ("cuda", "auto", ... as in `nk.resolve_device`; None: CPU);
            results come back on the CPU.
    Returns:
        {"no norm" | "LayerNorm" | "BatchNorm": dict as above}.
    Example:
        >>> X = nk.data.sphere(6, 3)
        >>> c = nk.phases.compare_norms(X, X[:, 0], width=32, depth=3, activation="relu", beta=0.3,
        ...                             steps=5, rel_target=0.1)
        >>> bn = c["BatchNorm"]
        >>> sorted(c), round(bn["mode"]["mass"], 9)  # (1/N^2) sum Theta = beta^2
        (['BatchNorm', 'no norm'], 0.09)
        >>> bool(torch.allclose(torch.as_tensor(bn["mean_residual"]),
        ...                     torch.as_tensor(bn["mean_residual_theory"])))
        True
    """
    X = as_inputs(X)
    Y = torch.as_tensor(Y, dtype=torch.float64).reshape(-1)
    act = resolve_activation(activation)
    out = {}
    device = resolve_device(device)
    for norm in norms:
        net = FCNet(
            X.shape[1], width, depth, activation=act, beta=beta, norm=norm, seed=seed, device=device
        )
        T = empirical_ntk(net, X).cpu()
        lr = gd_step_size(T, fraction)
        with torch.no_grad():
            f0 = net(X).reshape(-1).cpu()
        th = kernel_gd_losses(T, f0, Y, lr=lr, steps=steps)
        res = {
            "theta": T,
            "mode": constant_mode(T),
            "lr": lr,
            "loss_theory": th,
            "steps_theory": steps_to_loss(th, rel_target),
        }
        if train:
            rec = train_gd(net, X, Y, lr=lr, steps=steps, record_steps=range(steps + 1)).to("cpu")
            m = constant_direction(rec.f_train, Y)
            res.update(
                loss_network=rec.loss.numpy(),
                steps_network=steps_to_loss(rec.loss, rel_target),
                mean_residual=m,
                mean_residual_theory=(1.0 - 2.0 * lr * beta * beta) ** np.arange(steps + 1) * m[0],
            )
        out["BatchNorm" if norm == "batch" else ("LayerNorm" if norm == "layer" else "no norm")] = (
            res
        )
    return out
