"""Infinite-width NTKs of an RNN, a residual MLP, an attention block and a BatchNorm MLP, by the
tensor-program recursions of forward and backward covariances (the theory side of architectures.py),
and the experiments of Tensor Programs IIb: empirical NTK -> infinite-width NTK, and SGD -> kernel GD.

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

    Theta(x, y) = sum over uses (s, s') of each W of   E[Z^{delta_s(x)} Z^{delta_s'(y)}] E[Z^{A_s(x)} Z^{A_s'(y)}]

and Yang and Littwin (2021, Thm. 2.2) show that SGD in NTK parametrisation then follows kernel
gradient descent with this *fixed* kernel throughout training.

Gaussian expectations E[phi(u) phi(v)], E[phi'(u) phi'(v)] use the activation dual kernels of
`ntklib.activations` (closed forms for relu and erf, Mehler quadrature otherwise).  The BatchNorm
MLP needs expectations over the whole batch, done by randomised quasi-Monte Carlo (scrambled Sobol
points, scipy) with a stated standard error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from ._checks import check_beta, check_depth, check_positive_int, model_inputs
from .devices import resolve_device
from .activations import get_activation
from .architectures import RNN, AttentionBlock, BatchNormMLP, ResNet, batch_ntk, layerwise_ntk
from .dynamics import kernel_gd, quiet
from .stats import relative_error

__all__ = ["rnn_ntk", "resnet_ntk", "attention_ntk", "batchnorm_ntk", "batch_kernels",
           "Architecture", "architecture", "ARCHITECTURE_NAMES", "sequences", "regression_targets",
           "ntk_deviation", "parameter_share", "train_sgd", "sgd_vs_kernel", "SGDComparison",
           "geometric_slope"]

DTYPE = torch.float64


def _pair(X, Y, ndim, name="X", device=None):
    X = torch.as_tensor(X).to(dtype=DTYPE, device=resolve_device(device))
    Z = X if Y is None else torch.cat([X, torch.as_tensor(Y).to(dtype=DTYPE, device=X.device)])
    if Z.ndim != ndim:
        want = "(N, T, d)" if ndim == 3 else "(N, d)"
        raise ValueError(f"{name}: got shape {tuple(X.shape)}; accepted: shape {want}")
    return Z, X.shape[0]


def _block(K, N, Y):
    return K[:N, :N] if Y is None else K[:N, N:]


def _var_pairs(K):
    v = torch.diagonal(K)
    return v[:, None], v[None, :]


# ---- RNN -------------------------------------------------------------------------------------------

def rnn_ntk(X, Y=None, *, activation="erf", sigma_w=1.0, sigma_u=1.0, sigma_b=0.1, readout="mean",
            tied=True, return_nngp=False, device=None):
    """Infinite-width NTK of the simple RNN `nk.RNN` (NTK parametrisation):

        h_0 = 0,  g_t = (s_w/sqrt(n)) W h_{t-1} + (s_u/sqrt(d)) U x_t + s_b b,  h_t = phi(g_t),
        f(x) = (1/sqrt(n)) v . pool(h),  pool = (1/T) sum_t h_t ("mean") or h_T ("last").

    Forward (tensor program, W shared across time so g_s(x), g_t(y) are correlated for all s, t):
        K_g(s, t) = s_w^2 K_h(s-1, t-1) + s_u^2 x_s.y_t/d + s_b^2,   K_h(0, .) = 0
        K_h(s, t) = E[phi(u) phi(v)],  (u, v) ~ N(0, [[K_g(s,s;x,x), K_g(s,t)], [., K_g(t,t;y,y)]])
    Backward, delta_t = sqrt(n) dF/dg_t = phi'(g_t) * (w_t v + s_w W^T delta_{t+1}/sqrt(n)), w_t = 1/T
    ("mean") or [t = T] ("last"), with W^T independent of W (v used once, TP II):
        Pi(s, t) = E[phi'(u) phi'(v)] (w_s w_t + s_w^2 Pi(s+1, t+1)),   Pi(T+1, .) = 0
    NTK (v; then W, U, b together: each use at time s of x against time t of y):
        Theta(x, y) = sum_{s,t} w_s w_t K_h(s, t) + sum_{s,t} Pi(s, t) K_g(s, t).
    tied=False (an independent W_t per step) keeps only s = t in the W terms of K_g and Pi: a different
    kernel, which the tests use to show that tying is seen by the recursion.

    Args:
        X: sequences (N, T, d).  Y: (M, T, d) or None (X).  Other arguments as in `nk.RNN`.
        return_nngp: also return the output covariance Sigma(x, y) = sum_{s,t} w_s w_t K_h(s, t).
        device: where the recursion runs (None: X's device; "cuda", "auto", ... as in `nk.resolve_device`).
    Returns:
        float64 tensor (N, M) (and the NNGP kernel when return_nngp).
    Example:
        >>> X = nk.sequences(3, 4, 2)
        >>> bool((nk.rnn_ntk(X) - nk.rnn_ntk(X, tied=False)).abs().max() > 0.01)   # tying changes the limit
        True
    """
    Z, N = _pair(X, Y, 3, device=device)
    act = get_activation(activation)
    if readout not in ("mean", "last"):
        raise ValueError(f"readout: got {readout!r}; accepted: 'mean' or 'last'")
    P, T, d = Z.shape
    base = sigma_u ** 2 * torch.einsum("psk,qtk->psqt", Z, Z) / d + sigma_b ** 2        # (P, T, P, T)
    same = torch.eye(T, dtype=DTYPE, device=Z.device)[None, :, None, :]                 # s == t mask
    w = (torch.full((T,), 1.0 / T, dtype=DTYPE, device=Z.device) if readout == "mean"
         else torch.eye(T, dtype=DTYPE, device=Z.device)[-1])

    def flat(K):
        return K.reshape(P * T, P * T)

    Kg = base.clone()
    for _ in range(T):                       # each sweep fixes one more time step: exact after T sweeps
        a, b = _var_pairs(flat(Kg))
        Kh = act.dual(a, b, flat(Kg)).reshape(P, T, P, T)
        shifted = torch.zeros_like(Kg)
        shifted[:, 1:, :, 1:] = Kh[:, :-1, :, :-1]
        if not tied:
            shifted = shifted * same
        Kg = base + sigma_w ** 2 * shifted
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
        Pi = Edot * (ww + sigma_w ** 2 * nxt)
    nngp = (ww * Kh).sum((1, 3))
    theta = nngp + (Pi * Kg).sum((1, 3))
    if return_nngp:
        return _block(theta, N, Y), _block(nngp, N, Y)
    return _block(theta, N, Y)


# ---- residual MLP ----------------------------------------------------------------------------------

def resnet_ntk(X, Y=None, *, n_blocks=2, activation="relu", branch_scale=None, sigma_w=1.0, sigma_b=0.1,
               return_nngp=False, device=None):
    """Infinite-width NTK of the residual MLP `nk.ResNet` (NTK parametrisation):

        h^0 = U x/sqrt(d),  z^l = (s_w/sqrt(n)) W1_l h^(l-1) + s_b b_l,  h^l = h^(l-1) + (alpha/sqrt(n)) W2_l phi(z^l),
        f = v . h^L / sqrt(n).

    Forward (the skip and the branch are uncorrelated: W2_l is fresh and centred):
        K_h^0 = x.y/d,   K_z^l = s_w^2 K_h^(l-1) + s_b^2,   E^l = E[phi phi](K_z^l),   K_h^l = K_h^(l-1) + alpha^2 E^l
    Backward (Pi = limit of delta.delta'/n, delta = sqrt(n) dF/d(vector)):
        Pi_h^L = 1,   Pi_z^l = alpha^2 Edot^l Pi_h^l,   Pi_h^(l-1) = Pi_h^l + s_w^2 Pi_z^l,   Edot^l = E[phi' phi'](K_z^l)
    NTK:
        Theta = K_h^L  (v)  +  sum_l [ alpha^2 Pi_h^l E^l  (W2_l)  +  Pi_z^l K_z^l  (W1_l, b_l) ]  +  Pi_h^0 K_h^0  (U).

    Args:
        X: inputs (N, d).  Y: (M, d) or None.  Other arguments as in `nk.ResNet` (alpha = 1/sqrt(L) if None).
        device: where the recursion runs (None: X's device; "cuda", "auto", ... as in `nk.resolve_device`).
    Returns:
        float64 tensor (N, M) (and the NNGP kernel K_h^L when return_nngp).
    Example:
        >>> X = torch.eye(2, dtype=torch.float64)
        >>> nk.resnet_ntk(X, branch_scale=0.0)          # no branches: f = v.Ux/sqrt(nd), Theta = 2 x.y/d
        tensor([[1., 0.],
                [0., 1.]], dtype=torch.float64)
    """
    Z, N = _pair(X, Y, 2, device=device)
    act = get_activation(activation)
    L = check_positive_int(n_blocks, "n_blocks")
    alpha = 1.0 / math.sqrt(L) if branch_scale is None else float(branch_scale)
    Kh = [Z @ Z.T / Z.shape[1]]
    Kz, E, Ed = [], [], []
    for _ in range(L):
        Kz.append(sigma_w ** 2 * Kh[-1] + sigma_b ** 2)
        a, b = _var_pairs(Kz[-1])
        E.append(act.dual(a, b, Kz[-1]))
        Ed.append(act.dual_deriv(a, b, Kz[-1]))
        Kh.append(Kh[-1] + alpha ** 2 * E[-1])
    theta = Kh[-1].clone()
    Pi_h = torch.ones_like(theta)
    for l in range(L - 1, -1, -1):
        Pi_z = alpha ** 2 * Ed[l] * Pi_h
        theta = theta + alpha ** 2 * Pi_h * E[l] + Pi_z * Kz[l]
        Pi_h = Pi_h + sigma_w ** 2 * Pi_z
    theta = theta + Pi_h * Kh[0]
    if return_nngp:
        return _block(theta, N, Y), _block(Kh[-1], N, Y)
    return _block(theta, N, Y)


# ---- attention block -------------------------------------------------------------------------------

def attention_ntk(X, Y=None, *, activation="relu", return_nngp=False, device=None):
    """Infinite-width NTK of the attention block `nk.AttentionBlock` (NTK parametrisation, scores q.k/n).

    At infinite width the scores q_t.k_s/n vanish, so the attention is uniform (a = 1/T) and the output of
    attention is o = (1/T) sum_s u_s for every token.  Forward, with hh_t = LN(U x_t/sqrt(d)) -> U x_t/|x_t|
    (LayerNorm divides by the norm; the mean is 0 in the limit):
        K_hh(t, s) = x_t.y_s / (|x_t| |y_s|),   K_o = (1/T^2) sum_{t,s} K_hh(t, s)  (o is independent of hh)
        K_r(t, s) = K_hh(t, s) + K_o,            K_y(t, s) = E[phi phi](K_r)
    Backward: delta_r(t) = phi'(r_t) v / T, so Pi_r(t, s) = E[phi' phi'](K_r)(t, s) / T^2; the values see
    dbar = (1/T) sum_t delta_r(t) (Pi_bar = sum_{t,s} Pi_r / T^2); LayerNorm's Jacobian is 1/|h| in the
    limit (its projections act on O(n^-1/2) components), so the embedding sees Pi_hh = Pi_r + Pi_bar.
    NTK (v; W_v; U):
        Theta = (1/T^2) sum K_y  +  (sum Pi_r) K_o  +  sum_{t,s} (Pi_r + Pi_bar)(t, s) K_hh(t, s).
    W_q and W_k do not appear: their gradients pass through the scores, whose derivative in q is k/n, so
    their share of the empirical NTK is O(1/n) (shown in the notebook and the tests).

    Args:
        X: sequences (N, T, d) with nonzero tokens.  Y: (M, T, d) or None.  activation: phi.
        device: where the recursion runs (None: X's device; "cuda", "auto", ... as in `nk.resolve_device`).
    Returns:
        float64 tensor (N, M) (and the NNGP kernel (1/T^2) sum K_y when return_nngp).
    Example:
        >>> nk.attention_ntk(nk.sequences(3, 4, 2)).shape
        torch.Size([3, 3])
    """
    Z, N = _pair(X, Y, 3, device=device)
    act = get_activation(activation)
    P, T, _ = Z.shape
    Zn = Z / Z.norm(dim=-1, keepdim=True)
    Khh = torch.einsum("psk,qtk->psqt", Zn, Zn)                     # (P, T, P, T)
    Ko = Khh.mean((1, 3))                                           # (P, P)
    Kr = (Khh + Ko[:, None, :, None]).reshape(P * T, P * T)
    a, b = _var_pairs(Kr)
    Ky = act.dual(a, b, Kr).reshape(P, T, P, T)
    Pi_r = act.dual_deriv(a, b, Kr).reshape(P, T, P, T) / T ** 2
    Pi_bar = Pi_r.sum((1, 3)) / T ** 2
    nngp = Ky.mean((1, 3))
    theta = nngp + Pi_r.sum((1, 3)) * Ko + (Pi_r * Khh).sum((1, 3)) + Pi_bar * Khh.sum((1, 3))
    if return_nngp:
        return _block(theta, N, Y), _block(nngp, N, Y)
    return _block(theta, N, Y)


# ---- BatchNorm MLP: batch-level Gaussian expectations --------------------------------------------------

def _gaussian_points(cov, n_samples, seed, scramble_id):
    """n_samples draws of N(0, cov) from scrambled Sobol points mapped through the normal quantile."""
    from scipy.stats import norm, qmc

    lam, V = np.linalg.eigh(cov)
    keep = lam > 1e-12 * max(lam.max(), 1e-300)
    L = V[:, keep] * np.sqrt(lam[keep])
    sob = qmc.Sobol(d=int(keep.sum()), scramble=True, seed=np.random.default_rng([seed, scramble_id]))
    u = sob.random(n_samples)
    return norm.ppf(np.clip(u, 1e-16, 1 - 1e-16)) @ L.T


def _bn_map(z, act, eps):
    """F(z) = phi(BN(z)) over the batch axis (last), and its Jacobian J[m, p] = dF_m/dz_p, per sample."""
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


def batch_kernels(X, *, depth, activation="relu", beta=0.0, norm="batch", n_samples=2 ** 15,
                  n_scrambles=4, seed=0, eps=1e-12, device=None) -> BatchKernels:
    """Infinite-width batch NNGP/NTK of an MLP whose hidden layers apply a batch map F, on the batch X,
    by the tensor-program recursion with batch-level Gaussian expectations.

    Network: z^(l+1) = c W a^(l)/sqrt(n_l) + beta b,  c = sqrt(1 - beta^2),  a^(l) = F(z^(l)), with
    F = phi o BN applied per neuron across the batch (norm="batch": `nk.BatchNormMLP`, beta = 0) or
    F = phi (norm=None: `nk.FCNet`, CONVENTIONS.md §1).  Each neuron's pre-activations over the batch are
    N(0, Sigma^(l)), independent across neurons, so with z ~ N(0, Sigma^(l)) in R^B and J = dF/dz (B x B):
        Sigma^(1) = c^2 X X^T/n_0 + beta^2,      Sigma^(l+1) = c^2 E[F(z) F(z)^T] + beta^2
        Pi^(L)[i, m, j, m'] = [i = m][j = m'],   Pi^(l)[i, p, j, p'] = c^2 sum_{m,m'} E[J_mp J_m'p'] Pi^(l+1)[i, m, j, m']
        Theta[i, j] = sum_{l=1}^{L} sum_{m, m'} Pi^(l)[i, m, j, m'] Sigma^(l)[m, m']
    (Pi^(l)[i, m, j, m'] = lim (1/n) sum_k n dF_i/dz_k^(l)(x_m) dF_j/dz_k^(l)(x_m'); the backward uses W^T
    independent of W: the readout is N(0, 1) and used once).  With F = phi this is exactly the
    CONVENTIONS.md §1 recursion, which the tests use as a check.

    The B-dimensional expectations have no closed form for phi o BN: they are estimated by randomised
    quasi-Monte Carlo, n_scrambles independent scrambles of n_samples Sobol points each (scipy.stats.qmc),
    mapped to N(0, Sigma^(l)) through its eigendecomposition and the normal quantile.  The whole
    recursion runs once per scramble; the mean is returned and its standard error
    (std over scrambles / sqrt(n_scrambles)) is `theta_se`.

    Args:
        X: the batch (B, n_0).  depth: weight layers L >= 2 for the map to act.  activation: phi.
        beta: bias balance (0 for BatchNorm, which removes biases).  norm: "batch" or None.
        n_samples: Sobol points per scramble (a power of 2).  n_scrambles: independent scrambles (>= 2
        for an error estimate).  seed: of the scrambles.  eps: BN's variance floor.
        device: where the Gaussian maps and their moments are computed (None: X's device; "cuda",
            "auto", ... as in `nk.resolve_device`); the Sobol points are drawn on the CPU (scipy).
    Returns:
        BatchKernels, tensors on that device.
    Example:
        >>> X = nk.data.sphere(5, 3)
        >>> k = nk.batch_kernels(X, depth=2, beta=0.1, norm=None, n_samples=2 ** 12)   # = the FC recursion
        >>> bool((k.theta - nk.ntk(X, depth=2, beta=0.1)).abs().max() < 0.01)
        True
    """
    depth = check_depth(depth)
    beta = check_beta(beta)
    if norm not in ("batch", None):
        raise ValueError(f"norm: got {norm!r}; accepted: 'batch' or None")
    n_scrambles = check_positive_int(n_scrambles, "n_scrambles")
    act = get_activation(activation)
    fmap = _bn_map if norm == "batch" else _plain_map
    X = torch.as_tensor(X).to(dtype=DTYPE, device=resolve_device(device))
    B = X.shape[0]
    c2, b2 = 1.0 - beta ** 2, beta ** 2
    runs = []
    for r in range(n_scrambles):
        sig = [c2 * (X @ X.T) / X.shape[1] + b2]
        Ms = []
        for l in range(1, depth):
            z = _gaussian_points(sig[-1].cpu().numpy(), n_samples, seed + 1000 * l, r)
            F, J = fmap(torch.as_tensor(z, device=X.device), act, eps)
            sig.append(c2 * (F.T @ F) / n_samples + b2)
            Jf = J.reshape(n_samples, B * B)
            Ms.append((Jf.T @ Jf / n_samples).reshape(B, B, B, B))           # [m, p, m', p']
        eye = torch.eye(B, dtype=DTYPE, device=X.device)
        pi = [eye[:, :, None, None] * eye[None, None, :, :]]                 # Pi^(L)[i, m, j, m']
        for l in range(depth - 1, 0, -1):
            pi.insert(0, c2 * torch.einsum("imjn,mpnq->ipjq", pi[0], Ms[l - 1]))
        theta = sum(torch.einsum("imjn,mn->ij", p, s) for p, s in zip(pi, sig))
        runs.append((sig, pi, theta))
    thetas = torch.stack([t for _, _, t in runs])
    se = thetas.std(0) / math.sqrt(n_scrambles) if n_scrambles > 1 else torch.full_like(thetas[0], float("nan"))
    sig = [torch.stack([r[0][k] for r in runs]).mean(0) for k in range(depth)]
    pi = [torch.stack([r[1][k] for r in runs]).mean(0) for k in range(depth)]
    return BatchKernels(sig, pi, thetas.mean(0), se)


def batchnorm_ntk(X, *, depth, activation="relu", n_samples=2 ** 15, n_scrambles=4, seed=0,
                  return_error=False, device=None):
    """Infinite-width batch NTK of `nk.BatchNormMLP(n_0, n, depth, activation=...)` on the batch X:
    Theta[i, j] = lim sum_p dF_i/dtheta_p dF_j/dtheta_p for the batch output F(X).  See `batch_kernels`
    for the recursion and the quasi-Monte-Carlo error.  Needs B >= 6 and a batch spanning >= 5
    dimensions (see `nk.BatchNormMLP`).

    Args:
        X: the batch, shape (B, n_0).  depth: weight layers L >= 2.  activation: phi (relu).
        n_samples, n_scrambles, seed: of the quasi-Monte Carlo (`batch_kernels`).
        return_error: also return the (B, B) standard error of each entry.
        device: as in `batch_kernels`.
    Returns:
        float64 tensor (B, B) (and its standard error when return_error), on that device.
    Example:
        >>> X = nk.sequences(8, 1, 12)[:, 0]
        >>> theta, se = nk.batchnorm_ntk(X, depth=3, n_samples=2 ** 12, return_error=True)
        >>> bool(se.max() < 0.05 * theta.abs().max())
        True
    """
    k = batch_kernels(X, depth=depth, activation=activation, beta=0.0, norm="batch", n_samples=n_samples,
                      n_scrambles=n_scrambles, seed=seed, device=device)
    return (k.theta, k.theta_se) if return_error else k.theta


# ---- architectures as one interface --------------------------------------------------------------------

ARCHITECTURE_NAMES = ("RNN", "ResNet", "Attention", "BatchNorm MLP")


def sequences(n, n_steps, dim, *, seed=0):
    """n input sequences of n_steps tokens in R^dim, each token on the sphere |x_t|^2 = dim.

    Args:
        n: number of sequences.  n_steps: tokens per sequence T.  dim: token dimension.  seed: of the draw.
    Returns:
        float64 tensor (n, T, dim) (use [:, 0] of n_steps=1 for points on a sphere).
    Example:
        >>> X = nk.sequences(2, 4, 3); X.shape, round(float(X[0, 0].norm() ** 2), 6)
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
        >>> nk.regression_targets(nk.sequences(5, 4, 3)).shape
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

    network(width, seed, parametrization) -> torch module on `device`;  ntk(X, Y=None) -> infinite-width
    NTK (on the CPU);  empirical_ntk(net, X) -> exact finite-width NTK (batch NTK when `coupled`), on the
    network's device;  inputs(n, seed) -> X (on the CPU).

    Args:
        name: one of ARCHITECTURE_NAMES.  options: keyword arguments for both the network and its NTK.
        n_in: input / token dimension.  n_steps: sequence length (RNN, attention).  n_blocks: ResNet
        blocks.  depth: BatchNorm MLP weight layers.  n_samples: its Sobol points per scramble.
        device: where the networks live and the sweeps (`ntk_deviation`, `parameter_share`,
        `sgd_vs_kernel`) and the BatchNorm quasi-Monte Carlo run (None: CPU; "cuda", "auto", ... as in
        `nk.resolve_device`).
    Example:
        >>> a = nk.architecture("ResNet"); X = a.inputs(4)
        >>> a.empirical_ntk(a.network(64), X).shape == a.ntk(X).shape
        True
    """
    name: str
    options: dict = field(default_factory=dict)
    n_in: int = 3
    n_steps: int = 4
    n_blocks: int = 2
    depth: int = 3
    n_samples: int = 2 ** 15
    device: object = None

    def __post_init__(self):
        self.device = resolve_device(self.device)

    @property
    def coupled(self) -> bool:
        """Whether the outputs couple the batch (BatchNorm: the NTK is that of the batch output)."""
        return self.name == "BatchNorm MLP"

    @property
    def sequential(self) -> bool:
        return self.name in ("RNN", "Attention")

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
        return BatchNormMLP(self.n_in, width, self.depth, **o)

    def ntk(self, X, Y=None):
        o = self.options
        if self.name == "RNN":
            return rnn_ntk(X, Y, **o)
        if self.name == "ResNet":
            return resnet_ntk(X, Y, n_blocks=self.n_blocks, **o)
        if self.name == "Attention":
            return attention_ntk(X, Y, **o)
        if Y is not None:
            raise ValueError("Y: the BatchNorm NTK is a batch kernel; pass the whole batch as X")
        return batchnorm_ntk(X, depth=self.depth, n_samples=self.n_samples, device=self.device, **o).cpu()

    def empirical_ntk(self, net, X):
        return batch_ntk(net, X) if self.coupled else layerwise_ntk(net, X)


def architecture(name, **kwargs) -> Architecture:
    """An `Architecture` by name.

    Args:
        name: "RNN", "ResNet", "Attention" or "BatchNorm MLP".
        kwargs: n_in (default 3; 12 for BatchNorm), n_steps, n_blocks, depth, n_samples, device (where
            the networks and sweeps run: None/"cpu", "cuda", "auto"), and `options` (keyword arguments
            passed to both the network and its infinite-width NTK, e.g. {"readout": "last"} for the RNN).
    Returns:
        Architecture.
    Example:
        >>> nk.architecture("RNN", options={"readout": "last"}).network(16)
        RNN(n_in=3, width=16, activation=erf, readout=last, tied=True, parametrization=ntk)
    """
    if name not in ARCHITECTURE_NAMES:
        raise ValueError(f"name: got {name!r}; accepted: {ARCHITECTURE_NAMES}")
    if name == "BatchNorm MLP":
        kwargs.setdefault("n_in", 12)      # the batch must span >= 5 dimensions (see nk.BatchNormMLP)
    return Architecture(name, **kwargs)


# ---- experiment 1: empirical NTK -> infinite-width NTK -------------------------------------------------

def ntk_deviation(arch: Architecture, X, widths, seeds, *, theta=None, references=None, share_of=None,
                  progress=None):
    """Relative Frobenius deviation ||Theta_hat - Theta||_F / ||Theta||_F of the empirical NTK of
    `arch.network(width, seed)` from the infinite-width NTK, for every width and seed (Tensor Programs
    II, Fig. 1).  references: optional {label: other kernel}; the same empirical NTKs are compared with
    each (e.g. a wrong recursion, which should not be approached).  share_of: optional parameter
    names whose joint share ||sum of their NTK contributions||_F / ||Theta_hat||_F is recorded too
    (tap-based architectures only).

    Returns dict(widths (W,), deviation (W, S), theta, reference_deviation {label: (W, S)},
    share (W, S) or None).

    Args:
        arch: an `Architecture`.  X: its inputs (the batch for BatchNorm).  widths: widths to sweep.
        seeds: seeds per width (network seed = seed + 7919 * width index).  theta: the infinite-width
        NTK (computed when None).  progress: tqdm bar (default: unless quiet()).
    Example:
        >>> a = nk.architecture("ResNet"); r = nk.ntk_deviation(a, a.inputs(4), [32, 64], range(2), progress=False)
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
            net = arch.network(int(w), seed=int(s) + 7919 * i)          # on arch.device
            if share_of is None:
                K = arch.empirical_ntk(net, X)
            else:
                K, parts = layerwise_ntk(net, X, by_parameter=True)
                share[i, j] = float(torch.linalg.norm(sum(parts[n] for n in share_of)) / torch.linalg.norm(K))
            dev[i, j] = relative_error(K, theta)
            for k, R in references.items():
                ref[k][i, j] = relative_error(K, R)
            del net
    return {"widths": np.asarray(widths), "deviation": dev, "theta": theta, "reference_deviation": ref,
            "share": share}


def parameter_share(arch: Architecture, X, widths, seeds, names):
    """||sum of the named parameters' NTK contributions||_F / ||Theta_hat||_F for every width and seed
    (e.g. names=("Wq", "Wk") for the attention block: O(1/n) with the 1/n query-key scaling).

    Args:
        arch: an `Architecture` built from RNN, ResNet or AttentionBlock.  X: inputs.  widths, seeds:
        as in `ntk_deviation`.  names: parameter names of the network (e.g. "Wq", "W", "U").
    Returns:
        numpy array (W, S).
    Example:
        >>> a = nk.architecture("Attention"); X = a.inputs(3)
        >>> nk.parameter_share(a, X, [32], range(1), ("Wq", "Wk")).shape
        (1, 1)
    """
    out = np.zeros((len(widths), len(seeds)))
    for i, w in enumerate(widths):
        for j, s in enumerate(seeds):
            K, parts = layerwise_ntk(arch.network(int(w), seed=int(s) + 7919 * i), X, by_parameter=True)
            out[i, j] = float(torch.linalg.norm(sum(parts[n] for n in names)) / torch.linalg.norm(K))
    return out


def geometric_slope(widths, values):
    """Log-log slope fitted to every (width, seed) value at once, and the geometric mean per width.

    values: (W, S).  Fitting all log-values is the same as fitting the per-width means of the logs
    (equal seeds per width), so the slope is that of the geometric-mean curve; logs tame the heavy
    right tail of a few unlucky seeds better than arithmetic means do.

    Args:
        widths: (W,) positive.  values: (W, S) positive.
    Returns:
        (slope, geometric mean per width (W,)).
    Example:
        >>> round(nk.geometric_slope([1, 4], [[1.0, 1.0], [0.5, 0.5]])[0], 12)
        -0.5
    """
    v = np.asarray(values, dtype=float)
    w = np.repeat(np.asarray(widths, dtype=float), v.shape[1])
    slope, _ = np.polyfit(np.log(w), np.log(v.ravel()), 1)
    return float(slope), np.exp(np.log(v).mean(1))


# ---- experiment 2: SGD against kernel gradient descent --------------------------------------------------

def train_sgd(model, X_train, Y_train, *, lr, batches, X_track=None, record_steps=None):
    """Minibatch SGD on C_B = (1/|B|) ||f(X_B) - Y_B||^2, theta <- theta - lr grad C_B, in place.

    (nk.train_gd is full-batch; this is its minibatch sibling, the finite side of nk.kernel_gd.)
    For a model whose outputs couple the batch (BatchNorm), each minibatch is one batch and the tracked
    outputs are those of X_track evaluated as one batch.

    Args:
        model: scalar-output module (trained on its own device).  X_train: (n, ...), moved to the
        model's device.  Y_train: (n,).  lr: step size.
        batches: sequence of index arrays into the training set, one per step.
        X_track: inputs whose outputs are recorded (default X_train).
        record_steps: steps at which they are recorded (default every step, 0 included).
    Returns:
        (steps, f): numpy array (T,) and float64 tensor (T, P) on the CPU.
    Example:
        >>> net, X = nk.ResNet(3, 32, seed=0), torch.randn(6, 3, dtype=torch.float64)
        >>> steps, f = nk.train_sgd(net, X, torch.zeros(6), lr=0.1, batches=[[0, 1], [2, 3]])
        >>> f.shape
        torch.Size([3, 6])
    """
    X_train = model_inputs(model, X_train, "X_train")
    X_track = X_train if X_track is None else model_inputs(model, X_track, "X_track")
    Y_train = torch.as_tensor(Y_train).to(X_train).reshape(-1)
    params = [p for p in model.parameters() if p.requires_grad]
    n_steps = len(batches)
    rec = set(range(n_steps + 1)) if record_steps is None else set(int(s) for s in record_steps)
    steps, out = [], []
    for k in range(n_steps + 1):
        if k in rec:
            with torch.no_grad():
                steps.append(k)
                out.append(model(X_track).reshape(-1).detach().to(DTYPE).clone())
        if k == n_steps:
            break
        idx = torch.as_tensor(np.asarray(batches[k]), device=X_train.device)
        loss = ((model(X_train[idx]).reshape(-1) - Y_train[idx]) ** 2).mean()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
    return np.array(steps), torch.stack(out).cpu()


@dataclass
class SGDComparison:
    """Result of `sgd_vs_kernel`: for each width and seed, the relative function-space gap
    max_t RMS(f_SGD(t) - f_kernel(t)) / RMS(Y) over the whole trajectory (train and test points), and
    the trajectories of the last seed at every width (for plots).  The tracked points are the training
    points first (n_train of them), then the test points.

    Args:
        widths: (W,).  gap: (W, S) relative gaps.  steps: (T,) recorded steps.
        f_net, f_kernel: {width: (T, P)} outputs of SGD and of kernel GD (last seed).
        Y: training targets.  n_train: number of training points.  loss_kernel: (T,) kernel-GD loss.
    Example:
        >>> a = nk.architecture("ResNet"); X = a.inputs(6); Y = nk.regression_targets(X)
        >>> r = nk.sgd_vs_kernel(a, X, Y, None, [32], range(1), lr=0.05, batch_size=2, steps=3, progress=False)
        >>> r.gap.shape, r.f_net[32].shape
        ((1, 1), torch.Size([4, 6]))
    """
    widths: np.ndarray
    gap: np.ndarray                 # (W, S)
    steps: np.ndarray               # (T,)
    f_net: dict                     # width -> (T, P) tensor (last seed)
    f_kernel: dict                  # width -> (T, P) tensor (kernel GD from that network's f_0)
    Y: torch.Tensor                 # (n_train,)
    n_train: int
    loss_kernel: np.ndarray         # (T,) training loss of kernel GD (last width, last seed)


def sgd_vs_kernel(arch: Architecture, X_train, Y_train, X_test, widths, seeds, *, lr, batch_size, steps,
                  theta=None, parametrization="ntk", record_every=1, batch_seed=0, progress=None):
    """SGD of `arch.network(width, seed)` against kernel GD with the infinite-width NTK, same learning
    rate and the same minibatches (Yang and Littwin 2021, Thm. 2.2), started from the network's own
    f_0, so the gap measures only how far the training dynamics are from kernel gradient descent.

    parametrization="standard": the same networks (same f_0) in standard parametrisation, trained with
    step lr/width (the scaling that keeps the hidden layers' effective step at lr); compared against the
    same NTK-parametrisation kernel prediction.  BatchNorm models train full-batch on X_train (their NTK
    is a batch kernel), and X_test is ignored.

    Args:
        arch: an `Architecture`.  X_train, Y_train: training inputs and targets.  X_test: inputs tracked
        besides (or None).  widths, seeds: the networks (seed 1000 + seed + 7 * width index, the same
        f_0 in both parametrisations).  lr: step of SGD and of kernel GD.  batch_size: minibatch size.
        steps: SGD steps.  theta: the infinite-width NTK on [X_train; X_test] (computed when None).
        parametrization: "ntk" or "standard".  record_every: record every step up to 5, then every
        record_every-th.  batch_seed: draws the minibatches (shared by every width and seed).
    Returns:
        SGDComparison.
    Example:
        >>> a = nk.architecture("RNN"); X = a.inputs(8); Y = nk.regression_targets(X)
        >>> r = nk.sgd_vs_kernel(a, X[:6], Y[:6], X[6:], [32, 128], range(2), lr=0.1, batch_size=3, steps=4,
        ...                      progress=False)
        >>> r.gap.shape, r.f_net[128].shape, r.n_train             # tracked: 6 training then 2 test inputs
        ((2, 2), torch.Size([5, 8]), 6)
    """
    n = X_train.shape[0]
    X_all = X_train if (arch.coupled or X_test is None) else torch.cat([X_train, X_test])
    theta = arch.ntk(X_all) if theta is None else theta
    rng = np.random.default_rng(batch_seed)
    if arch.coupled:
        batches = [np.arange(n)] * steps
    else:
        batches = [rng.choice(n, size=batch_size, replace=False) for _ in range(steps)]
    # every step up to 5 (a fast-converging problem peaks there), then every record_every-th, and the last
    record = np.unique(np.r_[np.arange(0, min(steps, 5) + 1), np.arange(0, steps + 1, record_every), steps])
    Y = torch.as_tensor(Y_train).to(DTYPE).reshape(-1)
    y_rms = float(Y.pow(2).mean().sqrt())
    show = (not quiet()) if progress is None else progress
    gap = np.zeros((len(widths), len(seeds)))
    f_net, f_ker, loss_k = {}, {}, None
    for i, w in enumerate(tqdm(widths, disable=not show, desc=f"{arch.name} SGD", leave=False)):
        for j, s in enumerate(seeds):
            net = arch.network(int(w), seed=1000 + int(s) + 7 * i, parametrization=parametrization)
            step = lr / int(w) if parametrization == "standard" else lr
            _, fN = train_sgd(net, X_train, Y, lr=step, batches=batches, X_track=X_all, record_steps=record)
            _, fK = kernel_gd(theta, fN[0], Y, np.arange(n), lr=lr, batches=batches, record_steps=record)
            gap[i, j] = float(((fN - fK) ** 2).mean(1).sqrt().max()) / y_rms
        f_net[int(w)], f_ker[int(w)] = fN, fK
        loss_k = ((fK[:, :n] - Y) ** 2).mean(1).numpy()
    return SGDComparison(np.asarray(widths), gap, record, f_net, f_ker, Y, n, loss_k)
