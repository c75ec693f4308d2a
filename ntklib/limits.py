"""The infinite-width limits (Jacot, Gabriel, Hongler 2018, Prop. 1, Thms. 1 and 2), finite side:
finite-width NNGPs of many networks (notebook 01), empirical NTKs of FCNets across widths and seeds,
at initialisation and after gradient-descent training (notebook 02), for comparison with `nk.nngp`
and `nk.ntk`.

Prop. 1: as n_1, ..., n_{L-1} -> infinity, f converges to a Gaussian process with covariance
Sigma^(L); the finite-width Sigma_hat fluctuates around it by ~ width^(-1/2).

Thm. 1: as n_1, ..., n_{L-1} -> infinity, Theta_hat(0) -> Theta_inf (fluctuations ~ width^(-1/2)).
Thm. 2: during gradient descent for a fixed time T, Theta_hat(t) stays at Theta_inf (movement -> 0).
"""

from __future__ import annotations

import numpy as np
import torch

from .devices import resolve_device
from .dynamics import train_gd
from .empirical import empirical_ntk
from .networks import FCNet, _sampler
from .stats import relative_error, to_numpy

__all__ = [
    "sample_empirical_nngp",
    "covariance_test",
    "width_law_test",
    "scale_test",
    "width_exponent",
    "fc_empirical_ntks",
    "fc_ntk_deviation",
    "ntk_training_snapshots",
]


def sample_empirical_nngp(
    X,
    *,
    width,
    depth,
    n_samples,
    activation="relu",
    beta=0.1,
    seed=0,
    parametrization="balanced",
    dtype=torch.float64,
    device=None,
):
    """The finite-width NNGP of `n_samples` independent FCNets, shape (n_samples, N, N):

        Sigma_hat(x, y) = c^2/n_{L-1} a^(L-1)(x).a^(L-1)(y) + beta^2,
        c = sqrt(1 - beta^2) ("balanced") or 1 ("jacot2018"),

    the covariance of the output given the hidden layers, whose law is that of
    nk.empirical_nngp(nk.FCNet(n_0, width, depth, ...), X) over seeds.  The hidden layers are
    sampled in function space as in `nk.sample_outputs` (N x width normal draws per layer), so
    hundreds of networks of width 10^4 are cheap.  As the width grows Sigma_hat -> Sigma^(L) =
    nk.nngp(X, depth=depth) with fluctuations of order width^(-1/2) (a central limit theorem over
    the n_{L-1} neurons; Jacot, Gabriel, Hongler 2018, Prop. 1).  depth = 1 gives Sigma^(1)
    exactly.

    Args:
        X, width, depth, n_samples, activation, beta, seed, parametrization, dtype, device: as in
            `nk.sample_outputs`.
    Returns:
        tensor of shape (n_samples, N, N), on that device.
    Example:
        >>> X = nk.data.sphere(3, 4)
        >>> S = nk.limits.sample_empirical_nngp(X, width=4096, depth=3, n_samples=8)
        >>> S.shape, nk.stats.relative_error(S.mean(0), nk.nngp(X, depth=3)) < 0.05
        (torch.Size([8, 3, 3]), True)
    """
    draw = _sampler(
        X, width, depth, n_samples, activation, beta, seed, parametrization, dtype, device
    )
    return torch.cat([R @ R.transpose(-1, -2) for R in draw.factors()])


def covariance_test(samples, Sigma, *, resolution=0.03, n_se=4.0):
    """Are the rows of `samples` draws of N(0, Sigma)?  The tests of notebook 01, all at once.

    With Sigma = L L^T, the whitened rows w = L^-1 f should be N(0, I), so:
      * d^2 = |w|^2 (the squared Mahalanobis distance) follows chi^2_N: a KS test (joint
        Gaussianity);
      * mean(d^2)/N estimates tr(Sigma^-1 C)/N, 1 when the covariance C of the rows is Sigma and
        1/1.03 when Sigma is 3% too large: z_trace in its standard error over the rows, and
        `needed`, the number of rows that puts an error of `resolution` n_se standard errors away;
      * all N(N+1)/2 entries: T = S/2 ||W - I||_F^2 ~ chi^2_{N(N+1)/2} with W = mean(w w^T);
      * each entry of C = mean(f f^T) against its standard error sqrt((S_ii S_jj + S_ij^2)/S).
    (Neal 1996; Lee et al. 2018; Jacot, Gabriel, Hongler 2018, Prop. 1: the outputs of wide random
    networks are N(0, Sigma^(L)).)

    Args:
        samples: (S, N) draws (e.g. nk.sample_outputs).  Sigma: (N, N) positive-definite covariance.
        resolution, n_se: the relative error to resolve and at how many standard errors.
    Returns:
        dict: d2 (S,), ks_joint (p-value), z_trace, se_trace, needed (int), T, dof, p_entries,
        z_entries (N, N), C (N, N).
    Example:
        >>> gen = torch.Generator().manual_seed(0)
        >>> F = torch.randn(20000, 3, generator=gen, dtype=torch.float64)
        >>> r = nk.limits.covariance_test(F, torch.eye(3, dtype=torch.float64))
        >>> abs(r["z_trace"]) < 4, r["dof"], 11000 < r["needed"] < 12800   # (4 sqrt(2/3) / 0.03)^2
        (True, 6, True)
    """
    from scipy import stats

    F = torch.as_tensor(samples, dtype=torch.float64).cpu()
    S = torch.as_tensor(Sigma, dtype=torch.float64).cpu()
    if F.ndim != 2 or S.shape != (F.shape[1], F.shape[1]) or F.shape[0] < 2:
        raise ValueError(
            f"samples: got shape {tuple(F.shape)} for Sigma of shape "
            f"{tuple(S.shape)}; accepted: (S, N) with S >= 2 rows and Sigma (N, N)"
        )
    n_rows, N = F.shape
    L = torch.linalg.cholesky(S)
    w = torch.linalg.solve_triangular(L, F.T, upper=False).T.numpy()
    d2 = (w**2).sum(1)
    s = d2 / N
    se_trace = float(s.std(ddof=1) / np.sqrt(n_rows))
    W = w.T @ w / n_rows
    T = float(n_rows / 2 * ((W - np.eye(N)) ** 2).sum())
    dof = N * (N + 1) // 2
    C = (F.T @ F / n_rows).numpy()
    Sn = S.numpy()
    se = np.sqrt((np.outer(np.diag(Sn), np.diag(Sn)) + Sn**2) / n_rows)
    return {
        "d2": d2,
        "ks_joint": float(stats.kstest(d2, stats.chi2(N).cdf).pvalue),
        "z_trace": float((s.mean() - 1) / se_trace),
        "se_trace": se_trace,
        "needed": int(np.ceil((n_se * s.std(ddof=1) / resolution) ** 2)),
        "T": T,
        "dof": dof,
        "p_entries": float(stats.chi2.sf(T, dof)),
        "z_entries": (C - Sn) / se,
        "C": C,
    }


def width_law_test(widths, samples, *, exponent=-0.5):
    """Does a seed-averaged quantity follow mean ~ C width^exponent?  A chi-square test of
    width^(-exponent) x mean against one constant, in the standard errors over the seeds.

    A log-log slope alone tests little: a kernel 5-10% off moves the slope fitted over a few octaves
    by less than a usual slope window, but it adds a floor under the deviation, so that
    width^(1/2) x deviation grows at the large widths.  For the central limit theorem over the
    neurons (Jacot, Gabriel, Hongler 2018, Prop. 1 and Thm. 1) the exponent is -1/2.

    Args:
        widths: (W,) widths.  samples: (W, seeds) independent values per width (e.g. relative
            deviations of the empirical kernel from the limit; at least 2 seeds).
        exponent: the law's exponent.
    Returns:
        dict: mean, se (W,) over the seeds; scaled = width^(-exponent) mean and scaled_se (W,);
        plateau (their inverse-variance weighted mean), chi2, dof = W - 1 and p (the chi-square
        p-value: small when the law does not hold).
    Example:
        >>> d = [[0.18, 0.2, 0.22], [0.09, 0.1, 0.11], [0.045, 0.05, 0.055]]   # 1.6 width^-1/2
        >>> r = nk.limits.width_law_test([64, 256, 1024], d)
        >>> round(r["plateau"], 6), round(r["p"], 6)
        (1.6, 1.0)
    """
    w = np.asarray(widths, dtype=float)
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2 or x.shape[0] != w.size or x.shape[1] < 2 or w.size < 2:
        raise ValueError(
            f"samples: got shape {x.shape} for {w.size} widths; accepted: "
            "(widths, seeds) with at least 2 widths and 2 seeds"
        )
    mean, se = x.mean(1), x.std(1, ddof=1) / np.sqrt(x.shape[1])
    scaled, scaled_se = mean * w ** (-exponent), se * w ** (-exponent)
    weights = 1.0 / scaled_se**2
    plateau = float((weights * scaled).sum() / weights.sum())
    chi2 = float((((scaled - plateau) / scaled_se) ** 2).sum())
    from scipy import stats

    return {
        "mean": mean,
        "se": se,
        "scaled": scaled,
        "scaled_se": scaled_se,
        "plateau": plateau,
        "chi2": chi2,
        "dof": w.size - 1,
        "p": float(stats.chi2.sf(chi2, w.size - 1)),
    }


def scale_test(samples, reference):
    """Is the average of independent kernels `samples` the kernel `reference`?  Each kernel's
    least-squares scale against the reference, s_k = <K_k, R>_F / <R, R>_F - 1 (0 in theory, and
    -2.9% for a reference 3% too large), averaged over the draws, in its standard error.

    Args:
        samples: (S, N, M) independent draws (e.g. empirical NTKs of S seeded networks).
        reference: (N, M) the kernel they should average to (e.g. nk.ntk(X, ...)).
    Returns:
        dict: values (S,) the per-draw s_k; mean, se (its standard error over the draws) and
        z = mean / se.
    Example:
        >>> R = torch.eye(2, dtype=torch.float64)
        >>> r = nk.limits.scale_test(torch.stack([0.9 * R, 1.1 * R, 1.0 * R]), R)
        >>> round(r["mean"], 6), round(r["se"], 6)
        (0.0, 0.057735)
    """
    K = np.asarray(to_numpy(samples), dtype=float)
    R = np.asarray(to_numpy(reference), dtype=float)
    if K.ndim != 3 or K.shape[1:] != R.shape or K.shape[0] < 2:
        raise ValueError(
            f"samples: got shape {K.shape} for a reference of shape {R.shape}; "
            "accepted: (S, N, M) with S >= 2 draws of the reference's shape"
        )
    values = np.einsum("snm,nm->s", K, R) / (R * R).sum() - 1.0
    mean, se = float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))
    return {"values": values, "mean": mean, "se": se, "z": mean / se}


def width_exponent(widths, samples):
    """The exponent of a positive quantity's decay with width, with its standard error: the
    inverse-variance weighted least-squares slope of mean_k log(samples) against log(width), and the
    local slopes between neighbouring widths (logs averaged over the seeds, so a seed's value enters
    once; standard errors from the seeds' spread).

    Args:
        widths: (W,) widths, W >= 2.  samples: (W, seeds) positive values, seeds >= 2.
    Returns:
        dict: slope, slope_se; local and local_se (W - 1,); log_mean, log_se (W,).
    Example:
        >>> d = [[0.09, 0.11], [0.045, 0.055], [0.0225, 0.0275]]                  # exactly width^-1
        >>> r = nk.limits.width_exponent([64, 128, 256], d)
        >>> round(r["slope"], 6), [round(float(v), 6) for v in r["local"]]
        (-1.0, [-1.0, -1.0])
    """
    w = np.log(np.asarray(widths, dtype=float))
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2 or x.shape[0] != w.size or x.shape[1] < 2 or w.size < 2 or (x <= 0).any():
        raise ValueError(
            f"samples: got shape {x.shape} for {w.size} widths; accepted: positive "
            "values of shape (widths, seeds) with at least 2 widths and 2 seeds"
        )
    lx = np.log(x)
    mu, se = lx.mean(1), lx.std(1, ddof=1) / np.sqrt(x.shape[1])
    A = np.stack([np.ones_like(w), w], 1)
    cov = np.linalg.inv(A.T @ (A / se[:, None] ** 2))
    slope = float((cov @ A.T @ (mu / se**2))[1])
    dw = np.diff(w)
    return {
        "slope": slope,
        "slope_se": float(np.sqrt(cov[1, 1])),
        "local": np.diff(mu) / dw,
        "local_se": np.sqrt(se[1:] ** 2 + se[:-1] ** 2) / dw,
        "log_mean": mu,
        "log_se": se,
    }


def fc_empirical_ntks(
    X,
    *,
    widths,
    seeds,
    depth,
    activation="relu",
    beta=0.1,
    Y=None,
    seed_offset=0,
    parametrization="balanced",
    dtype=torch.float64,
    device=None,
):
    """Empirical NTKs Theta_hat(X, Y) of `seeds` FCNets at initialisation for each width.

    The networks are `nk.FCNet` instances, z^(l+1) = c/sqrt(n_l) W a + beta b with
    c = sqrt(1 - beta^2) ("balanced", CONVENTIONS.md §1) or 1 ("jacot2018", Jacot et al. 2018 §2);
    by Thm. 1 of Jacot et al. 2018 they converge to nk.ntk(X, Y, ..., same parametrisation) as the
    width grows.  The seeds do not depend on the parametrisation, so the two parametrisations draw
    the same weights and their difference is resolved far better than either kernel.

    Args:
        X, Y: inputs (N, n_0) and optional (M, n_0).
        widths: hidden widths; seeds: networks per width (seed = seed_offset + 1000 * seed + width
            index).  depth, activation, beta, parametrization: as in `nk.FCNet`.
        dtype, device: of the networks (device: "cuda", "auto", ... as in `nk.resolve_device`;
            None: CPU).
    Returns:
        float64 numpy array (len(widths), seeds, N, M).
    Example:
        >>> X = nk.data.sphere(3, 2)
        >>> nk.limits.fc_empirical_ntks(X, widths=[16, 64], seeds=2, depth=2).shape
        (2, 2, 3, 3)
    """
    device = resolve_device(device)
    out = []
    for i, w in enumerate(widths):
        for s in range(seeds):
            net = FCNet(
                X.shape[1],
                int(w),
                depth,
                activation=activation,
                beta=beta,
                parametrization=parametrization,
                seed=seed_offset + 1000 * s + i,
                dtype=dtype,
                device=device,
            )
            out.append(empirical_ntk(net, X, Y).to(torch.float64).cpu().numpy())
            del net
    return np.stack(out).reshape(len(widths), seeds, *out[0].shape)


def fc_ntk_deviation(
    X,
    reference,
    *,
    widths,
    seeds,
    depth,
    activation="relu",
    beta=0.1,
    Y=None,
    seed_offset=0,
    parametrization="balanced",
    dtype=torch.float64,
    device=None,
):
    """Relative Frobenius deviation ||Theta_hat - reference||_F / ||reference||_F of FCNets at init
    (the networks of `fc_empirical_ntks`, Jacot et al. 2018, Thm. 1: it falls like width^(-1/2)).

    Args:
        X, Y: inputs (N, n_0) and optional (M, n_0); reference: (N, M) kernel, usually
            nk.ntk(X, Y, ...).
        widths, seeds, depth, activation, beta, seed_offset, parametrization, dtype, device: as in
            `fc_empirical_ntks`.
    Returns:
        numpy array (len(widths), seeds).
    Example:
        >>> X = nk.data.sphere(4, 3)
        >>> nk.limits.fc_ntk_deviation(X, nk.ntk(X, depth=2), widths=[64, 1024], seeds=2,
        ...                            depth=2).shape
        (2, 2)
    """
    K = fc_empirical_ntks(
        X,
        widths=widths,
        seeds=seeds,
        depth=depth,
        activation=activation,
        beta=beta,
        Y=Y,
        seed_offset=seed_offset,
        parametrization=parametrization,
        dtype=dtype,
        device=device,
    )
    R = torch.as_tensor(reference, dtype=torch.float64).cpu()
    return np.array([[relative_error(torch.as_tensor(k), R) for k in row] for row in K])


def ntk_training_snapshots(
    X_eval,
    X_train,
    Y_train,
    *,
    width,
    seeds,
    depth,
    lr,
    steps,
    activation="relu",
    beta=0.1,
    Y_eval=None,
    seed_offset=0,
    parametrization="balanced",
    dtype=torch.float64,
    device=None,
):
    """Empirical NTK Theta_hat(X_eval, Y_eval) of `seeds` FCNets at t = 0 and after `steps` steps of
    full-batch gradient descent (step lr, cost (1/N) ||f(X_train) - Y_train||^2, flow time
    lr * steps), trained by `nk.train_gd` (its low-rank path makes width-10000 networks affordable).

    The networks are `nk.FCNet` instances, z^(l+1) = c/sqrt(n_l) W a + beta b with
    c = sqrt(1 - beta^2) ("balanced") or 1 ("jacot2018", the network of Jacot et al. 2018's Fig. 1);
    by their Thm. 2 the kernel stays at Theta_inf during training as the width grows.
    Jacot et al.'s own cost is (1/(2N)) ||f - Y||^2 (their §5), so their learning rate eta is
    lr = eta/2 here.

    Args:
        X_eval, Y_eval: inputs (N, n_0) and (M, n_0) where the kernel is recorded; Y_eval None
            means X_eval.
        X_train, Y_train: training inputs (P, n_0) and targets (P,).
        width: hidden width.  seeds: networks (seed = seed_offset + 1000 k).  depth, activation,
            beta, parametrization: as in `nk.FCNet`.
        lr, steps: gradient-descent step and number of steps.
        dtype, device: of the networks (device: "cuda", "auto", ... as in `nk.resolve_device`;
            None: CPU).
    Returns:
        dict of numpy arrays: K0 and KT of shape (seeds, N, M) in float64, movement (seeds,)
        = ||KT - K0||_F / ||K0||_F, and final_loss (seeds,).
    Example:
        >>> X, _ = nk.data.circle(4); Y = X[:, 0] * X[:, 1]
        >>> s = nk.limits.ntk_training_snapshots(X, X, Y, width=64, seeds=2, depth=2, lr=0.5,
        ...                                      steps=5)
        >>> s["K0"].shape, s["movement"].shape
        ((2, 4, 4), (2,))
    """
    device = resolve_device(device)
    K0, KT, move, loss = [], [], [], []
    Xtr = torch.as_tensor(X_train).to(dtype=dtype, device=device)
    Ytr = torch.as_tensor(Y_train).to(dtype=dtype, device=device)
    for s in range(seeds):
        net = FCNet(
            X_eval.shape[1],
            int(width),
            depth,
            activation=activation,
            beta=beta,
            parametrization=parametrization,
            seed=seed_offset + 1000 * s,
            dtype=dtype,
            device=device,
        )
        k0 = empirical_ntk(net, X_eval, Y_eval).to(torch.float64)
        final = float(train_gd(net, Xtr, Ytr, lr=lr, steps=steps, record_steps=[steps]).loss[-1])
        kt = empirical_ntk(net, X_eval, Y_eval).to(torch.float64)
        K0.append(k0.cpu().numpy())
        KT.append(kt.cpu().numpy())
        move.append(relative_error(kt, k0))
        loss.append(final)
    return {
        "K0": np.stack(K0),
        "KT": np.stack(KT),
        "movement": np.array(move),
        "final_loss": np.array(loss),
    }
