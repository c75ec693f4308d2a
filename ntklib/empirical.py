"""Empirical (finite-width) neural tangent kernels of torch modules.

For a scalar-output model f_theta, the empirical NTK is

    Theta_hat(x, y) = sum_p  d f(x)/d theta_p  d f(y)/d theta_p  = J(x) . J(y)

(Jacot, Gabriel, Hongler 2018, §4).  Three paths:

* `FCNet` without batch coupling: exact and fast, from its layer structure (no Jacobian is formed):
      Theta_hat(x, y) = sum_l [ (1 - beta^2)/n_l a^(l)(x).a^(l)(y) + beta^2 ] * delta^(l+1)(x).delta^(l+1)(y)
  with a^(l) the input of weight layer l and delta^(l+1) = d f / d z^(l+1) the backpropagated signal.
* any other module: per-sample Jacobians by torch.func (vmap of jacrev), contracted in chunks so at
  most `memory_budget` bytes of Jacobian are held; symmetric blocks are computed once when Y is None.
* models whose outputs couple the batch (BatchNorm with batch statistics): the Jacobian of the whole
  batch output F(X) in R^N, rows by vector-Jacobian products, so Theta_hat = J_F J_F^T is the NTK
  of the batch output.  With Y given, X and Y are one batch [X; Y] and the off-diagonal block is returned.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call, jacrev, vjp, vmap

from ._checks import as_input_pair, model_dtype_device
from .networks import FCNet

__all__ = ["empirical_ntk", "empirical_nngp", "jacobian_contraction_ntk", "couples_batch"]

DEFAULT_MEMORY_BUDGET = 2 ** 30   # bytes of Jacobian held at once by the generic path


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
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules())


@contextmanager
def _frozen_running_stats(model):
    """BatchNorm layers in training mode normalise with the batch's statistics; their running averages do
    not enter the output, but updating them in place is not allowed inside torch.func transforms.  Switch
    the updates off for the duration (the outputs are unchanged) and restore the flags afterwards."""
    bns = [m for m in model.modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats]
    for m in bns:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in bns:
            m.track_running_stats = True


def _inputs(model, X, Y):
    dtype, device = model_dtype_device(model)
    return as_input_pair(X, Y, dtype=dtype, device=device)


def _check_scalar_output(out, n):
    if out.shape not in ((n,), (n, 1)):
        raise ValueError(f"model: returned shape {tuple(out.shape)} for {n} inputs; accepted: scalar-output "
                         f"models returning shape ({n},) or ({n}, 1)")


# ---- FCNet fast path -----------------------------------------------------------------------------

def _fc_features(model: FCNet, X):
    """Per layer: (inputs a^(l), signals delta^(l+1)); delta of the last layer is None (it is 1).

    Without norms the signals are backpropagated by hand, delta^(l) = c_l (delta^(l+1) W^(l)) * sigma'(z^(l))
    (no autograd graph); with LayerNorm, autograd of the summed output gives the per-sample signals.
    """
    if model.norm is None:
        with torch.no_grad():
            inputs, preacts = model.layers(X)
            deltas = [None]
            d = None
            for l in range(model.depth - 1, 0, -1):
                back = model.weights[l] if d is None else d @ model.weights[l]
                if d is None:
                    back = back.expand(X.shape[0], -1)
                d = (model.scales[l] * back) * model.activation.deriv(preacts[l - 1])
                deltas.insert(0, d)
        return inputs, deltas
    with torch.enable_grad():
        inputs, preacts = model.layers(X)
        hidden = preacts[:-1]
        grads = torch.autograd.grad(preacts[-1].sum(), hidden) if hidden else ()
    return [a.detach() for a in inputs], [g.detach() for g in grads] + [None]


def _fc_ntk(model: FCNet, X, Y):
    ax, dx = _fc_features(model, X)
    ay, dy = (ax, dx) if Y is None else _fc_features(model, Y)
    b2 = model.beta ** 2
    K = None
    for l in range(model.depth):
        term = (model.scales[l] ** 2) * (ax[l] @ ay[l].T) + b2
        if dx[l] is not None:
            term = term * (dx[l] @ dy[l].T)
        K = term if K is None else K + term
    return K


# ---- generic torch.func paths --------------------------------------------------------------------

def _functional(model):
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}

    def f(p, x):
        return functional_call(model, (p, buffers), (x,))
    return params, f


def _flat(d, n):
    return torch.cat([t.reshape(n, -1) for t in d.values()], dim=1)


def _per_sample_rows(model, Z):
    """rows(idx) -> per-sample Jacobian rows J(Z[idx]), shape (len(idx), P)."""
    params, f = _functional(model)

    def f1(p, x):
        return f(p, x.unsqueeze(0)).reshape(())
    jac = vmap(jacrev(f1), in_dims=(None, 0))

    def rows(idx):
        return _flat(jac(params, Z[idx]), len(idx))
    return rows, sum(p.numel() for p in params.values())


def _batch_rows(model, Z):
    """rows(idx) -> rows of the Jacobian of the whole batch output F(Z) in R^N, by VJPs."""
    params, f = _functional(model)
    out, vjp_fn = vjp(lambda p: f(p, Z).reshape(-1), params)
    eye_dtype = out.dtype

    def rows(idx):
        cot = torch.zeros(len(idx), out.shape[0], dtype=eye_dtype, device=out.device)
        cot[torch.arange(len(idx), device=cot.device), idx] = 1.0
        (d,) = vmap(vjp_fn)(cot)
        return _flat(d, len(idx))
    return rows, sum(p.numel() for p in params.values())


def _contract(rows_x, rows_y, n, m, P, itemsize, symmetric, budget, chunk_size, like):
    cs = chunk_size or max(1, int(budget // (4 * P * itemsize)))
    K = torch.empty(n, m, dtype=like.dtype, device=like.device)
    starts = list(range(0, n, cs))
    if m * P * itemsize <= budget / 2:                  # hold the right-hand Jacobian whole
        JY = torch.cat([rows_y(torch.arange(s, min(s + cs, m), device=like.device)) for s in range(0, m, cs)])
        for s in starts:
            e = min(s + cs, n)
            Jx = JY[s:e] if symmetric else rows_x(torch.arange(s, e, device=like.device))
            lo = s if symmetric else 0
            K[s:e, lo:] = Jx @ JY[lo:].T
            if symmetric:
                K[e:, s:e] = K[s:e, e:].T
        return K
    for s in starts:                                     # recompute right-hand chunks (bounded memory)
        e = min(s + cs, n)
        Jx = rows_x(torch.arange(s, e, device=like.device))
        for t in range(s if symmetric else 0, m, cs):
            u = min(t + cs, m)
            Jy = Jx if (symmetric and t == s) else rows_y(torch.arange(t, u, device=like.device))
            K[s:e, t:u] = Jx @ Jy.T
            if symmetric and t != s:
                K[t:u, s:e] = K[s:e, t:u].T
    return K


def empirical_ntk(model, X, Y=None, *, batch_coupled=None, chunk_size=None,
                  memory_budget=DEFAULT_MEMORY_BUDGET, fast=True):
    """Empirical NTK Theta_hat(X, Y) = J(X) J(Y)^T of a scalar-output torch module at its current parameters.

    Args:
        model: a torch.nn.Module mapping (N, n_0) to (N,) or (N, 1).
        X: inputs, shape (N, n_0).  Y: shape (M, n_0); None means X (symmetric blocks computed once).
        batch_coupled: whether outputs depend on the whole batch (BatchNorm); None detects it
            (`model.couples_batch`, or BatchNorm layers in training mode).  Coupled models get the NTK
            of the batch output; with Y given, of the batch [X; Y] (off-diagonal block returned).
        chunk_size: Jacobian rows per chunk on the generic path (None: from memory_budget).
        memory_budget: bytes of Jacobian held at once on the generic path.
        fast: use the exact layer-structure path for FCNet (no Jacobian formed) when it applies.
    Returns:
        tensor of shape (N, M) in the model's dtype and on its device.
    Example:
        >>> net = nk.FCNet(2, 256, 3, seed=0)
        >>> nk.empirical_ntk(net, torch.eye(2, dtype=torch.float64)).shape
        torch.Size([2, 2])
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: got {type(model).__name__}; accepted: a torch.nn.Module")
    X, Y = _inputs(model, X, Y)
    coupled = couples_batch(model) if batch_coupled is None else bool(batch_coupled)
    if not coupled and couples_batch(model) and getattr(model, "couples_batch", None):
        raise ValueError(f"batch_coupled: got {batch_coupled!r} for a model whose outputs couple the batch "
                         "(norm='batch'); accepted: None or True (the NTK of the batch output)")
    if fast and isinstance(model, FCNet) and not coupled and model.n_out == 1:
        return _fc_ntk(model, X, Y)
    with _frozen_running_stats(model):
        return _generic_ntk(model, X, Y, coupled, chunk_size, memory_budget)


def _generic_ntk(model, X, Y, coupled, chunk_size, memory_budget):
    with torch.no_grad():
        probe = model(X if coupled else X[:1])
    _check_scalar_output(probe, X.shape[0] if coupled else 1)
    itemsize = X.element_size()
    if coupled:
        Z = X if Y is None else torch.cat([X, Y])
        rows, P = _batch_rows(model, Z)
        n = X.shape[0]
        if Y is None:
            return _contract(rows, rows, n, n, P, itemsize, True, memory_budget, chunk_size, X)
        m = Y.shape[0]
        return _contract(rows, lambda idx: rows(idx + n), n, m, P, itemsize, False, memory_budget,
                         chunk_size, X)
    rows_x, P = _per_sample_rows(model, X)
    if Y is None:
        return _contract(rows_x, rows_x, X.shape[0], X.shape[0], P, itemsize, True, memory_budget,
                         chunk_size, X)
    rows_y, _ = _per_sample_rows(model, Y)
    return _contract(rows_x, rows_y, X.shape[0], Y.shape[0], P, itemsize, False, memory_budget,
                     chunk_size, X)


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

    Given the hidden layers, each output unit z^(L)_i = sqrt(1 - beta^2)/sqrt(n_{L-1}) W_i a^(L-1) + beta b_i
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
    return model.scales[-1] ** 2 * (ax @ ay.T) + model.beta ** 2
