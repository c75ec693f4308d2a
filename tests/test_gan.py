"""Small GANs: data, scores and ensembles against closed forms, Monte Carlo and reference networks;
training loops for determinism (a few steps only: these tests are fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ntklib as nk
from ntklib import gan


def test_mode_coverage_on_exact_samples_and_a_collapsed_generator():
    """Property: samples of the mixture itself cover all 8 modes and are good with probability
    P(|N(0, I_2)| <= 3) = 1 - exp(-9/2) (a chi distribution with 2 degrees of freedom).  Monte Carlo
    with 20000 samples: 5 standard errors (~0.004).  A generator that puts every sample on one
    centre covers exactly 1 mode with all samples good."""
    g = torch.Generator().manual_seed(0)
    s = gan.ring_of_gaussians(20000, std=0.1, generator=g, dtype=torch.float64)
    c = gan.ring_centres(8, 2.0, torch.float64)
    cov = gan.mode_coverage(s, c, 0.1)
    p = 1 - math.exp(-4.5)
    assert int(cov["covered"]) == 8
    assert abs(float(cov["good"]) - p) < 5 * math.sqrt(p * (1 - p) / 20000)
    collapsed = gan.mode_coverage(c[3].expand(500, 2)[None], c, 0.1)
    assert collapsed["covered"].tolist() == [1] and collapsed["good"].tolist() == [1.0]


def test_checkerboard_score_closed_cases():
    """Properties: a pure checkerboard (-1)^(i+j) scores 1; a smooth image (constant plus the lowest
    cosine) scores 0 (tolerance 1e-12); white noise scores (s^2 - 1)/(S^2 - 1) on average (Monte
    Carlo over 4000 images of 16 x 16: the per-image score has sd ~0.008, so 5 standard
    errors ~ 7e-4)."""
    i = torch.arange(16, dtype=torch.float64)
    board = (-1.0) ** (i[:, None] + i[None, :])
    assert abs(float(gan.checkerboard_score(board)) - 1.0) < 1e-12
    smooth = 2.0 + torch.cos(2 * math.pi * i / 16)[:, None] * torch.ones(16, dtype=torch.float64)
    assert float(gan.checkerboard_score(smooth)) < 1e-12
    noise = torch.randn(
        4000, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    assert abs(float(gan.checkerboard_score(noise).mean()) - 3 / 255) < 7e-4


def test_sample_diversity_extremes():
    """Properties: one image repeated has diversity 0; independent noise images have diversity ~1
    (tolerance 0.02 for 2000 images of 64 pixels); the measure is scale invariant (1e-12)."""
    img = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert gan.sample_diversity(img.expand(50, 8, 8)) < 1e-12
    noise = torch.randn(2000, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    d = gan.sample_diversity(noise)
    assert abs(d - 1.0) < 0.02 and abs(gan.sample_diversity(7.0 * noise) - d) < 1e-12


@pytest.mark.parametrize("norm", [None, "batch"])
def test_ensemble_member_is_an_fcnet(norm):
    """Property: member k of EnsembleMLP computes the same function as nk.FCNet (an independent
    implementation of CONVENTIONS.md §1, with its own BatchNorm) given member k's weights, with
    FCNet's BatchNorm epsilon.  Tolerance 1e-10 (float64, same operations in another order)."""
    ens = gan.EnsembleMLP(
        3,
        4,
        16,
        3,
        n_out=2,
        activation=nk.normalized("tanh"),
        beta=0.4,
        norm=norm,
        seed=1,
        dtype=torch.float64,
        norm_eps=1e-12,
    )
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = ens(x)
    for k in range(3):
        net = nk.FCNet(
            4, 16, 3, n_out=2, activation=nk.normalized("tanh"), beta=0.4, norm=norm, seed=0
        )
        with torch.no_grad():
            for l in range(3):
                net.weights[l].copy_(ens.weights[l][k].T)
                net.biases[l].copy_(ens.biases[l][k, 0])
        torch.testing.assert_close(out[k], net(x), rtol=1e-10, atol=1e-10)


def test_ensemble_members_train_independently():
    """Property: the gradient of the summed loss with respect to member 0 does not depend on member
    1's parameters (so Adam on the sum trains M independent models).  Exact (tolerance 0)."""
    ens = gan.EnsembleMLP(2, 3, 8, 3, seed=0, dtype=torch.float64)
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def grad0():
        ens.zero_grad()
        ens(x).pow(2).sum().backward()
        return [p.grad[0].clone() for p in ens.parameters()]

    before = grad0()
    with torch.no_grad():
        for p in ens.parameters():
            p[1].mul_(3.0)
    for a, b in zip(before, grad0()):
        assert torch.equal(a, b)


def test_training_loops_are_deterministic():
    """Property: same seeds give identical records (toy GAN and DCGAN, a few steps each);
    the records have the documented shapes."""

    def toy():
        G = gan.EnsembleMLP(2, 4, 8, 3, n_out=2, activation=nk.normalized("tanh"), beta=0.7, seed=1)
        D = gan.EnsembleMLP(2, 2, 8, 2, activation=nk.standardized("relu"), seed=2)
        return gan.train_toy_gan(
            G,
            D,
            steps=4,
            batch=16,
            lr_g=1e-2,
            lr_d=1e-2,
            n_eval=50,
            record_every=2,
            seed=3,
            progress=False,
        )

    a, b = toy(), toy()
    assert a.covered.shape == (3, 2) and a.samples.shape == (2, 50, 2)
    assert np.array_equal(a.good, b.good) and torch.equal(a.samples, b.samples)

    data = gan.digit_images(8)
    assert data.shape == (1797, 1, 8, 8) and float(data.min()) >= -1 and float(data.max()) <= 1

    def dc():
        G = nk.deconv.DeconvGenerator(
            4,
            8,
            3,
            stride=2,
            dim=2,
            activation=nk.normalized("tanh"),
            beta=0.7,
            seed=0,
            dtype=torch.float32,
        )
        D = gan.ImageDiscriminator(8, 16, seed=1)
        return gan.train_dcgan(
            G,
            D,
            data,
            steps=3,
            batch=8,
            lr_g=1.0,
            optimizer_g="sgd",
            n_eval=16,
            n_show=4,
            record_every=1,
            seed=2,
            progress=False,
        )

    a, b = dc(), dc()
    assert a.score.shape == (4,) and a.samples.shape == (4, 1, 8, 8)
    assert np.array_equal(a.score, b.score) and torch.equal(a.samples, b.samples)
    with pytest.raises(ValueError, match="optimizer_g"):
        gan.train_dcgan(
            nk.deconv.DeconvGenerator(4, 8, 3, dim=2, seed=0, dtype=torch.float32),
            gan.ImageDiscriminator(8, 16),
            data,
            steps=1,
            optimizer_g="rmsprop",
        )


# ---- the same start for every generator, moves, digit coverage -----------------------------------


@pytest.mark.parametrize("norm", [None, "batch"])
def test_common_start_starts_at_h_and_has_the_generators_gradients(norm):
    """Properties of g = f - f_0 + h: before training g(z) = h(z) exactly (f and its frozen copy are
    the same function of the same codes); g's parameters are f's, and the gradient of any loss of
    g equals that of the same loss of f + (h - f_0) with f_0 detached, computed here by hand with
    an independent copy of f (tolerance 1e-12, float64 sums of a few hundred terms)."""
    f = gan.EnsembleMLP(2, 4, 16, 3, n_out=2, seed=0, norm=norm, dtype=torch.float64)
    h = lambda z: 0.5 * z[..., :2]  # noqa: E731
    g = gan.CommonStart(f, h)
    z = torch.randn(7, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.equal(g(z), (0.5 * z[:, :2]).expand(2, 7, 2))
    assert [id(p) for p in g.parameters()] == [id(p) for p in f.parameters()]
    with torch.no_grad():  # move f away from its initialisation
        for p in f.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
    ref = gan.EnsembleMLP(2, 4, 16, 3, n_out=2, seed=0, norm=norm, dtype=torch.float64)
    f_copy = gan.EnsembleMLP(2, 4, 16, 3, n_out=2, seed=0, norm=norm, dtype=torch.float64)
    f_copy.load_state_dict(f.state_dict())
    loss_g = g(z).pow(3).sum()
    (grads_g,) = [torch.autograd.grad(loss_g, list(g.parameters()))]
    with torch.no_grad():
        offset = h(z) - ref(z)
    loss_f = (f_copy(z) + offset).pow(3).sum()
    grads_f = torch.autograd.grad(loss_f, list(f_copy.parameters()))
    for a, b in zip(grads_g, grads_f):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert g.n_in == 4 and g.n_models == 2


def test_common_start_refuses_a_start_that_is_not_callable():
    f = gan.EnsembleMLP(1, 4, 8, 2, n_out=2, seed=0)
    with pytest.raises(TypeError, match="start: got Tensor; accepted: a callable or None"):
        gan.CommonStart(f, torch.zeros(2))


def test_shared_share_cases():
    """Properties: a common move gives 1; moves summing to zero give 0; n independent standard
    Gaussian moves in the plane give ~1/n (|mean|^2 ~ 2/n against mean |d|^2 ~ 2; Monte Carlo over
    400 ensembles of n = 100: mean within 5 standard errors of 1/n); scale invariance (1e-12);
    all-zero moves give NaN (undefined)."""
    d = torch.tensor([[0.3, -1.2]]).expand(40, 2)
    assert float(gan.shared_share(d)) == pytest.approx(1.0, abs=1e-12)
    assert float(gan.shared_share(torch.tensor([[1.0, 2.0], [-1.0, -2.0]]))) == 0.0
    noise = torch.randn(
        400, 100, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    s = gan.shared_share(noise)
    assert s.shape == (400,)
    assert abs(float(s.mean()) - 0.01) < 5 * float(s.std()) / 20
    torch.testing.assert_close(gan.shared_share(3.0 * noise), s, rtol=1e-12, atol=0)
    assert math.isnan(float(gan.shared_share(torch.zeros(5, 2))))


def test_digit_coverage_accepts_digits_and_rejects_noise_blur_and_collapse():
    """The quality threshold and the class count: held-out real digits (1500..1796 against
    0..1499) cover all 10 classes; white noise of the digits' pixel variance and the mean digit
    (a blur of every class) have no good sample; one real digit repeated covers exactly its class;
    the threshold is the 95th percentile of the reference's leave-one-out distances (checked
    against a loop over the reference)."""
    x, y = gan.digit_images(8, return_labels=True)
    ref, lab = x[:1500], y[:1500]
    held = gan.digit_coverage(x[1500:], ref, lab)
    assert held["covered"] == 10 and held["good"] > 0.5
    noise = x.std() * torch.randn(300, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert gan.digit_coverage(noise, ref, lab)["good"] == 0.0
    assert gan.digit_coverage(x.mean(0, keepdim=True).expand(50, 1, 8, 8), ref, lab)["good"] == 0.0
    one = gan.digit_coverage(x[1600:1601].expand(50, 1, 8, 8), ref, lab)
    assert one["covered"] == 1 and one["counts"][int(y[1600])] == 50
    R = ref.reshape(1500, -1).double()
    nn_dist = [float((R[torch.arange(1500) != i] - R[i]).norm(dim=1).min()) for i in range(0, 1500)]
    assert held["threshold"] == pytest.approx(float(np.quantile(nn_dist, 0.95)), rel=1e-9)
    with pytest.raises(
        ValueError, match="samples: images of 16 pixels; accepted: the reference's 64"
    ):
        gan.digit_coverage(torch.zeros(3, 1, 4, 4), ref, lab)


def test_dcgan_record_scores_the_moves_since_initialisation():
    """The increment scores of train_dcgan are the checkerboard score and diversity of x_t - x_0
    for the same evaluation codes: NaN at step 0, and at the end equal (1e-12) to the scores
    recomputed from the recorded images (n_show = n_eval keeps all of them)."""
    G = nk.deconv.DeconvGenerator(8, 16, 3, stride=2, dim=2, dtype=torch.float32, seed=0)
    D = gan.ImageDiscriminator(size=8, width=32, seed=0)
    data = gan.digit_images(8)[:64]
    rec = gan.train_dcgan(
        G,
        D,
        data,
        steps=3,
        batch=16,
        lr_g=1.0,
        optimizer_g="sgd",
        n_eval=32,
        n_show=32,
        record_every=3,
        progress=False,
    )
    assert np.isnan(rec.increment_score[0]) and np.isnan(rec.increment_diversity[0])
    moves = rec.samples - rec.initial
    assert rec.increment_score[-1] == pytest.approx(
        float(gan.checkerboard_score(moves[:, 0]).mean()), rel=1e-12
    )
    assert rec.increment_diversity[-1] == pytest.approx(gan.sample_diversity(moves), rel=1e-12)
    assert rec.increment_diversity[-1] > 0


def test_float32_draws_are_the_float32_sampler_cast():
    """draw_dtype=float32: every parameter equals the float32 N(0, 1) draw of the same seed, cast
    (exact); the default draws in the parameters' own dtype."""
    W, b = nk.normal_parameters([((3, 4), (3,))], seed=5, draw_dtype=torch.float32)
    g = torch.Generator().manual_seed(5)
    assert torch.equal(W[0], torch.randn(3, 4, generator=g, dtype=torch.float32).double())
    assert torch.equal(b[0], torch.randn(3, generator=g, dtype=torch.float32).double())
    W64, _ = nk.normal_parameters([((3, 4), (3,))], seed=5)
    g = torch.Generator().manual_seed(5)
    assert torch.equal(W64[0], torch.randn(3, 4, generator=g, dtype=torch.float64))
