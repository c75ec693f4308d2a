"""The finite deconvolutional generator and its empirical pixel NTK (the infinite-width side is in
ntklib.deconv.theory).

Network (NTK parametrisation, CONVENTIONS.md §1, with transposed convolutions).  A latent code x in
R^{n_0} is an image of one pixel with n_0 channels; layer l = 0..L-1 maps a^(l) (C_l channels,
S_l = s^l pixels per axis) to

    z^(l+1) = sqrt(1 - beta^2)/sqrt(C_l) * ConvTranspose_s(a^(l); W^(l)) + beta b^(l),
              W, b ~ N(0, 1)
    a^(l+1) = norm(sigma(z^(l+1))),   f(x) = z^(L)(x)   (n_out channels, s^L pixels per axis)

with stride s and filter size s (per axis, in `dim` = 1 or 2 dimensions), no padding.  Filter
size = stride makes the generator a tree: pixel q of layer l+1 has exactly ONE parent, q // s (per
axis), and is produced by the filter tap t = q mod s.  The fan-in of every pre-activation is C_l, so
each pixel, followed along its ancestors, is an FC network of depth L (same kernels Sigma^(l),
SigmaDot^(l)).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import (
    as_input_pair,
    check_beta,
    check_depth,
    check_hidden,
    check_network_inputs,
    check_positive_int,
)
from ..activations import get_activation
from ..networks import batch_norm, normal_parameters, ntk_layers
from .theory import _check_kernel_padding, _check_stride_dim, output_size

__all__ = ["DeconvGenerator", "empirical_pixel_ntk", "pixel_ntk_bias", "upsample_conv"]

GEN_NORMS = (None, "batch")


# ---- the finite generator ------------------------------------------------------------------------


def upsample_conv(a, W):
    """Transposed convolution with kernel = stride and no padding, as one tensor contraction.

    out[n, i, q s + k] = sum_j W[j, i, k] a[n, j, q] (per axis), which equals
    F.conv_transpose1d/2d(a, W, stride=s) but runs as a matrix product (torch's float64 CPU
    transposed convolution backward is ~100x slower at these sizes).  No scaling and no bias:
    DeconvGenerator adds those.

    Args:
        a: input (N, C_in, S) or (N, C_in, S, S).
        W: filters (C_in, C_out, s) or (C_in, C_out, s, s) (torch's conv_transpose layout); s is the
            stride and the filter size.
    Returns:
        tensor (N, C_out, S s) or (N, C_out, S s, S s).
    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
        >>> W = torch.randn(3, 5, 2, generator=g, dtype=torch.float64)
        >>> out = nk.deconv.upsample_conv(a, W)
        >>> out.shape
        torch.Size([2, 5, 8])
        >>> torch.allclose(out, torch.nn.functional.conv_transpose1d(a, W, stride=2))
        True
    """
    n, s = a.shape[0], W.shape[2]
    if a.ndim == 3:
        return torch.einsum("njq,jik->niqk", a, W).reshape(n, W.shape[1], a.shape[2] * s)
    out = torch.einsum("njqr,jikl->niqkrl", a, W)
    return out.reshape(n, W.shape[1], a.shape[2] * s, a.shape[3] * s)


class DeconvGenerator(nn.Module):
    """A deconvolutional generator in NTK parametrisation (module docstring), 1-D or 2-D.

        z^(l+1) = sqrt(1 - beta^2)/sqrt(C_l) ConvTranspose(a^(l); W^(l), stride=s, kernel=s)
                  + beta b^(l)
        a^(l+1) = norm(sigma(z^(l+1))),  f(x) = z^(L)(x),   W, b ~ N(0, 1)

    Args:
        n_in: latent dimension n_0 (the input is a 1-pixel image with n_0 channels).
        channels: hidden channels (an int, or the list [C_1, ..., C_{L-1}]).
        depth: number of transposed-convolution layers L >= 1; output size stride^L per axis.
        stride: s >= 2.  dim: 1 or 2.
        kernel_size: filter size per axis, a multiple of stride; None (default) means stride, so
            each pixel has one parent (a tree).  padding: in [0, kernel_size) (torch's ConvTranspose
            padding). Overlapping filters (e.g. DCGAN's kernel 4, stride 2, padding 1) scale the
            weights by sqrt(1 - beta^2)/sqrt(C_l (kernel_size/stride)^dim), the parents of an
            interior pixel.
        n_out: output channels.
        activation: a name, nk.normalized(...), nk.standardized(...), ... or a torch callable.
        beta: weight/bias balance in [0, 1].
        norm: None, or "batch" (each hidden channel standardised over the batch and all positions
            after its nonlinearity, no affine parameters; outputs then couple the batch).
        seed: seeds the N(0, 1) initialisation (drawn in float32, then cast: the wide generators of
            notebook 06 draw ~6e8 weights, and float64 draws are ~4.5x slower).
        dtype, device: of the parameters.
    Forward: (N, n_in) -> (N, n_out, S) for dim=1 or (N, n_out, S, S) for dim=2, S = stride^depth.
    Example:
        >>> g = nk.deconv.DeconvGenerator(8, 32, 3, stride=2, dim=2, seed=0)
        >>> g(torch.randn(5, 8, dtype=torch.float64)).shape
        torch.Size([5, 1, 8, 8])
    """

    def __init__(
        self,
        n_in,
        channels,
        depth,
        *,
        stride=2,
        dim=1,
        kernel_size=None,
        padding=0,
        n_out=1,
        activation="relu",
        beta=0.1,
        norm=None,
        seed=None,
        dtype=torch.float64,
        device=None,
    ):
        super().__init__()
        n_in = check_positive_int(n_in, "n_in")
        depth = check_depth(depth)
        n_out = check_positive_int(n_out, "n_out")
        self.stride, self.dim = _check_stride_dim(stride, dim)
        hidden = check_hidden(channels, depth, "channels", "channel counts")
        if norm not in GEN_NORMS:
            raise ValueError(f"norm: got {norm!r}; accepted: None or 'batch'")
        self.beta = check_beta(beta)
        self.activation = get_activation(activation)
        self.norm = norm
        self.depth = depth
        self.channels = [n_in, *hidden, n_out]
        self.kernel_size, self.padding, par = _check_kernel_padding(
            self.stride, kernel_size, padding
        )
        self._size = output_size(depth, self.stride, self.kernel_size, self.padding)
        k = (self.kernel_size,) * self.dim
        self.weights, self.biases = normal_parameters(
            [
                ((c_in, c_out, *k), (c_out,))
                for c_in, c_out in zip(self.channels[:-1], self.channels[1:])
            ],
            seed,
            dtype,
            device,
            draw_dtype=torch.float32,
        )
        self.scales = [
            math.sqrt(1.0 - self.beta**2) / math.sqrt(c * par**self.dim) for c in self.channels[:-1]
        ]

    @property
    def is_tree(self) -> bool:
        """kernel_size = stride and no padding: every pixel has one parent."""
        return self.kernel_size == self.stride and self.padding == 0

    def _linear(self, a, W):
        if self.is_tree:
            return upsample_conv(a, W)
        conv = F.conv_transpose1d if self.dim == 1 else F.conv_transpose2d
        return conv(a, W, stride=self.stride, padding=self.padding)

    @property
    def couples_batch(self) -> bool:
        return self.norm == "batch"

    @property
    def size(self) -> int:
        """Output pixels per axis (stride^depth for a tree; nk.deconv.output_size)."""
        return self._size

    @property
    def n_pixels(self) -> int:
        return self.size**self.dim

    @property
    def n_in(self):
        return self.channels[0]

    def _check(self, X):
        return check_network_inputs(
            X,
            self.n_in,
            self.weights[0],
            couples_batch=self.couples_batch,
            accepted=f"latent codes of shape (N, {self.n_in})",
        )

    def _normalise(self, a):
        return batch_norm(a) if self.norm == "batch" else a

    def layers(self, X):
        """Forward pass keeping each layer's input a^(l) and output z^(l+1) (l = 0..L-1), as
        images."""
        a = self._check(X).reshape(X.shape[0], -1, *(1,) * self.dim)
        biases = [b.reshape((1, -1) + (1,) * self.dim) for b in self.biases]
        return ntk_layers(
            a,
            self.weights,
            biases,
            self.scales,
            self.beta,
            self.activation,
            self._normalise,
            self._linear,
        )

    def forward(self, X):
        return self.layers(X)[1][-1]

    def extra_repr(self):
        return (
            f"channels={self.channels}, stride={self.stride}, kernel_size={self.kernel_size}, "
            f"padding={self.padding}, dim={self.dim}, "
            f"activation={self.activation.name}, beta={self.beta}, norm={self.norm}"
        )


# ---- empirical pixel NTK -------------------------------------------------------------------------


def _ancestry(depth, stride, dim):
    """anc[l]: (P,) flat index of each output pixel's ancestor at layer l = 0..L (layer 0: one
    pixel); tap[l]: (P,) flat filter tap that produced that ancestor (l = 1..L; tap[0] unused)."""
    S = stride**depth
    grids = torch.meshgrid(*[torch.arange(S)] * dim, indexing="ij")
    anc, tap = [], []
    for l in range(depth + 1):
        q = [g.reshape(-1) // stride ** (depth - l) for g in grids]  # ancestor coordinates
        S_l = stride**l
        a = q[0] if dim == 1 else q[0] * S_l + q[1]
        t = q[0] % stride if dim == 1 else (q[0] % stride) * stride + (q[1] % stride)
        anc.append(a)
        tap.append(t)
    return anc, tap


def _fast_pixel_ntk(gen: DeconvGenerator, X, Y):
    """Exact pixel NTK of a generator without batch coupling and one output channel, from its tree:

        Theta_{pp'} = sum_l [c_l^2 a^(l)_{anc(p)}(x).a^(l)_{anc(p')}(y)
                             1{tap_{l+1}(p) = tap_{l+1}(p')} + beta^2]
                             * delta^(l+1)_p(x).delta^(l+1)_{p'}(y)

    with delta^(l+1)_p = d f_p / d z^(l+1) at the ancestor of p (each pixel depends on a weight tap
    only through its one ancestor on that tap).
    """
    L, s, d = gen.depth, gen.stride, gen.dim
    anc, tap = _ancestry(L, s, d)
    anc, tap = [a.to(X.device) for a in anc], [t.to(X.device) for t in tap]

    def features(Z):
        inputs, preacts = gen.layers(Z)
        n = Z.shape[0]
        acts = [a.reshape(n, a.shape[1], -1) for a in inputs]  # (n, C_l, S_l^d)
        deltas = [None] * L  # deltas[l]: d f_p / d z^(l+1)
        delta = torch.ones(n, gen.n_pixels, 1, dtype=Z.dtype, device=Z.device)
        deltas[L - 1] = delta
        for l in range(L - 1, 0, -1):  # from z^(l+1) down to z^(l)
            W = gen.weights[l].reshape(
                gen.channels[l], gen.channels[l + 1], -1
            )  # (C_l, C_{l+1}, s^d)
            back = torch.empty(n, gen.n_pixels, gen.channels[l], dtype=Z.dtype, device=Z.device)
            for t in range(W.shape[2]):
                sel = tap[l + 1] == t
                back[:, sel] = gen.scales[l] * delta[:, sel] @ W[:, :, t].T
            z = (
                preacts[l - 1].reshape(n, gen.channels[l], -1)[:, :, anc[l]].transpose(1, 2)
            )  # (n, P, C_l)
            delta = back * gen.activation.deriv(z)
            deltas[l - 1] = delta
        return acts, deltas

    ax, dx = features(X)
    ay, dy = (ax, dx) if Y is None else features(Y)
    K = None
    for l in range(L):
        G = torch.einsum("ncs,mct->nmst", ax[l], ay[l]) * gen.scales[l] ** 2  # (N, M, S_l, S_l)
        G = G[:, :, anc[l]][:, :, :, anc[l]]
        same_tap = (tap[l + 1][:, None] == tap[l + 1][None, :]).to(G.dtype)
        term = (G * same_tap + gen.beta**2) * torch.einsum("npc,mqc->nmpq", dx[l], dy[l])
        K = term if K is None else K + term
    return K


def _generic_pixel_ntk(gen, X, Y):
    """J J^T over every output of the batch [X; Y] (all channels and pixels), one backward pass per
    row (on CPU a plain loop of small backward passes beats vmap-batched VJPs of transposed
    convolutions)."""
    Z = X if Y is None else torch.cat([X, Y])
    params = [q for q in gen.parameters() if q.requires_grad]
    with torch.enable_grad():
        out = gen(Z).reshape(-1)
        rows = []
        for i in range(out.shape[0]):
            g = torch.autograd.grad(
                out[i], params, retain_graph=i + 1 < out.shape[0], allow_unused=True
            )
            rows.append(
                torch.cat(
                    [
                        (torch.zeros_like(q) if gi is None else gi).reshape(-1)
                        for gi, q in zip(g, params)
                    ]
                )
            )
    J = torch.stack(rows)
    n = Z.shape[0]
    K = (J @ J.T).reshape(n, -1, n, out.shape[0] // n).permute(0, 2, 1, 3)  # (n, n, O, O)
    if Y is None:
        return K
    return K[: X.shape[0], X.shape[0] :]


def empirical_pixel_ntk(gen: DeconvGenerator, X, Y=None, *, fast=True):
    """Empirical pixel NTK Theta_hat_{p,p'}(x, y) = sum_theta d f_p(x)/d theta  d f_p'(y)/d theta.

    Args:
        gen: a DeconvGenerator (or any module mapping (N, n_0) to (N, channels, pixels...)).
        X: (N, n_0).  Y: (M, n_0); None means X.
        fast: use the exact tree formula (no Jacobian formed) when the generator is a tree
            (kernel = stride, no padding), has one output channel and no batch coupling; otherwise
            full Jacobians by vector-Jacobian products (memory: outputs of the batch x parameters).
            For BatchNorm generators the batch is [X; Y] (or X) and the kernel is that of the batch
            output.
    Returns:
        tensor (N, M, O, O) with O = n_out * P outputs per input (P for one channel), flattened
        row-major.
    Example:
        >>> gen = nk.deconv.DeconvGenerator(4, 16, 2, stride=2, dim=1, seed=0)
        >>> X = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> K = nk.deconv.empirical_pixel_ntk(gen, X)
        >>> K.shape                                          # 3 codes, 4 pixels
        torch.Size([3, 3, 4, 4])
        >>> torch.allclose(K, nk.deconv.empirical_pixel_ntk(gen, X,
        ...                                                 fast=False))   # tree formula = J J^T
        True
    """
    p = next(gen.parameters())
    X, Y = as_input_pair(X, Y, dtype=p.dtype, device=p.device)
    tree = isinstance(gen, DeconvGenerator) and gen.is_tree
    if fast and tree and not gen.couples_batch and gen.channels[-1] == 1:
        with torch.no_grad():
            return _fast_pixel_ntk(gen, X, Y)
    return _generic_pixel_ntk(gen, X, Y).detach()


# ---- the seed-mean of finite generators against the limit ----------------------------------------


def pixel_ntk_bias(X, theory, *, channels, seeds, depth, seed=0, device=None, **generator_kw):
    """Seed-mean test of finite generators against an infinite-width pixel NTK, in standard errors.

    For each of `seeds` DeconvGenerators (n_0 = X.shape[1], `channels` channels, `depth` layers,
    seeds seed + 100 j, the other options `generator_kw` as in DeconvGenerator) the statistic is
        s_j = mean_{x, p} Theta_hat_j,pp(x, x) / mean_{x, p} Theta_pp(x, x) - 1,
    the relative deviation of the pixel- and code-averaged NTK diagonal.  Over initialisations
    Theta_hat = Theta + a fluctuation O(C^(-1/2)) + a bias O(1/C), so mean_j s_j is 0 within its
    standard error when `theory` is the right limit, and a theory (1 + e) times too large moves it
    to -e / (1 + e).

    Args:
        X: latent codes (N, n_0).  theory: their pixel NTK (N, N, P, P), e.g. nk.deconv.deconv_ntk.
        channels, seeds, depth: width, number and depth of the finite generators.  seed: first
            seed.  device: where the generators run.  generator_kw: stride, dim, activation, beta,
            kernel_size, padding (as given to the theory).
    Returns:
        dict: "s" (seeds,) numpy array, "mean", "se" (standard error over seeds), "z" = mean / se.
    Example:
        >>> X = nk.data.sphere(2, 4, seed=0)
        >>> T = nk.deconv.deconv_ntk(X, depth=2, stride=2, dim=1, beta=0.3)
        >>> b = nk.deconv.pixel_ntk_bias(X, T, channels=64, seeds=3, depth=2, stride=2, dim=1,
        ...                              beta=0.3)
        >>> b["s"].shape, abs(b["z"]) < 10
        ((3,), True)
    """
    seeds = check_positive_int(seeds, "seeds")
    if seeds < 2:
        raise ValueError(f"seeds: got {seeds}; accepted: an integer >= 2 (a standard error)")
    theory = torch.as_tensor(theory, dtype=torch.float64)
    if theory.ndim != 4 or theory.shape[0] != theory.shape[1] or theory.shape[0] != len(X):
        raise ValueError(
            f"theory: got shape {tuple(theory.shape)}; accepted: (N, N, P, P) with N = {len(X)}"
        )

    def diag_mean(T):
        return torch.diagonal(torch.diagonal(T, dim1=0, dim2=1), dim1=0, dim2=1).mean()

    ref = float(diag_mean(theory))
    s = np.array(
        [
            float(
                diag_mean(
                    empirical_pixel_ntk(
                        DeconvGenerator(
                            X.shape[1],
                            channels,
                            depth,
                            seed=seed + 100 * j,
                            device=device,
                            **generator_kw,
                        ),
                        X,
                    ).cpu()
                )
            )
            / ref
            - 1.0
            for j in range(seeds)
        ]
    )
    mean, se = float(s.mean()), float(s.std(ddof=1) / math.sqrt(seeds))
    return {"s": s, "mean": mean, "se": se, "z": mean / se}
