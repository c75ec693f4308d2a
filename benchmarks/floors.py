"""The issue-18 benchmark cases: each timed against its floor measured in the same process, and
each result checked against a reference.  Run by benchmarks/run.py (one subprocess per section).

Floors:
  transcendental (analytic NNGP/NTK), two of them, for the same work: the work no evaluation of
      the recursion can skip, one arccos and one sqrt (relu) or one arcsin (erf) or one arccos
      (step NNGP) per entry of the upper triangle and per nonlinear layer (depth - 1 of them), on
      torch.get_num_threads() threads, in chunks that stay in cache or one flat pass per layer
      (the faster layout), reading inputs and writing outputs, nothing allocated:
    torch (transcendental_floor): torch's vectorised kernels (out= buffers, torch's intra-op
      threads).  The floor of the issue's target, and of the torch code in ntklib/_fused.py.
    libmvec (libmvec_floor): glibc's vectorised acos/asin (libmvec, AVX2) and sqrt, in a C loop
      compiled with ntklib's C kernels (ntklib/_ctiles.py: floor_d / floor_f, the same compiler
      and flags), one ctypes call per thread and layer; "n/a" where no C compiler is present.
      ntklib's compiled path calls these kernels, which are 2.7-6x faster than torch's here
      (float64 and float32, 2-core AVX2 machine, `make bench`), so a ratio to the torch floor
      alone would credit that path with the speed of its arccos: the ratio to the libmvec floor
      is what its own overhead costs (the first-layer products, the few multiply-adds per entry,
      the stores).
    The identity has no transcendental floor: its dual is c itself, so the kernel is the linear
      recursion (affine maps of X X^T) and never leaves the generic path; elu's closed form is
      a quadrature over polar arcs (erfcx at several nodes per entry), timed by neither floor.
  matmul (FC empirical NTK): the matrix products of the layer-structure path, alone (forward
      products, the backpropagated signals, the Gram matrices of inputs and signals per layer).
Times: the median of `repeats` calls after one warm-up call.
"""

from __future__ import annotations

import copy
import math
import statistics
import time

from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn

import ntklib as nk
from ntklib import _ctiles
from ntklib import empirical as emp
from ntklib.kernels import _tiled

# Tolerances of the checks (max error printed beside each).
#  analytic float64: 1e-12 relative to the largest entry (issue 18, as tests/test_kernels.py),
#    widened entry by entry by the arccos rounding argument (rounding_check);
#  analytic float32 against the float64 reference: 1e-3 (eps32 = 6e-8; arccos turns a relative
#    rounding d of rho near 1 into sqrt(2 d), ~5e-4 for d = 1e-7, before the layers average it);
#  empirical float32 against float64 Jacobians: 1e-4 of the largest entry (sums of P products
#    in float32, relative rounding ~ sqrt(P) eps32 ~ 1e-5 for P ~ 5e3 .. 5e6, with margin 10).
TOL = {"float64": 1e-12, "float32": 1e-3, "empirical": 1e-4}
BETA = 0.1
CHUNK = 1 << 16  # entries per floor chunk: 512 KB in float64, stays in L2


def median_time(fn, repeats):
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def rounding_check(got, ref, X, depth, rtol):
    """max over entries of |got - ref| / max |ref| divided by its tolerance, the check of
    tests/test_kernels.py (tests/conftest.py: arccos_rounding_tol, assert_close_within): rtol
    widened entry by entry by the arccos rounding argument, a first-layer correlation c exact to
    dc = 4 n_0 eps, amplified per layer to min(dc / sqrt(1 - c^2), sqrt(2 dc)); the diagonal
    (x with itself) is pinned to the exact variances in both codes, so it keeps rtol.
    Returns (normwise error, its largest ratio to the tolerance)."""
    got, ref, X = got.double(), ref.double(), X.double()
    nx = X.norm(dim=1)
    c = ((X @ X.T) / (nx[:, None] * nx[None, :])).clamp(-1, 1)
    c.fill_diagonal_(0.0)
    dc = 4 * X.shape[1] * torch.finfo(torch.float64).eps
    dt = torch.minimum(
        dc / torch.sqrt((1 - c * c).clamp_min(1e-300)), torch.tensor(math.sqrt(2 * dc))
    )
    tol = rtol + (depth - 1) * dt
    err = (got - ref).abs() / ref.abs().max()
    return float(err.max()), float((err / tol).max())


def normwise_rel(got, ref):
    """max |got - ref| / max |ref|: for empirical kernels, whose entries can cross zero."""
    got, ref = got.double(), ref.double()
    return float((got - ref).abs().max() / ref.abs().max())


def transcendental_floor(activation, N, depth, dtype, repeats):
    """Seconds for the floor: (depth - 1) layers x N(N+1)/2 entries of arccos + sqrt (relu) or
    arcsin (erf), torch kernels on torch.get_num_threads() threads; the faster of two layouts
    (chunks of CHUNK entries, which stay in cache, or one flat pass per layer)."""
    entries = N * (N + 1) // 2
    return min(_floor(activation, entries, depth, dtype, repeats, c) for c in (CHUNK, entries))


def libmvec_floor(activation, N, depth, dtype, repeats):
    """Seconds for the same work as transcendental_floor with glibc's libmvec: _ctiles'
    floor_d / floor_f (compiled with ntklib's C kernels, same flags), called from
    torch.get_num_threads() threads, each on its share of the entries, in its own chunk of
    CHUNK / threads entries or in one flat pass per layer (the faster of the two); None where the
    C kernels cannot be built here."""
    lib = _ctiles.compiled(torch.zeros(1, dtype=dtype))
    if lib is None:
        return None
    entries = N * (N + 1) // 2
    threads = max(1, torch.get_num_threads())
    share = -(-entries // threads)
    fn = getattr(lib, "floor_" + ("d" if dtype == torch.float64 else "f"))
    kind = ("relu", "erf", "step").index(activation)
    best = math.inf
    for chunk in (max(1, CHUNK // threads), share):
        g = torch.Generator().manual_seed(1)
        x = (torch.rand(threads, chunk, generator=g, dtype=torch.float64) * 1.98 - 0.99).to(dtype)
        y = 1 - x * x
        o1, o2 = torch.empty_like(x), torch.empty_like(x)
        args = [[_ctiles.ptr(t[k]) for t in (x, y, o1, o2)] for k in range(threads)]

        def part(k):
            n = min(share, entries - k * share)
            for _ in range(depth - 1):
                fn(n, chunk, kind, *args[k])

        with ThreadPoolExecutor(threads) as ex:

            def run():
                list(ex.map(part, range(threads)))

            best = min(best, median_time(run, repeats)[0])
    return best


def _floor(activation, entries, depth, dtype, repeats, chunk):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(chunk, generator=g, dtype=torch.float64) * 1.98 - 0.99).to(dtype)
    y = 1 - x * x
    o1, o2 = torch.empty_like(x), torch.empty_like(x)
    full, rest = divmod(entries, chunk)

    def run():
        for _ in range(depth - 1):
            for k in range(full + (rest > 0)):
                n = chunk if k < full else rest
                if activation == "erf":
                    torch.arcsin(x[:n], out=o1[:n])
                else:  # relu: arccos and sqrt; step: arccos alone
                    torch.arccos(x[:n], out=o1[:n])
                    if activation == "relu":
                        torch.sqrt(y[:n], out=o2[:n])

    return median_time(run, repeats)[0]


SIZES = {  # analytic (N, n_ref), fc (N, width, n_ref), cnn (N, N multi-output), repeats
    "smoke": dict(analytic=(200, 60), fc=(16, 64, 8), cnn=(16, 8), repeats=1),
    "quick": dict(analytic=(1000, 300), fc=(64, 512, 16), cnn=(64, 32), repeats=3),
    "full": dict(analytic=(4000, 1000), fc=(256, 2048, 16), cnn=(256, 64), repeats=5),
}


ANALYTIC_CASES = (  # (activation, kinds): step has a closed-form NNGP only (its derivative is 0)
    ("relu", ("nngp", "ntk")),
    ("erf", ("nngp", "ntk")),
    ("step", ("nngp",)),
)


def analytic_section(scale):
    """(a) nk.nngp / nk.ntk (relu, erf) and nk.nngp (step), depth 11, against both transcendental
    floors; checked against the generic recursion (kernels._tiled(fused=False)) in float64 on the
    leading n_ref inputs (the kernel is entrywise, so the leading block of k(X) is
    k(X[:n_ref]))."""
    (N, n_ref), depth, repeats = SIZES[scale]["analytic"], 11, SIZES[scale]["repeats"]
    rows = []
    X64 = torch.randn(N, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for act, kinds in ANALYTIC_CASES:
        refs = {
            k: _tiled(X64[:n_ref], None, depth, act, BETA, k == "ntk", fused=False) for k in kinds
        }
        for dt in ("float64", "float32"):
            dtype = getattr(torch, dt)
            X = X64.to(dtype)
            floor = transcendental_floor(act, N, depth, dtype, repeats)
            lib = libmvec_floor(act, N, depth, dtype, repeats)
            for kind in kinds:
                fn = nk.ntk if kind == "ntk" else nk.nngp
                t, out = median_time(
                    lambda: fn(X, depth=depth, activation=act, beta=BETA, dtype=dtype), repeats
                )
                got, ref = out[:n_ref, :n_ref], refs[kind]
                if dt == "float64":
                    err, worst = rounding_check(got, ref, X64[:n_ref], depth, TOL[dt])
                else:  # normwise: erf's kernels cross zero off the diagonal (|ref| down to 6e-5
                    # at N = 4000), where an entrywise relative error measures nothing (1.9e-3 there
                    # against a normwise 8e-7)
                    err = normwise_rel(got, ref)
                    worst = err / TOL[dt]
                rows.append(
                    dict(
                        act=act,
                        dtype=dt,
                        kind=kind,
                        N=N,
                        depth=depth,
                        time_s=t,
                        floor_s=floor,
                        ratio=t / floor,
                        floor_lib_s=lib,
                        ratio_lib=None if lib is None else t / lib,
                        err=err,
                        err_over_tol=worst,
                        n_ref=n_ref,
                    )
                )
    return rows


def fc_matmul_floor(X, model, repeats):
    """The products of the FCNet path (100 -> w -> w -> 1): forward X W0^T, a1 W1^T; the signal
    delta1 = delta2 W1; Gram matrices a_l a_l^T (l = 0, 1, 2) and delta_l delta_l^T (l = 1, 2)."""
    W0, W1 = model.weights[0], model.weights[1]
    N, w = X.shape[0], W1.shape[0]
    g = torch.Generator().manual_seed(2)
    a1, a2, d1, d2 = (torch.randn(N, w, generator=g, dtype=X.dtype) for _ in range(4))

    def run():
        X @ W0.T
        a1 @ W1.T
        d2 @ W1
        X @ X.T
        for m in (a1, a2, d1, d2):
            m @ m.T

    return median_time(run, repeats)[0]


def fc_section(scale):
    """(b) nk.empirical_ntk on the FCNet 100 -> 2048 -> 2048 -> 1, float32, against its matmul
    floor; checked against the torch.func Jacobian contraction of a float64 copy on n_ref inputs."""
    (N, w, n_ref), repeats = SIZES[scale]["fc"], SIZES[scale]["repeats"]
    X = torch.randn(N, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    model = nk.FCNet(100, w, 3, seed=0, dtype=torch.float32)
    floor = fc_matmul_floor(X, model, repeats)
    t, out = median_time(lambda: nk.empirical_ntk(model, X), repeats)
    m64 = copy.deepcopy(model).to(torch.float64)
    ref = nk.jacobian_contraction_ntk(m64, X[:n_ref].double())
    err = normwise_rel(out[:n_ref, :n_ref], ref)
    return [dict(N=N, width=w, time_s=t, floor_s=floor, ratio=t / floor, err=err, n_ref=n_ref)]


def small_cnn(n_out=1, dtype=torch.float32):
    """1-D convolutions over a length-100 signal (P = 5 441 + 32 (n_out - 1)), the generic path."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Unflatten(1, (1, 100)),
        nn.Conv1d(1, 32, 5, padding=2),
        nn.ReLU(),
        nn.Conv1d(32, 32, 5, padding=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(32, n_out),
    )
    return net.to(dtype)


def picked(model, X, **kw):
    """The method implementation='auto' runs, seen by wrapping the two private methods."""
    seen = []
    saved = emp._jacobian_ntk, emp._ntvp_ntk

    def spy(name, f):
        def g(*a, **k):
            seen.append(name)
            return f(*a, **k)

        return g

    emp._jacobian_ntk, emp._ntvp_ntk = spy("jacobian", saved[0]), spy("ntvp", saved[1])
    try:
        nk.empirical_ntk(model, X, implementation="auto", **kw)
    finally:
        emp._jacobian_ntk, emp._ntvp_ntk = saved
    return seen[0] if seen else "?"


def jac_reference(model, X):
    """Full (N, N, O, O) float64 kernel from torch.func per-sample Jacobians (vmap(jacrev))."""
    m = copy.deepcopy(model).to(torch.float64)
    params = {k: v.detach() for k, v in m.named_parameters()}

    def f(p, x):
        return torch.func.functional_call(m, p, (x.unsqueeze(0),)).reshape(-1)

    J = torch.vmap(torch.func.jacrev(f), in_dims=(None, 0))(params, X.double())
    return sum(torch.einsum("nop,mqp->nmoq", J[k].flatten(2), J[k].flatten(2)) for k in J)


def cnn_section(scale):
    """(c) SmallCNN, scalar output, N = 256: implementation='jacobian', 'ntvp', 'auto' (and which
    one auto runs); (d) multi-output O = 10: full, trace, diagonal, on the SmallCNN (generic path,
    auto) and on an FCNet 100 -> 512 -> 512 -> 10 (fast path).  Each against jac_reference."""
    (N, Nm), repeats = SIZES[scale]["cnn"], min(3, SIZES[scale]["repeats"])
    X = torch.randn(N, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    rows = []
    cnn = small_cnn(1)
    ref = jac_reference(cnn, X)[..., 0, 0]
    for impl in ("jacobian", "ntvp", "auto"):
        t, out = median_time(lambda: nk.empirical_ntk(cnn, X, implementation=impl), repeats)
        rows.append(
            dict(
                case="SmallCNN O=1",
                mode="scalar",
                impl=impl,
                N=N,
                time_s=t,
                err=normwise_rel(out, ref),
            )
        )
    rows[-1]["picked"] = picked(cnn, X)
    Xm = X[:Nm]
    for name, model, n_ref in (
        ("SmallCNN O=10", small_cnn(10), Nm),
        (
            "FCNet 100-512-512-10",
            nk.FCNet(100, 512, 3, n_out=10, seed=0, dtype=torch.float32),
            min(16, Nm),
        ),
    ):
        full = jac_reference(model, Xm[:n_ref])
        refs = {
            "full": full,
            "trace": full.diagonal(0, 2, 3).sum(-1),
            "diagonal": full.diagonal(0, 2, 3),
        }
        for mode in ("full", "trace", "diagonal"):
            kw = {"trace": mode == "trace", "diagonal": mode == "diagonal"}
            t, out = median_time(lambda: nk.empirical_ntk(model, Xm, **kw), repeats)
            rows.append(
                dict(
                    case=name,
                    mode=mode,
                    impl="auto",
                    N=Nm,
                    time_s=t,
                    err=normwise_rel(out[:n_ref, :n_ref], refs[mode]),
                    n_ref=n_ref,
                    shape=list(out.shape),
                    picked=picked(model, Xm, **kw) if name.startswith("Small") else "FCNet path",
                )
            )
    return rows


SECTIONS = {"analytic": analytic_section, "fc": fc_section, "cnn": cnn_section}
