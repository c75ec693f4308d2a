"""Small GANs for notebook 06: mode coverage on a ring of Gaussians, checkerboards on digits.

The question (Jacot, Gabriel, Hongler 2019b): a generator whose NTK is in the FREEZE
(Theta(x, y) ~ Theta(x, x) for all latent codes, and for pixels at offsets divisible by powers of
the stride) moves all its samples - and the pixels of each checkerboard class - together under any
gradient, so it tends to collapse to few modes and to checkerboard images; a CHAOTIC generator or
one with BatchNorm after its nonlinearities does not.  This module holds the numbers only (data,
models, training loops, metrics: toy.py and dcgan.py); the pictures are in ntklib.plotting.

* `ring_of_gaussians`, `mode_coverage`: the 8-Gaussians benchmark and its usual scores (a sample is
  good within 3 standard deviations of its nearest centre; a mode is covered when it holds at least
  `min_share` of the samples).
* `EnsembleMLP`: M independent fully connected networks evaluated at once (batched matrix products),
  in NTK parametrisation with balance beta and optional BatchNorm - one model per seed, trained in
  one loop.  Adam is elementwise, so training the sum of the M losses trains the M models
  independently.
* `CommonStart`: g_t = f_t - f_0 + h, the same generator (same gradients, same NTK) started from
  samples h(z) shared by all the generators compared, so that what differs comes from training.
* `train_toy_gan`: non-saturating GAN training of such ensembles, recording coverage over training
  and `shared_share`, the part of the samples' moves common to all of them.
* `digit_images`, `checkerboard_score`, `train_dcgan`: a DCGAN on scikit-learn's 8x8 digits
  upsampled to 16x16, and the share of an image's (non-constant) spectral power at the stride
  frequencies; `digit_coverage`, digit classes covered by samples close to a real digit.
"""

from .dcgan import (
    DCGANRecord,
    ImageDiscriminator,
    checkerboard_score,
    digit_coverage,
    digit_images,
    sample_diversity,
    train_dcgan,
)
from .toy import (
    CommonStart,
    EnsembleMLP,
    ToyGANRecord,
    mode_coverage,
    ring_centres,
    ring_of_gaussians,
    shared_share,
    train_toy_gan,
)

__all__ = [
    "ring_centres",
    "ring_of_gaussians",
    "mode_coverage",
    "shared_share",
    "EnsembleMLP",
    "CommonStart",
    "ToyGANRecord",
    "train_toy_gan",
    "digit_images",
    "digit_coverage",
    "checkerboard_score",
    "sample_diversity",
    "ImageDiscriminator",
    "DCGANRecord",
    "train_dcgan",
]
