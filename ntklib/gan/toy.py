"""The toy GAN of notebook 06: an ensemble of small MLP generators and discriminators trained on a
ring of Gaussians, and the mode-coverage scores (the package docstring of ntklib.gan tells the
question)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .._checks import check_beta, check_depth, check_positive_int
from ..devices import resolve_device
from ..activations import get_activation
from ..dynamics import quiet

__all__ = [
    "ring_centres",
    "ring_of_gaussians",
    "mode_coverage",
    "shared_share",
    "EnsembleMLP",
    "CommonStart",
    "ToyGANRecord",
    "train_toy_gan",
]

NORM_EPS = 1e-5


# ---- the ring of Gaussians -----------------------------------------------------------------------


def ring_centres(modes=8, radius=2.0, dtype=torch.float32):
    """The centres of the ring of Gaussians: c_k = radius (cos 2 pi k/modes, sin 2 pi k/modes),
    k = 0..modes-1.

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
    """n samples of the uniform mixture (1/K) sum_k N(c_k, std^2 I_2),
    c_k = ring_centres(K, radius).

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
        dict of tensors over the leading dims: "covered" (number of modes covered), "good" (share of
        good samples), "counts" (..., K) good samples per mode.
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


def shared_share(increments):
    """Share of the squared size of increments that is common to all samples:

        |mean_i d_i|^2 / mean_i |d_i|^2   in [0, 1],   d_i = f_t(z_i) - f_0(z_i),

    1 when training moved every sample by the same vector (a translation of the whole sample
    cloud), ~1/n for independent moves.  A generator whose NTK over latent codes is nearly constant,
    Theta(z, z') ~ Theta(z, z) (the freeze), moves its samples together under gradient descent
    (Jacot, Gabriel, Hongler 2019b, the seed slides' "mode collapse").

    Args:
        increments: (..., n, d) the moves of n samples (a leading ensemble axis is kept).
    Returns:
        float64 tensor over the leading dims; NaN where every increment is zero.
    Example:
        >>> from ntklib import gan
        >>> d = torch.tensor([[1.0, 2.0]]).expand(50, 2)                # one common move
        >>> float(gan.shared_share(d))
        1.0
        >>> float(gan.shared_share(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])))   # opposite moves
        0.0
    """
    d = increments.to(torch.float64)
    common = d.mean(-2).pow(2).sum(-1)
    total = d.pow(2).sum(-1).mean(-1)
    return torch.where(total > 0, common / torch.where(total > 0, total, 1.0), torch.nan)


# ---- ensembles of small MLPs ---------------------------------------------------------------------


class EnsembleMLP(nn.Module):
    """M independent fully connected networks in NTK parametrisation, evaluated at once.

        z^(l+1) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l) + beta b^(l),
        a^(l+1) = norm(sigma(z^(l+1)))

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
        dtype, device: of the parameters (device: None/"cpu", "cuda", "auto" as in
            `nk.resolve_device`).
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

    @property
    def n_in(self):
        return self.widths[0]

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


class CommonStart(nn.Module):
    """A generator moved to a common starting point:

        g_t(z) = f_t(z) - f_0(z) + h(z),

    f_t the wrapped generator (its parameters are this module's and are trained), f_0 a frozen copy
    of it taken at wrapping time, h a fixed map of the codes (None: 0).  f_0 and h do not depend on
    the parameters, so g has f's gradients and f's tangent kernel: trained, g follows the same
    dynamics as f, while generators with different kernels (freeze, chaos, BatchNorm) all start from
    the same samples h(z).  What is measured then comes from training alone, not from where each
    generator's own random initialisation put its samples.

    Args:
        generator: a module mapping latent codes to samples (EnsembleMLP, DeconvGenerator, ...).
        start: h, a callable on the codes returning tensors broadcastable with the generator's
            output (e.g. lambda z: z[..., :2], the first two coordinates); None for h = 0.
    Attributes n_in (and n_models, for ensembles) are the wrapped generator's.
    Example:
        >>> from ntklib import gan
        >>> G = gan.CommonStart(gan.EnsembleMLP(2, 4, 16, 2, n_out=2, seed=0), lambda z: z[..., :2])
        >>> z = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
        >>> torch.equal(G(z), z[:, :2].expand(2, 5, 2))            # starts at h(z) exactly
        True
        >>> [p.numel() for p in G.parameters()] == [p.numel() for p in G.generator.parameters()]
        True
    """

    def __init__(self, generator, start=None):
        super().__init__()
        if start is not None and not callable(start):
            raise TypeError(f"start: got {type(start).__name__}; accepted: a callable or None (0)")
        self.generator = generator
        # a tuple, so that the frozen copy's parameters are not this module's
        self._initial = (copy.deepcopy(generator).requires_grad_(False),)
        self.start = start
        self.n_in = generator.n_in
        if hasattr(generator, "n_models"):
            self.n_models = generator.n_models

    def forward(self, z):
        with torch.no_grad():
            f0 = self._initial[0](z)
        out = self.generator(z) - f0
        return out if self.start is None else out + self.start(z)


@dataclass
class ToyGANRecord:
    """What `train_toy_gan` recorded, per recorded step and ensemble member.

    Args:
        steps: (T,) the recorded training steps (0 = initialisation).
        covered: (T, M) modes covered (mode_coverage) by each member's n_eval samples.
        good: (T, M) share of good samples.
        shared: (T, M) shared_share of the moves f_t(z) - f_0(z) of the n_eval samples since
            initialisation (NaN at step 0).
        samples: (M, n_eval, 2) samples at the end of training.
        initial: (M, n_eval, 2) samples at initialisation (same latent codes).
    Example:
        >>> from ntklib import gan
        >>> G = gan.EnsembleMLP(2, 2, 16, 2, n_out=2, seed=0)
        >>> D = gan.EnsembleMLP(2, 2, 16, 2, seed=1)
        >>> rec = gan.train_toy_gan(G, D, steps=4, batch=16, n_eval=50, record_every=2,
        ...                         progress=False)
        >>> rec.steps, rec.covered.shape, tuple(rec.samples.shape)
        (array([0, 2, 4]), (3, 2), (2, 50, 2))
    """

    steps: np.ndarray  # (T,)
    covered: np.ndarray  # (T, M) modes covered
    good: np.ndarray  # (T, M) share of good samples
    shared: np.ndarray  # (T, M) shared_share of the moves since initialisation
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
    """One non-saturating GAN iteration: a discriminator step on `real` and on G(draw_z()) (no
    gradient to G), then a generator step on loss(D(G(draw_z())), 1).  loss(logits, target) is the
    BCE on logits."""
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
    generator,
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
    """Non-saturating GAN training (Goodfellow et al. 2014) of M generator/discriminator pairs at
    once.

    Losses (member by member, summed over the M members, batch means; D returns logits):
        discriminator:  -log sigmoid(D(x_real)) - log(1 - sigmoid(D(G(z))))
        generator:      -log sigmoid(D(G(z)))             (non-saturating)
    Each step: one Adam step of the discriminators (betas (0.5, 0.999)) on fresh real and generated
    batches, then one step of the generators (Adam, or plain gradient descent with
    optimizer_g="sgd").  Latent codes z ~ N(0, I_latent_dim).  Every `record_every` steps (and at
    the last) the generators draw n_eval samples from fixed latent codes, scored by `mode_coverage`
    (threshold 3 std, 2% per mode) and by the `shared_share` of their moves since step 0.
    Deterministic given `seed` and the models' own seeds.  Trains on the models' device; data and
    codes are drawn on the CPU and moved, the record comes back on the CPU.

    Args:
        generator: EnsembleMLP with n_out = 2 (latent codes -> points in the plane), or a
            CommonStart around one.
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
        >>> rec = gan.train_toy_gan(G, D, steps=3, batch=16, n_eval=50, record_every=2,
        ...                         progress=False)
        >>> rec.steps, rec.good.shape  # recorded at 0, every 2, and the last step
        (array([0, 2, 3]), (3, 2))
    """
    steps = int(steps)
    M = generator.n_models
    if discriminator.n_models != M:
        raise ValueError(f"discriminator: has {discriminator.n_models} members, the generator {M}")
    latent_dim = generator.n_in if latent_dim is None else latent_dim
    first = next(generator.parameters())
    dtype, dev = first.dtype, first.device
    g = torch.Generator().manual_seed(int(seed))
    z_eval = torch.randn(n_eval, latent_dim, generator=g, dtype=dtype).to(dev)
    centres = ring_centres(modes, radius, dtype)
    opt_g = _generator_optimizer(generator, optimizer_g, lr_g)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=(0.5, 0.999))
    rec_steps, covered, good, shared = [], [], [], []
    initial = None

    def record(k):
        with torch.no_grad():
            s = generator(z_eval).cpu()
        cov = mode_coverage(s, centres, std)
        rec_steps.append(k)
        covered.append(cov["covered"].numpy())
        good.append(cov["good"].numpy())
        moves = s - (s if initial is None else initial)
        shared.append(shared_share(moves.expand(M, *moves.shape[-2:])).numpy())
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
    return ToyGANRecord(
        np.array(rec_steps), np.stack(covered), np.stack(good), np.stack(shared), last, initial
    )
