"""The `device=` argument (ntklib/devices.py): parsing, errors, and that every function which builds
networks or kernels takes it and computes the same numbers wherever it is told to run.

CI has no GPU, so three kinds of check stand in for one:
* device="cpu" and device="auto" (which is the CPU here) give results identical to the default, for
  every sweep and constructor that takes `device=` (exact equality: the same seeded draws, the same
  arithmetic);
* an audit of the source: a public function that builds a network must take `device=` (or take
  a model, or an Architecture that carries one);
* a fake CUDA device (torch's FakeTensorMode runs shapes and devices without data): the FC fast
  paths of the empirical NTK and of gradient descent, and the forward passes of the architectures,
  are traced on "cuda:0".  Any tensor that the code leaves on the CPU and mixes with a GPU tensor
  raises there, as it would on a real GPU.  (Data-dependent steps - the NaN check
  of the inputs, .item() - cannot run on fake tensors; the test replaces only the input finiteness
  check, and keeps to code without .item().)
The real-GPU comparison is tests/test_kernels.py::test_cuda_matches_cpu (runs where CUDA exists).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import ntklib as nk
from ntklib import _checks, gan
from ntklib import architectures as archs

X4 = nk.data.sphere(5, 3, seed=1)


# ---- resolve_device ------------------------------------------------------------------------------


def test_resolve_device_forms():
    """None stays None; cpu forms give the CPU; 'auto' is the CPU when CUDA is absent and CUDA when
    present."""
    assert nk.resolve_device(None) is None
    assert nk.resolve_device("cpu") == torch.device("cpu")
    assert nk.resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert nk.resolve_device(" AUTO ").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_auto_picks_cuda_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert nk.resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert nk.resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize(
    "bad, words",
    [
        ("tpu", "accepted"),
        ("gpu", "accepted"),
        (3, "accepted"),
        ("cuda:x", "accepted"),
        ("meta", "accepted"),
    ],
)
def test_resolve_device_rejects_unknown(bad, words):
    with pytest.raises(ValueError, match="device") as err:
        nk.resolve_device(bad)
    assert words in str(err.value) and repr(bad) in str(err.value)


def test_absent_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"torch.cuda.is_available\(\) is False.*'auto'"):
        nk.resolve_device("cuda")
    with pytest.raises(ValueError, match="is_available"):  # the error reaches the caller of a sweep
        nk.limits.fc_ntk_deviation(
            X4, nk.ntk(X4, depth=2), widths=[8], seeds=1, depth=2, device="cuda"
        )


def test_cuda_index_beyond_the_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert nk.resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"2 CUDA device\(s\).*'cuda:0' ... 'cuda:1'"):
        nk.resolve_device("cuda:2")


# ---- the same numbers wherever told to run -------------------------------------------------------


def _same(a, b):
    """Exact equality of nested results (tensors, arrays, dicts, lists, dataclasses, numbers)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.device == b.device and torch.equal(a, b)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
    elif hasattr(a, "__dataclass_fields__"):
        for k in a.__dataclass_fields__:
            _same(getattr(a, k), getattr(b, k))
    else:
        assert a == b or (a != a and b != b)  # NaN == NaN here


X_circ, _ = nk.data.circle(4)
Y_circ = X_circ[:, 0] * X_circ[:, 1]
X_sph = nk.data.sphere(6, 3, seed=2)
ARCH_RES = dict(name="ResNet")

CASES = {
    "ntk": lambda d: nk.ntk(X4, depth=3, activation="tanh", device=d),
    "nngp": lambda d: nk.nngp(X4, depth=3, device=d),
    "kernel_layers": lambda d: nk.kernel_layers(X4, depth=2, device=d).theta,
    "sample_outputs": lambda d: nk.sample_outputs(
        X4, width=16, depth=2, n_samples=50, seed=3, device=d
    ),
    "FCNet": lambda d: nk.empirical_ntk(nk.FCNet(3, 32, 3, seed=4, device=d), X4),
    "normal_parameters": lambda d: list(
        nk.normal_parameters([((3, 2), (3,))], seed=0, device=d)[0]
    ),
    "fc_ntk_deviation": lambda d: nk.limits.fc_ntk_deviation(
        X4, nk.ntk(X4, depth=2), widths=[16, 64], seeds=2, depth=2, device=d
    ),
    "ntk_training_snapshots": lambda d: nk.limits.ntk_training_snapshots(
        X_circ, X_circ, Y_circ, width=32, seeds=2, depth=2, lr=0.5, steps=4, device=d
    ),
    "ode_gap_sweep": lambda d: {
        k: v
        for k, v in nk.convergence.ode_gap_sweep(
            X_circ, Y_circ, X_circ[:2], widths=[16, 32], seeds=1, depth=2, lr=0.5, steps=3, device=d
        ).items()
        if k != "records"
    },
    "empirical_condition_numbers": lambda d: nk.phases.empirical_condition_numbers(
        X_sph, [2, 3], activation="relu", beta=0.1, width=32, n_seeds=1, device=d
    ),
    "training_speed": lambda d: nk.phases.training_speed(
        X_sph,
        X_sph[:, 0],
        {"f": ("normalized(tanh)", 0.5)},
        depth=3,
        width=32,
        rel_target=0.1,
        max_steps=5,
        device=d,
    ),
    "empirical_diagonal_profile": lambda d: nk.phases.empirical_diagonal_profile(
        X_sph, "sqrt2*relu", 0.1, 3, width=32, device=d
    ),
    "empirical_deviation": lambda d: nk.phases.empirical_deviation(
        X_sph,
        {"T": nk.ntk(X_sph, depth=2)},
        widths=[16],
        n_seeds=2,
        depth=2,
        activation="relu",
        beta=0.1,
        norm="layer",
        device=d,
    ),
    "batchnorm_mass": lambda d: nk.phases.batchnorm_mass(
        X_sph, widths=[16], depths=[2], betas=[0.3], device=d
    ),
    "compare_norms": lambda d: nk.phases.compare_norms(
        X_sph,
        X_sph[:, 0],
        width=16,
        depth=3,
        activation="relu",
        beta=0.3,
        steps=3,
        rel_target=0.1,
        device=d,
    ),
    "DeconvGenerator": lambda d: nk.deconv.empirical_pixel_ntk(
        nk.deconv.DeconvGenerator(4, 8, 2, dim=2, seed=0, device=d), nk.data.sphere(2, 4)
    ),
    "deconv_ntk": lambda d: nk.deconv.deconv_ntk(nk.data.sphere(2, 4), depth=2, dim=2, device=d),
    "rnn_ntk": lambda d: archs.rnn_ntk(archs.sequences(3, 4, 2), device=d),
    "resnet_ntk": lambda d: archs.resnet_ntk(X4, device=d),
    "attention_ntk": lambda d: archs.attention_ntk(archs.sequences(3, 4, 2), device=d),
    "batch_kernels": lambda d: (
        archs.batch_kernels(
            archs.sequences(8, 1, 12)[:, 0], depth=3, n_samples=2**8, device=d
        ).theta
    ),
    "batchnorm_ntk": lambda d: archs.batchnorm_ntk(
        archs.sequences(8, 1, 12)[:, 0], depth=3, n_samples=2**8, device=d
    ),
    "architecture sweeps": lambda d: (
        archs.ntk_deviation(
            archs.architecture("Attention", device=d),
            archs.sequences(3, 4, 3),
            [16, 32],
            range(2),
            share_of=("Wq", "Wk"),
            progress=False,
        ),
        archs.parameter_share(
            archs.architecture("RNN", device=d), archs.sequences(3, 4, 3), [16], range(1), ("W",)
        ),
        archs.sgd_vs_kernel(
            archs.architecture("ResNet", device=d),
            X4,
            X4[:, 0],
            None,
            [16],
            range(1),
            lr=0.1,
            batch_size=2,
            steps=2,
            progress=False,
        ),
    ),
    "BatchNorm architecture": lambda d: archs.architecture(
        "BatchNorm MLP", n_samples=2**8, device=d
    ).ntk(archs.sequences(8, 1, 12)[:, 0]),
    "EnsembleMLP + toy GAN": lambda d: gan.train_toy_gan(
        gan.EnsembleMLP(2, 2, 8, 2, n_out=2, seed=0, device=d),
        gan.EnsembleMLP(2, 2, 8, 2, seed=1, device=d),
        steps=2,
        batch=8,
        n_eval=20,
        progress=False,
    ),
    "ImageDiscriminator + DCGAN": lambda d: gan.train_dcgan(
        nk.deconv.DeconvGenerator(8, 8, 3, dim=2, dtype=torch.float32, seed=0, device=d),
        gan.ImageDiscriminator(size=8, width=16, seed=0, device=d),
        gan.digit_images(8)[:32],
        steps=2,
        batch=8,
        n_eval=8,
        n_show=2,
        progress=False,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_device_cpu_and_auto_match_the_default(name):
    """Property: device="cpu" and device="auto" (the CPU here) give exactly the default's result."""
    base = CASES[name](None)
    _same(CASES[name]("cpu"), base)
    if not torch.cuda.is_available():
        _same(CASES[name]("auto"), base)


def test_a_bad_device_is_refused_by_the_sweeps():
    for call in (
        lambda: nk.sample_outputs(X4, width=4, depth=2, n_samples=2, device="gpu"),
        lambda: nk.FCNet(3, 4, 2, device="tpu"),
        lambda: archs.architecture("RNN", device="npu"),
        lambda: nk.phases.training_speed(
            X_sph,
            X_sph[:, 0],
            {"f": ("relu", 0.5)},
            depth=2,
            width=8,
            rel_target=0.1,
            max_steps=2,
            device="cuda:x",
        ),
    ):
        with pytest.raises(ValueError, match="device"):
            call()


def test_every_network_building_function_takes_device():
    """Audit of the public API: a function or class whose source builds a network (FCNet,
    DeconvGenerator, EnsembleMLP, an architecture's network) or samples one (sample_outputs) takes
    `device=`, unless it receives the model or an Architecture (which carries its device)."""
    builders = ("FCNet(", "DeconvGenerator(", "EnsembleMLP(", ".network(", "torch.randn(")
    missing = []
    public = [(name, getattr(nk, name)) for name in nk.__all__]
    for mod in [
        obj for _, obj in public if isinstance(obj, type(nk))
    ]:  # the namespaces: nk.phases, nk.gan, ...
        public += [(name, getattr(mod, name)) for name in getattr(mod, "__all__", [])]
    for name, obj in public:
        if not callable(obj) or isinstance(obj, type(nk)):
            continue
        try:
            src = inspect.getsource(obj.__init__ if inspect.isclass(obj) else obj)
            params = inspect.signature(obj).parameters
        except (TypeError, OSError, ValueError):
            continue
        body = src.split('"""')[-1]  # after the docstring: the code only
        if not any(b in body for b in builders):
            continue
        if "device" in params or {"model", "arch", "gen", "generator"} & set(params):
            continue
        missing.append(name)
    # the data helpers draw small fixed inputs on the CPU (nk.data.sphere, sequences,
    # regression_targets, ...)
    allowed = {"sphere", "sequences", "regression_targets"}
    assert set(missing) <= allowed, (
        f"build networks but take no device=: {sorted(set(missing) - allowed)}"
    )


# ---- functions that receive a model follow it ----------------------------------------------------


def test_train_gd_moves_inputs_to_the_model():
    """numpy / float32 inputs are moved to the model's dtype and device; the record says where it
    ran."""
    net_a, net_b = nk.FCNet(2, 16, 2, seed=0), nk.FCNet(2, 16, 2, seed=0)
    rec_a = nk.train_gd(net_a, X_circ, Y_circ, lr=0.5, steps=3, progress=False, X_test=X_circ[:2])
    rec_b = nk.train_gd(
        net_b,
        X_circ.numpy().astype(np.float32),
        Y_circ.numpy(),
        lr=0.5,
        steps=3,
        progress=False,
        X_test=X_circ[:2].float(),
    )
    _same(rec_b, rec_a)
    moved = rec_a.to("cpu", dtype=torch.float32)
    assert moved.f_train.dtype == torch.float32 and moved.f_test.shape == rec_a.f_test.shape
    with pytest.raises(ValueError, match="NaN"):
        nk.train_gd(net_a, X_circ * float("nan"), Y_circ, lr=0.5, steps=1, progress=False)


# ---- a fake CUDA device --------------------------------------------------------------------------


@pytest.fixture
def fake_cuda(monkeypatch):
    from torch._subclasses.fake_tensor import FakeTensorMode

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(_checks, "_finite_mask", lambda t: np.ones(tuple(t.shape), dtype=bool))
    with FakeTensorMode(allow_non_fake_inputs=True):
        yield torch.device("cuda", 0)


def test_fc_fast_paths_stay_on_the_gpu(fake_cuda):
    """FCNet built on "cuda:0" from CPU inputs: its exact empirical NTK
    (hand-backpropagated features), its low-rank gradient descent, LayerNorm's autograd-free
    forward, all on cuda:0 with no CPU tensor mixed in (FakeTensorMode raises on a device
    mismatch)."""
    X = torch.randn(5, 3, dtype=torch.float64)
    for dtype in (torch.float64, torch.float32):
        net = nk.FCNet(3, 32, 3, activation="tanh", seed=0, dtype=dtype, device="cuda:0")
        assert net.weights[0].device == fake_cuda
        K = nk.empirical_ntk(net, X)
        assert K.device == fake_cuda and K.shape == (5, 5) and K.dtype == dtype
        K2 = nk.empirical_ntk(net, X, X[:2])
        assert K2.device == fake_cuda and K2.shape == (5, 2)
        rec = nk.train_gd(net, X, X[:, 0], lr=0.1, steps=3, X_test=X[:2], progress=False)
        assert (
            rec.f_train.device == fake_cuda
            and rec.f_test.shape == (4, 2)
            and rec.loss.device == fake_cuda
        )
        assert rec.to("cpu").f_train.device.type == "cpu"
    with torch.no_grad():
        out = nk.FCNet(3, 16, 3, norm="layer", seed=0, device="cuda:0")(X)
    assert out.device == fake_cuda


def test_architectures_run_on_the_gpu(fake_cuda):
    """archs.architecture(..., device="cuda:0") builds its networks there and they accept CPU
    inputs."""
    for name in ("ResNet", "Attention", "BatchNorm MLP"):
        arch = archs.architecture(name, device="cuda:0")
        shape = (8, arch.n_steps, arch.n_in) if arch.sequential else (8, arch.n_in)
        net = arch.network(16)
        with torch.no_grad():
            out = net(torch.randn(*shape, dtype=torch.float64))
        assert out.device == fake_cuda and out.shape == (8,)
    G = gan.EnsembleMLP(2, 3, 8, 2, n_out=2, device="cuda:0")
    with torch.no_grad():
        assert G(torch.randn(4, 3)).device == fake_cuda


# ---- the sweeps pass the device on to every network they build -----------------------------------

SWEEPS = [
    "fc_ntk_deviation",
    "ntk_training_snapshots",
    "ode_gap_sweep",
    "empirical_condition_numbers",
    "training_speed",
    "empirical_diagonal_profile",
    "empirical_deviation",
    "batchnorm_mass",
    "compare_norms",
    "FCNet",
    "DeconvGenerator",
    "architecture sweeps",
]


@pytest.mark.parametrize("name", SWEEPS)
def test_sweeps_hand_the_device_to_their_networks(name, monkeypatch):
    """Property: told device="cpu", a sweep builds every network with device cpu
    (not the default None): a sweep that accepted device= and dropped it would build them with None,
    and on a GPU machine train on the CPU.  Spies on the two places parameters are made
    (normal_parameters; the architectures' _TPNet)."""
    from ntklib import architectures, deconv, networks

    seen = []
    real_normal = networks.normal_parameters

    def spy_normal(shapes, seed=None, dtype=torch.float64, device=None, **kw):
        seen.append(device)
        return real_normal(shapes, seed, dtype, device, **kw)

    real_tp = architectures.networks._TPNet.__init__

    def spy_tp(self, parametrization, seed, dtype, device):
        seen.append(device)
        real_tp(self, parametrization, seed, dtype, device)

    monkeypatch.setattr(networks, "normal_parameters", spy_normal)
    monkeypatch.setattr(deconv.generator, "normal_parameters", spy_normal)
    monkeypatch.setattr(architectures.networks._TPNet, "__init__", spy_tp)
    CASES[name]("cpu")
    assert seen, f"{name}: built no network"
    assert all(d is not None and torch.device(d) == torch.device("cpu") for d in seen), (
        f"{name}: networks built with devices {sorted(set(map(str, seen)))}"
    )
