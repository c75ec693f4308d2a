"""The experiments of Tensor Programs IIb on five architectures (notebook 07): the empirical NTK of
each finite network (ntklib.architectures.networks, .transformer) converges to its infinite-width
NTK (ntklib.architectures.kernels, .transformer) as the width grows, its seed-mean has no bias
beyond its standard error (`ntk_bias`), and SGD follows kernel gradient descent with that fixed
kernel while the empirical kernel itself barely moves (Yang and Littwin 2021, Thm. 2.2;
`sgd_vs_kernel`).  `architecture(name)` puts each network, its kernel and its inputs behind one
interface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from ..devices import resolve_device
from ..dynamics import quiet
from ..stats import relative_error
from .kernels import DTYPE, attention_ntk, batchnorm_ntk, resnet_ntk, rnn_ntk
from .networks import RNN, AttentionBlock, BatchNormMLP, ResNet, batch_ntk, layerwise_ntk
from .transformer import Transformer, transformer_ntk

__all__ = [
    "Architecture",
    "architecture",
    "ARCHITECTURE_NAMES",
    "sequences",
    "regression_targets",
    "ntk_deviation",
    "ntk_bias",
    "NTKBias",
    "sqrt_width_flatness",
    "parameter_share",
    "geometric_slope",
]


# ---- architectures as one interface --------------------------------------------------------------

ARCHITECTURE_NAMES = ("RNN", "ResNet", "Attention", "BatchNorm MLP", "Transformer")


def sequences(n, n_steps, dim, *, seed=0):
    """n input sequences of n_steps tokens in R^dim, each token on the sphere |x_t|^2 = dim.

    Args:
        n: number of sequences.  n_steps: tokens per sequence T.  dim: token dimension.  seed: of
            the draw.
    Returns:
        float64 tensor (n, T, dim) (use [:, 0] of n_steps=1 for points on a sphere).
    Example:
        >>> X = nk.architectures.sequences(2, 4, 3); X.shape, round(float(X[0, 0].norm() ** 2), 6)
        (torch.Size([2, 4, 3]), 3.0)
    """
    g = torch.Generator().manual_seed(int(seed))
    X = torch.randn(n, n_steps, dim, generator=g, dtype=DTYPE)
    return X / X.norm(dim=-1, keepdim=True) * math.sqrt(dim)


def regression_targets(X, *, seed=0):
    """A smooth scalar target of the inputs (sequences are averaged over tokens first):
    y = sin(2 w.xbar) + 0.5 cos(w'.xbar), w, w' ~ N(0, I/d) fixed by seed; values of order 1.

    Args:
        X: inputs (N, d) or sequences (N, T, d).  seed: fixes w, w'.
    Returns:
        float64 tensor (N,).
    Example:
        >>> nk.architectures.regression_targets(nk.architectures.sequences(5, 4, 3)).shape
        torch.Size([5])
    """
    X = torch.as_tensor(X).to(DTYPE)
    xbar = X.mean(1) if X.ndim == 3 else X
    g = torch.Generator().manual_seed(int(seed) + 7919)
    w = torch.randn(2, xbar.shape[1], generator=g, dtype=DTYPE) / math.sqrt(xbar.shape[1])
    return torch.sin(2 * xbar @ w[0]) + 0.5 * torch.cos(xbar @ w[1])


@dataclass
class Architecture:
    """One architecture of the notebook: its finite network, its infinite-width NTK, its inputs.

    network(width, seed, parametrization) -> torch module on `device`;  ntk(X, Y=None,
    parametrization="ntk") -> infinite-width NTK (on the CPU; "standard": the kernel that standard
    parametrisation follows with step lr/width);  empirical_ntk(net, X) -> exact finite-width NTK
    (batch NTK when `coupled`), on the network's device;  inputs(n, seed) -> X (on the CPU).

    Args:
        name: one of ARCHITECTURE_NAMES.  options: keyword arguments for both the network and its
        NTK (e.g. {"query_key": "independent"} for the transformer).
        n_in: input / token dimension.  n_steps: sequence length (RNN, attention, transformer).
        n_blocks: ResNet and transformer blocks.  depth: BatchNorm MLP weight layers.  n_samples:
        its Sobol points per scramble.
        device: where the networks live and the sweeps (`ntk_deviation`, `parameter_share`,
        `sgd_vs_kernel`) and the BatchNorm quasi-Monte Carlo run (None: CPU; "cuda", "auto", ... as
        in `nk.resolve_device`).
    Example:
        >>> a = nk.architectures.architecture("ResNet"); X = a.inputs(4)
        >>> a.empirical_ntk(a.network(64), X).shape == a.ntk(X).shape
        True
    """

    name: str
    options: dict = field(default_factory=dict)
    n_in: int = 3
    n_steps: int = 4
    n_blocks: int = 2
    depth: int = 3
    n_samples: int = 2**15
    device: object = None

    def __post_init__(self):
        self.device = resolve_device(self.device)

    @property
    def coupled(self) -> bool:
        """Whether the outputs couple the batch (BatchNorm: the NTK is that of the batch output)."""
        return self.name == "BatchNorm MLP"

    @property
    def sequential(self) -> bool:
        return self.name in ("RNN", "Attention", "Transformer")

    def inputs(self, n, seed=0):
        if self.sequential:
            return sequences(n, self.n_steps, self.n_in, seed=seed)
        return sequences(n, 1, self.n_in, seed=seed)[:, 0]

    def network(self, width, seed=0, parametrization="ntk"):
        o = dict(self.options, seed=seed, parametrization=parametrization, device=self.device)
        if self.name == "RNN":
            return RNN(self.n_in, width, **o)
        if self.name == "ResNet":
            return ResNet(self.n_in, width, self.n_blocks, **o)
        if self.name == "Attention":
            return AttentionBlock(self.n_in, width, **o)
        if self.name == "Transformer":
            return Transformer(self.n_in, width, self.n_blocks, **o)
        return BatchNormMLP(self.n_in, width, self.depth, **o)

    def ntk(self, X, Y=None, parametrization="ntk"):
        o = dict(self.options, parametrization=parametrization)
        if self.name == "RNN":
            return rnn_ntk(X, Y, **o)
        if self.name == "ResNet":
            return resnet_ntk(X, Y, n_blocks=self.n_blocks, **o)
        if self.name == "Attention":
            return attention_ntk(X, Y, **o)
        if self.name == "Transformer":
            return transformer_ntk(X, Y, n_blocks=self.n_blocks, **o)
        if Y is not None:
            raise ValueError("Y: the BatchNorm NTK is a batch kernel; pass the whole batch as X")
        return batchnorm_ntk(
            X, depth=self.depth, n_samples=self.n_samples, device=self.device, **o
        ).cpu()

    def ntk_error(self, X, parametrization="ntk"):
        """Standard error of each entry of `ntk(X)` from its numerical method: the quasi-Monte
        Carlo of the BatchNorm MLP (`batchnorm_ntk`), None for the exact recursions."""
        if not self.coupled:
            return None
        o = dict(self.options, parametrization=parametrization)
        return batchnorm_ntk(
            X,
            depth=self.depth,
            n_samples=self.n_samples,
            device=self.device,
            return_error=True,
            **o,
        )[1].cpu()

    def empirical_ntk(self, net, X):
        return batch_ntk(net, X) if self.coupled else layerwise_ntk(net, X)


def architecture(name, **kwargs) -> Architecture:
    """An `Architecture` by name.

    Args:
        name: "RNN", "ResNet", "Attention", "BatchNorm MLP" or "Transformer".
        kwargs: n_in (default 3; 12 for BatchNorm), n_steps, n_blocks, depth, n_samples, device
            (where the networks and sweeps run: None/"cpu", "cuda", "auto"), and `options` (keyword
            arguments passed to both the network and its infinite-width NTK, e.g.
            {"readout": "last"} for the RNN).
    Returns:
        Architecture.
    Example:
        >>> nk.architectures.architecture("RNN", options={"readout": "last"}).network(16)
        RNN(n_in=3, width=16, activation=erf, readout=last, tied=True, parametrization=ntk)
    """
    if name not in ARCHITECTURE_NAMES:
        raise ValueError(f"name: got {name!r}; accepted: {ARCHITECTURE_NAMES}")
    if name == "BatchNorm MLP":
        kwargs.setdefault(
            "n_in", 12
        )  # the batch must span >= 5 dimensions (see nk.architectures.BatchNormMLP)
    return Architecture(name, **kwargs)


# ---- experiment 1: empirical NTK -> infinite-width NTK -------------------------------------------


def ntk_deviation(
    arch: Architecture,
    X,
    widths,
    seeds,
    *,
    theta=None,
    references=None,
    share_of=None,
    progress=None,
):
    """Relative Frobenius deviation ||Theta_hat - Theta||_F / ||Theta||_F of the empirical NTK of
    `arch.network(width, seed)` from the infinite-width NTK, for every width and seed (Tensor
    Programs II, Fig. 1).  references: optional {label: other kernel}; the same empirical NTKs are
    compared with each (e.g. a wrong recursion, which should not be approached).  share_of: optional
    parameter names whose joint share ||sum of their NTK contributions||_F / ||Theta_hat||_F is
    recorded too (tap-based architectures only).

    Returns dict(widths (W,), deviation (W, S), theta, reference_deviation {label: (W, S)},
    share (W, S) or None).

    Args:
        arch: an `Architecture`.  X: its inputs (the batch for BatchNorm).  widths: widths to sweep.
        seeds: seeds per width (network seed = seed + 7919 * width index).  theta: the
        infinite-width NTK (computed when None).  progress: tqdm bar (default: unless quiet()).
    Example:
        >>> a = nk.architectures.architecture("ResNet")
        >>> r = nk.architectures.ntk_deviation(a, a.inputs(4), [32, 64], range(2), progress=False)
        >>> r["deviation"].shape
        (2, 2)
    """
    theta = arch.ntk(X) if theta is None else theta
    references = references or {}
    show = (not quiet()) if progress is None else progress
    dev = np.zeros((len(widths), len(seeds)))
    ref = {k: np.zeros_like(dev) for k in references}
    share = None if share_of is None else np.zeros_like(dev)
    for i, w in enumerate(tqdm(widths, disable=not show, desc=f"{arch.name} widths", leave=False)):
        for j, s in enumerate(seeds):
            net = arch.network(int(w), seed=int(s) + 7919 * i)  # on arch.device
            if share_of is None:
                K = arch.empirical_ntk(net, X)
            else:
                K, parts = layerwise_ntk(net, X, by_parameter=True)
                share[i, j] = float(
                    torch.linalg.norm(sum(parts[n] for n in share_of)) / torch.linalg.norm(K)
                )
            dev[i, j] = relative_error(K, theta)
            for k, R in references.items():
                ref[k][i, j] = relative_error(K, R)
            del net
    return {
        "widths": np.asarray(widths),
        "deviation": dev,
        "theta": theta,
        "reference_deviation": ref,
        "share": share,
    }


def ntk_bias(arch: Architecture, X, width, seeds, *, theta=None, theta_se=None, progress=None):
    """Seed-mean bias of the empirical NTK of `arch.network(width, seed)` against the
    infinite-width NTK, in standard errors (Tensor Programs II: E[Theta_hat] -> Theta).

    The empirical NTK fluctuates by O(n^(-1/2)) around a mean that differs from the limit by O(1/n).
    Averaged over S seeds the fluctuation falls to O((n S)^(-1/2)) while the bias stays, so the
    seed-mean is the measurement that separates a wrong kernel from finite-width noise:

        scale: s_j = <Theta_hat_j - Theta, Theta>/<Theta, Theta> per seed, z_scale = mean(s) / SE
        entries: z(x, y) = (mean_j Theta_hat_j(x, y) - Theta(x, y)) / SE(x, y), max over x <= y

    A kernel wrong by a factor 1 + e moves the scale by -e/(1 + e) and every entry by e Theta.
    theta_se (the quasi-Monte-Carlo error of the BatchNorm kernel) is added in quadrature, and to
    the scale as sum |Theta| theta_se / <Theta, Theta> (a bound: the entries' errors correlate).
    Cost ~ S networks; the standard error shrinks like (n S)^(-1/2) while a network costs ~ n^2,
    so a moderate width with many seeds measures the bias most cheaply (while the O(1/n) bias
    stays below the standard error).

    Args:
        arch: an `Architecture`.  X: its inputs (the batch for BatchNorm).  width: n.  seeds: the
        network seeds (used as given).  theta: the infinite-width NTK (computed when None).
        theta_se: its per-entry standard error (`Architecture.ntk_error` when None and theta is
        None).  progress: tqdm bar (default: unless quiet()).
    Returns:
        NTKBias.
    Example:
        >>> a = nk.architectures.architecture("ResNet"); X = a.inputs(4)
        >>> b = nk.architectures.ntk_bias(a, X, 64, range(8), progress=False)
        >>> b.z.shape, b.n_seeds
        (torch.Size([4, 4]), 8)
    """
    if theta is None:
        theta, theta_se = arch.ntk(X), arch.ntk_error(X)
    theta = torch.as_tensor(theta, dtype=DTYPE).cpu()
    show = (not quiet()) if progress is None else progress
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(
            f"seeds: got {len(seeds)}; accepted: at least 2 (a standard error needs them)"
        )
    Ks = torch.stack(
        [
            arch.empirical_ntk(arch.network(int(width), seed=int(s)), X).detach().to(DTYPE).cpu()
            for s in tqdm(seeds, disable=not show, desc=f"{arch.name} bias", leave=False)
        ]
    )
    S, norm2 = len(seeds), float((theta * theta).sum())
    proj = ((Ks - theta) * theta).sum((1, 2)) / norm2
    scale_se = float(proj.std()) / math.sqrt(S)
    se = Ks.std(0) / math.sqrt(S)
    if theta_se is not None:
        theta_se = torch.as_tensor(theta_se, dtype=DTYPE).cpu()
        se = torch.sqrt(se**2 + theta_se**2)
        scale_se = math.hypot(scale_se, float((theta.abs() * theta_se).sum()) / norm2)
    mean = Ks.mean(0)
    z = (mean - theta) / se
    iu = torch.triu_indices(*z.shape)
    return NTKBias(
        int(width),
        S,
        float(proj.mean()),
        scale_se,
        float(proj.mean()) / scale_se,
        z,
        float(z[iu[0], iu[1]].abs().max()),
        mean,
        se,
    )


@dataclass
class NTKBias:
    """Result of `ntk_bias`: the seed-mean bias of the empirical NTK at one width, in standard
    errors.

    Args:
        width, n_seeds: of the measurement.  scale, scale_se, z_scale: the seed-mean relative
        projection <Theta_hat - Theta, Theta>/<Theta, Theta>, its standard error and their ratio.
        z: (N, N) entry z-scores.  max_z: max |z| over the entries x <= y.  mean, se: the seed-mean
        empirical NTK and its per-entry standard error (theory error included).
    Example:
        >>> a = nk.architectures.architecture("RNN"); X = a.inputs(3)
        >>> b = nk.architectures.ntk_bias(a, X, 32, range(4), progress=False)
        >>> b.mean.shape == b.se.shape == b.z.shape
        True
    """

    width: int
    n_seeds: int
    scale: float
    scale_se: float
    z_scale: float
    z: torch.Tensor
    max_z: float
    mean: torch.Tensor
    se: torch.Tensor


def sqrt_width_flatness(widths, deviation):
    """Is deviation x sqrt(width) flat?  c_w = mean over seeds of dev x sqrt(w), its standard error,
    and the chi-square of the c_w about their inverse-variance-weighted mean (W - 1 degrees of
    freedom): an O(n^(-1/2)) deviation keeps c_w constant up to its standard error.

    Args:
        widths: (W,).  deviation: (W, S) values (e.g. `ntk_deviation(...)["deviation"]`).
    Returns:
        dict(c (W,), se (W,), mean, chi2, dof, p) with p the chi-square tail probability.
    Example:
        >>> r = nk.architectures.sqrt_width_flatness([1, 4], [[1.0, 1.2], [0.5, 0.6]])
        >>> r["c"].round(3).tolist(), r["dof"]
        ([1.1, 1.1], 1)
    """
    from scipy.stats import chi2 as chi2_dist

    v = np.asarray(deviation, dtype=float)
    root = np.sqrt(np.asarray(widths, dtype=float))
    c = v.mean(1) * root
    se = v.std(1, ddof=1) / math.sqrt(v.shape[1]) * root
    w = 1.0 / se**2
    mean = float((w * c).sum() / w.sum())
    chi2 = float((((c - mean) / se) ** 2).sum())
    dof = len(c) - 1
    return {
        "c": c,
        "se": se,
        "mean": mean,
        "chi2": chi2,
        "dof": dof,
        "p": float(chi2_dist.sf(chi2, dof)),
    }


def parameter_share(arch: Architecture, X, widths, seeds, names):
    """||sum of the named parameters' NTK contributions||_F / ||Theta_hat||_F for every width and
    seed (e.g. names=("Wq", "Wk") for the attention block: O(1/n) with the 1/n query-key scaling).

    Args:
        arch: an `Architecture` built from RNN, ResNet or AttentionBlock.  X: inputs.  widths,
        seeds: as in `ntk_deviation`.  names: parameter names of the network (e.g. "Wq", "W", "U").
    Returns:
        numpy array (W, S).
    Example:
        >>> a = nk.architectures.architecture("Attention"); X = a.inputs(3)
        >>> nk.architectures.parameter_share(a, X, [32], range(1), ("Wq", "Wk")).shape
        (1, 1)
    """
    out = np.zeros((len(widths), len(seeds)))
    for i, w in enumerate(widths):
        for j, s in enumerate(seeds):
            K, parts = layerwise_ntk(
                arch.network(int(w), seed=int(s) + 7919 * i), X, by_parameter=True
            )
            out[i, j] = float(
                torch.linalg.norm(sum(parts[n] for n in names)) / torch.linalg.norm(K)
            )
    return out


def geometric_slope(widths, values, *, return_se=False):
    """Log-log slope fitted to every (width, seed) value at once, and the geometric mean per width.

    values: (W, S).  Fitting all log-values is the same as fitting the per-width means of the logs
    (equal seeds per width), so the slope is that of the geometric-mean curve; logs tame the heavy
    right tail of a few unlucky seeds better than arithmetic means do.  Its standard error (from
    the seeds' scatter at each width: Var m_w = s_w^2 / S for the mean log m_w) is
    sqrt(sum_w (l_w - lbar)^2 s_w^2 / S) / sum_w (l_w - lbar)^2, l_w = log w.

    Args:
        widths: (W,) positive.  values: (W, S) positive (S >= 2 for the standard error).
        return_se: also return the slope's standard error.
    Returns:
        (slope, geometric mean per width (W,)), and the standard error when return_se.
    Example:
        >>> round(nk.architectures.geometric_slope([1, 4], [[1.0, 1.0], [0.5, 0.5]])[0], 12)
        -0.5
    """
    v = np.asarray(values, dtype=float)
    w = np.repeat(np.asarray(widths, dtype=float), v.shape[1])
    slope, _ = np.polyfit(np.log(w), np.log(v.ravel()), 1)
    if not return_se:
        return float(slope), np.exp(np.log(v).mean(1))
    lw = np.log(np.asarray(widths, dtype=float))
    dl = lw - lw.mean()
    var_m = np.log(v).var(1, ddof=1) / v.shape[1]
    se = float(np.sqrt((dl**2 * var_m).sum()) / (dl**2).sum())
    return float(slope), np.exp(np.log(v).mean(1)), se
