"""The theory-mutant machinery (mutants/catalogue.py, mutants/run.py): each mutant changes what it
claims, by the stated factor, and nothing else; the networks never change; removing a mutant
restores every original; the runner reads failing, crashing and passing executed notebooks
correctly.  Fast: small inputs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ntklib as nk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mutants import catalogue as mc  # noqa: E402
from mutants import run as mrun  # noqa: E402

BETA = 0.2


class _Api:
    """ntklib's public names wherever they live (nk.ntk, nk.phases.resolve_activation, ...), looked
    up at each use, so a mutated function is seen under a mutant and the tests follow the layout."""

    def __getattr__(self, name):
        for m in [nk] + mc._ntklib_modules():
            if name in vars(m) and not name.startswith("_"):
                return vars(m)[name]
        raise AttributeError(f"no ntklib module defines {name!r}")


A = _Api()


def _X(n=4, d=3, seed=0):
    return nk.data.sphere(n, d, seed=seed)


def _close(a, b, rtol=1e-12):
    return torch.allclose(torch.as_tensor(a), torch.as_tensor(b), rtol=rtol, atol=1e-15)


# ---- the battery: every theory quantity a mutant may touch, and the finite networks --------------


def battery(fixed):
    """Every theory quantity some mutant may change, and the finite side (which none may change).
    The inputs (fixed) are computed unmutated, so a kernel handed to ntk_flow is the same under
    every mutant."""
    X, K, f0, Y = fixed["X"], fixed["K"], fixed["f0"], fixed["Y"]
    erf_bar = A.normalized("erf")
    layers = A.kernel_layers(X, depth=3, beta=BETA)
    net = A.FCNet(3, 16, 3, activation=A.resolve_activation("normalized(tanh)"), beta=BETA, seed=0)
    return {
        "nngp": A.nngp(X, depth=3, beta=BETA),
        "nngp_tanh": A.nngp(X[:2], depth=2, activation="tanh"),  # Mehler quadrature
        "ntk": A.ntk(X, depth=3, beta=BETA),
        "layers_sigma": torch.stack(layers.sigma),
        "layers_theta": torch.stack(layers.theta),
        "r": A.r_value(erf_bar, 0.1),
        "edge": A.edge_beta(erf_bar),
        "m2": A.normalized("tanh").moments()[1],
        "deconv": A.deconv_ntk_levels(X, depth=3, activation=erf_bar, beta=0.3),
        "rnn": A.rnn_ntk(fixed["seq"]),
        "transformer": A.transformer_ntk(fixed["seq"]),
        "resnet": A.resnet_ntk(X),
        "attention": A.attention_ntk(fixed["seq"]),
        "batchnorm": A.batchnorm_ntk(fixed["batch"], depth=2, n_samples=2**4, n_scrambles=1),
        "flow": A.ntk_flow(K, f0, Y, [0.0, 1.0, 2.0])[0],
        "kgd": A.kernel_gd(K, f0, Y, range(4), lr=0.1, batches=[range(4)] * 3)[1],
        "rates": A.mode_rates(fixed["lam"], 4),
        "converge": A.convergence_time(fixed["lam"], 4)["time"],
        "kgd_losses": torch.as_tensor(A.kernel_gd_losses(K, f0, Y, lr=0.1, steps=2)),
        "bn_mass": torch.as_tensor(
            A.batchnorm_mass(fixed["X6"], widths=[4], depths=[2], betas=[0.3])
        ),
        # the finite side: must never change
        "net": net(X).detach(),
        "net_ntk": A.empirical_ntk(net, X),
        "act_fn": A.standardized("relu").fn(X)
        + A.mean_one("gelu").fn(X)
        + A.input_scaled("erf", 2.0).fn(X),
        "deconv_net": A.DeconvGenerator(3, 8, 2, activation=erf_bar, seed=0)(X).detach(),
    }


@pytest.fixture(scope="module")
def fixed():
    K = A.ntk(nk.data.circle(4)[0], depth=2)
    return {
        "X": _X(),
        "X6": _X(6),
        "K": K,
        "lam": torch.linalg.eigvalsh(K),
        "seq": A.sequences(3, 3, 2),
        "batch": A.sequences(7, 1, 6, seed=1)[:, 0],
        "f0": torch.zeros(4, dtype=torch.float64),
        "Y": torch.tensor([1.0, -0.5, 0.25, 0.0], dtype=torch.float64),
    }


FC = {"nngp", "nngp_tanh", "ntk", "layers_sigma", "layers_theta"}
EXPECTED = {
    "control": set(),
    "sigma_dual_x1.03": FC | {"m2", "deconv", "rnn", "resnet", "attention", "transformer"},
    "sigma_dual_x0.97": FC | {"m2", "deconv", "rnn", "resnet", "attention", "transformer"},
    "sigma_dot_x1.03": {
        "ntk",
        "layers_theta",
        "r",
        "edge",
        "deconv",
        "rnn",
        "resnet",
        "attention",
        "transformer",
    },
    "sigma_dot_x0.97": {
        "ntk",
        "layers_theta",
        "r",
        "edge",
        "deconv",
        "rnn",
        "resnet",
        "attention",
        "transformer",
    },
    "fc_ntk_x1.03": {"ntk", "layers_theta"},
    "fc_nngp_x1.03": {"nngp", "nngp_tanh", "layers_sigma"},
    "sigma1_no_beta2": FC,
    "depth_plus_one": FC,
    "r_value_x1.02": {"r"},
    "time_scale_x1.05": {"flow", "kgd", "rates", "converge", "kgd_losses"},
    "deconv_levels_x1.03": {"deconv"},
    "rnn_ntk_x1.03": {"rnn"},
    "transformer_ntk_x1.03": {"transformer"},
    "resnet_ntk_x1.03": {"resnet"},
    "attention_ntk_x1.03": {"attention"},
    "batchnorm_ntk_x1.03": {"batchnorm"},
    "batchnorm_identity_x1.03": {"bn_mass"},
}


@pytest.fixture(scope="module")
def reference(fixed):
    return battery(fixed)


FINITE = {"net", "net_ntk", "act_fn", "deconv_net"}


def _equal(a, b):
    if torch.is_tensor(a):
        return torch.equal(a, b)
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


def _rel_diff(a, b) -> float:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if (
        torch.equal(a, b)
        or (a.isnan() == b.isnan()).all()
        and torch.equal(a.nan_to_num(), b.nan_to_num())
    ):
        return 0.0
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-300))


def test_catalogue_is_complete_and_documented():
    names = [m.name for m in mc.MUTANTS]
    assert len(names) == len(set(names)) and set(EXPECTED) == set(mc.BY_NAME)
    for m in mc.MUTANTS:
        assert m.summary and m.changes and m.why, m.name
        assert m.depends_on and set(m.depends_on) <= set(range(1, 8)), m.name
        assert m.keys(), m.name
    assert set(mc.CONTROL_MUTANT.keys()) == {k for m in mc.MUTANTS for k in m.keys()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mutant_changes_only_what_it_claims(name, reference, fixed):
    """Changed: off by more than 1e-6 (every mutant is a >= 2% change somewhere).  Unchanged:
    bit-identical for the control and the finite networks; within 1e-11 for the other theory
    quantities (a dual mutant keeps the kernels off the fused fast path, which agrees with the
    generic one to rounding)."""
    with mc.injected(name) as inj:
        got = battery(fixed)
    diff = {k: _rel_diff(got[k], reference[k]) for k in reference}
    changed = {k for k, d in diff.items() if d > 1e-6}
    assert changed == EXPECTED[name], diff
    for k in set(reference) - changed:
        if name == mc.CONTROL or k in FINITE:
            assert _equal(reference[k], got[k]), k
        else:
            assert diff[k] < 1e-11, (k, diff[k])
    reached = inj.reached()
    assert any(reached.values()), f"{name} reached none of its targets {reached}"


def _namespace_snapshot():
    snap = {}
    for m in mc._ntklib_modules():
        for k, v in vars(m).items():
            snap[(m.__name__, k)] = v
            if isinstance(v, dict) and not k.startswith("__"):
                for dk, dv in v.items():
                    snap[(m.__name__, k, repr(dk))] = dv
    snap["Activation"] = dict(A.Activation.__dict__)
    return snap


def test_remove_restores_every_original(reference, fixed):
    before = _namespace_snapshot()
    for name in EXPECTED:
        inj = mc.injected(name).apply()
        assert inj.patched
        assert nk.ntk is not before[("ntklib", "ntk")] or name not in ("fc_ntk_x1.03", "control")
        inj.remove()
    after = _namespace_snapshot()
    assert before.keys() == after.keys()
    assert all(before[k] is after[k] for k in before if k != "Activation")
    assert all(before["Activation"][k] is v for k, v in after["Activation"].items())
    assert all(_equal(reference[k], v) for k, v in battery(fixed).items())


def test_every_reference_is_replaced_and_one_at_a_time():
    orig = A.kernel_layers
    holders = [m for m in mc._ntklib_modules() if vars(m).get("kernel_layers") is orig]
    wrappers = [m for m in mc._ntklib_modules() if isinstance(vars(m).get("_WRAPPERS"), dict)]
    with mc.injected("fc_ntk_x1.03") as inj:
        assert nk.ntk is vars(mc.sys.modules["ntklib.kernels"])["ntk"]
        assert getattr(nk.ntk, "__mutant_wrapper__", False)
        assert "ntklib.kernels.ntk" in inj.patched and "ntklib.ntk" in inj.patched
        assert len(holders) >= 2 and all(
            vars(m)["kernel_layers"] is A.kernel_layers for m in holders
        )
        assert getattr(A.kernel_layers, "__mutant_wrapper__", False)
        with pytest.raises(RuntimeError):
            mc.injected("control").apply()
    with mc.injected("sigma_dual_x1.03") as inj:
        # the constructor guards reach module-level dicts of functions too (phases' _WRAPPERS)
        for m in wrappers:
            fns = [v for v in vars(m)["_WRAPPERS"].values() if callable(v)]
            assert fns and all(getattr(v, "__mutant_wrapper__", False) for v in fns)
    assert not getattr(nk.ntk, "__mutant_wrapper__", False)


def test_unknown_target_fails_loudly():
    bad = mc.Mutant(
        "bad", "s", "c", (1,), "w", lambda: [mc.Patch("no_such_function", mc._passthrough)]
    )
    with pytest.raises(LookupError):
        mc.Injection(bad).apply()
    assert mc.Injection._active is None and not getattr(A.ntk, "__mutant_wrapper__", False)


# ---- the factors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("f", [1.03, 0.97])
def test_sigma_dual_scales_every_gaussian_dual(f):
    X, b2 = _X(), BETA**2
    ref = {a: A.nngp(X, depth=2, activation=a, beta=BETA) for a in ("relu", "tanh")}
    bar = A.normalized("relu")
    ref_m2 = [A.get_activation("tanh").moments()[1], bar.moments()[1]]
    ref_r = A.r_value("tanh", BETA)
    ref_bar = A.nngp(X, depth=2, activation=bar, beta=BETA)
    with mc.injected(f"sigma_dual_x{f}"):
        for a in ("relu", "tanh"):  # closed form and Mehler quadrature
            assert _close(A.nngp(X, depth=2, activation=a, beta=BETA) - b2, f * (ref[a] - b2))
        bar2 = A.normalized("relu")  # affine of relu: scaled once, not twice
        assert [A.get_activation("tanh").moments()[1], bar2.moments()[1]] == pytest.approx(
            [f * m for m in ref_m2], rel=1e-13
        )
        assert A.r_value("tanh", BETA) == ref_r
        k = A.kernel_layers(
            X, depth=3, beta=BETA
        )  # dual / dual_deriv path against the fused duals path
        assert _close(k.Theta(3), A.ntk(X, depth=3, beta=BETA), 1e-10)
        assert _close(k.Sigma(3), A.nngp(X, depth=3, beta=BETA), 1e-10)
        assert _close(
            A.deconv_ntk_levels(X, depth=3, beta=BETA)[-1], A.ntk(X, depth=3, beta=BETA), 1e-10
        )
        assert torch.equal(bar2.fn(X), bar.fn(X))  # built from the true moments
        assert _close(A.nngp(X, depth=2, activation=bar2, beta=BETA) - b2, f * (ref_bar - b2))


@pytest.mark.parametrize("f", [1.03, 0.97])
def test_sigma_dot_scales_every_derivative_dual(f):
    X = _X()
    k = A.kernel_layers(X, depth=3, beta=BETA)
    ref_nngp, ref_r, ref_d2 = (
        A.nngp(X, depth=3, beta=BETA),
        A.r_value("erf", BETA),
        A.get_activation("tanh").moments()[2],
    )
    T = k.Sigma(1)
    for l in (2, 3):
        T = T * (f * k.SigmaDot(l)) + k.Sigma(l)
    with mc.injected(f"sigma_dot_x{f}"):
        assert _close(A.ntk(X, depth=3, beta=BETA), T, 1e-12)
        assert _close(A.kernel_layers(X, depth=3, beta=BETA).Theta(3), T, 1e-12)
        assert _close(A.nngp(X, depth=3, beta=BETA), ref_nngp, 1e-12)
        assert A.r_value("erf", BETA) == pytest.approx(f * ref_r, rel=1e-14)
        assert A.get_activation("tanh").moments()[2] == pytest.approx(f * ref_d2, rel=1e-14)


def test_fc_kernels_scaled():
    X = _X()
    ntk, nngp, k = (
        A.ntk(X, depth=3, beta=BETA),
        A.nngp(X, depth=3, beta=BETA),
        A.kernel_layers(X, depth=3),
    )
    with mc.injected("fc_ntk_x1.03"):
        assert _close(A.ntk(X, depth=3, beta=BETA), 1.03 * ntk)
        k2 = A.kernel_layers(X, depth=3)
        assert all(
            _close(k2.Theta(l), 1.03 * k.Theta(l)) and torch.equal(k2.Sigma(l), k.Sigma(l))
            for l in (1, 2, 3)
        )
        assert torch.equal(A.nngp(X, depth=3, beta=BETA), nngp)
    with mc.injected("fc_nngp_x1.03"):
        assert _close(A.nngp(X, depth=3, beta=BETA), 1.03 * nngp)
        k2 = A.kernel_layers(X, depth=3)
        assert all(
            _close(k2.Sigma(l), 1.03 * k.Sigma(l)) and torch.equal(k2.Theta(l), k.Theta(l))
            for l in (1, 2, 3)
        )


def test_sigma1_without_beta2():
    X, Y = _X(), _X(3, seed=5)
    w2 = 1 - BETA**2
    relu = A.get_activation("relu")
    ref0 = {f: getattr(nk, f)(X, Y, depth=3, beta=0.0) for f in ("nngp", "ntk")}
    with mc.injected("sigma1_no_beta2"):
        assert _close(A.nngp(X, Y, depth=1, beta=BETA), w2 * X @ Y.T / 3)
        assert _close(A.ntk(X, depth=1, beta=BETA), w2 * X @ X.T / 3)
        for f in ("nngp", "ntk"):  # beta = 0: nothing to drop
            assert _close(getattr(nk, f)(X, Y, depth=3, beta=0.0), ref0[f], 1e-10)
        S1 = w2 * X @ Y.T / 3
        qx, qy = (w2 * (Z * Z).sum(1) / 3 for Z in (X, Y))
        a, b = qx[:, None], qy[None, :]
        S2 = w2 * relu.dual(a, b, S1) + BETA**2
        T2 = S1 * w2 * relu.dual_deriv(a, b, S1) + S2
        assert _close(A.nngp(X, Y, depth=2, beta=BETA), S2)
        assert _close(A.ntk(X, Y, depth=2, beta=BETA), T2)
        assert _close(A.kernel_layers(X, Y, depth=2, beta=BETA).Theta(2), T2)
        assert torch.equal(
            A.kernel_layers(X, depth=2, beta=BETA).Sigma(2),
            A.kernel_layers(X, depth=2, beta=BETA).Sigma(2).T,
        )  # symmetric path kept


def test_depth_plus_one():
    X = _X()
    deeper = {L: (A.nngp(X, depth=L, beta=BETA), A.ntk(X, depth=L, beta=BETA)) for L in (2, 3, 4)}
    k4 = A.kernel_layers(X, depth=4, beta=BETA)
    with mc.injected("depth_plus_one"):
        for L in (1, 2, 3):
            assert torch.equal(A.nngp(X, depth=L, beta=BETA), deeper[L + 1][0])
            assert torch.equal(A.ntk(X, depth=L, beta=BETA), deeper[L + 1][1])
        k = A.kernel_layers(X, depth=3, beta=BETA)
        assert len(k.theta) == len(k.sigma) == len(k.sigma_dot) == 3 and k.sigma_dot[0] is None
        for l in (1, 2, 3):
            assert torch.equal(k.Theta(l), k4.Theta(l + 1)) and torch.equal(
                k.Sigma(l), k4.Sigma(l + 1)
            )
        assert torch.equal(k.SigmaDot(2), k4.SigmaDot(3))


def test_r_value_scaled_only():
    ref = A.r_value(A.scaled("relu", 2**0.5), 0.3), A.edge_beta(A.scaled("relu", 2.0))
    with mc.injected("r_value_x1.02"):
        assert A.r_value(A.scaled("relu", 2**0.5), 0.3) == pytest.approx(1.02 * ref[0], rel=1e-15)
        assert A.edge_beta(A.scaled("relu", 2.0)) == ref[1]
        assert isinstance(A.r_value("relu", 0.3), float)


def test_time_scale():
    X = nk.data.circle(5)[0]
    K = A.ntk(X, depth=2)
    Kt = A.ntk(nk.data.circle(3, offset=0.2)[0], X, depth=2)
    f0, Y = 0.1 * torch.arange(5.0, dtype=torch.float64), X[:, 0]
    t = torch.tensor([0.0, 0.5, 3.0], dtype=torch.float64)
    lam, V = torch.linalg.eigh(K)
    r0 = V.T @ (Y - f0)
    decay = torch.exp(-2.1 * t[:, None] * lam / 5)
    want_X = Y - (decay * r0) @ V.T
    want_t = (((1 - decay) / lam) * r0) @ (Kt @ V).T
    with mc.injected("time_scale_x1.05"):
        fX, ft = A.ntk_flow(K, f0, Y, t, theta_tX=Kt, f0_t=torch.zeros(3, dtype=torch.float64))
        assert _close(fX, want_X, 1e-10) and _close(ft, want_t, 1e-10)
        fX, _ = A.ntk_flow(K, f0, Y, [0.2, 0.4], lr=0.1)  # gradient descent on the linear model
        k = torch.tensor([2.0, 4.0], dtype=torch.float64)[:, None]
        assert _close(fX, Y - ((1 - 2.1 * 0.1 * lam / 5) ** k * r0) @ V.T, 1e-10)
        _, f = A.kernel_gd(K, f0, Y, range(5), lr=0.1, batches=[[0, 2]])
        assert _close(f[1], f0 - 0.1 * (2.1 / 2) * K[:, [0, 2]] @ (f0[[0, 2]] - Y[[0, 2]]))
        assert _close(
            A.mode_rates([2.0, 1.0], 4), torch.tensor([2.1 * 2 / 4, 2.1 / 4], dtype=torch.float64)
        )
        assert A.convergence_time([3.0, 1.0], 4)["time"] == pytest.approx(4 * math.log(100) / 2.1)
        losses = A.kernel_gd_losses(
            torch.diag(torch.tensor([4.0, 2.0])), torch.zeros(2), torch.ones(2), lr=0.25, steps=1
        )
        assert losses == pytest.approx(
            [1.0, ((1 - 2.1 * 0.25 * 4 / 2) ** 2 + (1 - 2.1 * 0.25 * 2 / 2) ** 2) / 2]
        )


def test_deconv_levels():
    X = _X()
    T = A.deconv_ntk_levels(X, depth=3, beta=0.3)
    with mc.injected("deconv_levels_x1.03"):
        T2 = A.deconv_ntk_levels(X, depth=3, beta=0.3)
        assert _close(T2[:-1], 1.03 * T[:-1]) and torch.equal(T2[-1], T[-1])
        P = A.deconv_ntk(X, depth=3, stride=2, dim=1, beta=0.3)
        m = A.pixel_levels(3, 2, 1)
        assert _close(P[..., m < 3], 1.03 * T.permute(1, 2, 0)[:, :, m][..., m < 3])


@pytest.mark.parametrize(
    "name, fn, args",
    [
        ("rnn_ntk_x1.03", "rnn_ntk", lambda: (A.sequences(3, 3, 2),)),
        ("resnet_ntk_x1.03", "resnet_ntk", lambda: (_X(),)),
        ("attention_ntk_x1.03", "attention_ntk", lambda: (A.sequences(3, 3, 2),)),
    ],
)
def test_architecture_kernels(name, fn, args):
    theta, nngp = getattr(A, fn)(*args(), return_nngp=True)
    arch = A.architecture(
        {"rnn_ntk": "RNN", "resnet_ntk": "ResNet", "attention_ntk": "Attention"}[fn]
    )
    X = arch.inputs(3)
    ref = arch.ntk(X)
    with mc.injected(name):
        t2, n2 = getattr(A, fn)(*args(), return_nngp=True)
        assert _close(t2, 1.03 * theta) and torch.equal(n2, nngp)
        assert _close(getattr(A, fn)(*args()), 1.03 * theta)
        assert _close(arch.ntk(X), 1.03 * ref)  # through the Architecture interface too


def test_batchnorm_kernel_and_identity():
    B = A.sequences(7, 1, 6, seed=1)[:, 0]
    theta, se = A.batchnorm_ntk(B, depth=2, n_samples=2**8, n_scrambles=2, return_error=True)
    X = _X(6)
    mass = A.batchnorm_mass(X, widths=[8], depths=[2], betas=[0.3, 0.5])
    cmp = A.compare_norms(
        X, X[:, 0], width=8, depth=2, activation="relu", beta=0.3, steps=3, rel_target=0.5
    )
    with mc.injected("batchnorm_ntk_x1.03"):
        t2, se2 = A.batchnorm_ntk(B, depth=2, n_samples=2**8, n_scrambles=2, return_error=True)
        assert _close(t2, 1.03 * theta) and torch.equal(se2, se)
    with mc.injected("batchnorm_identity_x1.03"):
        assert np.allclose(
            A.batchnorm_mass(X, widths=[8], depths=[2], betas=[0.3, 0.5]),
            mass - 0.03 * np.array([0.09, 0.25]),
            rtol=0,
            atol=1e-15,
        )
        c2 = A.compare_norms(
            X, X[:, 0], width=8, depth=2, activation="relu", beta=0.3, steps=3, rel_target=0.5
        )
        bn, bn0 = c2["BatchNorm"], cmp["BatchNorm"]
        assert np.array_equal(bn["mean_residual"], bn0["mean_residual"])
        assert np.allclose(
            bn["mean_residual_theory"],
            (1 - 2 * bn["lr"] * 1.03 * 0.09) ** np.arange(4) * bn["mean_residual"][0],
        )
    with mc.injected("time_scale_x1.05"):
        c3 = A.compare_norms(
            X, X[:, 0], width=8, depth=2, activation="relu", beta=0.3, steps=3, rel_target=0.5
        )
        bn = c3["BatchNorm"]
        assert np.allclose(
            bn["mean_residual_theory"],
            (1 - 2.1 * bn["lr"] * 0.09) ** np.arange(4) * bn["mean_residual"][0],
        )


# ---- the runner: injected copy, parsing of executed notebooks ------------------------------------


def _code(src, outputs=(), tags=(), index=None):
    md = {"tags": list(tags)}
    if index is not None:
        md["mutants"] = {"index": index}
    return {
        "cell_type": "code",
        "source": src,
        "metadata": md,
        "outputs": list(outputs),
        "execution_count": 1,
    }


def _error(ename, evalue, line="x = 1"):
    tb = [
        "\x1b[31m----\x1b[39m",
        f"\x1b[36mCell\x1b[39m In[3], line 2\n\x1b[32m----> \x1b[39m\x1b[32m2\x1b[39m {line}\n",
    ]
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": tb}


def _executed(*cells):
    injected = _code("activate", tags=[mrun.INJECTED_TAG])
    md = {"cell_type": "markdown", "source": "An Exception was encountered", "metadata": {}}
    return {"cells": [md, injected, *cells]}


def test_parse_passing_notebook():
    nb = _executed(_code("x = 1", index=0), _code("# NBVAL_CHECK_OUTPUT\nassert x == 1", index=1))
    assert mrun.parse_executed(nb)["status"] == "survived"
    assert mrun.parse_executed(nb, rc=1, log="kernel died")["status"] == "error"


def test_parse_failing_verdicts_and_crash():
    v1 = _code(
        "# NBVAL_CHECK_OUTPUT\nassert a",
        [_error("AssertionError", "slope off", "assert a, 'slope off'")],
        index=4,
    )
    v2 = _code("assert b", [_error("AssertionError", "")], tags=["nbval-check-output"], index=7)
    later = _code("y = z", [_error("NameError", "name 'z' is not defined")], index=9)
    res = mrun.parse_executed(_executed(_code("x = 1", index=0), v1, v2, later))
    assert res["status"] == "killed" and res["cell"] == 4 and res["verdict"]
    assert res["failed_verdicts"] == [4, 7] and len(res["errors"]) == 3
    assert res["line"] == "assert a, 'slope off'" and res["evalue"] == "slope off"
    assert mrun.cell_text("fc_ntk_x1.03", "02_ntk_limit", res) == "**killed c4,7**"
    assert "(not in depends_on)" in mrun.cell_text("fc_ntk_x1.03", "01_gp_init", res)
    crash = mrun.parse_executed(
        _executed(_code("K = f()", [_error("LinAlgError", "not positive definite")], index=5))
    )
    assert (
        crash["status"] == "crash"
        and crash["ename"] == "LinAlgError"
        and crash["failed_verdicts"] == []
    )
    a_crash = mrun.parse_executed(
        _executed(_code("assert q", [_error("AssertionError", "")], index=5))
    )
    assert a_crash["status"] == "crash"  # an assert outside a verdict cell is no verdict


def test_parse_import_crash():
    inj = _code(
        "activate", [_error("LookupError", "no ntklib function 'ntk'")], tags=[mrun.INJECTED_TAG]
    )
    res = mrun.parse_executed({"cells": [inj, _code("x", index=0)]})
    assert res["status"] == "import-crash" and res["injected"]
    res = mrun.parse_executed(
        _executed(_code("import ntklib", [_error("ModuleNotFoundError", "no ntklib.x")], index=2))
    )
    assert res["status"] == "import-crash"
    assert mrun.cell_text("fc_ntk_x1.03", "02_ntk_limit", res).endswith("!!**")


def test_make_input_injects_one_first_cell():
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": "# t", "metadata": {}},
            _code("SEED = 0", tags=["parameters"]),
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    out = mrun.make_input(nb, "fc_ntk_x1.03", Path("/tmp/r.json"))
    assert len(out["cells"]) == 3 and mrun.INJECTED_TAG in out["cells"][0]["metadata"]["tags"]
    src = out["cells"][0]["source"]
    assert "activate('fc_ntk_x1.03', report='/tmp/r.json')" in src and str(ROOT) in src
    assert [c["metadata"]["mutants"]["index"] for c in out["cells"][1:]] == [0, 1]
    assert "mutants" not in nb["cells"][0]["metadata"]  # the original is not modified
    assert out["cells"][2]["metadata"]["tags"] == ["parameters"]


def test_write_outputs_flags_survivors(tmp_path):
    names = ["01_gp_init", "02_ntk_limit"]
    results = {
        "control": {n: {"status": "survived"} for n in names},
        "fc_ntk_x1.03": {
            "01_gp_init": {"status": "unreached"},
            "02_ntk_limit": {"status": "survived"},
        },
        "fc_nngp_x1.03": {
            "01_gp_init": dict(
                status="killed",
                cell=7,
                verdict=True,
                ename="AssertionError",
                evalue="z",
                line="assert z",
                failed_verdicts=[7],
            ),
            "02_ntk_limit": {"status": "survived"},
        },
    }
    meta = dict(finished="now", commit="abc", runs=5, skipped=1, jobs=2, wall_s=60.0)
    ok, flagged, failed = mrun.write_outputs(
        tmp_path, meta, names, ["control", "fc_ntk_x1.03", "fc_nngp_x1.03"], results
    )
    assert not ok and not failed
    assert flagged == [
        ("fc_ntk_x1.03", "02_ntk_limit", "survived"),
        ("fc_nngp_x1.03", "02_ntk_limit", "survived"),
    ]
    table = (tmp_path / "table.md").read_text()
    assert "| fc_nngp_x1.03 | 01, 02, 04 | **killed c7** | **SURVIVED !!** |" in table
    assert "| control | - | pass | pass |" in table and (tmp_path / "results.json").exists()
    results["control"]["02_ntk_limit"] = {"status": "crash", "cell": 3}
    ok, flagged, failed = mrun.write_outputs(
        tmp_path, meta, names, ["control", "fc_ntk_x1.03"], results
    )
    assert not ok and failed == ["02_ntk_limit"] and flagged == []
    assert "n/a (control failed)" in (tmp_path / "table.md").read_text()
