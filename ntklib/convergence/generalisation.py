"""Generalisation in notebook 03 (the slide's "Generalization?"): the test error of the infinite
ensemble (nk.ntk_ensemble) and of trained finite networks along training time, and against depth
in the freeze, edge and chaos regimes (`test_error_vs_time`, `test_error_vs_depth`)."""

from __future__ import annotations


import numpy as np
import torch

from ..devices import resolve_device
from ..dynamics import train_gd
from ..hessian import hessian_eigenvalues, hessian_operator, hessian_spectrum  # noqa: F401 - namespace
from ..kernels import nngp, ntk
from ..networks import FCNet
from ..prediction import _ensemble_moments

# hessian_* are reached as nk.convergence.hessian_spectrum etc.; they are listed in the __all__ of
# ntklib.hessian, their home module.

__all__ = [
    "test_error_vs_time",
    "test_error_vs_depth",
]


# ---- generalisation: test error along training time and against depth ---------------------------


def _step(theta, fraction):
    """nk.phases.gd_step_size (imported here: ntklib.phases imports this module)."""
    from ..phases.training import gd_step_size

    return gd_step_size(theta, fraction)


def _errors(F, Y_test):
    """Test mean squared error and sign error rate along the last axis of F (..., M)."""
    F = np.asarray(torch.as_tensor(F).detach().cpu(), dtype=np.float64)
    y = np.asarray(torch.as_tensor(Y_test).cpu(), dtype=np.float64).reshape(-1)
    return ((F - y) ** 2).mean(-1), (np.sign(F) != np.sign(y)).mean(-1)


def _trained_nets(
    X, Y, X_test, Y_test, *, width, depth, activation, beta, lr, steps, seeds, seed, device
):
    """Test (mse, error), each (seeds, len(steps)), of FCNets trained by gradient descent."""
    mse, err = [], []
    for s in range(int(seeds)):
        net = FCNet(
            X.shape[1],
            int(width),
            depth,
            activation=activation,
            beta=beta,
            seed=seed + s,
            device=resolve_device(device),
        )
        rec = train_gd(
            net,
            X,
            Y,
            lr=lr,
            steps=int(max(steps)),
            record_steps=steps,
            X_test=X_test,
            progress=False,
        ).to("cpu")
        a, b = _errors(rec.f_test, Y_test)
        mse.append(a)
        err.append(b)
    shape = (int(seeds), len(steps))
    return np.array(mse).reshape(shape), np.array(err).reshape(shape)


def test_error_vs_time(
    X_train,
    Y_train,
    X_test,
    Y_test,
    *,
    steps,
    depth,
    activation="relu",
    beta=0.1,
    fraction=0.5,
    width=None,
    seeds=0,
    seed=0,
    device=None,
) -> dict:
    """Test error along training (early stopping) of the infinite ensemble and of finite networks.

    Gradient descent on C = (1/N) ||f(X) - Y||^2 with step lr = fraction N / lam_max(Theta_inf) (the
    same for both, `nk.phases.gd_step_size`), t = lr k.  The infinite-width network trained for k
    steps is Gaussian (`nk.ntk_ensemble`, Lee et al. 2019 eq. 16): its mean m_t is the average of
    infinitely many networks, and one network's expected test MSE is
        E (f_t(x) - y)^2 = (m_t(x) - y)^2 + Var f_t(x)          (averaged over the test inputs),
    which trained finite networks (width, seeds) approach as the width grows.  Errors: test mean
    squared error and the rate of sign errors (labels +-1).

    Args:
        X_train, Y_train, X_test, Y_test: (N, n_0), (N,), (M, n_0), (M,).
        steps: increasing gradient-descent step counts at which to evaluate (0 allowed).
        depth, activation, beta: the network and its kernels (as in `nk.ntk`).
        fraction: lr = fraction N / lam_max, in (0, 1).
        width, seeds, seed: finite FCNets (seeds seed, seed + 1, ...) trained alongside; None: none.
        device: where the finite networks train.
    Returns:
        dict with "steps", "times" (lr k), "lr", arrays (T,) "mse_mean", "error_mean" (of the
        ensemble mean), "variance" (the mean predicted Var f_t over the test inputs), "mse_expected"
        (= mse_mean + variance), and with width: (seeds, T) "mse_net", "error_net".
    Example:
        >>> X, _ = nk.data.circle(8); Y = torch.sign(X[:, 0] + 0.1)
        >>> Xt, _ = nk.data.circle(5, offset=0.2); Yt = torch.sign(Xt[:, 0] + 0.1)
        >>> r = nk.convergence.test_error_vs_time(X, Y, Xt, Yt, steps=[0, 10], depth=2, width=64,
        ...                                       seeds=2)
        >>> r["mse_net"].shape, bool(r["mse_mean"][1] < r["mse_mean"][0]), bool(r["variance"][0])
        ((2, 2), True, True)
    """
    kw = dict(depth=depth, activation=activation, beta=beta)
    Y = torch.as_tensor(Y_train, dtype=torch.float64).reshape(-1)
    theta = ntk(X_train, **kw)
    lr = _step(theta, fraction)
    steps = np.asarray(steps, dtype=int)
    times = [lr * int(k) for k in steps]
    m, v = _ensemble_moments(
        theta,
        ntk(X_test, X_train, **kw),
        nngp(X_train, **kw),
        nngp(X_test, X_train, **kw),
        _prior_variances(X_test, kw),
        Y,
        times,
        lr=lr,
    )
    mse, err = _errors(m, Y_test)
    var = v.mean(1).numpy()
    out = {
        "steps": steps,
        "times": np.array(times),
        "lr": lr,
        "mse_mean": mse,
        "error_mean": err,
        "variance": var,
        "mse_expected": mse + var,
    }
    if width is not None:
        out["mse_net"], out["error_net"] = _trained_nets(
            X_train,
            Y,
            X_test,
            Y_test,
            width=width,
            lr=lr,
            steps=steps,
            seeds=seeds,
            seed=seed,
            device=device,
            **kw,
        )
    return out


def _prior_variances(X, kw):
    """Sigma^(L)(x, x) for each row: the diagonal of nk.nngp(X)."""
    return nngp(X, **kw).diagonal().clone()


def test_error_vs_depth(
    X_train,
    Y_train,
    X_test,
    Y_test,
    *,
    regimes,
    depths,
    steps=None,
    fraction=0.5,
    width=None,
    seeds=1,
    seed=0,
    net_depths=None,
    device=None,
) -> dict:
    """Test error of the infinite ensemble's mean (and of finite networks) against depth, for
    several regimes (activation, beta): the freeze, the edge and the chaos (Jacot, Gabriel, Hongler
    2019b; notebook 04), trained by gradient descent for a fixed number of steps at a stable step.

    At each depth, lr = fraction N / lam_max(Theta_inf) (`nk.phases.gd_step_size`): the same budget
    of k steps in every regime, whatever the scale of its kernel; k = None trains to convergence
    (t -> infinity: kernel regression with Theta_inf; nan where Theta_inf(X, X) is not numerically
    positive definite).  The ensemble mean is `nk.ntk_ensemble`'s,
    Theta(x, X) Theta^-1 (I - (1 - 2 lr Theta / N)^k) Y.  In the chaos the deep kernel tends to
    a multiple of the identity (nothing is learnt off the training set); in the freeze it tends to a
    constant and its informative eigenvalues shrink like r^L (kappa grows: a step budget learns
    less).

    Args:
        X_train, Y_train, X_test, Y_test: (N, n_0), (N,), (M, n_0), (M,) with labels +-1.
        regimes: {name: (activation, beta)} (activations as in `nk.ntk`).
        depths: the depths L.  steps: a step budget k, None (convergence), or a list of them.
        fraction: lr = fraction N / lam_max, in (0, 1).
        width, seeds, seed, device: finite FCNets trained alongside (for the integer budgets);
            None: none.
        net_depths: the depths (among `depths`) at which finite networks are trained (None: all).
    Returns:
        dict with "names", "depths", "steps", arrays (regimes, depths) "mse", "error" (of the
        ensemble mean; with a trailing axis over budgets when `steps` is a list), "kappa" (condition
        number of Theta_inf(X, X)), and with width "mse_net", "error_net" (regimes, depths,
        [budgets,] seeds), nan at depths without networks and for the budget None.
    Example:
        >>> X, _ = nk.data.circle(8); Y = torch.sign(X[:, 0] + 0.1)
        >>> Xt, _ = nk.data.circle(5, offset=0.2); Yt = torch.sign(Xt[:, 0] + 0.1)
        >>> r = nk.convergence.test_error_vs_depth(X, Y, Xt, Yt, depths=[2, 3], steps=[20, None],
        ...                                        regimes={"relu": ("relu", 0.1)})
        >>> r["names"], r["mse"].shape
        (['relu'], (1, 2, 2))
    """
    budgets = list(steps) if isinstance(steps, (list, tuple)) else [steps]
    trained = [int(k) for k in budgets if k is not None]
    Y = torch.as_tensor(Y_train, dtype=torch.float64).reshape(-1)
    names = list(regimes)
    shape = (len(names), len(depths), len(budgets))
    out = {
        "names": names,
        "depths": np.asarray(depths),
        "steps": budgets,
        "mse": np.full(shape, np.nan),
        "error": np.full(shape, np.nan),
        "kappa": np.full(shape[:2], np.nan),
    }
    if width is not None:
        out["mse_net"] = np.full(shape + (int(seeds),), np.nan)
        out["error_net"] = np.full(shape + (int(seeds),), np.nan)
    net_depths = list(depths) if net_depths is None else list(net_depths)
    for i, name in enumerate(names):
        activation, beta = regimes[name]
        for j, L in enumerate(depths):
            kw = dict(depth=int(L), activation=activation, beta=beta)
            theta, theta_t = ntk(X_train, **kw), ntk(X_test, X_train, **kw)
            lam = torch.linalg.eigvalsh(theta)
            out["kappa"][i, j] = float(lam[-1] / lam[0])
            lr = _step(theta, fraction)
            for b, k in enumerate(budgets):
                try:
                    mean, _ = _ensemble_moments(
                        theta,
                        theta_t,
                        None,
                        None,
                        None,
                        Y,
                        [None if k is None else lr * int(k)],
                        lr=lr,
                    )
                except ValueError:  # not positive definite at convergence
                    continue
                out["mse"][i, j, b], out["error"][i, j, b] = _errors(mean[0], Y_test)
            if width is not None and trained and L in net_depths:
                a, e = _trained_nets(
                    X_train,
                    Y,
                    X_test,
                    Y_test,
                    width=width,
                    lr=lr,
                    steps=sorted(set(trained)),
                    seeds=seeds,
                    seed=seed,
                    device=device,
                    **kw,
                )
                for b, k in enumerate(budgets):
                    if k is not None:
                        col = sorted(set(trained)).index(int(k))
                        out["mse_net"][i, j, b], out["error_net"][i, j, b] = a[:, col], e[:, col]
    if not isinstance(steps, (list, tuple)):
        for key in ("mse", "error", "mse_net", "error_net"):
            if key in out:
                out[key] = out[key][:, :, 0]
    return out
