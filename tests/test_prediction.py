"""ntklib.prediction: the Gaussian of trained infinite-width networks, and the NNGP posterior.

References independent of the code under test: the affine map f_0 -> f_t written with a matrix
exponential and a linear solve (torch.linalg.matrix_exp / solve) and pushed through the joint prior
covariance; gradient descent in function space as a plain loop of steps; finite differences of the
ODE;
the linear model (depth 1, Theta = K), for which training to convergence is the Bayesian posterior;
and finite FCNets trained by nk.train_gd over many seeds, compared in standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import DTYPE

import ntklib as nk
from ntklib.prediction import nngp_posterior, ntk_ensemble

KW = dict(depth=3, activation="relu", beta=0.1)


@pytest.fixture
def data():
    X, _ = nk.data.circle(5, offset=0.2)
    Xt, _ = nk.data.circle(4, offset=1.0, radius=1.3)
    Y = X[:, 0] * X[:, 1] + 0.3 * X[:, 0]
    return X, Y, Xt


def affine_map(X, Xt, t, kw):
    """f_t(Xt) = f_0(Xt) + A (Y - f_0(X)), A = Theta_tX Theta^-1 (I - expm(-2t Theta / N)),
    by solve + expm."""
    N = X.shape[0]
    th = nk.ntk(X, **kw)
    E = torch.eye(N, dtype=DTYPE) - torch.linalg.matrix_exp(-2.0 * t / N * th)
    return nk.ntk(Xt, X, **kw) @ torch.linalg.solve(th, E)


def pushed_forward(A, X, Xt, Y, kw):
    """Mean A Y and covariance B K_joint B^T of f_0(Xt) - A f_0(X) + A Y, B = [I, -A]."""
    Z = torch.cat([Xt, X])
    K = nk.nngp(Z, **kw)
    B = torch.cat([torch.eye(Xt.shape[0], dtype=DTYPE), -A], 1)
    return A @ Y, B @ K @ B.T


# ---- the closed form against an independent evaluation -------------------------------------------


@pytest.mark.parametrize("t", [0.3, 4.0, 40.0])
def test_ensemble_equals_the_prior_pushed_through_the_flow(data, t):
    """Lee et al. 2019 eq. 16 in the project's convention, against matrix_exp + solve: the kernels
    are well conditioned here (cond < 1e3), so both routes agree to ~1e-12 relative."""
    X, Y, Xt = data
    mean, cov = ntk_ensemble(X, Y, Xt, t=t, **KW)
    m_ref, c_ref = pushed_forward(affine_map(X, Xt, t, KW), X, Xt, Y, KW)
    assert torch.allclose(mean, m_ref, rtol=1e-9, atol=1e-12)
    assert torch.allclose(cov, c_ref, rtol=1e-9, atol=1e-12)


def test_ensemble_mean_solves_the_ode(data):
    """d/dt m_t(x) = (2/N) Theta(x, X) (Y - m_t(X)): central differences with h = 1e-4 have
    truncation error ~h^2 |m'''| ~ 1e-8, far above rounding (1e-16 / h ~ 1e-12)."""
    X, Y, Xt = data
    N, t, h = X.shape[0], 2.0, 1e-4
    Z = torch.cat([Xt, X])
    m = lambda s: ntk_ensemble(X, Y, Z, t=s, **KW)[0]
    lhs = (m(t + h) - m(t - h)) / (2 * h)
    rhs = (2.0 / N) * nk.ntk(Z, X, **KW) @ (Y - m(t)[Xt.shape[0] :])
    assert torch.allclose(lhs, rhs, atol=1e-7)


def test_gradient_descent_version_equals_a_loop_of_steps(data):
    """With lr, the ensemble is the affine map of k = t / lr function-space steps
    f <- f - lr (2/N) Theta(., X) (f(X) - Y), applied here to the mean (f_0 = 0) and to the map
    matrix itself; 10 steps of products of O(1) matrices: agreement to 1e-12."""
    X, Y, Xt = data
    N, lr, k = X.shape[0], 0.7, 10
    Z = torch.cat([Xt, X])
    th_ZX = nk.ntk(Z, X, **KW)
    M = Xt.shape[0]
    # f(Z) = f0(Z) + G (Y - f0(X)): G evolves as G <- G + lr (2/N) th_ZX (I - G[M:])
    G = torch.zeros(Z.shape[0], N, dtype=DTYPE)
    for _ in range(k):
        G = G + lr * (2.0 / N) * th_ZX @ (torch.eye(N, dtype=DTYPE) - G[M:])
    m_ref, c_ref = pushed_forward(G[:M], X, Xt, Y, KW)
    mean, cov = ntk_ensemble(X, Y, Xt, t=lr * k, lr=lr, **KW)
    assert torch.allclose(mean, m_ref, atol=1e-12)
    assert torch.allclose(cov, c_ref, atol=1e-12)


# ---- limits and shapes ---------------------------------------------------------------------------


def test_at_time_zero_the_ensemble_is_the_prior(data):
    X, Y, Xt = data
    mean, cov = ntk_ensemble(X, Y, Xt, t=0.0, **KW)
    assert torch.equal(mean, torch.zeros_like(mean))
    assert torch.allclose(cov, nk.nngp(Xt, **KW), rtol=1e-14, atol=0)


def test_a_long_time_is_convergence(data):
    """At t = 1e4 every mode has decayed by exp(-2 t lam_min / N) < 1e-30: equal to t = None up to
    rounding (~1e-13 for these condition numbers)."""
    X, Y, Xt = data
    lam_min = float(torch.linalg.eigvalsh(nk.ntk(X, **KW))[0])
    t = 40.0 * X.shape[0] / lam_min
    for a, b in zip(ntk_ensemble(X, Y, Xt, t=t, **KW), ntk_ensemble(X, Y, Xt, **KW)):
        assert torch.allclose(a, b, atol=1e-11)


@pytest.mark.parametrize("t", [0.0, 1.0, None])
def test_covariance_is_symmetric_positive_semidefinite(data, t):
    """Exactly symmetric (it is symmetrised); eigenvalues >= -1e-12 max|cov| (rounding of the
    cancelling terms K - A K - K A^T + A K A^T)."""
    X, Y, Xt = data
    Z = torch.cat([Xt, X[:2]])  # training inputs too: rank-deficient at t = None
    _, cov = ntk_ensemble(X, Y, Z, t=t, **KW)
    assert cov.shape == (Z.shape[0], Z.shape[0]) and torch.equal(cov, cov.T)
    assert torch.linalg.eigvalsh(cov).min() >= -1e-12 * cov.abs().max()


def test_converged_ensemble_interpolates_the_training_points(data):
    """At t = None, f(X) = Y for every initialisation: mean Y and covariance 0 on X, to rounding
    amplified by cond(Theta) (< 1e3 here): 1e-10."""
    X, Y, _ = data
    mean, cov = ntk_ensemble(X, Y.reshape(-1, 1), X, **KW)  # (N, 1) targets accepted
    assert torch.allclose(mean, Y, atol=1e-10)
    assert cov.abs().max() < 1e-10


def test_linear_model_converged_training_is_the_bayesian_posterior(data):
    """Depth 1: Theta = Sigma^(1) = K, so Theta(x, X) Theta^-1 = K(x, X) K^-1 and the trained
    ensemble is exactly the NNGP posterior with noise 0 (Lee et al. 2019, §2.3); rounding only:
    1e-10."""
    X, Y, Xt = data
    Xh = torch.cat([X, X**2], 1)[:4]  # 4 inputs in n_0 = 4: K^(1) positive definite
    Xth = torch.cat([Xt, Xt**2], 1)
    kw = dict(depth=1, beta=0.2)
    for a, b in zip(ntk_ensemble(Xh, Y[:4], Xth, **kw), nngp_posterior(Xh, Y[:4], Xth, **kw)):
        assert torch.allclose(a, b, atol=1e-10)


def test_nngp_posterior_against_a_linear_solve(data):
    """mean = K_tX (K + s I)^-1 Y, cov = K_tt - K_tX (K + s I)^-1 K_Xt (Rasmussen and Williams eq.
    2.23-24),
    by torch.linalg.solve; condition numbers < 1e3: 1e-11."""
    X, Y, Xt = data
    s = 0.05
    K = nk.nngp(X, **KW) + s * torch.eye(X.shape[0], dtype=DTYPE)
    Kt = nk.nngp(Xt, X, **KW)
    mean, cov = nngp_posterior(X, Y, Xt, noise=s, **KW)
    assert torch.allclose(mean, Kt @ torch.linalg.solve(K, Y), atol=1e-11)
    assert torch.allclose(cov, nk.nngp(Xt, **KW) - Kt @ torch.linalg.solve(K, Kt.T), atol=1e-11)
    m0, c0 = nngp_posterior(X, Y, X, **KW)
    assert torch.allclose(m0, Y, atol=1e-10) and c0.abs().max() < 1e-10


# ---- bad input -----------------------------------------------------------------------------------


def test_singular_kernel_is_refused_with_the_smallest_eigenvalue_and_a_remedy(data):
    X, Y, Xt = data
    Xd, Yd = torch.cat([X, X[:1]]), torch.cat([Y, Y[:1]])  # a duplicated input
    with pytest.raises(ValueError, match=r"diag_reg.*smallest eigenvalue.*diag_reg >="):
        ntk_ensemble(Xd, Yd, Xt, **KW)
    with pytest.raises(ValueError, match=r"noise.*smallest eigenvalue.*noise >="):
        nngp_posterior(Xd, Yd, Xt, **KW)
    mean, _ = ntk_ensemble(Xd, Yd, Xt, diag_reg=1e-6, **KW)  # the remedy works
    assert torch.isfinite(mean).all()
    assert torch.isfinite(nngp_posterior(Xd, Yd, Xt, noise=1e-6, **KW)[0]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(Y=torch.zeros(3)), r"Y_train: got shape \(3,\); accepted: \(5,\) or \(5, 1\)"),
        (dict(Y=torch.zeros(5, 2)), r"Y_train: got shape \(5, 2\)"),
        (dict(t=-1.0), r"t: got -1.0; accepted: a finite real number >= 0"),
        (dict(diag_reg=-0.1), r"diag_reg: got -0.1"),
        (dict(lr=0.0), r"lr: got 0.0; accepted: None"),
        (dict(t=1.0, lr=0.3), r"record_times: .*multiples of lr"),
    ],
)
def test_bad_arguments_name_themselves(data, kwargs, match):
    X, Y, Xt = data
    Y = kwargs.pop("Y", Y)
    with pytest.raises(ValueError, match=match):
        ntk_ensemble(X, Y, Xt, **{**KW, **kwargs})


def test_test_inputs_must_have_the_training_dimension(data):
    X, Y, _ = data
    with pytest.raises(ValueError, match="X_test: has 3 columns but X_train has 2"):
        nngp_posterior(X, Y, torch.zeros(2, 3, dtype=DTYPE), **KW)


# ---- finite networks -----------------------------------------------------------------------------


def test_trained_wide_networks_have_the_predicted_mean_and_variance():
    """150 FCNets of width 256 (depth 2, so finite-width corrections are small: E Theta_hat = Theta
    exactly at this depth), trained by nk.train_gd with lr = 0.25 for 40 steps (t = 10), against
    ntk_ensemble (the gradient-flow version).  At each test input the seed mean and variance are
    compared in standard errors (mean: sd / sqrt(S); variance: sqrt((m4 - s^4) / S) from the seeds);
    |z| < 4 for 3 inputs x 2 statistics has a false-alarm rate < 1e-3.  lr = 0.25 is small enough
    that gradient descent and the flow differ by less than half a standard error (asserted with the
    exact gradient-descent ensemble, lr=lr), so the flow's Gaussian is the one tested."""
    X, _ = nk.data.circle(4, offset=0.3)
    Y = X[:, 0] * X[:, 1] + 0.5 * X[:, 0]
    Xt, _ = nk.data.circle(3, offset=1.1)
    S, lr, steps = 150, 0.25, 40
    F = []
    for s in range(S):
        net = nk.FCNet(2, 256, 2, seed=s)
        rec = nk.train_gd(
            net, X, Y, lr=lr, steps=steps, record_steps=[steps], X_test=Xt, progress=False
        )
        F.append(rec.f_test[-1])
    F = torch.stack(F)
    mean, cov = ntk_ensemble(X, Y, Xt, t=lr * steps, depth=2)
    m, v = F.mean(0), F.var(0)
    se_m = F.std(0) / math.sqrt(S)
    se_v = torch.sqrt((((F - m) ** 4).mean(0) - v**2) / S)
    mean_gd, cov_gd = ntk_ensemble(X, Y, Xt, t=lr * steps, lr=lr, depth=2)
    assert ((mean_gd - mean).abs() < 0.5 * se_m).all()
    assert ((cov_gd - cov).diagonal().abs() < 0.5 * se_v).all()
    z_mean, z_var = (m - mean) / se_m, (v - cov.diagonal()) / se_v
    assert z_mean.abs().max() < 4, z_mean
    assert z_var.abs().max() < 4, z_var
    assert (cov.diagonal() > 4 * se_v).all()  # the variances are resolved, not ~0


# ---- nk.convergence helpers built on the ensemble ------------------------------------------------


@pytest.mark.parametrize("c, lr, t_max", [(0.9, None, None), (1.0, 0.5, None), (1.07, 0.5, 1.0)])
def test_kernel_scale_fit_recovers_the_scale_of_a_linear_model(data, c, lr, t_max):
    """Records made by the linear ODE with c Theta (a 'network' whose kernel is c Theta_inf):
    three Gauss-Newton steps recover c to ~|c - 1|^8 + h^2: 1e-7."""
    X, Y, Xt = data
    th, tt = nk.ntk(X, **KW), nk.ntk(Xt, X, **KW)
    f0, ft0 = 0.3 * X[:, 0], 0.2 * Xt[:, 1]
    steps = torch.arange(0, 9, 2).numpy()
    times = steps * (lr or 0.5)
    fX, ft = nk.ntk_flow(c * th, f0, Y, times, theta_tX=c * tt, f0_t=ft0, lr=lr)
    rec = nk.TrainRecord(steps, fX, ft, torch.zeros(len(steps)), lr or 0.5)
    got = nk.convergence.kernel_scale_fit([rec, rec], th, tt, Y, lr=lr, t_max=t_max)
    assert got.shape == (2,) and abs(got - c).max() < 1e-7


def test_ensemble_zscores_of_gaussian_samples():
    """4000 exact Gaussian draws: the z-scores are N(0, 1) (|z| < 4); a variance 20% off is seen at
    ~9 standard errors (se(var) = sqrt(2/S) var = 2.2%); the variance standard error from the
    seeds is the Gaussian one, sqrt(2 / S) var, within its own sampling error (~3%)."""
    g = torch.Generator().manual_seed(5)
    S = 4000
    F = 0.5 + 2.0 * torch.randn(S, 3, generator=g, dtype=DTYPE)
    z = nk.convergence.ensemble_zscores(F, torch.full((3,), 0.5), torch.full((3,), 4.0))
    assert abs(z["z_mean"]).max() < 4 and abs(z["z_var"]).max() < 4
    assert torch.allclose(
        torch.as_tensor(z["se_var"]),
        torch.full((3,), 4.0 * math.sqrt(2 / S), dtype=DTYPE),
        rtol=0.1,
    )
    off = nk.convergence.ensemble_zscores(F, torch.full((3,), 0.5), torch.full((3,), 4.8))
    assert (off["z_var"] < -5).all() and off["q"] > 10


def test_ensemble_moments_diagonal_path_equals_the_full_covariance(data):
    """The variances-only path against the diagonal of the full covariance (same algebra, summed
    in another order: 1e-13)."""
    from ntklib.prediction import _ensemble_moments

    X, Y, Xt = data
    ks = (nk.ntk(X, **KW), nk.ntk(Xt, X, **KW), nk.nngp(X, **KW), nk.nngp(Xt, X, **KW))
    m1, c1 = _ensemble_moments(*ks, nk.nngp(Xt, **KW), Y, [0.5, 3.0, None])
    m2, v2 = _ensemble_moments(*ks, nk.nngp(Xt, **KW).diagonal(), Y, [0.5, 3.0, None])
    m3, none = _ensemble_moments(ks[0], ks[1], None, None, None, Y, [0.5, 3.0, None])
    assert torch.equal(m1, m2) and torch.equal(m1, m3) and none is None
    assert torch.allclose(v2, c1.diagonal(dim1=1, dim2=2), atol=1e-13)


def test_test_error_vs_time_is_bias_squared_plus_variance(data):
    """mse_expected = mean (m_t - y)^2 + mean Var f_t, from ntk_ensemble's mean and covariance
    diagonal at the same gradient-descent time (1e-12); at step 0 the mean is 0, so mse_mean =
    mean y^2 and the variance is the prior's; finite networks come back per seed and step."""
    X, Y, Xt = data
    Yl, Ytl = torch.sign(Y + 0.05), torch.sign(Xt[:, 0] + 0.05)
    r = nk.convergence.test_error_vs_time(X, Yl, Xt, Ytl, steps=[0, 3, 12], width=32, seeds=2, **KW)
    assert r["mse_net"].shape == (2, 3) and r["error_net"].shape == (2, 3)
    m, c = ntk_ensemble(X, Yl, Xt, t=r["times"][2], lr=r["lr"], **KW)
    assert math.isclose(
        r["mse_expected"][2], float(((m - Ytl) ** 2).mean() + c.diagonal().mean()), rel_tol=1e-12
    )
    assert math.isclose(r["mse_mean"][0], float((Ytl**2).mean()), rel_tol=1e-14)
    assert math.isclose(r["variance"][0], float(nk.nngp(Xt, **KW).diagonal().mean()), rel_tol=1e-14)
    assert r["error_mean"][2] == float((torch.sign(m) != Ytl).double().mean())


def test_test_error_vs_depth_at_convergence_is_kernel_regression(data):
    """steps=None: the mean is Theta(x, X) Theta^-1 Y, here by torch.linalg.solve (1e-10)."""
    X, Y, Xt = data
    Yl, Ytl = torch.sign(Y + 0.05), torch.sign(Xt[:, 0] + 0.05)
    regimes = {"relu": ("relu", 0.1), "erf": ("erf", 0.5)}
    r = nk.convergence.test_error_vs_depth(X, Yl, Xt, Ytl, regimes=regimes, depths=[2, 3])
    for i, (act, beta) in enumerate(regimes.values()):
        for j, L in enumerate([2, 3]):
            kw = dict(depth=L, activation=act, beta=beta)
            m = nk.ntk(Xt, X, **kw) @ torch.linalg.solve(nk.ntk(X, **kw), Yl)
            assert math.isclose(r["mse"][i, j], float(((m - Ytl) ** 2).mean()), rel_tol=1e-10)
    both = nk.convergence.test_error_vs_depth(
        X, Yl, Xt, Ytl, regimes=regimes, depths=[2, 3], steps=[4, None], width=8, net_depths=[2]
    )
    assert both["mse"].shape == (2, 2, 2) and np.array_equal(both["mse"][..., 1], r["mse"])
    assert both["mse_net"].shape == (2, 2, 2, 1)
    assert np.isfinite(both["mse_net"][:, 0, 0]).all() and np.isnan(both["mse_net"][:, 1]).all()
    assert np.isnan(both["mse_net"][:, :, 1]).all()  # no network for the budget None
