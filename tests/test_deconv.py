"""Deconvolutional generators: pixel bookkeeping, the analytic pixel NTK against an explicit
per-pair reference and against wide finite generators, the exact tree formula against autograd, the
checkerboard bounds, BatchNorm identities, and the Fourier view of pixel kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ntklib as nk
from conftest import DTYPE, NP_DUALS, gaussian_moment_1d, on_sphere, randn


# ---- pixel bookkeeping ---------------------------------------------------------------------------


def _digits(p, stride, depth):
    """Base-`stride` digits of p, least significant first (depth of them)."""
    return [(p // stride**k) % stride for k in range(depth)]


@pytest.mark.parametrize("stride,depth,dim", [(2, 3, 1), (3, 2, 1), (2, 2, 2)])
def test_pixel_levels_count_agreeing_taps(stride, depth, dim):
    """Property: m(p, p') is the number of top layers whose filter taps agree on the two ancestor
    paths.  Reference: per pair, walk the base-s digits (digit k of a coordinate is the tap
    of layer L - k) and count agreeing digits from the least significant one until the first
    disagreement, per axis, then take the smaller (a pixel pair shares a tap only if both axes do).
    Exact integers."""
    S = stride**depth
    coords = [(p,) for p in range(S)] if dim == 1 else [(a, b) for a in range(S) for b in range(S)]
    want = np.zeros((len(coords), len(coords)), dtype=np.int64)
    for i, p in enumerate(coords):
        for j, q in enumerate(coords):
            per_axis = []
            for a, b in zip(p, q):
                da, db = _digits(a, stride, depth), _digits(b, stride, depth)
                k = 0
                while k < depth and da[k] == db[k]:
                    k += 1
                per_axis.append(k)
            want[i, j] = min(per_axis)
    np.testing.assert_array_equal(nk.deconv.pixel_levels(depth, stride, dim).numpy(), want)
    np.testing.assert_array_equal(
        nk.deconv.checkerboard_v(depth, stride, dim).numpy(), np.minimum(want, depth - 1)
    )


def test_upsample_conv_is_the_transposed_convolution():
    """Property: the einsum transposed convolution equals torch's conv_transpose1d/2d with kernel =
    stride (1-D stride 3, 2-D stride 2).  Tolerance 1e-12 (same sums, other order)."""
    a, W = randn(3, 5, 4, seed=1), randn(5, 6, 3, seed=2)
    torch.testing.assert_close(
        nk.deconv.upsample_conv(a, W), F.conv_transpose1d(a, W, stride=3), rtol=0, atol=1e-12
    )
    a, W = randn(2, 4, 3, 2, seed=3), randn(4, 5, 2, 2, seed=4)
    torch.testing.assert_close(
        nk.deconv.upsample_conv(a, W), F.conv_transpose2d(a, W, stride=2), rtol=0, atol=1e-12
    )


# ---- the analytic pixel NTK ----------------------------------------------------------------------


def _reference_pixel_ntk(x, y, depth, stride, duals, beta):
    """Explicit per-pair numpy reference (1-D): for each pair of output pixels, follow both ancestor
    paths from layer 1 up; the pre-activation covariance is beta^2 at every layer whose taps differ
    (the bias is the only shared parameter), the FC update where they agree (fresh from beta^2 above
    the last disagreement), and a layer's parameters count in the NTK only if all taps above
    agree."""
    n0 = x.size
    w2, b2 = 1 - beta**2, beta**2
    S = stride**depth
    K = np.zeros((S, S))
    qx0, qy0 = w2 * x @ x / n0 + b2, w2 * y @ y / n0 + b2
    for p in range(S):
        for q in range(S):
            taps_p = [
                (p // stride ** (depth - l)) % stride for l in range(1, depth + 1)
            ]  # tap of layer l
            taps_q = [(q // stride ** (depth - l)) % stride for l in range(1, depth + 1)]
            qx, qy = qx0, qy0
            sig, sig_dot = [], [None]
            c = w2 * x @ y / n0 + b2 if taps_p[0] == taps_q[0] else b2
            sig.append(c)
            for l in range(2, depth + 1):
                e, d = duals(qx, qy, c)
                exx, _ = duals(qx, qx, qx)
                eyy, _ = duals(qy, qy, qy)
                same = taps_p[l - 1] == taps_q[l - 1]
                c = w2 * e + b2 if same else b2
                sig.append(c)
                sig_dot.append(w2 * d)
                qx, qy = w2 * exx + b2, w2 * eyy + b2
            theta = 0.0
            for l in range(1, depth + 1):
                if any(taps_p[k - 1] != taps_q[k - 1] for k in range(l + 1, depth + 1)):
                    continue  # a later layer's taps differ: no shared path
                term = sig[l - 1]
                for k in range(l + 1, depth + 1):
                    term *= sig_dot[k - 1]
                theta += term
            K[p, q] = theta
    return K


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_deconv_ntk_matches_explicit_reference(act):
    """Property: nk.deconv.deconv_ntk (a vectorised level recursion) equals the explicit per-pair
    reference above (numpy, arc-cosine / Williams / Gauss-Hermite duals of conftest) for x != y with
    different norms, stride 2 and 3.  Tolerance 1e-9 (tanh: the 200-node reference rule against
    Mehler)."""
    x, y = randn(2, 4, seed=7)
    y = 0.7 * y
    for stride, depth in ((2, 3), (3, 2)):
        ref = _reference_pixel_ntk(x.numpy(), y.numpy(), depth, stride, NP_DUALS[act], 0.3)
        got = nk.deconv.deconv_ntk(
            x[None], y[None], depth=depth, stride=stride, activation=act, beta=0.3
        )[0, 0]
        np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-9)


def test_top_level_is_the_fc_ntk_and_levels_ignore_the_inputs():
    """Properties: T_L = nk.ntk (a pixel followed along its ancestors is an FC network), and
    for m < L T_m depends on the inputs only through their norms (equal for inputs on the sphere).
    Tolerance 1e-12 (the same recursion evaluated in two orders)."""
    X = on_sphere(randn(5, 6, seed=3))
    act = nk.normalized("tanh")
    T = nk.deconv.deconv_ntk_levels(X, depth=4, activation=act, beta=0.4)
    torch.testing.assert_close(
        T[4], nk.ntk(X, depth=4, activation=act, beta=0.4), rtol=1e-12, atol=1e-12
    )
    for m in range(4):
        assert float(T[m].max() - T[m].min()) < 1e-12


def test_diagonal_is_the_geometric_sum_for_standardised_sigma():
    """Property (CONVENTIONS.md §1): with E sigma^2 = 1 and |x|^2 = n_0,
    Theta_{p,p}(x, x) = (1 - r^L)/(1 - r) at every pixel.  Tolerance 1e-10 (Mehler quadrature
    of tanh' ~1e-12 per layer)."""
    X = on_sphere(randn(2, 5, seed=4))
    act = nk.normalized("tanh")
    for beta in (0.1, 0.7):
        r = nk.r_value(act, beta)
        K = nk.deconv.deconv_ntk(X, depth=5, stride=2, dim=1, activation=act, beta=beta)
        diag = torch.diagonal(K[0, 0])
        torch.testing.assert_close(
            diag, torch.full_like(diag, (1 - r**5) / (1 - r)), rtol=1e-10, atol=0
        )


# ---- finite generators ---------------------------------------------------------------------------


@pytest.mark.parametrize("dim,stride", [(1, 2), (1, 3), (2, 2)])
def test_tree_formula_equals_autograd_jacobians(dim, stride):
    """Property: the exact tree formula of empirical_pixel_ntk (no Jacobian formed) equals J J^T
    with J from one autograd backward pass per output pixel, for X and for (X, Y).  Tolerance
    1e-10."""
    X = randn(3, 4, seed=5)
    Y = randn(2, 4, seed=6)
    g = nk.deconv.DeconvGenerator(
        4,
        6,
        3 if stride == 2 else 2,
        stride=stride,
        dim=dim,
        activation=nk.normalized("tanh"),
        beta=0.3,
        seed=1,
    )
    for A, B in ((X, None), (X, Y)):
        fast = nk.deconv.empirical_pixel_ntk(g, A, B)
        slow = nk.deconv.empirical_pixel_ntk(g, A, B, fast=False)
        torch.testing.assert_close(fast, slow, rtol=0, atol=1e-10)


def test_empirical_pixel_ntk_approaches_the_analytic_one():
    """Claim: the empirical pixel NTK of a generator with C channels converges to
    nk.deconv.deconv_ntk with relative Frobenius error ~ C^(-1/2).  Monte Carlo: 3 seeds at C = 64,
    256, 1024 (1-D, L = 3, s = 2, normalised tanh, beta = 0.3).  Tolerances: fitted log-log slope
    within 0.2 of -1/2 (3 widths x 3 seeds; the error at C is ~0.1 (1024/C)^(1/2) here),
    and error < 0.1 at C = 1024.  A recursion with a wrong term (e.g. without the bias covariance
    beta^2 between different taps) fails both."""
    X = on_sphere(randn(3, 6, seed=1))
    act = nk.normalized("tanh")
    A = nk.deconv.deconv_ntk(X, depth=3, stride=2, dim=1, activation=act, beta=0.3)
    widths = [64, 256, 1024]
    err = [
        np.mean(
            [
                nk.stats.relative_error(
                    nk.deconv.empirical_pixel_ntk(
                        nk.deconv.DeconvGenerator(
                            6, C, 3, stride=2, dim=1, activation=act, beta=0.3, seed=10 * s + i
                        ),
                        X,
                    ),
                    A,
                )
                for s in range(3)
            ]
        )
        for i, C in enumerate(widths)
    ]
    slope, _ = nk.stats.loglog_slope(widths, err)
    assert -0.7 < slope < -0.3, f"slope {slope:.3f}, errors {err}"
    assert err[-1] < 0.1, f"relative error {err[-1]:.3f} at C = 1024"


def test_batchnorm_generator_identities():
    """Properties of BatchNorm (over batch and positions, after every hidden nonlinearity, no
    affine), exact at every width: the batch-summed output of each filter-tap class of pixels is
    beta b times its size, so (i) (1/(B P)^2) sum Theta = beta^2 and (ii) the batch-mean output
    image has no mass at the stride frequencies in the NTK.  Tested at C = 5 channels, 2-D.
    Tolerance 1e-10."""
    B, beta = 4, 0.6
    g = nk.deconv.DeconvGenerator(
        3, 5, 3, stride=2, dim=2, activation="tanh", beta=beta, norm="batch", seed=2
    )
    K = nk.deconv.empirical_pixel_ntk(g, randn(B, 3, seed=3))
    assert K.shape == (B, B, 64, 64)
    assert abs(float(K.mean()) - beta**2) < 1e-10
    mass = nk.deconv.fourier_mass(K.mean((0, 1)), 8, dim=2)
    assert float(mass[nk.deconv.stride_frequencies(8, 2, 2)].abs().max()) < 1e-10
    with pytest.raises(ValueError, match="at least 2"):
        g(randn(1, 3, seed=0))


def test_generator_output_shapes_and_bad_arguments():
    """API: output shapes for 1-D/2-D and several output channels; ValueErrors name the argument."""
    g = nk.deconv.DeconvGenerator(4, 8, 3, stride=2, dim=2, n_out=3, seed=0)
    assert g(randn(5, 4, seed=0)).shape == (5, 3, 8, 8)
    assert nk.deconv.DeconvGenerator(4, [8, 6], 3, stride=3, dim=1, seed=0)(
        randn(2, 4, seed=0)
    ).shape == (2, 1, 27)
    for kw, name in (
        (dict(stride=1), "stride"),
        (dict(dim=3), "dim"),
        (dict(norm="layer"), "norm"),
        (dict(channels=[8]), "channels"),
    ):
        args = dict(n_in=4, channels=8, depth=3)
        args.update(kw)
        with pytest.raises(ValueError, match=name):
            nk.deconv.DeconvGenerator(
                args.pop("n_in"), args.pop("channels"), args.pop("depth"), **args
            )
    with pytest.raises(ValueError, match="X"):
        g(randn(5, 3, seed=0))


# ---- the checkerboard theorem --------------------------------------------------------------------


@pytest.mark.parametrize(
    "act,beta",
    [
        (nk.normalized("tanh"), 0.7),
        (nk.normalized("tanh"), 0.1),
        (nk.standardized("relu"), 0.5),
        (nk.standardized("softplus"), 0.1),
    ],
    ids=["tanh_freeze", "tanh_chaos", "relu_freeze", "softplus_freeze"],
)
def test_upper_bound_holds_for_every_pixel_pair(act, beta):
    """Theorem (upper half): for standardised sigma and |x|^2 = n_0,
    Theta_{p,p'}(x, y)/Theta_{p,p}(x, x) <= (1 - r^(v+1))/(1 - r^L) for every pixel pair and inputs,
    in freeze and chaos (Cauchy-Schwarz: Sigma <= 1, SigmaDot <= r).  2-D, L = 3, 3 inputs.
    Tolerance L sqrt(2 eps) ~ 6e-8 (floating point, not bit-exact): the bound is attained at x = y,
    where the correlation c / sqrt(ab) is 1 only up to an ulp eps (a * b is rounded; on_sphere's
    norms are n_0 (1 +- 2e-16)), and arccos(1 - eps) = sqrt(2 eps) turns that ulp into ~2e-8 per
    layer for ReLU's step dual.  A theorem violation (e.g. r 1% too small) exceeds this by orders
    of magnitude."""
    X = on_sphere(randn(3, 5, seed=8))
    L = 3
    K = nk.deconv.deconv_ntk(X, depth=L, stride=2, dim=2, activation=act, beta=beta)
    ratio = K / K[0, 0, 0, 0]
    upper = nk.deconv.checkerboard_upper_bound(
        nk.r_value(act, beta), nk.deconv.checkerboard_v(L, 2, 2), L
    )
    tol = L * math.sqrt(2 * torch.finfo(torch.float64).eps)
    assert float((ratio - upper).max()) < tol


def test_lower_bound_constant_levels_off_for_smooth_sigma_only():
    """Theorem (lower half) in the freeze: the smallest C1 with ratio >= upper - C1 (v+1) r^v stays
    bounded as the depth grows for a smooth sigma (normalised tanh, beta = 0.7, r = 0.60: C1 changes
    by < 10% from L = 16 to 32), while for ReLU (sigma' jumps, SigmaDot -> r only
    like sqrt(1 - rho)) it more than doubles.  Deterministic numbers; margins of 2x on both
    sides."""
    x = on_sphere(randn(1, 6, seed=9))

    def c1(act, beta, L):
        T = nk.deconv.deconv_ntk_levels(x, depth=L, activation=act, beta=beta)[:, 0, 0]
        return nk.deconv.fit_c1(
            T / T[-1], torch.arange(L + 1).clamp(max=L - 1), nk.r_value(act, beta), L
        )

    smooth = c1(nk.normalized("tanh"), 0.7, 32) / c1(nk.normalized("tanh"), 0.7, 16)
    relu = c1(nk.standardized("relu"), 0.5, 32) / c1(nk.standardized("relu"), 0.5, 16)
    assert smooth < 1.1, smooth
    assert relu > 2.0, relu


def test_standardized_and_edge_beta():
    """Properties: E standardized(sigma)(z)^2 = 1 (1-D quadrature reference);
    r(sigma, edge_beta) = 1.  Tolerance 1e-9."""
    softplus = lambda z: max(z, 0.0) + math.log1p(math.exp(-abs(z)))  # noqa: E731 - overflow-safe
    for name, fn in (("softplus", softplus), ("relu", lambda z: max(z, 0.0))):
        s = nk.standardized(name)
        m2 = gaussian_moment_1d(lambda z: fn(z) ** 2)
        assert abs(float(s(torch.tensor(1.3, dtype=DTYPE))) - fn(1.3) / math.sqrt(m2)) < 1e-9
    for name in ("tanh", "relu"):
        act = nk.normalized(name)
        assert abs(nk.r_value(act, nk.edge_beta(act)) - 1.0) < 1e-9


# ---- Fourier view --------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [1, 2])
def test_fourier_mass_gives_the_eigenvalues_of_the_pixel_ntk(dim):
    """Property: the pixel NTK at x = y is translation invariant modulo s^L (it depends on p - p'
    only through its s-adic valuation), so the Fourier masses are its eigenvalues: sorted, they
    equal torch.linalg.eigvalsh.  Also the identity kernel has the uniform share (s^d - 1)/(P - 1).
    Tolerance 1e-9 relative to the largest eigenvalue."""
    X = on_sphere(randn(1, 5, seed=2))
    L = 4 if dim == 1 else 3
    S = 2**L
    K = nk.deconv.deconv_ntk(
        X, depth=L, stride=2, dim=dim, activation=nk.normalized("tanh"), beta=0.6
    )[0, 0]
    mass = nk.deconv.fourier_mass(K, S, dim).reshape(-1).sort().values
    eig = torch.linalg.eigvalsh(K)
    assert float((mass - eig).abs().max() / eig.max()) < 1e-9
    I = torch.eye(S**dim, dtype=DTYPE)
    uniform = (2**dim - 1) / (S**dim - 1)
    assert abs(float(nk.deconv.checkerboard_share(I, S, 2, dim)) - uniform) < 1e-12
    lam, imgs = nk.deconv.eigen_images(K, S, dim, k=3)
    assert imgs.shape == (3,) + (S,) * dim and float(lam[0] - eig[-1]) < 1e-9


# ---- overlapping filters, size and dtype guards --------------------------------------------------


@pytest.mark.parametrize("dim,depth,act", [(1, 4, "relu"), (2, 3, "relu"), (1, 3, "tanh")])
def test_pixel_pair_recursion_equals_the_tree_levels(dim, depth, act):
    """Property: for kernel = stride, padding 0, the general pixel-pair recursion (lifts by 0/1 tap
    matrices) and the level formula (T_m placed by the s-adic valuation) are two different
    algorithms for the same kernel.  Tolerance 1e-12: O(depth) float64 roundings of O(1) entries."""
    from ntklib.deconv.theory import _pixel_pair_ntk

    X, Y = on_sphere(randn(3, 5, seed=1)), on_sphere(randn(2, 5, seed=2))
    a = nk.normalized(act) if act == "tanh" else nk.standardized(act)
    want = nk.deconv.deconv_ntk(X, Y, depth=depth, stride=2, dim=dim, activation=a, beta=0.4)
    got = _pixel_pair_ntk(X, Y, depth, 2, dim, 2, 0, a, 0.4, torch.float64, None)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_default_kernel_and_padding_reproduce_the_tree_generator():
    """Property: kernel_size=None / padding=0 and kernel_size=stride give the same outputs as before
    (the einsum path, bitwise: the same operations)."""
    X = randn(3, 4, seed=3)
    g0 = nk.deconv.DeconvGenerator(4, 8, 3, stride=2, dim=2, seed=0)
    g1 = nk.deconv.DeconvGenerator(4, 8, 3, stride=2, dim=2, kernel_size=2, padding=0, seed=0)
    assert g0.is_tree and torch.equal(g0(X), g1(X))


def test_overlapping_generator_is_torch_conv_transpose():
    """Property: kernel 4, stride 2, padding 1 is torch's ConvTranspose with the stated scale
    sqrt(1 - beta^2)/sqrt(C (k/s)^dim) and the bias; output 2^L pixels.  Tolerance 1e-12."""
    X = randn(2, 3, seed=4)
    g = nk.deconv.DeconvGenerator(
        3, 5, 2, stride=2, dim=1, kernel_size=4, padding=1, activation="relu", beta=0.3, seed=0
    )
    c = [math.sqrt(1 - 0.09) / math.sqrt(ch * 2) for ch in (3, 5)]
    a = X[:, :, None]
    z = (
        c[0] * F.conv_transpose1d(a, g.weights[0], stride=2, padding=1)
        + 0.3 * g.biases[0][None, :, None]
    )
    z = (
        c[1] * F.conv_transpose1d(torch.relu(z), g.weights[1], stride=2, padding=1)
        + 0.3 * g.biases[1][None, :, None]
    )
    assert g(X).shape == (2, 1, 4) and g.size == 4
    torch.testing.assert_close(g(X), z, rtol=0, atol=1e-12)


def test_overlapping_pixel_ntk_approaches_finite_generators():
    """Property: the exact pixel-pair NTK (kernel 4, stride 2, padding 1, 1-D, L = 2, 4 pixels) is
    the limit of finite generators' empirical NTKs: the seed-averaged relative error falls like
    C^(-1/2) (64 -> 1024 channels: predicted factor 1/4; accepted [0.12, 0.45], 6 seeds, the spread
    measured at about 20%), and at C = 1024 the seed mean of the kernel is within 4.5 standard
    errors of the limit at every entry (a 3%-wrong border or interior entry would be 4-10 SE off at
    this width)."""
    act = nk.normalized("tanh")
    X = on_sphere(randn(2, 6, seed=5))
    K = nk.deconv.deconv_ntk(
        X, depth=2, stride=2, kernel_size=4, padding=1, activation=act, beta=0.5
    )
    err, last = {}, []
    for C in (64, 1024):
        es = []
        for s in range(6):
            g = nk.deconv.DeconvGenerator(
                6,
                C,
                2,
                stride=2,
                kernel_size=4,
                padding=1,
                activation=act,
                beta=0.5,
                seed=10 * s + C,
            )
            E = nk.deconv.empirical_pixel_ntk(g, X)
            es.append(float((E - K).norm() / K.norm()))
            if C == 1024:
                last.append(E)
        err[C] = np.mean(es)
    assert 0.12 < err[1024] / err[64] < 0.45, err
    E = torch.stack(last)
    z = (E.mean(0) - K) / (E.std(0) / math.sqrt(len(last)) + 1e-300)
    assert float(z.abs().max()) < 4.5, float(z.abs().max())


def test_border_pixels_have_fewer_parents_and_smaller_diagonal():
    """Property: with kernel 4, stride 2, padding 1 the two border pixels of every layer have one
    parent instead of two, so at layer 1 their variance is (1 - beta^2)/2 |x|^2/n_0 + beta^2 like
    every pixel's there, and at the output the border diagonal is strictly below the interior's
    (checked exactly: relu, L = 3, the interior entries are equal to 1e-12 away from the border)."""
    X = on_sphere(randn(1, 4, seed=6))
    K = nk.deconv.deconv_ntk(
        X, depth=3, stride=2, kernel_size=4, padding=1, activation=nk.standardized("relu"), beta=0.3
    )[0, 0]
    d = torch.diagonal(K)
    assert d.shape == (8,) and float(d[0]) < float(d[3]) and float(d[-1]) < float(d[4])
    torch.testing.assert_close(d, d.flip(0), rtol=0, atol=1e-12)  # mirror symmetry


def test_size_and_dtype_guards():
    """Bad requests raise ValueError naming the argument and what is accepted, before allocating."""
    X = [[1.0, 0.0]]
    with pytest.raises(ValueError, match="GiB"):
        nk.deconv.pixel_levels(30)
    with pytest.raises(ValueError, match="GiB"):
        nk.deconv.deconv_ntk(X, depth=40)
    with pytest.raises(ValueError, match="dtype"):
        nk.deconv.deconv_ntk_levels(X, depth=3, dtype=torch.int64)
    with pytest.raises(ValueError, match="kernel_size"):
        nk.deconv.DeconvGenerator(2, 4, 2, kernel_size=3)
    with pytest.raises(ValueError, match="padding"):
        nk.deconv.deconv_ntk(X, depth=2, kernel_size=4, padding=4)


def test_pixel_ntk_bias_is_the_seed_mean_of_the_diagonal_and_detects_a_scaled_limit():
    """s_j is the relative deviation of each generator's mean NTK diagonal (computed here by hand);
    a limit 10% too large moves every s_j to (1 + s_j)/1.1 - 1 and the mean far beyond 4 s.e.
    (per-generator spread ~5% at 256 channels: 12 generators resolve ~1.5%)."""
    X = nk.data.sphere(3, 4, seed=1)
    kw = dict(stride=2, dim=1, activation=nk.normalized("tanh"), beta=0.1)
    T = nk.deconv.deconv_ntk(X, depth=4, **kw)
    b = nk.deconv.pixel_ntk_bias(X, T, channels=256, seeds=12, depth=4, seed=3, **kw)

    def diag(K):
        return float(torch.diagonal(torch.diagonal(K, dim1=0, dim2=1), dim1=0, dim2=1).mean())

    gen = nk.deconv.DeconvGenerator(4, 256, 4, seed=3 + 100 * 5, **kw)
    assert abs(b["s"][5] - (diag(nk.deconv.empirical_pixel_ntk(gen, X)) / diag(T) - 1)) < 1e-12
    assert abs(b["z"]) < 4 and b["se"] < 0.02
    wrong = nk.deconv.pixel_ntk_bias(X, 1.1 * T, channels=256, seeds=12, depth=4, seed=3, **kw)
    assert np.allclose(wrong["s"], (1 + b["s"]) / 1.1 - 1, rtol=0, atol=1e-12)
    assert wrong["z"] < -4
    with pytest.raises(ValueError, match="seeds"):
        nk.deconv.pixel_ntk_bias(X, T, channels=8, seeds=1, depth=4, **kw)
    with pytest.raises(ValueError, match="theory"):
        nk.deconv.pixel_ntk_bias(X, T[:2], channels=8, seeds=2, depth=4, **kw)
