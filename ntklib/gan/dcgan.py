"""The DCGAN of notebook 06: deconvolutional generators on scikit-learn's digits, an image
discriminator, the checkerboard score and sample diversity (the package docstring of ntklib.gan
tells the question)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..devices import resolve_device
from ..deconv import stride_frequencies
from ..dynamics import quiet

from .toy import _bce_mean, _gan_step, _generator_optimizer

__all__ = [
    "digit_images",
    "digit_coverage",
    "checkerboard_score",
    "sample_diversity",
    "ImageDiscriminator",
    "DCGANRecord",
    "train_dcgan",
]

# ---- DCGAN on digits -----------------------------------------------------------------------------


def digit_images(size=16, *, return_labels=False):
    """scikit-learn's 1797 8x8 digits, bilinearly upsampled to size x size, scaled to [-1, 1].

    Pixel values v in {0..16} become 2 v/16 - 1 before the (bilinear, align_corners=False)
    upsampling.  Needs scikit-learn (the [dev] extra).

    Args:
        size: pixels per axis of the returned images.
        return_labels: also return the digits' classes.
    Returns:
        float32 tensor (1797, 1, size, size); with return_labels, (images, int64 labels (1797,)).
    Example:
        >>> from ntklib import gan
        >>> x = gan.digit_images(16)
        >>> x.shape, float(x.min()), float(x.max())
        (torch.Size([1797, 1, 16, 16]), -1.0, 1.0)
    """
    from sklearn.datasets import load_digits  # optional dependency (the [dev] extra)

    digits = load_digits()
    X = torch.as_tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    X = F.interpolate(X, size=(size, size), mode="bilinear", align_corners=False) * 2.0 - 1.0
    return (X, torch.as_tensor(digits.target, dtype=torch.int64)) if return_labels else X


def digit_coverage(samples, reference, labels, *, quantile=0.95, min_share=0.02):
    """Mode coverage of generated digits with a quality threshold (the image analogue of
    `mode_coverage`): a sample is *good* when its nearest reference digit (Euclidean distance over
    pixels) is no farther than the `quantile` of the reference digits' own nearest-neighbour
    distances (each to the others); a class is *covered* when at least `min_share` of the samples
    are good and nearest to a digit of that class.  Noise and blurred averages are far from every
    digit and are rejected; a generator that draws one digit covers one class.

    Args:
        samples: (n, ...) generated images, each of the reference's shape.
        reference: (R, ...) real images.  labels: (R,) their classes (0..K-1).
        quantile: of the reference's leave-one-out nearest-neighbour distances, the threshold.
        min_share: share of the n samples a class needs to be covered.
    Returns:
        dict: "good" (share of good samples, float), "covered" (classes covered, int), "counts"
        (K,) good samples per class, "threshold" (the distance, float).
    Example:
        >>> from ntklib import gan
        >>> x, y = gan.digit_images(8, return_labels=True)
        >>> gan.digit_coverage(x[1500:], x[:1500], y[:1500])["covered"]     # held-out real digits
        10
        >>> noise = torch.randn(200, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> gan.digit_coverage(noise, x[:1500], y[:1500])["good"]
        0.0
    """
    R = reference.to(torch.float64).reshape(reference.shape[0], -1)
    S = samples.to(torch.float64).reshape(samples.shape[0], -1)
    if S.shape[1] != R.shape[1]:
        raise ValueError(
            f"samples: images of {S.shape[1]} pixels; accepted: the reference's {R.shape[1]}"
        )
    own = torch.cdist(R, R)
    own.fill_diagonal_(torch.inf)
    threshold = float(torch.quantile(own.min(1).values, quantile))
    dist, nearest = torch.cdist(S, R).min(1)
    good = dist <= threshold
    K = int(labels.max()) + 1
    counts = torch.bincount(labels[nearest][good], minlength=K)
    return {
        "good": float(good.double().mean()),
        "covered": int((counts >= min_share * S.shape[0]).sum()),
        "counts": counts,
        "threshold": threshold,
    }


def checkerboard_score(images, stride=2):
    """Share of each image's non-constant spectral power at the stride frequencies (period-s
    patterns).

    Power |FFT|^2 at the non-zero frequencies with every coordinate a multiple of S/stride
    (nk.deconv.stride_frequencies), divided by the power at all non-zero frequencies.  A smooth
    image scores ~0; a pure checkerboard (-1)^(i+j) scores 1; white noise scores
    (stride^2 - 1)/(S^2 - 1) on average.

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
    """A small MLP discriminator on flattened images (standard PyTorch parametrisation, LeakyReLU
    0.2).

        Flatten -> Linear(size^2, width) -> LeakyReLU(0.2)
                -> Linear(width, width // 2) -> LeakyReLU(0.2)
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

    0 for a generator that has collapsed to one image (whatever the image), ~1 for independent
    samples of a stationary image distribution; scale invariant.

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
        increment_score, increment_diversity: (T,) the same two scores of the moves
            x_t(z) - x_0(z) since initialisation (what training added; NaN at step 0).
        samples: (n_show, 1, S, S) generated at the end from fixed codes.
        initial: (n_show, 1, S, S) generated at initialisation from the same codes.
    Example:
        >>> from ntklib import gan
        >>> G = nk.deconv.DeconvGenerator(8, 16, 3, stride=2, dim=2, dtype=torch.float32, seed=0)
        >>> D = gan.ImageDiscriminator(size=8, width=32, seed=0)
        >>> data = gan.digit_images(8)[:64]
        >>> rec = gan.train_dcgan(G, D, data, steps=2, batch=16, n_eval=32, n_show=4,
        ...                       progress=False)
        >>> rec.steps, rec.score.shape, tuple(rec.samples.shape)
        (array([0, 2]), (2,), (4, 1, 8, 8))
    """

    steps: np.ndarray  # (T,)
    score: np.ndarray  # (T,) mean checkerboard score of n_eval generated images
    diversity: np.ndarray  # (T,) sample_diversity of the same images
    increment_score: np.ndarray  # (T,) checkerboard score of x_t - x_0
    increment_diversity: np.ndarray  # (T,) sample_diversity of x_t - x_0
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
    """Non-saturating GAN training of an image generator (e.g. nk.deconv.DeconvGenerator, dim=2,
    float32).

    Losses (batch means, D returns logits): discriminator
    -log sigmoid(D(x_real)) - log(1 - sigmoid(D(G(z)))), generator -log sigmoid(D(G(z))),
    z ~ N(0, I_n_in).
    Adam(betas=(0.5, 0.999)) for the discriminator; for the generator Adam too, or plain gradient
    descent (optimizer_g="sgd"), the dynamics the NTK describes.  One discriminator step then one
    generator step per iteration, real
    batches drawn from `data` (N, 1, S, S).  Every `record_every` steps (and at the last): mean
    checkerboard score and sample diversity of n_eval images from fixed latent codes.  Deterministic
    given `seed` and the models' own seeds.  Trains on the generator's device (the discriminator
    must be there too); codes and batch indices are drawn on the CPU, the record comes back on the
    CPU.

    Args:
        generator: module with attribute n_in, mapping (n, n_in) codes to (n, 1, S, S) images of
            data's dtype.
        discriminator: module mapping (n, 1, S, S) images to (n, 1) logits (e.g.
            ImageDiscriminator).
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
        >>> rec = gan.train_dcgan(G, D, data, steps=3, batch=16, n_eval=32, n_show=4,
        ...                       record_every=2, progress=False)
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
    rec_steps, scores, diversity, inc_scores, inc_diversity = [], [], [], [], []
    x0 = None

    def record(k):
        with torch.no_grad():
            x = generator(z_eval).cpu()
        rec_steps.append(k)
        scores.append(float(checkerboard_score(x[:, 0], stride).mean()))
        diversity.append(sample_diversity(x))
        if x0 is None:
            inc_scores.append(np.nan)
            inc_diversity.append(np.nan)
        else:
            inc_scores.append(float(checkerboard_score(x[:, 0] - x0[:, 0], stride).mean()))
            inc_diversity.append(sample_diversity(x - x0))
        return x

    x0 = record(0)
    initial = last = x0[:n_show].clone()
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
            last = record(k)[:n_show].clone()
    return DCGANRecord(
        np.array(rec_steps),
        np.array(scores),
        np.array(diversity),
        np.array(inc_scores),
        np.array(inc_diversity),
        last,
        initial,
    )
