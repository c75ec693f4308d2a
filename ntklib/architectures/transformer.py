"""A transformer in NTK parametrisation and its infinite-width NTK (Yang 2020, Tensor Programs II,
arXiv 2006.14548, Fig. 1 and its transformer example; Yang and Littwin 2021, Tensor Programs IIb).

The network (`Transformer`): L >= 1 pre-LayerNorm blocks of H-head self-attention and a
feed-forward block, each with a residual connection; LayerNorm before the readout, mean over
tokens, scalar output.  All parameters are N(0, 1) and every matrix is used as W / sqrt(fan-in)
(CONVENTIONS.md §6).

Which score scaling gives which limit.  With head width n_H = n / H and a = LN(h) (unit variance
per feature), head eta scores s_ts = tau_eta q_t . k_s / n_H ("1/n scaling", Tensor Programs),
q = W_q a / sqrt(n), k = W_k a / sqrt(n).  As n -> infinity, q_t . k_s / n_H converges to the
covariance E[Z^{q_t} Z^{k_s}] of the limiting coordinates (the Master Theorem):

* query_key="independent" (W_q, W_k independent): E[Z^q Z^k] = 0, the scores vanish like
  n^(-1/2) and the attention is UNIFORM, a_ts = 1/T.  This is what independent query and key
  matrices do under 1/n scaling (`nk.architectures.AttentionBlock` is such a block).
* query_key="tied" (one matrix, q = k = W_q a / sqrt(n)): E[Z^{q_t} Z^{q_s}] = E[Z^{a_t} Z^{a_s}]
  = K_a(t, s), so the attention is softmax_s(tau K_a(t, s)): a SOFTMAX OF THE INPUT GRAM
  (correlation) MATRIX, deterministic.
* query_key="gram" (no query/key matrices, s_ts = tau a_t . a_s / n_H, the scores of Yang's own
  transformer example, github.com/thegregyang/NTK4A): the same limit as "tied".

With the usual 1/sqrt(n_H) scaling instead, independent W_q, W_k give O(1) *random* scores (no
deterministic limit at a fixed number of heads; Hron et al. 2020 let H -> infinity), and tied ones
give scores ~ sqrt(n_H) K_a that diverge (the attention becomes one-hot on the token itself).

Whatever query_key is, the gradients through the scores are O(n^(-1/2)) per coordinate
(ds/dq = k / n_H): W_q and W_k's share of the NTK falls like 1/n and the score path adds nothing
to the backward covariances.  The limit NTK has no query/key term; the attention enters only
through the fixed matrices A (uniform, or the softmax of the Gram).

Infinite-width NTK (`transformer_ntk`).  K runs over all (input, token) pairs, A^eta is head eta's
limit attention (block-diagonal over inputs), LN -> division by the norm sigma = sqrt(diag K_h).
Forward, K_h^0 = x_t . y_s / d, then for each block:

    K_a = K_h / (sigma sigma^T),   K_O = (1/H) sum_eta A^eta K_a A^eta^T,   K_h' = K_h + alpha^2 K_O
    K_a2 = K_h' / (sigma' sigma'^T),   K_z = K_a2 + s_b^2,   E, Edot = E[phi phi], E[phi' phi']
    K_h <- K_h' + alpha^2 E

Backward (Pi = E[Z^delta Z^delta'], delta = sqrt(n) df/d(vector); W^T independent of W since the
readout is N(0, 1) and used once): Pi_h^L = 1 / (T^2 sigma_L sigma_L^T), then for l = L..1

    Pi_z = alpha^2 Edot Pi_h,   Pi_h' = Pi_h + Pi_z / (sigma' sigma'^T)
    Pi_V = (alpha^2 / H) sum_eta A^eta^T Pi_h' A^eta,   Pi_h <- Pi_h' + Pi_V / (sigma sigma^T)

NTK, each share summed over the token pairs (t, s) of an input pair (x, y):

    v: K_hL / (T^2 sigma sigma^T);  W2: alpha^2 Pi_h E;  W1: Pi_z K_a2;  b: s_b^2 Pi_z;
    W_o: alpha^2 Pi_h' K_O;  W_v: Pi_V K_a;  U: Pi_h^0 K_h^0;  W_q, W_k: 0.

The recursion is exact (closed-form duals for relu and erf; Mehler quadrature, ~1e-10, otherwise).
"""

from __future__ import annotations

import math
import numbers

import torch

from .._checks import check_positive_int
from ..activations import get_activation
from .kernels import _block, _check_parametrization, _pair, _var_pairs
from .networks import _TPNet, _check_scale, layer_norm

__all__ = ["Transformer", "transformer_ntk", "transformer_attention", "QUERY_KEY"]

QUERY_KEY = ("tied", "gram", "independent")
_QK_PARAMS = {"tied": ("Wq",), "gram": (), "independent": ("Wq", "Wk")}


def _check_query_key(query_key):
    if query_key not in QUERY_KEY:
        raise ValueError(
            f"query_key: got {query_key!r}; accepted: 'tied' (W_q = W_k: softmax of "
            "the Gram limit), 'gram' (scores a.a/n, the same limit) or 'independent' "
            "(uniform limit)"
        )
    return query_key


def _score_scales(score_scale, n_heads):
    """tau per head: a number (every head) or a sequence of n_heads numbers."""

    def real(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool)

    if real(score_scale):
        vals = [float(score_scale)] * n_heads
    elif (
        isinstance(score_scale, (list, tuple))
        and len(score_scale) == n_heads
        and all(real(v) for v in score_scale)
    ):
        vals = [float(v) for v in score_scale]
    else:
        raise ValueError(
            f"score_scale: got {score_scale!r}; accepted: a real number, or a list "
            f"of n_heads = {n_heads} real numbers (the temperature tau of each head)"
        )
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"score_scale: got {score_scale!r}; accepted: finite numbers")
    return vals


class Transformer(_TPNet):
    """A pre-LayerNorm transformer in NTK parametrisation with a scalar output (Yang 2020, Tensor
    Programs II, the transformer of Fig. 1).

        h^0_t = U x_t / sqrt(d)
        block l = 1..L:   a = LN(h);   per head eta (n_H = n / H coordinates each):
            q = W_q a / sqrt(n); k = q ("tied"), W_k a / sqrt(n) ("independent"); q = k = a ("gram")
            A^eta_ts = softmax_s(tau_eta q^eta_t . k^eta_s / n_H),   u = W_v a / sqrt(n)
            o_t = concat_eta sum_s A^eta_ts u^eta_s,   h <- h + (alpha / sqrt(n)) W_o o
            h <- h + (alpha / sqrt(n)) W2 phi(W1 LN(h) / sqrt(n) + s_b b)
        f(x) = (1/sqrt(n)) v . (1/T) sum_t LN(h^L_t)

    with every parameter N(0, 1); LN standardises over the features (no affine).  The 1/n_H score
    scaling gives a deterministic infinite-width attention: uniform for independent W_q, W_k, a
    softmax of the block input's Gram matrix for tied ones or "gram" (module docstring).  The
    infinite-width NTK is `transformer_ntk` with the same keyword arguments.

    Args:
        n_in: token dimension d.  width: n (a multiple of n_heads).  n_blocks: L >= 1.
        n_heads: H.  query_key: "tied", "gram" or "independent".  score_scale: tau, a number or
        one per head.  activation: phi of the feed-forward block (relu).  branch_scale: alpha
        (None: 1/sqrt(L)).  sigma_b: s_b, the scale of the feed-forward bias.
        parametrization: "ntk" or "standard" (as `nk.architectures.RNN`).
        seed, dtype, device: of the parameters.
    Forward: X of shape (N, T, d), or flattened (N, T*d) -> f of shape (N,).
    Example:
        >>> net = nk.architectures.Transformer(3, 32, 2, seed=0)
        >>> X = nk.architectures.sequences(2, 4, 3)
        >>> net(X).shape, net.attention(X)[0].shape     # per block: (N, heads, T, T)
        (torch.Size([2]), torch.Size([2, 2, 4, 4]))
    """

    def __init__(
        self,
        n_in,
        width,
        n_blocks=2,
        *,
        n_heads=2,
        query_key="tied",
        score_scale=1.0,
        activation="relu",
        branch_scale=None,
        sigma_b=0.1,
        parametrization="ntk",
        seed=None,
        dtype=torch.float64,
        device=None,
    ):
        super().__init__(parametrization, seed, dtype, device)
        self.n_in = check_positive_int(n_in, "n_in")
        self.width = check_positive_int(width, "width")
        self.n_blocks = check_positive_int(n_blocks, "n_blocks")
        self.n_heads = check_positive_int(n_heads, "n_heads")
        if self.width % self.n_heads:
            raise ValueError(
                f"width: got {width} with n_heads = {n_heads}; accepted: a multiple of n_heads"
            )
        self.query_key = _check_query_key(query_key)
        self.score_scale = _score_scales(score_scale, self.n_heads)
        self.activation = get_activation(activation)
        self.alpha = (
            1.0 / math.sqrt(self.n_blocks)
            if branch_scale is None
            else _check_scale(branch_scale, "branch_scale")
        )
        self.sigma_b = _check_scale(sigma_b, "sigma_b")
        n, d = self.width, self.n_in
        self._new("U", (n, d), 1.0 / math.sqrt(d))
        for l in range(self.n_blocks):
            for name in _QK_PARAMS[self.query_key] + ("Wv",):
                self._new(f"{name}_{l}", (n, n), 1.0 / math.sqrt(n))
            self._new(f"Wo_{l}", (n, n), self.alpha / math.sqrt(n))
            self._new(f"W1_{l}", (n, n), 1.0 / math.sqrt(n))
            self._new(f"b_{l}", (n,), self.sigma_b)
            self._new(f"W2_{l}", (n, n), self.alpha / math.sqrt(n))
        self._new("v", (1, n), 1.0 / math.sqrt(n))

    def _heads(self, z):
        """(N, T, n) -> (N, H, T, n_H)."""
        N, T, _ = z.shape
        return z.reshape(N, T, self.n_heads, -1).transpose(1, 2)

    def _attend(self, l, a):
        """The attention weights (N, H, T, T) of block l from its LayerNormed input a (N, T, n)."""
        if self.query_key == "gram":
            q = k = self._heads(a)
        else:
            q = self._heads(self._affine([(f"Wq_{l}", a)]))
            k = q if self.query_key == "tied" else self._heads(self._affine([(f"Wk_{l}", a)]))
        tau = torch.tensor(self.score_scale, dtype=a.dtype, device=a.device)[None, :, None, None]
        return torch.softmax(tau * (q @ k.transpose(-1, -2)) / q.shape[-1], -1)

    def _blocks(self, X, keep_attention=False):
        X = self._input(X, 3)
        N, T, _ = X.shape
        h = self._affine([("U", X)])
        attention = []
        for l in range(self.n_blocks):
            a = layer_norm(h)
            A = self._attend(l, a)
            if keep_attention:
                attention.append(A.detach())
            u = self._heads(self._affine([(f"Wv_{l}", a)]))
            o = (A @ u).transpose(1, 2).reshape(N, T, self.width)
            h = h + self._affine([(f"Wo_{l}", o)])
            z = self._affine([(f"W1_{l}", layer_norm(h))], bias=f"b_{l}")
            h = h + self._affine([(f"W2_{l}", self.activation(z))])
        return h, attention

    def attention(self, X):
        """The attention weights of every block at the current parameters: a list of L tensors
        (N, H, T, T)."""
        with torch.no_grad():
            return self._blocks(X, keep_attention=True)[1]

    def forward(self, X):
        h, _ = self._blocks(X)
        return self._affine([("v", layer_norm(h).mean(1))]).reshape(h.shape[0])

    def extra_repr(self):
        return (
            f"n_in={self.n_in}, width={self.width}, n_blocks={self.n_blocks}, "
            f"n_heads={self.n_heads}, query_key={self.query_key}, "
            f"activation={self.activation.name}, parametrization={self.parametrization}"
        )


# ---- the infinite-width recursion ------------------------------------------------------------


def _normalise(K):
    s = torch.sqrt(torch.diagonal(K))
    return K / (s[:, None] * s[None, :]), s


def _limit_attention(Ka, P, T, query_key, taus):
    """A (P, H, T, T): softmax_s(tau K_a(t, s)) within each input ("tied", "gram"), or 1/T."""
    H = len(taus)
    if query_key == "independent":
        return torch.full((P, H, T, T), 1.0 / T, dtype=Ka.dtype, device=Ka.device)
    idx = torch.arange(P, device=Ka.device)
    G = Ka.reshape(P, T, P, T)[idx, :, idx, :]  # (P, T, T)
    tau = torch.tensor(taus, dtype=Ka.dtype, device=Ka.device)[None, :, None, None]
    return torch.softmax(tau * G[:, None], -1)


def _recursion(Z, *, n_blocks, n_heads, query_key, score_scale, activation, branch_scale, sigma_b):
    """Forward and backward covariances of `Transformer` on the stacked sequences Z (P, T, d):
    the NTK share (P, P) of every parameter, the NNGP (P, P), each block's limit attention and
    alpha."""
    act = get_activation(activation)
    L = check_positive_int(n_blocks, "n_blocks")
    H = check_positive_int(n_heads, "n_heads")
    query_key = _check_query_key(query_key)
    taus = _score_scales(score_scale, H)
    alpha = (
        1.0 / math.sqrt(L) if branch_scale is None else _check_scale(branch_scale, "branch_scale")
    )
    b2, a2 = _check_scale(sigma_b, "sigma_b") ** 2, alpha**2
    P, T, d = Z.shape
    if bool((Z.norm(dim=-1) == 0).any()):
        raise ValueError(
            "X: has a zero token; accepted: nonzero tokens (LayerNorm divides by the norm)"
        )

    def tsum(K):  # (PT, PT) -> (P, P): sum over token pairs
        return K.reshape(P, T, P, T).sum((1, 3))

    def mix(A, K, transpose=False):  # (1/H) sum_eta A K A^T (A^T K A), per input
        eq = "phut,puqv,qhvs->ptqs" if transpose else "phtu,puqv,qhsv->ptqs"
        return (torch.einsum(eq, A, K.reshape(P, T, P, T), A) / H).reshape(P * T, P * T)

    Kh = Z.reshape(P * T, d) @ Z.reshape(P * T, d).T / d
    K0, fwd = Kh, []
    for _ in range(L):
        Ka, s = _normalise(Kh)
        A = _limit_attention(Ka, P, T, query_key, taus)
        KO = mix(A, Ka)
        Kp = Kh + a2 * KO
        Ka2, s2 = _normalise(Kp)
        Kz = Ka2 + b2
        va, vb = _var_pairs(Kz)
        E, Ed = act.dual(va, vb, Kz), act.dual_deriv(va, vb, Kz)
        fwd.append((Ka, s, A, KO, Ka2, s2, E, Ed))
        Kh = Kp + a2 * E
    Kf, sf = _normalise(Kh)
    nngp = tsum(Kf) / T**2
    parts = {"v": nngp}
    Pi = 1.0 / (T**2 * sf[:, None] * sf[None, :])
    for l in range(L - 1, -1, -1):
        Ka, s, A, KO, Ka2, s2, E, Ed = fwd[l]
        parts[f"W2_{l}"] = a2 * tsum(Pi * E)
        Pz = a2 * Ed * Pi
        parts[f"W1_{l}"], parts[f"b_{l}"] = tsum(Pz * Ka2), b2 * tsum(Pz)
        Pp = Pi + Pz / (s2[:, None] * s2[None, :])
        parts[f"Wo_{l}"] = a2 * tsum(Pp * KO)
        PV = a2 * mix(A, Pp, transpose=True)
        parts[f"Wv_{l}"] = tsum(PV * Ka)
        for name in _QK_PARAMS[query_key]:
            parts[f"{name}_{l}"] = torch.zeros_like(nngp)  # share O(1/n): no limit term
        Pi = Pp + PV / (s[:, None] * s[None, :])
    parts["U"] = tsum(Pi * K0)
    return parts, nngp, [f[2] for f in fwd], alpha


def _standard_weight(name, alpha):
    """lim 1/(n m^2) for the parameter's NTK multiplier m: how SGD with step lr/n in standard
    parametrisation weighs its NTK share (0 for U, fan-in d, and the biases: frozen as n grows)."""
    if name == "U" or name.startswith("b_"):
        return 0.0
    if name.startswith(("Wo_", "W2_")):
        return 1.0 / alpha**2 if alpha > 0 else 0.0
    return 1.0


def transformer_ntk(
    X,
    Y=None,
    *,
    n_blocks=2,
    n_heads=2,
    query_key="tied",
    score_scale=1.0,
    activation="relu",
    branch_scale=None,
    sigma_b=0.1,
    parametrization="ntk",
    by_parameter=False,
    return_nngp=False,
    device=None,
):
    """Infinite-width NTK of `Transformer` (Yang 2020, Tensor Programs II, the transformer of
    Fig. 1; NTK parametrisation, scores q.k/n_H), by the exact recursion of the module docstring.

    The limit attention is fixed: softmax_s(tau K_a(t, s)) of each block's LayerNormed input Gram
    for query_key="tied" or "gram", uniform (1/T) for "independent"; W_q and W_k have no share.

    parametrization="standard": the kernel that SGD with step lr/width follows in standard
    parametrisation (the same networks and f_0): each parameter's share weighted by lim 1/(n m^2),
    m its NTK multiplier.  The input matrix U (fan-in d) and the biases drop out (their effective
    steps d/n and 1/n vanish: they are frozen), and the alpha/sqrt(n) matrices W_o, W2 count
    1/alpha^2 times.

    Args:
        X: sequences (N, T, d) with nonzero tokens.  Y: (M, T, d) or None (X).  Other keyword
        arguments as in `Transformer`.  parametrization: "ntk" or "standard".
        by_parameter: also return {parameter name: its share (N, M)} (weighted for "standard").
        return_nngp: also return the output covariance (the v share).
        device: where the recursion runs (None: X's device; as in `nk.resolve_device`).
    Returns:
        float64 tensor (N, M); then the dict when by_parameter, then the NNGP when return_nngp.
    Example:
        >>> X = nk.architectures.sequences(3, 4, 2)
        >>> t = nk.architectures.transformer_ntk(X)
        >>> i = nk.architectures.transformer_ntk(X, query_key="independent")
        >>> t.shape, bool((t - i).abs().max() > 0.01)     # softmax-of-Gram and uniform limits
        (torch.Size([3, 3]), True)
    """
    _check_parametrization(parametrization)
    Z, N = _pair(X, Y, 3, device=device)
    parts, nngp, _, alpha = _recursion(
        Z,
        n_blocks=n_blocks,
        n_heads=n_heads,
        query_key=query_key,
        score_scale=score_scale,
        activation=activation,
        branch_scale=branch_scale,
        sigma_b=sigma_b,
    )
    if parametrization == "standard":
        parts = {k: _standard_weight(k, alpha) * v for k, v in parts.items()}
    theta = sum(parts.values())
    out = [_block(theta, N, Y)]
    if by_parameter:
        out.append({k: _block(v, N, Y) for k, v in parts.items()})
    if return_nngp:
        out.append(_block(nngp, N, Y))
    return out[0] if len(out) == 1 else tuple(out)


def transformer_attention(
    X,
    *,
    n_blocks=2,
    n_heads=2,
    query_key="tied",
    score_scale=1.0,
    activation="relu",
    branch_scale=None,
    sigma_b=0.1,
    device=None,
):
    """The infinite-width attention weights of `Transformer`, block by block: softmax_s(tau
    K_a(t, s)) of the block's LayerNormed input Gram ("tied", "gram") or 1/T ("independent"),
    under Tensor Programs II's 1/n score scaling (module docstring).  A wide network's
    `attention(X)` approaches them.

    Args:
        X: sequences (N, T, d) with nonzero tokens.  Other keyword arguments as in `Transformer`.
        device: where the recursion runs (None: X's device).
    Returns:
        list of L float64 tensors (N, H, T, T), rows summing to 1.
    Example:
        >>> X = nk.architectures.sequences(2, 4, 3)
        >>> A = nk.architectures.transformer_attention(X, query_key="independent")
        >>> len(A), A[0].shape, float(A[0][0, 0, 0, 0])
        (2, torch.Size([2, 2, 4, 4]), 0.25)
    """
    Z, _ = _pair(X, None, 3, device=device)
    return _recursion(
        Z,
        n_blocks=n_blocks,
        n_heads=n_heads,
        query_key=query_key,
        score_scale=score_scale,
        activation=activation,
        branch_scale=branch_scale,
        sigma_b=sigma_b,
    )[2]
