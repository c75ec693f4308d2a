"""Execute one notebook for `make figures`: check its params file, run it, publish its figures.

    python scripts/run_notebook.py NAME [--params params/NAME.yml] [--device cuda]

1. The params file (YAML) is checked against the notebook's `parameters` cell before anything runs:
   an unknown key (a typo would otherwise run silently with the default and overwrite the figures)
   or a value whose type differs from the default's (an int where a list is expected, a string for
   a number, ...) is refused with a message naming the key, the value and what is accepted.
2. The notebook runs headlessly under papermill with its figures written to a staging folder
   (build/stage/NAME/), and the executed copy to build/figures/NAME.ipynb.
3. Only when every cell ran (every verdict held), the staged figures replace the notebook's figures
   in figures/ (each file by an atomic rename; figures of this notebook that the run no longer makes
   are removed).  A failing or interrupted run leaves figures/ exactly as it was, and the staging
   folder is removed in every case.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURE_SUFFIXES = (".png", ".pdf")


def _kind(value) -> str:
    """The type class of a parameter value, as the params check compares them."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    if value is None:
        return "None"
    return type(value).__name__


def _accepts(default, value) -> bool:
    d, v = _kind(default), _kind(value)
    if d == "None":
        return True  # a None default accepts any value
    if d == "float" and v == "int":
        return True  # 1 where 1.0 is expected
    if d == "list" and v == "list" and default and value:
        return all(_accepts(default[0], x) for x in value)
    return d == v


def notebook_defaults(path: Path) -> dict:
    """The literal defaults of the notebook's `parameters` cell (the cell tagged `parameters`)."""
    import ast
    import json

    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise SystemExit(f"{path.name}: expected one cell tagged 'parameters', found {len(cells)}")
    defaults = {}
    for node in ast.parse("".join(cells[0]["source"])).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            try:
                defaults[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                defaults[node.targets[0].id] = None
    return defaults


def check_params(params: dict, defaults: dict, source: str) -> list[str]:
    """Problems of a params mapping against the notebook's defaults
    (empty when it is acceptable)."""
    problems = []
    if not isinstance(params, dict):
        return [f"{source}: expected a mapping of NAME: value, got {_kind(params)}"]
    for key, value in params.items():
        if key not in defaults:
            close = [k for k in defaults if k.lower() == str(key).lower()]
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(
                f"{source}: unknown parameter {key!r}{hint}; accepted: "
                + ", ".join(sorted(defaults))
            )
        elif not _accepts(defaults[key], value):
            problems.append(
                f"{source}: {key}: got {value!r} ({_kind(value)}) but the default is "
                f"{defaults[key]!r}; accepted: a value of type {_kind(defaults[key])}"
            )
    return problems


def load_params(path: Path | None) -> dict:
    if path is None or not path.exists():
        return {}
    import yaml

    data = yaml.safe_load(path.read_text())
    return {} if data is None else data


def publish(stage: Path, figures: Path, name: str) -> list[str]:
    """Move the staged figures into figures/ and remove this notebook's figures the run did not
    make."""
    figures.mkdir(parents=True, exist_ok=True)
    prefix = name.split("_", 1)[0] + "_"
    made = sorted(
        p for p in stage.iterdir() if p.suffix in FIGURE_SUFFIXES and not p.name.startswith(".")
    )
    for p in made:
        os.replace(p, figures / p.name)
    names = {p.name for p in made}
    for old in figures.iterdir():
        if old.name.startswith(prefix) and old.suffix in FIGURE_SUFFIXES and old.name not in names:
            old.unlink()
    return sorted(names)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="notebook name without .ipynb, e.g. 02_ntk_limit")
    ap.add_argument("--params", type=Path, default=None, help="YAML file (default params/NAME.yml)")
    ap.add_argument("--device", default=None, help="overrides the DEVICE parameter")
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--figures", type=Path, default=ROOT / "figures")
    ap.add_argument("--build", type=Path, default=ROOT / "build")
    ap.add_argument("--check-only", action="store_true", help="check the params file and stop")
    args = ap.parse_args(argv)

    nb = args.notebooks / f"{args.name}.ipynb"
    if not nb.exists():
        raise SystemExit(f"no notebook {nb}")
    params_path = args.params or ROOT / "params" / f"{args.name}.yml"
    params = load_params(params_path)
    defaults = notebook_defaults(nb)
    if args.device:
        params = {**(params or {}), "DEVICE": args.device}
    problems = check_params(params, defaults, params_path.name)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"{args.name}: not run; figures/ unchanged", file=sys.stderr)
        return 2
    if args.check_only:
        return 0

    import papermill

    stage = args.build / "stage" / args.name
    out = args.build / "figures" / f"{args.name}.ipynb"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    # An interrupt (Ctrl-C, or make's SIGTERM) raises here, so the finally clause cleans up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    os.environ["NTKLIB_FIGURES"] = str(stage)
    try:
        papermill.execute_notebook(
            str(nb),
            str(out),
            parameters=params,
            kernel_name="python3",
            cwd=str(nb.parent),
            progress_bar=False,
            log_output=False,
        )
        written = publish(stage, args.figures, args.name)
        print(f"{args.name}: every cell ran; {len(written)} figure files written to {args.figures}")
        return 0
    except papermill.PapermillExecutionError as e:
        print(f"{args.name}: failed in cell {e.exec_count}: {e.ename}: {e.evalue}", file=sys.stderr)
        print(f"{args.name}: figures/ unchanged (executed copy: {out})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{args.name}: interrupted; figures/ unchanged", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(stage, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
