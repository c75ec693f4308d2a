"""Deconvolutional generators (notebook 06): the finite network, its infinite-width pixel NTK and
the checkerboard theorem, with Fourier and eigen views of pixel kernels.

    nk.deconv.deconv_ntk(X, depth=L, stride=2, dim=2,
                         activation=..., beta=...)                      # (N, M, P, P) pixel NTK
    nk.deconv.DeconvGenerator(n_in, channels, depth, stride=2, dim=2)   # the finite generator
    nk.deconv.empirical_pixel_ntk(gen, X)                               # its pixel NTK
    nk.deconv.checkerboard_upper_bound(r, v, depth)                     # the theorem's bounds

theory.py holds the infinite-width side (the derivation is its module docstring), spectra.py the
Fourier and eigen views of pixel kernels, generator.py the finite generator.  The toy and DCGAN
experiments are in ntklib.gan; the pictures in ntklib.plotting.deconv.
"""

from .generator import DeconvGenerator, empirical_pixel_ntk, pixel_ntk_bias, upsample_conv
from .spectra import checkerboard_share, eigen_images, fourier_mass, stride_frequencies
from .theory import (
    checkerboard_lower_bound,
    checkerboard_upper_bound,
    checkerboard_v,
    deconv_ntk,
    deconv_ntk_levels,
    fit_c1,
    output_size,
    pixel_levels,
)

__all__ = [
    "DeconvGenerator",
    "deconv_ntk",
    "deconv_ntk_levels",
    "pixel_levels",
    "checkerboard_v",
    "empirical_pixel_ntk",
    "pixel_ntk_bias",
    "checkerboard_upper_bound",
    "checkerboard_lower_bound",
    "fit_c1",
    "stride_frequencies",
    "fourier_mass",
    "checkerboard_share",
    "eigen_images",
    "upsample_conv",
    "output_size",
]
