"""`make bench`: ntklib's NTK computations against their floors, each result checked.

Default (`make bench`, about a minute on a quiet 2-core machine): three sections, each in a fresh
subprocess, each case timed beside its floor measured in the same process (benchmarks/floors.py):
  (a) analytic NNGP/NTK (relu, erf; step NNGP; depth 11, N = 4000; float64, float32) / two
      transcendental floors, torch's kernels and glibc's libmvec (arccos + sqrt per upper-triangle
      entry and nonlinear layer for relu, arcsin for erf, arccos for step), target <= 1.8x;
      checked against kernels._tiled(fused=False) to 1e-12 relative in float64;
  (b) FC empirical NTK, MLP 100 -> 2048 -> 2048 -> 1, N = 256, float32 / its matmul floor;
  (c) a SmallCNN on the generic path: implementation="jacobian", "ntvp", and what "auto" runs;
  (d) O = 10 outputs: full, trace, diagonal (SmallCNN generic path, FCNet fast path);
  (b)-(d) checked against float64 torch.func Jacobians.  Times: medians of 3-5 calls after a
  warm-up.  Printed and written to build/bench/results.md (and results.json); the exit status is
  1 when a correctness check fails.

Usage: python benchmarks/run.py [--quick | --scale smoke|quick|full]
       python benchmarks/run.py --legacy [--quick] [--device cpu|cuda|auto]
  --legacy: the older sweep (sizes up to N = 20000, peak memory per case in its own subprocess,
  baselines: the naive full-matrix relu recursion and nk.jacobian_contraction_ntk).  A --device
  other than cpu (make bench DEVICE=cuda) runs this sweep there: the floors above are CPU
  measurements; on a GPU the times include torch.cuda.synchronize().
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench"


# ---- the cases (run inside the subprocess) -------------------------------------------------------


def naive_relu_ntk(X, depth, beta):
    """Textbook relu NTK recursion on full matrices (the baseline)."""
    import torch

    w2, b2 = 1 - beta**2, beta**2
    S = w2 * (X @ X.T) / X.shape[1] + b2
    T = S.clone()
    for _ in range(depth - 1):
        d = torch.sqrt(torch.diag(S))
        norm = torch.outer(d, d)
        theta = torch.arccos((S / norm).clamp(-1, 1))
        Sd = w2 * (math.pi - theta) / (2 * math.pi)
        S = (
            w2 * norm / (2 * math.pi) * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta))
            + b2
        )
        T = T * Sd + S
    return T


def _mlp(w, dtype, device):
    import ntklib as nk

    return nk.FCNet(100, w, 3, seed=0, dtype=dtype, device=device)


class SmallCNN:
    """A non-FC module for the generic path: 1-D convolutions over a length-100 signal."""

    @staticmethod
    def make(dtype, device):
        import torch
        from torch import nn

        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Unflatten(1, (1, 100)),
            nn.Conv1d(1, 32, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(32, 32, 5, padding=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(32, 1),
        )
        return net.to(dtype=dtype, device=device)


def run_case(case: dict) -> dict:
    import torch
    import ntklib as nk

    torch.set_num_threads(int(case.get("threads", torch.get_num_threads())))
    dtype = getattr(torch, case["dtype"])
    dev = nk.resolve_device(case.get("device", "cpu"))
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    g = torch.Generator().manual_seed(0)
    kind = case["kind"]
    if kind in ("ntk", "nngp", "naive"):
        X = torch.randn(case["N"], 100, generator=g, dtype=dtype).to(dev)
        fn = {
            "ntk": lambda: nk.ntk(X, depth=case["depth"], dtype=dtype),
            "nngp": lambda: nk.nngp(X, depth=case["depth"], dtype=dtype),
            "naive": lambda: naive_relu_ntk(X, case["depth"], 0.1),
        }[kind]
    else:
        X = torch.randn(case["N"], 100, generator=g, dtype=dtype).to(dev)
        model = (
            _mlp(case["width"], dtype, dev) if case["model"] == "mlp" else SmallCNN.make(dtype, dev)
        )
        fn = {
            "empirical": lambda: nk.empirical_ntk(model, X),
            "torch.func": lambda: nk.jacobian_contraction_ntk(model, X),
        }[kind]
    if cuda:
        sync()
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev) / 1024  # KiB, like ru_maxrss
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    repeats = case.get("repeats", 3)
    t0 = time.perf_counter()
    out = fn()  # warm-up (and the peak-memory run)
    sync()
    first = time.perf_counter() - t0
    times = [first]
    for _ in range(repeats - 1 if first < 5 else 0):
        t0 = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t0)
    if cuda:
        peak = torch.cuda.max_memory_allocated(dev) / 1024
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ok = bool(torch.isfinite(out).all())
    return {
        "time_s": min(times),
        "peak_mb": max(0, peak - base) / 1024,
        "finite": ok,
        "out_mb": out.numel() * out.element_size() / 2**20,
        "device": str(dev),
    }


def in_subprocess(case: dict, timeout: float = 900) -> dict:
    try:
        res = subprocess.run(
            [sys.executable, __file__, "--case", json.dumps(case)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout:.0f} s"}
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": tail[:80]}
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---- the legacy suite -------------------------------------------------------------------


def suite(quick: bool, device: str = "cpu"):
    return [dict(c, device=device) for c in _suite(quick)]


def _suite(quick: bool):
    Ns = [500, 1000] if quick else [1000, 2000, 4000, 8000]
    cases = []
    for dt in ("float64", "float32"):
        for N in Ns:
            cases.append(
                dict(
                    group="analytic relu, depth 10, n_0 = 100", kind="ntk", N=N, depth=10, dtype=dt
                )
            )
            cases.append(
                dict(
                    group="analytic relu, depth 10, n_0 = 100", kind="nngp", N=N, depth=10, dtype=dt
                )
            )
            if N <= 4000:
                cases.append(
                    dict(
                        group="analytic relu, depth 10, n_0 = 100",
                        kind="naive",
                        N=N,
                        depth=10,
                        dtype=dt,
                    )
                )
    if not quick:
        cases.append(
            dict(
                group="analytic relu, depth 10, n_0 = 100",
                kind="ntk",
                N=20000,
                depth=10,
                dtype="float64",
                repeats=1,
            )
        )
    widths = [256, 512] if quick else [512, 2048, 8192]
    for N in [64] if quick else [256, 1024]:
        for w in widths:
            for dt in ("float32", "float64"):
                cases.append(
                    dict(
                        group="empirical NTK, MLP 100 -> w -> w -> 1",
                        kind="empirical",
                        model="mlp",
                        width=w,
                        N=N,
                        dtype=dt,
                    )
                )
                # the torch.func recipe holds N x P Jacobians: skip where that exceeds ~12 GB here
                P = 100 * w + w * w + w + 2 * w + 1
                if N * P * (4 if dt == "float32" else 8) < 12e9:
                    cases.append(
                        dict(
                            group="empirical NTK, MLP 100 -> w -> w -> 1",
                            kind="torch.func",
                            model="mlp",
                            width=w,
                            N=N,
                            dtype=dt,
                            repeats=2,
                        )
                    )
    for N in [64] if quick else [256]:
        for kind in ("empirical", "torch.func"):
            cases.append(
                dict(
                    group="empirical NTK, 1-D CNN (generic path)",
                    kind=kind,
                    model="cnn",
                    N=N,
                    dtype="float32",
                    repeats=2,
                )
            )
    return cases


def label(c):
    size = f"N={c['N']}" + (f", w={c['width']}" if "width" in c else "")
    return f"{c['kind']:<10} {size:<16} {c['dtype']}"


def _section_in_subprocess(name: str, scale: str, timeout: float = 600) -> dict:
    try:
        res = subprocess.run(
            [sys.executable, __file__, "--section", name, "--scale", scale],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout:.0f} s"}
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return {"rows": json.loads(res.stdout.strip().splitlines()[-1])}


def report(sections: dict) -> tuple[list[str], bool]:
    """The printed tables (a)-(d) and whether every correctness check passed."""
    from floors import TOL

    lines, ok = [], True

    def check(err, tol, over=None):
        nonlocal ok
        good = (err <= tol) if over is None else over <= 1.0
        ok &= good
        return f"{err:8.1e} {'ok' if good else 'FAIL'}"

    a = sections.get("analytic", {})
    lines.append(
        "(a) analytic NNGP/NTK, depth 11, n_0 = 100, beta = 0.1, against two transcendental "
        "floors (relu: arccos + sqrt, erf: arcsin, step: arccos, per upper-triangle entry and "
        "nonlinear layer; 'torch': torch's kernels, 'libmvec': glibc's vectorised kernels, which "
        "ntklib's compiled path calls; n/a: no C compiler here); check: max |got - ref| / "
        "max |ref| against kernels._tiled(fused=False) in float64 on the leading block (float64: "
        "the tolerance widened by the arccos rounding argument)"
    )
    if "rows" in a:
        r0 = a["rows"][0]
        lines.append(
            f"N = {r0['N']}, reference block {r0['n_ref']} x {r0['n_ref']}; target ratio <= 1.8x"
            " (met / MISSED: against the torch floor, then the libmvec floor)"
        )
        lines.append(
            f"{'act':<5} {'dtype':<8} {'kind':<5} {'time':>9} {'torch':>9} {'ratio':>6}"
            f" {'libmvec':>9} {'ratio':>6} {'target':>13} {'max err':>8}"
        )

        def met(x):
            return "n/a" if x is None else ("met" if x <= 1.8 else "MISSED")

        for r in a["rows"]:
            tol = TOL[r["dtype"]]
            lib, rl = r.get("floor_lib_s"), r.get("ratio_lib")
            lib_s = f"{'n/a':>9} {'n/a':>6}" if lib is None else f"{lib:8.3f}s {rl:5.2f}x"
            lines.append(
                f"{r['act']:<5} {r['dtype']:<8} {r['kind']:<5} {r['time_s']:8.3f}s "
                f"{r['floor_s']:8.3f}s {r['ratio']:5.2f}x {lib_s} "
                f"{met(r['ratio']) + '/' + met(rl):>13} "
                f"{check(r['err'], tol, r['err_over_tol'])}"
            )
    else:
        ok = False
        lines.append(f"failed: {a.get('error')}")
    f = sections.get("fc", {})
    lines += [
        "",
        "(b) FC empirical NTK, MLP 100 -> w -> w -> 1, float32, against its matmul floor "
        "(the products of the layer-structure path alone); check: against torch.func "
        "Jacobians of a float64 copy (max |diff| / max |ref|)",
    ]
    if "rows" in f:
        for r in f["rows"]:
            lines.append(
                f"N = {r['N']}, w = {r['width']}: {r['time_s'] * 1e3:.1f} ms, floor "
                f"{r['floor_s'] * 1e3:.1f} ms, ratio {r['ratio']:.2f}x; error on "
                f"{r['n_ref']} inputs {check(r['err'], TOL['empirical'])}"
            )
    else:
        ok = False
        lines.append(f"failed: {f.get('error')}")
    c = sections.get("cnn", {})
    lines += [
        "",
        "(c) SmallCNN (conv1d 1->32->32, k = 5, avg pool, linear; P = 5 441), float32, "
        "generic path; (d) O = 10 outputs: full (N, N, O, O), trace, diagonal; check: "
        "against float64 torch.func Jacobians (max |diff| / max |ref|)",
    ]
    if "rows" in c:
        lines.append(
            f"{'case':<22} {'mode':<9} {'N':>4} {'implementation':<22} {'time':>10} {'max err':>8}"
        )
        for r in c["rows"]:
            impl = r["impl"] + (f" (runs {r['picked']})" if "picked" in r else "")
            lines.append(
                f"{r['case']:<22} {r['mode']:<9} {r['N']:>4} {impl:<22} "
                f"{r['time_s'] * 1e3:8.1f}ms {check(r['err'], TOL['empirical'])}"
            )
    else:
        ok = False
        lines.append(f"failed: {c.get('error')}")
    lines += ["", f"all correctness checks: {'passed' if ok else 'FAILED'}"]
    return lines, ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--section")
    ap.add_argument("--report", help="print the tables of a saved results.json again")
    ap.add_argument("--scale", default="full", choices=("smoke", "quick", "full"))
    ap.add_argument("--quick", action="store_true", help="smaller sizes (--scale quick)")
    ap.add_argument(
        "--legacy",
        action="store_true",
        help="the older size and peak-memory sweep (one subprocess per case)",
    )
    ap.add_argument("--device", default="cpu", help="cpu (default); another runs --legacy there")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    if args.section:
        from floors import SECTIONS

        print(json.dumps(SECTIONS[args.section](args.scale)))
        return
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        lines, ok = report(saved["sections"])
        print("\n".join(lines))
        sys.exit(0 if ok else 1)
    if args.legacy or args.device != "cpu":
        return legacy_main(args)
    import torch

    scale = "quick" if args.quick else args.scale
    OUT.mkdir(parents=True, exist_ok=True)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    head = (
        f"ntklib benchmarks ({scale}) on {machine}; load average {load:.1f} at the start "
        f"(a shared machine: times are medians of repeated calls, floors measured in the "
        f"same process as the case they divide)"
    )
    print(head, flush=True)
    t0 = time.perf_counter()
    sections = {}
    for name in ("analytic", "fc", "cnn"):
        sections[name] = _section_in_subprocess(name, scale)
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines, ok = report(sections)
    lines += [f"run time {time.perf_counter() - t0:.0f} s; load average {load1:.1f} at the end"]
    print("\n" + "\n".join(lines))
    (OUT / "results.md").write_text(
        "\n".join([f"# ntklib benchmarks\n\n{head}\n", "```", *lines, "```", ""])
    )
    (OUT / "results.json").write_text(
        json.dumps({"machine": machine, "scale": scale, "sections": sections}, indent=1)
    )
    print(f"\nwritten: {OUT / 'results.md'}")
    if not ok:
        sys.exit(1)


def legacy_main(args):
    import torch
    import ntklib as nk

    dev = nk.resolve_device(args.device)
    OUT.mkdir(parents=True, exist_ok=True)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}"
    )
    if dev.type == "cuda":
        machine += f"; device {dev}: {torch.cuda.get_device_name(dev)} (peak MB: CUDA allocator)"
    print(f"ntklib benchmarks on {machine}\n")
    rows, results = [], []
    group = None
    for c in suite(args.quick, str(dev)):
        if c["group"] != group:
            group = c["group"]
            print(f"\n{group}\n{'case':<38} {'time':>10} {'peak MB':>9} {'output MB':>9}")
        r = in_subprocess(c)
        results.append({**c, **r})
        if "error" in r:
            line = f"{label(c):<38} {'failed: ' + r['error']}"
        else:
            line = (
                f"{label(c):<38} {r['time_s'] * 1e3:9.1f}ms {r['peak_mb']:9.0f} {r['out_mb']:9.1f}"
            )
        print(line, flush=True)
        rows.append((group, line))

    def t(kind, **kw):
        for r in results:
            if r["kind"] == kind and all(r.get(k) == v for k, v in kw.items()) and "time_s" in r:
                return r
        return None

    lines = ["", "Ratios and targets"]
    for N in (1000, 2000, 4000):
        a, b = t("ntk", N=N, dtype="float64"), t("naive", N=N, dtype="float64")
        if a and b:
            lines.append(
                f"analytic N={N} float64: ntk {a['time_s']:.3f} s, naive {b['time_s']:.3f} s, "
                f"speed-up {b['time_s'] / a['time_s']:.1f}x"
            )
    a = t("ntk", N=4000, dtype="float64")
    if a:
        lines.append(
            f"target analytic N=4000 depth 10 float64 <= 1.1 s: {a['time_s']:.3f} s -> "
            f"{'met' if a['time_s'] <= 1.1 else 'NOT met'}"
        )
    b = t("naive", N=4000, dtype="float64")
    if a and b:
        s = b["time_s"] / a["time_s"]
        lines.append(
            f"target >= 1.5x faster than naive at N=4000: {s:.2f}x -> "
            f"{'met' if s >= 1.5 else 'NOT met'}"
        )
    for w in (512, 2048, 8192):
        for N in (256, 1024):
            e, f = (
                t("empirical", width=w, N=N, dtype="float32"),
                t("torch.func", width=w, N=N, dtype="float32"),
            )
            if e and f:
                lines.append(
                    f"empirical MLP w={w} N={N} float32: fast {e['time_s'] * 1e3:.1f} ms, "
                    f"torch.func "
                    f"{f['time_s'] * 1e3:.0f} ms, speed-up {f['time_s'] / e['time_s']:.0f}x"
                )
    e, f = (
        t("empirical", width=2048, N=256, dtype="float32"),
        t("torch.func", width=2048, N=256, dtype="float32"),
    )
    if e:
        lines.append(
            f"target FC empirical w=2048 N=256 float32 <= 36 ms: {e['time_s'] * 1e3:.1f} ms -> "
            f"{'met' if e['time_s'] <= 0.036 else 'NOT met'}"
        )
    if e and f:
        s = f["time_s"] / e["time_s"]
        lines.append(
            f"target >= 100x faster than torch.func: {s:.0f}x -> {'met' if s >= 100 else 'NOT met'}"
        )
    big = t("ntk", N=20000, dtype="float64")
    if big:
        lines.append(
            f"target N=20000 depth 10 float64 peak < 8 GB: {big['time_s']:.1f} s, peak "
            f"{big['peak_mb'] / 1024:.2f} GB (output {big['out_mb'] / 1024:.2f} GB) -> "
            f"{'met' if big['peak_mb'] < 8 * 1024 else 'NOT met'}"
        )
    for line in lines:
        print(line)
    text = [f"# ntklib benchmarks\n\nMachine: {machine}\n", "```"]
    g0 = None
    for g_, line in rows:
        if g_ != g0:
            text += ["", g_, f"{'case':<38} {'time':>10} {'peak MB':>9} {'output MB':>9}"]
            g0 = g_
        text.append(line)
    text += lines + ["```", ""]
    (OUT / "results.md").write_text("\n".join(text))
    (OUT / "results.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=1)
    )
    print(f"\nwritten: {OUT / 'results.md'}")


if __name__ == "__main__":
    main()
