"""ntklib.phases: freeze and chaos, the normalised nonlinearity, LayerNorm and BatchNorm.

Every test compares with something computed another way: scipy's adaptive quadrature, closed forms
of Gaussian integrals, a plain numpy recursion for one pair of inputs, autograd, an explicit loop.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

import ntklib as nk
from ntklib import phases as ph
from ntklib.activations import gaussian_expectation

DTYPE = torch.float64


def _sphere(n, dim, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, dim, generator=g, dtype=DTYPE)
    return X / X.norm(dim=1, keepdim=True) * math.sqrt(dim)


def _quad_moment(f):
    """E f(z), z ~ N(0, 1), for a python function of a float, by scipy's adaptive quadrature on each
    half-line."""
    phi = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
    a, _ = integrate.quad(
        lambda z: f(z) * phi(z), -np.inf, 0.0, epsabs=1e-14, epsrel=1e-13, limit=200
    )
    b, _ = integrate.quad(
        lambda z: f(z) * phi(z), 0.0, np.inf, epsabs=1e-14, epsrel=1e-13, limit=200
    )
    return a + b


def _scalar(act):
    return lambda z: float(act.fn(torch.tensor(z, dtype=DTYPE)))


# ---- nonlinearities ------------------------------------------------------------------------------


def test_standardized_relu_is_sqrt2_relu():
    """standardized("relu") has E sigma^2 = 1 (scipy quadrature, 1e-12) and the same closed-form
    duals as sqrt(2) relu (same formulas up to rounding of the scale: 1e-14)."""
    s = nk.standardized("relu")
    assert abs(_quad_moment(lambda z: _scalar(s)(z) ** 2) - 1) < 1e-12
    a = torch.tensor([[0.5], [1.0], [2.0]], dtype=DTYPE)
    b = torch.tensor([[0.7, 1.0, 1.5]], dtype=DTYPE)
    c = 0.6 * torch.sqrt(a * b)
    ref = nk.scaled("relu", math.sqrt(2))
    torch.testing.assert_close(s.dual(a, b, c), ref.dual(a, b, c), rtol=0, atol=1e-14)
    torch.testing.assert_close(s.dual_deriv(a, b, c), ref.dual_deriv(a, b, c), rtol=0, atol=1e-14)


@pytest.mark.parametrize("name", ["relu", "softplus", "gelu"])
def test_mean_one_has_unit_gaussian_mean(name):
    """mean_one(sigma) has E sigma(z) = 1 by scipy quadrature (1e-10; the library uses Gauss-Hermite
    or a closed form) and, by Jensen, E sigma^2 > 1."""
    act = ph.mean_one(name)
    assert abs(_quad_moment(_scalar(act)) - 1) < 1e-10
    assert _quad_moment(lambda z: _scalar(act)(z) ** 2) > 1.01


def test_mean_one_rejects_odd_functions():
    with pytest.raises(ValueError, match="E sigma"):
        ph.mean_one("tanh")


def test_input_scaled_closed_forms_match_quadrature():
    """erf(g z) keeps its closed forms; they equal E[s(u)s(v)], E[s'(u)s'(v)] by a 2-D Gauss-Hermite
    rule with 256^2 nodes applied to the function itself (erf is entire: measured ~3e-15 for
    effective variances up to 6; 128^2 nodes are off by ~2e-9 there, so 1e-9 still checks
    convergence)."""
    act = ph.input_scaled("erf", 1.7)
    assert act.closed_form
    a = torch.tensor([[0.3], [1.0], [2.0]], dtype=DTYPE)
    b = torch.tensor([[0.5, 1.0, 1.8]], dtype=DTYPE)
    c = torch.tensor([[-0.5], [0.1], [0.9]], dtype=DTYPE) * torch.sqrt(a * b)
    torch.testing.assert_close(
        act.dual(a, b, c), gaussian_expectation(act.fn, act.fn, a, b, c, n=256), rtol=0, atol=1e-9
    )
    torch.testing.assert_close(
        act.dual_deriv(a, b, c),
        gaussian_expectation(act.deriv, act.deriv, a, b, c, n=256),
        rtol=0,
        atol=1e-9,
    )


def test_gain_family_matches_erf_closed_form():
    """For sigma_g = erf(g z): Var = (2/pi) asin(2 g^2/(1 + 2 g^2)),
    E sigma_g'^2 = (4 g^2/pi)/sqrt(1 + 4 g^2) (Williams' formulas at a = b = c = g^2), so
    E sigma_bar'^2 is their ratio: 1e-12.  The identity limit g -> 0 gives 1 (+ O(g^4))."""
    gains = np.array([1e-3, 0.3, 1.0, 4.0])
    fam = ph.gain_family_diagram("erf", gains, [0.0, 0.5])
    g2 = gains**2
    ref = (4 * g2 / np.pi / np.sqrt(1 + 4 * g2)) / ((2 / np.pi) * np.arcsin(2 * g2 / (1 + 2 * g2)))
    np.testing.assert_allclose(fam["derivative_moment"], ref, rtol=1e-12)
    np.testing.assert_allclose(fam["r"][:, 1], 0.75 * ref, rtol=1e-12)
    assert abs(fam["derivative_moment"][0] - 1) < 1e-5


def test_resolve_activation_grammar():
    """Specs name the same functions as the constructors (values compared on a grid, exact)."""
    z = torch.linspace(-3, 3, 13, dtype=DTYPE)
    torch.testing.assert_close(
        ph.resolve_activation("sqrt2*relu")(z), math.sqrt(2) * torch.relu(z), rtol=0, atol=1e-15
    )
    torch.testing.assert_close(
        ph.resolve_activation("normalized(tanh)")(z), nk.normalized("tanh")(z), rtol=0, atol=0
    )
    torch.testing.assert_close(
        ph.resolve_activation("scaled(erf, 1.5)")(z), 1.5 * torch.erf(z), rtol=0, atol=0
    )
    torch.testing.assert_close(
        ph.resolve_activation("normalized(input_scaled(erf, 2))")(z),
        nk.normalized(ph.input_scaled("erf", 2.0))(z),
        rtol=0,
        atol=0,
    )
    with pytest.raises(ValueError, match="activation"):
        ph.resolve_activation("frobnicate(relu)")


def test_edge_beta_and_phase_diagram():
    """r(sigma, edge_beta) = 1 (1e-12); sqrt(2) relu has r = 1 - beta^2 (the slides' edge); plain
    tanh has E tanh'^2 < 1 (always frozen: edge nan)."""
    for spec in ["normalized(tanh)", "normalized(relu)", "normalized(gelu)"]:
        act = ph.resolve_activation(spec)
        assert abs(nk.r_value(act, nk.edge_beta(act)) - 1) < 1e-12
    betas = np.linspace(0, 1, 11)
    d = ph.phase_diagram(["standardized(relu)", "tanh"], betas)
    np.testing.assert_allclose(d["r"][0], 1 - betas**2, rtol=0, atol=1e-14)
    assert math.isnan(d["edge"][1]) and (d["r"][1] < 1).all()
    assert (
        ph.phase_of(0.5) == "freeze" and ph.phase_of(1.0) == "edge" and ph.phase_of(1.5) == "chaos"
    )


# ---- the theorems --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec,beta", [("normalized(erf)", 0.3), ("standardized(relu)", 0.0), ("normalized(tanh)", 0.6)]
)
def test_theta_diagonal_identity(spec, beta):
    """On the sphere with E sigma^2 = 1: Theta^(L)(x, x) = (1 - r^L)/(1 - r), for random inputs
    (1e-11)."""
    X = _sphere(5, 6, seed=3)
    err = ph.diagonal_identity_error(X, [1, 2, 4, 9, 17], activation=spec, beta=beta)
    assert err.max() < 1e-11


def test_theta_diagonal_formula_near_and_at_one():
    """At r = 1 the sum is L; near 1 the closed form and the explicit sum agree (1e-12)."""
    assert ph.theta_diagonal_formula(1.0, 7) == 7
    for r in (0.5, 1 - 1e-7, 1.3):
        assert abs(ph.theta_diagonal_formula(r, 9) / math.fsum(r**k for k in range(9)) - 1) < 1e-12


def _np_pair_ratio(angle, depth, beta, s, h):
    """Theta^(L)(x, y)/Theta^(L)(x, x) for sigma = s erf + h, ||x||^2 = ||y||^2 = n_0 and
    angle(x, y) = angle, by the CONVENTIONS.md recursion on the 2x2 covariance with Williams' erf
    formulas (numpy, scalar)."""
    w2, b2 = 1 - beta**2, beta**2
    a, c = 1.0, w2 * math.cos(angle) + b2  # Sigma(x, x), Sigma(x, y); a stays 1 when standardised
    tx, txy = a, c
    for _ in range(depth - 1):
        d = 1 + 2 * a
        e_xy = (2 / math.pi) * math.asin(2 * c / d)
        e_xx = (2 / math.pi) * math.asin(2 * a / d)
        dd_xy = (4 / math.pi) / math.sqrt(d * d - 4 * c * c)
        dd_xx = (4 / math.pi) / math.sqrt(d * d - 4 * a * a)
        # E[(s erf(u) + h)(s erf(v) + h)] = s^2 E[erf erf] + h^2 (erf is odd: E erf = 0)
        c_next, a_next = w2 * (s * s * e_xy + h * h) + b2, w2 * (s * s * e_xx + h * h) + b2
        txy = txy * w2 * s * s * dd_xy + c_next
        tx = tx * w2 * s * s * dd_xx + a_next
        a, c = a_next, c_next
    return txy / tx


def test_freeze_bound_ratios_match_numpy_pair_recursion():
    """freeze_bound's min ratio for two points is the pair ratio of an independent numpy recursion
    (1e-12), its C is the largest scaled gap on the fit depths, and the bound holds for smooth
    erf."""
    beta = 0.7
    act = nk.normalized("erf")
    s = 1 / math.sqrt((2 / math.pi) * math.asin(2 / 3))
    angle = 2.0
    X = math.sqrt(2) * torch.tensor([[1.0, 0.0], [math.cos(angle), math.sin(angle)]], dtype=DTYPE)
    depths = list(range(1, 31))
    fb = ph.freeze_bound(X, depths, activation=act, beta=beta, fit_max=5)
    ref = np.array([_np_pair_ratio(angle, L, beta, s, 0.0) for L in depths])
    np.testing.assert_allclose(fb["min_ratio"], ref, rtol=0, atol=1e-12)
    r = fb["r"]
    scaled = (1 - ref) / (np.array(depths) * r ** np.array(depths, dtype=float))
    assert abs(fb["C"] - scaled[:5].max()) < 1e-9
    assert (fb["min_ratio"] >= fb["bound"] - 1e-12).all()


def test_resolvable_depth():
    L = ph.resolvable_depth(0.5, floor=1e-6)
    assert L * 0.5**L >= 1e-6 > (L + 1) * 0.5 ** (L + 1)


def test_chaos_decay_excludes_antipodes():
    """For an odd sigma at beta = 0, Theta(x, -x) = -Theta(x, x) exactly
    (symmetry of the recursion), so the antipodal pair must be left out: chaos_decay then reports
    the decaying ratio of the other pairs."""
    X = math.sqrt(2) * torch.tensor(
        [[1.0, 0.0], [-1.0, 0.0], [math.cos(1.0), math.sin(1.0)]], dtype=DTYPE
    )
    T = nk.ntk(X, depth=20, activation=nk.normalized("erf"), beta=0.0)
    R = ph.gram_ratio(T)
    assert abs(float(R[0, 1]) + 1) < 1e-12
    v = ph.chaos_decay(X, [1, 10, 20], activation="normalized(erf)", beta=0.0)
    assert abs(v[0] - math.cos(1.0)) < 1e-12  # Theta^(1) = x.y / n_0 at beta = 0
    assert v[-1] < v[1] < v[0]
    assert abs(v[-1] - float(R[0, 2].abs())) < 1e-15


def test_ntk_by_depth_matches_separate_calls():
    X = _sphere(4, 3, seed=1)
    T = ph.ntk_by_depth(X, [2, 5], activation="normalized(tanh)", beta=0.2)
    for i, L in enumerate([2, 5]):
        torch.testing.assert_close(
            T[i],
            nk.ntk(X, depth=L, activation=nk.normalized("tanh"), beta=0.2),
            rtol=1e-13,
            atol=1e-13,
        )


# ---- conditioning and training speed -------------------------------------------------------------


def test_condition_numbers_match_numpy():
    X = _sphere(10, 8, seed=2)
    k = ph.gram_condition_numbers(X, [2, 3], activation="normalized(erf)", beta=0.5)
    for L, kk in zip([2, 3], k):
        T = nk.ntk(X, depth=L, activation=nk.normalized("erf"), beta=0.5).numpy()
        assert abs(kk / np.linalg.cond(T) - 1) < 1e-8


def test_kernel_gd_losses_match_explicit_iteration():
    """Eigen-decomposed losses = an explicit loop f <- f - lr (2/N) Theta (f - Y)
    (1e-12 relative)."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(6, 6, generator=g, dtype=DTYPE)
    T = A @ A.T + 0.1 * torch.eye(6, dtype=DTYPE)
    f = torch.randn(6, generator=g, dtype=DTYPE)
    Y = torch.randn(6, generator=g, dtype=DTYPE)
    lr = ph.gd_step_size(T, 0.5)
    losses = ph.kernel_gd_losses(T, f, Y, lr=lr, steps=25)
    ref = []
    for _ in range(26):
        ref.append(float(((f - Y) ** 2).mean()))
        f = f - lr * (2 / 6) * T @ (f - Y)
    np.testing.assert_allclose(losses, ref, rtol=1e-12, atol=0)
    assert ph.steps_to_loss([4.0, 2.0, 0.5, 0.01], 0.1) == 3 and math.isinf(
        ph.steps_to_loss([1.0, 0.9], 0.1)
    )


def test_training_speed_linear_model_is_exact():
    """depth 1 is the linear model f = sqrt(1 - beta^2)/sqrt(n_0) W x + beta b: its NTK is Sigma^(1)
    at every parameter value, so gradient descent on the network IS kernel gradient descent
    (1e-10)."""
    X = _sphere(
        4, 5, seed=4
    )  # N <= n_0: the linear kernel is positive definite (no zero eigenvalue)
    Y = torch.linspace(-1, 1, 4, dtype=DTYPE)
    sp = ph.training_speed(
        X, Y, {"lin": ["identity", 0.3]}, depth=1, width=8, rel_target=0.5, max_steps=30
    )
    res = sp["lin"]
    np.testing.assert_allclose(res["loss_network"], res["loss_theory"], rtol=1e-10, atol=1e-14)
    assert res["steps_network"] == res["steps_theory"]


# ---- the E[sigma] = 1 erratum --------------------------------------------------------------------


def test_mean_one_relu_drift_closed_form():
    """sigma = sqrt(2 pi) relu has E sigma(sqrt(q) z)^2 = pi q, so
    Sigma^(l+1)(x, x) = (1 - beta^2) pi q_l + beta^2 (closed form, 1e-12 relative), while the
    standardised relu stays at 1."""
    beta, depth = 0.2, 6
    p = ph.diagonal_profile("mean_one(relu)", beta, depth)
    q, ref = 1.0, [1.0]
    for _ in range(depth - 1):
        q = (1 - beta**2) * math.pi * q + beta**2
        ref.append(q)
    np.testing.assert_allclose(p["sigma"], ref, rtol=1e-12)
    s = ph.diagonal_profile("standardized(relu)", beta, depth)
    np.testing.assert_allclose(s["sigma"], 1.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(s["theta"], s["formula"], rtol=1e-13)


def test_empirical_diagonal_profile_follows_drift():
    """Finite networks (width 4096, 3 seeds) follow Sigma^(l)(x, x) of the mean-one relu.  Each
    layer's ||z||^2/n fluctuates by ~ sqrt(2/4096) = 2% per network, compounding over 3 layers and
    averaged over 3 seeds: ~2% total (measured 0.4-1%); tolerance 10%."""
    X = _sphere(8, 6, seed=5)
    p = ph.diagonal_profile("mean_one(relu)", 0.1, 3)
    e = ph.empirical_diagonal_profile(X, "mean_one(relu)", 0.1, 3, width=4096, n_seeds=3)
    np.testing.assert_allclose(e, p["sigma"], rtol=0.10)


# ---- notebook 05: Poincare -----------------------------------------------------------------------


def test_gaussian_moments_closed_forms():
    """Closed forms: relu (1/sqrt(2 pi), 1/2 - 1/(2 pi), 1/2); abs: E sbar'^2 = 1/(1 - 2/pi); sin:
    coth(1); erf: (4/(pi sqrt 5)) / ((2/pi) asin(2/3)).  Gauss-Legendre on each half-line: 1e-11."""
    m = ph.gaussian_moments("relu")
    assert abs(m["mean"] - 1 / math.sqrt(2 * math.pi)) < 1e-12
    assert abs(m["var"] - (0.5 - 1 / (2 * math.pi))) < 1e-12 and abs(m["deriv2"] - 0.5) < 1e-12
    assert abs(ph.gaussian_moments("abs")["poincare"] - 1 / (1 - 2 / math.pi)) < 1e-11
    assert abs(ph.gaussian_moments("sin")["poincare"] - 1 / math.tanh(1.0)) < 1e-11
    erf_ref = (4 / (math.pi * math.sqrt(5))) / ((2 / math.pi) * math.asin(2 / 3))
    assert abs(ph.gaussian_moments("erf")["poincare"] - erf_ref) < 1e-11


@pytest.mark.parametrize("name", ["tanh", "gelu", "sin", "softplus"])
def test_hermite_average_equals_poincare_ratio(name):
    """sum_k k c_k^2 / sum_{k>=1} c_k^2 (Hermite coefficients) = E sigma'^2 / Var sigma
    (derivative moments): two different integrals of two different functions; smooth sigma converge
    fast (tolerance 1e-8)."""
    assert abs(ph.hermite_poincare(name)["ratio"] - ph.gaussian_moments(name)["poincare"]) < 1e-8


def test_poincare_table_bound():
    rows = ph.poincare_table(["relu", "tanh", "cos", "identity", "scaled(identity, -3)"], beta=0.1)
    vals = np.array([r["poincare"] for r in rows])
    assert (vals[:3] > 1.1).all() and np.abs(vals[3:] - 1).max() < 1e-12
    assert [r["phase"] for r in rows] == ["chaos", "chaos", "chaos", "freeze", "freeze"]


def test_poincare_for_a_polynomial():
    """sigma = z + a z^2 = (1 + ...) : Var = 1 + 2 a^2, E sigma'^2 = 1 + 4 a^2 (moments of z), ratio
    exact."""
    a = 0.3
    m = ph.gaussian_moments(lambda z: z + a * z**2)
    assert abs(m["poincare"] - (1 + 4 * a * a) / (1 + 2 * a * a)) < 1e-12


# ---- notebook 05: LayerNorm and BatchNorm --------------------------------------------------------


def test_layernorm_ntk_approaches_normalised_kernel():
    """A wide LayerNorm network's NTK is within 15% (Frobenius) of the normalised-relu NTK and > 50%
    away from the plain relu NTK (measured 6-8% and ~4.4 (440%) at width 2048, 2 seeds: 2x margin
    each way)."""
    X = _sphere(6, 4, seed=6)
    refs = {
        "bar": nk.ntk(X, depth=3, activation=nk.normalized("relu"), beta=0.1),
        "plain": nk.ntk(X, depth=3, activation="relu", beta=0.1),
    }
    dev = ph.empirical_deviation(
        X, refs, widths=[2048], n_seeds=2, depth=3, activation="relu", beta=0.1, norm="layer"
    )
    assert dev["bar"].mean() < 0.15 and dev["plain"].min() > 0.5


@pytest.mark.parametrize("width,depth,beta", [(3, 2, 0.1), (16, 3, 0.5), (64, 4, 0.9)])
def test_batchnorm_constant_mode_identity(width, depth, beta):
    """(1/N^2) sum_ij Theta_ij = beta^2 and Theta 1 = N beta^2 1 for the batch-output NTK;
    independently, the squared gradient norm of the batch-mean output (autograd) is beta^2.  Exact:
    1e-12."""
    X = _sphere(7, 5, seed=7)
    net = nk.FCNet(5, width, depth, activation="tanh", beta=beta, norm="batch", seed=8)
    cm = ph.constant_mode(nk.empirical_ntk(net, X))
    assert abs(cm["mass"] - beta**2) < 1e-12 and cm["eig_residual"] < 1e-12
    assert abs(cm["rayleigh"] - 7 * beta**2) < 1e-11
    grads = torch.autograd.grad(net(X).mean(), list(net.parameters()))
    assert abs(sum(float((g * g).sum()) for g in grads) - beta**2) < 1e-12
    mass = ph.batchnorm_mass(X, widths=[width], depths=[depth], betas=[beta], activation="tanh")
    assert abs(mass).max() < 1e-12


def test_constant_mode_without_norm_is_dominant():
    """In the freeze the plain network's Gram matrix is nearly constant: the top eigenvector
    is ~ 1/sqrt(N)."""
    X = _sphere(10, 6, seed=9)
    cm = ph.constant_mode(nk.ntk(X, depth=6, activation=nk.normalized("erf"), beta=0.8))
    assert cm["rank"] == 0 and cm["top_overlap"] > 0.99


def test_compare_norms_constant_direction_exact_rate():
    """With BatchNorm the batch mean of the residual obeys m_{k+1} = (1 - 2 eta beta^2) m_k exactly
    during training (the mean output is beta b^(L)): 1e-11 relative to m_0 after 15 steps."""
    X = _sphere(8, 4, seed=10)
    Y = torch.linspace(-1, 2, 8, dtype=DTYPE)
    out = ph.compare_norms(
        X,
        Y,
        width=32,
        depth=3,
        activation="relu",
        beta=0.4,
        steps=15,
        rel_target=0.1,
        norms=("batch",),
    )
    bn = out["BatchNorm"]
    err = np.abs(bn["mean_residual"] - bn["mean_residual_theory"]).max() / abs(
        bn["mean_residual"][0]
    )
    assert err < 1e-11
    assert bn["mode"]["overlap"] > 1 - 1e-12


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1.0", None])
def test_phase_of_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="r must be"):
        ph.phase_of(bad)


def test_finite_diagonal_test_agrees_and_detects_a_non_standardised_sigma():
    """At L = 2, E Theta_hat(x, x) = 1 + r exactly at any width (the first-layer weights are
    independent of the readout), so the seed mean is within 4 standard errors; mean_one(relu)
    (E sigma^2 = 2.14, not 1) breaks the formula by > 20% and is flagged far outside them."""
    X = nk.data.sphere(6, 4, seed=0)
    ok = ph.finite_diagonal_test(X, "standardized(relu)", 0.3, [2], width=64, n_seeds=8)
    assert ok["values"].shape == (8, 1) and abs(ok["z"][0]) < 4, ok["z"]
    bad = ph.finite_diagonal_test(X, "mean_one(relu)", 0.3, [2], width=64, n_seeds=8)
    assert bad["z"][0] > 6, bad["z"]
    with pytest.raises(ValueError, match="n_seeds"):
        ph.finite_diagonal_test(X, "standardized(relu)", 0.3, [2], width=64, n_seeds=1)


def test_linearised_speed_test_measures_each_network_against_its_own_linearisation():
    """d_j = log(C_net / C_lin) after `steps` steps, C_lin from kernel GD with the network's own
    initial NTK (recomputed here by hand for one network); at half the largest stable step, wide
    networks stay close to their linearisation over a few steps (|d_j| < 5e-2 at width 512)."""
    X = nk.data.sphere(6, 3, seed=2)
    Y = X[:, 0] - X[:, 1]
    act = nk.normalized("tanh")
    lr = nk.phases.gd_step_size(nk.ntk(X, depth=3, activation=act, beta=0.5), 0.5)
    kw = dict(depth=3, width=512, lr=lr, steps=8)
    t = nk.phases.linearised_speed_test(X, Y, "normalized(tanh)", 0.5, seeds=4, seed=11, **kw)
    net = nk.FCNet(3, 512, 3, activation=act, beta=0.5, seed=13)
    with torch.no_grad():
        f0 = net(X).reshape(-1)
    lin = nk.phases.kernel_gd_losses(nk.empirical_ntk(net, X), f0, Y, lr=lr, steps=8)
    rec = nk.train_gd(net, X, Y, lr=lr, steps=8, progress=False)
    assert abs(t["d"][2] - math.log(float(rec.loss[-1]) / lin[-1])) < 1e-10
    assert np.abs(t["d"]).max() < 5e-2 and t["se"] > 0
    assert abs(t["z"] - t["d"].mean() / (t["d"].std(ddof=1) / 2)) < 1e-12
    with pytest.raises(ValueError, match="seeds"):
        nk.phases.linearised_speed_test(X, Y, "relu", 0.5, seeds=1, **kw)
