"""The public facade: every name in ntklib.__all__ resolves, and no two modules export the same name
(a later star-import would silently shadow an earlier one and change what `nk.NAME` means)."""
import collections
import importlib
import pkgutil

import ntklib


def _modules():
    for info in pkgutil.iter_modules(ntklib.__path__):
        if not info.name.startswith("_"):
            yield info.name, importlib.import_module(f"ntklib.{info.name}")


def test_no_public_name_is_exported_by_two_modules():
    owners = collections.defaultdict(list)
    for name, mod in _modules():
        for public in getattr(mod, "__all__", []):
            owners[public].append(name)
    clashes = {k: v for k, v in owners.items() if len(v) > 1}
    assert not clashes, f"public names exported by more than one module: {clashes}"


def test_every_public_name_resolves_to_its_module_object():
    for name, mod in _modules():
        for public in getattr(mod, "__all__", []):
            if public in ntklib.__all__:
                assert getattr(ntklib, public) is getattr(mod, public), f"nk.{public} is not {name}.{public}"


def test_design_api_names_exist():
    for public in ("nngp", "ntk", "r_value", "normalized", "FCNet", "empirical_ntk"):
        assert public in ntklib.__all__ and callable(getattr(ntklib, public))
