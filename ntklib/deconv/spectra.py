"""Fourier and eigen views of pixel kernels (notebook 06): the stride frequencies, the share of a
kernel's spectral mass at them (the checkerboard share) and the top eigen-images."""

from __future__ import annotations

import torch

from .._checks import check_positive_int


__all__ = [
    "stride_frequencies",
    "fourier_mass",
    "checkerboard_share",
    "eigen_images",
]


# ---- Fourier and eigen views of pixel kernels ----------------------------------------------------


def stride_frequencies(size, stride=2, dim=1):
    """Boolean mask over the DFT grid (size,)*dim: the non-zero frequencies k with k_i multiple of
    size/stride on every axis - the patterns that repeat every `stride` pixels (checkerboards).

    There are stride^dim - 1 of them (k_i in {0, size/stride, ..., (stride-1) size/stride}, not
    all 0).

    Args:
        size: pixels per axis, a multiple of stride.
        stride: the period s.
        dim: 1 or 2.
    Returns:
        bool tensor of shape (size,) or (size, size), indexed like torch.fft.fftn's output.
    Example:
        >>> nk.deconv.stride_frequencies(8, 2, 1)
        tensor([False, False, False, False,  True, False, False, False])
        >>> int(nk.deconv.stride_frequencies(8, 2, 2).sum())         # (0, 4), (4, 0), (4, 4)
        3
    """
    size, stride = check_positive_int(size, "size"), check_positive_int(stride, "stride")
    if size % stride:
        raise ValueError(f"size: got {size}, not a multiple of stride={stride}")
    k = torch.arange(size)
    ok = (k * stride) % size == 0
    mask = ok if dim == 1 else ok[:, None] & ok[None, :]
    mask = mask.clone()
    mask[(0,) * dim] = False
    return mask


def fourier_mass(K, size, dim=1):
    """Kernel mass per spatial frequency: mass_k = u_k^* K u_k with u_k the unit Fourier mode k.

    u_k(p) = exp(2 pi i k.p / size) / sqrt(P).  The masses are real, sum to trace(K), and for a
    translation-invariant (circulant) kernel they are its eigenvalues.

    Args:
        K: pixel kernel(s) (..., P, P) with P = size^dim (pixels row-major).
        size: pixels per axis.
        dim: 1 or 2.
    Returns:
        float64 tensor (..., size) or (..., size, size), indexed like torch.fft.fftn's output.
    Example:
        >>> nk.deconv.fourier_mass(torch.eye(4, dtype=torch.float64), 4)  # white: equal mass
        tensor([1., 1., 1., 1.], dtype=torch.float64)
        >>> u = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
        >>> mass = nk.deconv.fourier_mass(u[:, None] * u[None, :], 4)            # period-2 pattern
        >>> int(mass.argmax()), round(float(mass.sum()), 6)                 # frequency 2, trace 4
        (2, 4.0)
    """
    K = torch.as_tensor(K)
    P = size**dim
    if K.shape[-1] != P or K.shape[-2] != P:
        raise ValueError(
            f"K: got shape {tuple(K.shape)}; accepted: (..., {P}, {P}) for size={size}, dim={dim}"
        )
    lead = K.shape[:-2]
    A = K.reshape(*lead, *(size,) * dim, *(size,) * dim).to(torch.complex128)
    nd = len(lead)
    left = tuple(range(nd, nd + dim))
    right = tuple(range(nd + dim, nd + 2 * dim))
    A = torch.fft.fftn(A, dim=left)  # sum_p e^{-i k p} ...
    A = torch.fft.ifftn(A, dim=right) * P  # ... e^{+i k' p'}
    A = A.reshape(*lead, P, P)
    return (torch.diagonal(A, dim1=-2, dim2=-1).real / P).reshape(*lead, *(size,) * dim)


def checkerboard_share(K, size, stride=2, dim=1):
    """Share of a pixel kernel's non-constant mass at the stride frequencies (period-s patterns):
    sum_{k in stride_frequencies} mass_k / sum_{k != 0} mass_k.  Compare with the uniform share
    (stride^dim - 1)/(size^dim - 1) of a kernel with no preferred pattern (the identity).

    Args:
        K: pixel kernel(s) (..., P, P) with P = size^dim.
        size: pixels per axis.  stride: the period s.  dim: 1 or 2.
    Returns:
        float64 tensor over the leading dims of K, in [0, 1] for a positive semi-definite K.
    Example:
        >>> round(float(nk.deconv.checkerboard_share(
        ...     torch.eye(8, dtype=torch.float64), 8)), 4)   # 1/7
        0.1429
        >>> K = nk.deconv.deconv_ntk([[1.0, -1.0]], depth=3, stride=2)[0, 0]     # 8 pixels
        >>> round(float(nk.deconv.checkerboard_share(K, 8)), 4)
        0.2244
    """
    mass = fourier_mass(K, size, dim)
    mask = stride_frequencies(size, stride, dim).to(mass.device)
    flat = mass.reshape(*mass.shape[: mass.ndim - dim], -1)
    m = mask.reshape(-1)
    nonconst = flat[..., 1:].sum(-1)
    return flat[..., m].sum(-1) / nonconst


def eigen_images(K, size, dim=1, k=4):
    """Top-k eigenvalues and eigenvectors of a symmetric (P, P) pixel kernel, vectors as images.

    The NTK PCA of pixels: K (symmetrised as (K + K^T)/2) = sum_j lambda_j v_j v_j^T,
    lambda_1 >= ...; the sign of each vector is fixed so that its largest-magnitude entry is
    positive (deterministic pictures).

    Args:
        K: pixel kernel (P, P), P = size^dim (pixels row-major), e.g.
            nk.deconv.deconv_ntk(...)[i, i].
        size: pixels per axis.  dim: 1 or 2.
        k: how many eigenpairs.
    Returns:
        (eigenvalues, float64 (k,), largest first; unit eigenvectors as images, (k, size) or
        (k, size, size)).
    Example:
        >>> K = nk.deconv.deconv_ntk([[1.0, -1.0]], depth=2, stride=2,  # 4 x 4 images
        ...                          dim=2)[0, 0]
        >>> lam, images = nk.deconv.eigen_images(K, 4, dim=2, k=3)
        >>> images.shape
        torch.Size([3, 4, 4])
        >>> bool(lam[0] >= lam[1] >= lam[2])
        True
    """
    K = torch.as_tensor(K, dtype=torch.float64)
    lam, V = torch.linalg.eigh((K + K.T) / 2)
    lam, V = lam.flip(0)[:k], V.flip(1)[:, :k].T
    idx = V.abs().argmax(1)
    V = V * torch.sign(V[torch.arange(V.shape[0], device=V.device), idx])[:, None]
    return lam, V.reshape(-1, *(size,) * dim)
