"""Notebook 03's convergence experiments in the linear-ODE picture: the decay of each
eigendirection, conditioning and spectra, the narrow valley, finite networks against the linear ODE
across widths (`ode_gap_sweep`, `kernel_scale_fit`, `ensemble_zscores`)."""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm import tqdm

from .._checks import model_inputs
from .._ensemble_gd import BATCH_BYTES, fc_batch_compatible, train_fc_batched
from ..devices import resolve_device
from ..dynamics import _gd_factors, ntk_flow, ntk_pca, quiet, train_gd
from ..empirical import empirical_ntk
from ..kernels import ntk
from ..networks import FCNet
from ..stats import relative_error

__all__ = [
    "fit_decay_rates",
    "mode_decay",
    "convergence_time",
    "constant_mode_cosine",
    "eigen_gap",
    "narrow_valley",
    "ode_gap_sweep",
    "kernel_scale_fit",
    "ensemble_zscores",
]


# ---- decay per eigendirection, conditioning, spectra ---------------------------------------------


def fit_decay_rates(times, coeffs, predicted, *, floor=0.02):
    """Measured exponential decay rate of each column of `coeffs` (T, k) over the times where the
    predicted decay exp(-predicted_i t) is still above `floor` (the window is set by theory, not by
    the data, so noise at late times cannot bias it).  The fit pools the squared coefficients of all
    leading dimensions (e.g. seeds): log sum_s c_{s,i}(t)^2 = const - 2 rate_i t, least squares.

    Args:
        times: (T,) flow times.  coeffs: (..., T, k) mode coefficients (leading dims are pooled).
        predicted: (k,) predicted rates (they set each window; at least 3 times are always used).
    Returns:
        (k,) numpy array of measured rates.
    Example:
        >>> t = torch.linspace(0, 4, 9, dtype=torch.float64)
        >>> coeffs = torch.exp(-torch.outer(t, torch.tensor([1.0, 0.25],  # c_i = e^(-rate_i t)
        ...                                                 dtype=torch.float64)))
        >>> [round(float(v), 6) for v in nk.convergence.fit_decay_rates(t, coeffs, [1.0, 0.25])]
        [1.0, 0.25]
    """
    t = np.asarray(times, dtype=np.float64)
    C = np.asarray(torch.as_tensor(coeffs).detach().cpu(), dtype=np.float64)
    C = C.reshape(-1, C.shape[-2], C.shape[-1])
    energy = (C**2).sum(0)  # (T, k)
    rates = []
    for i, rho in enumerate(np.asarray(torch.as_tensor(predicted).cpu(), dtype=np.float64)):
        t_max = math.log(1.0 / floor) / rho if rho > 0 else np.inf
        keep = t <= t_max
        if keep.sum() < 3:
            keep = np.zeros_like(keep)
            keep[:3] = True
        slope = np.polyfit(t[keep], np.log(energy[keep, i]), 1)[0]
        rates.append(-slope / 2.0)
    return np.array(rates)


def mode_decay(times, coeffs, rates):
    """Observed decay c_i(t) / c_i(0) of each eigendirection against exp(-rate_i t).

    The error is on the normalised curve (between 0 and 1), so it is meaningful only for directions
    that start with a residual well above the noise (give every direction one, e.g.
    Y = f_0 + sum_i v_i).

    Args:
        times: (T,) flow times (t = 0 first).  coeffs: (T, k) from `mode_coefficients`.
        rates: (k,) from `mode_rates`.
    Returns:
        (observed (T, k), predicted (T, k), error (k,) = max_t |observed - predicted|), numpy
        arrays.
    Example:
        With the infinite-width flow itself, every direction decays exactly as predicted:

        >>> K = nk.ntk(nk.data.circle(4)[0], depth=2); lam, V = nk.ntk_pca(K)
        >>> Y = V.sum(1)   # c_i(0) = 1
        >>> t = [0.0, 1.0, 2.0]; f_X, _ = nk.ntk_flow(K, torch.zeros(4), Y, t)
        >>> obs, pred, err = nk.convergence.mode_decay(t, nk.mode_coefficients(f_X, Y, V),
        ...                                            nk.mode_rates(lam, 4))
        >>> obs.shape, bool(err.max() < 1e-12)
        ((3, 4), True)
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1, 1)
    C = np.asarray(torch.as_tensor(coeffs).detach().cpu(), dtype=np.float64)
    rho = np.asarray(torch.as_tensor(rates).detach().cpu(), dtype=np.float64).reshape(1, -1)
    observed = C / C[:1]
    predicted = np.exp(-rho * t)
    return observed, predicted, np.abs(observed - predicted).max(0)


def convergence_time(lam, N, *, tol=1e-2) -> dict:
    """How long the slowest eigendirection takes to shrink by the factor `tol`.

    Flow: t = N log(1/tol) / (2 lam_min).  Gradient descent: a step lr is stable only while
    |1 - 2 lr lam_max / N| < 1; the best constant step lr* = N / (lam_max + lam_min) shrinks the
    extreme modes by (kappa - 1)/(kappa + 1) per step, so it needs
    log(1/tol) / log((kappa + 1)/(kappa - 1)) ~ kappa log(1/tol) / 2 steps: the condition number
    kappa is the price of the narrow valley.

    Args:
        lam: eigenvalues of Theta(X, X) (positive).  N: number of training inputs.
        tol: the factor by which the slowest direction must shrink.
    Returns:
        dict with "time" (flow time), "kappa", "lr_best" (= N / (lam_max + lam_min)) and
        "steps_best".
    Example:
        >>> c = nk.convergence.convergence_time([3.0, 1.0], 4,
        ...                                     tol=0.5)  # kappa = 3: (kappa - 1)/(kappa + 1) = 1/2
        >>> round(c["time"], 6), c["kappa"], c["lr_best"], round(c["steps_best"], 6)
        (1.386294, 3.0, 1.0, 1.0)
    """
    lam = torch.as_tensor(lam, dtype=torch.float64)
    lo, hi = float(lam.min()), float(lam.max())
    kappa = hi / lo
    steps = math.log(1.0 / tol) / math.log((kappa + 1.0) / (kappa - 1.0)) if kappa > 1 else 1.0
    return {
        "time": N * math.log(1.0 / tol) / (2.0 * lo),
        "kappa": kappa,
        "lr_best": N / (hi + lo),
        "steps_best": steps,
    }


def constant_mode_cosine(v) -> float:
    """|cos| of the angle between a vector and the all-ones vector (1 means constant):
    |sum_i v_i| / (||v|| sqrt(n)).

    Args:
        v: a vector (any shape; flattened), e.g. an eigenvector of a kernel matrix.
    Returns:
        float in [0, 1].
    Example:
        >>> cos = nk.convergence.constant_mode_cosine
        >>> round(cos(torch.ones(5)), 12), cos(torch.tensor([1.0, -1.0]))
        (1.0, 0.0)
    """
    v = torch.as_tensor(v, dtype=torch.float64).reshape(-1)
    return float(v.sum().abs() / (v.norm() * math.sqrt(v.numel())))


def eigen_gap(lam):
    """(lam_1 / lam_2, lam_1 - lam_2) of a spectrum sorted in decreasing order.

    Args:
        lam: eigenvalues, largest first (e.g. from `ntk_pca`).
    Returns:
        (ratio, difference) as floats.
    Example:
        >>> nk.convergence.eigen_gap(torch.tensor([4.0, 1.0, 0.5]))
        (4.0, 3.0)
    """
    lam = torch.as_tensor(lam, dtype=torch.float64)
    return float(lam[0] / lam[1]), float(lam[0] - lam[1])


# ---- the loss surface along eigendirections: the narrow valley -----------------------------------


def narrow_valley(model, X, Y, *, modes=(0, -1), radius=None, n_grid=25):
    """The loss C(theta_0 + s_1 d_1 + s_2 d_2) of a network on the plane of two parameter directions
    that move f(X) along eigenvectors of its own NTK Gram matrix (Jacot, Gabriel, Hongler 2019a).

    With J the Jacobian of f(X) and Theta = J J^T = sum_i lam_i u_i u_i^T, the unit parameter
    direction d_i = J^T u_i / sqrt(lam_i) moves the outputs by J d_i = sqrt(lam_i) u_i, so to
    second order
        C(theta_0 + s d_i) = C_0 - (2 s sqrt(lam_i) / N) u_i.(Y - f_0) + (lam_i / N) s^2:
    curvature 2 lam_i / N, steep "cliffs" along the top eigenvector, a flat "bottom" along the last,
    their ratio the condition number.  (The Hessian's other term, sum_j (f_j - Y_j) Hess f_j,
    vanishes as the width grows.)

    Args:
        model: scalar-output module (not modified).  X: (N, n_0) inputs.  Y: (N,) targets.
        modes: indices of the two eigenvectors (largest eigenvalue first; -1 is the smallest).
        radius: half-width of the grid in parameter distance (default: where the quadratic rise
            along the second mode equals 2 C_0).  n_grid: points per axis (odd keeps s = 0 on the
            grid).
    Returns:
        dict with "s" (n_grid,), "loss" (n_grid, n_grid) real network [i: s_1, j: s_2],
        "loss_quadratic" (the second-order model), "lam" (all eigenvalues, descending), "modes",
        "curvature" (d_i^T Hess C d_i at theta_0, exact, for the two directions) and
        "curvature_theory" 2 lam_i / N, "C0".
    Example:
        >>> X, _ = nk.data.circle(4); net = nk.FCNet(2, 64, 2, seed=0)
        >>> v = nk.convergence.narrow_valley(net, X, X[:, 0], n_grid=3)  # the grid centre s = 0
        ...                                                              # is theta_0 itself
        >>> tuple(v["loss"].shape), v["modes"], round(float(v["loss"][1, 1]) - v["C0"], 12) + 0.0
        ((3, 3), (0, 3), 0.0)
    """
    from torch.func import functional_call

    from .._checks import as_vector, check_positive_int, check_real, model_inputs, scalar

    X = model_inputs(model, X, "X")
    N = X.shape[0]
    Y = as_vector(Y, "Y", N, dtype=X.dtype, device=X.device)
    ms = [scalar(m) for m in modes] if isinstance(modes, (tuple, list)) else None
    if (
        ms is None
        or len(ms) != 2
        or not all(isinstance(m, int) and not isinstance(m, bool) and -N <= m < N for m in ms)
    ):
        raise ValueError(
            f"modes: got {modes!r}; accepted: two eigenvector indices in -N..N-1 = "
            f"-{N}..{N - 1} (0 the largest eigenvalue, -1 the smallest)"
        )
    n_grid = check_positive_int(n_grid, "n_grid")
    if radius is not None:
        radius = check_real(radius, "radius", positive=True)
    params = {k: v.detach() for k, v in model.named_parameters()}
    theta = empirical_ntk(model, X)
    lam, U = ntk_pca(theta)
    modes = tuple(int(m) % N for m in ms)
    names, tensors = list(params), list(params.values())
    dirs = []
    for m in modes:
        with torch.enable_grad():
            leaves = [t.clone().requires_grad_(True) for t in tensors]
            out = functional_call(model, dict(zip(names, leaves)), (X,)).reshape(-1)
            grads = torch.autograd.grad(out @ U[:, m].to(out), leaves)
        dirs.append([g / math.sqrt(float(lam[m])) for g in grads])
    with torch.no_grad():
        f0 = functional_call(model, params, (X,)).reshape(-1)
        C0 = float(((f0 - Y) ** 2).mean())
        if radius is None:
            radius = math.sqrt(2.0 * C0 * N / float(lam[modes[1]]))
        s = torch.linspace(-radius, radius, n_grid, dtype=torch.float64)
        loss = torch.empty(n_grid, n_grid, dtype=torch.float64)
        for i, s1 in enumerate(s.tolist()):
            for j, s2 in enumerate(s.tolist()):
                p = {k: t + s1 * d1 + s2 * d2 for k, t, d1, d2 in zip(names, tensors, *dirs)}
                loss[i, j] = ((functional_call(model, p, (X,)).reshape(-1) - Y) ** 2).mean()
        u1, u2 = (U[:, m].to(X) * math.sqrt(float(lam[m])) for m in modes)
        f_lin = f0 + s.to(X)[:, None, None] * u1 + s.to(X)[None, :, None] * u2  # (n, n, N)
        loss_q = ((f_lin - Y) ** 2).mean(-1).cpu()
    curv = [_curvature(model, names, tensors, d, X, Y) for d in dirs]
    return {
        "s": s,
        "loss": loss,
        "loss_quadratic": loss_q,
        "lam": lam.cpu(),
        "modes": modes,
        "curvature": np.array(curv),
        "curvature_theory": (2.0 * lam[list(modes)] / N).cpu().numpy(),
        "C0": C0,
    }


def _curvature(model, names, tensors, d, X, Y):
    """d^T Hess C(theta_0) d, exactly, by forward-over-reverse differentiation (a Hessian-vector
    product)."""
    from torch.func import functional_call, grad, jvp

    def cost(p):
        return ((functional_call(model, p, (X,)).reshape(-1) - Y) ** 2).mean()

    p0 = dict(zip(names, tensors))
    _, hd = jvp(grad(cost), (p0,), (dict(zip(names, d)),))
    return float(sum((hd[k] * v).sum() for k, v in zip(names, d)))


# ---- finite networks against the linear ODE, across widths ---------------------------------------


def _seed_chunks(n_seeds, width, n_in, depth):
    """Seed ranges whose FCNets are held (and trained in one batch) at once: about BATCH_BYTES of
    float64 weights each."""
    per_net = 8 * (width * n_in + max(depth - 2, 0) * width * width + width + depth * width)
    size = max(1, int(BATCH_BYTES // per_net))
    return [range(a, min(a + size, n_seeds)) for a in range(0, n_seeds, size)]


def _train_many(nets, X, Y, X_test, lr, steps, record_steps, fixed):
    """train_gd on each net; FCNets of one architecture are trained together in one batch (the same
    arithmetic), the first by train_gd itself unless the recorded steps are already `fixed` (it
    checks the arguments and chooses the recorded steps)."""
    recs = []
    if not fixed:
        recs.append(
            train_gd(
                nets[0],
                X,
                Y,
                lr=lr,
                steps=steps,
                record_steps=record_steps,
                X_test=X_test,
                progress=False,
            )
        )
        record_steps = recs[0].steps
    todo = nets[len(recs) :]
    if todo and fc_batch_compatible(todo):
        Xm, Xt = model_inputs(todo[0], X, "X"), model_inputs(todo[0], X_test, "X_test")
        recs += train_fc_batched(
            todo, Xm, Y.to(Xm), lr=lr, steps=steps, record_steps=record_steps, X_test=Xt
        )
    else:
        recs += [
            train_gd(
                net,
                X,
                Y,
                lr=lr,
                steps=steps,
                record_steps=record_steps,
                X_test=X_test,
                progress=False,
            )
            for net in todo
        ]
    return recs


def ode_gap_sweep(
    X,
    Y,
    X_test,
    *,
    widths,
    seeds,
    depth,
    lr,
    steps,
    activation="relu",
    beta=0.1,
    record_steps=None,
    seed_offset=0,
    device=None,
):
    """Train FCNets of several widths by gradient descent and compare them with the infinite-width
    prediction `ntk_flow(Theta_inf, f_0, ..., lr=lr)` started from each network's own f_0.

    Per network:
        gap_train = max_t rms(f_t(X) - f_t^inf(X)) / rms(Y - f_0(X))      (and gap_test on X_test,
        with the same denominator): the function-space distance to the linear ODE, relative to the
        distance the training has to cover;
        kernel_move = ||Theta_hat_T - Theta_hat_0||_F / ||Theta_hat_0||_F on the training inputs;
        kernel_init = ||Theta_hat_0 - Theta_inf||_F / ||Theta_inf||_F.
    Both gaps and the kernel movement should fall like width^(-1/2) (Jacot et al. 2018, Thm. 2).

    Args:
        X, Y, X_test: training inputs (N, n_0), targets (N,), test inputs (M, n_0), float64.
        widths, seeds: hidden widths and number of seeds per width (network seed
            seed_offset + 1000 * width_index + s).
        depth, activation, beta: the FCNet and its kernel.  lr, steps, record_steps: as in train_gd.
        device: where the networks are trained ("cuda", "auto", ... as in `nk.resolve_device`; None:
            CPU); the kernels, records and predictions come back on the CPU.
    Returns:
        dict with "widths", "times", "theta" (Theta_inf(X, X)), "theta_test" (Theta_inf(X_test, X)),
        arrays (widths, seeds) "gap_train", "gap_test", "kernel_move", "kernel_init", and "records":
        [width][seed] TrainRecord, "predictions": [width][seed] (f_X, f_test) of the linear ODE.
    Example:
        >>> X, _ = nk.data.circle(4); X_test, _ = nk.data.circle(3, offset=0.3)
        >>> r = nk.convergence.ode_gap_sweep(X, X[:, 0], X_test, widths=[32, 128], seeds=2, depth=2,
        ...                                  lr=0.5, steps=4)
        >>> r["gap_train"].shape, r["times"].tolist()
        ((2, 2), [0.0, 0.5, 1.0, 1.5, 2.0])
    """
    theta = ntk(X, depth=depth, activation=activation, beta=beta)
    theta_t = ntk(X_test, X, depth=depth, activation=activation, beta=beta)
    Y = torch.as_tensor(Y, dtype=torch.float64).reshape(-1)
    n_w, n_s = len(widths), int(seeds)
    out = {k: np.zeros((n_w, n_s)) for k in ("gap_train", "gap_test", "kernel_move", "kernel_init")}
    records = [[None] * n_s for _ in widths]
    preds = [[None] * n_s for _ in widths]
    device = resolve_device(device)
    bar = tqdm(total=n_w * n_s, disable=quiet(), desc="widths x seeds", leave=False)
    first = None
    for i, w in enumerate(widths):
        for chunk in _seed_chunks(n_s, int(w), X.shape[1], depth):
            nets = [
                FCNet(
                    X.shape[1],
                    int(w),
                    depth,
                    activation=activation,
                    beta=beta,
                    seed=seed_offset + 1000 * i + s,
                    device=device,
                )
                for s in chunk
            ]
            K0 = [empirical_ntk(net, X).cpu() for net in nets]
            fixed = first is not None
            recs = _train_many(
                nets, X, Y, X_test, lr, steps, first if fixed else record_steps, fixed
            )
            first = recs[0].steps
            for s, net, rec in zip(chunk, nets, recs):
                rec = rec.to("cpu")
                K1 = empirical_ntk(net, X).cpu()
                fX, ft = ntk_flow(
                    theta, rec.f_train[0], Y, rec.times, theta_tX=theta_t, f0_t=rec.f_test[0], lr=lr
                )
                scale = float(torch.sqrt(((Y - rec.f_train[0]) ** 2).mean()))
                gap = torch.sqrt(((rec.f_train - fX) ** 2).mean(1)).max()
                out["gap_train"][i, s] = float(gap) / scale
                gap = torch.sqrt(((rec.f_test - ft) ** 2).mean(1)).max()
                out["gap_test"][i, s] = float(gap) / scale
                out["kernel_move"][i, s] = relative_error(K1, K0[s - chunk[0]])
                out["kernel_init"][i, s] = relative_error(K0[s - chunk[0]], theta)
                records[i][s], preds[i][s] = rec, (fX, ft)
                bar.update()
            del nets
    bar.close()
    times = records[0][0].times
    return {
        "widths": np.asarray(widths),
        "times": times,
        "theta": theta,
        "theta_test": theta_t,
        "records": records,
        "predictions": preds,
        **out,
    }


def kernel_scale_fit(records, theta, theta_test, Y, *, lr=None, t_max=None, h=1e-4, iterations=3):
    """How fast each trained network moved, in units of the infinite-width ODE: the kernel scale c
    for which `ntk_flow(c Theta_inf, f_0, ...)` fits the network's trajectory best (least squares).

    With F(c) the prediction on the training and test inputs at the recorded times (from the
    network's own f_0) and D = dF/dc (central difference, step h), Gauss-Newton steps from c = 1:
        c <- c + <f_net - F(c), D> / <D, D>.
    Gradient flow with rate 2 Theta / N (Jacot, Gabriel, Hongler 2018, §5) predicts c -> 1 as the
    width grows; a kernel or a time scale wrong by 3% gives c = 1/1.03.

    Args:
        records: a list of TrainRecord (e.g. one width of `ode_gap_sweep`'s "records"), on the CPU.
        theta, theta_test: Theta_inf(X, X) (N, N) and Theta_inf(X_test, X) (M, N).
        Y: (N,) targets.  lr: None (flow) or the gradient-descent step of the records.
        t_max: fit only the recorded times t <= t_max (None: all), e.g. the early steps, before the
            finite network's kernel has moved.
        h: the step of the central difference in c.  iterations: Gauss-Newton steps (3: the
            error of the last step is ~(c - 1)^8, negligible for |c - 1| < 0.3).
    Returns:
        (len(records),) numpy array of fitted scales.
    Example:
        >>> X, _ = nk.data.circle(4); Xt, _ = nk.data.circle(3, offset=0.3); K = nk.ntk(X, depth=2)
        >>> f, ft = nk.ntk_flow(1.05 * K, torch.zeros(4), X[:, 0], [0.0, 1.0, 2.0],
        ...                     theta_tX=1.05 * nk.ntk(Xt, X, depth=2), f0_t=torch.zeros(3))
        >>> rec = nk.TrainRecord(torch.arange(3).numpy(), f, ft, torch.zeros(3), 1.0)   # 1.05 K
        >>> c = nk.convergence.kernel_scale_fit([rec], K, nk.ntk(Xt, X, depth=2), X[:, 0])
        >>> round(float(c[0]), 6)
        1.05
    """
    Y = torch.as_tensor(Y, dtype=torch.float64).reshape(-1)
    out = np.empty(len(records))
    groups = {}  # records with the same fitted times are fitted together, as one batch
    for i, rec in enumerate(records):
        keep = np.ones(len(rec.times), dtype=bool) if t_max is None else rec.times <= t_max
        groups.setdefault(tuple(np.asarray(rec.times)[keep].tolist()), []).append((i, keep))
    for times, members in groups.items():
        first, keep = members[0]
        # ntk_flow checks the arguments (shapes, symmetry, times on the lr grid) and gives the
        # dtype and device; the batch below is its formula with the eigendecomposition shared
        fX, _ = ntk_flow(theta, records[first].f_train[0], Y, list(times), lr=lr)
        K = (theta + theta.T).to(fX) / 2
        lam, V = torch.linalg.eigh(K)
        KtV = torch.as_tensor(theta_test).to(fX) @ V
        t = torch.tensor(times, dtype=fX.dtype, device=fX.device).reshape(-1, 1)
        recs = [records[i] for i, _ in members]
        f0 = torch.stack([r.f_train[0] for r in recs]).to(fX)  # (R, N)
        ft0 = torch.stack([r.f_test[0] for r in recs]).to(fX)  # (R, M)
        r0 = (Y.to(fX) - f0) @ V  # initial residuals in the eigenbasis, (R, N)
        k = torch.as_tensor(keep)
        net = torch.stack(
            [torch.cat([r.f_train[k].reshape(-1), r.f_test[k].reshape(-1)]) for r in recs]
        ).to(fX)  # (R, T (N + M))

        def flow(c):  # ntk_flow(c theta, ..., theta_tX=c theta_test) for each record's c, (R, .)
            lam_c = c[:, None, None] * lam  # eigenvalues of c theta, (R, 1, N)
            decay, gain = _gd_factors(lam_c, t, K.shape[0], lr)  # (R, T, N)
            f_X = Y.to(fX) - (decay * r0[:, None, :]) @ V.T
            f_t = ft0[:, None, :] + c[:, None, None] * (gain * r0[:, None, :]) @ KtV.T
            return torch.cat([f_X.flatten(1), f_t.flatten(1)], 1)

        c = torch.ones(len(recs), dtype=fX.dtype, device=fX.device)
        for _ in range(iterations):
            D = (flow(c + h) - flow(c - h)) / (2.0 * h)
            c = c + ((net - flow(c)) * D).sum(1) / (D * D).sum(1)
        out[[i for i, _ in members]] = c.cpu().numpy()
    return out


def ensemble_zscores(F, mean, var) -> dict:
    """Seed mean and variance of network outputs F (S, M), in standard errors from a predicted
    Gaussian (e.g. `nk.ntk_ensemble`: Jacot, Gabriel, Hongler 2018, §6.2; Lee et al. 2019, eq. 16).

    Standard errors from the seeds: sd / sqrt(S) for the mean, sqrt((m4 - s^4) / S) for the variance
    (m4 the fourth central moment; 2 s^4 / S for a Gaussian).

    Args:
        F: (S, M) outputs of S independent networks at M inputs.  mean, var: (M,) predicted moments.
    Returns:
        dict of (M,) numpy arrays "mean", "var" (of the seeds), "se_mean", "se_var", "z_mean",
        "z_var", and "q" = mean of (z_mean^2 + z_var^2) / 2 (about 1 when the prediction is right).
    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> F = torch.randn(4000, 2, generator=g, dtype=torch.float64)
        >>> z = nk.convergence.ensemble_zscores(F, torch.zeros(2), torch.ones(2))
        >>> bool(abs(z["z_mean"]).max() < 4 and abs(z["z_var"]).max() < 4)
        True
    """
    F = np.asarray(torch.as_tensor(F).detach().cpu(), dtype=np.float64)
    mean = np.asarray(torch.as_tensor(mean).cpu(), dtype=np.float64)
    var = np.asarray(torch.as_tensor(var).cpu(), dtype=np.float64)
    S = F.shape[0]
    m, v = F.mean(0), F.var(0, ddof=1)
    se_m = F.std(0, ddof=1) / np.sqrt(S)
    se_v = np.sqrt(np.maximum(((F - m) ** 4).mean(0) - v**2, 0.0) / S)
    z_m, z_v = (m - mean) / se_m, (v - var) / se_v
    return {
        "mean": m,
        "var": v,
        "se_mean": se_m,
        "se_var": se_v,
        "z_mean": z_m,
        "z_var": z_v,
        "q": float(np.mean((z_m**2 + z_v**2) / 2)),
    }
