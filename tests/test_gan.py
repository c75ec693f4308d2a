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
