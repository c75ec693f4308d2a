"""Deconvolutional generators at infinite width: the pixel NTK, the bounds of the checkerboard
theorem, Fourier and eigen views of pixel kernels (the finite generator is in
ntklib.deconv.generator).

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

Infinite-width pixel NTK (derived here; the bounds are stated by Jacot, Gabriel, Hongler 2019b).
For output pixels p, p' let m(p, p') in {0..L} be the number of top layers L, L-1, ... whose taps
agree along the two ancestor paths: the s-adic valuation of p - p' capped at L (in 2-D: the smaller
of the two axes' valuations); m = L iff p = p'.  Weights are shared across positions but differ
between taps, so (i) the pre-activations of the two paths are independent except for the bias until
the layer j = L - m where the taps first agree from there on: their covariance there is beta^2 (both
see the same bias, different filter taps); (ii) above it they follow the FC recursion; (iii) a
layer's weights contribute only if all the taps from that layer up agree.  Hence

    Theta_{p,p'}(x, y) = T_m(x, y) = sum_{l = L-m}^{L} Sigma_m^(l) prod_{k=l+1}^{L} SigmaDot_m^(k),
    Sigma_m^(L-m) = beta^2 (m < L),   Sigma_L^(1)(x, y) = (1 - beta^2) x.y/n_0 + beta^2,
    Sigma_m^(l+1) = (1 - beta^2) E[sigma(u) sigma(v)] + beta^2,
    SigmaDot_m^(l+1) = (1 - beta^2) E[sigma'(u) sigma'(v)]

with (u, v) ~ N(0, [[q_x^(l), Sigma_m^(l)], [Sigma_m^(l), q_y^(l)]]) and q^(l) the FC variances.
T_L is the FC NTK (nk.ntk); for m < L, T_m depends on x, y only through |x|^2, |y|^2.  With a
standardised sigma (E sigma(z)^2 = 1) and |x|^2 = n_0 every Sigma <= 1 and SigmaDot <= r
(Cauchy-Schwarz), so with v = min(m, L-1) and Theta_{p,p}(x, x) = (1 - r^L)/(1 - r):

    Theta_{p,p'}(x, y)/Theta_{p,p}(x, x) <= (1 - r^(v+1))/(1 - r^L)       (any r, any sigma)

and in the FREEZE (r < 1, sigma smooth) the FC correlations converge to 1 at rate r, which gives the
lower bound  (1 - r^(v+1))/(1 - r^L) - C1 (v+1) r^v  (checked numerically in notebook 06).
"""

from __future__ import annotations

import torch

from .._checks import as_input_pair, check_beta, check_depth, check_positive_int
from ..activations import get_activation

__all__ = [
    "deconv_ntk",
    "deconv_ntk_levels",
    "pixel_levels",
    "checkerboard_v",
    "checkerboard_upper_bound",
    "checkerboard_lower_bound",
    "fit_c1",
    "output_size",
]

MAX_BYTES = 2 * 1024**3  # largest tensor a pixel-kernel request may allocate (2 GiB)


def _check_bytes(n_bytes, what, accepted):
    """Refuse a request whose result would exceed MAX_BYTES, saying how much it needs."""
    if n_bytes > MAX_BYTES:
        raise ValueError(
            f"{what} needs {n_bytes / 1024**3:.3g} GiB; accepted: requests up to "
            f"{MAX_BYTES / 1024**3:.0f} GiB ({accepted})"
        )


def _check_float_dtype(dtype):
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(
            f"dtype: got {dtype!r}; accepted: a floating torch dtype (torch.float64 for "
            "anything compared with theory)"
        )
    return dtype


def _check_kernel_padding(stride, kernel_size, padding):
    """kernel_size None means stride; returns (kernel_size, padding, parents per axis)."""
    k = stride if kernel_size is None else check_positive_int(kernel_size, "kernel_size")
    if k % stride:
        raise ValueError(
            f"kernel_size: got {k}; accepted: a multiple of stride={stride} (every interior "
            "pixel then has kernel_size/stride parents per axis)"
        )
    if not isinstance(padding, int) or isinstance(padding, bool) or not 0 <= padding < k:
        raise ValueError(f"padding: got {padding!r}; accepted: an integer in [0, kernel_size={k})")
    return k, padding, k // stride


def output_size(depth, stride=2, kernel_size=None, padding=0):
    """Pixels per axis after `depth` transposed convolutions from one pixel:
    S_(l+1) = (S_l - 1) stride - 2 padding + kernel_size, S_0 = 1 (stride^depth when
    kernel = stride, padding 0; also 2^depth for DCGAN's kernel 4, stride 2, padding 1:
    1 -> 2 -> 4 -> 8).

    Args:
        depth: number of transposed convolutions L >= 1.  stride: s >= 1.
        kernel_size: a multiple of the stride (None: the stride).  padding: >= 0 pixels per side.
    Returns:
        int, the pixels per axis of the image.
    Example:
        >>> nk.deconv.output_size(3, 2), nk.deconv.output_size(3, 2, kernel_size=4, padding=1)
        (8, 8)
    """
    depth = check_depth(depth)
    stride = check_positive_int(stride, "stride")
    k, padding, _ = _check_kernel_padding(stride, kernel_size, padding)
    S = 1
    for l in range(depth):
        S = (S - 1) * stride - 2 * padding + k
        if S < 1:
            raise ValueError(
                f"padding: got {padding}; layer {l + 1} would have {S} pixels per axis; "
                "accepted: a padding that leaves at least one pixel"
            )
    return S


def _check_stride_dim(stride, dim):
    stride = check_positive_int(stride, "stride")
    if stride < 2:
        raise ValueError(
            f"stride: got {stride}; accepted: an integer >= 2 (upsampling by the stride)"
        )
    if dim not in (1, 2):
        raise ValueError(f"dim: got {dim!r}; accepted: 1 (signals) or 2 (images)")
    return stride, dim


# ---- activations used in the phase diagram -------------------------------------------------------

# ---- pixel bookkeeping ---------------------------------------------------------------------------


def _valuation(d, stride, cap):
    """s-adic valuation of the integer tensor d, capped at `cap` (d = 0 gives cap)."""
    v = torch.zeros_like(d)
    rem = d.abs()
    for _ in range(cap):
        ok = rem % stride == 0
        v = v + ok.to(v.dtype)
        rem = torch.where(ok, rem // stride, torch.ones_like(rem))  # stop counting once it fails
    return v


def pixel_levels(depth, stride=2, dim=1):
    """m(p, p') for every pair of output pixels (row-major flattening), an int64 tensor (P, P).

    m is the number of top layers whose filter taps agree on the two ancestor paths: the s-adic
    valuation of p - p' capped at `depth` (in 2-D the smaller of the two axes'); m = depth iff
    p = p'.  The pixel NTK is Theta_{p,p'}(x, y) = T_{m(p,p')}(x, y) with T from
    `deconv_ntk_levels`.

    Args:
        depth: number of transposed-convolution layers L >= 1; the output has stride^L pixels per
            axis.
        stride: s >= 2.
        dim: 1 (signals) or 2 (images).
    Returns:
        int64 tensor (P, P), P = stride^(depth dim), entries in {0..depth}.
    Example:
        >>> nk.deconv.pixel_levels(2, 2, 1)
        tensor([[2, 0, 1, 0],
                [0, 2, 0, 1],
                [1, 0, 2, 0],
                [0, 1, 0, 2]])
        >>> nk.deconv.pixel_levels(2, 2, 2).shape                  # 4 x 4 images, 16 pixels
        torch.Size([16, 16])
    """
    depth = check_depth(depth)
    stride, dim = _check_stride_dim(stride, dim)
    _check_bytes(
        8 * stride ** (2 * depth * dim),
        f"pixel_levels(depth={depth}, stride={stride}, dim={dim}) "
        f"(a ({stride ** (depth * dim)},)^2 int64 table)",
        "P^2 int64 entries, P = stride^(depth dim)",
    )
    S = stride**depth
    idx = torch.arange(S)
    v1 = _valuation(idx[:, None] - idx[None, :], stride, depth)  # (S, S)
    if dim == 1:
        return v1
    return torch.minimum(v1[:, None, :, None], v1[None, :, None, :]).reshape(S * S, S * S)


def checkerboard_v(depth, stride=2, dim=1):
    """v(p, p') = min(m(p, p'), depth - 1): the largest v in {0..L-1} with s^v dividing p - p'
    (per axis).

    The exponent of the checkerboard bounds (CONVENTIONS.md §1): in the freeze
    Theta_{p,p'}(x, y) / Theta_{p,p}(x, x) lies between `checkerboard_lower_bound` and
    `checkerboard_upper_bound` = (1 - r^(v+1)) / (1 - r^L), evaluated at this v.

    Args:
        depth: number of layers L >= 1.  stride: s >= 2.  dim: 1 or 2.
    Returns:
        int64 tensor (P, P), P = stride^(depth dim), entries in {0..depth-1}.
    Example:
        >>> nk.deconv.checkerboard_v(3, 2, 1)[0]                    # pixel 0 against pixels 0..7
        tensor([2, 0, 1, 0, 2, 0, 1, 0])
    """
    return pixel_levels(depth, stride, dim).clamp(max=depth - 1)


# ---- infinite-width pixel NTK --------------------------------------------------------------------


def deconv_ntk_levels(
    X, Y=None, *, depth, activation="relu", beta=0.1, dtype=torch.float64, device=None
):
    """T_m(x, y), m = 0..depth: the infinite-width pixel NTK of a deconvolutional generator by
    level.

    Theta_{p,p'}(x, y) = T_{m(p,p')}(x, y) with m = nk.deconv.pixel_levels(...) (independent of the
    stride and of the dimension: those only decide which pixel pairs have which level).  Recursion
    in the module docstring: the level-m chain starts at layer L - m from covariance beta^2 (m = L:
    the FC NTK).

    Args:
        X: latent codes (N, n_0).  Y: (M, n_0); None means X.
        depth: number of transposed-convolution layers L >= 1.
        activation, beta: as for nk.ntk.
        dtype, device: of the computation.
    Returns:
        tensor (depth + 1, N, M): T[m] is the NTK of two output pixels at level m; T[0] = beta^2
        (the two pixels share only the last layer's bias), T[depth] = nk.ntk(X, Y, depth=depth, ...)
        (p = p').
    Example:
        >>> X = [[1.0, -1.0], [1.0, 1.0]]
        >>> T = nk.deconv.deconv_ntk_levels(X, depth=3, activation="relu", beta=0.1)
        >>> T.shape
        torch.Size([4, 2, 2])
        >>> torch.allclose(T[0], torch.full((2, 2), 0.01, dtype=torch.float64))   # beta^2
        True
        >>> torch.allclose(T[3], nk.ntk(X, depth=3, activation="relu", beta=0.1))
        True
    """
    depth = check_depth(depth)
    beta = check_beta(beta)
    X, Y = as_input_pair(X, Y, dtype=_check_float_dtype(dtype), device=device)
    Y = X if Y is None else Y
    act = get_activation(activation)
    w2, b2 = 1.0 - beta * beta, beta * beta
    n0 = X.shape[1]
    qx = w2 * (X * X).sum(1) / n0 + b2  # variances at layer 1, (N,)
    qy = w2 * (Y * Y).sum(1) / n0 + b2
    N, M = X.shape[0], Y.shape[0]
    # C[m], T[m]: covariance and NTK of chain m at the current layer; chain m is live from
    # layer L - m.
    C = torch.full((depth + 1, N, M), b2, dtype=X.dtype, device=X.device)
    C[depth] = w2 * (X @ Y.T) / n0 + b2
    T = C.clone()
    for l in range(1, depth):  # layer l -> l + 1
        live = slice(depth - l, depth + 1)  # chains already started (m >= L - l)
        a, b = qx[:, None].expand(N, M), qy[None, :].expand(N, M)
        c = C[live]
        sd = w2 * act.dual_deriv(a, b, c)
        C[live] = w2 * act.dual(a, b, c) + b2
        T[live] = T[live] * sd + C[live]
        qx = w2 * act.dual(qx, qx, qx) + b2
        qy = w2 * act.dual(qy, qy, qy) + b2
    return T


def deconv_ntk(
    X,
    Y=None,
    *,
    depth,
    stride=2,
    dim=1,
    kernel_size=None,
    padding=0,
    activation="relu",
    beta=0.1,
    dtype=torch.float64,
    device=None,
):
    """Infinite-width pixel NTK Theta_{p,p'}(x, y) of a deconvolutional generator (module
    docstring).

    kernel_size = stride, padding = 0 (the defaults): the tree, T_m by `deconv_ntk_levels` placed by
    `pixel_levels`.  Otherwise (overlapping filters, e.g. DCGAN's kernel 4, stride 2, padding 1) the
    exact recursion over pixel pairs (the CNN NTK of Arora et al. 2019, eq. 7-8, for transposed
    convolutions; not Monte Carlo).  With A_t the 0/1 matrix that sends an input pixel i to the
    output pixel q = i stride + t - padding through filter tap t (per axis; a Kronecker product in
    2-D) and n = (kernel_size/stride)^dim the parents of an interior pixel (the generator's weights
    are scaled by sqrt(1 - beta^2)/sqrt(C_l n)):

        Sigma^(l+1) = (1 - beta^2)/n sum_t A_t E[sigma(u) sigma(v)] A_t^T + beta^2,
        Theta^(l+1) = Sigma^(l+1)
                      + (1 - beta^2)/n sum_t A_t (E[sigma'(u) sigma'(v)] * Theta^(l)) A_t^T,

    with (u, v) Gaussian with the pixel pair's layer-l covariance, each pixel with its OWN variance
    (border pixels have fewer parents, hence smaller variance),
    Sigma^(1) = (1 - beta^2)/n A x.y/n_0 A^T + beta^2.  Memory: four (N, M, P_l, P_l) tensors per
    layer, refused above MAX_BYTES.

    Args:
        X: latent codes (N, n_0).  Y: (M, n_0); None means X.
        depth: layers L.  stride: s >= 2.  dim: 1 or 2.
        kernel_size: filter size per axis, a multiple of stride (None: stride).  padding: in
            [0, kernel).
        activation, beta: as for nk.ntk (the theorem's scaling: a standardised sigma and
            |x|^2 = n_0).
        dtype, device: of the computation (a floating dtype).
    Returns:
        tensor (N, M, P, P), P = output_size(...)^dim (stride^(L dim) by default), pixels row-major.
    Example:
        >>> nk.deconv.deconv_ntk([[1.0, -1.0]], depth=2, stride=2, dim=2).shape
        torch.Size([1, 1, 16, 16])
        >>> nk.deconv.deconv_ntk([[1.0, -1.0]], depth=3, kernel_size=4, padding=1).shape  # 8 pixels
        torch.Size([1, 1, 8, 8])
    """
    depth = check_depth(depth)
    stride, dim = _check_stride_dim(stride, dim)
    k, padding, par = _check_kernel_padding(stride, kernel_size, padding)
    S = output_size(depth, stride, k, padding)
    n, m = _row_count(X), (_row_count(X) if Y is None else _row_count(Y))
    tree = k == stride and padding == 0
    _check_bytes(
        (1 if tree else 4) * n * m * S ** (2 * dim) * 8,
        f"deconv_ntk with {n} x {m} codes, depth={depth}, stride={stride}, dim={dim} "
        f"({S**dim} pixels)",
        "N M P^2 float64 entries, four such tensors for overlapping filters",
    )
    if tree:
        T = deconv_ntk_levels(
            X, Y, depth=depth, activation=activation, beta=beta, dtype=dtype, device=device
        )
        lev = pixel_levels(depth, stride, dim).to(T.device)
        return T.permute(1, 2, 0)[:, :, lev]
    return _pixel_pair_ntk(X, Y, depth, stride, dim, k, padding, activation, beta, dtype, device)


def _pixel_pair_ntk(
    X, Y, depth, stride, dim, kernel_size, padding, activation, beta, dtype, device
):
    """The recursion over pixel pairs of `deconv_ntk` (its docstring), for any kernel_size and
    padding (the tree case too: the tests compare the two).  The lift sum_t A_t K A_t^T is separable
    in 2-D: one 1-D lift on the first axis of both pixels, then one on the second."""
    beta = check_beta(beta)
    X, Y = as_input_pair(X, Y, dtype=_check_float_dtype(dtype), device=device)
    Y = X if Y is None else Y
    act = get_activation(activation)
    par = (kernel_size // stride) ** dim
    w2, b2 = (1.0 - beta * beta) / par, beta * beta
    n0 = X.shape[1]
    size = 1

    def lift(K, A):  # K (..., P_l, P_l) -> (..., P_(l+1), P_(l+1))
        if dim == 1:
            return torch.einsum("tqi,...ij,trj->...qr", A, K, A)
        s_in, s_out = A.shape[2], A.shape[1]
        K = K.reshape(*K.shape[:-2], s_in, s_in, s_in, s_in)
        K = torch.einsum("tqa,...abcd,trc->...qbrd", A, K, A)
        K = torch.einsum("tpb,...qbrd,tsd->...qprs", A, K, A)
        return K.reshape(*K.shape[:-4], s_out * s_out, s_out * s_out)

    def lift_diag(q, A):  # the diagonal of lift(diag(q)), (..., P_l)
        return torch.diagonal(lift(torch.diag_embed(q), A), dim1=-2, dim2=-1)

    qx, qy = ((X * X).sum(1) / n0)[:, None], ((Y * Y).sum(1) / n0)[:, None]  # (N, 1), (M, 1) pixels
    C = (X @ Y.T / n0)[:, :, None, None]  # the one-pixel input image's "kernel"
    T = None
    for l in range(depth):
        A = _tap_matrices(size, stride, kernel_size, padding, X.dtype, X.device)
        size = A.shape[1]
        if l == 0:
            C, qx, qy = w2 * lift(C, A) + b2, w2 * lift_diag(qx, A) + b2, w2 * lift_diag(qy, A) + b2
            T = C
            continue
        a, b = (
            qx[:, None, :, None],
            qy[None, :, None, :],
        )  # broadcast: one quadrature per pixel variance
        sd = act.dual_deriv(a, b, C)
        C = w2 * lift(act.dual(a, b, C), A) + b2
        T = C + w2 * lift(sd * T, A)
        qx = w2 * lift_diag(act.dual(qx, qx, qx), A) + b2
        qy = w2 * lift_diag(act.dual(qy, qy, qy), A) + b2
    return T


def _row_count(X):
    return len(X) if not hasattr(X, "shape") else int(X.shape[0])


def _tap_matrices(size, stride, kernel_size, padding, dtype, device):
    """(taps, S_out, S_in) 0/1 matrices of one axis: A_t[q, i] = 1 iff
    q = i stride + t - padding."""
    out = (size - 1) * stride - 2 * padding + kernel_size
    t = torch.arange(kernel_size, device=device)[:, None, None]
    q = torch.arange(out, device=device)[None, :, None]
    i = torch.arange(size, device=device)[None, None, :]
    return (q == i * stride + t - padding).to(dtype)


# ---- bounds of the checkerboard theorem ----------------------------------------------------------


def checkerboard_upper_bound(r, v, depth):
    """Upper bound of the checkerboard theorem: (1 - r^(v+1)) / (1 - r^L), elementwise in v.

    Bounds Theta_{p,p'}(x, y) / Theta_{p,p}(x, x) for pixels at level v = `checkerboard_v` (any r,
    any standardised sigma, |x|^2 = n_0; module docstring); the limit (v+1)/L is used at r = 1.

    Args:
        r: r(sigma, beta) = (1 - beta^2) E[sigma'(z)^2], a float (nk.r_value).
        v: levels in {0..L-1} (int, list, array or tensor).
        depth: number of layers L.
    Returns:
        float64 tensor of the shape of v; 1 at v = L - 1.
    Example:
        >>> nk.deconv.checkerboard_upper_bound(0.5, [0, 1, 2], 3)
        tensor([0.5714, 0.8571, 1.0000], dtype=torch.float64)
        >>> nk.deconv.checkerboard_upper_bound(1.0, [0, 1, 2], 3)
        tensor([0.3333, 0.6667, 1.0000], dtype=torch.float64)
    """
    v = torch.as_tensor(v, dtype=torch.float64)
    if abs(r - 1.0) < 1e-12:
        return (v + 1) / depth
    return (1 - r ** (v + 1)) / (1 - r**depth)


def checkerboard_lower_bound(r, v, depth, c1):
    """Lower bound of the checkerboard theorem in the freeze:
    (1 - r^(v+1)) / (1 - r^L) - C1 (v+1) r^v.

    Holds for r < 1 and smooth sigma with a constant C1 the theorem does not give (fit it with
    `fit_c1`); elementwise in v.

    Args:
        r: r(sigma, beta), a float.
        v: levels in {0..L-1} (int, list, array or tensor).
        depth: number of layers L.
        c1: the constant C1 >= 0.
    Returns:
        float64 tensor of the shape of v.
    Example:
        >>> nk.deconv.checkerboard_lower_bound(0.5, [0, 1, 2], 3, c1=0.1)
        tensor([0.4714, 0.7571, 0.9250], dtype=torch.float64)
    """
    v = torch.as_tensor(v, dtype=torch.float64)
    return checkerboard_upper_bound(r, v, depth) - c1 * (v + 1) * r**v


def fit_c1(ratio, v, r, depth) -> float:
    """The smallest C1 >= 0 for which the lower bound holds at every given pair.

        C1 = max(0, max_i (upper(v_i) - ratio_i) / ((v_i + 1) r^v_i)),
        upper = checkerboard_upper_bound

    Args:
        ratio: measured Theta_{p,p'}(x, y) / Theta_{p,p}(x, x) (any shape).
        v: their levels (`checkerboard_v`), same shape.
        r: r(sigma, beta) > 0.
        depth: number of layers L.
    Returns:
        float.
    Example:
        >>> ratio, v = [0.5, 0.8], [0, 1]
        >>> c1 = nk.deconv.fit_c1(ratio, v, 0.5, 3)
        >>> round(c1, 4)
        0.0714
        >>> bool((nk.deconv.checkerboard_lower_bound(0.5, v, 3, c1)
        ...       <= torch.tensor(ratio) + 1e-12).all())
        True
    """
    ratio = torch.as_tensor(ratio, dtype=torch.float64)
    v = torch.as_tensor(v, dtype=torch.float64)
    gap = (checkerboard_upper_bound(r, v, depth) - ratio) / ((v + 1) * r**v)
    return max(float(gap.max()), 0.0)
