"""Empirical (finite-width) neural tangent kernels of torch modules.

For a model f_theta with O outputs, the empirical NTK is

    Theta_hat(x, y)_{o o'} = sum_p  d f_o(x)/d theta_p  d f_o'(y)/d theta_p  = J(x) J(y)^T

(Jacot, Gabriel, Hongler 2018, §4): shape (N, M, O, O), or (N, M) for a scalar output.  Like
neural-tangents' trace_axes / diagonal_axes, `trace=True` returns sum_o Theta_oo (N, M) and
`diagonal=True` the diagonal Theta_oo (N, M, O).  The paths:

* `FCNet` without batch coupling: exact and fast, from its layer structure (no Jacobian is formed):
      Theta_hat(x, y)_{o o'} = sum_l [(1 - beta^2)/n_l a^(l)(x).a^(l)(y) + beta^2]
                                     delta_o^(l+1)(x).delta_o'^(l+1)(y)
  with a^(l) the input of weight layer l and delta_o^(l+1) = d f_o / d z^(l+1) the backpropagated
  signal (delta^(L) = the identity on the outputs).
* any other module, two methods (Novak, Sohl-Dickstein, Schoenholz 2022, "Fast finite width neural
  tangent kernel", §3), chosen per shape by `implementation`:
  "jacobian": per-sample Jacobians by torch.func (vmap of jacrev), contracted in chunks so at most
  `memory_budget` bytes of Jacobian are held (symmetric blocks computed once when Y is None);
  "ntvp": NTK-vector products, one column Theta_hat(X, y_m)_{. o'} = J(X) [J(y_m)^T e_o'] per
  (m, o'): a vjp at y_m, then a jvp over X (torch.func: jvp of vjp), no Jacobian held.
* models whose outputs couple the batch (BatchNorm with batch statistics): the Jacobian of the whole
  batch output F(X) in R^(N x O), so Theta_hat = J_F J_F^T is the NTK of the batch output.  With Y
  given, X and Y are one batch [X; Y] and the off-diagonal block is returned.
"""

from __future__ import annotations

import numbers
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import jacrev, vmap
from torch.utils.flop_counter import FlopCounterMode

from ._checks import (
    as_input_pair,
    check_input_scale,
    check_positive_int,
    model_dtype_device,
    scalar,
)
from ._ntk_blocks import (
    _block,
    _functional,
    _jacobian_ntk,
    _mode,
    _ntvp_ntk,
    _output_count,
    _shape,
    _swap,
)
from .networks import FCNet

__all__ = [
    "empirical_ntk",
    "empirical_nngp",
    "jacobian_contraction_ntk",
    "couples_batch",
    "choose_implementation",
]

DEFAULT_MEMORY_BUDGET = 2**30  # bytes of Jacobian (or tangents, or features) held at once


def couples_batch(model: nn.Module) -> bool:
    """Whether an output of `model` depends on the other inputs of its batch.

    Uses `model.couples_batch` when the model defines it (FCNet does), else looks for BatchNorm
    layers in training mode (which normalise with the batch's own statistics).  Such a model has no
    per-input NTK; `empirical_ntk` then returns the NTK of the batch output F(X) = J_F J_F^T.

    Args:
        model: a torch module.
    Returns:
        bool.
    Example:
        >>> nk.couples_batch(nk.FCNet(2, 8, 2)), nk.couples_batch(nk.FCNet(2, 8, 3, norm="batch"))
        (False, True)
    """
    flag = getattr(model, "couples_batch", None)
    if flag is not None:
        return bool(flag)
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules()
    )


@contextmanager
def _frozen_running_stats(model):
    """BatchNorm layers in training mode normalise with the batch's statistics; their running
    averages do not enter the output, but updating them in place is not allowed inside torch.func
    transforms.  Switch the updates off for the duration (the outputs are unchanged) and restore the
    flags afterwards."""
    bns = [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats
    ]
    for m in bns:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in bns:
            m.track_running_stats = True


def _inputs(model, X, Y):
    dtype, device = model_dtype_device(model)
    X, Y = as_input_pair(X, Y, dtype=dtype, device=device)
    check_input_scale(X, "X")  # the NTK grows as ||x||^2: refuse what overflows
    if Y is not None:
        check_input_scale(Y, "Y")
    return X, Y


IMPLEMENTATIONS = ("auto", "jacobian", "ntvp")


def _check_options(implementation, trace, diagonal, chunk_size, memory_budget):
    if not isinstance(implementation, str) or implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation: got {implementation!r}; accepted: 'auto' (the cheaper "
            "of the two by a cost estimate), 'jacobian' (Jacobian contraction) or "
            "'ntvp' (NTK-vector products)"
        )
    for name, value in (("trace", trace), ("diagonal", diagonal)):
        if not isinstance(value, bool):
            raise ValueError(f"{name}: got {value!r}; accepted: True or False")
    if trace and diagonal:
        raise ValueError(
            "trace, diagonal: got trace=True and diagonal=True; accepted: at most "
            "one (trace: sum_o Theta_oo, shape (N, M); diagonal: Theta_oo, shape "
            "(N, M, O))"
        )
    if chunk_size is not None:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    budget = scalar(memory_budget)
    if (
        isinstance(budget, bool)
        or not isinstance(budget, numbers.Real)
        or not 0 < budget < float("inf")
    ):
        raise ValueError(
            f"memory_budget: got {memory_budget!r}; accepted: a positive number of bytes, finite"
        )
    return chunk_size, budget


# ---- FCNet fast path -----------------------------------------------------------------------------


def _fc_features(model: FCNet, X):
    """Per layer: (inputs a^(l), signals delta_o^(l+1) of shape (N, O, n_{l+1})); delta of the last
    layer is None (the identity on the outputs).  Without norms the signals are backpropagated by
    hand, delta^(l) = c_l (delta^(l+1) W^(l)) * sigma'(z^(l)) (no autograd graph); with LayerNorm,
    autograd of each summed output unit gives the per-sample signals."""
    if model.norm is None:
        with torch.no_grad():
            inputs, preacts = model.layers(X)
            deltas, d = [None], None
            for l in range(model.depth - 1, 0, -1):
                back = model.weights[l].unsqueeze(0) if d is None else d @ model.weights[l]
                d = (model.scales[l] * back) * model.activation.deriv(preacts[l - 1]).unsqueeze(1)
                deltas.insert(0, d)
        return inputs, deltas
    with torch.enable_grad():
        inputs, preacts = model.layers(X)
        hidden = preacts[:-1]
        per_o = (
            [
                torch.autograd.grad(preacts[-1][:, o].sum(), hidden, retain_graph=True)
                for o in range(model.n_out)
            ]
            if hidden
            else []
        )
    deltas = [torch.stack([g[l] for g in per_o], 1).detach() for l in range(len(hidden))]
    return [a.detach() for a in inputs], deltas + [None]


def _fc_block(model, fx, fy, mode):
    """sum_l [c_l^2 a^(l)(x).a^(l)(y) + beta^2] delta^(l+1)(x).delta^(l+1)(y), the mode's layout."""
    (ax, dx), (ay, dy) = fx, fy
    O, b2 = model.n_out, model.beta**2
    K = None
    for l in range(model.depth):
        A = (model.scales[l] ** 2) * (ax[l] @ ay[l].T) + b2
        if mode != "trace":
            A = A.unsqueeze(2) if mode == "diagonal" else A.unsqueeze(2).unsqueeze(3)
        if dx[l] is not None:
            term = A * _block(dx[l], dy[l], mode)
        elif mode == "full":  # last layer: delta_{o o'} [c^2 a.a' + beta^2]
            term = A * torch.eye(O, dtype=A.dtype, device=A.device)
        elif mode == "diagonal":
            term = A.expand(-1, -1, O)
        else:
            term = A * O if O > 1 else A
        K = term if K is None else K + term
    return K


def _fc_ntk(model, X, Y, mode, chunk_size, budget):
    """The FCNet kernel in the mode's layout, features computed for chunks of inputs so that at
    most about `budget` bytes of features are held."""
    O, w = model.n_out, model.widths
    per_input = X.element_size() * (sum(w[:-1]) + O * sum(w[1:-1]))
    cs = chunk_size or max(1, int(budget // (4 * per_input)))
    sym = Y is None
    Yv = X if sym else Y
    n, m = X.shape[0], Yv.shape[0]
    if cs >= max(n, m):
        fx = _fc_features(model, X)
        return _fc_block(model, fx, fx if sym else _fc_features(model, Y), mode)
    K = torch.empty(_shape(n, m, O, mode), dtype=X.dtype, device=X.device)
    for s in range(0, n, cs):
        e = min(s + cs, n)
        fx = _fc_features(model, X[s:e])
        for t in range(s if sym else 0, m, cs):
            u = min(t + cs, m)
            fy = fx if (sym and t == s) else _fc_features(model, Yv[t:u])
            K[s:e, t:u] = _fc_block(model, fx, fy, mode)
            if sym and t != s:
                K[t:u, s:e] = _swap(K[s:e, t:u], mode)
    return K


def _forward_cost(model, x):
    """(FLOPs, activation entries) of one forward pass on the batch x, per input: matrix products
    and convolutions counted by torch.utils.flop_counter.FlopCounterMode, activations as the output
    sizes of the leaf modules."""
    sizes = []

    def hook(_module, _inputs, out):
        if isinstance(out, torch.Tensor):
            sizes.append(out.numel())

    leaves = [mod for mod in model.modules() if not list(mod.children())]
    handles = [mod.register_forward_hook(hook) for mod in leaves]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        flops = counter.get_total_flops()
    finally:
        for h in handles:
            h.remove()
    return flops / x.shape[0], sum(sizes) / x.shape[0]


def choose_implementation(n, m, O, P, F, mode="trace", coupled=False, symmetric=False):
    """The cheaper generic method for an empirical NTK, by the cost model of Novak, Sohl-Dickstein
    and Schoenholz (2022, "Fast finite width neural tangent kernel", Table 1) in FLOPs.

    With F the cost of one forward pass of one input (a vjp or a jvp costs about 3F), P parameters,
    O outputs, k = 2 for the full (N, M, O, O) kernel and 1 for trace / diagonal:
        jacobian = 3 F O (N + M) + 2 N M O^k P       (M := 0 in the first term when Y is None)
        ntvp     = 3 F O M (N + 1)                   (one vjp and one jvp over X per column)
    For batch-coupled models (a batch of N_z inputs) every vjp and jvp runs on the whole batch:
        jacobian = 3 F N_z O N_z + 2 N M O^k P,   ntvp = 6 F N_z O M.
    Jacobian contraction wins when F is large against O P (convolutions share their weights over
    positions), NTK-vector products when the outputs are many.  `empirical_ntk(implementation=
    "auto")` uses this with F counted on one forward pass (FlopCounterMode, at least P).

    Args:
        n, m: numbers of inputs N and M.  O: outputs per input.  P: parameters.
        F: FLOPs of one forward pass of one input.
        mode: "trace" or "diagonal" (k = 1), or "full" (k = 2).
        coupled: whether the outputs couple the batch.  symmetric: Y is None (M = N).
    Returns:
        "jacobian" or "ntvp" (ties go to "jacobian").
    Example:
        >>> from ntklib.empirical import choose_implementation
        >>> choose_implementation(256, 256, 1, 5_000, 1e6)          # a small CNN, one output
        'jacobian'
        >>> choose_implementation(16, 16, 100, 10_000, 2e4, "full")   # dense, 100 outputs
        'ntvp'
    """
    k = 2 if mode == "full" else 1
    contraction = 2.0 * n * m * O**k * P
    if coupled:
        nz = n if symmetric else n + m
        jac, ntvp = 3.0 * F * nz * O * nz + contraction, 6.0 * F * nz * O * m
    else:
        jac = 3.0 * F * O * (n + (0 if symmetric else m)) + contraction
        ntvp = 3.0 * F * O * m * (n + 1)
    return "ntvp" if ntvp < jac else "jacobian"


def empirical_ntk(
    model,
    X,
    Y=None,
    *,
    batch_coupled=None,
    chunk_size=None,
    memory_budget=DEFAULT_MEMORY_BUDGET,
    fast=True,
    implementation="auto",
    trace=False,
    diagonal=False,
):
    """Empirical NTK Theta_hat(X, Y) = J(X) J(Y)^T of a torch module at its current parameters.

    Theta_hat(x, y)_{o o'} = sum_p d f_o(x)/d theta_p d f_o'(y)/d theta_p over every trainable
    parameter, in whatever parametrisation the module uses (FCNet: the NTK parametrisation,
    CONVENTIONS.md §1; Jacot, Gabriel, Hongler 2018, §4).  The generic path computes it by Jacobian
    contraction or by NTK-vector products (Novak, Sohl-Dickstein, Schoenholz 2022), see
    `implementation`; FCNet has an exact layer-structure path.

    Args:
        model: a torch.nn.Module mapping (N, n_0) to (N,), (N, 1) (scalar output) or (N, O).
        X: inputs, shape (N, n_0).  Y: shape (M, n_0); None means X (symmetric blocks computed
            once).
        batch_coupled: whether outputs depend on the whole batch (BatchNorm); None detects it
            (`model.couples_batch`, or BatchNorm layers in training mode).  Coupled models get the
            NTK of the batch output; with Y given, of the batch [X; Y] (off-diagonal block
            returned).
        chunk_size: inputs per chunk on the generic path (None: from memory_budget).
        memory_budget: bytes of Jacobian (or of tangents and activations, for "ntvp"; of features,
            for a multi-output FCNet) held at once.
        fast: use the exact layer-structure path for FCNet (no Jacobian formed) when it applies.
        implementation: the generic path's method: "jacobian" (per-sample Jacobians, contracted in
            chunks), "ntvp" (NTK-vector products, jvp of vjp; no Jacobian held), or "auto": the one
            with the smaller cost estimate `choose_implementation` (F counted on one forward pass).
            Jacobian contraction wins for weight-sharing models (convolutions: F >> P) and few
            outputs, NTK-vector products for many outputs of dense models.
        trace: return sum_o Theta_hat_oo, shape (N, M) (neural-tangents' trace_axes=(-1,)).
        diagonal: return the diagonal Theta_hat_oo, shape (N, M, O) (diagonal_axes=(-1,)).
    Returns:
        tensor in the model's dtype and on its device: (N, M, O, O) for O > 1 outputs (or (N, M)
        with trace, (N, M, O) with diagonal); (N, M) for a scalar output ((N, M, 1) with diagonal).
    Example:
        >>> net = nk.FCNet(2, 256, 3, seed=0)
        >>> nk.empirical_ntk(net, torch.eye(2, dtype=torch.float64)).shape
        torch.Size([2, 2])
        >>> net3 = nk.FCNet(2, 16, 2, n_out=3, seed=0)
        >>> K = nk.empirical_ntk(net3, torch.eye(2, dtype=torch.float64)); K.shape
        torch.Size([2, 2, 3, 3])
        >>> tr = nk.empirical_ntk(net3, torch.eye(2, dtype=torch.float64), trace=True)
        >>> torch.allclose(tr, K.diagonal(0, 2, 3).sum(-1))
        True
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: got {type(model).__name__}; accepted: a torch.nn.Module")
    chunk_size, memory_budget = _check_options(
        implementation, trace, diagonal, chunk_size, memory_budget
    )
    X, Y = _inputs(model, X, Y)
    coupled = couples_batch(model) if batch_coupled is None else bool(batch_coupled)
    if not coupled and couples_batch(model) and getattr(model, "couples_batch", None):
        raise ValueError(
            f"batch_coupled: got {batch_coupled!r} for a model whose outputs couple "
            "the batch (norm='batch'); accepted: None or True (the NTK of the batch "
            "output)"
        )
    if fast and isinstance(model, FCNet) and not coupled:
        mode = _mode(model.n_out, trace, diagonal)
        return _fc_ntk(model, X, Y, mode, chunk_size, memory_budget)
    with _frozen_running_stats(model):
        return _generic_ntk(
            model, X, Y, coupled, chunk_size, memory_budget, implementation, trace, diagonal
        )


def _generic_ntk(model, X, Y, coupled, chunk_size, memory_budget, implementation, trace, diagonal):
    x0 = X if coupled else X[:1]
    with torch.no_grad():
        try:
            out0 = model(x0)
        except RuntimeError as err:  # e.g. a shape mismatch inside the model
            raise ValueError(
                f"X: the model failed on inputs of shape {tuple(x0.shape)} "
                f"({err}); accepted: inputs the model's forward takes"
            ) from err
        O = _output_count(out0, x0.shape[0])
    mode = _mode(O, trace, diagonal)
    args = (model, X, Y, coupled, O, mode, chunk_size, memory_budget)
    if implementation == "jacobian":
        return _jacobian_ntk(*args)
    F, A = _forward_cost(model, x0)
    if implementation == "ntvp":
        return _ntvp_ntk(*args, A)
    P = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n = X.shape[0]
    m = n if Y is None else Y.shape[0]
    if choose_implementation(n, m, O, P, max(F, P), mode, coupled, Y is None) == "ntvp":
        return _ntvp_ntk(*args, A)
    return _jacobian_ntk(*args)


def jacobian_contraction_ntk(model, X, Y=None):
    """The plain torch.func recipe: full per-sample Jacobians, then J(X) J(Y)^T (no chunking).

    A reference for tests and the baseline of `make bench`; use `empirical_ntk` in practice.
    Per-sample calls: not for models whose outputs couple the batch.
        Theta_hat(x, y) = sum_p d f(x)/d theta_p  d f(y)/d theta_p

    Args:
        model: a torch module with one output per input.
        X: inputs, shape (N, n_0).  Y: inputs, shape (M, n_0); None means X.
    Returns:
        tensor of shape (N, M), in the model's dtype.
    Example:
        >>> net, X = nk.FCNet(2, 32, 2, seed=0), torch.eye(2, dtype=torch.float64)
        >>> torch.allclose(nk.jacobian_contraction_ntk(net, X), nk.empirical_ntk(net, X))
        True
    """
    X, Y = _inputs(model, X, Y)
    params, f = _functional(model)

    def f1(p, x):
        return f(p, x.unsqueeze(0)).reshape(())

    jac = vmap(jacrev(f1), in_dims=(None, 0))
    jx = jac(params, X)
    jy = jx if Y is None else jac(params, Y)
    return sum(torch.einsum("n...,m...->nm", jx[k], jy[k]) for k in jx)


def empirical_nngp(model: FCNet, X, Y=None):
    """The output covariance of an FCNet given its hidden layers (the finite-width Sigma^(L)):

        Sigma_hat(x, y) = (1 - beta^2)/n_{L-1} a^(L-1)(x).a^(L-1)(y) + beta^2

    Given the hidden layers, each output unit
    z^(L)_i = sqrt(1 - beta^2)/sqrt(n_{L-1}) W_i a^(L-1) + beta b_i
    is exactly Gaussian with this covariance; as the width grows Sigma_hat -> nk.nngp(X, Y, depth=L)
    with fluctuations of order width^(-1/2) (Jacot, Gabriel, Hongler 2018, Prop. 1).

    Args:
        model: an `FCNet` (its beta and last hidden layer are used).
        X: inputs, shape (N, n_0).  Y: inputs, shape (M, n_0); None means X.
    Returns:
        float64 tensor of shape (N, M).
    Example:
        >>> X = nk.data.sphere(3, 4)
        >>> S = nk.empirical_nngp(nk.FCNet(4, 4096, 3, seed=0), X)
        >>> nk.stats.relative_error(S, nk.nngp(X, depth=3)) < 0.1
        True
    """
    if not isinstance(model, FCNet):
        raise ValueError(f"model: got {type(model).__name__}; accepted: an nk.FCNet")
    X, Y = _inputs(model, X, Y)
    with torch.no_grad():
        ax = model.layers(X)[0][-1]
        ay = ax if Y is None else model.layers(Y)[0][-1]
    return model.scales[-1] ** 2 * (ax @ ay.T) + model.beta**2
