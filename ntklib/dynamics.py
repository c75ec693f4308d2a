"""Training dynamics: gradient descent on the mean squared error, recorded in function space.

Cost C(theta) = (1/N) ||f_theta(X) - Y||^2.  Gradient flow gives d/dt f_t(X) = (2/N) Theta (Y - f_t(X))
(Jacot, Gabriel, Hongler 2018, §5); gradient descent with step eta follows the flow at t = eta * steps.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

__all__ = ["train_gd", "TrainRecord", "quiet", "ntk_flow", "kernel_gd"]


def quiet() -> bool:
    """Progress bars stay silent under CI, papermill runs of the Makefile, or NTKLIB_QUIET=1."""
    return bool(os.environ.get("NTKLIB_QUIET") or os.environ.get("CI"))


@dataclass
class TrainRecord:
    """What `train_gd` recorded: at each recorded step, the outputs on the training and test inputs."""
    steps: np.ndarray           # (T,) recorded step numbers, 0 and the last included
    f_train: torch.Tensor       # (T, N)
    f_test: torch.Tensor | None  # (T, M) or None
    loss: torch.Tensor          # (T,)  C(theta) at each recorded step
    lr: float

    @property
    def times(self) -> np.ndarray:
        """Gradient-flow time t = lr * step of each record."""
        return self.lr * self.steps


def _flat_outputs(out, n, name="model"):
    if out.shape not in ((n,), (n, 1)):
        raise ValueError(f"{name}: returned shape {tuple(out.shape)}; accepted: scalar outputs, ({n},) or ({n}, 1)")
    return out.reshape(n)


def train_gd(model, X, Y, *, lr, steps, record_steps=None, X_test=None, progress=None) -> TrainRecord:
    """Full-batch gradient descent theta <- theta - lr grad C, C = (1/N) ||f(X) - Y||^2, in place.

    Args:
        model: scalar-output torch module (trained in place).
        X: training inputs (N, n_0) tensor in the model's dtype.  Y: targets (N,) or (N, 1).
        lr: learning rate eta > 0; the flow time after k steps is t = eta k.
        steps: number of steps.
        record_steps: the steps at which f is recorded (default about 100, evenly spaced, 0 and
            `steps` included).
        X_test: optional inputs whose outputs are recorded too (evaluated as one batch).
        progress: show a tqdm bar (default: yes, unless quiet()).
    Returns:
        TrainRecord with steps, f_train, f_test, loss, lr.
    """
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr: got {lr!r}; accepted: a positive number")
    if not (isinstance(steps, (int, np.integer)) and steps >= 0):
        raise ValueError(f"steps: got {steps!r}; accepted: an integer >= 0")
    N = X.shape[0]
    Y = Y.reshape(-1).to(X)
    if Y.shape[0] != N:
        raise ValueError(f"Y: has {Y.shape[0]} targets for {N} inputs; accepted: one target per input")
    if record_steps is None:
        record_steps = np.unique(np.linspace(0, steps, min(steps, 100) + 1).round().astype(int))
    record = set(int(s) for s in record_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    rec_steps, f_tr, f_te, losses = [], [], [], []
    show = (not quiet()) if progress is None else progress
    for k in tqdm(range(steps + 1), disable=not show, desc="gradient descent", leave=False):
        f = _flat_outputs(model(X), N)
        loss = ((f - Y) ** 2).mean()
        if k in record:
            rec_steps.append(k)
            f_tr.append(f.detach().clone())
            losses.append(loss.detach())
            if X_test is not None:
                with torch.no_grad():
                    f_te.append(_flat_outputs(model(X_test), X_test.shape[0]).clone())
        if k == steps:
            break
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
    return TrainRecord(np.array(rec_steps), torch.stack(f_tr),
                       torch.stack(f_te) if X_test is not None else None, torch.stack(losses), float(lr))


def ntk_flow(theta_XX, f0_X, Y, times, *, theta_tX=None, f0_t=None):
    """Infinite-width prediction of gradient flow on C = (1/N) ||f(X) - Y||^2 (Jacot et al. 2018, §5):

        f_t(X) = Y - exp(-(2t/N) Theta(X, X)) (Y - f_0(X))
        f_t(x) = f_0(x) + Theta(x, X) Theta(X, X)^{-1} (I - exp(-(2t/N) Theta(X, X))) (Y - f_0(X))

    computed from one eigendecomposition Theta(X, X) = V diag(lam) V^T (no matrix exponential per time;
    (1 - exp(-2 t lam / N)) / lam is evaluated stably, tending to 2t/N as lam -> 0).

    Args:
        theta_XX: (N, N) symmetric kernel on the training inputs.  f0_X: (N,) outputs at t = 0.
        Y: (N,) targets.  times: flow times t (gradient descent with step eta at step k: t = eta k).
        theta_tX: optional (M, N) kernel between test and training inputs, with f0_t (M,) test outputs at t = 0.
    Returns:
        (f_X, f_t): tensors (T, N) and (T, M) (f_t is None without test inputs).
    """
    K = torch.as_tensor(theta_XX, dtype=torch.float64)
    N = K.shape[0]
    Y = torch.as_tensor(Y, dtype=K.dtype, device=K.device).reshape(N)
    f0 = torch.as_tensor(f0_X, dtype=K.dtype, device=K.device).reshape(N)
    t = torch.as_tensor(np.asarray(times, dtype=np.float64), device=K.device).reshape(-1, 1)
    lam, V = torch.linalg.eigh((K + K.T) / 2)
    r0 = V.T @ (Y - f0)                                    # initial residual in the eigenbasis
    decay = torch.exp(-2.0 * t * lam / N)                  # (T, N)
    f_X = Y - (decay * r0) @ V.T
    if theta_tX is None:
        return f_X, None
    Kt = torch.as_tensor(theta_tX, dtype=K.dtype, device=K.device)
    ft0 = torch.as_tensor(f0_t, dtype=K.dtype, device=K.device).reshape(Kt.shape[0])
    safe = torch.where(lam.abs() > 1e-300, lam, torch.ones_like(lam))
    gain = torch.where(lam.abs() > 1e-300, -torch.expm1(-2.0 * t * lam / N) / safe, 2.0 * t / N)
    return f_X, ft0 + (gain * r0) @ (Kt @ V).T


def kernel_gd(theta, f0, Y, train_idx, *, lr, batches, record_steps=None):
    """Kernel (stochastic) gradient descent in function space, the infinite-width image of SGD.

    Each step uses a minibatch B of training indices and the cost C_B = (1/|B|) ||f(X_B) - Y_B||^2:
        f(x) <- f(x) - lr (2/|B|) Theta(x, X_B) (f(X_B) - Y_B)        for every point x
    which is what SGD with the same step and minibatches does to a network whose NTK is Theta
    (Yang and Littwin 2021, Thm. 2.2).

    Args:
        theta: (P, P) kernel on all points (training points and any others to track).
        f0: (P,) outputs at initialisation.  Y: (n_train,) targets of the training points.
        train_idx: (n_train,) indices of the training points among the P points.
        lr: step size.  batches: a sequence of index arrays into the training set (one per step).
        record_steps: steps at which f is recorded (default every step, 0 included).
    Returns:
        (steps, f): numpy array (T,) and tensor (T, P).
    """
    K = torch.as_tensor(theta, dtype=torch.float64)
    f = torch.as_tensor(f0, dtype=K.dtype, device=K.device).reshape(-1).clone()
    Y = torch.as_tensor(Y, dtype=K.dtype, device=K.device).reshape(-1)
    tr = torch.as_tensor(np.asarray(train_idx), device=K.device)
    n_steps = len(batches)
    rec = set(range(n_steps + 1)) if record_steps is None else set(int(s) for s in record_steps)
    steps, out = [], []
    for k in range(n_steps + 1):
        if k in rec:
            steps.append(k)
            out.append(f.clone())
        if k == n_steps:
            break
        b = torch.as_tensor(np.asarray(batches[k]), device=K.device)
        idx = tr[b]
        f = f - lr * (2.0 / len(b)) * (K[:, idx] @ (f[idx] - Y[b]))
    return np.array(steps), torch.stack(out)
