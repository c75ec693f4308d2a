"""Finite networks beyond the MLP, in NTK parametrisation: a simple RNN, a residual MLP, a single
attention block with LayerNorm and an MLP with BatchNorm (the finite side of kernels.py; the
transformer, network and kernel, is in transformer.py).

Every weight matrix W (fan-in F) and bias b is a parameter with N(0, 1) entries, used through a
fixed multiplier:

    NTK parametrisation ("ntk"):        W_eff = (s / sqrt(F)) W,   b_eff = s_b b,   W, b ~ N(0, 1)
    standard parametrisation ("standard"): the parameter *is* W_eff, drawn N(0, s^2 / F)
                                           (multiplier 1)

Both give the same function at initialisation (same seed, same draws); they differ in their
gradients: SGD with step eta on a standard-parametrised tensor moves it like NTK-parametrised SGD
with step eta * F / s^2 (so the hidden layers' effective step grows with the width).

Each model records, when asked, the input A and the output Z of every affine map it applies
("taps"), so that `layerwise_ntk` gets the exact empirical NTK from one backward pass without
forming a Jacobian: for a weight used as Z = m A W^T (possibly at several time steps or tokens s),

    Theta_W(x, y) = m^2 sum_{s, s'} [dF/dZ_s(x) . dF/dZ_s'(y)] [A_s(x) . A_s'(y)]

(the sum over s, s' is what weight sharing across time or tokens does), and m^2 sum dF/dZ . dF/dZ
for a bias.  `nk.empirical_ntk` (torch.func) gives the same numbers and is the reference in the
tests; this path is needed at widths 2^12 - 2^13, where a Jacobian row of an n x n matrix no longer
fits.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from torch import nn

from .._checks import check_positive_int
from ..devices import resolve_device
from ..activations import get_activation
from ..networks import FCNet

__all__ = [
    "RNN",
    "ResNet",
    "AttentionBlock",
    "BatchNormMLP",
    "PARAMETRIZATIONS",
    "layerwise_ntk",
    "batch_ntk",
]

PARAMETRIZATIONS = ("ntk", "standard")
LN_EPS = 1e-12


def _check_param(p):
    if p not in PARAMETRIZATIONS:
        raise ValueError(f"parametrization: got {p!r}; accepted: 'ntk' or 'standard'")
    return p


def _check_scale(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
        raise ValueError(f"{name}: got {v!r}; accepted: a number >= 0")
    return float(v)


def layer_norm(a):
    """Standardise over the last (feature) axis: (a - mean) / sqrt(mean((a - mean)^2) + eps), no
    affine."""
    a = a - a.mean(-1, keepdim=True)
    return a / torch.sqrt((a * a).mean(-1, keepdim=True) + LN_EPS)


class _TPNet(nn.Module):
    """Shared machinery: parameters with multipliers, affine maps with taps, scalar outputs."""

    couples_batch = False

    def __init__(self, parametrization, seed, dtype, device):
        super().__init__()
        self.parametrization = _check_param(parametrization)
        self._gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self._dtype, self._device = dtype, resolve_device(device)
        self.mult = {}  # name -> multiplier used in the forward pass
        self.ntk_mult = {}  # name -> multiplier of the NTK parametrisation (s / sqrt(F) or s_b)
        self._taps = None

    def _new(self, name, shape, m):
        """A parameter with N(0, 1) draws; its NTK multiplier is m.

        The draws are made in float32 and stored in the model's dtype (float64 by default): torch's
        float64 sampler is ~8x slower on the CPU and dominates the cost of the wide-network sweeps,
        while rounding a N(0, 1) draw to 24 bits (relative 6e-8) is far below every statistical
        effect measured here (width^(-1/2) ~ 1e-2)."""
        w = torch.randn(*shape, generator=self._gen, dtype=torch.float32).to(self._dtype)
        if self.parametrization == "standard":
            w, used = w * m, 1.0
        else:
            used = m
        setattr(self, name, nn.Parameter(w.to(self._device)))
        self.mult[name], self.ntk_mult[name] = used, m

    def _affine(self, terms, bias=None):
        """Z = sum_k m_k A_k W_k^T (+ m_b b), terms = [(name, A)], recorded when taps are on."""
        Z = None
        for name, A in terms:
            z = self.mult[name] * (A @ getattr(self, name).T)
            Z = z if Z is None else Z + z
        if bias is not None:
            Z = Z + self.mult[bias] * getattr(self, bias)
        if self._taps is not None:
            self._taps.append(
                (Z, [(name, A.detach()) for name, A in terms] + ([(bias, None)] if bias else []))
            )
        return Z

    def _input(self, X, ndim):
        p = next(self.parameters())
        if not isinstance(X, torch.Tensor):
            X = torch.as_tensor(X)
        X = X.to(dtype=p.dtype, device=p.device)
        if (
            ndim == 3 and X.ndim == 2 and X.shape[1] % self.n_in == 0
        ):  # flattened sequences (N, T*d)
            X = X.reshape(X.shape[0], -1, self.n_in)
        if X.ndim != ndim or X.shape[-1] != self.n_in:
            want = "(N, T, n_in) or (N, T*n_in)" if ndim == 3 else "(N, n_in)"
            raise ValueError(
                f"X: got shape {tuple(X.shape)}; accepted: shape {want} with n_in = {self.n_in}"
            )
        return X


class RNN(_TPNet):
    """A simple (Elman) RNN in NTK parametrisation, scalar output from the pooled or the last state.

        h_0 = 0,   g_t = (s_w/sqrt(n)) W h_{t-1} + (s_u/sqrt(d)) U x_t + s_b b,
        h_t = phi(g_t),  t = 1..T
        f(x) = (1/sqrt(n)) v . pool(h_1, ..., h_T),   pool = mean over t ("mean") or h_T ("last")

    with W (n x n), U (n x d), b (n), v (n) all N(0, 1).  W is shared across time (tied=True);
    tied=False draws an independent W_t for each step (n_steps of them), only to show that tying
    matters.

    Args:
        n_in: token dimension d.  width: hidden width n.
        activation: phi (a name, nk.normalized(...), or a callable); erf by default (closed-form
            duals).
        sigma_w, sigma_u, sigma_b: the scales s_w, s_u, s_b.
        readout: "mean" (average pooling over time) or "last".
        tied: share W across time.  n_steps: sequence length T (needed when tied=False).
        parametrization: "ntk" or "standard" (module docstring).  seed, dtype, device: of the
            parameters (device as in `nk.resolve_device`; the seeded draws are made on the CPU, the
            same on every device).
    Forward: X of shape (N, T, d), or flattened (N, T*d) -> f of shape (N,).
    Example:
        >>> net = nk.architectures.RNN(3, 64, seed=0)
        >>> net(nk.architectures.sequences(5, 4, 3)).shape
        torch.Size([5])
    """

    def __init__(
        self,
        n_in,
        width,
        *,
        activation="erf",
        sigma_w=1.0,
        sigma_u=1.0,
        sigma_b=0.1,
        readout="mean",
        tied=True,
        n_steps=None,
        parametrization="ntk",
        seed=None,
        dtype=torch.float64,
        device=None,
    ):
        super().__init__(parametrization, seed, dtype, device)
        self.n_in, self.width = check_positive_int(n_in, "n_in"), check_positive_int(width, "width")
        if readout not in ("mean", "last"):
            raise ValueError(f"readout: got {readout!r}; accepted: 'mean' or 'last'")
        if not tied and n_steps is None:
            raise ValueError("n_steps: got None with tied=False; accepted: the sequence length T")
        self.activation = get_activation(activation)
        self.readout, self.tied = readout, bool(tied)
        self.n_steps = None if n_steps is None else check_positive_int(n_steps, "n_steps")
        sw, su, sb = (
            _check_scale(sigma_w, "sigma_w"),
            _check_scale(sigma_u, "sigma_u"),
            _check_scale(sigma_b, "sigma_b"),
        )
        self.sigma_w, self.sigma_u, self.sigma_b = sw, su, sb
        n, d = self.width, self.n_in
        self._new("U", (n, d), su / math.sqrt(d))
        self._w_names = ["W"] if self.tied else [f"W{t}" for t in range(self.n_steps)]
        for name in self._w_names:
            self._new(name, (n, n), sw / math.sqrt(n))
        self._new("b", (n,), sb)
        self._new("v", (1, n), 1.0 / math.sqrt(n))

    def forward(self, X):
        X = self._input(X, 3)
        N, T, _ = X.shape
        if not self.tied and T != self.n_steps:
            raise ValueError(
                f"X: has T = {T} steps; this untied RNN was built for n_steps = {self.n_steps}"
            )
        hs, h = [], None
        for t in range(T):
            terms = [("U", X[:, t])]
            if h is not None:
                terms.append((self._w_names[0] if self.tied else self._w_names[t], h))
            h = self.activation(self._affine(terms, bias="b"))
            hs.append(h)
        pooled = torch.stack(hs, 1).mean(1) if self.readout == "mean" else hs[-1]
        return self._affine([("v", pooled)]).reshape(N)

    def extra_repr(self):
        return (
            f"n_in={self.n_in}, width={self.width}, activation={self.activation.name}, "
            f"readout={self.readout}, tied={self.tied}, parametrization={self.parametrization}"
        )


class ResNet(_TPNet):
    """A residual MLP in NTK parametrisation with branch scale alpha.

        h^0 = (1/sqrt(d)) U x
        z^l = (s_w/sqrt(n)) W1_l h^(l-1) + s_b b_l,
        h^l = h^(l-1) + (alpha/sqrt(n)) W2_l phi(z^l),  l = 1..L
        f(x) = (1/sqrt(n)) v . h^L

    all parameters N(0, 1).  alpha = 1/sqrt(L) by default keeps the forward variance bounded in L.

    Args:
        n_in: input dimension d.  width: n.  n_blocks: L >= 1.
        activation: phi (relu by default).  branch_scale: alpha (None: 1/sqrt(L)).
        sigma_w, sigma_b: s_w, s_b.  parametrization, seed, dtype, device: as for `RNN`.
    Forward: X of shape (N, d) -> f of shape (N,).
    Example:
        >>> nk.architectures.ResNet(3, 64, 2, seed=0)(torch.randn(5, 3, dtype=torch.float64)).shape
        torch.Size([5])
    """

    def __init__(
        self,
        n_in,
        width,
        n_blocks=2,
        *,
        activation="relu",
        branch_scale=None,
        sigma_w=1.0,
        sigma_b=0.1,
        parametrization="ntk",
        seed=None,
        dtype=torch.float64,
        device=None,
    ):
        super().__init__(parametrization, seed, dtype, device)
        self.n_in, self.width = check_positive_int(n_in, "n_in"), check_positive_int(width, "width")
        self.n_blocks = check_positive_int(n_blocks, "n_blocks")
        self.activation = get_activation(activation)
        alpha = (
            1.0 / math.sqrt(self.n_blocks)
            if branch_scale is None
            else _check_scale(branch_scale, "branch_scale")
        )
        self.alpha = alpha
        self.sigma_w, self.sigma_b = (
            _check_scale(sigma_w, "sigma_w"),
            _check_scale(sigma_b, "sigma_b"),
        )
        n, d = self.width, self.n_in
        self._new("U", (n, d), 1.0 / math.sqrt(d))
        for l in range(self.n_blocks):
            self._new(f"W1_{l}", (n, n), self.sigma_w / math.sqrt(n))
            self._new(f"b_{l}", (n,), self.sigma_b)
            self._new(f"W2_{l}", (n, n), alpha / math.sqrt(n))
        self._new("v", (1, n), 1.0 / math.sqrt(n))

    def forward(self, X):
        X = self._input(X, 2)
        h = self._affine([("U", X)])
        for l in range(self.n_blocks):
            z = self._affine([(f"W1_{l}", h)], bias=f"b_{l}")
            h = h + self._affine([(f"W2_{l}", self.activation(z))])
        return self._affine([("v", h)]).reshape(X.shape[0])

    def extra_repr(self):
        return (
            f"n_in={self.n_in}, width={self.width}, n_blocks={self.n_blocks}, "
            f"alpha={self.alpha:.4g}, activation={self.activation.name}, "
            f"parametrization={self.parametrization}"
        )


class AttentionBlock(_TPNet):
    """One self-attention block with LayerNorm, in NTK parametrisation, mean over tokens.

        h_t = (1/sqrt(d)) U x_t,   hh_t = LN(h_t)   (no affine; statistics over features)
        q_t, k_t, u_t = (1/sqrt(n)) (W_q, W_k, W_v) hh_t
        a_{t.} = softmax_s( q_t . k_s / n )     (query-key scaling 1/n, W_q and W_k independent)
        r_t = hh_t + sum_s a_{ts} u_s             (residual)
        f(x) = (1/sqrt(n)) v . (1/T) sum_t phi(r_t)

    all parameters N(0, 1).  With the 1/n scaling and *independent* W_q, W_k the scores q.k/n are
    O(n^(-1/2)) at initialisation (E[Z^q Z^k] = 0), so the attention is uniform at infinite width,
    and the gradients through the scores (hence W_q and W_k's share of the NTK) are O(1/n): see
    `nk.architectures.attention_ntk`.  Tied W_q = W_k under the same scaling attend by a softmax of
    the input Gram matrix instead (`nk.architectures.Transformer`, query_key="tied").

    Args:
        n_in: token dimension d.  width: n.  activation: phi (relu by default).
        parametrization, seed, dtype, device: as for `RNN`.
    Forward: X of shape (N, T, d), or flattened (N, T*d) -> f of shape (N,).
    Example:
        >>> net = nk.architectures.AttentionBlock(3, 64, seed=0)
        >>> net.attention(nk.architectures.sequences(2, 4, 3)).shape
        torch.Size([2, 4, 4])
    """

    def __init__(
        self,
        n_in,
        width,
        *,
        activation="relu",
        parametrization="ntk",
        seed=None,
        dtype=torch.float64,
        device=None,
    ):
        super().__init__(parametrization, seed, dtype, device)
        self.n_in, self.width = check_positive_int(n_in, "n_in"), check_positive_int(width, "width")
        self.activation = get_activation(activation)
        n, d = self.width, self.n_in
        self._new("U", (n, d), 1.0 / math.sqrt(d))
        for name in ("Wq", "Wk", "Wv"):
            self._new(name, (n, n), 1.0 / math.sqrt(n))
        self._new("v", (1, n), 1.0 / math.sqrt(n))

    def attention(self, X):
        """The attention weights a (N, T, T) at the current parameters."""
        with torch.no_grad():
            hh = layer_norm(self._affine([("U", self._input(X, 3))]))
            q, k = self._affine([("Wq", hh)]), self._affine([("Wk", hh)])
            return torch.softmax(q @ k.transpose(1, 2) / self.width, -1)

    def forward(self, X):
        X = self._input(X, 3)
        hh = layer_norm(self._affine([("U", X)]))
        q, k, u = self._affine([("Wq", hh)]), self._affine([("Wk", hh)]), self._affine([("Wv", hh)])
        a = torch.softmax(q @ k.transpose(1, 2) / self.width, -1)
        r = hh + a @ u
        return self._affine([("v", self.activation(r).mean(1))]).reshape(X.shape[0])

    def extra_repr(self):
        return (
            f"n_in={self.n_in}, width={self.width}, activation={self.activation.name}, "
            f"parametrization={self.parametrization}"
        )


class BatchNormMLP(_TPNet):
    """An MLP with BatchNorm before each nonlinearity, in NTK parametrisation (outputs couple the
    batch).

        z^(1) = W_0 x/sqrt(d),   a^(l) = phi(BN(z^(l))),   z^(l+1) = W_l a^(l)/sqrt(n),
        f = z^(L) = v . a^(L-1)/sqrt(n)

    BN standardises each neuron over the batch (mean 0, biased variance 1, no affine parameters, as
    in Yang 2020); biases are omitted because BN removes them.  All parameters N(0, 1).

    Why BN *before* phi (Yang's ordering) and not after it as in `nk.FCNet(norm="batch")`:
    BN(relu(z)) has Jacobian ~ 1/r when only two entries of relu(z) over the batch are positive and
    small (norm r), an event of probability ~ r^2 dr, so E|dF/dz|^2 ~ int dr/r diverges and the
    infinite-width NTK does not exist (the empirical NTK has heavy-tailed fluctuations).  BN(z) of
    the Gaussian z has Jacobian ~ 1/|z - mean|, with E|.|^2 and E|.|^4 finite when the batch spans
    >= 5 dimensions (batch size B >= 6 and inputs of dimension >= 5): use such batches.

    Args:
        n_in: input dimension d.  width: n.  depth: weight layers L >= 2.  activation: phi (relu).
        parametrization, seed, dtype, device: as for `RNN`.
    Forward: X of shape (B, d) -> f of shape (B,), the batch output.
    Example:
        >>> nk.architectures.BatchNormMLP(12, 64, 3, seed=0)(
        ...     torch.randn(8, 12, dtype=torch.float64)).shape
        torch.Size([8])
    """

    couples_batch = True

    def __init__(
        self,
        n_in,
        width,
        depth=3,
        *,
        activation="relu",
        parametrization="ntk",
        seed=None,
        dtype=torch.float64,
        device=None,
    ):
        super().__init__(parametrization, seed, dtype, device)
        self.n_in, self.width = check_positive_int(n_in, "n_in"), check_positive_int(width, "width")
        self.depth = check_positive_int(depth, "depth")
        if self.depth < 2:
            raise ValueError(
                f"depth: got {depth}; accepted: an integer >= 2 (BatchNorm acts on hidden layers)"
            )
        self.activation = get_activation(activation)
        self.widths = [self.n_in] + [self.width] * (self.depth - 1) + [1]
        self._names = [f"W{l}" for l in range(self.depth)]
        for name, f_in, f_out in zip(self._names, self.widths[:-1], self.widths[1:]):
            self._new(name, (f_out, f_in), 1.0 / math.sqrt(f_in))

    beta = 0.0

    @property
    def scales(self):
        """Multiplier of each weight layer in the forward pass (as FCNet.scales)."""
        return [self.mult[name] for name in self._names]

    def layers(self, X):
        """Inputs a^(l) and outputs z^(l+1) of every weight layer, as `FCNet.layers`."""
        a = self._input(X, 2)
        if a.shape[0] < 2:
            raise ValueError(
                "X: BatchNorm standardises over the batch; accepted: at least 2 inputs"
            )
        inputs, preacts = [], []
        for l, name in enumerate(self._names):
            inputs.append(a)
            z = self._affine([(name, a)])
            preacts.append(z)
            if l < self.depth - 1:
                a = self.activation(batch_norm(z))
        return inputs, preacts

    def forward(self, X):
        return self.layers(X)[1][-1].reshape(-1)

    def extra_repr(self):
        return (
            f"n_in={self.n_in}, width={self.width}, depth={self.depth}, "
            f"activation={self.activation.name}, parametrization={self.parametrization}"
        )


def batch_norm(a):
    """Standardise each feature over the batch (axis 0): mean 0, biased variance 1, no affine
    parameters."""
    a = a - a.mean(0, keepdim=True)
    return a / torch.sqrt((a * a).mean(0, keepdim=True) + LN_EPS)


# ---- exact empirical NTK from the taps -----------------------------------------------------------


def _tap_features(model, X):
    """Per parameter name: list of (A (N, S, F) or None for a bias, G (N, S, n_out)) with
    G = dF/dZ."""
    model._taps = []
    try:
        with torch.enable_grad():
            out = model(X)
            taps = model._taps
            grads = torch.autograd.grad(out.sum(), [Z for Z, _ in taps], allow_unused=True)
    finally:
        model._taps = None
    feats = defaultdict(list)
    N = out.shape[0]
    for (Z, terms), G in zip(taps, grads):
        G = torch.zeros_like(Z) if G is None else G
        G = G.detach().reshape(N, -1, Z.shape[-1])
        for name, A in terms:
            feats[name].append((None if A is None else A.reshape(N, -1, A.shape[-1]), G))
    return feats


def _cat(parts, which):
    return torch.cat([p[which] for p in parts], 1)


def layerwise_ntk(model, X, Y=None, *, by_parameter=False):
    """Exact empirical NTK of an RNN, ResNet, AttentionBlock or Transformer from one backward pass
    per input set.

        Theta_hat(x, y) = sum_W m_W^2 sum_{s, s'} [dF/dZ_s(x) . dF/dZ_s'(y)] [A_s(x) . A_s'(y)]
                          (+ biases)

    over every use s of each parameter (time steps, tokens): weight sharing enters through the
    double sum.  Equal to `nk.empirical_ntk(model, X, Y)` (torch.func) up to rounding; much cheaper
    at large width (no Jacobian is formed: cost ~ N^2 S^2 n per parameter).

    Args:
        model: an `RNN`, `ResNet`, `AttentionBlock` or `Transformer`.  X: inputs (N, ...).
        Y: inputs (M, ...) or None (X).
        by_parameter: also return {name: its contribution} (e.g. to see W_q, W_k's share).
    Returns:
        (N, M) tensor in the model's dtype (and the dict when by_parameter).
    Example:
        >>> net, X = nk.architectures.RNN(3, 32, seed=0), nk.architectures.sequences(4, 3, 3)
        >>> bool(torch.allclose(nk.architectures.layerwise_ntk(net, X),
        ...                     nk.empirical_ntk(net, X.reshape(4, -1))))
        True
    """
    if not isinstance(model, _TPNet):
        raise ValueError(
            f"model: got {type(model).__name__}; accepted: nk.architectures.RNN, "
            "nk.architectures.ResNet, nk.architectures.AttentionBlock or "
            "nk.architectures.Transformer "
            "(use nk.empirical_ntk for other modules)"
        )
    fx = _tap_features(model, X)
    fy = fx if Y is None else _tap_features(model, Y)
    parts = {}
    for name in fx:
        m2 = model.mult[name] ** 2
        Gx, Gy = _cat(fx[name], 1), _cat(fy[name], 1)
        if fx[name][0][0] is None:  # a bias: sum over uses of G
            parts[name] = m2 * (Gx.sum(1) @ Gy.sum(1).T)
            continue
        Ax, Ay = _cat(fx[name], 0), _cat(fy[name], 0)
        N, S, _ = Gx.shape
        M, S2, _ = Gy.shape
        GG = (Gx.reshape(N * S, -1) @ Gy.reshape(M * S2, -1).T).reshape(N, S, M, S2)
        AA = (Ax.reshape(N * S, -1) @ Ay.reshape(M * S2, -1).T).reshape(N, S, M, S2)
        parts[name] = m2 * (GG * AA).sum((1, 3))
    K = sum(parts.values())
    return (K, parts) if by_parameter else K


def batch_ntk(model, X):
    """Exact batch-output NTK of a model whose outputs couple the batch (`BatchNormMLP`, or
    `nk.FCNet(norm="batch")`), layer by layer:

        Theta_hat(i, j) = sum_l sum_{m, m'} [dF_i/dz^(l+1)(x_m) . dF_j/dz^(l+1)(x_m')]
                                         [c_l^2 a^(l)(x_m) . a^(l)(x_m') + beta^2]

    with c_l the layer's multiplier and one (vectorised) backward pass per output F_i.  Equal to
    `nk.empirical_ntk(model, X)` (batch path) up to rounding, without forming the Jacobian (needed
    at widths 2^12 - 2^13).

    Args:
        model: an nk.architectures.BatchNormMLP, or an nk.FCNet with one output (any norm).
        X: the batch, shape (B, n_0).
    Returns:
        (B, B) tensor in the model's dtype: the NTK of the batch output F(X).
    Example:
        >>> net, X = (nk.architectures.BatchNormMLP(12, 32, 3, seed=0),
        ...           torch.randn(6, 12, dtype=torch.float64))
        >>> bool(torch.allclose(nk.architectures.batch_ntk(net, X), nk.empirical_ntk(net, X)))
        True
    """
    if not isinstance(model, (FCNet, BatchNormMLP)) or model.widths[-1] != 1:
        raise ValueError(
            f"model: got {type(model).__name__}; accepted: nk.architectures.BatchNormMLP or an "
            "nk.FCNet with one output"
        )
    p = next(model.parameters())
    X = torch.as_tensor(X).to(dtype=p.dtype, device=p.device)
    with torch.enable_grad():
        inputs, preacts = model.layers(X)
        out = preacts[-1].reshape(-1)
        B = out.shape[0]
        eye = torch.eye(B, dtype=out.dtype, device=out.device)
        # one vectorised backward pass for the B outputs (vmap over the rows of the identity)
        G = torch.autograd.grad(
            out, preacts, eye, is_grads_batched=True
        )  # per layer: (B_out, B, n)
    K = torch.zeros(B, B, dtype=out.dtype, device=out.device)
    for l, (a, g) in enumerate(zip(inputs, G)):
        a, g = a.detach(), g.detach()
        S = model.scales[l] ** 2 * (a @ a.T) + model.beta**2  # (B, B) over batch positions
        K = K + torch.einsum("imk,jnk,mn->ij", g, g, S)
    return K
