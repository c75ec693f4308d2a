"""Compiled tile kernels of the relu, erf and step families (private to _fused and _step; see
_fused's docstring), and the loop of the benchmark's libmvec floor (benchmarks/floors.py).

One C function per family and dtype runs all layers of a tile row by row: a row of the tile (and of
sig / tau) stays in L1 while every layer updates it, each entry read and written once per layer
with no temporaries, and gcc vectorises the row loop with glibc's libmvec arccos/arcsin (AVX2, at
most 4 ulp) and sqrt.  Built once per machine with the system C compiler (CC, else cc; 0.5 s) into
$XDG_CACHE_HOME/ntklib or ~/.cache/ntklib, named by a hash of the source and flags; `compiled`
gives None where that fails (no compiler, no AVX2, not x86-64 Linux, an unwritable cache) or with
COMPILED = False, and _fused then runs its torch code.  `floor_d` / `floor_f` do only the
transcendental work (arccos + sqrt, or arcsin, per entry) with the same libmvec calls, so that the
benchmark can show how far the kernels are from the fastest elementwise code available here.
`empty` allocates the kernels' output with its pages advised huge.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import torch

_C_TEMPLATE = r"""
#include <math.h>
#include <string.h>
REAL ACOS(REAL) __attribute__((simd("notinbranch")));
REAL ASIN(REAL) __attribute__((simd("notinbranch")));
#define CLAMP(x) ((x) < -1 ? (REAL)-1 : ((x) > 1 ? (REAL)1 : (x)))

/* nu: the (ti, tj) tile of -rho^(1), contiguous, overwritten; sig: scratch (theta); out: the
   result, row stride ldo (may be nu).  Layer l: M = mi[l] mj[l]^T, R = sum_c ri[l, c] rj[l, c]^T,
   rows l of mi / mj and l rank + c of ri / rj at strides si / sj; vals[l] the sign of the update
   (relu_tiles' _update). */
void relu_SUF(long ti, long tj, long L1, int theta, int diag, int rank, REAL k, REAL *nu,
              REAL *sig, REAL *out, long ldo, const REAL *mi, const REAL *mj, const REAL *ri,
              const REAL *rj, long si, long sj, const REAL *vals) {
    for (long i = 0; i < ti; i++) {
        REAL *n = nu + i * tj, *s = sig + i * tj, *o = out + i * ldo;
        if (theta) memcpy(s, n, tj * sizeof(REAL));
        for (long l = 0; l < L1; l++) {
            const REAL a = mi[l * si + i], v = vals[l], *b = mj + l * sj;
            const REAL p0 = rank > 0 ? ri[l * rank * si + i] : 0;
            const REAL p1 = rank > 1 ? ri[(l * rank + 1) * si + i] : 0;
            const REAL *q0 = rank > 0 ? rj + l * rank * sj : b;
            const REAL *q1 = rank > 1 ? rj + (l * rank + 1) * sj : b;
            if (l < L1 - 1) {
                for (long j = 0; j < tj; j++) {
                    const REAL x = n[j], A = ACOS(x) + k, g = SQRT(1 - x * x) - A * x;
                    const REAL M = a * b[j], R = p0 * q0[j] + p1 * q1[j];
                    if (theta) s[j] = R + v * ((g - s[j] * A) * M);
                    const REAL y = R + v * (g * M);
                    n[j] = CLAMP(y);
                }
                if (diag) n[i] = -1;
            } else {
                for (long j = 0; j < tj; j++) {
                    const REAL x = n[j], A = ACOS(x) + k, g = SQRT(1 - x * x) - A * x;
                    const REAL M = a * b[j], R = p0 * q0[j] + p1 * q1[j];
                    o[j] = R + v * ((theta ? g - s[j] * A : g) * M);
                }
            }
        }
    }
}

/* rho: the (ti, tj) tile of rho_e^(1), overwritten; tau: scratch (theta); out as above.  Layer l:
   A = arcsin(rho) + c0, E = ei[l] ej[l]^T; rho <- A E, tau <- (A + tau / sqrt(1 - rho^2)) E; on
   diagonal tiles rho(x, x) <- pins[l + 1]. */
void erf_SUF(long ti, long tj, long L1, int theta, int diag, REAL c0, REAL *rho, REAL *tau,
             REAL *out, long ldo, const REAL *ei, const REAL *ej, const REAL *pins, long si,
             long sj) {
    for (long i = 0; i < ti; i++) {
        REAL *r = rho + i * tj, *t = tau + i * tj, *o = out + i * ldo;
        if (theta) memcpy(t, r, tj * sizeof(REAL));
        for (long l = 0; l < L1; l++) {
            const REAL a = ei[l * si + i], *b = ej + l * sj;
            if (l < L1 - 1) {
                for (long j = 0; j < tj; j++) {
                    const REAL x = r[j], A = ASIN(x) + c0, E = a * b[j];
                    if (theta) t[j] = (A + t[j] / SQRT(1 - x * x)) * E;
                    const REAL y = A * E;
                    r[j] = CLAMP(y);
                }
                if (diag) r[i] = pins[(l + 1) * si + i];
            } else {
                for (long j = 0; j < tj; j++) {
                    const REAL x = r[j], A = ASIN(x) + c0, E = a * b[j];
                    o[j] = (theta ? A + t[j] / SQRT(1 - x * x) : A) * E;
                }
            }
        }
    }
}
/* step family, NNGP: nu = -rho^(1) (tile, overwritten); layer l < L1 - 1: nu <- clamp(a arccos(nu)
   + b) (a, b: the normalised -w2 s^2/(2 pi c), -b2/c, c the layers' common variance); the last
   layer writes al arccos(nu) + bl (w2 s^2/(2 pi), b2) into out. */
void step_SUF(long ti, long tj, long L1, int diag, REAL a, REAL b, REAL al, REAL bl, REAL *nu,
              REAL *out, long ldo) {
    for (long i = 0; i < ti; i++) {
        REAL *n = nu + i * tj, *o = out + i * ldo;
        for (long l = 0; l < L1 - 1; l++) {
            for (long j = 0; j < tj; j++) {
                const REAL y = a * ACOS(n[j]) + b;
                n[j] = CLAMP(y);
            }
            if (diag) n[i] = -1;
        }
        for (long j = 0; j < tj; j++) o[j] = al * ACOS(n[j]) + bl;
    }
}

/* The benchmark's libmvec floor (benchmarks/floors.py): n entries of arccos and sqrt (kind 0),
   arcsin (1) or arccos (2), cycling over chunk-long buffers: no arithmetic beyond the calls. */
void floor_SUF(long n, long chunk, int kind, const REAL *x, const REAL *y, REAL *o1, REAL *o2) {
    for (long s = 0; s < n; s += chunk) {
        const long m = n - s < chunk ? n - s : chunk;
        if (kind == 0) {
            for (long j = 0; j < m; j++) {
                o1[j] = ACOS(x[j]);
                o2[j] = SQRT(y[j]);
            }
        } else if (kind == 1) {
            for (long j = 0; j < m; j++) o1[j] = ASIN(x[j]);
        } else {
            for (long j = 0; j < m; j++) o1[j] = ACOS(x[j]);
        }
    }
}
#undef CLAMP
"""
_C_SOURCE = "".join(
    _C_TEMPLATE.replace("REAL", real)
    .replace("SUF", suf)
    .replace("ACOS", f"acos{m}")
    .replace("ASIN", f"asin{m}")
    .replace("SQRT", f"sqrt{m}")
    for real, suf, m in (("double", "d", ""), ("float", "f", "f"))
)
_C_FLAGS = ["-O3", "-mavx2", "-mfma", "-fno-math-errno", "-shared", "-fPIC"]
CC = os.environ.get("CC", "cc")
_LIB: list = []  # [the loaded library or None], filled by compiled()
_LIB_LOCK = threading.Lock()


def _build():
    """The compiled kernels (ctypes.CDLL), or None where they cannot be built or run here."""
    ok = sys.platform.startswith("linux") and platform.machine() == "x86_64"
    if not ok or torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        return None
    key = hashlib.sha256(" ".join([CC, *_C_FLAGS, _C_SOURCE]).encode()).hexdigest()[:16]
    try:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ntklib"
        lib = cache / f"tiles-{key}.so"
        if not lib.exists():
            cache.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                src, so = Path(tmp) / "tiles.c", Path(tmp) / "tiles.so"
                src.write_text(_C_SOURCE)
                cmd = [CC, *_C_FLAGS, str(src), "-o", str(so), "-lm"]
                subprocess.run(cmd, check=True, capture_output=True, timeout=60)
                os.replace(so, lib)  # atomic: a process beside this one sees all of it or none
        so = ctypes.CDLL(str(lib))
    except (OSError, subprocess.SubprocessError):
        return None
    L, I, P = ctypes.c_long, ctypes.c_int, ctypes.c_void_p
    for suf, real in (("d", ctypes.c_double), ("f", ctypes.c_float)):
        head = [L, L, L, I, I]  # ti, tj, L1, theta, diag
        getattr(so, "relu_" + suf).argtypes = head + [I, real, P, P, P, L] + [P] * 4 + [L, L, P]
        getattr(so, "erf_" + suf).argtypes = head + [real, P, P, P, L, P, P, P, L, L]
        getattr(so, "step_" + suf).argtypes = [L, L, L, I] + [real] * 4 + [P, P, L]
        getattr(so, "floor_" + suf).argtypes = [L, L, I, P, P, P, P]
    return so


def compiled(x):
    """The compiled kernels for x (float32 / float64 on the CPU), else None."""
    if not COMPILED or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return None
    with _LIB_LOCK:
        if not _LIB:
            _LIB.append(_build())
    return _LIB[0]


COMPILED = True  # False: always the torch code (tests compare the two)


_MADV_HUGEPAGE = 14  # Linux
_LIBC: list = []  # [libc's madvise or None]


def empty(N, M, like):
    """torch.empty((N, M)) like `like`, its pages advised huge (madvise(MADV_HUGEPAGE)) on Linux
    CPUs from 4 MiB: the first write of each 4 KiB page of a fresh allocation is a page fault, which
    here (a VM) costs ~3.5 us; a float64 4000 x 4000 output took 61-145 ms to fill the first time
    against 12-35 ms advised.  Where that fails the tensor is returned as is."""
    out = torch.empty(N, M, dtype=like.dtype, device=like.device)
    size = out.numel() * out.element_size()
    if out.device.type != "cpu" or size < 1 << 22 or not sys.platform.startswith("linux"):
        return out
    if not _LIBC:
        try:
            fn = ctypes.CDLL(None).madvise
            fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
        except (OSError, AttributeError):
            fn = None
        _LIBC.append(fn)
    if _LIBC[0] is not None:
        p = out.data_ptr()
        start = -(-p // 4096) * 4096
        _LIBC[0](start, (p + size - start) // 4096 * 4096, _MADV_HUGEPAGE)  # advice: result unused
    return out


def ptr(t, col=0):
    """The address of t[..., col] (None for None)."""
    return None if t is None else ctypes.c_void_p(t.data_ptr() + col * t.element_size())
