"""The layouts of empirical NTK blocks and the generic torch.func paths of `ntklib.empirical`
(private; the public functions and the path choice are in ntklib/empirical.py).

"jacobian": per-sample Jacobians by torch.func (vmap of jacrev), contracted in chunks so at most
`memory_budget` bytes of Jacobian are held; "ntvp": NTK-vector products, one column per (m, o'),
a vjp at y_m then a jvp over X (Novak, Sohl-Dickstein, Schoenholz 2022, §3).
"""

from __future__ import annotations

import math

import torch
from torch.func import functional_call, jacrev, jvp, vjp, vmap


def _output_count(out, n):
    """O, the number of outputs per input, from a model's output for n inputs (trailing axes are
    flattened: outputs of shape (n,) or (n, 1) are scalar, (n, O) or (n, *shape) give O)."""
    if out.ndim == 0 or out.shape[0] != n:
        raise ValueError(
            f"model: returned shape {tuple(out.shape)} for {n} inputs; accepted: one "
            f"output row per input, shape ({n},) or ({n}, O)"
        )
    return int(math.prod(out.shape[1:]))


def _mode(O, trace, diagonal):
    """The layout of the result: "trace" (N, M) (also a scalar output's full kernel), "diagonal"
    (N, M, O) or "full" (N, M, O, O)."""
    if diagonal:
        return "diagonal"
    return "trace" if trace or O == 1 else "full"


def _shape(n, m, O, mode):
    return {"trace": (n, m), "diagonal": (n, m, O), "full": (n, m, O, O)}[mode]


def _block(Jx, Jy, mode):
    """The kernel block of rows Jx (B1, O, P) and Jy (B2, O, P): sum_p Jx[:, o, p] Jy[:, o', p] in
    the mode's layout (trace: one product over (o, p); diagonal: one product per o)."""
    B1, O, P = Jx.shape
    B2 = Jy.shape[0]
    if mode == "trace":
        return Jx.reshape(B1, O * P) @ Jy.reshape(B2, O * P).T
    if mode == "diagonal":
        return torch.bmm(Jx.transpose(0, 1), Jy.permute(1, 2, 0)).permute(1, 2, 0)
    full = Jx.reshape(B1 * O, P) @ Jy.reshape(B2 * O, P).T
    return full.reshape(B1, O, B2, O).permute(0, 2, 1, 3)


def _swap(block, mode):
    """The (y, x) block from the (x, y) block: Theta(y, x)_{o' o} = Theta(x, y)_{o o'}."""
    block = block.transpose(0, 1)
    return block.transpose(2, 3) if mode == "full" else block


# ---- generic torch.func paths --------------------------------------------------------------------


def _functional(model):
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}

    def f(p, x):
        return functional_call(model, (p, buffers), (x,))

    return params, f


def _flat(d, n, O):
    return torch.cat([t.reshape(n, O, -1) for t in d.values()], dim=2)


def _per_sample_rows(model, Z, O):
    """rows(idx) -> per-sample Jacobians J(Z[idx]), shape (len(idx), O, P)."""
    params, f = _functional(model)

    def f1(p, x):
        return f(p, x.unsqueeze(0)).reshape(-1)

    jac = vmap(jacrev(f1), in_dims=(None, 0))

    def rows(idx):
        return _flat(jac(params, Z[idx]), len(idx), O)

    return rows, sum(p.numel() for p in params.values())


def _one_hots(idx, O, total, like):
    """Cotangents e_(i O + o) of the flattened batch output (len(idx) O, total), rows (i, o)."""
    cot = torch.zeros(len(idx) * O, total, dtype=like.dtype, device=like.device)
    pos = (idx[:, None] * O + torch.arange(O, device=idx.device)).reshape(-1)
    cot[torch.arange(len(pos), device=cot.device), pos] = 1.0
    return cot


def _batch_rows(model, Z, O):
    """rows(idx) -> rows of the Jacobian of the whole batch output F(Z) in R^(N x O), by VJPs,
    shape (len(idx), O, P)."""
    params, f = _functional(model)
    out, vjp_fn = vjp(lambda p: f(p, Z).reshape(-1), params)

    def rows(idx):
        (d,) = vmap(vjp_fn)(_one_hots(idx, O, out.shape[0], out))
        return _flat(d, len(idx), O)

    return rows, sum(p.numel() for p in params.values())


def _contract(rows_x, rows_y, n, m, O, P, itemsize, symmetric, budget, chunk_size, like, mode):
    cs = chunk_size or max(1, int(budget // (4 * O * P * itemsize)))
    K = torch.empty(_shape(n, m, O, mode), dtype=like.dtype, device=like.device)
    starts = list(range(0, n, cs))
    dev = like.device
    if m * O * P * itemsize <= budget / 2:  # hold the right-hand Jacobian whole
        JY = torch.cat(
            [rows_y(torch.arange(s, min(s + cs, m), device=dev)) for s in range(0, m, cs)]
        )
        for s in starts:
            e = min(s + cs, n)
            Jx = JY[s:e] if symmetric else rows_x(torch.arange(s, e, device=dev))
            lo = s if symmetric else 0
            K[s:e, lo:] = _block(Jx, JY[lo:], mode)
            if symmetric:
                K[e:, s:e] = _swap(K[s:e, e:], mode)
        return K
    for s in starts:  # recompute right-hand chunks (bounded memory)
        e = min(s + cs, n)
        Jx = rows_x(torch.arange(s, e, device=dev))
        for t in range(s if symmetric else 0, m, cs):
            u = min(t + cs, m)
            Jy = Jx if (symmetric and t == s) else rows_y(torch.arange(t, u, device=dev))
            K[s:e, t:u] = _block(Jx, Jy, mode)
            if symmetric and t != s:
                K[t:u, s:e] = _swap(K[s:e, t:u], mode)
    return K


def _jacobian_ntk(model, X, Y, coupled, O, mode, chunk_size, memory_budget):
    itemsize, n = X.element_size(), X.shape[0]
    if coupled:
        rows, P = _batch_rows(model, X if Y is None else torch.cat([X, Y]), O)
        if Y is None:
            return _contract(
                rows, rows, n, n, O, P, itemsize, True, memory_budget, chunk_size, X, mode
            )
        return _contract(
            rows,
            lambda idx: rows(idx + n),
            n,
            Y.shape[0],
            O,
            P,
            itemsize,
            False,
            memory_budget,
            chunk_size,
            X,
            mode,
        )
    rows_x, P = _per_sample_rows(model, X, O)
    if Y is None:
        return _contract(
            rows_x, rows_x, n, n, O, P, itemsize, True, memory_budget, chunk_size, X, mode
        )
    rows_y, _ = _per_sample_rows(model, Y, O)
    return _contract(
        rows_x, rows_y, n, Y.shape[0], O, P, itemsize, False, memory_budget, chunk_size, X, mode
    )


def _ntvp_ntk(model, X, Y, coupled, O, mode, chunk_size, memory_budget, act_per_input):
    """NTK-vector products: column (m, o') is J(X) t with t = J(y_m)^T e_o' (a vjp at y_m, then a
    jvp over X, vmapped over a chunk of columns).  Only tangents and activations are held: about
    3 O (P + N A) numbers per input of Y, A the activations of one input."""
    params, f = _functional(model)
    P = sum(p.numel() for p in params.values())
    n, sym = X.shape[0], Y is None
    m = n if sym else Y.shape[0]
    like = X
    if coupled:
        Z = X if sym else torch.cat([X, Y])
        nz, off = Z.shape[0], 0 if sym else n
        _, vjp_fn = vjp(lambda p: f(p, Z).reshape(-1), params)

        def tangents(idx):
            return vmap(vjp_fn)(_one_hots(idx + off, O, nz * O, like))[0]

        def fx(p):
            return f(p, Z).reshape(nz, O)[:n]
    else:
        Yv = X if sym else Y
        eye = torch.eye(O, dtype=X.dtype, device=X.device)

        def one(y, e):
            return vjp(lambda p: f(p, y[None]).reshape(-1), params)[1](e)[0]

        def tangents(idx):
            ys = Yv[idx].repeat_interleave(O, 0)
            return vmap(one)(ys, eye.repeat(len(idx), 1))

        def fx(p):
            return f(p, X).reshape(n, O)

    column = vmap(lambda t: jvp(fx, (params,), (t,))[1])
    per = 3 * O * (P + n * act_per_input) * X.element_size()
    cs = chunk_size or max(1, int(memory_budget // per))
    K = torch.empty(_shape(n, m, O, mode), dtype=X.dtype, device=X.device)
    for s in range(0, m, cs):
        e = min(s + cs, m)
        V = column(tangents(torch.arange(s, e, device=X.device)))  # (j o', i, o)
        V = V.reshape(e - s, O, n, O)
        if mode == "trace":
            K[:, s:e] = V.diagonal(0, 1, 3).sum(-1).T
        elif mode == "diagonal":
            K[:, s:e] = V.diagonal(0, 1, 3).permute(1, 0, 2)
        else:
            K[:, s:e] = V.permute(2, 0, 3, 1)
    return (K + _swap(K, mode)) * 0.5 if sym else K
