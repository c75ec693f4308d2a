"""The public facade: a small core at the top of ntklib, each topic a namespace named after its
concept, explicit imports only (no `import *`), no file over 600 lines, and every public name
resolving to the object its module defines (so `nk.NAME` and `nk.topic.NAME` mean one thing
each)."""

import ast
import collections
import importlib
import inspect
import pathlib
import pkgutil

import ntklib

ROOT = pathlib.Path(ntklib.__file__).resolve().parent
NAMESPACES = (
    "data",
    "stats",
    "plotting",
    "limits",
    "convergence",
    "phases",
    "deconv",
    "gan",
    "architectures",
)
PLOT_TOPICS = ("gaussian", "limits", "convergence", "phases", "deconv", "architectures")
MAX_NAMES, MAX_LINES = 40, 600


def _modules():
    """(dotted name under ntklib, module) for every public module and subpackage."""
    for info in pkgutil.walk_packages(ntklib.__path__, "ntklib."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield info.name.removeprefix("ntklib."), importlib.import_module(info.name)


def _sources():
    return sorted(ROOT.rglob("*.py"))


def test_core_is_small_and_lists_the_namespaces():
    assert len(ntklib.__all__) <= MAX_NAMES, f"{len(ntklib.__all__)} names at the top of ntklib"
    assert len(set(ntklib.__all__)) == len(ntklib.__all__)
    for ns in NAMESPACES:
        assert ns in ntklib.__all__ and inspect.ismodule(getattr(ntklib, ns)), (
            f"nk.{ns} is not a namespace"
        )
    for topic in PLOT_TOPICS:
        assert inspect.ismodule(getattr(ntklib.plotting, topic)), (
            f"nk.plotting.{topic} is not a module"
        )


def test_no_star_imports():
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                found.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert not found, f"import * in {found}"


def test_no_file_over_600_lines():
    long = {
        str(p.relative_to(ROOT.parent)): n
        for p in _sources()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_no_public_name_is_defined_by_two_modules():
    """Among the modules that define code (packages only re-export), no name is public in two
    of them."""
    owners = collections.defaultdict(list)
    for name, mod in _modules():
        if hasattr(mod, "__path__"):
            continue
        for public in getattr(mod, "__all__", []):
            owners[public].append(name)
    clashes = {k: v for k, v in owners.items() if len(v) > 1}
    assert not clashes, f"public names exported by more than one module: {clashes}"


def test_every_public_name_resolves_to_its_home_object():
    """Every name in any __all__ exists; a re-exported function or class is the object of the module
    that defines it (no copies, no shadowing)."""
    for name, mod in [("", ntklib), *_modules()]:
        public = getattr(mod, "__all__", [])
        assert len(set(public)) == len(public), f"ntklib.{name}: a name listed twice in __all__"
        for n in public:
            assert hasattr(mod, n), f"ntklib.{name}.{n} is listed in __all__ but missing"
            obj = getattr(mod, n)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                home = importlib.import_module(obj.__module__)
                assert getattr(home, obj.__name__) is obj, (
                    f"ntklib.{name}.{n} is not {obj.__module__}.{n}"
                )


def test_design_api_names_exist():
    for public in (
        "nngp",
        "ntk",
        "r_value",
        "normalized",
        "FCNet",
        "empirical_ntk",
        "train_gd",
        "ntk_flow",
    ):
        assert public in ntklib.__all__ and callable(getattr(ntklib, public))
    # each topic's names are reached through its namespace, not from the top
    for ns, public in [
        ("limits", "fc_ntk_deviation"),
        ("convergence", "narrow_valley"),
        ("phases", "poincare_table"),
        ("deconv", "deconv_ntk"),
        ("gan", "train_toy_gan"),
        ("architectures", "rnn_ntk"),
    ]:
        assert callable(getattr(getattr(ntklib, ns), public)) and public not in ntklib.__all__
        assert not hasattr(ntklib, public), f"nk.{public} leaks to the top level"
    assert callable(ntklib.plotting.phases.plot_phase_map) and callable(ntklib.plotting.save)


def test_every_subpackage_is_packaged():
    """pyproject.toml lists the packages explicitly: a subpackage missing there would be absent from
    a wheel."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
            "packages"
        ]
    )
    found = {"ntklib"} | {f"ntklib.{p.parent.name}" for p in ROOT.glob("*/__init__.py")}
    assert found <= listed, f"subpackages missing from pyproject.toml: {sorted(found - listed)}"
