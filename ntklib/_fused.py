"""Fused tile evaluation of the infinite-width recursions for the closed-form activation families.

Private to kernels.py.  `_tiled` there evaluates Sigma^(L) or Theta^(L) tile by tile, all layers of
a tile while it sits in cache.  For two families with closed-form duals (and s step(x), _step.py)
it hands the tile to this module, which does the same arithmetic with constants in row vectors:

* piecewise-linear ("relu family"): sigma(x) = p relu(x) + n relu(-x) + h with p + n != 0 (relu,
  scaled and normalized relu, abs, leaky relu).  With P = p + n and (u, v) ~ N(0, [[a, c], [c, b]]),
  rho = c / sqrt(a b), theta = arccos(rho) (Cho and Saul 2009 for relu; relu(-x) = relu(x) - x):
      E[sigma(u) sigma(v)]   = P^2 sqrt(a b)/(2 pi) [sqrt(1 - rho^2) + (pi - theta + k) rho]
                               + h P (sqrt(a) + sqrt(b))/sqrt(2 pi) + h^2,
      E[sigma'(u) sigma'(v)] = P^2/(2 pi) (pi - theta + k),        k = -2 pi p n / P^2.
* erf family: sigma(x) = s erf(x) + h (Williams 1997): with rho_e = 2c / sqrt((1 + 2a)(1 + 2b)),
      E[sigma(u) sigma(v)]   = s^2 (2/pi) arcsin(rho_e) + h^2,
      E[sigma'(u) sigma'(v)] = s^2 (4/pi) / sqrt((1 + 2a)(1 + 2b)) / sqrt(1 - rho_e^2).

The tile carries normalised kernels, with q the variances Sigma^(l)(x, x) of each layer: for relu
the negated correlation nu = -Sigma/(sqrt(q_x) sqrt(q_y)) and sig = -Theta/(sqrt(q_x) sqrt(q_y)),
for erf rho_e and tau = 2 Theta/sqrt((1 + 2 q_x)(1 + 2 q_y)).  One relu NTK layer is then

    A = arccos(nu) + k;  g = sqrt(1 - nu^2) - A nu;  sig <- R - (g - sig A) o M;  nu <- R - g o M

with M = c (sqrt(q) r')(sqrt(q) r')^T (r' = 1/sqrt(q') of the next layer) and R (the bias and shift
terms) outer products of per-row vectors; one erf NTK layer is A = arcsin(rho_e) + c0,
tau <- (A + tau / sqrt(1 - rho_e^2)) o E, rho_e <- A o E with E = c e e^T, e = 1/sqrt(1 + 2q').  The
first layer comes from one matrix product of the inputs rescaled by their norms and augmented by a
bias column; the last layer's vectors undo the normalisation, so it writes the kernel itself.

Two implementations of a tile's layers:

* compiled (x86-64 Linux with AVX2 and a C compiler; float32 and float64 on the CPU): one C function
  per family runs all layers of a tile row by row, each row staying in L1 while every layer updates
  it: per entry and layer one arccos (arcsin) and one sqrt (erf NNGP: none) with a few fused
  multiply-adds in registers, no pass over memory.  gcc vectorises the row loop with glibc's libmvec
  arccos/arcsin (AVX2, at most 4 ulp), which are 2.8x (float64) and 3.7x (float32) faster than
  torch's here.  Built once per machine (0.5 s) into ~/.cache/ntklib; where that fails, or with
  COMPILED = False, the torch code runs.
* torch (other devices, machines without a compiler): per relu NTK layer the two transcendental
  passes and five fused multiply-adds (addcmul, in place where the operands allow), a clamp and two
  outer products, each a torch kernel writing into preallocated buffers (NNGP: three and a clamp;
  erf NTK: arcsin, one rsqrt and five; the generic code makes about twenty).  sqrt is numpy's loop
  (1.4 against torch's 2.3 ns per float64 entry here); on AVX-512 CPUs numpy's arccos/arcsin (its
  SVML loops, about 4x faster than torch's) are used (`NUMPY_SIMD`).

Measured (2-core AMD EPYC, AVX2, torch 2.13, one thread, N = 2000, depth 11, beta = 0.1; time over
the transcendental floor of benchmarks/floors.py, torch's arccos + sqrt or arcsin on the upper
triangle): compiled relu NNGP/NTK 0.74/0.65x (float64), 0.75/0.79x (float32), erf 0.89/0.93x,
0.83/0.95x; the torch code 1.59/1.58x, 1.91/2.00x, 1.67/2.26x, 2.22/2.33x (before these changes
1.91/1.95x, 2.02/2.20x, 1.92/3.13x, 2.05/2.98x).  The tiles are spread over torch.get_num_threads()
threads, each taking the next tile when it is free (a core busy with another process slows one
thread, not half of the tiles), with one intra-op thread each, since fork-joining two threads for
every small per-tile operation costs more than it gains.  Other devices run the torch code in one
thread.  The output's pages are advised huge (_ctiles.empty: fewer page faults, measured there).

A family is recognised by behaviour, through Activation's public interface only: the function is
probed against the family's form and its closed-form duals against the formulas above, at a few
points, to 1e-12 relative.  Anything else (quadrature duals, other closed forms) stays on the
generic path.  Numerical care as in the generic path: correlations clipped to [-1, 1]; a zero-norm
input (q = 0, only with beta = 0) has its row of the normalised kernels multiplied by 0, so it gives
the exact 0 the generic path gives; on diagonal tiles the correlation of x with itself is pinned
(rho = 1 for relu, rho_e = 2q/(1 + 2q) for erf), and the final block of a diagonal tile is
symmetrised (A + A^T)/2, so k(X) is exactly symmetric (in the torch code the tile arithmetic is
exactly symmetric too: outer products of one vector with itself, commutative IEEE operations, the
rank-2 shift term symmetrised; the C loops may round (x, y) and (y, x) differently by an ulp).
"""

from __future__ import annotations

import math
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from . import _ctiles, _step

# Probe points for recognising a family: inputs of sigma, and (a, b, c) for the duals.
_PROBE_X = (-2.3, -1.0, -0.4, 0.0, 0.3, 1.0, 1.7, 3.1)
_PROBE_ABC = ((1.0, 1.0, 1.0), (1.3, 0.7, 0.4), (0.5, 2.0, -0.9), (2.5, 1.5, 1.9), (0.8, 0.8, -0.3))
_PROBE_RTOL = 1e-12


@dataclass(frozen=True)
class Family:
    """A recognised closed-form family: kind "relu" (p relu(x) + n relu(-x) + h) or "erf"
    (p erf(x) + h, n = 0)."""

    kind: str
    p: float
    n: float
    h: float


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _relu_family_duals(p, n, h, a, b, c):
    P = p + n
    sab = math.sqrt(a * b)
    rho = max(-1.0, min(1.0, c / sab))
    pt = math.pi - math.acos(rho)
    k = P * P * sab / (2 * math.pi) * (math.sqrt(max(0.0, 1 - rho * rho)) + pt * rho) - p * n * c
    k += h * P * (math.sqrt(a) + math.sqrt(b)) / math.sqrt(2 * math.pi) + h * h
    kd = P * P * pt / (2 * math.pi) - p * n
    return k, kd


def _erf_family_duals(s, h, a, b, c):
    d = (1 + 2 * a) * (1 + 2 * b)
    return (
        s * s * (2 / math.pi) * math.asin(max(-1.0, min(1.0, 2 * c / math.sqrt(d)))) + h * h,
        s * s * (4 / math.pi) / math.sqrt(d - 4 * c * c),
    )


def _close(x, y, scale):
    return abs(x - y) <= _PROBE_RTOL * max(abs(y), scale)


def _probe(act):
    if not act.closed_form:
        return None
    x = torch.tensor(_PROBE_X, dtype=torch.float64)
    try:
        with torch.no_grad():
            fx = act(x)
        if not isinstance(fx, torch.Tensor) or fx.shape != x.shape:
            return None
        fx = [float(v) for v in fx]
        abc = [tuple(torch.tensor(t, dtype=torch.float64) for t in pt) for pt in _PROBE_ABC]
        duals = [(float(act.dual(a, b, c)), float(act.dual_deriv(a, b, c))) for a, b, c in abc]
    except Exception:  # noqa: BLE001 - an activation that cannot be probed takes the generic path
        return None
    h = fx[_PROBE_X.index(0.0)]
    scale = max(1.0, max(abs(v) for v in fx))
    candidates = []
    p, n = fx[_PROBE_X.index(1.0)] - h, fx[_PROBE_X.index(-1.0)] - h
    if abs(p + n) > 1e-8 * scale:
        candidates.append(Family("relu", p, n, h))
    s = (fx[_PROBE_X.index(1.0)] - h) / math.erf(1.0)
    if abs(s) > 1e-8 * scale:
        candidates.append(Family("erf", s, 0.0, h))
    for fam in candidates:
        if fam.kind == "relu":
            form = [fam.p * max(v, 0.0) + fam.n * max(-v, 0.0) + fam.h for v in _PROBE_X]
            want = [_relu_family_duals(fam.p, fam.n, fam.h, *pt) for pt in _PROBE_ABC]
        else:
            form = [fam.p * math.erf(v) + fam.h for v in _PROBE_X]
            want = [_erf_family_duals(fam.p, fam.h, *pt) for pt in _PROBE_ABC]
        if not all(_close(f, g, scale) for f, g in zip(fx, form)):
            continue
        dscale = max(1.0, max(abs(v) for pair in want for v in pair))
        if all(
            _close(k, kw, dscale) and _close(kd, kdw, dscale)
            for (k, kd), (kw, kdw) in zip(duals, want)
        ):
            return fam
    return None


def family(act):
    """The closed-form family of an Activation (a `Family`), or None for the generic path."""
    try:
        return _CACHE[act]
    except (KeyError, TypeError):
        pass
    fam = _probe(act) or _step.probe(act)
    try:
        _CACHE[act] = fam
    except TypeError:
        pass
    return fam


# ---- per-row vectors -----------------------------------------------------------------------------


def _rsqrt0(q):
    """1/sqrt(q), and 0 where q = 0 (a zero-norm input: its normalised rows are multiplied by 0)."""
    pos = q > 0
    safe = torch.where(pos, q, torch.ones_like(q))
    return torch.where(pos, torch.rsqrt(safe), torch.zeros_like(q))


def _first_layer(Z, scale, w2, b2, sign):
    """Rows [sign sqrt(w2/n0) z scale, sign sqrt(b2) scale]: their products are w2 x.y/n0 + b2
    rescaled (Sigma^(1) normalised), from one matrix product."""
    col = (scale * (sign * math.sqrt(b2)))[:, None]
    return torch.cat([Z * (scale * (sign * math.sqrt(w2 / Z.shape[1])))[:, None], col], 1)


def _relu_vectors(fam, Z, qs, w2, b2, rows):
    """Per-row vectors of one side for the relu family (rows=True: the rows, which carry the signs).

    qs: the variances q_1..q_L.  Layer l -> l + 1 (l = 1..L-1) updates nu <- R + val X o M, where
    val = -1 (nu = -rho, sig = -tau, normalised by sqrt(q_{l+1})) except at the last layer, where
    val = +1 and the normalisation is undone (r' = 1/sqrt(q_L) is replaced by r' sqrt(q_L), 1 or 0),
    so that the update writes Sigma^(L) or Theta^(L) itself.  M = c1 (sqrt(a) r') (sqrt(b) r')^T and
    R = val D o r' r'^T, D = kappa (sqrt(a) + sqrt(b)) + c0: None when D = 0 (val then goes into the
    rows of M), rank 1 when kappa = 0 (1-D factors), else rank 2 (factors (N, 2) and (2, M)).
    Returns (first-layer factors, [m_l], [R_l])."""
    P = fam.p + fam.n
    c1 = w2 * P * P / (2 * math.pi)
    kappa = w2 * fam.h * P / math.sqrt(2 * math.pi)
    c0 = w2 * fam.h * fam.h + b2
    sa = [torch.sqrt(q) for q in qs]
    r = [_rsqrt0(q) for q in qs]
    L = len(qs)
    first = _first_layer(Z, r[0], w2, b2, -1.0 if rows else 1.0)
    m, R = [], []
    for l in range(L - 1):
        last = l == L - 2
        val = 1.0 if last else -1.0
        rn = r[l + 1] * sa[l + 1] if last else r[l + 1]
        sv = val if rows else 1.0  # the sign goes on the rows
        mv = sa[l] * rn * math.sqrt(c1)
        if kappa == 0.0 and c0 == 0.0:
            m.append(mv * sv)
            R.append(None)
            continue
        m.append(mv)
        if kappa == 0.0:
            R.append(rn * (sv * math.sqrt(c0)))
        elif rows:
            R.append(torch.stack([(sv * kappa) * sa[l] * rn, sv * rn], 1))
        else:
            R.append(torch.stack([rn, (kappa * sa[l] + c0) * rn], 0))
    return first, m, R


def _erf_vectors(fam, Z, qs, w2, b2):
    """Per-row vectors for the erf family: first-layer factors (rho_e = 2 Sigma e_x e_y,
    e = 1/sqrt(1 + 2q)); factors sqrt(c1) e_{l+1} of E (layer l -> l + 1 multiplies by E), with
    the normalisation sqrt((1 + 2 q_L)/2) of the last layer folded in; diagonal pins 2q/(1 + 2q) of
    layers 1..L-1."""
    c1 = 4 * w2 * fam.p * fam.p / math.pi
    e = [torch.rsqrt(1 + 2 * q) for q in qs]
    first = _first_layer(Z, e[0] * math.sqrt(2.0), w2, b2, 1.0)
    pins = [2 * q * ei * ei for q, ei in zip(qs[:-1], e[:-1])]
    E = [ei * math.sqrt(c1) for ei in e[1:]]
    E[-1] = E[-1] * torch.sqrt((1 + 2 * qs[-1]) * 0.5)
    return first, E, pins


def _numpy_simd() -> bool:
    """Whether numpy's arccos/arcsin are its AVX-512 SIMD (SVML) loops: about 4x faster than torch's
    here (1 ulp, as torch's).  Decided from numpy's CPU feature table, so the choice is fixed per
    machine, never by a timing; elsewhere (no AVX-512, another device) torch's kernels are used."""
    try:
        return bool(np._core._multiarray_umath.__cpu_features__.get("AVX512_SKX", False))
    except AttributeError:
        return False


NUMPY_SIMD = _numpy_simd()


def _use_numpy(x):
    return NUMPY_SIMD and x.device.type == "cpu"


def _acos(x, out):
    if _use_numpy(x):
        np.arccos(x.numpy(), out=out.numpy())
    else:
        torch.arccos(x, out=out)


def _asin(x, out):
    if _use_numpy(x):
        np.arcsin(x.numpy(), out=out.numpy())
    else:
        torch.arcsin(x, out=out)


def _sqrt_(x):
    """x <- sqrt(x): numpy's loop on the CPU (correctly rounded like torch's, and faster here:
    1.4 against 2.3 ns per float64 entry, 0.42 against 0.50 per float32 entry)."""
    if x.device.type == "cpu":
        a = x.numpy()
        np.sqrt(a, out=a)
    else:
        x.sqrt_()


def _suffix(x):
    return "d" if x.dtype == torch.float64 else "f"


class _Buffers:
    """Flat scratch buffers reused by every tile (contiguous views of the tile's shape)."""

    def __init__(self, count, size, like):
        self.flat = [torch.empty(size, dtype=like.dtype, device=like.device) for _ in range(count)]

    def views(self, ti, tj, count):
        """count views (None past the buffers there are: the compiled path needs three)."""
        v = [b[: ti * tj].view(ti, tj) for b in self.flat]
        return v + [None] * (count - len(v))


def _sym_(A, tmp):
    """A <- (A + A^T)/2 in place through tmp (exactly symmetric: IEEE addition commutes)."""
    torch.add(A, A.T, out=tmp)
    torch.mul(tmp, 0.5, out=A)
    return A


class _Sliced:
    """Per-block slices of lists of per-row vectors (cut once per block, not once per tile)."""

    def __init__(self, vectors, axis):
        self.vectors, self.axis, self.cache = vectors, axis, {}

    def __call__(self, s0, s1):
        key = (s0, s1)
        if key not in self.cache:
            self.cache = {
                key: [
                    None
                    if v is None
                    else (v[s0:s1] if v.ndim == 1 or self.axis == 0 else v[:, s0:s1])
                    for v in self.vectors
                ]
            }
        return self.cache[key]


def _tiles(N, M, tile, sym):
    """(i0, i1, j0, j1, diag) of the tiles, the largest first.  A symmetric call computes the upper
    tiles only; each diagonal tile is cut into three quarter tiles (two diagonal, one off-diagonal),
    so the entries computed twice are a quarter of the tile instead of half of it (at N = 4000 and
    tile 320, 4% more entries than the upper triangle instead of 8%)."""
    full, diag = [], []
    for i0 in range(0, N, tile):
        i1 = min(i0 + tile, N)
        for j0 in range(i0 if sym else 0, M, tile):
            j1 = min(j0 + tile, M)
            if not (sym and j0 == i0):
                full.append((i0, i1, j0, j1, False))
            elif i1 - i0 < 64:
                diag.append((i0, i1, i0, i1, True))
            else:
                h = i0 + (i1 - i0 + 1) // 2
                diag += [(i0, h, i0, h, True), (i0, h, h, i1, False), (h, i1, h, i1, True)]
    return full + diag


def _finish(out, res, i0, i1, j0, j1, diag, sym, tmp):
    """Store a symmetric call's final block, computed in scratch: symmetrised on a diagonal tile,
    else stored and mirrored.  The mirror goes through a contiguous transposed copy of the scratch:
    transposing a slice of the wide output, or copying a transposed view into it, is about three
    times slower (strided access across many pages).  Non-symmetric calls wrote into out already."""
    if diag:
        _sym_(res, tmp)
        out[i0:i1, j0:j1].copy_(res)
    elif sym:
        out[i0:i1, j0:j1].copy_(res)
        tT = tmp.view(-1)[: res.numel()].view(j1 - j0, i1 - i0)
        tT.copy_(res.T)
        out[j0:j1, i0:i1].copy_(tT)


def _update(target, R, X, M, val):
    """target <- R + val X o M (R None: X o M, the sign already in M)."""
    if R is None:
        torch.mul(X, M, out=target)
    else:
        torch.addcmul(R, X, M, value=val, out=target)


def relu_prepare(fam, X, Y, qx, qy, w2, b2):
    """The per-row vectors of relu_tiles."""
    sym = Y is None
    fx, mx, Rx = _relu_vectors(fam, X, qx, w2, b2, True)
    fy, my, Ry = _relu_vectors(fam, X if sym else Y, qx if sym else qy, w2, b2, False)
    k = -2 * math.pi * fam.p * fam.n / (fam.p + fam.n) ** 2
    return fx, fy, mx, my, Rx, Ry, k


def relu_tiles(vec, depth, want_theta, tile, out, tiles, sym):
    """out <- Theta^(L) (want_theta) or Sigma^(L) of the relu family, on the given tiles; sym: Y is
    None (upper tiles only, mirrored).  vec: from relu_prepare.  depth >= 2."""
    fx, fy, mx, my, Rx, Ry, k = vec
    X = fx
    rank2 = Rx[0] is not None and Rx[0].ndim == 2
    rows_m, cols_m = _Sliced(mx, 0), _Sliced(my, 1)
    rows_R, cols_R = _Sliced(Rx, 0), _Sliced(Ry, 1)
    one = torch.ones((), dtype=X.dtype, device=X.device)
    lib = _ctiles.compiled(X)
    bufs = _Buffers(6 if lib is None else 3, tile * tile, X)
    if lib is not None:  # the per-layer vectors as (layers, N) arrays for the C kernel
        kern = getattr(lib, "relu_" + _suffix(X))
        rank = 0 if Rx[0] is None else Rx[0].ndim
        Ms = torch.stack(mx), torch.stack(my)
        Rs = (None, None)
        if rank:
            Rs = torch.stack([r.T if rank == 2 else r for r in Rx]), torch.stack(Ry)
            Rs = Rs[0].reshape(-1, Ms[0].shape[1]), Rs[1].reshape(-1, Ms[1].shape[1])
        vals = [1.0 if rank == 0 or l == depth - 2 else -1.0 for l in range(depth - 1)]
        vals = torch.tensor(vals, dtype=X.dtype)
    for i0, i1, j0, j1, diag in tiles:
        nu, sig, A, B, Mt, Rt = bufs.views(i1 - i0, j1 - j0, 6)
        torch.matmul(fx[i0:i1], fy[j0:j1].T, out=nu)  # nu = -rho^(1)
        if diag:
            _sym_(nu, A)
            nu.diagonal().fill_(-1.0)
        nu.clamp_(-1.0, 1.0)
        prev = nu  # sig^(1) = nu
        dest = nu if sym else out[i0:i1, j0:j1]  # nu is free at the last layer
        if lib is not None:
            kern(
                *(i1 - i0, j1 - j0, depth - 1, want_theta, diag, rank, k),
                *(_ctiles.ptr(nu), _ctiles.ptr(sig), _ctiles.ptr(dest), dest.stride(0)),
                *(
                    _ctiles.ptr(Ms[0], i0),
                    _ctiles.ptr(Ms[1], j0),
                    _ctiles.ptr(Rs[0], i0),
                    _ctiles.ptr(Rs[1], j0),
                ),
                *(Ms[0].stride(0), Ms[1].stride(0), _ctiles.ptr(vals)),
            )
            _finish(out, dest, i0, i1, j0, j1, diag, sym, A)
            continue
        mi, mj, Ri, Rj = rows_m(i0, i1), cols_m(j0, j1), rows_R(i0, i1), cols_R(j0, j1)
        for l in range(depth - 1):
            last = l == depth - 2
            val = 1.0 if last else -1.0
            torch.outer(mi[l], mj[l], out=Mt)
            Rl = None
            if Ri[l] is not None:
                if rank2:
                    torch.mm(Ri[l], Rj[l], out=Rt)
                    if diag:
                        _sym_(Rt, A)
                else:
                    torch.outer(Ri[l], Rj[l], out=Rt)
                Rl = Rt
            _acos(nu, A)  # A = pi - theta (nu = -rho)
            if k != 0.0:
                A.add_(k)
            torch.addcmul(one, nu, nu, value=-1.0, out=B)
            _sqrt_(B)
            B.addcmul_(A, nu, value=-1.0)  # g = sqrt(1 - rho^2) + A rho
            if want_theta and last:
                torch.addcmul(B, prev, A, value=-1.0, out=sig)  # g + tau A
                _update(dest, Rl, sig, Mt, val)
                break
            if want_theta:
                torch.mul(prev, A, out=sig)
                prev = sig
            _update(dest if last else nu, Rl, B, Mt, val)
            if want_theta:  # sig <- R + val (g - sig A) o M = nu - val (sig A) o M
                torch.addcmul(nu, sig, Mt, value=-1.0 if Rl is None else -val, out=sig)
            if not last:
                if diag:
                    nu.diagonal().fill_(-1.0)
                nu.clamp_(-1.0, 1.0)
        _finish(out, dest, i0, i1, j0, j1, diag, sym, A)
    return out


def erf_prepare(fam, X, Y, qx, qy, w2, b2):
    """The per-row vectors of erf_tiles."""
    fx, ex, px = _erf_vectors(fam, X, qx, w2, b2)
    fy, ey, _ = (fx, ex, px) if Y is None else _erf_vectors(fam, Y, qy, w2, b2)
    c0 = 2 * (w2 * fam.h * fam.h + b2) / (4 * w2 * fam.p * fam.p / math.pi)
    return fx, fy, ex, ey, px, c0


def erf_tiles(vec, depth, want_theta, tile, out, tiles, sym):
    """out <- Theta^(L) (want_theta) or Sigma^(L) of the erf family; as relu_tiles."""
    fx, fy, ex, ey, px, c0 = vec
    X = fx
    rows_e, cols_e, pins = _Sliced(ex, 0), _Sliced(ey, 1), _Sliced(px, 0)
    one = torch.ones((), dtype=X.dtype, device=X.device)
    lib = _ctiles.compiled(X)
    bufs = _Buffers(5 if lib is None else 3, tile * tile, X)
    if lib is not None:  # the per-layer vectors as (layers, N) arrays for the C kernel
        kern = getattr(lib, "erf_" + _suffix(X))
        Es, Ps = (torch.stack(ex), torch.stack(ey)), torch.stack(px)
    for i0, i1, j0, j1, diag in tiles:
        rho, tau, A, B, Et = bufs.views(i1 - i0, j1 - j0, 5)
        torch.matmul(fx[i0:i1], fy[j0:j1].T, out=rho)  # rho_e^(1)
        if diag:
            _sym_(rho, A)
            pi_ = pins(i0, i1)
            rho.diagonal().copy_(pi_[0])
        rho.clamp_(-1.0, 1.0)
        prev = rho  # tau^(1) = rho_e^(1)
        dest = rho if sym else out[i0:i1, j0:j1]  # rho is free at the last layer
        if lib is not None:
            kern(
                *(i1 - i0, j1 - j0, depth - 1, want_theta, diag, c0),
                *(_ctiles.ptr(rho), _ctiles.ptr(tau), _ctiles.ptr(dest), dest.stride(0)),
                *(
                    _ctiles.ptr(Es[0], i0),
                    _ctiles.ptr(Es[1], j0),
                    _ctiles.ptr(Ps, i0),
                    Es[0].stride(0),
                ),
                Es[1].stride(0),
            )
            _finish(out, dest, i0, i1, j0, j1, diag, sym, A)
            continue
        ei, ej = rows_e(i0, i1), cols_e(j0, j1)
        for l in range(depth - 1):
            last = l == depth - 2
            torch.outer(ei[l], ej[l], out=Et)
            _asin(rho, A)
            if c0 != 0.0:
                A.add_(c0)
            if want_theta:
                torch.addcmul(one, rho, rho, value=-1.0, out=B)
                B.rsqrt_()
                torch.addcmul(A, prev, B, out=tau)
                prev = tau
                torch.mul(tau, Et, out=dest if last else tau)
                if last:
                    break
            torch.mul(A, Et, out=dest if last else rho)
            if not last:
                if diag:
                    rho.diagonal().copy_(pi_[l + 1])
                rho.clamp_(-1.0, 1.0)
        _finish(out, dest, i0, i1, j0, j1, diag, sym, A)
    return out


# Scratch bytes per tile buffer.  Measured (benchmarks-style, N = 4000, depth 10, two threads, the
# best of 3 alternating runs, relu and erf, NTK and NNGP): float64 tiles 192/256/320/384/448/512 ran
# at 1.26/1.21/1.15/1.16/1.25/1.29x the floor (relu NTK), float32 at 2.24/1.84/1.64/1.57/1.54/1.56x;
# both are best near 800 KiB per buffer (float64 320, float32 448: six buffers then sit in the
# 1 MiB L2 and the L3, and each torch call has enough work to hide its overhead).  On a GPU the
# per-call overhead is a kernel launch, so the tiles are much larger.  The compiled kernels keep a
# row in L1 and care less: 2-core AVX2 machine, one thread, N = 3000, depth 11, NTK, tiles
# 128/192/256/320/384/512/768: relu float64 0.31/0.31/0.29/0.30/0.28/0.28/0.30 s, float32
# 0.16/0.13/0.12/0.13/0.12/0.12/0.13 s (best of 2; within the noise of that shared machine).
TILE_BYTES = 800 * 1024
TILE_GPU = 4096


def tile_for(X):
    """The tile edge for X's dtype and device (a multiple of 32)."""
    if X.device.type != "cpu":
        return TILE_GPU
    return max(32, int(math.sqrt(TILE_BYTES / X.element_size())) // 32 * 32)


def _workers(X, n_tiles):
    """Threads for the tiles: torch.get_num_threads() on the CPU (each thread runs its tiles with
    one intra-op thread, so the small per-tile operations do not pay a fork-join each), else 1."""
    if X.device.type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), n_tiles))


def fused_tiled(fam, X, Y, depth, qx, qy, w2, b2, want_theta, tile):
    """Sigma^(L) or Theta^(L) for a recognised family (depth >= 2), shape (N, M).

    On the CPU the tiles are spread over torch.get_num_threads() threads, each with one intra-op
    thread and its own scratch buffers; each tile is computed the same way whichever thread takes
    it, so the result does not depend on the scheduling."""
    sym = Y is None
    N, M = X.shape[0], (X if sym else Y).shape[0]
    out = _ctiles.empty(N, M, X)  # pages advised huge: fewer page faults
    prep, run = {"relu": (relu_prepare, relu_tiles), "erf": (erf_prepare, erf_tiles)}.get(
        fam.kind, (_step.prepare, _step.tiles)
    )
    vec = prep(fam, X, Y, qx, qy, w2, b2)
    tiles = _tiles(N, M, tile, sym)
    n = _workers(X, len(tiles))
    if n == 1:
        run(vec, depth, want_theta, tile, out, tiles, sym)
        return out

    inference = torch.is_inference_mode_enabled()
    lock = threading.Lock()
    queue = iter(tiles)

    def pull():  # the next tile for whichever thread is free (a busy core slows one thread only)
        while True:
            with lock:
                t = next(queue, None)
            if t is None:
                return
            yield t

    def work():
        torch.set_num_threads(1)  # this thread's intra-op pool only
        with torch.inference_mode(inference), torch.no_grad():  # modes are per thread
            run(vec, depth, want_theta, tile, out, pull(), sym)

    with ThreadPoolExecutor(max_workers=n) as ex:
        for f in [ex.submit(work) for _ in range(n)]:
            f.result()
    return out
