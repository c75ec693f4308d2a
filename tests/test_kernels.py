"""Infinite-width kernels: a reference recursion, Monte Carlo over wide networks, freeze/chaos, API
shape."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ntklib as nk
from conftest import (
    DTYPE,
    NP_DUALS,
    arccos_rounding_tol,
    assert_close_within,
    on_sphere,
    randn,
    reference_kernels,
)

# ---- the recursion itself ------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 1.0])
def test_depth_one_is_the_linear_kernel(inputs, beta):
    """Property: with depth = 1, nngp = ntk = (1 - beta^2) x.y / n_0 + beta^2 (CONVENTIONS.md §1,
    with the 1/n_0 the slides omit).  Tolerance 1e-14 (one matmul).  Dropping the 1/n_0 (n_0 = 3)
    fails it."""
    X = inputs
    Y = randn(2, 3, seed=5)
    want = (1 - beta**2) * (X @ Y.T) / X.shape[1] + beta**2
    for fn in (nk.nngp, nk.ntk):
        torch.testing.assert_close(
            fn(X, Y, depth=1, activation="relu", beta=beta), want, rtol=0, atol=1e-14
        )


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("beta", [0.0, 0.1, 0.6])
def test_kernels_match_pairwise_numpy_reference(act, beta):
    """Property: nk.nngp and nk.ntk equal a separate numpy implementation of CONVENTIONS.md §1 that
    tracks the 2x2 covariance of each pair (x, y) on its own (arc-cosine and Williams kernels
    written from the CONVENTIONS.md formulas in angle form; tanh by a 200 x 200 Cholesky-factor
    Gauss-Hermite rule), for X != Y, depths 1..4.  Tolerance 1e-9: closed forms agree to rounding;
    for tanh the reference rule is converged to ~1e-11 at these variances (<= 2.5) and Mehler to
    ~1e-10."""
    X = randn(4, 3, seed=1)
    Y = randn(3, 3, seed=2) * 0.8
    for depth in range(1, 5):
        S_ref, T_ref = reference_kernels(X.numpy(), Y.numpy(), depth, NP_DUALS[act], beta)
        S = nk.nngp(X, Y, depth=depth, activation=act, beta=beta)
        T = nk.ntk(X, Y, depth=depth, activation=act, beta=beta)
        np.testing.assert_allclose(S.numpy(), S_ref, rtol=0, atol=1e-9)
        np.testing.assert_allclose(T.numpy(), T_ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("act", ["relu", nk.normalized("tanh")], ids=["relu", "normalized_tanh"])
def test_ntk_is_the_sum_over_layers(inputs, act):
    """Property: Theta^(L) = sum_l Sigma^(l) prod_{k > l} SigmaDot^(k) (the unrolled form in
    the slides) with the layers of nk.kernel_layers, and kernel_layers agrees with nngp/ntk at its
    last layer.  Tolerance 1e-12 relative (the same numbers summed in a different order)."""
    depth, beta = 5, 0.2
    kl = nk.kernel_layers(inputs, depth=depth, activation=act, beta=beta)
    unrolled = 0
    for l in range(1, depth + 1):
        term = kl.Sigma(l)
        for k in range(l + 1, depth + 1):
            term = term * kl.SigmaDot(k)
        unrolled = unrolled + term
    torch.testing.assert_close(
        unrolled, nk.ntk(inputs, depth=depth, activation=act, beta=beta), rtol=1e-12, atol=1e-12
    )
    torch.testing.assert_close(
        kl.Theta(depth),
        nk.ntk(inputs, depth=depth, activation=act, beta=beta),
        rtol=1e-12,
        atol=1e-12,
    )
    torch.testing.assert_close(
        kl.Sigma(depth),
        nk.nngp(inputs, depth=depth, activation=act, beta=beta),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.3, 0.5])
def test_relu_sigma_dot_diagonal_is_exactly_half(beta):
    """Property: SigmaDot^(l)(x, x) = (1 - beta^2) E[step(u)^2] = (1 - beta^2)/2 for ReLU, for every
    x and layer (u = v on the diagonal, P(u > 0) = 1/2).  Tolerance 1e-12: the true value is a
    constant, so anything beyond rounding is a numerical defect.  (A one-ulp mismatch between
    Sigma(x, x) from the matmul and the separately computed variances puts the correlation at
    1 - 2e-16, and arccos turns that into a ~1e-8 error.)"""
    X = randn(8, 7, seed=0)
    kl = nk.kernel_layers(X, depth=4, activation="relu", beta=beta)
    for l in range(2, 5):
        torch.testing.assert_close(
            kl.SigmaDot(l).diagonal(),
            torch.full((8,), (1 - beta**2) / 2, dtype=DTYPE),
            rtol=0,
            atol=1e-12,
        )


@pytest.mark.parametrize("scale,shift", [(1.0, 0.0), (2.0, 0.0), (1.5, 0.3)])
@pytest.mark.parametrize("beta", [0.0, 0.4])
def test_linear_activation_gives_the_linear_network_recursion(scale, shift, beta):
    """Property: for sigma(x) = s x + h the expectations are elementary,
    E[sigma(u) sigma(v)] = s^2 c + h^2, E[sigma' sigma'] = s^2, so
    Sigma^(l+1) = (1 - beta^2)(s^2 Sigma^(l) + h^2) + beta^2 and
    Theta^(l+1) = (1 - beta^2) s^2 Theta^(l) + Sigma^(l+1), computed here in a plain loop.
    Tolerance 1e-12 (rounding; values O(10))."""
    X = randn(4, 3, seed=15)
    Y = randn(2, 3, seed=16)
    act = nk.get_activation("identity").affine(scale, shift)
    w2, b2 = 1 - beta**2, beta**2
    for args in [(X,), (X, Y)]:
        S = w2 * (args[0] @ args[-1].T) / 3 + b2
        T = S.clone()
        for depth in range(1, 5):
            kw = dict(depth=depth, activation=act, beta=beta)
            torch.testing.assert_close(nk.nngp(*args, **kw), S, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(nk.ntk(*args, **kw), T, rtol=1e-12, atol=1e-12)
            S = w2 * (scale**2 * S + shift**2) + b2
            T = w2 * scale**2 * T + S


@pytest.mark.parametrize(
    "act", ["relu", "erf", nk.normalized("relu")], ids=["relu", "erf", "normalized_relu"]
)
def test_many_inputs_match_the_layerwise_recursion(act):
    """Property: for N = 260 inputs (more than one 256-row evaluation tile), nk.ntk / nk.nngp equal
    the layer-by-layer Theta^(L), Sigma^(L) of nk.kernel_layers, with and without Y.  The two use
    different matmul blockings, so they agree to rounding only: tolerance 1e-12 relative, widened
    entry by entry where arccos amplifies an ulp (near-duplicate inputs;
    conftest.arccos_rounding_tol states the argument).  Two near-duplicate rows are planted so that
    case is exercised."""
    X = randn(260, 4, seed=17)
    X[259] = X[3] + 1e-9
    Y = randn(20, 4, seed=18)
    depth = 3
    for args in [(X,), (X, Y)]:
        kl = nk.kernel_layers(*args, depth=depth, activation=act, beta=0.2)
        tol = (
            arccos_rounding_tol(*args, depth)
            if len(args) == 2
            else arccos_rounding_tol(X, None, depth)
        )
        assert_close_within(
            nk.ntk(*args, depth=depth, activation=act, beta=0.2), kl.Theta(depth), tol
        )
        assert_close_within(
            nk.nngp(*args, depth=depth, activation=act, beta=0.2), kl.Sigma(depth), tol
        )


@pytest.mark.parametrize(
    "act", ["relu", "erf", nk.normalized("relu")], ids=["relu", "erf", "normalized_relu"]
)
@pytest.mark.parametrize("fn", [nk.ntk, nk.nngp], ids=["ntk", "nngp"])
def test_symmetric_call_is_exactly_symmetric_and_equals_the_pair_call(act, fn):
    """API promise, exact (not a tolerance): k(X) is symmetric and k(X, X) == k(X) bit for bit, on
    any BLAS.  Inputs: 300 rows (two evaluation tiles, one shared diagonal tile) with near-duplicate
    pairs (1e-9 apart), where arccos near 1 turns an ulp of asymmetry in X X^T into ~1e-8; X passed
    again as Y (same object, a copy, and a numpy copy)."""
    X = randn(300, 5, seed=19)
    X[150:] = X[:150] + 1e-9 * randn(150, 5, seed=20)
    K = fn(X, depth=4, activation=act, beta=0.1)
    assert torch.equal(K, K.T)
    for Y in (X, X.clone(), X.numpy().copy()):
        assert torch.equal(fn(X, Y, depth=4, activation=act, beta=0.1), K)


# ---- Monte Carlo: the analytic kernels describe wide random networks -----------------------------


def _check_mc(samples, theory, n_se, max_rel_se):
    """samples: (S, N, M) i.i.d. over the first axis.  Every entry of their mean must lie within
    n_se standard errors (computed from the samples) of theory; the standard errors must be small
    enough (relative to the scale sqrt(theory(x, x) theory(y, y))) for the comparison to mean
    something."""
    S = samples.shape[0]
    mean = samples.mean(0)
    se = samples.std(0) / math.sqrt(S)
    z = ((mean - theory) / se).abs()
    d = theory.diagonal()
    rel = (se / torch.sqrt(d[:, None] * d[None, :])).max()
    assert rel < max_rel_se, f"Monte Carlo too noisy: relative s.e. {rel:.3f}"
    assert z.max() < n_se, (
        f"max |mean - theory| / s.e. = {z.max():.2f} (mean {mean}, theory {theory})"
    )


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_nngp_matches_output_covariance_of_wide_networks(act, beta):
    """Property: outputs of nk.FCNet at initialisation have covariance nk.nngp (depth 3).
    Estimate: 150 independent networks (seeds) of width 256 with 64 output units each; per network
    the statistic F F^T / 64 is an unbiased estimate of E[f(x) f(y)] (outputs have mean 0), and
    networks are i.i.d., so the standard error comes from the spread over the 150 seeds.
    Tolerance: 5 standard errors (relative s.e. ~1.5-2.5%): the suite makes ~60 such comparisons of
    somewhat heavy-tailed statistics (a 3.6 s.e. excursion was seen for one seed block, none
    systematic over 1800 more networks), and 5 s.e. keeps false alarms negligible; the finite-width
    bias is O(1/width) ~ 0.4%, well below it.  A missing 1/n_0 or beta instead of beta^2 moves the
    mean by > 20 s.e."""
    X = randn(4, 5, seed=3)
    X[1] *= 1.8
    samples = []
    for s in range(150):
        net = nk.FCNet(5, 256, 3, n_out=64, activation=act, beta=beta, seed=10_000 + s)
        with torch.no_grad():
            F = net(X)
        samples.append(F @ F.T / F.shape[1])
    _check_mc(
        torch.stack(samples),
        nk.nngp(X, depth=3, activation=act, beta=beta),
        n_se=5.0,
        max_rel_se=0.04,
    )


@pytest.mark.parametrize("act,depth", [("relu", 4), ("erf", 3), ("tanh", 4)])
@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_mean_empirical_ntk_matches_ntk(act, depth, beta):
    """Property: the empirical NTK of nk.FCNet at width 512, averaged over 40 seeds, equals nk.ntk.
    Standard errors from the spread over seeds (per-network fluctuations ~ width^(-1/2)).
    Tolerance: 5 standard errors (relative s.e. 1-5%; same reasoning as the NNGP test); the bias
    E[Theta_hat] - Theta is O(depth/width) ~ 1%, below that at these sizes."""
    X = randn(4, 3, seed=4)
    samples = torch.stack(
        [
            nk.empirical_ntk(nk.FCNet(3, 512, depth, activation=act, beta=beta, seed=s), X)
            for s in range(40)
        ]
    )
    _check_mc(samples, nk.ntk(X, depth=depth, activation=act, beta=beta), n_se=5.0, max_rel_se=0.06)


# ---- freeze and chaos ----------------------------------------------------------------------------

STANDARDISED = [
    ("normalized_relu", nk.normalized("relu"), 1e-10),
    ("normalized_erf", nk.normalized("erf"), 1e-10),
    ("sqrt2_relu", nk.scaled("relu", 2**0.5), 1e-10),
    ("normalized_tanh", nk.normalized("tanh"), 1e-8),
    ("normalized_gelu", nk.normalized("gelu"), 1e-8),
]


@pytest.mark.parametrize("name,act,tol", STANDARDISED, ids=[s[0] for s in STANDARDISED])
@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9])
def test_freeze_chaos_diagonal_identity(name, act, tol, beta):
    """Property (Jacot et al. 2019b, Thm. 3): for standardised sigma (E sigma(z)^2 = 1) and
    ||x||^2 = n_0, Sigma^(l)(x, x) = 1 at every layer and Theta^(L)(x, x) = (1 - r^L)/(1 - r),
    r = nk.r_value(sigma, beta), for L = 1..8 (r ranges over freeze < 1 < chaos here).
    Tolerance 1e-10 for closed forms (rounding only, Theta <= ~20) and 1e-8 for quadrature
    activations (Mehler's truncation at rho = 1 is ~1e-10 per layer)."""
    X = on_sphere(randn(6, 5, seed=8))
    r = nk.r_value(act, beta)
    kl = nk.kernel_layers(X, depth=8, activation=act, beta=beta)
    for L in range(1, 9):
        torch.testing.assert_close(
            kl.Sigma(L).diagonal(), torch.ones(6, dtype=DTYPE), rtol=0, atol=tol
        )
        # (1 - r^L)/(1 - r), or its limit L at r = 1 (sqrt(2) relu, beta = 0; own test below)
        geometric = (1 - r**L) / (1 - r) if abs(1 - r) > 1e-6 else float(L)
        want = torch.full((6,), geometric, dtype=DTYPE)
        torch.testing.assert_close(kl.Theta(L).diagonal(), want, rtol=0, atol=tol)
        torch.testing.assert_close(
            nk.ntk(X, depth=L, activation=act, beta=beta).diagonal(), want, rtol=0, atol=tol
        )


@pytest.mark.parametrize(
    "act", ["identity", nk.scaled("relu", 2**0.5)], ids=["identity", "sqrt2_relu"]
)
def test_freeze_chaos_edge_r_equals_one(act):
    """Property: at r = 1 (identity or sqrt(2) relu with beta = 0) the limit of (1 - r^L)/(1 - r) is
    L: Theta^(L)(x, x) = L and Sigma^(L)(x, x) = 1 on the sphere.  Tolerance 1e-10
    (closed forms)."""
    X = on_sphere(randn(6, 5, seed=9))
    assert nk.r_value(act, 0.0) == pytest.approx(1.0, abs=1e-15)
    for L in range(1, 9):
        torch.testing.assert_close(
            nk.ntk(X, depth=L, activation=act, beta=0.0).diagonal(),
            torch.full((6,), float(L), dtype=DTYPE),
            rtol=0,
            atol=1e-10,
        )
        torch.testing.assert_close(
            nk.nngp(X, depth=L, activation=act, beta=0.0).diagonal(),
            torch.ones(6, dtype=DTYPE),
            rtol=0,
            atol=1e-10,
        )


# ---- vectorisation, input types, devices ---------------------------------------------------------


def test_numpy_input_gives_float64_tensor_of_shape_n_m():
    """Property: numpy (and float32, and integer) inputs are accepted and give float64 torch tensors
    of shape (N, M), equal to the float64 torch computation (tolerance 1e-7 for the float32 input:
    its rounding, ~6e-8 relative, propagates through the kernel)."""
    rng = np.random.default_rng(0)
    Xn, Yn = rng.normal(size=(5, 4)), rng.normal(size=(3, 4))
    for fn in (nk.nngp, nk.ntk):
        K = fn(Xn, Yn, depth=3, activation="tanh", beta=0.2)
        assert isinstance(K, torch.Tensor) and K.dtype == torch.float64 and K.shape == (5, 3)
        torch.testing.assert_close(
            K,
            fn(torch.from_numpy(Xn), torch.from_numpy(Yn), depth=3, activation="tanh", beta=0.2),
            rtol=0,
            atol=0,
        )
        K32 = fn(Xn.astype(np.float32), depth=3, activation="tanh", beta=0.2)
        assert K32.dtype == torch.float64 and K32.shape == (5, 5)
        torch.testing.assert_close(
            K32, fn(Xn, depth=3, activation="tanh", beta=0.2), rtol=1e-6, atol=1e-7
        )
        Ki = fn(np.array([[1, 0, 2], [0, 3, 1]]), depth=2, activation="relu", beta=0.1)
        assert Ki.dtype == torch.float64 and Ki.shape == (2, 2)


@pytest.mark.parametrize(
    "act",
    ["relu", "erf", "tanh", nk.normalized("relu")],
    ids=["relu", "erf", "tanh", "normalized_relu"],
)
def test_cross_kernel_is_a_block_of_the_joint_kernel(act):
    """Property: nk.ntk(X, Y) (and nngp) is the (X, Y) block of nk.ntk([X; Y]), and nk.ntk(X) is
    symmetric.  Tolerance 1e-12 (the same recursion entry by entry; no pair of rows is parallel, so
    the arccos at rho -> 1 is not involved)."""
    X = randn(5, 4, seed=12)
    Y = randn(3, 4, seed=13)
    for fn in (nk.nngp, nk.ntk):
        joint = fn(torch.cat([X, Y]), depth=4, activation=act, beta=0.3)
        torch.testing.assert_close(
            fn(X, Y, depth=4, activation=act, beta=0.3), joint[:5, 5:], rtol=0, atol=1e-12
        )
        torch.testing.assert_close(
            fn(Y, X, depth=4, activation=act, beta=0.3), joint[5:, :5], rtol=0, atol=1e-12
        )
        KX = fn(X, depth=4, activation=act, beta=0.3)
        torch.testing.assert_close(KX, KX.T, rtol=0, atol=1e-13)
        torch.testing.assert_close(KX, joint[:5, :5], rtol=0, atol=1e-12)


def test_list_input_from_the_brief():
    """Property: nk.ntk([[1., 0.], [0., 1.]], depth=3, activation='tanh', beta=0.1) works and equals
    the numpy reference recursion (orthogonal unit inputs).  Tolerance 1e-9 (tanh quadrature)."""
    K = nk.ntk([[1.0, 0.0], [0.0, 1.0]], depth=3, activation="tanh", beta=0.1)
    assert K.dtype == torch.float64 and K.shape == (2, 2)
    X = np.eye(2)
    _, T_ref = reference_kernels(X, X, 3, NP_DUALS["tanh"], 0.1)
    np.testing.assert_allclose(K.numpy(), T_ref, rtol=0, atol=1e-9)


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device (CI has none; the CPU tests cover the maths)",
)
def test_cuda_matches_cpu():
    """Property: on CUDA the kernels and the empirical NTK come back on the GPU, float64, equal to
    the CPU result.  Tolerance 1e-10 (different BLAS summation orders; the Mehler sums are long)."""
    X = randn(6, 4, seed=14)
    for act in ("relu", "tanh"):
        for fn in (nk.nngp, nk.ntk):
            Kc = fn(X.cuda(), depth=4, activation=act, beta=0.2)
            assert Kc.is_cuda and Kc.dtype == torch.float64
            torch.testing.assert_close(
                Kc.cpu(), fn(X, depth=4, activation=act, beta=0.2), rtol=0, atol=1e-10
            )
    net = nk.FCNet(4, 64, 3, activation="tanh", seed=0)
    K_cpu = nk.empirical_ntk(net, X)
    net = net.cuda()
    Kc = nk.empirical_ntk(net, X.cuda())
    assert Kc.is_cuda
    torch.testing.assert_close(Kc.cpu(), K_cpu, rtol=0, atol=1e-10)
    torch.testing.assert_close(
        nk.empirical_ntk(net, X.cuda(), fast=False).cpu(), K_cpu, rtol=0, atol=1e-10
    )


# ---- the fused tile kernels of the relu and erf families (ntklib/_fused.py) ----------------------


def _leaky_relu_closed_form(slope):
    """max(x, slope x) = relu(x) - slope relu(-x) with its arc-cosine duals written out here (Cho
    and Saul 2009; relu(-x) = relu(x) - x): E[s(u) s(v)] = (1 - slope)^2 K(a, b, c) + slope c,
    E[s'(u) s'(v)] = (1 - slope)^2 (pi - theta)/(2 pi) + slope.  A family member with n != 0."""
    P = 1.0 - slope

    def parts(a, b, c):
        s = torch.sqrt(a * b)
        rho = torch.where(s > 0, c / torch.where(s > 0, s, torch.ones_like(s)), torch.ones_like(s))
        rho = rho.clamp(-1.0, 1.0)
        pt = math.pi - torch.arccos(rho)
        k = s / (2 * math.pi) * (torch.sqrt((1 - rho * rho).clamp(min=0)) + pt * rho)
        return P * P * k + slope * c, P * P * pt / (2 * math.pi) + slope

    return nk.Activation(
        f"leaky({slope})",
        lambda x: torch.where(x > 0, x, slope * x),
        lambda x: torch.where(x > 0, 1.0, slope).to(x.dtype),
        dual=lambda a, b, c: parts(a, b, c)[0],
        dual_deriv=lambda a, b, c: parts(a, b, c)[1],
        mean=lambda a: (1 - slope) * torch.sqrt(a) / math.sqrt(2 * math.pi),
    )


FAMILY = [
    ("relu", "relu"),
    ("erf", "erf"),
    ("sqrt2_relu", nk.scaled("relu", 2**0.5)),
    ("normalized_relu", nk.normalized("relu")),
    ("standardized_relu", nk.standardized("relu")),
    ("shifted_relu", nk.get_activation("relu").affine(1.5, -0.3)),
    ("normalized_erf", nk.normalized("erf")),
    ("shifted_erf", nk.get_activation("erf").affine(-0.7, 0.4)),
    ("leaky_relu", _leaky_relu_closed_form(0.2)),
]


def _fused_inputs():
    """70 rows in n_0 = 5 (three 32-row tiles, the last one partial): near-duplicate pairs 1e-9
    apart (correlation within 1e-17 of 1, where arccos turns an ulp into 1e-8), two zero rows, and
    a Y with a zero row and a near-copy of a row of X."""
    X = randn(70, 5, seed=50)
    X[40:60] = X[:20] + 1e-9 * randn(20, 5, seed=51)
    X[7] = 0.0
    X[65] = 0.0
    Y = randn(23, 5, seed=52)
    Y[3] = 0.0
    Y[5] = X[10] * (1 + 1e-10)
    return X, Y


def _rounding_tol(X, Y, depth):
    """conftest.arccos_rounding_tol, with the correlation-1 bound (sqrt(2 dc) per layer) where an
    input has norm 0: its correlation is undefined (nan there), and with beta > 0 two zero inputs
    have rho = 1 up to the rounding of the bias term, the worst case of the argument."""
    tol = arccos_rounding_tol(X, Y, depth)
    dc = 4 * X.shape[1] * torch.finfo(X.dtype).eps
    return torch.nan_to_num(tol, nan=1e-12 + (depth - 1) * math.sqrt(2 * dc))


@pytest.mark.parametrize("name,act", FAMILY, ids=[f[0] for f in FAMILY])
def test_fused_path_equals_the_generic_path(name, act):
    """Property: the fused tile kernels (relu / erf families, ntklib/_fused.py) give the matrices of
    the generic tiled recursion (kernels._tiled(fused=False), the code before them), NTK and NNGP,
    with and without Y, depths 1..6, beta 0 and 0.5, over several tiles (tile 32) with zero-norm
    rows and near-duplicate inputs.  Tolerance: 1e-12 relative, widened entry by entry by the arccos
    rounding argument (conftest.arccos_rounding_tol; the two evaluate the same formulas with
    different rounding: the first layer's correlation comes from one product of rescaled inputs
    instead of a division by sqrt(a b)).  Also: finite everywhere, and k(X) exactly symmetric."""
    from ntklib.kernels import _tiled

    assert nk.kernels._fused.family(nk.get_activation(act)) is not None
    X, Y = _fused_inputs()
    for beta in (0.0, 0.5):
        for depth in range(1, 7):
            for YY in (None, Y):
                tol = _rounding_tol(X, YY, depth)
                for want_theta in (True, False):
                    got = _tiled(X, YY, depth, act, beta, want_theta, tile=32)
                    ref = _tiled(X, YY, depth, act, beta, want_theta, tile=32, fused=False)
                    assert torch.isfinite(got).all()
                    assert_close_within(got, ref, tol)
                    if YY is None:
                        assert torch.equal(got, got.T)


@pytest.mark.parametrize("name,act", FAMILY, ids=[f[0] for f in FAMILY])
def test_fused_path_without_numpy_or_threads(monkeypatch, name, act):
    """Property: the fused kernels give the same matrix (to the rounding tolerance above) with the
    torch code instead of the compiled C kernels (the code path of other devices and of machines
    without a C compiler), with torch's own arccos/arcsin (CPUs without numpy's AVX-512 loops) and
    with one thread; and with the default tile (one tile here) as with tile 32.  In float32, both
    the compiled and the torch code, NTK and NNGP: within 1e-3 of the largest entry of the float64
    reference (near-duplicate inputs: arccos turns a float32 rounding d of a correlation near 1
    into sqrt(2 d) ~ 5e-4, the tolerance of benchmarks/floors.py), exactly symmetric."""
    from ntklib import _ctiles, _fused
    from ntklib.kernels import _tiled

    X, Y = _fused_inputs()
    for YY in (None, Y):
        tol = _rounding_tol(X, YY, 4)
        ref = _tiled(X, YY, 4, act, 0.3, True, fused=False)
        runs = [_tiled(X, YY, 4, act, 0.3, True), _tiled(X, YY, 4, act, 0.3, True, tile=32)]
        monkeypatch.setattr(_ctiles, "COMPILED", False)
        runs.append(_tiled(X, YY, 4, act, 0.3, True, tile=32))
        monkeypatch.setattr(_fused, "NUMPY_SIMD", False)
        runs.append(_tiled(X, YY, 4, act, 0.3, True, tile=32))
        monkeypatch.undo()
        for want_theta in (True, False):
            ref32 = _tiled(X, YY, 4, act, 0.3, want_theta, fused=False)
            for compiled in (True, False):
                monkeypatch.setattr(_ctiles, "COMPILED", compiled)
                got = _tiled(X.float(), None if YY is None else YY.float(), 4, act, 0.3, want_theta)
                assert got.dtype == torch.float32
                assert float((got.double() - ref32).abs().max()) <= 1e-3 * float(ref32.abs().max())
                if YY is None:
                    assert torch.equal(got, got.T)
            monkeypatch.undo()
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            runs.append(_tiled(X, YY, 4, act, 0.3, True, tile=32))
        finally:
            torch.set_num_threads(threads)
        for got in runs:
            assert_close_within(got, ref, tol)


def test_fused_path_falls_back_without_a_compiler(monkeypatch, tmp_path):
    """Property: where the C kernels cannot be built (here: a compiler that does not exist, and an
    empty cache folder), _ctiles.compiled gives None and the fused path still gives the generic
    recursion's matrices (the torch code runs), with exact zeros for a zero-norm input at
    beta = 0."""
    from ntklib import _ctiles
    from ntklib.kernels import _tiled

    monkeypatch.setattr(_ctiles, "CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(_ctiles, "_LIB", [])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    X, Y = _fused_inputs()
    assert _ctiles.compiled(X) is None
    assert not any(tmp_path.glob("ntklib/*.so"))
    for act in ("relu", "erf"):
        for YY in (None, Y):
            tol = _rounding_tol(X, YY, 3)
            for want_theta in (True, False):
                got = _tiled(X, YY, 3, act, 0.0, want_theta, tile=32)
                ref = _tiled(X, YY, 3, act, 0.0, want_theta, tile=32, fused=False)
                assert_close_within(got, ref, tol)
                assert (got[7] == 0).all() and (got[65] == 0).all()


def test_fused_path_is_deterministic_and_works_under_inference_mode():
    """Property: the threaded fused path is reproducible bit for bit (each tile is computed the same
    way whichever thread takes it), also inside torch.inference_mode (grad and inference modes are
    per thread; the worker threads inherit the caller's), and k(X) == k(X, X) exactly."""
    X = randn(333, 6, seed=53)
    K = nk.ntk(X, depth=5, beta=0.2)
    assert torch.equal(K, nk.ntk(X, depth=5, beta=0.2))
    assert torch.equal(K, nk.ntk(X, X.clone(), depth=5, beta=0.2))
    with torch.inference_mode():
        Ki = nk.ntk(X, depth=5, beta=0.2)
    assert torch.equal(K, Ki)


def test_fused_family_recognition():
    """Property: the fused path is taken only for activations whose function and closed-form duals
    behave like p relu(x) + n relu(-x) + h (p + n != 0) or s erf(x) + h at the probe points: not
    for the identity (p + n = 0), quadrature activations (tanh, a torch callable), nor an Activation
    named "relu" whose duals differ from the arc-cosine kernel."""
    family = nk.kernels._fused.family
    fam = family(nk.normalized("relu"))
    mu, m2, _ = nk.get_activation("relu").moments()
    assert fam.kind == "relu" and fam.n == 0.0
    assert fam.p == pytest.approx(1 / math.sqrt(m2 - mu * mu), rel=1e-12)
    assert fam.h == pytest.approx(-mu / math.sqrt(m2 - mu * mu), rel=1e-12)
    assert family(nk.scaled("erf", 3.0)).kind == "erf"
    relu = nk.get_activation("relu")
    impostor = nk.Activation(
        "relu",
        torch.relu,
        dual=lambda a, b, c: 1.001 * relu.dual(a, b, c),
        dual_deriv=relu.dual_deriv,
        mean=relu.mean,
    )
    for act in ("identity", "tanh", torch.sin, impostor):
        assert family(nk.get_activation(act)) is None


def _step_nngp_reference(X, Y, depth, beta, s=1.0):
    """Sigma^(L) of s step(x) by the textbook recursion, pair by pair in numpy float64:
    E[step(u) step(v)] = P(u > 0, v > 0) = (pi - arccos rho)/(2 pi) (Sheppard's formula), rho = 1
    where a variance is 0 (ntklib's convention for zero-norm inputs), and rho(x, x) = 1 on the
    diagonal of a symmetric call (the kernel of an input with itself)."""
    sym = Y is None
    X = X.numpy()
    Y = X if sym else Y.numpy()
    w2, b2 = 1 - beta**2, beta**2
    S = w2 * (X @ Y.T) / X.shape[1] + b2
    qx = w2 * (X * X).sum(1) / X.shape[1] + b2
    qy = w2 * (Y * Y).sum(1) / Y.shape[1] + b2
    for _ in range(depth - 1):
        d = np.sqrt(np.outer(qx, qy))
        rho = np.ones_like(S)
        np.divide(S, d, out=rho, where=d > 0)
        rho = np.clip(rho, -1, 1)
        if sym:
            np.fill_diagonal(rho, 1.0)
        S = w2 * s * s * (math.pi - np.arccos(rho)) / (2 * math.pi) + b2
        qx = np.full_like(qx, w2 * s * s / 2 + b2)
        qy = np.full_like(qy, w2 * s * s / 2 + b2)
    return torch.from_numpy(S)


def test_step_nngp_fused_path_matches_sheppard_recursion(monkeypatch):
    """Property: the step family (s step(x)) takes the fused path (ntklib/_step.py), and its NNGP,
    compiled and torch code, several tiles, with and without Y, depths 2..5, beta 0 and 0.4, equals
    the pairwise numpy recursion of Sheppard's formula (_step_nngp_reference) to 1e-12 widened by
    the arccos rounding argument, zero-norm inputs included at beta = 0 (rho = 1 there); the NTK
    equals the NNGP (the derivative dual is 0); k(X) is exactly symmetric; float32 within 1e-3 of
    the largest entry.  An Activation named step whose dual is off by 1e-3 is not taken for the
    family.  No near-duplicate inputs (nor two zero inputs at beta > 0): step's correlation map
    has 1 - rho' ~ sqrt(1 - rho) at rho -> 1, so a rounding d of the first-layer correlation grows
    like d^(1/2^(L-1)) (any two evaluations of
    such a pair differ by ~2e-5 at depth 3), beyond any rounding tolerance."""
    from ntklib import _ctiles, _fused
    from ntklib.kernels import _tiled

    assert _fused.family(nk.get_activation("step")).kind == "step"
    assert _fused.family(nk.scaled("step", 1.7)).p == pytest.approx(1.7, rel=1e-15)
    step = nk.get_activation("step")
    impostor = nk.Activation(
        "step",
        step,
        dual=lambda a, b, c: 1.001 * step.dual(a, b, c),
        dual_deriv=step.dual_deriv,
        mean=step.mean,
    )
    assert _fused.family(impostor) is None
    X0, Y0 = randn(70, 5, seed=54), randn(23, 5, seed=55)
    X, Y = X0.clone(), Y0.clone()
    X[7], X[65], Y[3] = 0.0, 0.0, 0.0  # zero-norm only at beta = 0 (else two are duplicates)
    for compiled in (True, False):
        monkeypatch.setattr(_ctiles, "COMPILED", compiled)
        for act, s in (("step", 1.0), (nk.scaled("step", 1.7), 1.7)):
            for beta, X, Y in ((0.0, X, Y), (0.4, X0, Y0)):
                for depth in range(2, 6):
                    for YY in (None, Y):
                        ref = _step_nngp_reference(X, YY, depth, beta, s)
                        tol = _rounding_tol(X, YY, depth)
                        got = _tiled(X, YY, depth, act, beta, False, tile=32)
                        assert_close_within(got, ref, tol)
                        assert torch.equal(_tiled(X, YY, depth, act, beta, True, tile=32), got)
                        if YY is None:
                            assert torch.equal(got, got.T)
                        g32 = _tiled(
                            X.float(), None if YY is None else YY.float(), depth, act, beta, False
                        )
                        assert float((g32.double() - ref).abs().max()) <= 1e-3 * float(
                            ref.abs().max()
                        )


def test_jacot2018_parametrization_is_the_papers_network_and_the_stated_rescaling():
    """Property: parametrization="jacot2018" (z = W a/sqrt(n) + beta_p b, Jacot et al. 2018 §2)
    equals the rescaling of CONVENTIONS.md §1.5 computed with the balanced recursion,
    (1 + beta_p^2) ntk(X, activation=scaled(relu, c), beta=beta_p/c), c = sqrt(1 + beta_p^2),
    for the NTK, the NNGP and every layer of kernel_layers.  Two recursions with different
    constants: agreement to 1e-12 relative (rounding of ~10 operations per layer, arccos near 1
    amplifying an ulp by ~1e2 at most at |rho| <= 0.9, the off-diagonal inputs here; the
    diagonal is pinned to the variances).  The paper's Figure 1 value
    Theta(x0, x0) = 0.2825 (ReLU, L = 4, beta = 0.1, ||x|| = 1, n_0 = 2) is 4% above the balanced
    0.2723: checked to 4 digits, the precision the two values are quoted at."""
    g = np.linspace(0, 2 * np.pi, 7, endpoint=False)  # no duplicate or antipodal pair (|rho| < 1
    X = torch.tensor(np.stack([np.cos(g), np.sin(g)], 1))  # by 0.1 off the diagonal)
    for bp in (0.0, 0.1, 0.7, 1.0):
        c = (1 + bp * bp) ** 0.5
        relu_c = nk.scaled("relu", c)
        for depth in (1, 2, 4):
            got = nk.ntk(X, depth=depth, beta=bp, parametrization="jacot2018")
            ref = (1 + bp * bp) * nk.ntk(X, depth=depth, activation=relu_c, beta=bp / c)
            torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-14)
            got = nk.nngp(X, depth=depth, beta=bp, parametrization="jacot2018")
            ref = (1 + bp * bp) * nk.nngp(X, depth=depth, activation=relu_c, beta=bp / c)
            torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-14)
        k = nk.kernel_layers(X, depth=4, beta=bp, parametrization="jacot2018")
        r = nk.kernel_layers(X, depth=4, activation=relu_c, beta=bp / c)
        for layer in range(1, 5):
            torch.testing.assert_close(
                k.Theta(layer), (1 + bp * bp) * r.Theta(layer), rtol=1e-12, atol=1e-14
            )
    x0 = X[:1]
    assert round(float(nk.ntk(x0, depth=4, beta=0.1, parametrization="jacot2018")), 4) == 0.2825
    assert round(float(nk.ntk(x0, depth=4, beta=0.1)), 4) == 0.2723
    with pytest.raises(ValueError, match="parametrization: got 'paper'"):
        nk.ntk(x0, depth=2, parametrization="paper")
