"""Infinite-width NTKs of an RNN, a residual MLP, an attention block and a BatchNorm MLP, by the
tensor-program recursions of forward and backward covariances (the theory side of networks.py; the
transformer's is in transformer.py; the experiments of Tensor Programs IIb, empirical NTK ->
infinite-width NTK and SGD -> kernel GD, are in experiments.py and sgd.py).

Tensor Programs (Yang 2019, 2020; Yang and Littwin 2021) in one paragraph.  Write the forward pass
as a program whose vectors (length n) are made by multiplying a Gaussian matrix with a vector
(MatMul) or by coordinatewise nonlinearities of earlier vectors (Nonlin).  As n -> infinity the
coordinates of all vectors become jointly distributed like a fixed random vector Z, with
covariances computed by the recursions below; a MatMul W h gives a fresh centred Gaussian with
covariance E[Z^h Z^h'], shared by every use of the same W (weight tying gives *shared*
covariances, not independent ones).  The backward pass is another program; when the output weights
v are N(0, 1), independent and used only once, the transposed matrices W^T may be treated as
independent of W (the gradient-independence assumption is then exact: the "simple GIA check" of
Yang 2020, Tensor Programs II).
Writing delta = sqrt(n) dF/d(vector), every parameter's share of the NTK converges to a product
"backward covariance x forward covariance":

    Theta(x, y) = sum over uses (s, s') of each W of
                      E[Z^{delta_s(x)} Z^{delta_s'(y)}] E[Z^{A_s(x)} Z^{A_s'(y)}]

and Yang and Littwin (2021, Thm. 2.2) show that SGD in NTK parametrisation then follows kernel
gradient descent with this *fixed* kernel throughout training.

Gaussian expectations E[phi(u) phi(v)], E[phi'(u) phi'(v)] use the activation dual kernels of
`ntklib.activations` (closed forms for relu and erf, Mehler quadrature otherwise).  The BatchNorm
MLP needs expectations over the whole batch, done by randomised quasi-Monte Carlo (scrambled Sobol
points, scipy) with a stated standard error.

parametrization="standard" (every kernel here): the kernel that SGD with step lr/width follows in
standard parametrisation (networks.py: the parameter is W_eff = m W itself, the same function at
initialisation).  Such a step moves a parameter with NTK multiplier m like NTK-parametrised SGD with
step lr / (n m^2), so each parameter's share of the NTK is weighted by lim 1/(n m^2): 1/s^2 for an
n x n matrix used as (s/sqrt(n)) W, 1 for the readout, and 0 for the input matrix (fan-in d: weight
d/n) and the biases (weight 1/(n s_b^2)), which freeze as n grows.  This "reduced" kernel, not the
NTK, is what a standard-parametrised network follows (notebook 07 §3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_beta, check_depth, check_positive_int
from ..devices import resolve_device
from ..activations import get_activation

__all__ = ["rnn_ntk", "resnet_ntk", "attention_ntk", "batchnorm_ntk", "batch_kernels"]

PARAMETRIZATIONS = ("ntk", "standard")

DTYPE = torch.float64


def _as_real(X, ndim, name="X", device=None):
    """X as a finite, non-empty float64 tensor with `ndim` dimensions, else a ValueError naming
    `name`."""
    want = "(N, T, d)" if ndim == 3 else "(N, d)"
    if isinstance(X, torch.Tensor):
        t = X.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(X))
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"{name}: could not read {type(X).__name__} as a numeric array of "
                f"shape {want}: {err}"
            ) from err
    ints = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
    if t.is_complex() or not (t.is_floating_point() or t.dtype in ints):
        raise ValueError(f"{name}: got dtype {t.dtype}; accepted: real numbers")
    if t.ndim != ndim:
        raise ValueError(f"{name}: got shape {tuple(t.shape)}; accepted: shape {want}")
    if 0 in t.shape:
        raise ValueError(
            f"{name}: got an empty array of shape {tuple(t.shape)}; accepted: shape "
            f"{want} with every size >= 1"
        )
    t = t.to(dtype=DTYPE)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: contains NaN or inf; accepted: finite values only")
    return t.to(resolve_device(device)) if device is not None else t


def _pair(X, Y, ndim, name="X", device=None):
    X = _as_real(X, ndim, name, device=device)
    if Y is None:
        return X, X.shape[0]
    Y = _as_real(Y, ndim, "Y").to(X.device)
    if Y.shape[1:] != X.shape[1:]:
        raise ValueError(
            f"Y: got shape {tuple(Y.shape)}; accepted: shape (M, *{tuple(X.shape[1:])}) like X"
        )
    return torch.cat([X, Y]), X.shape[0]


def _check_nonzero_tokens(Z, name="X"):
    if bool((Z.norm(dim=-1) == 0).any()):
        raise ValueError(
            f"{name}: has a zero token; accepted: nonzero tokens (LayerNorm divides by the norm)"
        )


def _check_parametrization(p):
    if p not in PARAMETRIZATIONS:
        raise ValueError(
            f"parametrization: got {p!r}; accepted: 'ntk' (the NTK) or 'standard' (the "
            "kernel of standard parametrisation trained with step lr/width)"
        )
    return p


def _block(K, N, Y):
    return K[:N, :N] if Y is None else K[:N, N:]


def _var_pairs(K):
    v = torch.diagonal(K)
    return v[:, None], v[None, :]


# ---- RNN -----------------------------------------------------------------------------------------


def rnn_ntk(
    X,
    Y=None,
    *,
    activation="erf",
    sigma_w=1.0,
    sigma_u=1.0,
    sigma_b=0.1,
    readout="mean",
    tied=True,
    parametrization="ntk",
    return_nngp=False,
    device=None,
):
    """Infinite-width NTK of the simple RNN `nk.architectures.RNN` (NTK parametrisation):

        h_0 = 0,  g_t = (s_w/sqrt(n)) W h_{t-1} + (s_u/sqrt(d)) U x_t + s_b b,  h_t = phi(g_t),
        f(x) = (1/sqrt(n)) v . pool(h),  pool = (1/T) sum_t h_t ("mean") or h_T ("last").

    Forward (tensor program, W shared across time so g_s(x), g_t(y) are correlated for all s, t):
        K_g(s, t) = s_w^2 K_h(s-1, t-1) + s_u^2 x_s.y_t/d + s_b^2,   K_h(0, .) = 0
        K_h(s, t) = E[phi(u) phi(v)],  (u, v) ~ N(0, [[K_g(s,s;x,x), K_g(s,t)], [., K_g(t,t;y,y)]])
    Backward, delta_t = sqrt(n) dF/dg_t = phi'(g_t) * (w_t v + s_w W^T delta_{t+1}/sqrt(n)),
    w_t = 1/T ("mean") or [t = T] ("last"), with W^T independent of W (v used once, TP II):
        Pi(s, t) = E[phi'(u) phi'(v)] (w_s w_t + s_w^2 Pi(s+1, t+1)),   Pi(T+1, .) = 0
    NTK (v; then W, U, b together: each use at time s of x against time t of y):
        Theta(x, y) = sum_{s,t} w_s w_t K_h(s, t) + sum_{s,t} Pi(s, t) K_g(s, t).
    tied=False (an independent W_t per step) keeps only s = t in the W terms of K_g and Pi: a
    different kernel, which the tests use to show that tying is seen by the recursion.
    parametrization="standard" (module docstring): U and b drop out and W counts 1/s_w^2 times,
        Theta_SP = sum_{s,t} w_s w_t K_h(s, t) + sum_{s,t} Pi(s, t) K_h(s-1, t-1).

    Args:
        X: sequences (N, T, d).  Y: (M, T, d) or None (X).  Other arguments as in
            `nk.architectures.RNN`.
        parametrization: "ntk" or "standard" (the kernel of SP with step lr/width).
        return_nngp: also return the output covariance Sigma(x, y) = sum_{s,t} w_s w_t K_h(s, t).
        device: where the recursion runs (None: X's device; "cuda", "auto", ... as in
            `nk.resolve_device`).
    Returns:
        float64 tensor (N, M) (and the NNGP kernel when return_nngp).
    Example:
        >>> X = nk.architectures.sequences(3, 4, 2)
        >>> K_tied, K_untied = nk.architectures.rnn_ntk(X), nk.architectures.rnn_ntk(X, tied=False)
        >>> bool((K_tied - K_untied).abs().max() > 0.01)                  # tying changes the limit
        True
    """
    Z, N = _pair(X, Y, 3, device=device)
    act = get_activation(activation)
    _check_parametrization(parametrization)
    if readout not in ("mean", "last"):
        raise ValueError(f"readout: got {readout!r}; accepted: 'mean' or 'last'")
    P, T, d = Z.shape
    base = sigma_u**2 * torch.einsum("psk,qtk->psqt", Z, Z) / d + sigma_b**2  # (P, T, P, T)
    same = torch.eye(T, dtype=DTYPE, device=Z.device)[None, :, None, :]  # s == t mask
    w = (
        torch.full((T,), 1.0 / T, dtype=DTYPE, device=Z.device)
        if readout == "mean"
        else torch.eye(T, dtype=DTYPE, device=Z.device)[-1]
    )

    def flat(K):
        return K.reshape(P * T, P * T)

    Kg = base.clone()
    for _ in range(T):  # each sweep fixes one more time step: exact after T sweeps
        a, b = _var_pairs(flat(Kg))
        Kh = act.dual(a, b, flat(Kg)).reshape(P, T, P, T)
        shifted = torch.zeros_like(Kg)
        shifted[:, 1:, :, 1:] = Kh[:, :-1, :, :-1]
        if not tied:
            shifted = shifted * same
        Kg = base + sigma_w**2 * shifted
    a, b = _var_pairs(flat(Kg))
    Kh = act.dual(a, b, flat(Kg)).reshape(P, T, P, T)
    Edot = act.dual_deriv(a, b, flat(Kg)).reshape(P, T, P, T)
    ww = (w[:, None] * w[None, :])[None, :, None, :]
    Pi = torch.zeros_like(Kg)
    for _ in range(T):
        nxt = torch.zeros_like(Pi)
        nxt[:, :-1, :, :-1] = Pi[:, 1:, :, 1:]
        if not tied:
            nxt = nxt * same
        Pi = Edot * (ww + sigma_w**2 * nxt)
    nngp = (ww * Kh).sum((1, 3))
    theta = nngp + (Pi * (Kg if parametrization == "ntk" else shifted)).sum((1, 3))
    if return_nngp:
        return _block(theta, N, Y), _block(nngp, N, Y)
    return _block(theta, N, Y)


# ---- residual MLP --------------------------------------------------------------------------------


def resnet_ntk(
    X,
    Y=None,
    *,
    n_blocks=2,
    activation="relu",
    branch_scale=None,
    sigma_w=1.0,
    sigma_b=0.1,
    parametrization="ntk",
    return_nngp=False,
    device=None,
):
    """Infinite-width NTK of the residual MLP `nk.architectures.ResNet` (NTK parametrisation):

        h^0 = U x/sqrt(d),  z^l = (s_w/sqrt(n)) W1_l h^(l-1) + s_b b_l,
        h^l = h^(l-1) + (alpha/sqrt(n)) W2_l phi(z^l),
        f = v . h^L / sqrt(n).

    Forward (the skip and the branch are uncorrelated: W2_l is fresh and centred):
        K_h^0 = x.y/d,   K_z^l = s_w^2 K_h^(l-1) + s_b^2,   E^l = E[phi phi](K_z^l),
        K_h^l = K_h^(l-1) + alpha^2 E^l
    Backward (Pi = limit of delta.delta'/n, delta = sqrt(n) dF/d(vector)):
        Pi_h^L = 1,   Pi_z^l = alpha^2 Edot^l Pi_h^l,   Pi_h^(l-1) = Pi_h^l + s_w^2 Pi_z^l,
        Edot^l = E[phi' phi'](K_z^l)
    NTK:
        Theta = K_h^L  (v)  +  sum_l [ alpha^2 Pi_h^l E^l  (W2_l)  +  Pi_z^l K_z^l  (W1_l, b_l) ]
                +  Pi_h^0 K_h^0  (U).
    parametrization="standard" (module docstring): U and b_l drop out, W2_l counts 1/alpha^2 and
    W1_l 1/s_w^2 times:  Theta_SP = K_h^L + sum_l [ Pi_h^l E^l + Pi_z^l K_h^(l-1) ].

    Args:
        X: inputs (N, d).  Y: (M, d) or None.  Other arguments as in `nk.architectures.ResNet`
            (alpha = 1/sqrt(L) if None).
        parametrization: "ntk" or "standard" (the kernel of SP with step lr/width).
        device: where the recursion runs (None: X's device; "cuda", "auto", ... as in
            `nk.resolve_device`).
    Returns:
        float64 tensor (N, M) (and the NNGP kernel K_h^L when return_nngp).
    Example:
        >>> X = torch.eye(2, dtype=torch.float64)
        >>> nk.architectures.resnet_ntk(X, branch_scale=0.0)  # no branches: f = v.Ux/sqrt(nd),
        ...                                                   # Theta = 2 x.y/d
        tensor([[1., 0.],
                [0., 1.]], dtype=torch.float64)
    """
    Z, N = _pair(X, Y, 2, device=device)
    act = get_activation(activation)
    L = check_positive_int(n_blocks, "n_blocks")
    standard = _check_parametrization(parametrization) == "standard"
    alpha = 1.0 / math.sqrt(L) if branch_scale is None else float(branch_scale)
    Kh = [Z @ Z.T / Z.shape[1]]
    Kz, E, Ed = [], [], []
    for _ in range(L):
        Kz.append(sigma_w**2 * Kh[-1] + sigma_b**2)
        a, b = _var_pairs(Kz[-1])
        E.append(act.dual(a, b, Kz[-1]))
        Ed.append(act.dual_deriv(a, b, Kz[-1]))
        Kh.append(Kh[-1] + alpha**2 * E[-1])
    theta = Kh[-1].clone()
    Pi_h = torch.ones_like(theta)
    for l in range(L - 1, -1, -1):
        Pi_z = alpha**2 * Ed[l] * Pi_h
        if standard:
            theta = theta + Pi_h * E[l] + Pi_z * Kh[l]
        else:
            theta = theta + alpha**2 * Pi_h * E[l] + Pi_z * Kz[l]
        Pi_h = Pi_h + sigma_w**2 * Pi_z
    if not standard:
        theta = theta + Pi_h * Kh[0]
    if return_nngp:
        return _block(theta, N, Y), _block(Kh[-1], N, Y)
    return _block(theta, N, Y)


# ---- attention block -----------------------------------------------------------------------------


def attention_ntk(
    X, Y=None, *, activation="relu", parametrization="ntk", return_nngp=False, device=None
):
    """Infinite-width NTK of the attention block `nk.architectures.AttentionBlock` (NTK
    parametrisation, scores q.k/n).

    At infinite width the scores q_t.k_s/n vanish, so the attention is uniform (a = 1/T) and the
    output of attention is o = (1/T) sum_s u_s for every token.  Forward, with
    hh_t = LN(U x_t/sqrt(d)) -> U x_t/|x_t| (LayerNorm divides by the norm; the mean is 0 in the
    limit):
        K_hh(t, s) = x_t.y_s / (|x_t| |y_s|),   K_o = (1/T^2) sum_{t,s} K_hh(t, s)
            (o is independent of hh)
        K_r(t, s) = K_hh(t, s) + K_o,            K_y(t, s) = E[phi phi](K_r)
    Backward: delta_r(t) = phi'(r_t) v / T, so Pi_r(t, s) = E[phi' phi'](K_r)(t, s) / T^2; the
    values see dbar = (1/T) sum_t delta_r(t) (Pi_bar = sum_{t,s} Pi_r / T^2); LayerNorm's Jacobian
    is 1/|h| in the limit (its projections act on O(n^-1/2) components), so the embedding sees
    Pi_hh = Pi_r + Pi_bar.
    NTK (v; W_v; U):
        Theta = (1/T^2) sum K_y  +  (sum Pi_r) K_o  +  sum_{t,s} (Pi_r + Pi_bar)(t, s) K_hh(t, s).
    W_q and W_k do not appear: their gradients pass through the scores, whose derivative in q is
    k/n, so their share of the empirical NTK is O(1/n) (shown in the notebook and the tests).
    parametrization="standard" (module docstring): U drops out,
    Theta_SP = (1/T^2) sum K_y + (sum Pi_r) K_o.

    Args:
        X: sequences (N, T, d) with nonzero tokens.  Y: (M, T, d) or None.  activation: phi.
        parametrization: "ntk" or "standard" (the kernel of SP with step lr/width).
        device: where the recursion runs (None: X's device; "cuda", "auto", ... as in
            `nk.resolve_device`).
    Returns:
        float64 tensor (N, M) (and the NNGP kernel (1/T^2) sum K_y when return_nngp).
    Example:
        >>> nk.architectures.attention_ntk(nk.architectures.sequences(3, 4, 2)).shape
        torch.Size([3, 3])
    """
    Z, N = _pair(X, Y, 3, device=device)
    _check_nonzero_tokens(Z)
    act = get_activation(activation)
    P, T, _ = Z.shape
    Zn = Z / Z.norm(dim=-1, keepdim=True)
    Khh = torch.einsum("psk,qtk->psqt", Zn, Zn)  # (P, T, P, T)
    Ko = Khh.mean((1, 3))  # (P, P)
    Kr = (Khh + Ko[:, None, :, None]).reshape(P * T, P * T)
    a, b = _var_pairs(Kr)
    Ky = act.dual(a, b, Kr).reshape(P, T, P, T)
    Pi_r = act.dual_deriv(a, b, Kr).reshape(P, T, P, T) / T**2
    Pi_bar = Pi_r.sum((1, 3)) / T**2
    nngp = Ky.mean((1, 3))
    theta = nngp + Pi_r.sum((1, 3)) * Ko
    if _check_parametrization(parametrization) == "ntk":
        theta = theta + (Pi_r * Khh).sum((1, 3)) + Pi_bar * Khh.sum((1, 3))
    if return_nngp:
        return _block(theta, N, Y), _block(nngp, N, Y)
    return _block(theta, N, Y)


# ---- BatchNorm MLP: batch-level Gaussian expectations --------------------------------------------


def _gaussian_points(cov, n_samples, seed, scramble_id):
    """n_samples draws of N(0, cov) from scrambled Sobol points mapped through the normal
    quantile."""
    from scipy.stats import norm, qmc

    lam, V = np.linalg.eigh(cov)
    keep = lam > 1e-12 * max(lam.max(), 1e-300)
    L = V[:, keep] * np.sqrt(lam[keep])
    sob = qmc.Sobol(
        d=int(keep.sum()), scramble=True, seed=np.random.default_rng([seed, scramble_id])
    )
    u = sob.random(n_samples)
    return norm.ppf(np.clip(u, 1e-16, 1 - 1e-16)) @ L.T


def _bn_map(z, act, eps):
    """F(z) = phi(BN(z)) over the batch axis (last), and its Jacobian J[m, p] = dF_m/dz_p, per
    sample."""
    zt = torch.as_tensor(z)
    B = zt.shape[-1]
    c = zt - zt.mean(-1, keepdim=True)
    s = torch.sqrt((c * c).mean(-1, keepdim=True) + eps)
    y = c / s
    eye = torch.eye(B, dtype=zt.dtype, device=zt.device)
    # d BN(z)/dz = (1/s)(I - 11^T/B - y y^T/B)
    Jbn = (eye - 1.0 / B - y[..., :, None] * y[..., None, :] / B) / s[..., None]
    return act(y), act.deriv(y)[..., :, None] * Jbn


def _plain_map(z, act, eps):
    zt = torch.as_tensor(z)
    return act(zt), torch.diag_embed(act.deriv(zt))


@dataclass
class BatchKernels:
    """Infinite-width batch kernels of an FC network whose hidden layers apply a batch map F.

    sigma[l-1] = Sigma^(l) (B, B) for l = 1..L;  pi[l-1] = Pi^(l) (B, B, B, B) indexed
    [output i, position m, output j, position m'];  theta = the batch NTK (B, B);
    theta_se = its standard error from the spread of independent scrambles.
    """

    sigma: list
    pi: list
    theta: torch.Tensor
    theta_se: torch.Tensor


def batch_kernels(
    X,
    *,
    depth,
    activation="relu",
    beta=0.0,
    norm="batch",
    n_samples=2**15,
    n_scrambles=4,
    seed=0,
    eps=1e-12,
    parametrization="ntk",
    device=None,
) -> BatchKernels:
    """Infinite-width batch NNGP/NTK of an MLP whose hidden layers apply a batch map F, on the batch
    X, by the tensor-program recursion with batch-level Gaussian expectations.

    Network: z^(l+1) = c W a^(l)/sqrt(n_l) + beta b,  c = sqrt(1 - beta^2),  a^(l) = F(z^(l)), with
    F = phi o BN applied per neuron across the batch (norm="batch": `nk.architectures.BatchNormMLP`,
    beta = 0) or F = phi (norm=None: `nk.FCNet`, CONVENTIONS.md §1).  Each neuron's pre-activations
    over the batch are N(0, Sigma^(l)), independent across neurons, so with z ~ N(0, Sigma^(l)) in
    R^B and J = dF/dz (B x B):
        Sigma^(1) = c^2 X X^T/n_0 + beta^2,      Sigma^(l+1) = c^2 E[F(z) F(z)^T] + beta^2
        Pi^(L)[i, m, j, m'] = [i = m][j = m'],
        Pi^(l)[i, p, j, p'] = c^2 sum_{m,m'} E[J_mp J_m'p'] Pi^(l+1)[i, m, j, m']
        Theta[i, j] = sum_{l=1}^{L} sum_{m, m'} Pi^(l)[i, m, j, m'] Sigma^(l)[m, m']
    (Pi^(l)[i, m, j, m'] = lim (1/n) sum_k n dF_i/dz_k^(l)(x_m) dF_j/dz_k^(l)(x_m'); the backward
    uses W^T independent of W: the readout is N(0, 1) and used once).  With F = phi this is exactly
    the CONVENTIONS.md §1 recursion, which the tests use as a check.

    The B-dimensional expectations have no closed form for phi o BN: they are estimated by
    randomised quasi-Monte Carlo, n_scrambles independent scrambles of n_samples Sobol points each
    (scipy.stats.qmc), mapped to N(0, Sigma^(l)) through its eigendecomposition and the normal
    quantile.  The whole recursion runs once per scramble; the mean is returned and its standard
    error (std over scrambles / sqrt(n_scrambles)) is `theta_se`.
    parametrization="standard" (module docstring): the first layer (fan-in n_0) and the biases drop
    out and the hidden layers count 1/c^2 times:
    theta = sum_{l>=2} Pi^(l) (Sigma^(l) - beta^2) / c^2.

    Args:
        X: the batch (B, n_0).  depth: weight layers L >= 2 for the map to act.  activation: phi.
        beta: bias balance (0 for BatchNorm, which removes biases).  norm: "batch" or None.
        n_samples: Sobol points per scramble (a power of 2).  n_scrambles: independent scrambles
        (>= 2 for an error estimate).  seed: of the scrambles.  eps: BN's variance floor.
        parametrization: "ntk" or "standard" (the kernel of SP with step lr/width).
        device: where the Gaussian maps and their moments are computed (None: X's device; "cuda",
            "auto", ... as in `nk.resolve_device`); the Sobol points are drawn on the CPU (scipy).
    Returns:
        BatchKernels, tensors on that device.
    Example:
        >>> X = nk.data.sphere(5, 3)
        >>> k = nk.architectures.batch_kernels(X, depth=2, beta=0.1, norm=None,
        ...                                    n_samples=2 ** 12)  # the FC recursion
        >>> bool((k.theta - nk.ntk(X, depth=2, beta=0.1)).abs().max() < 0.01)
        True
    """
    depth = check_depth(depth)
    beta = check_beta(beta)
    if norm not in ("batch", None):
        raise ValueError(f"norm: got {norm!r}; accepted: 'batch' or None")
    n_scrambles = check_positive_int(n_scrambles, "n_scrambles")
    n_samples = check_positive_int(n_samples, "n_samples")
    standard = _check_parametrization(parametrization) == "standard"
    act = get_activation(activation)
    fmap = _bn_map if norm == "batch" else _plain_map
    X = _as_real(X, 2, device=device)
    B = X.shape[0]
    c2, b2 = 1.0 - beta**2, beta**2
    runs = []
    for r in range(n_scrambles):
        sig = [c2 * (X @ X.T) / X.shape[1] + b2]
        Ms = []
        for l in range(1, depth):
            z = _gaussian_points(sig[-1].cpu().numpy(), n_samples, seed + 1000 * l, r)
            F, J = fmap(torch.as_tensor(z, device=X.device), act, eps)
            sig.append(c2 * (F.T @ F) / n_samples + b2)
            Jf = J.reshape(n_samples, B * B)
            Ms.append((Jf.T @ Jf / n_samples).reshape(B, B, B, B))  # [m, p, m', p']
        eye = torch.eye(B, dtype=DTYPE, device=X.device)
        pi = [eye[:, :, None, None] * eye[None, None, :, :]]  # Pi^(L)[i, m, j, m']
        for l in range(depth - 1, 0, -1):
            pi.insert(0, c2 * torch.einsum("imjn,mpnq->ipjq", pi[0], Ms[l - 1]))
        if standard:
            theta = sum(
                torch.einsum("imjn,mn->ij", p, s - b2) / c2 for p, s in zip(pi[1:], sig[1:])
            )
        else:
            theta = sum(torch.einsum("imjn,mn->ij", p, s) for p, s in zip(pi, sig))
        runs.append((sig, pi, theta))
    thetas = torch.stack([t for _, _, t in runs])
    se = (
        thetas.std(0) / math.sqrt(n_scrambles)
        if n_scrambles > 1
        else torch.full_like(thetas[0], float("nan"))
    )
    sig = [torch.stack([r[0][k] for r in runs]).mean(0) for k in range(depth)]
    pi = [torch.stack([r[1][k] for r in runs]).mean(0) for k in range(depth)]
    return BatchKernels(sig, pi, thetas.mean(0), se)


def batchnorm_ntk(
    X,
    *,
    depth,
    activation="relu",
    n_samples=2**15,
    n_scrambles=4,
    seed=0,
    parametrization="ntk",
    return_error=False,
    device=None,
):
    """Infinite-width batch NTK of `nk.architectures.BatchNormMLP(n_0, n, depth, activation=...)` on
    the batch X: Theta[i, j] = lim sum_p dF_i/dtheta_p dF_j/dtheta_p for the batch output F(X).  See
    `batch_kernels` for the recursion and the quasi-Monte-Carlo error.  Needs B >= 6 and a batch
    spanning >= 5 dimensions (see `nk.architectures.BatchNormMLP`).

    Args:
        X: the batch, shape (B, n_0).  depth: weight layers L >= 2.  activation: phi (relu).
        n_samples, n_scrambles, seed: of the quasi-Monte Carlo (`batch_kernels`).
        parametrization: "ntk" or "standard" (the kernel of SP with step lr/width: W_0 frozen).
        return_error: also return the (B, B) standard error of each entry.
        device: as in `batch_kernels`.
    Returns:
        float64 tensor (B, B) (and its standard error when return_error), on that device.
    Example:
        >>> X = nk.architectures.sequences(8, 1, 12)[:, 0]
        >>> theta, se = nk.architectures.batchnorm_ntk(X, depth=3, n_samples=2 ** 12,
        ...                                            return_error=True)
        >>> bool(se.max() < 0.05 * theta.abs().max())
        True
    """
    k = batch_kernels(
        X,
        depth=depth,
        activation=activation,
        beta=0.0,
        norm="batch",
        n_samples=n_samples,
        n_scrambles=n_scrambles,
        seed=seed,
        parametrization=parametrization,
        device=device,
    )
    return (k.theta, k.theta_se) if return_error else k.theta
