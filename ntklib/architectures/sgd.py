"""Experiment 2 of notebook 07 (Yang and Littwin 2021, Thm. 2.2): SGD on each finite architecture
follows kernel gradient descent with its fixed infinite-width NTK, and the empirical kernel barely
moves along training (`sgd_vs_kernel`, `sgd_speed_bias`; `train_sgd` is the plain SGD loop)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from .._checks import model_inputs
from ..dynamics import kernel_gd, quiet
from ..stats import relative_error
from .kernels import DTYPE

from .experiments import Architecture

__all__ = [
    "train_sgd",
    "sgd_vs_kernel",
    "sgd_speed_bias",
    "SGDComparison",
]


# ---- experiment 2: SGD against kernel gradient descent -------------------------------------------


def train_sgd(model, X_train, Y_train, *, lr, batches, X_track=None, record_steps=None):
    """Minibatch SGD on C_B = (1/|B|) ||f(X_B) - Y_B||^2, theta <- theta - lr grad C_B, in place.

    (nk.train_gd is full-batch; this is its minibatch sibling, the finite side of nk.kernel_gd.)
    For a model whose outputs couple the batch (BatchNorm), each minibatch is one batch and the
    tracked outputs are those of X_track evaluated as one batch.

    Args:
        model: scalar-output module (trained on its own device).  X_train: (n, ...), moved to the
        model's device.  Y_train: (n,).  lr: step size.
        batches: sequence of index arrays into the training set, one per step.
        X_track: inputs whose outputs are recorded (default X_train).
        record_steps: steps at which they are recorded (default every step, 0 included).
    Returns:
        (steps, f): numpy array (T,) and float64 tensor (T, P) on the CPU.
    Example:
        >>> net, X = nk.architectures.ResNet(3, 32, seed=0), torch.randn(6, 3, dtype=torch.float64)
        >>> steps, f = nk.architectures.train_sgd(net, X, torch.zeros(6), lr=0.1,
        ...                                       batches=[[0, 1], [2, 3]])
        >>> f.shape
        torch.Size([3, 6])
    """
    X_train = model_inputs(model, X_train, "X_train")
    X_track = X_train if X_track is None else model_inputs(model, X_track, "X_track")
    Y_train = torch.as_tensor(Y_train).to(X_train).reshape(-1)
    params = [p for p in model.parameters() if p.requires_grad]
    n_steps = len(batches)
    rec = set(range(n_steps + 1)) if record_steps is None else set(int(s) for s in record_steps)
    steps, out = [], []
    for k in range(n_steps + 1):
        if k in rec:
            with torch.no_grad():
                steps.append(k)
                out.append(model(X_track).reshape(-1).detach().to(DTYPE).clone())
        if k == n_steps:
            break
        idx = torch.as_tensor(np.asarray(batches[k]), device=X_train.device)
        loss = ((model(X_train[idx]).reshape(-1) - Y_train[idx]) ** 2).mean()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
    return np.array(steps), torch.stack(out).cpu()


@dataclass
class SGDComparison:
    """Result of `sgd_vs_kernel`: for each width and seed, the relative function-space gap max_t
    RMS(f_SGD(t) - f_kernel(t)) / RMS(Y) over the whole trajectory (train and test points), the
    relative movement of the network's own empirical NTK during training, and the trajectories of
    the last seed at every width (for plots).  The tracked points are the training points first
    (n_train of them), then the test points.

    Args:
        widths: (W,).  gap: (W, S) relative gaps.  steps: (T,) recorded steps.
        f_net, f_kernel: {width: (T, P)} outputs of SGD and of kernel GD (last seed).
        Y: training targets.  n_train: number of training points.  loss_kernel: (T,) kernel-GD loss.
        movement: (W, S) ||Theta_hat_end - Theta_hat_0||_F / ||Theta_hat_0||_F on the tracked
        points.
        reference_gap, f_reference: the gap (W, S) and trajectories {width: (T, P)} of kernel GD
        with the `reference` kernel (None without one).
    Example:
        >>> a = nk.architectures.architecture("ResNet"); X = a.inputs(6)
        >>> Y = nk.architectures.regression_targets(X)
        >>> r = nk.architectures.sgd_vs_kernel(a, X, Y, None, [32], range(1), lr=0.05, batch_size=2,
        ...                                    steps=3, progress=False)
        >>> r.gap.shape, r.movement.shape, r.f_net[32].shape
        ((1, 1), (1, 1), torch.Size([4, 6]))
    """

    widths: np.ndarray
    gap: np.ndarray  # (W, S)
    steps: np.ndarray  # (T,)
    f_net: dict  # width -> (T, P) tensor (last seed)
    f_kernel: dict  # width -> (T, P) tensor (kernel GD from that network's f_0)
    Y: torch.Tensor  # (n_train,)
    n_train: int
    loss_kernel: np.ndarray  # (T,) training loss of kernel GD (last width, last seed)
    movement: np.ndarray = None  # (W, S) relative movement of the empirical NTK
    reference_gap: np.ndarray = None
    f_reference: dict = None


def sgd_vs_kernel(
    arch: Architecture,
    X_train,
    Y_train,
    X_test,
    widths,
    seeds,
    *,
    lr,
    batch_size,
    steps,
    theta=None,
    parametrization="ntk",
    reference=None,
    record_every=1,
    batch_seed=0,
    progress=None,
):
    """SGD of `arch.network(width, seed)` against kernel GD with the infinite-width kernel, same
    learning rate and the same minibatches (Yang and Littwin 2021, Thm. 2.2), started from the
    network's own f_0, so the gap measures only how far the training dynamics are from kernel
    gradient descent.  The network's empirical NTK on the tracked points is computed before and
    after training: its relative movement is what "the kernel stays fixed" means at finite width.

    parametrization="standard": the same networks (same f_0) in standard parametrisation, trained
    with step lr/width (the scaling that keeps the hidden layers' effective step at lr), against
    their own limit, the kernel arch.ntk(X, parametrization="standard") in which the input matrix
    and the biases are frozen (kernels.py).  reference: a second kernel to run kernel GD with from
    the same f_0 (e.g. the NTK for standard-parametrised networks, which they do not follow).
    BatchNorm models train full-batch on X_train (their NTK is a batch kernel), and X_test is
    ignored.

    Args:
        arch: an `Architecture`.  X_train, Y_train: training inputs and targets.  X_test: inputs
        tracked besides (or None).  widths, seeds: the networks (seed 1000 + seed + 7 * width index,
        the same f_0 in both parametrisations).  lr: step of SGD and of kernel GD.  batch_size:
        minibatch size.  steps: SGD steps.  theta: the limit kernel on [X_train; X_test] (computed
        for `parametrization` when None).  parametrization: "ntk" or "standard".  reference: (P, P)
        kernel or None.  record_every: record every step up to 5, then every record_every-th.
        batch_seed: draws the minibatches (shared by every width and seed).
    Returns:
        SGDComparison.
    Example:
        >>> a = nk.architectures.architecture("RNN"); X = a.inputs(8)
        >>> Y = nk.architectures.regression_targets(X)
        >>> r = nk.architectures.sgd_vs_kernel(a, X[:6], Y[:6], X[6:], [32, 128], range(2), lr=0.1,
        ...                                    batch_size=3, steps=4, progress=False)
        >>> r.gap.shape, r.f_net[128].shape, r.n_train      # tracked: 6 training then 2 test inputs
        ((2, 2), torch.Size([5, 8]), 6)
    """
    n = X_train.shape[0]
    X_all = X_train if (arch.coupled or X_test is None) else torch.cat([X_train, X_test])
    theta = arch.ntk(X_all, parametrization=parametrization) if theta is None else theta
    rng = np.random.default_rng(batch_seed)
    if arch.coupled:
        batches = [np.arange(n)] * steps
    else:
        batches = [rng.choice(n, size=batch_size, replace=False) for _ in range(steps)]
    # every step up to 5 (a fast-converging problem peaks there), then every record_every-th, the
    # last
    record = np.unique(
        np.r_[np.arange(0, min(steps, 5) + 1), np.arange(0, steps + 1, record_every), steps]
    )
    Y = torch.as_tensor(Y_train).to(DTYPE).reshape(-1)
    y_rms = float(Y.pow(2).mean().sqrt())
    show = (not quiet()) if progress is None else progress
    gap, movement = np.zeros((len(widths), len(seeds))), np.zeros((len(widths), len(seeds)))
    ref_gap = None if reference is None else np.zeros_like(gap)
    f_net, f_ker, f_ref, loss_k = {}, {}, ({} if reference is not None else None), None

    def kgd(K, f0):
        return kernel_gd(K, f0, Y, np.arange(n), lr=lr, batches=batches, record_steps=record)[1]

    for i, w in enumerate(tqdm(widths, disable=not show, desc=f"{arch.name} SGD", leave=False)):
        for j, s in enumerate(seeds):
            net = arch.network(int(w), seed=1000 + int(s) + 7 * i, parametrization=parametrization)
            step = lr / int(w) if parametrization == "standard" else lr
            K0 = arch.empirical_ntk(net, X_all).detach()
            _, fN = train_sgd(
                net, X_train, Y, lr=step, batches=batches, X_track=X_all, record_steps=record
            )
            movement[i, j] = relative_error(arch.empirical_ntk(net, X_all).detach(), K0)
            fK = kgd(theta, fN[0])
            gap[i, j] = float(((fN - fK) ** 2).mean(1).sqrt().max()) / y_rms
            if reference is not None:
                fR = kgd(reference, fN[0])
                ref_gap[i, j] = float(((fN - fR) ** 2).mean(1).sqrt().max()) / y_rms
        f_net[int(w)], f_ker[int(w)] = fN, fK
        if reference is not None:
            f_ref[int(w)] = fR
        loss_k = ((fK[:, :n] - Y) ** 2).mean(1).numpy()
    return SGDComparison(
        np.asarray(widths), gap, record, f_net, f_ker, Y, n, loss_k, movement, ref_gap, f_ref
    )


def sgd_speed_bias(arch: Architecture, X_train, Y_train, X_test, width, seeds, **kwargs):
    """Does SGD move the function as far as kernel GD with the infinite-width kernel?  Per seed,
    s_j = <f_SGD - f_kernel, f_kernel - f_0> / ||f_kernel - f_0||^2 over every recorded step and
    tracked point (0 when the network follows kernel GD; about -e when the kernel or its time scale
    is a factor 1 + e too large), and its seed-mean in standard errors (Yang and Littwin 2021,
    Thm. 2.2: the gap is O(n^(-1/2)) per network, its seed-mean bias O(1/n)).

    Args:
        arch, X_train, Y_train, X_test: as in `sgd_vs_kernel`.  width: one width.  seeds: at least 2
        (each run as `sgd_vs_kernel(..., [width], [seed])`).  kwargs: lr, batch_size, steps, theta,
        ... of `sgd_vs_kernel`.
    Returns:
        dict(s (S,), mean, se, z).
    Example:
        >>> a = nk.architectures.architecture("ResNet"); X = a.inputs(6)
        >>> Y = nk.architectures.regression_targets(X)
        >>> r = nk.architectures.sgd_speed_bias(a, X, Y, None, 32, range(2), lr=0.05, batch_size=2,
        ...                                     steps=3, progress=False)
        >>> r["s"].shape
        (2,)
    """
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(
            f"seeds: got {len(seeds)}; accepted: at least 2 (a standard error needs them)"
        )
    s = np.zeros(len(seeds))
    for j, seed in enumerate(seeds):
        r = sgd_vs_kernel(arch, X_train, Y_train, X_test, [int(width)], [int(seed)], **kwargs)
        fN, fK = r.f_net[int(width)], r.f_kernel[int(width)]
        M = fK - fK[0]
        s[j] = float(((fN - fK) * M).sum() / (M * M).sum())
    se = float(s.std(ddof=1)) / math.sqrt(len(s))
    return {"s": s, "mean": float(s.mean()), "se": se, "z": float(s.mean()) / se}
