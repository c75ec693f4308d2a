"""Consequences of freeze and chaos for training (notebook 04): the condition number of the NTK Gram
matrix against depth, at infinite width and for finite FCNets, and the speed of (kernel) gradient
descent in each phase (Jacot, Gabriel, Hongler 2019b).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import as_inputs, check_positive_int
from ..devices import resolve_device
from ..dynamics import condition_number, train_gd
from ..empirical import empirical_ntk
from ..kernels import r_value
from ..networks import FCNet
from ..stats import to_numpy
from .freeze_chaos import ntk_by_depth, resolve_activation


__all__ = [
    "gram_condition_numbers",
    "empirical_condition_numbers",
    "gd_step_size",
    "kernel_gd_losses",
    "steps_to_loss",
    "training_speed",
    "linearised_speed_test",
]


# ---- consequences: conditioning and training speed -----------------------------------------------


def _condition(T):
    return condition_number(torch.linalg.eigvalsh((T + T.T) / 2))


def gram_condition_numbers(X, depths, *, activation, beta) -> np.ndarray:
    """kappa = lambda_max / lambda_min of Theta^(L)_inf(X, X) for each L (it grows with depth in the
    freeze and falls towards 1 in the chaos).

    Args:
        X: inputs (N, n_0).  depths: the L to evaluate.
        activation: a spec for `resolve_activation`.  beta: balance in [0, 1].
    Returns:
        numpy array (len(depths),).
    Example:
        >>> X = nk.data.sphere(5, 3)
        >>> frozen = nk.phases.gram_condition_numbers(X, [2, 8], activation="standardized(erf)",
        ...                                           beta=0.8)  # r = 0.44
        >>> chaotic = nk.phases.gram_condition_numbers(X, [2, 8], activation="normalized(erf)",
        ...                                            beta=0.1)  # r = 1.21
        >>> bool(frozen[1] > frozen[0]), bool(chaotic[1] < chaotic[0])
        (True, True)
    """
    return np.array(
        [_condition(T) for T in ntk_by_depth(X, depths, activation=activation, beta=beta)]
    )


def empirical_condition_numbers(
    X, depths, *, activation, beta, width, n_seeds, seed=0, device=None
) -> np.ndarray:
    """Condition numbers lambda_max / lambda_min of the empirical NTK of FCNets (one width, each
    depth, n_seeds networks with seeds seed + 1000 s + L).

    Args:
        X: inputs (N, n_0).  depths: the L to evaluate.  activation: a spec for
            `resolve_activation`.
        beta: balance in [0, 1].  width: hidden width.  n_seeds: networks per depth.  seed: first
            seed.
        device: where the networks run ("cuda", "auto", ... as in `nk.resolve_device`; None: CPU);
            results come back on the CPU.
    Returns:
        numpy array (len(depths), n_seeds).
    Example:
        >>> nk.phases.empirical_condition_numbers(nk.data.sphere(4, 3), [2, 3], activation="relu",
        ...                                       beta=0.1, width=32, n_seeds=2).shape
        (2, 2)
    """
    X = as_inputs(X)
    act = resolve_activation(activation)
    device = resolve_device(device)
    return np.array(
        [
            [
                _condition(
                    empirical_ntk(
                        FCNet(
                            X.shape[1],
                            width,
                            L,
                            activation=act,
                            beta=beta,
                            seed=seed + 1000 * s + L,
                            device=device,
                        ),
                        X,
                    ).cpu()
                )
                for s in range(check_positive_int(n_seeds, "n_seeds"))
            ]
            for L in depths
        ]
    )


def gd_step_size(theta, fraction: float = 0.5) -> float:
    """eta = fraction * N / lambda_max(Theta).  Gradient descent on (1/N)||f - Y||^2 multiplies the
    residual along an eigenvector by 1 - 2 eta lambda / N: stable for fraction < 1, and fraction 1/2
    kills the top mode in one step.  With this step the slowest mode needs ~ kappa steps.

    Args:
        theta: (N, N) kernel matrix.  fraction: in (0, 1).
    Returns:
        float, the step eta.
    Example:
        >>> nk.phases.gd_step_size(torch.diag(torch.tensor([4.0, 2.0])))       # 0.5 * 2 / 4
        0.25
    """
    T = torch.as_tensor(theta, dtype=torch.float64)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction: got {fraction!r}; accepted: a number in (0, 1) (stable steps)")
    return fraction * T.shape[0] / float(torch.linalg.eigvalsh((T + T.T) / 2)[-1])


def kernel_gd_losses(theta, f0, Y, *, lr, steps) -> np.ndarray:
    """Loss (1/N)||f_k - Y||^2 of gradient descent on the linearised model (kernel fixed at theta),
    f_{k+1} = f_k - lr (2/N) Theta (f_k - Y), for k = 0..steps, from one eigendecomposition:
    the residual along eigenvector v_i is multiplied by (1 - 2 lr lambda_i / N) per step.

    Args:
        theta: (N, N) kernel.  f0: (N,) initial outputs.  Y: (N,) targets.  lr: the step.
        steps: number of steps.
    Returns:
        numpy array (steps + 1,).
    Example:
        >>> K = torch.diag(torch.tensor([4.0, 2.0]))  # factors 1 - 2 * 0.25 * (4, 2) / 2 = (0, 1/2)
        >>> nk.phases.kernel_gd_losses(K, torch.zeros(2), torch.ones(2), lr=0.25, steps=2).tolist()
        [1.0, 0.125, 0.03125]
    """
    T = torch.as_tensor(theta, dtype=torch.float64)
    N = T.shape[0]
    lam, V = torch.linalg.eigh((T + T.T) / 2)
    res0 = V.T @ (
        torch.as_tensor(f0, dtype=T.dtype).reshape(N) - torch.as_tensor(Y, dtype=T.dtype).reshape(N)
    )
    factor = (1.0 - 2.0 * lr * lam / N).numpy()
    k = np.arange(steps + 1)[:, None]
    return ((factor[None, :] ** (2 * k)) * (res0.numpy() ** 2)[None, :]).sum(1) / N


def steps_to_loss(losses, rel_target: float) -> float:
    """The first step k with losses[k] <= rel_target * losses[0]; inf when never reached.

    Args:
        losses: (steps + 1,) losses, step 0 first.  rel_target: the fraction of the initial loss.
    Returns:
        float (an integer value, or inf).
    Example:
        >>> (nk.phases.steps_to_loss([1.0, 0.5, 0.1, 0.01], 0.2),
        ...  nk.phases.steps_to_loss([1.0, 0.5], 0.1))
        (2.0, inf)
    """
    losses = to_numpy(losses).astype(float).ravel()
    hit = np.nonzero(losses <= rel_target * losses[0])[0]
    return float(hit[0]) if hit.size else math.inf


def training_speed(
    X, Y, regimes, *, depth, width, rel_target, max_steps, fraction=0.5, seed=0, device=None
) -> dict:
    """Steps of gradient descent to bring the loss to rel_target times its initial value, per
    regime.

    regimes: {label: (activation spec, beta)}.  For each: Theta_inf = nk.ntk at `depth`; the step
    eta = gd_step_size(Theta_inf, fraction); a FCNet of `width` trained by nk.train_gd for max_steps
    steps; the theory is gradient descent on the linearised model with Theta_inf from the network's
    own f_0 (`kernel_gd_losses`).

    Args:
        X: inputs (N, n_0).  Y: (N,) targets.  regimes: {label: (activation spec, beta)}.
        depth, width: of the FCNets.  rel_target: loss fraction to reach.  max_steps: steps trained.
        fraction: of the largest stable step (see `gd_step_size`).  seed: network seed (plus 7919 i
            per regime).
        device: where the networks run ("cuda", "auto", ... as in `nk.resolve_device`; None: CPU);
            results come back on the CPU.
    Returns:
        {label: dict(r, lr, kappa, loss_theory (max_steps + 1,), loss_network (max_steps + 1,),
        steps_theory, steps_network)}.
    Example:
        >>> X = nk.data.sphere(4, 3)
        >>> s = nk.phases.training_speed(X, X[:, 0], {"freeze": ("standardized(tanh)", 0.8)},
        ...                              depth=3, width=32, rel_target=0.1, max_steps=20)
        >>> sorted(s["freeze"])
        ['kappa', 'loss_network', 'loss_theory', 'lr', 'r', 'steps_network', 'steps_theory']
        >>> s["freeze"]["loss_network"].shape
        (21,)
    """
    X = as_inputs(X)
    Y = torch.as_tensor(Y, dtype=torch.float64).reshape(-1)
    device = resolve_device(device)
    out = {}
    for i, (label, (spec, beta)) in enumerate(regimes.items()):
        act = resolve_activation(spec)
        T = ntk_by_depth(X, [depth], activation=act, beta=beta)[0]
        lr = gd_step_size(T, fraction)
        net = FCNet(
            X.shape[1], width, depth, activation=act, beta=beta, seed=seed + 7919 * i, device=device
        )
        with torch.no_grad():
            f0 = net(X).reshape(-1).cpu()
        theory = kernel_gd_losses(T, f0, Y, lr=lr, steps=max_steps)
        rec = train_gd(net, X, Y, lr=lr, steps=max_steps, record_steps=range(max_steps + 1)).to(
            "cpu"
        )
        loss = rec.loss.numpy()
        out[label] = {
            "r": r_value(act, beta),
            "lr": lr,
            "kappa": _condition(T),
            "loss_theory": theory,
            "loss_network": loss,
            "steps_theory": steps_to_loss(theory, rel_target),
            "steps_network": steps_to_loss(loss, rel_target),
        }
    return out


def linearised_speed_test(
    X, Y, activation, beta, *, depth, width, lr, steps, seeds, seed=0, device=None
) -> dict:
    """Does gradient descent on finite FCNets run at the speed of kernel gradient descent with their
    own initial NTK?  A seed-mean test in standard errors.

    For each of `seeds` FCNets (seed + j) the statistic is
        d_j = log( C_net(steps) / C_lin(steps) ),
    C_net the loss after `steps` steps of nk.train_gd, C_lin that of gradient descent on the
    linearised model with the network's empirical NTK at initialisation (`kernel_gd_losses`, rate
    2 lr Theta / N per step).  Both start from the network's own f_0, so the seed-to-seed spread
    of the loss cancels and d_j measures how far the trained network strays from its
    linearisation: O(1/sqrt(width)) per network, about 0 on average.  A kernel-GD time scale
    (1 + e) times too fast moves every d_j by about 2 e lambda t / N along the slow directions
    (in the freeze, +2.3% for e = 5% after 40 steps at CI scale).

    Args:
        X: inputs (N, n_0).  Y: (N,) targets.  activation, beta: the FCNet (a spec as in
            `resolve_activation`).  depth, width: its shape.  lr: the step.  steps: how many.
        seeds: number of networks (>= 2).  seed: the first seed.  device: where they run.
    Returns:
        dict: "d" (seeds,) numpy array, "mean", "se" (standard error over seeds), "z" = mean/se.
    Example:
        >>> X = nk.data.sphere(6, 3, seed=0)
        >>> t = nk.phases.linearised_speed_test(X, X[:, 0], "normalized(tanh)", 0.5, depth=3,
        ...                                     width=64, lr=0.5, steps=5, seeds=3)
        >>> t["d"].shape
        (3,)
    """
    X = as_inputs(X)
    Y = torch.as_tensor(Y, dtype=torch.float64).reshape(-1)
    seeds = check_positive_int(seeds, "seeds")
    if seeds < 2:
        raise ValueError(f"seeds: got {seeds}; accepted: an integer >= 2 (a standard error)")
    steps = check_positive_int(steps, "steps")
    act = resolve_activation(activation)
    device = resolve_device(device)
    d = []
    for j in range(seeds):
        net = FCNet(
            X.shape[1], width, depth, activation=act, beta=beta, seed=seed + j, device=device
        )
        with torch.no_grad():
            f0 = net(X).reshape(-1).cpu()
        lin = kernel_gd_losses(empirical_ntk(net, X).cpu(), f0, Y, lr=lr, steps=steps)
        rec = train_gd(net, X, Y, lr=lr, steps=steps, record_steps=[0, steps], progress=False)
        d.append(math.log(float(rec.loss[-1]) / float(lin[-1])))
    d = np.array(d)
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(seeds))
    return {"d": d, "mean": mean, "se": se, "z": mean / se}
