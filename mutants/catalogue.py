"""Theory mutants: small, named, documented wrongnesses put into ntklib from outside, to check that
the notebooks' verdict cells can fail.

A mutant changes the THEORY side only (infinite-width kernels, their Gaussian duals, r, the
linear-ODE prediction, the notebook-specific formulas); finite networks, empirical NTKs and training
are never touched.  ntklib carries no test hooks: a mutant replaces functions and `Activation`
methods at run time.

    import mutants.catalogue as mc
    with mc.injected("sigma_dual_x1.03"):      # every E[sigma(u) sigma(v)] 3% too large
        ...                                    # nk.nngp, nk.ntk, nk.r_value, ... are mutated here
    mc.activate("fc_ntk_x1.03", report="reach.json")   # in a notebook's first cell (mutants/run.py)

How a function is replaced, wherever it lives: every `ntklib*` submodule is imported first
(pkgutil.walk_packages), then the original function object is found by name (a function whose
__module__ is an ntklib module) and EVERY reference to that same object (compared with `is`) in
every loaded ntklib module's namespace, and in the module-level dicts and lists there, is replaced
by the wrapper.  So `nk.ntk`, `ntklib.kernels.ntk` and any `from .kernels import ntk` copy are all
mutated, whichever module the function moves to.  `Activation` methods are replaced on the class.
`remove()` puts every original back.

The Gaussian-dual mutants scale the OUTERMOST call only (an affine or input-scaled activation's dual
calls its base's dual: scaling both would compound), through all the paths the kernels use:
Activation.dual, .dual_deriv, .duals (the fused closed forms) and .moments() (E sigma^2, E sigma'^2,
so r(sigma, beta) and edge_beta follow).  The constructors of activations (normalized, standardized,
mean_one, ... : every ntklib function returning an Activation) run unmutated, so the finite
networks' nonlinearities are exactly the real ones.

Fast paths that bypass Activation's methods (ntklib/_fused.py's closed-form tile evaluator) are
switched off while a dual mutant is applied (see `_no_fused_family`); tests/test_mutants.py checks
that every kernel path is reached.

The control ("control") installs a counting pass-through on every target of every mutant:
bit-identical results, and a record of which targets a notebook reaches (a mutant whose targets a
notebook never calls cannot change it; mutants/run.py uses that to skip those runs).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import json
import os
import pkgutil
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

CONTROL = "control"

# ---- nesting guard: scale the outermost Gaussian-dual call only ----------------------------------

_NEST = [0]


@contextmanager
def _inner():
    _NEST[0] += 1
    try:
        yield
    finally:
        _NEST[0] -= 1


def _scale(x, f):
    """x * f for a tensor (dtype and device kept), an array or a sequence of numbers (as
    float64)."""
    if f == 1.0:
        return x
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x) * f
    import numpy as np
    import torch

    if torch.is_tensor(x):
        return x * f
    return np.asarray(x, dtype=np.float64) * f


# ---- patch kinds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patch:
    """One replacement.  target: "NAME" (a module-level ntklib function) or "Class.method".
    make(original, hit) -> replacement; hit() counts a call.  modifies: False for helper patches,
    which are optional (the name may not exist) and not counted as targets: the constructor guards
    (they keep the networks' activations exact) and the switch that keeps the kernels off fused fast
    paths."""

    target: str
    make: object
    modifies: bool = True
    module_suffix: str = ""  # only originals defined in a module whose name ends so (e.g. "_fused")

    @property
    def is_method(self) -> bool:
        return "." in self.target


def _ntklib_modules():
    """Every ntklib module, all submodules imported first (so a function that moved is still
    found)."""
    import ntklib

    for info in pkgutil.walk_packages(ntklib.__path__, "ntklib."):
        importlib.import_module(info.name)
    return [
        m
        for name, m in sorted(sys.modules.items())
        if m is not None and (name == "ntklib" or name.startswith("ntklib."))
    ]


def _is_ntklib_object(obj) -> bool:
    return str(getattr(obj, "__module__", "") or "").split(".")[0] == "ntklib"


def _find(modules, name, want_class=False):
    """The distinct ntklib objects called `name` (functions, or classes with want_class), originals
    only."""
    found = {}
    for m in modules:
        for v in vars(m).values():
            if getattr(v, "__mutant_wrapper__", False) or getattr(v, "__name__", None) != name:
                continue
            if not _is_ntklib_object(v):
                continue
            if want_class != isinstance(v, type) or not callable(v):
                continue
            found[id(v)] = v
    return list(found.values())


def _returns_activation(obj) -> bool:
    """A module-level ntklib function annotated to return an Activation (a constructor)."""
    if not inspect.isfunction(obj) or not _is_ntklib_object(obj):
        return False
    ann = getattr(obj, "__annotations__", {}).get("return")
    return ann == "Activation" or getattr(ann, "__name__", None) == "Activation"


# Constructors of activations: they run with the mutation suspended, so E sigma, E sigma^2 used to
# build normalized(...), standardized(...), mean_one(...) are the true ones.  Any other ntklib
# function annotated `-> Activation` is guarded too.
CONSTRUCTORS = (
    "get_activation",
    "resolve_activation",
    "normalized",
    "standardized",
    "scaled",
    "mean_one",
    "input_scaled",
)


def _suspending(orig, hit):
    @functools.wraps(orig)
    def constructor(*args, **kwargs):
        with _inner():
            return orig(*args, **kwargs)

    return constructor


class Injection:
    """The patches of one mutant, applied to the loaded ntklib (apply / remove, or a `with`
    block)."""

    _active = None

    def __init__(self, mutant: "Mutant"):
        self.mutant = mutant
        self.counts = Counter()
        self.patched = []  # "module.attr" / "module.DICT[key]" / "Class.method", for the report
        self._undo = []

    def _hit(self, key):
        def hit():
            self.counts[key] += 1

        return hit

    def apply(self):
        if Injection._active is not None:
            raise RuntimeError(
                f"mutant {Injection._active.mutant.name!r} is already applied; remove() it first"
            )
        Injection._active = self
        try:
            modules = _ntklib_modules()
            patches = list(self.mutant.patches())
            if self.mutant.guards and any(p.is_method for p in patches):  # the duals are mutated
                names = set(CONSTRUCTORS)
                for m in modules:
                    names.update(
                        k for k, v in vars(m).items() if _returns_activation(v) and k == v.__name__
                    )
                patches += [Patch(n, _suspending, modifies=False) for n in sorted(names)]
            for p in patches:
                self._apply_one(modules, p)
        except BaseException:
            self.remove()
            raise
        return self

    def _apply_one(self, modules, p: Patch):
        key = p.target
        if p.is_method:
            cls_name, attr = p.target.split(".")
            classes = _find(modules, cls_name, want_class=True)
            if not classes:
                raise LookupError(f"mutant {self.mutant.name}: no ntklib class {cls_name!r}")
            for cls in classes:
                had = attr in cls.__dict__
                orig = cls.__dict__[attr] if had else getattr(cls, attr)
                new = p.make(orig, self._hit(key))
                new.__mutant_wrapper__ = True
                setattr(cls, attr, new)
                self._undo.append(
                    (lambda c=cls, a=attr, o=orig, h=had: setattr(c, a, o) if h else delattr(c, a))
                )
                self.patched.append(f"{cls.__module__}.{cls_name}.{attr}")
            return
        originals = [o for o in _find(modules, p.target) if o.__module__.endswith(p.module_suffix)]
        if not originals:
            if not p.modifies:
                return  # an optional constructor guard (the name may not exist any more)
            raise LookupError(f"mutant {self.mutant.name}: no ntklib function {p.target!r}")
        for orig in originals:
            new = p.make(orig, self._hit(key))
            new.__mutant_wrapper__ = True
            for m in modules:
                ns = vars(m)
                for k, v in list(ns.items()):
                    if v is orig:
                        setattr(m, k, new)
                        self._undo.append(lambda m=m, k=k, o=orig: setattr(m, k, o))
                        self.patched.append(f"{m.__name__}.{k}")
                    elif isinstance(v, dict) and not k.startswith("__"):
                        for dk, dv in list(v.items()):
                            if dv is orig:
                                v[dk] = new
                                self._undo.append(lambda d=v, dk=dk, o=orig: d.__setitem__(dk, o))
                                self.patched.append(f"{m.__name__}.{k}[{dk!r}]")
                    elif isinstance(v, list):
                        for i, lv in enumerate(v):
                            if lv is orig:
                                v[i] = new
                                self._undo.append(lambda lst=v, i=i, o=orig: lst.__setitem__(i, o))
                                self.patched.append(f"{m.__name__}.{k}[{i}]")

    def remove(self):
        while self._undo:
            self._undo.pop()()
        if Injection._active is self:
            Injection._active = None

    def __enter__(self):
        return self.apply()

    def __exit__(self, *exc):
        self.remove()
        return False

    def reached(self) -> dict:
        """{target: calls} for the targets this mutant modifies (constructor guards left out)."""
        keys = self.mutant.keys()
        return {k: self.counts.get(k, 0) for k in keys}


# ---- the mutant type -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    """name: identifier.  summary: one line.  changes: what exactly is changed, where.
    depends_on: notebook numbers whose verdicts rest on this piece of theory (they should kill it).
    why: one line per notebook of depends_on, or a note.  build: () -> list of Patch."""

    name: str
    summary: str
    changes: str
    depends_on: tuple
    why: str
    build: object = field(repr=False)
    guards: bool = True

    def patches(self):
        return self.build()

    def keys(self):
        return sorted({p.target for p in self.patches() if p.modifies})


# ---- wrappers ------------------------------------------------------------------------------------


def _dual_method(f):
    """Activation.dual or .dual_deriv, outermost call scaled by f."""

    def make(orig, hit):
        @functools.wraps(orig)
        def method(self, *args, **kwargs):
            hit()
            if _NEST[0]:
                return orig(self, *args, **kwargs)
            with _inner():
                out = orig(self, *args, **kwargs)
            return _scale(out, f)

        return method

    return make


def _duals_method(f_sigma, f_dot):
    """Activation.duals (the fused pair), outermost call: (f_sigma * dual, f_dot * dual_deriv)."""

    def make(orig, hit):
        @functools.wraps(orig)
        def method(self, *args, **kwargs):
            hit()
            if _NEST[0]:
                return orig(self, *args, **kwargs)
            with _inner():
                k, kd = orig(self, *args, **kwargs)
            return _scale(k, f_sigma), _scale(kd, f_dot)

        return method

    return make


def _moments_method(f_sigma, f_dot):
    """Activation.moments: (E sigma, f_sigma E sigma^2, f_dot E sigma'^2); computed unmutated (cache
    clean)."""

    def make(orig, hit):
        @functools.wraps(orig)
        def method(self, *args, **kwargs):
            hit()
            if _NEST[0]:
                return orig(self, *args, **kwargs)
            with _inner():
                m, m2, d2 = orig(self, *args, **kwargs)
            return (m, m2 * f_sigma, d2 * f_dot)

        return method

    return make


def _passthrough(orig, hit):
    """The control: count the call, change nothing (same object returned)."""
    if isinstance(orig, type):
        raise TypeError("classes are not wrapped")

    @functools.wraps(orig)
    def counted(*args, **kwargs):
        hit()
        return orig(*args, **kwargs)

    return counted


def _output_scaled(f, first_only=False):
    """A function's result times f (of its first element when it returns a tuple and first_only)."""

    def make(orig, hit):
        @functools.wraps(orig)
        def scaled(*args, **kwargs):
            hit()
            out = orig(*args, **kwargs)
            if isinstance(out, tuple) and first_only:
                return (_scale(out[0], f),) + out[1:]
            return _scale(out, f)

        return scaled

    return make


def _argument_scaled(arg_names, f):
    """The named arguments (those given, not None) times f before the call."""

    def make(orig, hit):
        sig = inspect.signature(orig)

        @functools.wraps(orig)
        def wrapped(*args, **kwargs):
            hit()
            ba = sig.bind(*args, **kwargs)
            for a in arg_names:
                if a in ba.arguments and ba.arguments[a] is not None:
                    ba.arguments[a] = _scale(ba.arguments[a], f)
            return orig(*ba.args, **ba.kwargs)

        return wrapped

    return make


def _time_scaled_factors(f):
    """_gd_factors(lam, t, N, lr) with N / f: the rate 2/N of the linear dynamics becomes 2f/N."""

    def make(orig, hit):
        sig = inspect.signature(orig)

        @functools.wraps(orig)
        def wrapped(*args, **kwargs):
            hit()
            ba = sig.bind(*args, **kwargs)
            ba.arguments["N"] = ba.arguments["N"] / f
            return orig(*ba.args, **ba.kwargs)

        return wrapped

    return make


def _layers_scaled(field_name, f):
    """kernel_layers: every tensor of one list field (sigma or theta) of the KernelLayers times
    f."""

    def make(orig, hit):
        @functools.wraps(orig)
        def wrapped(*args, **kwargs):
            hit()
            k = orig(*args, **kwargs)
            return dataclasses.replace(
                k, **{field_name: [_scale(t, f) for t in getattr(k, field_name)]}
            )

        return wrapped

    return make


def _depth_plus_one(orig, hit):
    """nngp / ntk evaluated one layer too deep."""

    @functools.wraps(orig)
    def wrapped(*args, **kwargs):
        hit()
        kwargs["depth"] = kwargs["depth"] + 1
        return orig(*args, **kwargs)

    return wrapped


def _layers_depth_plus_one(orig, hit):
    """kernel_layers one layer too deep, re-indexed: Sigma(l), SigmaDot(l), Theta(l) are layer l +
    1's."""

    @functools.wraps(orig)
    def wrapped(*args, **kwargs):
        hit()
        kwargs["depth"] = kwargs["depth"] + 1
        k = orig(*args, **kwargs)
        return dataclasses.replace(
            k, sigma=k.sigma[1:], sigma_dot=[None] + k.sigma_dot[2:], theta=k.theta[1:]
        )

    return wrapped


def _no_bias_layers(X, Y, depth, act, beta):
    """The CONVENTIONS.md §1 recursion with Sigma^(1)(x, y) = (1 - beta^2) x.y/n_0 (the + beta^2
    dropped); the later layers unchanged.  Returns the lists (Sigma^(l), SigmaDot^(l), Theta^(l)), l
    = 1..depth."""
    w2, b2 = 1.0 - beta * beta, beta * beta
    n0 = X.shape[1]
    Yv = X if Y is None else Y
    qx = w2 * (X * X).sum(1) / n0
    qy = qx if Y is None else w2 * (Y * Y).sum(1) / n0
    S = w2 * (X @ Yv.T) / n0
    if Y is None:
        S = (S + S.T) * 0.5
        S.diagonal().copy_(qx)
    T = S
    sig, sdot, theta = [S], [None], [T]
    for _ in range(depth - 1):
        a, b = qx[:, None], qy[None, :]
        Sd = w2 * act.dual_deriv(a, b, S)
        S = w2 * act.dual(a, b, S) + b2
        qx_next = w2 * act.dual(qx, qx, qx) + b2
        qy = qx_next if Y is None else w2 * act.dual(qy, qy, qy) + b2
        qx = qx_next
        if Y is None:
            S.diagonal().copy_(qx)
        T = T * Sd + S
        sig.append(S)
        sdot.append(Sd)
        theta.append(T)
    return sig, sdot, theta


def _no_bias_first_layer(which):
    """nngp ("sigma"), ntk ("theta") or kernel_layers ("layers") through `_no_bias_layers`, the
    inputs checked and converted by the library's own `_prepare` (found in the original function's
    module)."""

    def make(orig, hit):
        sig = inspect.signature(orig)
        prepare = orig.__globals__["_prepare"]
        get_activation = orig.__globals__["get_activation"]
        layers_cls = orig.__globals__.get("KernelLayers")

        @functools.wraps(orig)
        def wrapped(*args, **kwargs):
            hit()
            ba = sig.bind(*args, **kwargs)
            ba.apply_defaults()
            a = ba.arguments
            X, Y, beta, depth = prepare(
                a["X"], a["Y"], a["depth"], a["beta"], a["dtype"], a["device"]
            )
            s, sd, t = _no_bias_layers(X, Y, depth, get_activation(a["activation"]), beta)
            if which == "sigma":
                return s[-1]
            if which == "theta":
                return t[-1]
            return layers_cls(s, sd, t)

        return wrapped

    return make


def _deconv_levels_scaled(f):
    """deconv_ntk_levels: T_m times f for every level m < L (pixel pairs p != p'); T_L (the FC NTK)
    kept."""

    def make(orig, hit):
        @functools.wraps(orig)
        def wrapped(*args, **kwargs):
            hit()
            T = orig(*args, **kwargs).clone()
            T[:-1] *= f
            return T

        return wrapped

    return make


def _batchnorm_mass_shifted(f):
    """batchnorm_mass returns mass - beta^2; with the identity mass = f beta^2 it returns mass - f
    beta^2."""

    def make(orig, hit):
        sig = inspect.signature(orig)

        @functools.wraps(orig)
        def wrapped(*args, **kwargs):
            import numpy as np

            hit()
            out = orig(*args, **kwargs)
            betas = np.asarray([float(b) for b in sig.bind(*args, **kwargs).arguments["betas"]])
            return out - (f - 1.0) * betas**2

        return wrapped

    return make


def _compare_norms_theory(rate_factor=1.0, mass_factor=1.0):
    """compare_norms: the BatchNorm constant direction predicted as (1 - 2 eta * rate_factor *
    mass_factor beta^2)^k m_0 (rate_factor: the 2/N of the linear dynamics; mass_factor: the
    identity's beta^2)."""

    def make(orig, hit):
        sig = inspect.signature(orig)

        @functools.wraps(orig)
        def wrapped(*args, **kwargs):
            import numpy as np

            hit()
            out = orig(*args, **kwargs)
            ba = sig.bind(*args, **kwargs)
            ba.apply_defaults()
            beta = float(ba.arguments["beta"])
            for res in out.values():
                if "mean_residual_theory" in res:
                    k = np.arange(len(res["mean_residual_theory"]))
                    rate = 2.0 * rate_factor * res["lr"] * mass_factor * beta * beta
                    res["mean_residual_theory"] = (1.0 - rate) ** k * res["mean_residual"][0]
            return out

        return wrapped

    return make


def _no_fused_family(orig, hit):
    """kernels.py hands relu- and erf-family activations to a fused evaluator (ntklib/_fused.py)
    that computes the closed-form duals itself, without Activation's methods, once it has recognised
    the family (cached per activation).  Under a dual mutant every activation is reported as no
    family, so the kernels take the generic path through Activation.dual / .duals, which the mutant
    reaches (same values to ~1e-13), and nothing is probed or cached while the duals are mutated."""

    @functools.wraps(orig)
    def family(*args, **kwargs):
        return None

    return family


# ---- the catalogue -------------------------------------------------------------------------------


def _duals(f_sigma=1.0, f_dot=1.0):
    def build():
        p = [
            Patch("Activation.duals", _duals_method(f_sigma, f_dot)),
            Patch("Activation.moments", _moments_method(f_sigma, f_dot)),
            Patch("family", _no_fused_family, modifies=False, module_suffix="_fused"),
        ]
        if f_sigma != 1.0:
            p.append(Patch("Activation.dual", _dual_method(f_sigma)))
        if f_dot != 1.0:
            p.append(Patch("Activation.dual_deriv", _dual_method(f_dot)))
        return p

    return build


ALL_NOTEBOOKS = (1, 2, 3, 4, 5, 6, 7)

MUTANTS = [
    Mutant(
        "sigma_dual_x1.03",
        "every Gaussian dual E[sigma(u) sigma(v)] 3% too large",
        "Activation.dual, the sigma half of Activation.duals and E sigma(z)^2 of "
        "Activation.moments, times 1.03 (outermost call), for every activation (closed forms and "
        "Mehler quadrature alike).  Reaches Sigma^(l >= 2) of nk.nngp / nk.ntk / kernel_layers, "
        "the pixel NTK, the RNN/ResNet/attention NTKs.",
        ALL_NOTEBOOKS,
        "01 covariance Sigma^(3); 02 Theta_inf, erratum Sigma^(2); 03 Theta_inf in the ODE and the "
        "spectra; 04 Gram ratios, identity, drift; 05 LayerNorm limit, chaos decay; 06 pixel NTK; "
        "07 RNN/ResNet/attention",
        _duals(f_sigma=1.03),
    ),
    Mutant(
        "sigma_dual_x0.97",
        "every Gaussian dual E[sigma(u) sigma(v)] 3% too small",
        "As sigma_dual_x1.03 with the factor 0.97.",
        ALL_NOTEBOOKS,
        "as sigma_dual_x1.03",
        _duals(f_sigma=0.97),
    ),
    Mutant(
        "sigma_dot_x1.03",
        "every derivative dual E[sigma'(u) sigma'(v)] 3% too large",
        "Activation.dual_deriv, the sigma' half of Activation.duals and E sigma'(z)^2 of "
        "Activation.moments (so r(sigma, beta) and edge_beta too), times 1.03 (outermost call).  "
        "Reaches SigmaDot^(l) of nk.ntk / kernel_layers (not nk.nngp), the pixel NTK, the "
        "RNN/ResNet/attention NTKs.",
        (2, 3, 4, 5, 6, 7),
        "02 Theta_inf; 03 Theta_inf in the ODE; 04 r, edge beta, identity, Gram ratios; 05 "
        "Poincare r, LayerNorm limit; 06 pixel NTK, r in the bounds; 07 RNN/ResNet/attention (01 "
        "uses the NNGP only)",
        _duals(f_dot=1.03),
    ),
    Mutant(
        "sigma_dot_x0.97",
        "every derivative dual E[sigma'(u) sigma'(v)] 3% too small",
        "As sigma_dot_x1.03 with the factor 0.97.",
        (2, 3, 4, 5, 6, 7),
        "as sigma_dot_x1.03",
        _duals(f_dot=0.97),
    ),
    Mutant(
        "fc_ntk_x1.03",
        "the FC analytic NTK Theta_inf 3% too large",
        "nk.ntk and the Theta^(l) of nk.kernel_layers (so ntk_by_depth, freeze_bound, chaos_decay, "
        "...) times 1.03; Sigma, SigmaDot and the other architectures unchanged.",
        (2, 3, 4, 5),
        "02 Theta_inf against wide networks; 03 the ODE with Theta_inf; 04 Gram, identity, "
        "conditioning, speed; 05 LayerNorm limit",
        lambda: [
            Patch("ntk", _output_scaled(1.03)),
            Patch("kernel_layers", _layers_scaled("theta", 1.03)),
        ],
    ),
    Mutant(
        "fc_nngp_x1.03",
        "the FC analytic NNGP Sigma^(L) 3% too large",
        "nk.nngp and the Sigma^(l) of nk.kernel_layers times 1.03 (Theta unchanged).",
        (1, 2, 4),
        "01 the output covariance; 02 the Sigma^(1) erratum (Sigma^(2)); 04 the E sigma = 1 drift "
        "(diagonal_profile's Sigma)",
        lambda: [
            Patch("nngp", _output_scaled(1.03)),
            Patch("kernel_layers", _layers_scaled("sigma", 1.03)),
        ],
    ),
    Mutant(
        "sigma1_no_beta2",
        "beta^2 dropped from Sigma^(1)",
        "nk.nngp, nk.ntk and nk.kernel_layers computed with Sigma^(1)(x, y) = (1 - beta^2) x.y/n_0 "
        "(no + beta^2), by a copy of the recursion in mutants/catalogue.py (the library's input "
        "checks kept); every later layer as in CONVENTIONS.md §1.  The pixel NTK and the other "
        "architectures have their own first layer and are not changed.",
        (1, 2, 3, 4, 5),
        "01 covariance; 02 Theta_inf, erratum; 03 ODE; 04 identity, Gram; 05 LayerNorm limit (all "
        "at beta > 0)",
        lambda: [
            Patch("nngp", _no_bias_first_layer("sigma")),
            Patch("ntk", _no_bias_first_layer("theta")),
            Patch("kernel_layers", _no_bias_first_layer("layers")),
        ],
    ),
    Mutant(
        "depth_plus_one",
        "the FC recursion one layer too deep",
        "nk.nngp and nk.ntk evaluated at depth + 1; nk.kernel_layers at depth + 1 with the first "
        "layer dropped (Sigma(l), Theta(l) are layer l + 1's).",
        (1, 2, 3, 4, 5),
        "01 covariance; 02 Theta_inf; 03 ODE; 04 identity, freeze/chaos by depth; 05 LayerNorm "
        "limit",
        lambda: [
            Patch("nngp", _depth_plus_one),
            Patch("ntk", _depth_plus_one),
            Patch("kernel_layers", _layers_depth_plus_one),
        ],
    ),
    Mutant(
        "r_value_x1.02",
        "r(sigma, beta) 2% too large",
        "nk.r_value times 1.02 (E sigma'^2 in Activation.moments, edge_beta and the kernels "
        "unchanged).",
        (4, 5, 6),
        "04 r at the edge, the identity (1 - r^L)/(1 - r), freeze bound; 05 the phase from r; 06 "
        "the checkerboard bounds in r",
        lambda: [Patch("r_value", _output_scaled(1.02))],
    ),
    Mutant(
        "time_scale_x1.05",
        "the flow's time scale 5% off: 2/N -> 2.1/N in the linear-ODE prediction",
        "dynamics._gd_factors (the decay exp(-2t lam/N) or (1 - 2 lr lam/N)^k and gain (1 - "
        "decay)/lam of every eigendirection, behind nk.ntk_flow and the ensemble prediction) "
        "evaluated with N/1.05, i.e. 2.1/N; the kernel handed to nk.kernel_gd and kernel_gd_losses "
        "and the eigenvalues handed to nk.mode_rates and nk.convergence_time times 1.05; "
        "compare_norms' BatchNorm constant direction (1 - 2 eta beta^2)^k becomes (1 - 2.1 eta "
        "beta^2)^k.  Theta(x, X) Theta(X, X)^-1 is kept; step sizes (gd_step_size) are choices, "
        "not predictions: unchanged.",
        (3, 4, 5, 7),
        "03 GD follows the ODE, mode decay rates, erratum; 04 training speed (theory steps); 05 "
        "the BatchNorm constant direction; 07 SGD follows kernel GD",
        lambda: [
            Patch("_gd_factors", _time_scaled_factors(1.05)),
            Patch("kernel_gd", _argument_scaled(("theta",), 1.05)),
            Patch("kernel_gd_losses", _argument_scaled(("theta",), 1.05)),
            Patch("mode_rates", _argument_scaled(("lam",), 1.05)),
            Patch("convergence_time", _argument_scaled(("lam",), 1.05)),
            Patch("compare_norms", _compare_norms_theory(rate_factor=1.05)),
        ],
    ),
    Mutant(
        "deconv_levels_x1.03",
        "the deconvolution pixel-NTK levels T_m (m < L) 3% too large",
        "nk.deconv_ntk_levels: T_m times 1.03 for every level m < L, i.e. every pixel pair p != p' "
        "of nk.deconv_ntk; T_L (p = p', the FC NTK) kept.",
        (6,),
        "06 finite generators against the analytic pixel NTK, the ratio bounds, the enrichment",
        lambda: [Patch("deconv_ntk_levels", _deconv_levels_scaled(1.03))],
    ),
    Mutant(
        "rnn_ntk_x1.03",
        "the RNN's infinite-width NTK 3% too large",
        "nk.rnn_ntk (tied and untied) times 1.03 (the NNGP it may also return kept).",
        (7,),
        "07 the RNN's empirical NTK approaches it; SGD follows kernel GD with it",
        lambda: [Patch("rnn_ntk", _output_scaled(1.03, first_only=True))],
    ),
    Mutant(
        "resnet_ntk_x1.03",
        "the ResNet's infinite-width NTK 3% too large",
        "nk.resnet_ntk times 1.03 (the NNGP it may also return kept).",
        (7,),
        "07 the ResNet's empirical NTK approaches it; SGD follows kernel GD with it",
        lambda: [Patch("resnet_ntk", _output_scaled(1.03, first_only=True))],
    ),
    Mutant(
        "attention_ntk_x1.03",
        "the attention block's infinite-width NTK 3% too large",
        "nk.attention_ntk times 1.03 (the NNGP it may also return kept).",
        (7,),
        "07 the attention block's empirical NTK approaches it; SGD follows kernel GD with it",
        lambda: [Patch("attention_ntk", _output_scaled(1.03, first_only=True))],
    ),
    Mutant(
        "transformer_ntk_x1.03",
        "the transformer's infinite-width NTK 3% too large",
        "nk.architectures.transformer_ntk times 1.03 (the share dict and the NNGP it may also "
        "return kept).",
        (7,),
        "07 the transformer's empirical NTK approaches it; SGD follows kernel GD with it",
        lambda: [Patch("transformer_ntk", _output_scaled(1.03, first_only=True))],
    ),
    Mutant(
        "batchnorm_ntk_x1.03",
        "the BatchNorm MLP's infinite-width batch NTK 3% too large",
        "nk.batchnorm_ntk times 1.03 (its quasi-Monte-Carlo standard error kept).",
        (7,),
        "07 the BatchNorm MLP's batch NTK approaches it; full-batch GD follows kernel GD with it",
        lambda: [Patch("batchnorm_ntk", _output_scaled(1.03, first_only=True))],
    ),
    Mutant(
        "batchnorm_identity_x1.03",
        "the BatchNorm identity (1/N^2) sum_ij Theta_ij = beta^2 off by 3%",
        "The identity predicts 1.03 beta^2: nk.batchnorm_mass returns mass - 1.03 beta^2, and "
        "compare_norms' BatchNorm constant direction becomes (1 - 2 eta 1.03 beta^2)^k m_0.  (The "
        "notebooks' own comparisons with BN_BETA ** 2 written in a cell cannot be reached from "
        "outside.)",
        (5,),
        "05 the identity at every width, depth and beta; the constant direction's decay",
        lambda: [
            Patch("batchnorm_mass", _batchnorm_mass_shifted(1.03)),
            Patch("compare_norms", _compare_norms_theory(mass_factor=1.03)),
        ],
    ),
]


def _control_patches():
    keys = sorted({k for m in MUTANTS for k in m.keys()})

    def count(orig, hit):
        if inspect.isfunction(orig):
            return _passthrough(orig, hit)
        raise TypeError(f"cannot count {orig!r}")

    return [Patch(k, count) for k in keys]


CONTROL_MUTANT = Mutant(
    CONTROL,
    "no change: counting pass-throughs on every mutant's targets",
    "Every target of every mutant replaced by a wrapper that counts the call and returns the "
    "original's result unchanged (the same object): bit-identical, and it records which targets a "
    "notebook reaches.",
    (),
    "must pass every notebook",
    _control_patches,
    guards=False,
)

BY_NAME = {m.name: m for m in [CONTROL_MUTANT] + MUTANTS}


def get(name) -> Mutant:
    if name not in BY_NAME:
        raise KeyError(f"unknown mutant {name!r}; known: {sorted(BY_NAME)}")
    return BY_NAME[name]


def injected(name) -> Injection:
    """A context manager: `with injected("fc_ntk_x1.03") as inj: ...` (inj.counts: calls per
    target)."""
    return Injection(get(name))


def activate(name, report=None) -> Injection:
    """Apply mutant `name` for the rest of the session (a notebook's first cell).  With `report`,
    write {"mutant", "patched", "counts"} as JSON there after every cell (IPython's post_run_cell),
    so the targets reached are known even when a later cell raises."""
    inj = Injection(get(name)).apply()
    if report:

        def dump(*_):
            tmp = f"{report}.tmp"
            with open(tmp, "w") as fh:
                json.dump({"mutant": name, "patched": inj.patched, "counts": dict(inj.counts)}, fh)
            os.replace(tmp, report)

        dump()
        try:
            from IPython import get_ipython

            ip = get_ipython()
        except ImportError:  # pragma: no cover - outside IPython nothing runs cells
            ip = None
        if ip is not None:
            ip.events.register("post_run_cell", dump)
    return inj
