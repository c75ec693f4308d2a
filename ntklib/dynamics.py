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

__all__ = ["train_gd", "TrainRecord", "quiet"]


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
