"""ntklib.dynamics: the linear-ODE prediction, gradient descent, eigendirections, the narrow valley.

References independent of the code under test: finite differences of the prediction
(the ODE itself), kernel regression by a linear solve (the t -> infinity limit), the linear
model f(x) = c W x + beta b whose NTK (1 - beta^2) x.y / n_0 + beta^2 is written out here by hand
and never moves, a plain loop of gradient-descent steps in the eigenbasis, and torch.autograd
training.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from conftest import DTYPE, randn

import ntklib as nk


def spd(n, seed, floor=0.05):
    """A random symmetric positive definite matrix with eigenvalues in [floor, ~n]."""
    A = randn(n, n, seed=seed)
    return A @ A.T / n + floor * torch.eye(n, dtype=DTYPE)


def linear_kernel(X, Y, beta):
    """NTK of the linear FCNet (depth 1) written by hand: grad_W f = c x, grad_b f = beta."""
    return (1 - beta**2) * (X @ Y.T) / X.shape[1] + beta**2


@pytest.fixture
def problem():
    N, M = 6, 4
    K_all = spd(N + M, seed=3)
    return dict(
        N=N,
        K=K_all[:N, :N],
        Kt=K_all[N:, :N],
        f0=randn(N, seed=4),
        ft0=randn(M, seed=5),
        Y=randn(N, seed=6),
    )


# ---- the prediction solves the ODE --------------------------------------------------------------


def test_flow_solves_the_ode(problem):
    """d/dt f_t(X) = (2/N) Theta (Y - f_t(X)) and d/dt f_t(x) = (2/N) Theta(x, X) (Y - f_t(X)),
    checked by central differences with h = 1e-4:
    truncation error ~ h^2 |f'''| ~ 1e-8 * (2 lam_max / N)^3 |r|, rounding ~ 1e-16 / h = 1e-12, so
    a relative tolerance 1e-7 is safe and an O(1) error fails it."""
    p, h = problem, 1e-4
    t = np.array([0.3, 1.0, 5.0, 20.0])
    times = np.concatenate([t - h, t, t + h])
    fX, ft = nk.ntk_flow(p["K"], p["f0"], p["Y"], times, theta_tX=p["Kt"], f0_t=p["ft0"])
    T = len(t)
    dX = (fX[2 * T :] - fX[:T]) / (2 * h)
    dt = (ft[2 * T :] - ft[:T]) / (2 * h)
    rhs = (2.0 / p["N"]) * (p["Y"] - fX[T : 2 * T]) @ p["K"].T
    rhs_t = (2.0 / p["N"]) * (p["Y"] - fX[T : 2 * T]) @ p["Kt"].T
    assert nk.stats.relative_error(dX, rhs) < 1e-7
    assert nk.stats.relative_error(dt, rhs_t) < 1e-7


def test_flow_starts_at_f0(problem):
    """At t = 0 the prediction is the network's own output, on training and test points
    (round-off only)."""
    p = problem
    fX, ft = nk.ntk_flow(p["K"], p["f0"], p["Y"], [0.0], theta_tX=p["Kt"], f0_t=p["ft0"])
    assert torch.allclose(fX[0], p["f0"], atol=1e-13, rtol=0)
    assert torch.allclose(ft[0], p["ft0"], atol=1e-13, rtol=0)
    fX, ft = nk.ntk_flow(p["K"], p["f0"], p["Y"], [0.0], theta_tX=p["Kt"], f0_t=p["ft0"], lr=0.5)
    assert torch.allclose(fX[0], p["f0"], atol=1e-13, rtol=0)


def test_flow_reaches_Y_and_kernel_regression(problem):
    """Theta positive definite: f_t(X) -> Y, and the test outputs tend to kernel regression on
    the residual, f_0(x) + Theta(x, X) Theta^{-1} (Y - f_0(X)) (a linear solve).
    At t = 60 N / (2 lam_min) the slowest mode has decayed by e^-60 ~ 1e-26, so 1e-9 leaves room for
    the solve's conditioning."""
    p = problem
    lam_min = float(torch.linalg.eigvalsh(p["K"]).min())
    t_end = 60 * p["N"] / (2 * lam_min)
    fX, ft = nk.ntk_flow(p["K"], p["f0"], p["Y"], [t_end], theta_tX=p["Kt"], f0_t=p["ft0"])
    assert torch.allclose(fX[0], p["Y"], atol=1e-9, rtol=0)
    ref = p["ft0"] + p["Kt"] @ torch.linalg.solve(p["K"], p["Y"] - p["f0"])
    assert torch.allclose(ft[0], ref, atol=1e-9, rtol=0)
    # monotone: the loss never increases along the flow
    fX, _ = nk.ntk_flow(p["K"], p["f0"], p["Y"], np.linspace(0, t_end, 50))
    loss = ((fX - p["Y"]) ** 2).mean(1)
    assert (loss[1:] <= loss[:-1] + 1e-15).all()


def test_flow_with_singular_kernel_moves_only_in_its_range():
    """A rank-deficient Theta: the component of the residual in its null space never moves, and
    the stable (1 - exp(-2 t lam / N)) / lam -> 2t/N branch keeps test outputs finite
    (exactly zero eigenvalues)."""
    N = 4
    v = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=DTYPE) / 2
    K = 3.0 * torch.outer(v, v)  # rank one, three zero eigenvalues
    f0, Y = torch.zeros(N, dtype=DTYPE), torch.tensor([1.0, -1.0, 2.0, 0.0], dtype=DTYPE)
    fX, ft = nk.ntk_flow(
        K, f0, Y, [0.0, 1.0, 1e3], theta_tX=K[:1], f0_t=torch.zeros(1, dtype=DTYPE)
    )
    null = torch.eye(N, dtype=DTYPE) - torch.outer(v, v)
    assert torch.allclose((Y - fX) @ null, (Y - f0) @ null, atol=1e-12)
    assert torch.isfinite(ft).all()
    assert abs(float(v @ (Y - fX[-1]))) < 1e-12


# ---- gradient descent ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["autograd", "lowrank"])
def test_linear_model_gd_matches_prediction(method):
    """The linear model (depth 1) has a constant NTK, written by hand, so gradient descent with step
    lr is exactly the Euler scheme of the ODE: f_k = Y - (I - 2 lr Theta / N)^k (Y - f_0), on
    training and test points.  Only round-off separates them (~1e-15 per step, 200 steps): tolerance
    1e-8."""
    beta, lr, steps = 0.3, 0.7, 200
    X, Xt = randn(7, 5, seed=1), randn(3, 5, seed=2)
    Y = randn(7, seed=3)
    net = nk.FCNet(5, 1, 1, beta=beta, seed=4)
    with torch.no_grad():
        f0, ft0 = net(X).reshape(-1), net(Xt).reshape(-1)
    method_used = (
        method if method == "autograd" else "auto"
    )  # depth 1: lowrank falls back to dense updates
    rec = nk.train_gd(net, X, Y, lr=lr, steps=steps, X_test=Xt, progress=False, method=method_used)
    fX, ft = nk.ntk_flow(
        linear_kernel(X, X, beta),
        f0,
        Y,
        rec.times,
        theta_tX=linear_kernel(Xt, X, beta),
        f0_t=ft0,
        lr=lr,
    )
    assert (rec.f_train - fX).abs().max() < 1e-8
    assert (rec.f_test - ft).abs().max() < 1e-8
    # and with lr -> 0 the Euler scheme approaches the flow: at lr = 1e-3, an O(lr) gap
    fX_gd, _ = nk.ntk_flow(linear_kernel(X, X, beta), f0, Y, [2.0], lr=1e-3)
    fX_fl, _ = nk.ntk_flow(linear_kernel(X, X, beta), f0, Y, [2.0])
    gap = float((fX_gd - fX_fl).abs().max())
    assert 0 < gap < 1e-3 * float((Y - f0).abs().max())


def test_lowrank_training_equals_autograd():
    """The hand-written FCNet trainer (rank-N factors, folded every few steps) against
    torch.autograd with p -= lr g: same arithmetic, different summation order; 30 steps of a ReLU
    net stay within 1e-11."""
    X, Xt = randn(4, 3, seed=7), randn(5, 3, seed=8)
    Y = randn(4, seed=9)
    net = nk.FCNet(
        3, 80, 3, beta=0.2, seed=10
    )  # 80 > 8 * 4: the middle layer takes the low-rank path
    twin = copy.deepcopy(net)
    a = nk.train_gd(net, X, Y, lr=0.9, steps=30, X_test=Xt, progress=False, method="autograd")
    b = nk.train_gd(twin, X, Y, lr=0.9, steps=30, X_test=Xt, progress=False, method="lowrank")
    assert (a.f_train - b.f_train).abs().max() < 1e-11
    assert (a.f_test - b.f_test).abs().max() < 1e-11
    for p, q in zip(net.parameters(), twin.parameters()):
        assert (p - q).abs().max() < 1e-11


def test_train_gd_records_at_chosen_times_and_validates():
    X, Y = randn(3, 2, seed=1), randn(3, seed=2)
    net = nk.FCNet(2, 16, 2, seed=0)
    rec = nk.train_gd(net, X, Y, lr=0.5, steps=10, record_times=[0.0, 1.5, 5.0], progress=False)
    assert list(rec.steps) == [0, 3, 10] and np.allclose(rec.times, [0.0, 1.5, 5.0])
    with pytest.raises(ValueError, match="record_times"):
        nk.train_gd(net, X, Y, lr=0.5, steps=10, record_times=[0.3], progress=False)
    with pytest.raises(ValueError, match="method"):
        nk.train_gd(net, X, Y, lr=0.5, steps=1, method="adam", progress=False)
    with pytest.raises(ValueError, match="method"):
        nk.train_gd(
            torch.nn.Linear(2, 1).double(), X, Y, lr=0.5, steps=1, method="lowrank", progress=False
        )
    with pytest.raises(ValueError, match="lr"):
        nk.ntk_flow(torch.eye(3, dtype=DTYPE), torch.zeros(3), Y, [0.25], lr=0.5)


# ---- eigendirections ----------------------------------------------------------------------------


def test_ntk_pca_is_an_ordered_orthonormal_decomposition():
    K = spd(9, seed=12)
    lam, V = nk.ntk_pca(K)
    assert (lam[1:] <= lam[:-1]).all()
    assert torch.allclose(V.T @ V, torch.eye(9, dtype=DTYPE), atol=1e-12)
    assert torch.allclose(V @ torch.diag(lam) @ V.T, K, atol=1e-12)
    assert (V.sum(0) >= -1e-12).all()  # the sign convention
    lam3, V3 = nk.ntk_pca(K, k=3)
    assert V3.shape == (9, 3) and torch.allclose(lam3, lam[:3])
    assert nk.convergence.constant_mode_cosine(torch.ones(5)) == pytest.approx(1.0, abs=1e-15)
    assert nk.convergence.constant_mode_cosine(
        torch.tensor([1.0, -1.0, 1.0, -1.0])
    ) == pytest.approx(0.0, abs=1e-15)
    assert nk.convergence.eigen_gap(torch.tensor([4.0, 1.0, 0.5])) == (4.0, 3.0)


def test_each_eigendirection_decays_at_its_own_rate():
    """Linear model, gradient descent: the residual along eigenvector v_i of its (constant) NTK is
    multiplied by exactly (1 - 2 lr lam_i / N) per step, i.e. decays
    at rate -log(1 - 2 lr lam_i / N) / lr.  The fitted rates and the decay errors recover it to
    round-off (1e-9); the flow rate 2 lam / N differs by O(lr)."""
    beta, lr = 0.1, 0.5
    X = randn(6, 8, seed=21)
    Y = randn(6, seed=22)
    K = linear_kernel(X, X, beta)
    lam, V = nk.ntk_pca(K)
    net = nk.FCNet(8, 1, 1, beta=beta, seed=23)
    rec = nk.train_gd(net, X, Y, lr=lr, steps=40, progress=False)
    C = nk.mode_coefficients(rec.f_train, Y, V)
    rates_gd = nk.mode_rates(lam, 6, lr)
    fitted = nk.convergence.fit_decay_rates(rec.times, C, rates_gd, floor=1e-6)
    assert np.allclose(fitted, rates_gd.numpy(), rtol=1e-9, atol=0)
    # decay curves: exact for the step-lr rates, O(lr lam / N) off for the flow rates
    ratio, predicted, err = nk.convergence.mode_decay(rec.times, C, nk.mode_rates(lam, 6, lr))
    assert err.max() < 1e-10
    _, _, err_flow = nk.convergence.mode_decay(rec.times, C, nk.mode_rates(lam, 6))
    assert err_flow.max() > 1e-4
    assert np.allclose(
        nk.mode_rates(lam, 6, 1e-7).numpy(), nk.mode_rates(lam, 6).numpy(), rtol=1e-6
    )


def test_convergence_time_against_simulated_descent():
    """The best constant step lr* = N / (lam_max + lam_min) needs log(1/tol) / log((k+1)/(k-1))
    steps for the extreme modes to shrink by tol; simulated descent in the eigenbasis agrees to
    within one step."""
    lam = torch.tensor([3.0, 1.0, 0.2, 0.05], dtype=DTYPE)
    N, tol = 4, 1e-3
    out = nk.convergence.convergence_time(lam, N, tol=tol)
    assert out["kappa"] == pytest.approx(60.0)
    assert out["time"] == pytest.approx(N * math.log(1e3) / (2 * 0.05))
    r, k = torch.ones(4, dtype=DTYPE), 0
    while r.abs().max() > tol:
        r = r * (1 - 2 * out["lr_best"] * lam / N)
        k += 1
    assert abs(k - out["steps_best"]) <= 1.0


def test_narrow_valley_of_a_linear_model_is_exactly_quadratic():
    """For the linear model C(theta) is a quadratic with Hessian (2/N) J^T J: the loss on the grid
    equals the second-order model and the curvature along d_i is 2 lam_i / N, to round-off."""
    X, Y = randn(5, 7, seed=31), randn(5, seed=32)
    net = nk.FCNet(7, 1, 1, beta=0.2, seed=33)
    v = nk.convergence.narrow_valley(net, X, Y, n_grid=5)
    assert torch.allclose(v["loss"], v["loss_quadratic"], atol=1e-12, rtol=1e-12)
    assert np.allclose(v["curvature"], v["curvature_theory"], rtol=1e-10)
    lam_hand = torch.linalg.eigvalsh(linear_kernel(X, X, 0.2)).flip(0)
    assert np.allclose(v["curvature_theory"], (2 * lam_hand[[0, -1]] / 5).numpy(), rtol=1e-10)


def test_ode_gap_sweep_vanishes_for_the_linear_model():
    """depth = 1: the empirical NTK is Theta_inf exactly and never moves, so training follows the
    prediction to round-off and the kernel does not change."""
    X, Xt = randn(4, 3, seed=41), randn(6, 3, seed=42)
    Y = randn(4, seed=43)
    out = nk.convergence.ode_gap_sweep(X, Y, Xt, widths=[8, 16], seeds=2, depth=1, lr=0.5, steps=20)
    assert out["gap_train"].max() < 1e-10 and out["gap_test"].max() < 1e-10
    assert out["kernel_move"].max() < 1e-12 and out["kernel_init"].max() < 1e-12
