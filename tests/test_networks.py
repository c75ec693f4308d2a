"""FCNet's two parametrisations: the slides' balanced network and Jacot et al. 2018's own.

    balanced:   z^(l+1) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l) + beta b^(l)   (CONVENTIONS.md §1)
    jacot2018:  z^(l+1) = W^(l) a^(l)/sqrt(n_l) + beta b^(l)                 (Jacot et al. 2018, §2)

with W, b ~ N(0, 1).  The references here are written independently of ntklib: the forward pass
from the network's parameters in numpy, the NTK from torch.autograd (conftest.autograd_ntk), and
the infinite-width ReLU kernels from the arc-cosine closed form with weight variance w2 and bias
variance b2, (w2, b2) = (1 - beta^2, beta^2) or (1, beta^2) (Jacot et al. 2018, Prop. 1, Thm. 1).
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
import torch

import ntklib as nk
from conftest import DTYPE, autograd_ntk, randn

VARIANCES = {
    "balanced": lambda beta: (1.0 - beta * beta, beta * beta),
    "jacot2018": lambda beta: (1.0, beta * beta),
}
KERNELS_HAVE_OPTION = "parametrization" in inspect.signature(nk.ntk).parameters


def relu_kernels_np(X, depth, w2, b2):
    """(Sigma^(depth), Theta^(depth)) of a ReLU network on X (numpy, all pairs at once):
    Sigma^(1) = w2 x.y/n_0 + b2, Sigma^(l+1) = w2 E[relu(u) relu(v)] + b2,
    SigmaDot^(l+1) = w2 E[step(u) step(v)], Theta^(l+1) = Theta^(l) SigmaDot^(l+1) + Sigma^(l+1),
    with the arc-cosine kernels E[relu relu] = sqrt(ab)/(2 pi) (sin t + (pi - t) cos t) and
    E[step step] = (pi - t)/(2 pi), t the angle of (u, v) (Cho and Saul 2009)."""
    X = np.asarray(X, dtype=np.float64)
    S = w2 * (X @ X.T) / X.shape[1] + b2
    q = np.diag(S).copy()
    T = S.copy()
    for _ in range(depth - 1):
        s = np.sqrt(np.outer(q, q))
        t = np.arccos(np.clip(S / s, -1.0, 1.0))
        np.fill_diagonal(t, 0.0)
        e = s / (2 * np.pi) * (np.sin(t) + (np.pi - t) * np.cos(t))
        T = T * w2 * (np.pi - t) / (2 * np.pi) + w2 * e + b2
        S = w2 * e + b2
        q = np.diag(S).copy()
    return S, T


def pooled_z(samples, reference):
    """z-score of the seed-average of q_s = mean over the upper-triangle entries of
    (K_s - reference) / sqrt(reference_ii reference_jj): the pooled relative deviation of
    independent draws K_s from `reference`, in its own standard error over seeds.  Also returns the
    largest per-entry |z| (each entry against its own standard error)."""
    K = np.asarray(samples)
    scale = np.sqrt(np.outer(np.diag(reference), np.diag(reference)))
    iu = np.triu_indices(K.shape[1])
    rel = ((K - reference) / scale)[:, iu[0], iu[1]]  # (seeds, entries)
    q = rel.mean(1)
    z_pool = q.mean() / (q.std(ddof=1) / np.sqrt(len(q)))
    z_entry = rel.mean(0) / (rel.std(0, ddof=1) / np.sqrt(len(q)))
    return float(z_pool), float(np.abs(z_entry).max())


def circle_inputs():
    """x_0 = (1, 0) and three more points x = (cos g, sin g) of the unit circle (n_0 = 2):
    the inputs of Jacot et al.'s Fig. 1."""
    g = np.array([0.0, 0.7, 1.9, 3.0])
    return torch.tensor(np.stack([np.cos(g), np.sin(g)], 1), dtype=DTYPE)


# ---- the definition ------------------------------------------------------------------------------


@pytest.mark.parametrize("parametrization", ["balanced", "jacot2018"])
def test_forward_is_the_defined_network(parametrization):
    """Property: FCNet's output equals the network written out in numpy from its own parameters,
    z = sqrt(w2)/sqrt(n_l) W a + beta b with w2 = 1 - beta^2 (balanced) or 1 (jacot2018), depth 4,
    unequal widths.  Tolerance 1e-12 relative (a few float64 dot products of <= 9 terms)."""
    beta = 0.4
    X = randn(5, 3, seed=1)
    net = nk.FCNet(3, [9, 6, 4], 4, beta=beta, parametrization=parametrization, seed=2)
    w2, _ = VARIANCES[parametrization](beta)
    a = X.numpy()
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        W, b = W.detach().numpy(), b.detach().numpy()
        z = np.sqrt(w2) / np.sqrt(W.shape[1]) * a @ W.T + beta * b
        a = np.maximum(z, 0.0) if l < 3 else z
    got = net(X).detach().numpy()
    np.testing.assert_allclose(got, a, rtol=1e-12, atol=1e-12 * np.abs(a).max())
    assert net.parametrization == parametrization and parametrization in repr(net)


def test_parametrizations_share_the_draws_and_differ_by_the_weight_factor():
    """Property: with the same seed the two networks have identical parameters, and every weight
    multiplier of the balanced one is sqrt(1 - beta^2) times that of jacot2018.  Tolerance 1e-15
    relative (one multiplication)."""
    a = nk.FCNet(2, 16, 3, beta=0.3, seed=5)
    b = nk.FCNet(2, 16, 3, beta=0.3, seed=5, parametrization="jacot2018")
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    np.testing.assert_allclose(a.scales, np.sqrt(1 - 0.09) * np.array(b.scales), rtol=1e-15)
    np.testing.assert_allclose(b.scales, 1 / np.sqrt([2, 16, 16]), rtol=1e-15)


@pytest.mark.parametrize("bad", ["ntk", "Jacot2018", None, 1, ("balanced",)])
def test_parametrization_rejected_with_its_name(bad):
    """Property: an unknown parametrization is a ValueError naming the argument, the value and both
    accepted values, in FCNet and in sample_outputs."""
    X = torch.eye(2, dtype=DTYPE)
    for make in (
        lambda: nk.FCNet(2, 4, 2, parametrization=bad),
        lambda: nk.sample_outputs(X, width=4, depth=2, n_samples=2, parametrization=bad),
    ):
        with pytest.raises(ValueError, match="parametrization: got .*'balanced'.*'jacot2018'"):
            make()


def test_jacot2018_fast_ntk_equals_autograd_jacobian():
    """Property: for the jacot2018 network, the layer-structure NTK (nk.empirical_ntk, fast path)
    equals J J^T with J built row by row by torch.autograd.grad.  Tolerance 1e-12 (float64, a few
    hundred parameters)."""
    X, Y = randn(4, 3, seed=3), randn(2, 3, seed=4)
    net = nk.FCNet(3, [7, 5], 3, activation="tanh", beta=0.5, parametrization="jacot2018", seed=6)
    for YY in (None, Y):
        torch.testing.assert_close(
            nk.empirical_ntk(net, X, YY), autograd_ntk(net, X, YY), rtol=0, atol=1e-12
        )


def test_jacot2018_lowrank_training_equals_autograd():
    """Property: nk.train_gd's hand-written low-rank trainer follows torch.autograd's gradient
    descent on the jacot2018 network (it reads the same weight multipliers).  30 steps of a ReLU
    net, tolerance 1e-11 (the same arithmetic in another summation order)."""
    X, Y = randn(4, 3, seed=7), randn(4, seed=8)
    net = nk.FCNet(3, 80, 3, beta=0.2, parametrization="jacot2018", seed=9)
    twin = copy.deepcopy(net)
    a = nk.train_gd(net, X, Y, lr=0.5, steps=30, progress=False, method="autograd")
    b = nk.train_gd(twin, X, Y, lr=0.5, steps=30, progress=False, method="lowrank")
    assert (a.f_train - b.f_train).abs().max() < 1e-11
    assert float(a.loss[-1]) < 0.5 * float(a.loss[0])


# ---- the infinite-width limit of each parametrisation, in standard errors ----------------------
# At depth 2 the seed-average of the empirical NTK and of the output covariance equals the limit at
# every width (Sigma^(1) is deterministic); at depth 3 they are biased by O(1/width): measured with
# 2000-3000 balanced networks, the pooled bias is below 0.3% already at width 64, under the
# standard errors below at width 128 (pooled: 0.2-0.6%).  Each limit is tested at 4 pooled and 4.5
# per-entry standard errors (10 entries: a false alarm has probability ~1e-4), so a kernel 3% off
# fails.  The two parametrisations differ by only 1-2% pooled over these entries (3-4% on the
# diagonal), less than 4 of those standard errors; the same seeds in both (identical draws, only
# the weight factor differs) cancel the common fluctuation, and the paired difference, resolved to
# ~0.01-0.05%, must equal the difference of the two limits within 4 of its standard errors and be
# more than 20 of them away from zero.

CASES = [(2, 256, 300), (3, 128, 300)]  # (depth, width, seeds)
BOTH = ("jacot2018", "balanced")


def check_paired_limits(draws, limits):
    """draws[p]: (seeds, N, N) draws of networks in parametrisation p, seed s the same in both;
    limits[p]: the (N, N) infinite-width kernel of p.  Asserts the tolerances stated above."""
    for p in BOTH:
        z_pool, z_max = pooled_z(draws[p], limits[p])
        assert abs(z_pool) < 4 and z_max < 4.5, (p, z_pool, z_max)
    scale = np.sqrt(np.outer(np.diag(limits["jacot2018"]), np.diag(limits["jacot2018"])))
    iu = np.triu_indices(scale.shape[0])
    d = ((draws["jacot2018"] - draws["balanced"]) / scale)[:, iu[0], iu[1]].mean(1)
    se = d.std(ddof=1) / np.sqrt(len(d))
    want = ((limits["jacot2018"] - limits["balanced"]) / scale)[iu].mean()
    assert abs(d.mean() - want) < 4 * se, (d.mean(), want, se)
    assert abs(d.mean()) > 20 * se, (d.mean(), se)


@pytest.mark.parametrize("depth,width,seeds", CASES)
def test_empirical_ntk_mean_is_its_own_parametrizations_limit(depth, width, seeds):
    """Property (Jacot et al. 2018, Thm. 1): the seed-average of the empirical NTK of ReLU FCNets
    (beta = 0.1, inputs of Fig. 1 on the unit circle) is the limiting NTK of the same
    parametrisation (the arc-cosine reference with its (w2, b2)), and the difference between the
    two parametrisations is the difference of their limits, resolved from zero.  Tolerances in the
    comment above; the same with nk.ntk's parametrization option where the kernels have it."""
    beta, X = 0.1, circle_inputs()
    draws = {
        p: np.stack(
            [
                nk.empirical_ntk(
                    nk.FCNet(2, width, depth, beta=beta, seed=s, parametrization=p), X
                ).numpy()
                for s in range(seeds)
            ]
        )
        for p in BOTH
    }
    check_paired_limits(draws, {p: relu_kernels_np(X, depth, *VARIANCES[p](beta))[1] for p in BOTH})
    if KERNELS_HAVE_OPTION:
        check_paired_limits(
            draws, {p: nk.ntk(X, depth=depth, beta=beta, parametrization=p).numpy() for p in BOTH}
        )


@pytest.mark.parametrize("depth,width,seeds", CASES)
def test_output_covariance_is_its_own_parametrizations_nngp(depth, width, seeds):
    """Property (Jacot et al. 2018, Prop. 1): the covariance of FCNet outputs over seeds is
    Sigma^(L) of the same parametrisation.  Each network has 256 output units, independent given
    the hidden layers, so each seed contributes the average of 256 products f_k(x) f_k(y); the
    per-seed averages are independent across seeds and their spread gives the standard error.
    Tolerances in the comment above; the same with nk.nngp's option where the kernels have it."""
    beta, X = 0.1, circle_inputs()
    draws = {}
    for p in BOTH:
        C = []
        for s in range(seeds):
            with torch.no_grad():
                F = nk.FCNet(2, width, depth, n_out=256, beta=beta, seed=s, parametrization=p)(X)
            C.append((F @ F.T / F.shape[1]).numpy())
        draws[p] = np.stack(C)
    check_paired_limits(draws, {p: relu_kernels_np(X, depth, *VARIANCES[p](beta))[0] for p in BOTH})
    if KERNELS_HAVE_OPTION:
        check_paired_limits(
            draws, {p: nk.nngp(X, depth=depth, beta=beta, parametrization=p).numpy() for p in BOTH}
        )


def test_sample_outputs_covariance_per_parametrization():
    """Property: the batched sampler draws outputs with covariance Sigma^(2) of its parametrisation
    (exact at every width for depth 2): 20000 networks of width 16, the products f(x) f(y) as the
    draws, the same seed in both parametrisations; tolerances in the comment above."""
    beta, X = 0.1, circle_inputs()
    draws = {}
    for p in BOTH:
        F = nk.sample_outputs(
            X, width=16, depth=2, n_samples=20000, beta=beta, seed=1, parametrization=p
        ).numpy()
        draws[p] = F[:, :, None] * F[:, None, :]  # (samples, N, N)
    check_paired_limits(draws, {p: relu_kernels_np(X, 2, *VARIANCES[p](beta))[0] for p in BOTH})


def test_reference_reproduces_the_two_fig1_values():
    """The reference kernels at x_0 = (1, 0), ReLU, L = 4, beta = 0.1 against the diagonal recursion
    done by hand (ReLU on the diagonal: E relu(u)^2 = q/2, E step(u)^2 = 1/2):
    Theta_inf(x_0, x_0) = 0.2825 exactly for jacot2018 and 0.27225126 for balanced, 3.8% apart.
    Tolerance 1e-12 (a handful of float64 operations)."""
    for parametrization, want in (("jacot2018", 0.2825), ("balanced", 0.2722512475)):
        w2, b2 = VARIANCES[parametrization](0.1)
        q = w2 / 2 + b2  # Sigma^(1)(x_0, x_0), ||x_0||^2/n_0 = 1/2
        theta = q
        for _ in range(3):
            q = w2 * q / 2 + b2
            theta = theta * w2 / 2 + q
        got = relu_kernels_np(circle_inputs(), 4, w2, b2)[1][0, 0]
        assert abs(got - theta) < 1e-12 and abs(theta - want) < 1e-9


# ---- the function-space sampler ------------------------------------------------------------------


def weight_space_samples(X, width, depth, n, beta, seed):
    """Outputs and last-hidden-layer kernels of n networks drawn the plain way (every weight),
    batched in numpy: the reference law for sample_outputs / sample_empirical_nngp."""
    rng = np.random.default_rng(seed)
    a = np.broadcast_to(np.asarray(X), (n, *X.shape))
    c2 = 1.0 - beta * beta
    for l in range(depth):
        n_l, n_next = a.shape[-1], (width if l < depth - 1 else 1)
        if l == depth - 1:
            K = c2 / n_l * a @ a.transpose(0, 2, 1) + beta * beta
        W = rng.standard_normal((n, n_l, n_next))
        z = np.sqrt(c2 / n_l) * a @ W + beta * rng.standard_normal((n, 1, n_next))
        a = np.maximum(z, 0.0)
    return z[..., 0], K


def two_sample_z(u, v):
    """(mean u - mean v) / its standard error, for independent samples u, v (along axis 0)."""
    return (u.mean(0) - v.mean(0)) / np.sqrt(u.var(0, ddof=1) / len(u) + v.var(0, ddof=1) / len(v))


@pytest.mark.parametrize("width", [2, 5])
def test_function_space_sampler_has_the_weight_space_law(width):
    """Property: drawing each layer's neurons as N(0, c^2/n a a^T + beta^2) given the previous layer
    (sample_outputs, sample_empirical_nngp) gives the law of the network drawn weight by weight,
    at widths 2 and 5 where that law is far from Gaussian (depth 3, 3 inputs, 20000 draws each):
    the means of f(x) f(y), f(x)^4 and of the kernel entries and their squares agree within 4.5
    two-sample standard errors (18 statistics: a false alarm ~1e-4), and a two-sample KS test of
    f(x_0) and of Sigma_hat(x_0, x_1) keeps p > 1e-3 (3 tests).  A wrong factor
    (the bias dropped from K) is rejected: the control at the end."""
    from scipy import stats

    X = np.array([[1.0, 0.0, 0.5], [0.2, -1.0, 0.3], [-0.7, 0.4, 0.0]])
    n, beta = 20000, 0.3
    f_ref, K_ref = weight_space_samples(X, width, 3, n, beta, seed=1)
    f = nk.sample_outputs(X, width=width, depth=3, n_samples=n, beta=beta, seed=2).numpy()
    K = nk.limits.sample_empirical_nngp(
        X, width=width, depth=3, n_samples=n, beta=beta, seed=3
    ).numpy()
    iu = np.triu_indices(3)

    def moments(f, K):
        prod = (f[:, :, None] * f[:, None, :])[:, iu[0], iu[1]]
        k = K[:, iu[0], iu[1]]
        return np.concatenate([prod, f**4, k, k**2], 1)

    z = two_sample_z(moments(f, K), moments(f_ref, K_ref))
    assert np.abs(z).max() < 4.5, z
    assert stats.ks_2samp(f[:, 0], f_ref[:, 0]).pvalue > 1e-3
    # At these widths Sigma_hat(x_0, x_1) has an atom at beta^2 (no neuron active on both inputs);
    # rounding to 1e-12 puts both samples' atoms at the same point (the QR leaves ~1e-17 there).
    assert stats.ks_2samp(K[:, 0, 1].round(12), K_ref[:, 0, 1].round(12)).pvalue > 1e-3
    wrong = (
        nk.limits.sample_empirical_nngp(
            X, width=width, depth=3, n_samples=n, beta=beta, seed=3
        ).numpy()
        - beta * beta
    )  # no + beta^2
    assert np.abs(two_sample_z(moments(f, wrong), moments(f_ref, K_ref))).max() > 10


def test_sample_empirical_nngp_is_empirical_nngp_of_fcnets():
    """Property: the function-space kernels have the law of nk.empirical_nngp of seeded FCNets
    (jacot2018, depth 4, width 64: 300 of each): mean and spread of every entry within 4.5
    two-sample standard errors (12 statistics), and depth 1 is Sigma^(1) exactly (1e-14)."""
    X = circle_inputs()[:3]
    kw = dict(beta=0.1, parametrization="jacot2018")
    K_fc = np.stack(
        [nk.empirical_nngp(nk.FCNet(2, 64, 4, seed=s, **kw), X).numpy() for s in range(300)]
    )
    K = nk.limits.sample_empirical_nngp(X, width=64, depth=4, n_samples=300, seed=9, **kw).numpy()
    iu = np.triu_indices(3)
    a, b = K[:, iu[0], iu[1]], K_fc[:, iu[0], iu[1]]
    mean_a, mean_b = a.mean(0, keepdims=True), b.mean(0, keepdims=True)
    z = two_sample_z(
        np.concatenate([a, (a - mean_a) ** 2], 1), np.concatenate([b, (b - mean_b) ** 2], 1)
    )
    assert np.abs(z).max() < 4.5, z
    K1 = nk.limits.sample_empirical_nngp(X, width=7, depth=1, n_samples=2, **kw)
    want = relu_kernels_np(X, 1, *VARIANCES["jacot2018"](0.1))[0]
    np.testing.assert_allclose(K1.numpy(), np.broadcast_to(want, (2, 3, 3)), rtol=0, atol=1e-14)


# ---- the width-law test of nk.limits -------------------------------------------------------------


def test_width_law_test_accepts_the_law_and_rejects_a_floor():
    """Property: synthetic deviations C width^-1/2 (1 + 0.3 noise), 64 seeds at 6 widths, pass the
    chi-square test of flatness (p > 1e-3; the seed is fixed, a false alarm would be 1 in 1000);
    with a floor b = 5% under them (sqrt(C^2/width + b^2), the signature of a biased kernel) they
    fail it (p < 1e-6), while a log-log slope over the same widths stays within 0.15 of -1/2."""
    rng = np.random.default_rng(0)
    widths = np.array([128, 256, 512, 1024, 2048, 4096])
    noise = 1 + 0.3 * rng.standard_normal((6, 64))
    good = 2.9 / np.sqrt(widths)[:, None] * noise
    floored = np.sqrt(2.9**2 / widths + 0.05**2)[:, None] * noise
    assert nk.limits.width_law_test(widths, good)["p"] > 1e-3
    bad = nk.limits.width_law_test(widths, floored)
    assert bad["p"] < 1e-6
    assert abs(nk.stats.loglog_slope(widths, bad["mean"])[0] + 0.5) < 0.15
    with pytest.raises(ValueError, match="samples: got shape"):
        nk.limits.width_law_test(widths, good[:, :1])


def test_scale_test_and_width_exponent_on_synthetic_draws():
    """Property: scale_test recovers a known scale (draws 1.03 R (1 + noise), 400 of them: mean
    within 4 standard errors of 0.03, the standard error equal to the noise's sd/sqrt(400) within
    10%), and width_exponent a known exponent (C width^-0.75 times lognormal noise: the fitted
    slope within 4 of its standard errors of -0.75, which are 0.2/sqrt(seeds)/spread-sized)."""
    rng = np.random.default_rng(1)
    R = np.array([[2.0, 0.5], [0.5, 1.0]])
    noise = 0.1 * rng.standard_normal(400)
    r = nk.limits.scale_test(1.03 * R * (1 + noise)[:, None, None], R)
    assert abs(r["mean"] - 0.03) < 4 * r["se"]
    assert abs(r["se"] / (1.03 * 0.1 / 20) - 1) < 0.1
    widths = np.array([64, 128, 256, 512, 1024])
    d = widths[:, None] ** -0.75 * np.exp(0.2 * rng.standard_normal((5, 16)))
    e = nk.limits.width_exponent(widths, d)
    assert abs(e["slope"] + 0.75) < 4 * e["slope_se"] and 0.01 < e["slope_se"] < 0.1
    assert np.all(np.abs(e["local"] + 0.75) < 4.5 * e["local_se"])
    with pytest.raises(ValueError, match="samples"):
        nk.limits.width_exponent(widths, -d)


def test_fc_empirical_ntks_share_seeds_across_parametrizations():
    """Property: fc_empirical_ntks[i, s] is the empirical NTK
    of nk.FCNet(seed = offset + 1000 s + i) in either parametrisation (the same draws for both, so
    their difference is paired), and fc_ntk_deviation is its relative Frobenius error.  Tolerance
    1e-12 (the same arithmetic)."""
    X = circle_inputs()
    kw = dict(widths=[8, 16], seeds=3, depth=3, beta=0.3, seed_offset=5)
    for p in BOTH:
        K = nk.limits.fc_empirical_ntks(X, parametrization=p, **kw)
        for i, w in enumerate(kw["widths"]):
            for s in range(kw["seeds"]):
                net = nk.FCNet(2, w, 3, beta=0.3, seed=5 + 1000 * s + i, parametrization=p)
                np.testing.assert_allclose(K[i, s], nk.empirical_ntk(net, X).numpy(), rtol=1e-12)
        ref = relu_kernels_np(X, 3, *VARIANCES[p](0.3))[1]
        dev = nk.limits.fc_ntk_deviation(X, ref, parametrization=p, **kw)
        want = np.linalg.norm(K - ref, axis=(2, 3)) / np.linalg.norm(ref)
        np.testing.assert_allclose(dev, want, rtol=1e-12)


def test_covariance_test_accepts_gaussians_and_rejects_each_kind_of_error():
    """Property: 20000 exact N(0, S) draws (numpy, 5 inputs) pass every part of
    nk.limits.covariance_test (|z_trace| < 4, p_entries > 1e-3, KS p > 1e-3, max entry |z| < 4.5;
    false alarms ~1e-3 each); against 1.03 S the pooled z is about -2.9%/(sqrt(2/5)/sqrt(20000)),
    i.e. below -6; a shape error with the same trace (one correlation moved by 0.1) is caught by
    the chi^2 over entries; a scale mixture with the same covariance (a Student t with 10 dof,
    rescaled) by the KS test of the Mahalanobis distances.  needed = (4 sqrt(2/5)/0.03)^2 = 7112
    within 5% (the spread of d^2/N is measured)."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((5, 5))
    S = A @ A.T + 5 * np.eye(5)
    L = np.linalg.cholesky(S)
    F = rng.standard_normal((20000, 5)) @ L.T
    r = nk.limits.covariance_test(F, S)
    assert abs(r["z_trace"]) < 4 and r["p_entries"] > 1e-3 and r["ks_joint"] > 1e-3
    assert np.abs(r["z_entries"]).max() < 4.5 and abs(r["needed"] / 7112 - 1) < 0.05
    assert nk.limits.covariance_test(F, 1.03 * S)["z_trace"] < -6
    d = np.sqrt(np.diag(S))
    shape = S.copy()
    shape[0, 1] = shape[1, 0] = S[0, 1] + 0.1 * d[0] * d[1]
    assert nk.limits.covariance_test(F, shape)["p_entries"] < 1e-6
    t = F / np.sqrt(rng.chisquare(10, size=(20000, 1)) / 10) * np.sqrt(8 / 10)  # Var t_10 = 10/8
    assert nk.limits.covariance_test(t, S)["ks_joint"] < 1e-6
