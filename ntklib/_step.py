"""Fused tile evaluation of the step family's NNGP (private to _fused; see its docstring).

sigma(x) = s step(x) (s step(x > 0), 0 for x <= 0) has E[sigma(u) sigma(v)] = s^2 P(u > 0, v > 0)
= s^2 (pi - theta)/(2 pi), theta = arccos(rho), with rho = 1 where a variance vanishes (the generic
path's convention, ntklib/_quadrature._correlation), and E[sigma'(u) sigma'(v)] = 0.  So every
layer after the first has the same variance c = w2 s^2/2 + b2 for every input, and with
nu = -Sigma/c (nu^(1) = -rho^(1), from the relu family's first-layer product) one layer is

    nu <- a arccos(nu) + b,    a = -w2 s^2/(2 pi c),  b = -b2/c,

two scalars, no per-row vectors; the last layer writes Sigma^(L) = al arccos(nu) + bl
(al = w2 s^2/(2 pi), bl = b2).  Theta^(L) = Sigma^(L) (the derivative dual is 0, so the generic
recursion's Theta^(l+1) = Theta^(l) * 0 + Sigma^(l+1)).  Per entry and nonlinear layer: one arccos
and one multiply-add.  A zero-norm input (q = 0, only with beta = 0) has rho^(1) = 1 against every
input (nu = -1 on its row and column), as in the generic path, so its entries are w2 s^2/2 + b2
from the second layer on.  The compiled kernel (_ctiles.step_d / step_f) runs all layers of a tile
row by row; the torch code (arccos, one multiply, one add, a clamp per layer) where it cannot be
built.
"""

from __future__ import annotations

import math

import torch

from . import _ctiles, _fused

_ZERO_ABC = ((0.0, 1.0, 0.0), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0))


def probe(act):
    """Family("step", s, 0, 0) when act behaves as s step(x) with the step closed forms (also the
    rho = 1 convention at zero variance), else None."""
    if not act.closed_form:
        return None
    x = torch.tensor(_fused._PROBE_X, dtype=torch.float64)
    pts = _fused._PROBE_ABC + _ZERO_ABC
    try:
        with torch.no_grad():
            fx = [float(v) for v in act(x)]
        s = fx[_fused._PROBE_X.index(1.0)]
        abc = [tuple(torch.tensor(t, dtype=torch.float64) for t in pt) for pt in pts]
        duals = [(float(act.dual(a, b, c)), float(act.dual_deriv(a, b, c))) for a, b, c in abc]
    except Exception:  # noqa: BLE001 - an activation that cannot be probed takes the generic path
        return None
    scale = max(1.0, abs(s))
    if abs(s) < 1e-8 * scale or not all(
        _fused._close(f, s if v > 0 else 0.0, scale) for f, v in zip(fx, _fused._PROBE_X)
    ):
        return None
    for (a, b, c), (k, kd) in zip(pts, duals):
        sab = math.sqrt(a * b)
        rho = 1.0 if sab == 0 else max(-1.0, min(1.0, c / sab))
        want = s * s * (math.pi - math.acos(rho)) / (2 * math.pi)
        if not (_fused._close(k, want, s * s) and kd == 0.0):
            return None
    return _fused.Family("step", s, 0.0, 0.0)


def prepare(fam, X, Y, qx, qy, w2, b2):
    """First-layer factors (relu family's: products -rho^(1)), the indices of zero-norm rows and
    columns, and the scalars (a, b, al, bl)."""
    sym = Y is None
    fx = _fused._first_layer(X, _fused._rsqrt0(qx[0]), w2, b2, -1.0)
    Z, qz = (X, qx) if sym else (Y, qy)
    fy = _fused._first_layer(Z, _fused._rsqrt0(qz[0]), w2, b2, 1.0)
    zx, zy = [torch.nonzero(q[0] == 0).flatten().tolist() for q in (qx, qz)]
    s2 = fam.p * fam.p
    c = w2 * s2 / 2 + b2
    return fx, fy, zx, zy, (-w2 * s2 / (2 * math.pi * c), -b2 / c, w2 * s2 / (2 * math.pi), b2)


def tiles(vec, depth, want_theta, tile, out, tiles_, sym):
    """out <- Sigma^(L) (= Theta^(L)) of the step family on the given tiles; as
    _fused.relu_tiles."""
    fx, fy, zx, zy, (a, b, al, bl) = vec
    lib = _ctiles.compiled(fx)
    kern = None if lib is None else getattr(lib, "step_" + _fused._suffix(fx))
    bufs = _fused._Buffers(2, tile * tile, fx)
    for i0, i1, j0, j1, diag in tiles_:
        nu, A = bufs.views(i1 - i0, j1 - j0, 2)
        torch.matmul(fx[i0:i1], fy[j0:j1].T, out=nu)  # nu = -rho^(1)
        if diag:
            _fused._sym_(nu, A)
            nu.diagonal().fill_(-1.0)
        nu.clamp_(-1.0, 1.0)
        for k in zx:  # zero-norm inputs: rho^(1) = 1
            if i0 <= k < i1:
                nu[k - i0].fill_(-1.0)
        for k in zy:
            if j0 <= k < j1:
                nu[:, k - j0].fill_(-1.0)
        dest = nu if sym else out[i0:i1, j0:j1]
        if kern is not None:
            ptrs = _ctiles.ptr(nu), _ctiles.ptr(dest), dest.stride(0)
            kern(i1 - i0, j1 - j0, depth - 1, diag, a, b, al, bl, *ptrs)
        else:
            for l in range(depth - 1):
                torch.arccos(nu, out=A)
                if l == depth - 2:
                    torch.mul(A, al, out=dest).add_(bl)
                    break
                torch.mul(A, a, out=nu).add_(b)
                if diag:
                    nu.diagonal().fill_(-1.0)
                nu.clamp_(-1.0, 1.0)
        _fused._finish(out, dest, i0, i1, j0, j1, diag, sym, A)
    return out
