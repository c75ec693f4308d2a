"""The distribution of infinite-width networks after training, and the NNGP posterior.

Network (NTK parametrisation, CONVENTIONS.md §1): z^(l+1) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l)
+ beta b^(l), W, b ~ N(0, 1).  As the width grows, f_0 is a centred Gaussian process with covariance
K = Sigma^(L) (`nngp`) and the NTK is the deterministic Theta = Theta^(L) (`ntk`).  Gradient flow on
C = (1/N) ||f(X) - Y||^2 moves the outputs by d/dt f_t = (2/N) Theta(., X) (Y - f_t(X)), so

    f_t(x) = f_0(x) + A_t(x) (Y - f_0(X)),   A_t(x) = Theta(x, X) Theta^-1 (I - e^{-2t Theta / N})

(Jacot, Gabriel, Hongler 2018, §5): an affine function of the Gaussian f_0, hence Gaussian over
initialisations (Lee et al. 2019, eq. 16).  `ntk_ensemble` returns its mean and covariance,
`nngp_posterior` the Bayesian posterior of the NNGP prior (the other way of "training" the same GP).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from ._checks import as_inputs
from .dynamics import _gd_factors, _steps_from_times
from .kernels import nngp, ntk

__all__ = ["ntk_ensemble", "nngp_posterior"]


def _targets(Y, n):
    """Y of shape (N,) or (N, 1) as a float64 vector of length N."""
    Y = torch.as_tensor(
        np.asarray(Y.detach().cpu() if isinstance(Y, torch.Tensor) else Y, dtype=np.float64)
    )
    if Y.shape not in ((n,), (n, 1)):
        raise ValueError(
            f"Y_train: got shape {tuple(Y.shape)}; accepted: ({n},) or ({n}, 1), one "
            "target per training input"
        )
    Y = Y.reshape(n)
    if not torch.isfinite(Y).all():
        raise ValueError("Y_train: contains NaN or inf; accepted: finite values only")
    return Y


def _non_negative(value, name, what):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (math.isfinite(value) and value >= 0)
    ):
        raise ValueError(f"{name}: got {value!r}; accepted: a finite real number >= 0 ({what})")
    return float(value)


def _positive_definite_eigh(K, kernel, reg_name, reg):
    """eigh of the symmetric K (already regularised), refusing a kernel that is not numerically
    positive definite: the smallest eigenvalue must exceed N eps lam_max (LAPACK's rank
    tolerance)."""
    lam, V = torch.linalg.eigh((K + K.T) / 2)
    n = K.shape[0]
    tol = n * torch.finfo(K.dtype).eps * max(float(lam[-1].abs()), 1e-300)
    if float(lam[0]) <= tol:
        need = tol - float(lam[0]) + 1e-8 * float(lam[-1].abs())
        raise ValueError(
            f"{reg_name}: {kernel} + {reg_name} I is not positive definite at {reg_name} = {reg:g} "
            f"(smallest eigenvalue {float(lam[0]):.3g}, needs > {tol:.3g}, e.g. duplicated "
            f"training inputs); accepted: distinct training inputs, or {reg_name} >= {need:.2g}"
        )
    return lam, V


def _kernels(X_train, X_test, kw):
    X = as_inputs(X_train, "X_train", device=kw.get("device"))
    Xt = as_inputs(X_test, "X_test", device=X.device)
    if Xt.shape[1] != X.shape[1]:
        raise ValueError(
            f"X_test: has {Xt.shape[1]} columns but X_train has {X.shape[1]}; "
            "accepted: the same input dimension n_0"
        )
    return X, Xt


def ntk_ensemble(
    X_train,
    Y_train,
    X_test,
    *,
    t=None,
    depth,
    activation="relu",
    beta=0.1,
    diag_reg=0.0,
    lr=None,
    device=None,
):
    """Mean and covariance over initialisations of infinite-width networks trained for time t.

    Network (NTK parametrisation, CONVENTIONS.md §1):
        z^(l+1) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l) + beta b^(l),  W, b ~ N(0, 1);
    at infinite width f_0 ~ GP(0, K), K = Sigma^(L) = `nngp`, and the NTK Theta = Theta^(L) = `ntk`
    is fixed.  Gradient flow on C = (1/N) ||f(X) - Y||^2 (rate 2 Theta / N, Jacot, Gabriel, Hongler
    2018, §5) gives f_t(x) = f_0(x) + A(x) (Y - f_0(X)) with
        A(x) = Theta(x, X) Theta^-1 (I - e^{-2t Theta / N}),   Theta = Theta(X, X) + diag_reg I,
    a Gaussian over initialisations (Lee et al. 2019, eq. 16, with their eta t written 2t/N here):
        mean(x)    = A(x) Y
        cov(x, x') = K(x, x') - A(x) K(X, x') - K(x, X) A(x')^T + A(x) K(X, X) A(x')^T.
    At t = 0 this is the prior GP(0, K); at t = None (t -> infinity) A(x) = Theta(x, X) Theta^-1,
    the mean is kernel regression with the NTK and, at a training input, mean = Y and variance 0.
    With `lr`, gradient descent with that step instead: e^{-2t lam / N} becomes
    (1 - 2 lr lam / N)^(t / lr).  Solved with one eigendecomposition of Theta(X, X) in float64
    (no explicit inverse).

    Args:
        X_train: (N, n_0) training inputs.  Y_train: (N,) or (N, 1) targets.  X_test: (M, n_0).
        t: flow time >= 0, or None for convergence (t -> infinity).
        depth, activation, beta: the network (as in `ntk`).
        diag_reg: >= 0 added to the diagonal of Theta(X, X) (a ridge on the NTK; not on K).
        lr: None (gradient flow) or a gradient-descent step (t must then be a multiple of lr).
        device: where the kernels are computed (as in `nk.resolve_device`; None: the inputs').
    Returns:
        (mean, cov): float64 tensors of shape (M,) and (M, M) (cov symmetric).
    Raises:
        ValueError when Theta(X, X) + diag_reg I is not positive definite (the message gives the
        smallest eigenvalue and a diag_reg that is enough).
    Example:
        >>> X, _ = nk.data.circle(4); Xt, _ = nk.data.circle(3, offset=0.5)
        >>> m0, c0 = nk.ntk_ensemble(X, X[:, 0], Xt, t=0.0, depth=3)   # t = 0: prior
        >>> float(m0.abs().max()), bool(torch.allclose(c0, nk.nngp(Xt, depth=3)))
        (0.0, True)
        >>> m, c = nk.ntk_ensemble(X, X[:, 0], X, depth=3)        # t -> inf, at X
        >>> bool(torch.allclose(m, X[:, 0])), bool(c.diagonal().abs().max() < 1e-10)
        (True, True)
    """
    kw = dict(depth=depth, activation=activation, beta=beta)
    X, Xt = _kernels(X_train, X_test, {"device": device})
    N = X.shape[0]
    Y = _targets(Y_train, N).to(X.device)
    reg = _non_negative(diag_reg, "diag_reg", "a ridge added to the diagonal of Theta(X, X)")
    if t is not None:
        t = _non_negative(t, "t", "a flow time, or None for t -> infinity")
    if lr is not None:
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
            raise ValueError(f"lr: got {lr!r}; accepted: None (gradient flow) or a positive step")
        if t is not None:
            _steps_from_times([t], float(lr))
        lr = float(lr)
    mean, cov = _ensemble_moments(
        ntk(X, **kw),
        ntk(Xt, X, **kw),
        nngp(X, **kw),
        nngp(Xt, X, **kw),
        nngp(Xt, **kw),
        Y,
        [t],
        lr=lr,
        diag_reg=reg,
    )
    return mean[0], cov[0]


def _ensemble_moments(theta, theta_tX, K, K_tX, K_tt, Y, times, *, lr=None, diag_reg=0.0):
    """Mean (T, M) and covariance (T, M, M) of `ntk_ensemble` at several times (None: t -> infinity)
    from precomputed kernels; with K_tt of shape (M,) (the prior variances only), the variances
    (T, M) instead of the covariances; with K None, the means only (and None).  One
    eigendecomposition of Theta(X, X) + diag_reg I."""
    N = theta.shape[0]
    lam, V = _positive_definite_eigh(
        theta + diag_reg * torch.eye(N, dtype=theta.dtype, device=theta.device),
        "Theta(X_train, X_train)",
        "diag_reg",
        diag_reg,
    )
    P = theta_tX @ V  # Theta(x, X) V, (M, N)
    if K is not None:
        Q = K_tX @ V  # K(x, X) V
        Kv = V.T @ K @ V  # V^T K(X, X) V
    r = V.T @ Y
    means, covs = [], []
    for t in times:
        if t is None:
            gain = 1.0 / lam  # Theta^-1 in the eigenbasis
        else:
            tt = torch.tensor([[float(t)]], dtype=lam.dtype, device=lam.device)
            gain = _gd_factors(lam, tt, N, lr)[1].reshape(N)  # (1 - e^{-2t lam / N}) / lam
        A = P * gain  # A(x) V = P diag(gain)
        means.append(A @ r)
        if K is None:
            continue
        if K_tt.ndim == 1:  # diagonals only
            covs.append(K_tt - 2 * (A * Q).sum(1) + ((A @ Kv) * A).sum(1))
        else:
            cross = A @ Q.T  # A(x) K(X, x')
            cov = K_tt - cross - cross.T + A @ Kv @ A.T
            covs.append((cov + cov.T) / 2)
    return torch.stack(means), (torch.stack(covs) if covs else None)


def nngp_posterior(
    X_train, Y_train, X_test, *, depth, activation="relu", beta=0.1, noise=0.0, device=None
):
    """Bayesian posterior of the NNGP prior f ~ GP(0, K), K = Sigma^(L), given Y = f(X) + noise.

    Network (NTK parametrisation, CONVENTIONS.md §1):
        z^(l+1) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l) + beta b^(l),  W, b ~ N(0, 1),
    whose outputs at initialisation tend to GP(0, K), K = `nngp`
    (Neal 1996; Lee et al. 2018, eq. 4; Rasmussen and Williams 2006, eq. 2.23-2.24):
        mean(x)    = K(x, X) (K(X, X) + noise I)^-1 Y
        cov(x, x') = K(x, x') - K(x, X) (K(X, X) + noise I)^-1 K(X, x').
    Training only the last layer of an infinite network to convergence gives the same mean (Lee et
    al. 2019, §2.3); `ntk_ensemble` is what training all layers gives.  Solved with one
    eigendecomposition of K(X, X) + noise I in float64 (no explicit inverse).

    Args:
        X_train: (N, n_0) training inputs.  Y_train: (N,) or (N, 1) targets.  X_test: (M, n_0).
        depth, activation, beta: the network (as in `nngp`).
        noise: >= 0, the variance of Gaussian observation noise (0: exact interpolation).
        device: where the kernels are computed (None: the inputs' device).
    Returns:
        (mean, cov): float64 tensors of shape (M,) and (M, M) (cov symmetric).
    Raises:
        ValueError when K(X, X) + noise I is not positive definite (the message gives the smallest
        eigenvalue and a noise that is enough).
    Example:
        >>> X, _ = nk.data.circle(4)
        >>> m, c = nk.nngp_posterior(X, X[:, 0], X, depth=3)   # noise 0
        >>> bool(torch.allclose(m, X[:, 0])), bool(c.diagonal().abs().max() < 1e-10)
        (True, True)
    """
    kw = dict(depth=depth, activation=activation, beta=beta)
    X, Xt = _kernels(X_train, X_test, {"device": device})
    N = X.shape[0]
    Y = _targets(Y_train, N).to(X.device)
    noise = _non_negative(noise, "noise", "the variance of the observation noise")
    K = nngp(X, **kw)
    lam, V = _positive_definite_eigh(
        K + noise * torch.eye(N, dtype=K.dtype, device=K.device),
        "K(X_train, X_train)",
        "noise",
        noise,
    )
    Q = nngp(Xt, X, **kw) @ V  # K(x, X) V, (M, N)
    mean = (Q / lam) @ (V.T @ Y)
    W = Q / lam.sqrt()
    cov = nngp(Xt, **kw) - W @ W.T
    return mean, (cov + cov.T) / 2
