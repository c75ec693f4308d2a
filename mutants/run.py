"""Run every notebook at CI scale under every theory mutant (mutants/catalogue.py) and an unmutated
control; write the kill table to build/mutants/ (table.md, results.json).  `make mutants` runs this.

    python mutants/run.py [--jobs 2] [--mutants NAME,...] [--notebooks 03,04] [--no-skip]
                          [--dependent-only] [--timeout 900]
    python mutants/run.py --list

Each run executes a copy of notebooks/NN_*.ipynb with papermill (from notebooks/, kernel python3,
its default parameters, figures into a scratch directory) with ONE extra first code cell that
applies the mutant (mutants.catalogue.activate).  Outcome of a (mutant, notebook) run:

    killed        an AssertionError in a verdict cell (# NBVAL_CHECK_OUTPUT or nbval-check-output)
    crash         any other exception in a notebook cell (also a kill, but not a failed verdict)
    import-crash  the mutant could not be applied (its cell failed) or an ImportError: no kill
    survived      every cell ran
    unreached     not run: the control run of this notebook never called any of the mutant's
                  targets, so the mutated run would be the control run (--no-skip runs it anyway)
    timeout, error  the run did not finish / papermill failed without a cell error: no kill

The control must pass every notebook, else the table is meaningless.  Exit status 1 when the control
fails a notebook or a mutant is not killed by a notebook in its `depends_on` list.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mutants import catalogue  # noqa: E402

MARKER = "NBVAL_CHECK_OUTPUT"
TAG = "nbval-check-output"
INJECTED_TAG = "mutant-injected"
KILLS = ("killed", "crash")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# papermill as `make nbrun-NAME` runs it (kernel python3, from notebooks/), except that a failing
# assert does not stop the run (nbclient's allow_error_names), so every failing verdict cell is
# seen; any other exception stops it.  Exit status 3: some cell raised (the executed copy is written
# first).
DRIVER = """
import sys
import papermill
try:
    papermill.execute_notebook(sys.argv[1], sys.argv[2], kernel_name="python3", cwd=sys.argv[3],
                               progress_bar=False, log_output=False,
                               allow_error_names=["AssertionError"])
except papermill.PapermillExecutionError:
    sys.exit(3)
"""


# ---- notebooks -----------------------------------------------------------------------------------


def notebooks(selection=None):
    """notebooks/NN_*.ipynb, optionally only those whose number or name starts with one of
    `selection`."""
    nbs = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if selection:
        nbs = [p for p in nbs if any(p.stem.startswith(s) for s in selection)]
    return nbs


def number(nb_name: str) -> int:
    return int(nb_name[:2])


def is_verdict(cell) -> bool:
    if cell.get("cell_type") != "code":
        return False
    src = "".join(cell.get("source", ""))
    return MARKER in src or TAG in cell.get("metadata", {}).get("tags", [])


def injected_source(mutant: str, report: Path) -> str:
    return (
        f"# Injected by mutants/run.py, not part of the notebook: theory mutant {mutant!r}\n"
        f"import sys as _sys\n"
        f"_sys.path.insert(0, {str(ROOT)!r})\n"
        f"import mutants.catalogue as _mutants\n"
        f"_mutant = _mutants.activate({mutant!r}, report={str(report)!r})\n"
        f"del _sys"
    )


def make_input(nb: dict, mutant: str, report: Path) -> dict:
    """A copy of the notebook with every cell numbered (metadata mutants.index) and the mutant cell
    first."""
    nb = json.loads(json.dumps(nb))
    for i, cell in enumerate(nb["cells"]):
        cell.setdefault("metadata", {})["mutants"] = {"index": i}
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "mutant-injected",
        "metadata": {"tags": [INJECTED_TAG]},
        "outputs": [],
        "source": injected_source(mutant, report),
    }
    nb["cells"].insert(0, cell)
    if nb.get("nbformat_minor", 0) < 5:
        cell.pop("id")
    return nb


def _failing_line(traceback) -> str:
    """The source line IPython marks with an arrow in the cell's own frame (the assert that
    failed)."""
    text = ANSI.sub("", "\n".join(traceback or []))
    for line in text.splitlines():
        m = re.match(r"\s*-+>\s*\d+\s(.*)", line)
        if m:
            return m.group(1).strip()
    return ""


def _errors(nb: dict) -> list:
    """Every error output of the executed copy, in cell order: cell (original index), injected,
    verdict, ename, evalue, line (the source line IPython marked)."""
    found = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(
                    {
                        "cell": cell.get("metadata", {}).get("mutants", {}).get("index"),
                        "injected": INJECTED_TAG in cell.get("metadata", {}).get("tags", []),
                        "verdict": is_verdict(cell),
                        "ename": out.get("ename", ""),
                        "evalue": ANSI.sub("", str(out.get("evalue", "")))[:400],
                        "line": _failing_line(out.get("traceback"))[:300],
                    }
                )
    return found


def classify(err: dict) -> str:
    if err["injected"] or err["ename"] in ("ImportError", "ModuleNotFoundError"):
        return "import-crash"
    if err["ename"] == "AssertionError" and err["verdict"]:
        return "killed"
    return "crash"


def parse_executed(nb: dict, rc: int = 0, log: str = "") -> dict:
    """Outcome of one executed notebook copy (see the module docstring).  The run goes on after a
    failing assert (nbclient's allow_error_names), so `failed_verdicts` lists every verdict cell
    that failed before the first other exception; status, cell, ename, evalue, line describe the
    first error."""
    errors = _errors(nb)
    if not errors:
        if rc != 0:
            return {
                "status": "error",
                "ename": "",
                "evalue": log.strip()[-600:],
                "cell": None,
                "verdict": False,
                "line": "",
                "failed_verdicts": [],
                "errors": [],
            }
        return {"status": "survived", "failed_verdicts": [], "errors": []}
    first = errors[0]
    failed = []
    for e in errors:
        if classify(e) != "killed":
            break
        failed.append(e["cell"])
    return dict(first, status=classify(first), failed_verdicts=failed, errors=errors)


def _strip_images(nb: dict) -> dict:
    """Drop image data from the outputs (the executed copies are kept for their text and errors
    only)."""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data:
                for k in [k for k in data if k.startswith("image/")]:
                    del data[k]
    return nb


# ---- one run -------------------------------------------------------------------------------------


def run_one(mutant: str, nb_path: Path, out: Path, timeout: float, threads: int) -> dict:
    work = out / "runs" / mutant
    work.mkdir(parents=True, exist_ok=True)
    name = nb_path.stem
    src, dst = work / f"{name}.input.ipynb", work / f"{name}.ipynb"
    report, figures, log_path = (
        work / f"{name}.reach.json",
        work / f"figures-{name}",
        work / f"{name}.log",
    )
    for p in (dst, report):
        p.unlink(missing_ok=True)
    shutil.rmtree(figures, ignore_errors=True)
    figures.mkdir()
    src.write_text(
        json.dumps(make_input(json.loads(nb_path.read_text()), mutant, report), indent=1)
    )
    env = dict(
        os.environ,
        NTKLIB_FIGURES=str(figures),
        NTKLIB_FIGURE_FORMATS="png",  # thrown away, as in make test
        MPLBACKEND="Agg",
        NTKLIB_QUIET="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(k, str(threads))
    cmd = [sys.executable, "-c", DRIVER, str(src), str(dst), str(ROOT / "notebooks")]
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT / "notebooks",
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc, timed_out = proc.wait(), True
    duration = time.perf_counter() - t0
    log_text = log_path.read_text(errors="replace")
    if timed_out:
        res = {"status": "timeout", "evalue": f"not finished after {timeout:.0f} s", "cell": None}
    elif dst.exists():
        executed = json.loads(dst.read_text())
        res = parse_executed(executed, rc, log_text)
        dst.write_text(json.dumps(_strip_images(executed), indent=1))
    else:
        res = {"status": "error", "evalue": log_text.strip()[-600:], "cell": None}
    res["duration_s"] = round(duration, 1)
    if report.exists():
        rep = json.loads(report.read_text())
        res["counts"] = rep.get("counts", {})
        res["patched"] = rep.get("patched", [])
    src.unlink(missing_ok=True)
    shutil.rmtree(figures, ignore_errors=True)
    return res


# ---- the table -----------------------------------------------------------------------------------


def should_kill(mutant, nb_name) -> bool:
    return number(nb_name) in catalogue.get(mutant).depends_on


def cell_text(mutant, nb_name, res, control_ok=True) -> str:
    if res is None:
        return "not run"
    if not control_ok and mutant != catalogue.CONTROL:
        return "n/a (control failed)"
    s = res["status"]
    if mutant == catalogue.CONTROL:
        return "pass" if s == "survived" else f"**FAILED {s}** c{res.get('cell')}"
    sk = should_kill(mutant, nb_name)
    if s == "killed":
        txt = "killed c" + ",".join(str(c) for c in res.get("failed_verdicts") or [res["cell"]])
    elif s == "crash":
        txt = f"crash c{res['cell']} {res['ename']}"
    elif s in ("survived", "unreached"):
        txt = s
    else:
        txt = s
    if sk:
        return f"**{txt}**" if s in KILLS else f"**{txt.upper()} !!**"
    return txt + (" (not in depends_on)" if s in KILLS else "")


def verdict_summary(res) -> str:
    """One error (or a result's first error): where, exception type, message and the failing source
    line."""
    where = f"cell {res.get('cell')}" + (" (verdict)" if res.get("verdict") else "")
    msg = res.get("evalue") or ""
    line = res.get("line") or ""
    if res.get("ename") == "AssertionError" and line and (not msg or msg in line):
        msg = line
    elif line:
        msg = f"{msg}  [{line}]" if msg else line
    return f"{where}: {res.get('ename', '')}: {msg}".replace("|", "\\|").replace("\n", " ")


def write_outputs(
    out: Path, meta: dict, names: list, mutants: list, results: dict
) -> tuple[bool, list, list]:
    control = results.get(catalogue.CONTROL, {})
    control_ok = {nb: (control.get(nb) or {}).get("status") == "survived" for nb in names}
    failed_control = [nb for nb in names if not control_ok[nb]]
    flagged = []
    for m in mutants:
        if m == catalogue.CONTROL:
            continue
        for nb in names:
            res = results.get(m, {}).get(nb)
            if (
                res is not None
                and control_ok[nb]
                and should_kill(m, nb)
                and res["status"] not in KILLS
            ):
                flagged.append((m, nb, res["status"]))
    ok = not failed_control and not flagged and meta.get("complete", True)

    lines = [
        "# Theory mutants: the kill table",
        "",
        f"{meta['finished']}, commit {meta['commit']}, {meta['runs']} notebook runs "
        f"({meta['skipped']} skipped as unreached), {meta['jobs']} at a time, wall time "
        f"{meta['wall_s'] / 60:.1f} min.  Made by `make mutants` (mutants/run.py); the catalogue "
        f"is mutants/catalogue.py, explained in mutants/README.md.",
        "",
        "Each cell: the outcome of the notebook (column) run at CI scale under the mutant (row).  "
        "**Bold**: the notebook's claims depend on the mutated theory (the mutant's `depends_on`), "
        "so it should kill it; **SURVIVED !!** marks a survivor there.  `killed cN`: an assert "
        "failed in verdict cell N (0-based cell index in the .ipynb); `crash cN E`: exception E in "
        "cell N (a kill, but not a failed verdict); `unreached`: the control run of that notebook "
        "never calls the mutant's targets, so the run was skipped (it would be the control run).",
        "",
    ]
    short = [nb[:2] for nb in names]
    lines.append("| mutant | depends on | " + " | ".join(short) + " |")
    lines.append("|---|---|" + "---|" * len(names))
    for m in mutants:
        dep = ", ".join(f"{d:02d}" for d in catalogue.get(m).depends_on) or "-"
        cells = [cell_text(m, nb, results.get(m, {}).get(nb), control_ok[nb]) for nb in names]
        lines.append(f"| {m} | {dep} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Notebooks: " + ", ".join(names) + ".")
    lines.append("")
    if failed_control:
        lines += ["## The control FAILED (the table is meaningless for these notebooks)", ""]
        for nb in failed_control:
            res = control.get(nb)
            lines.append(
                f"- {nb}: "
                + (verdict_summary(res) if res and res.get("status") != "survived" else "not run")
            )
        lines.append("")
    lines += [f"## Survivors where a claim depends on the mutant ({len(flagged)})", ""]
    if flagged:
        lines += [f"- **{m}** survived **{nb}** ({s})" for m, nb, s in flagged]
    else:
        lines.append("None: every mutant is killed by every notebook in its depends_on list.")
    lines += ["", "## Kills and crashes", ""]
    for m in mutants:
        for nb in names:
            res = results.get(m, {}).get(nb)
            if (
                m != catalogue.CONTROL
                and res
                and res["status"] in KILLS + ("import-crash", "error", "timeout")
            ):
                errs = res.get("errors") or [res]
                lines.append(
                    f"- {m} x {nb}: {res['status']}"
                    + ("" if len(errs) > 1 else f", {verdict_summary(errs[0])}")
                )
                if len(errs) > 1:
                    lines += [f"    - {verdict_summary(e)}" for e in errs]
    lines += [
        "",
        "## The catalogue",
        "",
        "| mutant | what it changes | depends on | why |",
        "|---|---|---|---|",
    ]
    for m in mutants:
        mu = catalogue.get(m)
        dep = ", ".join(f"{d:02d}" for d in mu.depends_on) or "-"
        lines.append(f"| {m} | {mu.changes} | {dep} | {mu.why} |".replace("\n", " "))
    lines.append("")
    (out / "table.md").write_text("\n".join(lines))
    payload = dict(
        meta,
        ok=ok,
        notebooks=names,
        flagged=[dict(mutant=m, notebook=nb, status=s) for m, nb, s in flagged],
        control_failed=failed_control,
        catalogue=[
            dict(
                name=m,
                summary=catalogue.get(m).summary,
                changes=catalogue.get(m).changes,
                depends_on=list(catalogue.get(m).depends_on),
                why=catalogue.get(m).why,
            )
            for m in mutants
        ],
        results=results,
    )
    (out / "results.json").write_text(json.dumps(payload, indent=1))
    return ok, flagged, failed_control


# ---- main ----------------------------------------------------------------------------------------


def _git_commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "ntklib", "notebooks"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return sha + (" (ntklib/ or notebooks/ modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2, help="notebooks run at a time (default 2)")
    ap.add_argument("--mutants", default="", help="comma-separated mutant names (default: all)")
    ap.add_argument(
        "--notebooks",
        default="",
        help="comma-separated notebook prefixes, e.g. 03,04 (default: all)",
    )
    ap.add_argument("--out", default=str(ROOT / "build" / "mutants"), help="output directory")
    ap.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per notebook run (default 900)"
    )
    ap.add_argument(
        "--no-skip", action="store_true", help="also run pairs the control shows unreached"
    )
    ap.add_argument(
        "--dependent-only",
        action="store_true",
        help="run only the pairs whose notebook's claim depends on the mutant (depends_on): the "
        "pairs that decide the exit status; the others are reported as 'not run'",
    )
    ap.add_argument("--list", action="store_true", help="print the catalogue and exit")
    args = ap.parse_args(argv)

    if args.list:
        for m in [catalogue.CONTROL_MUTANT] + catalogue.MUTANTS:
            print(f"{m.name:26s} depends on {list(m.depends_on)}: {m.summary}")
        return 0
    wanted = [s for s in args.mutants.split(",") if s]
    for w in wanted:
        catalogue.get(w)
    mutants = [catalogue.CONTROL] + [
        m.name for m in catalogue.MUTANTS if not wanted or m.name in wanted
    ]
    nbs = notebooks([s for s in args.notebooks.split(",") if s])
    if not nbs:
        print("no notebook selected", file=sys.stderr)
        return 2
    names = [p.stem for p in nbs]
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, args.jobs)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    results = {m: {} for m in mutants}
    lock = threading.Lock()
    t_start = time.perf_counter()
    done = [0]

    def execute(batch, total):
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {
                pool.submit(run_one, m, p, out, args.timeout, threads): (m, p.stem)
                for m, p in batch
            }
            for fut in as_completed(futures):
                m, nb = futures[fut]
                try:
                    res = fut.result()
                except Exception as err:  # noqa: BLE001 - a runner failure is reported, not raised
                    res = {
                        "status": "error",
                        "evalue": f"{type(err).__name__}: {err}",
                        "cell": None,
                    }
                with lock:
                    results[m][nb] = res
                    done[0] += 1
                    detail = (
                        "" if res["status"] in ("survived",) else "  " + verdict_summary(res)[:150]
                    )
                    mark = " [should kill]" if m != catalogue.CONTROL and should_kill(m, nb) else ""
                    print(
                        f"[{done[0]:3d}/{total}] {m:26s} {nb:34s} {res['status']}{mark} "
                        f"({res.get('duration_s', 0):.0f} s){detail}",
                        flush=True,
                    )

    # longest notebooks first balances the two workers
    control_batch = [(catalogue.CONTROL, p) for p in nbs]
    mutant_pairs = [
        (m, p)
        for m in mutants[1:]
        for p in nbs
        if not args.dependent_only or should_kill(m, p.stem)
    ]
    print(
        f"mutants: {len(mutants) - 1} mutants x {len(nbs)} notebooks, and the control; {jobs} at a "
        f"time, {threads} thread(s) each; output in {out}",
        flush=True,
    )
    execute(control_batch, len(control_batch) + len(mutant_pairs))
    control = results[catalogue.CONTROL]
    todo, skipped = [], 0
    for m, p in mutant_pairs:
        c = control.get(p.stem, {})
        if c.get("status") != "survived":
            continue  # meaningless: reported as n/a
        keys = catalogue.get(m).keys()
        calls = sum(c.get("counts", {}).get(k, 0) for k in keys)
        if calls == 0 and not args.no_skip:
            results[m][p.stem] = {
                "status": "unreached",
                "duration_s": 0.0,
                "counts": {k: 0 for k in keys},
            }
            skipped += 1
            done[0] += 1
            continue
        todo.append((m, p))
    todo.sort(key=lambda mp: -control.get(mp[1].stem, {}).get("duration_s", 0))
    total = len(control_batch) + len(mutant_pairs)
    print(f"control done; {skipped} pairs unreached (skipped), {len(todo)} runs to go", flush=True)
    execute(todo, total)

    wall = time.perf_counter() - t_start
    meta = {
        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git_commit(),
        "jobs": jobs,
        "threads_per_job": threads,
        "wall_s": round(wall, 1),
        "runs": sum(
            1 for m in results for r in results[m].values() if r.get("status") != "unreached"
        ),
        "skipped": skipped,
        "selection": {
            "mutants": wanted or "all",
            "notebooks": args.notebooks or "all",
            "pairs": "dependent only" if args.dependent_only else "all",
        },
        "complete": True,
    }
    ok, flagged, failed_control = write_outputs(out, meta, names, mutants, results)
    print(f"\nwrote {out / 'table.md'} and {out / 'results.json'} ({wall / 60:.1f} min)")
    if failed_control:
        print(f"CONTROL FAILED on {', '.join(failed_control)}: the table is meaningless there")
    for m, nb, s in flagged:
        print(f"SURVIVOR: {m} is not killed by {nb} ({s}), whose claim depends on it")
    print(
        "every mutant killed where its theory is claimed"
        if ok
        else f"{len(flagged)} survivor(s) where a claim depends on the mutant"
        + (", control failed" if failed_control else "")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
