"""Finite fully connected networks in NTK parametrisation (the finite side of kernels.py).

    a^(0) = x
    z^(l+1) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l) + beta b^(l),    W^(l), b^(l) ~ N(0, 1)
    a^(l+1) = norm(sigma(z^(l+1)))                                (norm: none, layer or batch)
    f(x) = z^(L)(x)

This is the slides' balanced form (CONVENTIONS.md §1).  parametrization="jacot2018" drops the
sqrt(1 - beta^2): z^(l+1) = W^(l) a^(l)/sqrt(n_l) + beta b^(l), the network of Jacot, Gabriel,
Hongler 2018, §2 (their definition of the preactivations alpha~^(l+1)).  As every hidden width
grows, f converges to a Gaussian process with covariance `nk.nngp` and its tangent kernel to
`nk.ntk` (without norms; the kernels take the same parametrization option).  With norm="layer" the
limit is the network with the normalised nonlinearity sigma_bar; with norm="batch" (statistics
over the batch, no affine parameters) the outputs couple the batch and
(1/N^2) sum_ij Theta(x_i, x_j) = beta^2 exactly (Jacot, Gabriel, Hongler 2019b, §4).  Two
PyTorch habits break that identity, and FCNet can reproduce both: norm_affine=True (the trained
scale and shift of torch.nn.BatchNorm1d's default affine=True) and running statistics in eval mode
(`FCNet.record_running_stats`, then `net.eval()`).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from ._checks import (
    as_inputs,
    check_beta,
    check_depth,
    check_hidden,
    check_network_inputs,
    check_positive_int,
    scalar,
)
from .activations import get_activation
from .devices import resolve_device

__all__ = ["FCNet", "NORMS", "sample_outputs", "normal_parameters"]

NORMS = (None, "layer", "batch")
NORM_EPS = 1e-12
# "balanced": z = sqrt(1 - beta^2)/sqrt(n) W a + beta b (the slides, CONVENTIONS.md §1);
# "jacot2018": z = W a/sqrt(n) + beta b (Jacot, Gabriel, Hongler 2018, §2).
PARAMETRIZATIONS = ("balanced", "jacot2018")


def check_parametrization(parametrization) -> str:
    if not isinstance(parametrization, str) or parametrization not in PARAMETRIZATIONS:
        raise ValueError(
            f"parametrization: got {parametrization!r}; accepted: 'balanced' "
            "(sqrt(1 - beta^2)/sqrt(n) W a + beta b, the slides) or 'jacot2018' "
            "(W a/sqrt(n) + beta b, Jacot et al. 2018)"
        )
    return parametrization


def weight_factor(beta, parametrization) -> float:
    """The factor c of the weights in z = c/sqrt(n_l) W a + beta b: sqrt(1 - beta^2) or 1."""
    if check_parametrization(parametrization) == "balanced":
        return math.sqrt(1.0 - beta * beta)
    return 1.0


def normal_parameters(shapes, seed=None, dtype=torch.float64, device=None, draw_dtype=None):
    """Weights and biases of an NTK-parametrised network, every entry N(0, 1).

    Args:
        shapes: a list of (weight shape, bias shape), one per layer.
        seed: seeds a private CPU generator; draws go W^(0), b^(0), W^(1), b^(1), ...
            (None: torch's global RNG).
        dtype, device: of the parameters (device: as in `nk.resolve_device`; the draws are made on
            the CPU and moved, so a seed gives the same parameters on every device).
        draw_dtype: the dtype the N(0, 1) draws are made in before the cast to dtype (None: dtype).
            torch.float32 draws are ~4.5x faster than float64 ones on the CPU; rounded to 24 bits
            (relative 6e-8) they are still N(0, 1) far below any statistical effect measured here.
    Returns:
        (weights, biases): two torch.nn.ParameterList.
    Example:
        >>> W, b = nk.normal_parameters([((3, 2), (3,))], seed=0)
        >>> tuple(W[0].shape), tuple(b[0].shape)
        ((3, 2), (3,))
    """
    device = resolve_device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed)) if seed is not None else None
    weights, biases = nn.ParameterList(), nn.ParameterList()
    draw = dtype if draw_dtype is None else draw_dtype
    for w_shape, b_shape in shapes:
        W = torch.randn(*w_shape, generator=gen, dtype=draw).to(dtype)
        b = torch.randn(*b_shape, generator=gen, dtype=draw).to(dtype)
        weights.append(nn.Parameter(W.to(device)))
        biases.append(nn.Parameter(b.to(device)))
    return weights, biases


def ntk_layers(a, weights, biases, scales, beta, activation, normalise, linear):
    """The NTK-parametrised forward pass shared by FCNet and the deconvolutional generator:
    z^(l+1) = c_l linear(a^(l), W^(l)) + beta b^(l),  a^(l+1) = normalise(sigma(z^(l+1))), no
    nonlinearity after the last layer.  Returns (inputs a^(l), outputs z^(l+1)) for l = 0..L-1."""
    inputs, preacts = [], []
    last = len(weights) - 1
    for l, (W, b) in enumerate(zip(weights, biases)):
        inputs.append(a)
        z = scales[l] * linear(a, W) + beta * b
        preacts.append(z)
        if l < last:
            a = normalise(activation(z))
    return inputs, preacts


def layer_norm(a):
    """Standardise each row over its features (no affine parameters)."""
    a = a - a.mean(-1, keepdim=True)
    return a / torch.sqrt((a * a).mean(-1, keepdim=True) + NORM_EPS)


def batch_norm(a):
    """Standardise each feature (axis 1) over the batch and any spatial axes (statistics of this
    batch, no affine parameters): (N, F) for FCNet, (N, C, *pixels) for the deconvolutional
    generator."""
    dims = (0,) + tuple(range(2, a.ndim))
    a = a - a.mean(dims, keepdim=True)
    return a / torch.sqrt((a * a).mean(dims, keepdim=True) + NORM_EPS)


class FCNet(nn.Module):
    """A fully connected network in NTK parametrisation with balance beta (CONVENTIONS.md §1).

        z^(l+1) = sqrt(1 - beta^2)/sqrt(n_l) W^(l) a^(l) + beta b^(l),  W, b ~ N(0, 1)
        a^(l+1) = norm(sigma(z^(l+1))),  f(x) = z^(L)(x)

    parametrization="jacot2018" is the network of Jacot, Gabriel, Hongler 2018 (§2, their
    definition of alpha~^(l+1); the network of their Fig. 1):
        z^(l+1) = W^(l) a^(l)/sqrt(n_l) + beta b^(l),  W, b ~ N(0, 1)   (no sqrt(1 - beta^2)),
    whose kernels are nk.nngp / nk.ntk with the same option (Sigma^(1) = x.y/n_0 + beta^2,
    Jacot et al. 2018, Prop. 1).  The two differ by O(beta^2): for ReLU, L = 4, beta = 0.1 and
    ||x||^2 = 1, n_0 = 2, Theta_inf(x, x) = 0.2723 (balanced) and 0.2825 (jacot2018).

    Args:
        n_in: input dimension n_0.
        width: hidden width (an int), or the list [n_1, ..., n_{L-1}] of the depth - 1 hidden
            widths.
        depth: number of weight layers L >= 1 (depth=1 is the linear model f(x) = c W x + beta b).
        n_out: output dimension n_L.
        activation: a name, nk.normalized(...), nk.scaled(...), or a torch callable.
        beta: weight/bias balance in [0, 1].
        norm: None, "layer" (each hidden layer's activations standardised over neurons) or
            "batch" (standardised over the batch, after every hidden nonlinearity; outputs couple
            the batch).
        norm_affine: with norm="batch" only: True adds torch.nn.BatchNorm1d's affine=True
            parameters, a^(l) = gamma^(l) * BN(sigma(z^(l))) + s^(l) per neuron, gamma = 1 and
            s = 0 at initialisation (torch's), trained like W and b and so part of the NTK
            (`norm_weights`, `norm_biases`).  Then the batch mean of the outputs moves with
            s^(L-1) and W^(L-1): (1/N^2) sum_ij Theta_ij = beta^2 + c^2 ||W^(L-1)||^2/n_{L-1} at
            initialisation, not beta^2.  False (default): no such parameters.
        parametrization: "balanced" (default: the weights carry sqrt(1 - beta^2)) or "jacot2018"
            (weight factor 1, bias factor beta).
        seed: seeds the N(0, 1) initialisation (a private generator; None uses torch's global one).
        dtype, device: of the parameters (float64 by default, for comparisons with theory; device:
            None (CPU), "cpu", "cuda", "auto", ... as in `nk.resolve_device`; the seeded draws are
            the same on every device).
    Forward: (N, n_in) -> (N, n_out).
    Example:
        >>> net = nk.FCNet(2, 512, 3, seed=0); net(torch.zeros(4, 2, dtype=torch.float64)).shape
        torch.Size([4, 1])
        >>> [round(c, 4) for c in nk.FCNet(2, 4, 2, beta=0.6, parametrization="jacot2018").scales]
        [0.7071, 0.5]
        >>> [round(c, 4) for c in nk.FCNet(2, 4, 2, beta=0.6).scales]   # times sqrt(1 - 0.36) = 0.8
        [0.5657, 0.4]
        >>> bn = nk.FCNet(2, 4, 3, norm="batch", norm_affine=True)
        >>> [tuple(g.shape) for g in bn.norm_weights], [float(s.sum()) for s in bn.norm_biases]
        ([(4,), (4,)], [0.0, 0.0])
    """

    def __init__(
        self,
        n_in,
        width,
        depth,
        *,
        n_out=1,
        activation="relu",
        beta=0.1,
        norm=None,
        norm_affine=False,
        parametrization="balanced",
        seed=None,
        dtype=torch.float64,
        device=None,
    ):
        super().__init__()
        n_in = check_positive_int(n_in, "n_in")
        depth = check_depth(depth)
        n_out = check_positive_int(n_out, "n_out")
        hidden = check_hidden(width, depth, "width", "widths")
        if norm not in NORMS:
            raise ValueError(f"norm: got {norm!r}; accepted: None, 'layer' or 'batch'")
        self.beta = check_beta(beta)
        self.parametrization = check_parametrization(parametrization)
        self.activation = get_activation(activation)
        self.norm = norm
        self.widths = [n_in, *hidden, n_out]
        self.depth = depth
        self.weights, self.biases = normal_parameters(
            [((n_next, n_l), (n_next,)) for n_l, n_next in zip(self.widths[:-1], self.widths[1:])],
            seed,
            dtype,
            device,
        )
        c = weight_factor(self.beta, self.parametrization)
        self.scales = [c / math.sqrt(n) for n in self.widths[:-1]]
        if not isinstance(norm_affine, bool):
            raise ValueError(f"norm_affine: got {norm_affine!r}; accepted: True or False")
        if norm_affine and norm != "batch":
            raise ValueError(
                f"norm_affine: got True with norm={norm!r}; accepted: True only with "
                "norm='batch' (torch.nn.BatchNorm1d's affine parameters)"
            )
        self.norm_affine = norm_affine
        if norm_affine:  # no random draws: the seeded W and b are those of norm_affine=False
            like = self.weights[0]
            self.norm_weights = nn.ParameterList(
                [nn.Parameter(torch.ones(n, dtype=like.dtype, device=like.device)) for n in hidden]
            )
            self.norm_biases = nn.ParameterList(
                [nn.Parameter(torch.zeros(n, dtype=like.dtype, device=like.device)) for n in hidden]
            )
        self.running_stats = False  # set by record_running_stats

    @property
    def couples_batch(self) -> bool:
        """True when an output depends on the other inputs of the batch (BatchNorm with the
        batch's own statistics; not in eval mode with recorded running statistics)."""
        return self.norm == "batch" and (self.training or not self.running_stats)

    @property
    def n_in(self):
        return self.widths[0]

    @property
    def n_out(self):
        return self.widths[-1]

    def _normalise(self, a, l):
        if self.norm == "layer":
            return layer_norm(a)
        if self.norm == "batch":
            if self.running_stats and not self.training:
                mean, var = (
                    self.get_buffer(f"running_mean_{l}"),
                    self.get_buffer(f"running_var_{l}"),
                )
                a = (a - mean) / torch.sqrt(var + NORM_EPS)
            else:
                a = batch_norm(a)
            if self.norm_affine:
                a = a * self.norm_weights[l] + self.norm_biases[l]
        return a

    def record_running_stats(self, X, momentum=0.1):
        """One update of the BatchNorm running statistics from the batch X, as a forward pass of
        torch.nn.BatchNorm1d in training mode does (norm="batch" only).

        For every hidden layer l (the pass itself normalises with the batch's statistics):
            running_mean_l <- (1 - momentum) running_mean_l + momentum mean_batch sigma(z^(l))
            running_var_l  <- (1 - momentum) running_var_l  + momentum var_batch sigma(z^(l)),
        the variance unbiased (N - 1), from mean 0 and variance 1 at the first call (torch's
        defaults).  In eval mode (`net.eval()`) the network then normalises with these buffers,
        a = (sigma(z) - running_mean)/sqrt(running_var + 1e-12): the outputs no longer couple
        the batch, and the statistics are constants, not functions of the parameters, so
        (1/N^2) sum_ij Theta_ij = beta^2 no longer holds (notebook 05).  Training mode is
        unchanged (batch statistics).  Not with norm_affine=True: nk.empirical_ntk's per-input
        FCNet path (used once the outputs no longer couple the batch) knows only W and b.

        Args:
            X: a batch of at least 2 inputs, shape (N, n_in).
            momentum: weight of this batch, in (0, 1] (1 stores its statistics; torch's default
                0.1).
        Returns:
            None (the buffers running_mean_l, running_var_l are updated in place).
        Example:
            >>> net = nk.FCNet(3, 8, 3, norm="batch", seed=0)
            >>> net.record_running_stats(nk.data.sphere(16, 3), momentum=1.0)
            >>> net.eval().couples_batch, net.train().couples_batch
            (False, True)
        """
        if self.norm != "batch" or self.norm_affine:
            raise ValueError(
                f"record_running_stats: got a network with norm={self.norm!r}, "
                f"norm_affine={self.norm_affine}; accepted: norm='batch', norm_affine=False"
            )
        m = scalar(momentum)
        if isinstance(m, bool) or not isinstance(m, numbers.Real) or not 0 < m <= 1:
            raise ValueError(f"momentum: got {momentum!r}; accepted: a number in (0, 1]")
        a = check_network_inputs(X, self.n_in, self.weights[0], couples_batch=True)
        with torch.no_grad():
            for l in range(self.depth - 1):
                h = self.activation(
                    self.scales[l] * (a @ self.weights[l].T) + self.beta * self.biases[l]
                )
                stats = {"mean": h.mean(0), "var": h.var(0, unbiased=True)}
                for key, value in stats.items():
                    name = f"running_{key}_{l}"
                    if not self.running_stats:
                        start = torch.zeros_like if key == "mean" else torch.ones_like
                        self.register_buffer(name, start(value))
                    buf = self.get_buffer(name)
                    buf.mul_(1 - float(m)).add_(float(m) * value)
                a = batch_norm(h)
        self.running_stats = True

    def _check(self, X):
        return check_network_inputs(X, self.n_in, self.weights[0], couples_batch=self.couples_batch)

    def layers(self, X):
        """Forward pass keeping, for each weight layer l = 0..L-1, its input a^(l) and output
        z^(l+1).

        Returns (inputs, preacts): lists of length depth; preacts[-1] is the output f(X).
        """
        layer = iter(range(self.depth))
        return ntk_layers(
            self._check(X),
            self.weights,
            self.biases,
            self.scales,
            self.beta,
            self.activation,
            lambda a: self._normalise(a, next(layer)),
            lambda a, W: a @ W.T,
        )

    def forward(self, X):
        return self.layers(X)[1][-1]

    def extra_repr(self):
        return (
            f"widths={self.widths}, activation={self.activation.name}, beta={self.beta}, "
            f"parametrization={self.parametrization}, norm={self.norm}"
            + (", norm_affine=True" if self.norm_affine else "")
        )


def sample_outputs(
    X,
    *,
    width,
    depth,
    n_samples,
    activation="relu",
    beta=0.1,
    seed=0,
    parametrization="balanced",
    dtype=torch.float64,
    device=None,
):
    """Outputs f(X) of `n_samples` independent FCNets (one output unit each), shape (n_samples, N).

    The same random function as `FCNet` (NTK parametrisation, W, b ~ N(0, 1)):
        z^(l+1) = c/sqrt(n_l) W^(l) a^(l) + beta b^(l),  c = sqrt(1 - beta^2) ("balanced") or 1
        ("jacot2018"),
    sampled layer by layer in function space: given a^(l) on the N inputs, the n_(l+1) neurons of
    z^(l+1) are independent N(0, K) vectors with K = c^2/n_l a^(l) a^(l)T + beta^2 (an N x N
    matrix), so each layer costs N x width normal draws instead of a width x width weight matrix
    (the same law, exactly; K is factored as R R^T by a QR decomposition of
    [c a^(l)/sqrt(n_l), beta 1]).  So tens of thousands of independent draws of the prior are
    cheap.  As the width grows each column approaches N(0, Sigma^(depth)(x, x)) and the rows a
    Gaussian vector with covariance nk.nngp(X, depth=depth) (with the same parametrization; Neal
    1996; Lee et al. 2018; Jacot, Gabriel, Hongler 2018, Prop. 1).

    Args:
        X: inputs, shape (N, n_0).
        width: hidden width n_1 = ... = n_{L-1}.  depth: number of weight layers L.
        n_samples: independent networks.  seed: seeds all of them (a private generator).
        activation, beta, parametrization, dtype: as in `FCNet`.
        device: where the products run (None: X's device; "cuda", "auto", ... as in
            `nk.resolve_device`).  The normal draws are made on the CPU in blocks and moved, so a
            seed gives the same samples on every device up to rounding.
    Returns:
        tensor of shape (n_samples, N), on that device.
    Example:
        >>> F = nk.sample_outputs(torch.eye(2, dtype=torch.float64), width=64, depth=2,
        ...                       n_samples=1000)
        >>> F.shape
        torch.Size([1000, 2])
    """
    draw = _sampler(
        X, width, depth, n_samples, activation, beta, seed, parametrization, dtype, device
    )
    return torch.cat([R @ draw(R.shape[0], R.shape[-1], 1) for R in draw.factors()])[..., 0]


class _sampler:
    """Blocks of networks sampled in function space: factors() yields, block by block, R (B, N, r)
    with R R^T the covariance of the last layer's preactivation given the hidden layers."""

    def __init__(
        self, X, width, depth, n_samples, activation, beta, seed, parametrization, dtype, device
    ):
        self.X = as_inputs(X, "X", dtype=dtype, device=device)
        self.width, self.depth = check_positive_int(width, "width"), check_depth(depth)
        self.n_samples = check_positive_int(n_samples, "n_samples")
        self.beta = check_beta(beta)
        self.c = weight_factor(self.beta, parametrization)
        self.act = get_activation(activation)
        self.gen = torch.Generator().manual_seed(int(seed))
        self.dtype = dtype

    def __call__(self, *shape):
        """Standard normals drawn on the CPU from the private generator, moved to X's device."""
        return torch.randn(*shape, generator=self.gen, dtype=self.dtype).to(self.X.device)

    def factors(self):
        N = self.X.shape[0]
        first = _layer_factor(self.X[None], self.c, self.beta)  # (1, N, r), all networks
        block = max(1, min(self.n_samples, 2**22 // (N * self.width)))
        for s in range(0, self.n_samples, block):
            B = min(block, self.n_samples - s)
            R = first.expand(B, -1, -1)
            for _ in range(self.depth - 1):
                z = R @ self(B, R.shape[-1], self.width)  # (B, N, width) ~ N(0, K)
                R = _layer_factor(self.act(z), self.c, self.beta)
            yield R


def _layer_factor(a, c, beta):
    """A factor R (B, N, r), r = min(N, n + 1), with R R^T = c^2/n a a^T + beta^2 for a (B, N, n):
    the covariance of the next layer's neurons given a.  [c a/sqrt(n), beta 1] itself when it has
    at most N columns, else the transpose of the R of its QR decomposition (an exact factor, no
    square roots of eigenvalues)."""
    n = a.shape[-1]
    A = torch.cat([a * (c / math.sqrt(n)), torch.full_like(a[..., :1], beta)], -1)
    if A.shape[-1] <= A.shape[-2]:
        return A
    return torch.linalg.qr(A.transpose(-1, -2), mode="r").R.transpose(-1, -2)
