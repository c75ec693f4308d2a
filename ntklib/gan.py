"""Small GANs for notebook 06: mode coverage on a ring of Gaussians, checkerboards on digits.

The question (Jacot, Gabriel, Hongler 2019b): a generator whose NTK is in the FREEZE
(Theta(x, y) ~ Theta(x, x) for all latent codes, and for pixels at offsets divisible by powers of the
stride) moves all its samples - and the pixels of each checkerboard class - together under any
gradient, so it tends to collapse to few modes and to checkerboard images; a CHAOTIC generator or one
with BatchNorm after its nonlinearities does not.  This module holds the numbers only (data, models,
training loops, metrics); the pictures are in ntklib.plotting.

* `ring_of_gaussians`, `mode_coverage`: the 8-Gaussians benchmark and its usual scores (a sample is
  good within 3 standard deviations of its nearest centre; a mode is covered when it holds at least
  `min_share` of the samples).
* `EnsembleMLP`: M independent fully connected networks evaluated at once (batched matrix products),
  in NTK parametrisation with balance beta and optional BatchNorm - one model per seed, trained in one
  loop.  Adam is elementwise, so training the sum of the M losses trains the M models independently.
* `train_toy_gan`: non-saturating GAN training of such ensembles, recording coverage over training.
* `digit_images`, `checkerboard_score`, `train_dcgan`: a DCGAN on scikit-learn's 8x8 digits upsampled
  to 16x16, and the share of an image's (non-constant) spectral power at the stride frequencies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ._checks import check_beta, check_depth, check_positive_int
from .devices import resolve_device
from .activations import get_activation
from .deconv import stride_frequencies
from .dynamics import quiet

__all__ = [
    "ring_centres",
    "ring_of_gaussians",
    "mode_coverage",
    "EnsembleMLP",
    "ToyGANRecord",
    "train_toy_gan",
    "digit_images",
    "checkerboard_score",
    "sample_diversity",
    "ImageDiscriminator",
    "DCGANRecord",
    "train_dcgan",
]

NORM_EPS = 1e-5


# ---- the ring of Gaussians ------------------------------------------------------------------------


def ring_centres(modes=8, radius=2.0, dtype=torch.float32):
    """The centres of the ring of Gaussians: c_k = radius (cos 2 pi k/modes, sin 2 pi k/modes), k = 0..modes-1.

    Args:
        modes: number of centres K.
        radius: radius of the ring.
        dtype: of the result (computed in float64).
    Returns:
        tensor (modes, 2).
    Example:
        >>> from ntklib import gan
        >>> c = gan.ring_centres(8, radius=2.0)
        >>> c.shape, c[0]
        (torch.Size([8, 2]), tensor([2., 0.]))
        >>> torch.allclose(c.norm(dim=1), torch.full((8,), 2.0))
        True
    """
    g = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
    return (radius * torch.stack([torch.cos(g), torch.sin(g)], 1)).to(dtype)


def ring_of_gaussians(n, *, modes=8, radius=2.0, std=0.05, generator=None, dtype=torch.float32):
    """n samples of the uniform mixture (1/K) sum_k N(c_k, std^2 I_2), c_k = ring_centres(K, radius).

    Args:
        n: number of samples.
        modes: number of mixture components K.  radius: radius of the ring of centres.
        std: standard deviation of each component.
        generator: a torch.Generator for reproducible draws (None: the global generator).
        dtype: of the samples.
    Returns:
        tensor (n, 2).
    Example:
        >>> from ntklib import gan
        >>> x = gan.ring_of_gaussians(1000, generator=torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([1000, 2])
        >>> int(gan.mode_coverage(x, gan.ring_centres(8), std=0.05)["covered"])   # all 8 modes
        8
    """
    c = ring_centres(modes, radius, dtype)
    k = torch.randint(modes, (n,), generator=generator)
    return c[k] + std * torch.randn(n, 2, generator=generator, dtype=dtype)


def mode_coverage(samples, centres, std, *, threshold=3.0, min_share=0.02):
    """Scores of generated samples against a Gaussian mixture with the given centres.

    Args:
        samples: (..., n, 2).  centres: (K, 2).  std: the mixture's standard deviation.
        threshold: a sample is good if it lies within threshold * std of its nearest centre.
        min_share: a mode is covered if at least this share of all samples are good samples of it.
    Returns:
        dict of tensors over the leading dims: "covered" (number of modes covered), "good" (share of good
        samples), "counts" (..., K) good samples per mode.
    Example:
        >>> from ntklib import gan
        >>> centres = gan.ring_centres(8)
        >>> collapsed = centres[:1].expand(100, 2)           # every sample on mode 0
        >>> score = gan.mode_coverage(collapsed, centres, std=0.05)
        >>> int(score["covered"]), float(score["good"])
        (1, 1.0)
    """
    d = torch.cdist(samples.to(centres.dtype), centres.expand(*samples.shape[:-2], *centres.shape))
    dist, nearest = d.min(-1)
    good = dist <= threshold * std
    K = centres.shape[0]
    counts = F.one_hot(nearest, K).mul(good[..., None]).sum(-2)
    n = samples.shape[-2]
    return {
        "covered": (counts >= min_share * n).sum(-1),
        "good": good.float().mean(-1),
        "counts": counts,
    }


# ---- ensembles of small MLPs ----------------------------------------------------------------------


class EnsembleMLP(nn.Module):
    """M independent fully connected networks in NTK parametrisation, evaluated at once.

        z^(l+1) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l) + beta b^(l),  a^(l+1) = norm(sigma(z^(l+1)))

    for each of the M members (its own W, b ~ N(0, 1)), f = z^(L).

    Args:
        n_models: number of members M.
        n_in: input dimension n_0.  width: hidden width.  depth: number of weight layers L >= 1.
        n_out: output dimension.
        activation: a name, nk.normalized(...), ... or a torch callable.
        beta: weight/bias balance in [0, 1].
        norm: None, or "batch" (each hidden unit standardised over the member's batch after its
            nonlinearity, no affine parameters, variance regularised by norm_eps).
        seed: seeds the N(0, 1) initialisation of all members (drawn on the CPU, then moved).
        dtype, device: of the parameters (device: None/"cpu", "cuda", "auto" as in `nk.resolve_device`).
        norm_eps: added to the batch variance when norm="batch".
    Forward: (M, n, n_in) -> (M, n, n_out)  (a (n, n_in) input is shared by all members).
    Example:
        >>> from ntklib import gan
        >>> G = gan.EnsembleMLP(3, 2, 16, 2, n_out=2, seed=0)
        >>> out = G(torch.zeros(5, 2))                         # one batch for all 3 members
        >>> out.shape
        torch.Size([3, 5, 2])
        >>> bool((out[0] != out[1]).any())                     # members are independent networks
        True
    """

    def __init__(
        self,
        n_models,
        n_in,
        width,
        depth,
        *,
        n_out=1,
        activation="relu",
        beta=0.1,
        norm=None,
        seed=0,
        dtype=torch.float32,
        norm_eps=NORM_EPS,
        device=None,
    ):
        super().__init__()
        self.n_models = check_positive_int(n_models, "n_models")
        depth = check_depth(depth)
        if norm not in (None, "batch"):
            raise ValueError(f"norm: got {norm!r}; accepted: None or 'batch'")
        self.beta = check_beta(beta)
        self.activation = get_activation(activation)
        self.norm = norm
        self.norm_eps = float(norm_eps)
        self.widths = [
            check_positive_int(n_in, "n_in"),
            *[check_positive_int(width, "width")] * (depth - 1),
            check_positive_int(n_out, "n_out"),
        ]
        gen = torch.Generator().manual_seed(int(seed))
        device = resolve_device(device)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(self.widths[:-1], self.widths[1:]):
            self.weights.append(
                nn.Parameter(torch.randn(n_models, a, b, generator=gen, dtype=dtype).to(device))
            )
            self.biases.append(
                nn.Parameter(torch.randn(n_models, 1, b, generator=gen, dtype=dtype).to(device))
            )
        self.scales = [math.sqrt(1.0 - self.beta**2) / math.sqrt(a) for a in self.widths[:-1]]

    def forward(self, x):
        x = x.to(self.weights[0].device)
        if x.ndim == 2:
            x = x.expand(self.n_models, *x.shape)
        a = x
        L = len(self.weights)
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = torch.baddbmm(b * self.beta, a, W, alpha=self.scales[l])
            if l == L - 1:
                return z
            a = self.activation(z)
            if self.norm == "batch":
                a = a - a.mean(1, keepdim=True)
                a = a / torch.sqrt((a * a).mean(1, keepdim=True) + self.norm_eps)
        return a


@dataclass
class ToyGANRecord:
    """What `train_toy_gan` recorded, per recorded step and ensemble member.

    Args:
        steps: (T,) the recorded training steps (0 = initialisation).
        covered: (T, M) modes covered (mode_coverage) by each member's n_eval samples.
        good: (T, M) share of good samples.
        samples: (M, n_eval, 2) samples at the end of training.
        initial: (M, n_eval, 2) samples at initialisation (same latent codes).
    Example:
        >>> from ntklib import gan
        >>> G = gan.EnsembleMLP(2, 2, 16, 2, n_out=2, seed=0)
        >>> D = gan.EnsembleMLP(2, 2, 16, 2, seed=1)
        >>> rec = gan.train_toy_gan(G, D, steps=4, batch=16, n_eval=50, record_every=2, progress=False)
        >>> rec.steps, rec.covered.shape, tuple(rec.samples.shape)
        (array([0, 2, 4]), (3, 2), (2, 50, 2))
    """

    steps: np.ndarray  # (T,)
    covered: np.ndarray  # (T, M) modes covered
    good: np.ndarray  # (T, M) share of good samples
    samples: torch.Tensor  # (M, n_eval, 2) samples at the end of training
    initial: torch.Tensor  # (M, n_eval, 2) samples at initialisation


def _generator_optimizer(generator, name, lr):
    if name == "adam":
        return torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
    if name == "sgd":
        return torch.optim.SGD(generator.parameters(), lr=lr)
    raise ValueError(
        f"optimizer_g: got {name!r}; accepted: 'adam' or 'sgd' (plain gradient descent)"
    )


def _bce_logits(logits, target):
    """Ensemble loss: summed over the members, averaged over each member's batch (axis 1)."""
    return (
        F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="sum")
        / logits.shape[1]
    )


def _bce_mean(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _gan_step(generator, discriminator, opt_g, opt_d, real, draw_z, loss):
    """One non-saturating GAN iteration: a discriminator step on `real` and on G(draw_z()) (no gradient
    to G), then a generator step on loss(D(G(draw_z())), 1).  loss(logits, target) is the BCE on logits."""
    with torch.no_grad():
        fake = generator(draw_z())
    loss_d = loss(discriminator(real), 1.0) + loss(discriminator(fake), 0.0)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    loss_g = loss(discriminator(generator(draw_z())), 1.0)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()


def train_toy_gan(
    generator: EnsembleMLP,
    discriminator: EnsembleMLP,
    *,
    steps,
    batch=256,
    lr_g=1e-3,
    lr_d=1e-3,
    optimizer_g="adam",
    latent_dim=None,
    modes=8,
    radius=2.0,
    std=0.05,
    n_eval=1000,
    record_every=100,
    seed=0,
    progress=None,
    desc="GAN",
) -> ToyGANRecord:
    """Non-saturating GAN training (Goodfellow et al. 2014) of M generator/discriminator pairs at once.

    Losses (member by member, summed over the M members, batch means; D returns logits):
        discriminator:  -log sigmoid(D(x_real)) - log(1 - sigmoid(D(G(z))))
        generator:      -log sigmoid(D(G(z)))             (non-saturating)
    Each step: one Adam step of the discriminators (betas (0.5, 0.999)) on fresh real and generated
    batches, then one step of the generators (Adam, or plain gradient descent with optimizer_g="sgd").
    Latent codes z ~ N(0, I_latent_dim).  Every `record_every` steps (and at the last) the generators
    draw n_eval samples from fixed latent codes, scored by `mode_coverage` (threshold 3 std, 2% per
    mode).  Deterministic given `seed` and the models' own seeds.  Trains on the models' device; data
    and codes are drawn on the CPU and moved, the record comes back on the CPU.

    Args:
        generator: EnsembleMLP with n_out = 2 (latent codes -> points in the plane).
        discriminator: EnsembleMLP with n_in = 2, n_out = 1 and the same number of members.
        steps: number of training steps.  batch: real and generated samples per member and step.
        lr_g, lr_d: learning rates of the generators and discriminators.
        optimizer_g: "adam" or "sgd" for the generators.
        latent_dim: dimension of z; None means the generator's input dimension.
        modes, radius, std: the ring of Gaussians (ring_of_gaussians).
        n_eval: samples per member for each recorded score.  record_every: steps between records.
        seed: seeds the data, the latent codes and the batches.
        progress: show a tqdm bar (None: unless nk.dynamics.quiet()).  desc: the bar's label.
    Returns:
        ToyGANRecord.
    Example:
        >>> from ntklib import gan
        >>> G = gan.EnsembleMLP(2, 2, 16, 2, n_out=2, seed=0)
        >>> D = gan.EnsembleMLP(2, 2, 16, 2, seed=1)
        >>> rec = gan.train_toy_gan(G, D, steps=3, batch=16, n_eval=50, record_every=2, progress=False)
        >>> rec.steps, rec.good.shape                          # recorded at 0, every 2, and the last step
        (array([0, 2, 3]), (3, 2))
    """
    steps = int(steps)
    M = generator.n_models
    if discriminator.n_models != M:
        raise ValueError(f"discriminator: has {discriminator.n_models} members, the generator {M}")
    latent_dim = generator.widths[0] if latent_dim is None else latent_dim
    dtype, dev = generator.weights[0].dtype, generator.weights[0].device
    g = torch.Generator().manual_seed(int(seed))
    z_eval = torch.randn(n_eval, latent_dim, generator=g, dtype=dtype).to(dev)
    centres = ring_centres(modes, radius, dtype)
    opt_g = _generator_optimizer(generator, optimizer_g, lr_g)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=(0.5, 0.999))
    rec_steps, covered, good = [], [], []

    def record(k):
        with torch.no_grad():
            s = generator(z_eval).cpu()
        cov = mode_coverage(s, centres, std)
        rec_steps.append(k)
        covered.append(cov["covered"].numpy())
        good.append(cov["good"].numpy())
        return s

    initial = record(0)
    show = (not quiet()) if progress is None else progress
    for k in tqdm(range(1, steps + 1), disable=not show, desc=desc, leave=False):
        real = (
            ring_of_gaussians(
                M * batch, modes=modes, radius=radius, std=std, generator=g, dtype=dtype
            )
            .reshape(M, batch, 2)
            .to(dev)
        )
        _gan_step(
            generator,
            discriminator,
            opt_g,
            opt_d,
            real,
            lambda: torch.randn(M, batch, latent_dim, generator=g, dtype=dtype).to(dev),
            _bce_logits,
        )
        if k % record_every == 0 or k == steps:
            last = record(k)
    if steps == 0:
        last = initial
    return ToyGANRecord(np.array(rec_steps), np.stack(covered), np.stack(good), last, initial)


# ---- DCGAN on digits ------------------------------------------------------------------------------


def digit_images(size=16):
    """scikit-learn's 1797 8x8 digits, bilinearly upsampled to size x size, scaled to [-1, 1].

    Pixel values v in {0..16} become 2 v/16 - 1 before the (bilinear, align_corners=False) upsampling.
    Needs scikit-learn (the [dev] extra).

    Args:
        size: pixels per axis of the returned images.
    Returns:
        float32 tensor (1797, 1, size, size).
    Example:
        >>> from ntklib import gan
        >>> x = gan.digit_images(16)
        >>> x.shape, float(x.min()), float(x.max())
        (torch.Size([1797, 1, 16, 16]), -1.0, 1.0)
    """
    from sklearn.datasets import load_digits  # optional dependency (the [dev] extra)

    X = torch.as_tensor(load_digits().images, dtype=torch.float32)[:, None] / 16.0
    X = F.interpolate(X, size=(size, size), mode="bilinear", align_corners=False)
    return X * 2.0 - 1.0


def checkerboard_score(images, stride=2):
    """Share of each image's non-constant spectral power at the stride frequencies (period-s patterns).

    Power |FFT|^2 at the non-zero frequencies with every coordinate a multiple of S/stride
    (nk.deconv.stride_frequencies), divided by the power at all non-zero frequencies.  A smooth image scores ~0;
    a pure checkerboard (-1)^(i+j) scores 1; white noise scores (stride^2 - 1)/(S^2 - 1) on average.

    Args:
        images: (..., S, S), S a multiple of stride.
        stride: the period s of the patterns.
    Returns:
        float64 tensor over the leading dims.
    Example:
        >>> from ntklib import gan
        >>> i = torch.arange(8)
        >>> board = (-1.0) ** (i[:, None] + i[None, :])
        >>> round(float(gan.checkerboard_score(board)), 6)
        1.0
        >>> ramp = i[:, None] + 0.0 * i[None, :]                 # smooth: no period-2 power
        >>> float(gan.checkerboard_score(ramp)) < 0.05
        True
    """
    S = images.shape[-1]
    P = torch.fft.fft2(images.to(torch.float64)).abs() ** 2
    mask = stride_frequencies(S, stride, 2).to(P.device)
    P = P.reshape(*P.shape[:-2], -1)
    total = P[..., 1:].sum(-1)
    return P[..., mask.reshape(-1)].sum(-1) / torch.clamp(total, min=1e-300)


class ImageDiscriminator(nn.Module):
    """A small MLP discriminator on flattened images (standard PyTorch parametrisation, LeakyReLU 0.2).

        Flatten -> Linear(size^2, width) -> LeakyReLU(0.2) -> Linear(width, width // 2) -> LeakyReLU(0.2)
                -> Linear(width // 2, 1)          (one logit per image)

    Args:
        size: pixels per axis of the (1-channel) images.
        width: width of the first hidden layer.
        seed: seeds the PyTorch default initialisation (the global generator is left untouched).
        device: of the parameters (None/"cpu", "cuda", "auto" as in `nk.resolve_device`).
    Forward: (N, 1, size, size) -> (N, 1), float32 parameters.
    Example:
        >>> from ntklib import gan
        >>> D = gan.ImageDiscriminator(size=8, width=32, seed=0)
        >>> D(torch.zeros(4, 1, 8, 8)).shape
        torch.Size([4, 1])
    """

    def __init__(self, size=16, width=256, seed=0, device=None):
        super().__init__()
        with torch.random.fork_rng(
            devices=[]
        ):  # nn.Linear draws from the global generator: seed a copy
            torch.manual_seed(int(seed))
            self.net = nn.Sequential(
                nn.Flatten(),
                nn.Linear(size * size, width),
                nn.LeakyReLU(0.2),
                nn.Linear(width, width // 2),
                nn.LeakyReLU(0.2),
                nn.Linear(width // 2, 1),
            )
        self.net.to(resolve_device(device))

    def forward(self, x):
        return self.net(x)


def sample_diversity(images):
    """Share of the pixel variance that is variation between samples:

        mean_p Var_samples(x_p) / Var_{samples, pixels}(x)   in [0, 1],

    0 for a generator that has collapsed to one image (whatever the image), ~1 for independent samples
    of a stationary image distribution; scale invariant.

    Args:
        images: (n, ...) n samples (e.g. (n, 1, S, S)).
    Returns:
        float.
    Example:
        >>> from ntklib import gan
        >>> x = torch.randn(100, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> round(gan.sample_diversity(x), 2)                    # independent noise
        0.99
        >>> gan.sample_diversity(x[:1].expand(100, 1, 8, 8))     # mode collapse
        0.0
    """
    x = images.to(torch.float64).reshape(images.shape[0], -1)
    total = x.var(unbiased=False)
    return float(x.var(0, unbiased=False).mean() / torch.clamp(total, min=1e-300))


@dataclass
class DCGANRecord:
    """What `train_dcgan` recorded, per recorded step.

    Args:
        steps: (T,) the recorded training steps (0 = initialisation).
        score: (T,) mean checkerboard_score of n_eval generated images (fixed latent codes).
        diversity: (T,) sample_diversity of the same images.
        samples: (n_show, 1, S, S) generated at the end from fixed codes.
        initial: (n_show, 1, S, S) generated at initialisation from the same codes.
    Example:
        >>> from ntklib import gan
        >>> G = nk.deconv.DeconvGenerator(8, 16, 3, stride=2, dim=2, dtype=torch.float32, seed=0)
        >>> D = gan.ImageDiscriminator(size=8, width=32, seed=0)
        >>> data = gan.digit_images(8)[:64]
        >>> rec = gan.train_dcgan(G, D, data, steps=2, batch=16, n_eval=32, n_show=4, progress=False)
        >>> rec.steps, rec.score.shape, tuple(rec.samples.shape)
        (array([0, 2]), (2,), (4, 1, 8, 8))
    """

    steps: np.ndarray  # (T,)
    score: np.ndarray  # (T,) mean checkerboard score of n_eval generated images
    diversity: np.ndarray  # (T,) sample_diversity of the same images
    samples: torch.Tensor  # (n_show, 1, S, S) generated at the end from fixed codes
    initial: torch.Tensor  # (n_show, 1, S, S) generated at initialisation from the same codes


def train_dcgan(
    generator,
    discriminator,
    data,
    *,
    steps,
    batch=64,
    lr_g=2e-4,
    lr_d=2e-4,
    optimizer_g="adam",
    stride=2,
    n_eval=256,
    n_show=16,
    record_every=50,
    seed=0,
    progress=None,
    desc="DCGAN",
) -> DCGANRecord:
    """Non-saturating GAN training of an image generator (e.g. nk.deconv.DeconvGenerator, dim=2, float32).

    Losses (batch means, D returns logits): discriminator -log sigmoid(D(x_real)) - log(1 - sigmoid(D(G(z)))),
    generator -log sigmoid(D(G(z))), z ~ N(0, I_n_in).
    Adam(betas=(0.5, 0.999)) for the discriminator; for the generator Adam too, or plain gradient
    descent (optimizer_g="sgd"), the dynamics the NTK describes.  One discriminator step then one
    generator step per iteration, real
    batches drawn from `data` (N, 1, S, S).  Every `record_every` steps (and at the last): mean
    checkerboard score and sample diversity of n_eval images from fixed latent codes.  Deterministic
    given `seed` and the models' own seeds.  Trains on the generator's device (the discriminator must
    be there too); codes and batch indices are drawn on the CPU, the record comes back on the CPU.

    Args:
        generator: module with attribute n_in, mapping (n, n_in) codes to (n, 1, S, S) images of
            data's dtype.
        discriminator: module mapping (n, 1, S, S) images to (n, 1) logits (e.g. ImageDiscriminator).
        data: real images (N, 1, S, S).
        steps: number of training steps.  batch: real and generated images per step.
        lr_g, lr_d: learning rates.  optimizer_g: "adam" or "sgd" for the generator.
        stride: period of the checkerboard_score.
        n_eval: images per recorded score.  n_show: images kept in the record.
        record_every: steps between records.
        seed: seeds the latent codes and the batches.
        progress: show a tqdm bar (None: unless nk.dynamics.quiet()).  desc: the bar's label.
    Returns:
        DCGANRecord.
    Example:
        >>> from ntklib import gan
        >>> G = nk.deconv.DeconvGenerator(8, 16, 3, stride=2, dim=2, dtype=torch.float32, seed=0)
        >>> D = gan.ImageDiscriminator(size=8, width=32, seed=0)
        >>> data = gan.digit_images(8)[:64]
        >>> rec = gan.train_dcgan(G, D, data, steps=3, batch=16, n_eval=32, n_show=4, record_every=2,
        ...                       progress=False)
        >>> rec.steps, tuple(rec.initial.shape)
        (array([0, 2, 3]), (4, 1, 8, 8))
    """
    steps = int(steps)
    dtype = data.dtype
    dev = next(generator.parameters()).device
    data = data.to(dev)
    latent_dim = generator.n_in
    g = torch.Generator().manual_seed(int(seed))
    z_eval = torch.randn(n_eval, latent_dim, generator=g, dtype=dtype).to(dev)
    opt_g = _generator_optimizer(generator, optimizer_g, lr_g)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=(0.5, 0.999))
    rec_steps, scores, diversity = [], [], []

    def record(k):
        with torch.no_grad():
            x = generator(z_eval).cpu()
        rec_steps.append(k)
        scores.append(float(checkerboard_score(x[:, 0], stride).mean()))
        diversity.append(sample_diversity(x))
        return x[:n_show].clone()

    initial = last = record(0)
    show = (not quiet()) if progress is None else progress
    for k in tqdm(range(1, steps + 1), disable=not show, desc=desc, leave=False):
        real = data[torch.randint(data.shape[0], (batch,), generator=g).to(dev)]
        _gan_step(
            generator,
            discriminator,
            opt_g,
            opt_d,
            real,
            lambda: torch.randn(batch, latent_dim, generator=g, dtype=dtype).to(dev),
            _bce_mean,
        )
        if k % record_every == 0 or k == steps:
            last = record(k)
    return DCGANRecord(np.array(rec_steps), np.array(scores), np.array(diversity), last, initial)
