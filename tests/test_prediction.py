"""ntklib.prediction: the Gaussian of trained infinite-width networks, and the NNGP posterior.

References independent of the code under test: the affine map f_0 -> f_t written with a matrix
exponential and a linear solve (torch.linalg.matrix_exp / solve) and pushed through the joint prior
covariance; gradient descent in function space as a plain loop of steps; finite differences of the ODE;
the linear model (depth 1, Theta = K), for which training to convergence is the Bayesian posterior;
and finite FCNets trained by nk.train_gd over many seeds, compared in standard errors.
"""
from __future__ import annotations

import math

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
    """f_t(Xt) = f_0(Xt) + A (Y - f_0(X)), A = Theta_tX Theta^-1 (I - expm(-2t Theta / N)), by solve + expm."""
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


# ---- the closed form against an independent evaluation --------------------------------------------

@pytest.mark.parametrize("t", [0.3, 4.0, 40.0])
def test_ensemble_equals_the_prior_pushed_through_the_flow(data, t):
    """Lee et al. 2019 eq. 16 in the project's convention, against matrix_exp + solve: the kernels are
    well conditioned here (cond < 1e3), so both routes agree to ~1e-12 relative."""
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
    rhs = (2.0 / N) * nk.ntk(Z, X, **KW) @ (Y - m(t)[Xt.shape[0]:])
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


# ---- limits and shapes -----------------------------------------------------------------------------

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
    Z = torch.cat([Xt, X[:2]])                     # include training inputs: rank-deficient at t = None
    _, cov = ntk_ensemble(X, Y, Z, t=t, **KW)
    assert cov.shape == (Z.shape[0], Z.shape[0]) and torch.equal(cov, cov.T)
    assert torch.linalg.eigvalsh(cov).min() >= -1e-12 * cov.abs().max()


def test_converged_ensemble_interpolates_the_training_points(data):
    """At t = None, f(X) = Y for every initialisation: mean Y and covariance 0 on X, to rounding
    amplified by cond(Theta) (< 1e3 here): 1e-10."""
    X, Y, _ = data
    mean, cov = ntk_ensemble(X, Y.reshape(-1, 1), X, **KW)           # (N, 1) targets accepted
    assert torch.allclose(mean, Y, atol=1e-10)
    assert cov.abs().max() < 1e-10


def test_linear_model_converged_training_is_the_bayesian_posterior(data):
    """Depth 1: Theta = Sigma^(1) = K, so Theta(x, X) Theta^-1 = K(x, X) K^-1 and the trained ensemble
    is exactly the NNGP posterior with noise 0 (Lee et al. 2019, §2.3); rounding only: 1e-10."""
    X, Y, Xt = data
    Xh = torch.cat([X, X ** 2], 1)[:4]              # 4 inputs in n_0 = 4: K^(1) positive definite
    Xth = torch.cat([Xt, Xt ** 2], 1)
    kw = dict(depth=1, beta=0.2)
    for a, b in zip(ntk_ensemble(Xh, Y[:4], Xth, **kw), nngp_posterior(Xh, Y[:4], Xth, **kw)):
        assert torch.allclose(a, b, atol=1e-10)


def test_nngp_posterior_against_a_linear_solve(data):
    """mean = K_tX (K + s I)^-1 Y, cov = K_tt - K_tX (K + s I)^-1 K_Xt (Rasmussen and Williams eq. 2.23-24),
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


# ---- bad input --------------------------------------------------------------------------------------

def test_singular_kernel_is_refused_with_the_smallest_eigenvalue_and_a_remedy(data):
    X, Y, Xt = data
    Xd, Yd = torch.cat([X, X[:1]]), torch.cat([Y, Y[:1]])           # a duplicated input
    with pytest.raises(ValueError, match=r"diag_reg.*smallest eigenvalue.*diag_reg >="):
        ntk_ensemble(Xd, Yd, Xt, **KW)
    with pytest.raises(ValueError, match=r"noise.*smallest eigenvalue.*noise >="):
        nngp_posterior(Xd, Yd, Xt, **KW)
    mean, _ = ntk_ensemble(Xd, Yd, Xt, diag_reg=1e-6, **KW)          # the remedy works
    assert torch.isfinite(mean).all()
    assert torch.isfinite(nngp_posterior(Xd, Yd, Xt, noise=1e-6, **KW)[0]).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(Y=torch.zeros(3)), r"Y_train: got shape \(3,\); accepted: \(5,\) or \(5, 1\)"),
    (dict(Y=torch.zeros(5, 2)), r"Y_train: got shape \(5, 2\)"),
    (dict(t=-1.0), r"t: got -1.0; accepted: a finite real number >= 0"),
    (dict(diag_reg=-0.1), r"diag_reg: got -0.1"),
    (dict(lr=0.0), r"lr: got 0.0; accepted: None"),
    (dict(t=1.0, lr=0.3), r"record_times: .*multiples of lr"),
])
def test_bad_arguments_name_themselves(data, kwargs, match):
    X, Y, Xt = data
    Y = kwargs.pop("Y", Y)
    with pytest.raises(ValueError, match=match):
        ntk_ensemble(X, Y, Xt, **{**KW, **kwargs})


def test_test_inputs_must_have_the_training_dimension(data):
    X, Y, _ = data
    with pytest.raises(ValueError, match="X_test: has 3 columns but X_train has 2"):
        nngp_posterior(X, Y, torch.zeros(2, 3, dtype=DTYPE), **KW)


# ---- finite networks ---------------------------------------------------------------------------------

def test_trained_wide_networks_have_the_predicted_mean_and_variance():
    """150 FCNets of width 256 (depth 2, so finite-width corrections are small: E Theta_hat = Theta
    exactly at this depth), trained by nk.train_gd with lr = 0.25 for 40 steps (t = 10), against
    ntk_ensemble (the gradient-flow version).  At each test input the seed mean and variance are
    compared in standard errors (mean: sd / sqrt(S); variance: sqrt((m4 - s^4) / S) from the seeds);
    |z| < 4 for 3 inputs x 2 statistics has a false-alarm rate < 1e-3.  lr = 0.25 is small enough that
    gradient descent and the flow differ by less than half a standard error (asserted with the exact
    gradient-descent ensemble, lr=lr), so the flow's Gaussian is the one tested."""
    X, _ = nk.data.circle(4, offset=0.3)
    Y = X[:, 0] * X[:, 1] + 0.5 * X[:, 0]
    Xt, _ = nk.data.circle(3, offset=1.1)
    S, lr, steps = 150, 0.25, 40
    F = []
    for s in range(S):
        net = nk.FCNet(2, 256, 2, seed=s)
        rec = nk.train_gd(net, X, Y, lr=lr, steps=steps, record_steps=[steps], X_test=Xt, progress=False)
        F.append(rec.f_test[-1])
    F = torch.stack(F)
    mean, cov = ntk_ensemble(X, Y, Xt, t=lr * steps, depth=2)
    m, v = F.mean(0), F.var(0)
    se_m = F.std(0) / math.sqrt(S)
    se_v = torch.sqrt((((F - m) ** 4).mean(0) - v ** 2) / S)
    mean_gd, cov_gd = ntk_ensemble(X, Y, Xt, t=lr * steps, lr=lr, depth=2)
    assert ((mean_gd - mean).abs() < 0.5 * se_m).all()
    assert ((cov_gd - cov).diagonal().abs() < 0.5 * se_v).all()
    z_mean, z_var = (m - mean) / se_m, (v - cov.diagonal()) / se_v
    assert z_mean.abs().max() < 4, z_mean
    assert z_var.abs().max() < 4, z_var
    assert (cov.diagonal() > 4 * se_v).all()          # the variances are resolved, not ~0
