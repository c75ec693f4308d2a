"""Training dynamics: gradient descent on the mean squared error, recorded in function space, beside
the infinite-width linear ODE and its eigen-decomposition ("NTK PCA").  Notebook 03's experiments
built on them (decay per eigendirection, the narrow valley, the sweep over widths) are in
ntklib.convergence.

Cost C(theta) = (1/N) ||f_theta(X) - Y||^2.  Gradient flow gives
d/dt f_t(X) = (2/N) Theta (Y - f_t(X)) (Jacot, Gabriel, Hongler 2018, §5); gradient descent with
step eta follows the flow at t = eta * steps.  With Theta(X, X) = V diag(lam) V^T, the residual
along eigenvector v_i decays as exp(-2 lam_i t / N) (flow) or (1 - 2 eta lam_i / N)^k (gradient
descent, step eta, k steps).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ._checks import (
    as_kernel_matrix,
    as_vector,
    check_indices,
    check_nonnegative_int,
    check_positive_int,
    check_real,
    model_inputs,
)
from ._lowrank import _LowRankWeight
from .devices import resolve_device

__all__ = [
    "train_gd",
    "TrainRecord",
    "quiet",
    "ntk_flow",
    "kernel_gd",
    "ntk_pca",
    "mode_coefficients",
    "mode_rates",
    "condition_number",
]


def quiet() -> bool:
    """Whether progress bars stay silent: under CI, papermill runs of the Makefile, or
    NTKLIB_QUIET=1.

    Every tqdm bar in ntklib and in the notebooks is created with `disable=nk.dynamics.quiet()`.

    Returns:
        True when the environment variable NTKLIB_QUIET or CI is set to a non-empty value, else
        False.
    Example:
        >>> isinstance(nk.dynamics.quiet(), bool)
        True
    """
    return bool(os.environ.get("NTKLIB_QUIET") or os.environ.get("CI"))


@dataclass
class TrainRecord:
    """What `train_gd` recorded: at each recorded step k, the outputs on the training and test
    inputs.

    Step k of gradient descent with step lr is compared with the gradient flow at time t = lr * k
    (the property `times`), which is where `ntk_flow` evaluates the infinite-width prediction.

    Args:
        steps: (T,) numpy array of the recorded step numbers (by default 0 and the last step
            included).
        f_train: (T, N) tensor, f_theta(X) on the training inputs at each recorded step.
        f_test: (T, M) tensor, the outputs on X_test at each recorded step, or None without test
            inputs.
        loss: (T,) tensor, C(theta) = (1/N) ||f_theta(X) - Y||^2 at each recorded step.
        lr: the gradient-descent step eta.
    Example:
        >>> X, _ = nk.data.circle(4); net = nk.FCNet(2, 64, 2, seed=0)
        >>> rec = nk.train_gd(net, X, X[:, 0], lr=0.5, steps=20, record_steps=[0, 10, 20],
        ...                   progress=False)
        >>> rec.steps.tolist(), rec.times.tolist(), tuple(rec.f_train.shape), rec.f_test
        ([0, 10, 20], [0.0, 5.0, 10.0], (3, 4), None)
    """

    steps: np.ndarray  # (T,) recorded step numbers, 0 and the last included
    f_train: torch.Tensor  # (T, N)
    f_test: torch.Tensor | None  # (T, M) or None
    loss: torch.Tensor  # (T,)  C(theta) at each recorded step
    lr: float

    @property
    def times(self) -> np.ndarray:
        """Gradient-flow time t = lr * step of each record."""
        return self.lr * self.steps

    def to(self, device=None, dtype=None) -> "TrainRecord":
        """The same record with its tensors on `device` (e.g. "cpu" after training on a GPU) / in
        `dtype`."""

        def move(t):
            return None if t is None else t.to(device=resolve_device(device), dtype=dtype)

        return TrainRecord(
            self.steps, move(self.f_train), move(self.f_test), move(self.loss), self.lr
        )


def _flat_outputs(out, n, name="model"):
    if out.shape not in ((n,), (n, 1)):
        raise ValueError(
            f"{name}: returned shape {tuple(out.shape)}; accepted: scalar outputs, "
            f"({n},) or ({n}, 1)"
        )
    return out.reshape(n)


def _fast_fc(model) -> bool:
    """An FCNet without normalisation, all parameters trainable, forward not overridden."""
    from .networks import FCNet

    return (
        isinstance(model, FCNet)
        and model.norm is None
        and type(model).forward is FCNet.forward
        and type(model).layers is FCNet.layers
        and all(p.requires_grad for p in model.parameters())
    )


def _steps_from_times(record_times, lr, name="record_times"):
    k = as_vector(record_times, name).numpy() / lr
    ks = np.round(k)
    if (np.abs(k - ks) > 1e-9 * np.maximum(1.0, np.abs(k))).any() or (ks < 0).any():
        raise ValueError(
            f"{name}: got {k[:5] * lr}...; accepted: non-negative "
            f"multiples of lr = {lr} (gradient descent is recorded at t = lr * step)"
        )
    return ks.astype(int)


def train_gd(
    model,
    X,
    Y,
    *,
    lr,
    steps,
    record_steps=None,
    X_test=None,
    progress=None,
    record_times=None,
    method="auto",
) -> TrainRecord:
    """Full-batch gradient descent theta <- theta - lr grad C, C = (1/N) ||f(X) - Y||^2, in place.

    Args:
        model: scalar-output torch module (trained in place, on its own device).
        X: training inputs (N, n_0); moved to the model's dtype and device.
        Y: targets (N,) or (N, 1).
        lr: learning rate eta > 0; the flow time after k steps is t = eta k.
        steps: number of steps.
        record_steps: the steps at which f is recorded (default about 100, evenly spaced, 0 and
            `steps` included).
        X_test: optional inputs whose outputs are recorded too (evaluated as one batch).
        progress: show a tqdm bar (default: yes, unless quiet()).
        record_times: alternatively, the flow times t = lr * step at which to record (multiples of
            lr).
        method: "autograd" (any module: torch.autograd.grad, then p -= lr g), "lowrank" (an FCNet
            without norm: the same arithmetic with each weight kept as W0 + U V^T; with N inputs a
            step changes W^(l) by the rank-N matrix -lr c_l g^T a^(l), so the low-rank factors
            replace the ~8 passes over every weight matrix per step by 2 reads of W0; the factors
            are folded into W0 every ~width/8 ranks) or "auto" (lowrank where it applies, else
            autograd).
    Returns:
        TrainRecord with steps, f_train, f_test, loss, lr (and times = lr * steps), tensors on the
        model's device (`rec.to("cpu")` brings them back).
    Example:
        >>> X, _ = nk.data.circle(4); net = nk.FCNet(2, 64, 2, seed=0)
        >>> rec = nk.train_gd(net, X, X[:, 0], lr=0.5, steps=20, progress=False)
        >>> tuple(rec.f_train.shape), float(rec.times[-1]), bool(rec.loss[-1] < rec.loss[0])
        ((21, 4), 10.0, True)
    """
    lr = check_real(lr, "lr", positive=True, accepted="a finite number > 0 (the step size)")
    steps = check_nonnegative_int(steps, "steps")
    if method not in ("auto", "autograd", "lowrank"):
        raise ValueError(f"method: got {method!r}; accepted: 'auto', 'autograd' or 'lowrank'")
    fast = _fast_fc(model)
    if method == "lowrank" and not fast:
        raise ValueError(
            "method: 'lowrank' needs an nk.FCNet with norm=None and all parameters trainable; "
            "accepted for other models: 'autograd' or 'auto'"
        )
    X = model_inputs(model, X, "X")
    if X_test is not None:
        X_test = model_inputs(model, X_test, "X_test")
    if fast and X.shape[1] != model.n_in:
        raise ValueError(
            f"X: got shape {tuple(X.shape)}; accepted: shape (N, n_in) = (N, {model.n_in})"
        )
    if fast and X_test is not None and X_test.shape[1] != model.n_in:
        raise ValueError(
            f"X_test: got shape {tuple(X_test.shape)}; accepted: shape (M, n_in) = "
            f"(M, {model.n_in})"
        )
    N = X.shape[0]
    Y = as_vector(Y, "Y", dtype=X.dtype, device=X.device).to(X)
    if Y.shape[0] != N:
        raise ValueError(
            f"Y: has {Y.shape[0]} targets for {N} inputs; accepted: one target per input"
        )
    if record_times is not None:
        if record_steps is not None:
            raise ValueError("record_times: give either record_steps or record_times, not both")
        record_steps = _steps_from_times(record_times, float(lr))
    if record_steps is None:
        record_steps = np.unique(np.linspace(0, steps, min(steps, 100) + 1).round().astype(int))
    record_steps = check_indices(record_steps, steps + 1, "record_steps")
    if record_steps.size == 0:
        raise ValueError("record_steps: is empty; accepted: at least one step in 0..steps")
    record = set(int(s) for s in record_steps.reshape(-1))
    show = (not quiet()) if progress is None else progress
    bar = tqdm(range(steps + 1), disable=not show, desc="gradient descent", leave=False)
    if fast and method in ("auto", "lowrank"):
        out = _train_fc_lowrank(model, X, Y, float(lr), steps, record, X_test, bar)
    else:
        out = _train_autograd(model, X, Y, float(lr), steps, record, X_test, bar)
    rec_steps, f_tr, f_te, losses = out
    return TrainRecord(
        np.array(rec_steps),
        torch.stack(f_tr),
        torch.stack(f_te) if X_test is not None else None,
        torch.stack(losses),
        float(lr),
    )


def _train_autograd(model, X, Y, lr, steps, record, X_test, bar):
    N = X.shape[0]
    params = [p for p in model.parameters() if p.requires_grad]
    rec_steps, f_tr, f_te, losses = [], [], [], []
    for k in bar:
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
    return rec_steps, f_tr, f_te, losses


def _train_fc_lowrank(net, X, Y, lr, steps, record, X_test, bar):
    """Gradient descent of an FCNet (norm=None) by hand: forward, backward through the layers,
    rank-N weight updates kept as factors.  Same arithmetic as autograd + p -= lr g (up to
    rounding)."""
    N = X.shape[0]
    L, beta, act, c = net.depth, net.beta, net.activation, net.scales
    rec_steps, f_tr, f_te, losses = [], [], [], []
    with torch.no_grad():
        Ws = [_LowRankWeight(w.detach(), N) for w in net.weights]
        bs = [v.detach() for v in net.biases]

        def forward(Z, keep):
            a, acts, pre = Z, [], []
            for l in range(L):
                z = c[l] * Ws[l].forward(a) + beta * bs[l]
                if keep:
                    acts.append(a)
                    pre.append(z)
                if l < L - 1:
                    a = act(z)
            return z, acts, pre

        for k in bar:
            out, acts, pre = forward(X, True)
            f = _flat_outputs(out, N, "model")
            resid = f - Y
            if k in record:
                rec_steps.append(k)
                f_tr.append(f.clone())
                losses.append((resid**2).mean())
                if X_test is not None:
                    f_te.append(_flat_outputs(forward(X_test, False)[0], X_test.shape[0]).clone())
            if k == steps:
                break
            g = (2.0 / N) * resid.reshape(N, 1)  # dC/dz^(L)
            for l in range(L - 1, -1, -1):
                g_prev = None
                if l > 0:  # dC/dz^(l) = c_l (g W_l) * sigma'(z^(l))
                    g_prev = c[l] * Ws[l].backward(g) * act.deriv(pre[l - 1])
                Ws[l].add_outer((-lr * c[l]) * g.T, acts[l].T)  # W_l -= lr c_l g^T a^(l)
                bs[l].sub_((lr * beta) * g.sum(0))
                g = g_prev
        for w in Ws:
            w.fold()
    return rec_steps, f_tr, f_te, losses


def _gd_factors(lam, t, N, lr):
    """decay(t) = exp(-2 t lam / N) (lr None) or (1 - 2 lr lam / N)^(t / lr), and
    gain(t) = (1 - decay) / lam (-> 2t/N as lam -> 0), both (T, n), computed without
    cancellation."""
    tiny = lam.abs() <= 1e-300
    safe = torch.where(tiny, torch.ones_like(lam), lam)
    if lr is None:
        x = -2.0 * t * lam / N
        decay = torch.exp(x)
        gain = torch.where(tiny, 2.0 * t / N, -torch.expm1(x) / safe)
        return decay, gain
    k = torch.round(t / lr)
    a = 2.0 * lr * lam / N  # (n,)
    decay = torch.pow(1.0 - a, k)
    stable = a < 1.0
    logq = torch.log1p(-torch.where(stable, a, torch.zeros_like(a)))
    g_stable = -torch.expm1(k * logq) / safe
    gain = torch.where(stable, g_stable, (1.0 - decay) / safe)
    gain = torch.where(tiny, 2.0 * lr * k / N, gain)
    return decay, gain


def ntk_flow(theta_XX, f0_X, Y, times, *, theta_tX=None, f0_t=None, lr=None):
    """Infinite-width prediction of gradient flow on C = (1/N) ||f(X) - Y||^2
    (Jacot et al. 2018, §5):

        f_t(X) = Y - exp(-(2t/N) Theta(X, X)) (Y - f_0(X))
        f_t(x) = f_0(x) + Theta(x, X) Theta(X, X)^{-1} (I - exp(-(2t/N) Theta(X, X))) (Y - f_0(X))

    computed from one eigendecomposition Theta(X, X) = V diag(lam) V^T (no matrix exponential per
    time; (1 - exp(-2 t lam / N)) / lam is evaluated stably, tending to 2t/N as lam -> 0).

    With `lr` given, the same linear model trained by gradient descent with step lr instead (the
    Euler discretisation of the ODE, exact for a network whose NTK is constant): exp(-2 t lam / N)
    becomes (1 - 2 lr lam / N)^k at t = lr k.

    Args:
        theta_XX: (N, N) symmetric kernel on the training inputs.  f0_X: (N,) outputs at t = 0.
        Y: (N,) targets.  times: flow times t (gradient descent with step eta at step k: t = eta k).
        theta_tX: optional (M, N) kernel between test and training inputs, with f0_t (M,) test
            outputs at t = 0.
        lr: None for the flow, or the gradient-descent step (then times must be multiples of lr).
    Returns:
        (f_X, f_t): float64 tensors (T, N) and (T, M) (f_t is None without test inputs).
    Example:
        >>> X, _ = nk.data.circle(4); Y = X[:, 0]; K = nk.ntk(X, depth=2)
        >>> f_X, _ = nk.ntk_flow(K, torch.zeros(4), Y, [0.0, 1e4])        # t = 0, and t -> infinity
        >>> tuple(f_X.shape), bool(torch.allclose(f_X[0], 0 * Y)), bool(torch.allclose(f_X[-1], Y))
        ((2, 4), True, True)
    """
    K = as_kernel_matrix(theta_XX, "theta_XX", symmetric=True)
    N = K.shape[0]
    Y = as_vector(Y, "Y", N, device=K.device)
    f0 = as_vector(f0_X, "f0_X", N, device=K.device)
    if lr is not None:
        lr = check_real(
            lr, "lr", positive=True, accepted="None (gradient flow) or a finite step size > 0"
        )
        _steps_from_times(times, lr, "times")
    t = as_vector(times, "times", device=K.device)
    if bool((t < 0).any()):
        raise ValueError(f"times: got {t.tolist()[:5]}...; accepted: flow times t >= 0")
    t = t.reshape(-1, 1)
    lam, V = torch.linalg.eigh((K + K.T) / 2)
    r0 = V.T @ (Y - f0)  # initial residual in the eigenbasis
    decay, gain = _gd_factors(lam, t, N, lr)  # (T, N)
    f_X = Y - (decay * r0) @ V.T
    if theta_tX is None:
        return f_X, None
    Kt = as_kernel_matrix(theta_tX, "theta_tX", square=False, cols=N, device=K.device)
    if f0_t is None:
        raise ValueError(
            "f0_t: got None with theta_tX given; accepted: the (M,) test outputs at t = 0"
        )
    ft0 = as_vector(f0_t, "f0_t", Kt.shape[0], device=K.device)
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
        (steps, f): numpy array (T,) and float64 tensor (T, P).
    Example:
        With full batches, kernel gradient descent is `ntk_flow` with the same step lr:

        >>> X, _ = nk.data.circle(4); Y = X[:, 0]; K = nk.ntk(X, depth=2)
        >>> steps, f = nk.kernel_gd(K, torch.zeros(4), Y, range(4), lr=0.1, batches=[range(4)] * 5)
        >>> f_X, _ = nk.ntk_flow(K, torch.zeros(4), Y, [0.5], lr=0.1)       # t = lr * 5 steps
        >>> steps.tolist(), bool(torch.allclose(f[-1], f_X[-1]))
        ([0, 1, 2, 3, 4, 5], True)
    """
    K = as_kernel_matrix(theta, "theta")
    P = K.shape[0]
    f = as_vector(f0, "f0", P, device=K.device).clone()
    tr_np = check_indices(train_idx, P, "train_idx").reshape(-1)
    if tr_np.size == 0:
        raise ValueError("train_idx: is empty; accepted: at least one training index")
    Y = as_vector(Y, "Y", tr_np.size, device=K.device)
    tr = torch.as_tensor(tr_np, device=K.device)
    lr = check_real(lr, "lr", positive=True, accepted="a finite step size > 0")
    if isinstance(batches, (str, bytes)) or not hasattr(batches, "__len__"):
        raise ValueError(
            f"batches: got {type(batches).__name__}; accepted: a sequence of index "
            "arrays into the training set, one per step"
        )
    batch_idx = []
    for k, b in enumerate(batches):
        b = check_indices(b, tr_np.size, f"batches[{k}]").reshape(-1)
        if b.size == 0:
            raise ValueError(f"batches[{k}]: is empty; accepted: at least one training index")
        batch_idx.append(torch.as_tensor(b, device=K.device))
    n_steps = len(batch_idx)
    if record_steps is None:
        rec = set(range(n_steps + 1))
    else:
        rec = set(
            int(s) for s in check_indices(record_steps, n_steps + 1, "record_steps").reshape(-1)
        )
        if not rec:
            raise ValueError(
                "record_steps: is empty; accepted: at least one step in 0..len(batches)"
            )
    steps, out = [], []
    for k in range(n_steps + 1):
        if k in rec:
            steps.append(k)
            out.append(f.clone())
        if k == n_steps:
            break
        b = batch_idx[k]
        idx = tr[b]
        f = f - lr * (2.0 / len(b)) * (K[:, idx] @ (f[idx] - Y[b]))
    return np.array(steps), torch.stack(out)


# ---- eigen-decomposition: speed per eigendirection, NTK PCA --------------------------------------


def ntk_pca(theta, k=None):
    """Eigen-decomposition of a kernel Gram matrix, largest eigenvalue first ("NTK PCA").

    Theta(X, X) = sum_i lam_i v_i v_i^T.  Signs are fixed for reproducibility: each eigenvector has
    a non-negative sum (or, when the sum vanishes, a positive largest-magnitude entry).  The
    principal coordinates of input x_j are sqrt(lam_i) v_i[j] (kernel PCA without centring).

    Args:
        theta: (N, N) symmetric kernel.  k: keep the top k (default all).
    Returns:
        (lam, V): float64 tensors (k,) descending and (N, k) with orthonormal columns.
    Example:
        >>> K = nk.ntk(nk.data.circle(4)[0], depth=2); lam, V = nk.ntk_pca(K)
        >>> bool(torch.allclose(V @ torch.diag(lam) @ V.T, K)), bool((lam[:-1] >= lam[1:]).all())
        (True, True)
    """
    K = as_kernel_matrix(theta, "theta", symmetric=True)
    if k is not None:
        k = check_positive_int(k, "k")
        if k > K.shape[0]:
            raise ValueError(f"k: got {k}; accepted: an integer in 1..N = 1..{K.shape[0]}")
    lam, V = torch.linalg.eigh((K + K.T) / 2)
    lam, V = lam.flip(0), V.flip(1)
    s = V.sum(0)
    peak = V.gather(0, V.abs().argmax(0, keepdim=True)).reshape(-1)
    sign = torch.where(s.abs() > 1e-10 * math.sqrt(K.shape[0]), torch.sign(s), torch.sign(peak))
    V = V * torch.where(sign == 0, torch.ones_like(sign), sign)
    if k is not None:
        lam, V = lam[:k], V[:, :k]
    return lam, V


def mode_coefficients(F, Y, V):
    """Residual Y - f_t(X) along each eigenvector: c_i(t) = v_i . (Y - f_t(X)).

    Under the flow c_i(t) = c_i(0) exp(-2 lam_i t / N) (`ntk_flow`, `mode_rates`).

    Args:
        F: (T, N) outputs on the training inputs (e.g. TrainRecord.f_train).  Y: (N,) targets.
        V: (N, k) eigenvectors (e.g. from `ntk_pca`).
    Returns:
        (T, k) float64 tensor.
    Example:
        >>> K = nk.ntk(nk.data.circle(4)[0], depth=2); lam, V = nk.ntk_pca(K)
        >>> # Y = v_1: one unit along mode 1
        >>> c = nk.mode_coefficients(torch.zeros(1, 4), V[:, 0], V)
        >>> [round(float(v), 6) + 0.0 for v in c[0]]
        [1.0, 0.0, 0.0, 0.0]
    """
    F = torch.as_tensor(F, dtype=torch.float64)
    Y = torch.as_tensor(Y, dtype=torch.float64).reshape(1, -1)
    return (Y - F) @ torch.as_tensor(V, dtype=torch.float64)


def mode_rates(lam, N, lr=None):
    """Decay rate per unit time of each eigendirection: 2 lam / N (flow), or with gradient-descent
    step lr, -log(1 - 2 lr lam / N) / lr (which tends to 2 lam / N as lr -> 0).

    The residual along eigenvector v_i of Theta(X, X) behaves as exp(-rate_i t), t = lr * steps.

    Args:
        lam: (k,) eigenvalues of Theta(X, X).  N: number of training inputs.
        lr: None for the flow, or the gradient-descent step (needs 2 lr lam / N < 1 for a finite
            rate).
    Returns:
        (k,) float64 tensor of rates.
    Example:
        >>> [round(float(v), 6) for v in nk.mode_rates([2.0, 1.0], 4)]               # 2 lam / N
        [1.0, 0.5]
        >>> # -log(1 - 2 lr lam / N) / lr
        >>> [round(float(v), 6) for v in nk.mode_rates([2.0, 1.0], 4, lr=0.5)]
        [1.386294, 0.575364]
    """
    lam = as_vector(lam, "lam")
    N = check_positive_int(N, "N")
    if lr is None:
        return 2.0 * lam / N
    lr = check_real(lr, "lr", positive=True, accepted="None (gradient flow) or a finite step > 0")
    return -torch.log1p(-2.0 * lr * lam / N) / lr


def condition_number(lam) -> float:
    """kappa = lam_max / lam_min of a positive definite kernel's spectrum.

    Args:
        lam: eigenvalues (any order), e.g. from `ntk_pca` or torch.linalg.eigvalsh.
    Returns:
        float.
    Example:
        >>> nk.condition_number(torch.tensor([4.0, 1.0, 2.0]))
        4.0
    """
    lam = as_vector(lam, "lam")
    if not bool((lam > 0).all()):
        raise ValueError(
            f"lam: has min {float(lam.min()):.3g}; accepted: the eigenvalues of a positive "
            "definite kernel, all > 0"
        )
    return float(lam.max() / lam.min())
