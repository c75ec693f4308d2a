"""Bad input raises ValueError naming the argument, the value received and what is accepted;
degenerate but legal input (zero-norm x) gives finite, correct kernels."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

import ntklib as nk
from conftest import DTYPE, randn

X = np.random.default_rng(0).normal(size=(3, 2))


def _kernel_calls(**kw):
    """Every public entry point that takes depth/activation/beta, with kw overriding
    the defaults."""
    args = dict(depth=2, activation="relu", beta=0.1) | kw
    return [
        lambda: nk.nngp(X, **args),
        lambda: nk.ntk(X, **args),
        lambda: nk.kernel_layers(X, **args),
        lambda: nk.FCNet(2, 8, args["depth"], activation=args["activation"], beta=args["beta"]),
    ]


# ---- beta, depth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [-0.1, 1.5, float("nan"), "0.1", None, True])
def test_beta_outside_unit_interval_raises(beta):
    """Property: beta not a real number in [0, 1] (negative, > 1, NaN, a string, None, a bool)
    raises a ValueError that names beta, repeats the value and states the accepted range."""
    pattern = rf"beta: got {re.escape(repr(beta))}; accepted: a real number in \[0, 1\]"
    for call in _kernel_calls(beta=beta) + [lambda: nk.r_value("relu", beta)]:
        with pytest.raises(ValueError, match=pattern):
            call()


@pytest.mark.parametrize("depth", [0, -1, 2.5, "3", True])
def test_depth_below_one_or_not_an_integer_raises(depth):
    """Property: depth must be an integer >= 1 (weight layers; 1 is the linear model)."""
    pattern = rf"depth: got {re.escape(repr(depth))}; accepted: an integer >= 1"
    for call in _kernel_calls(depth=depth):
        with pytest.raises(ValueError, match=pattern):
            call()


def test_edge_values_of_beta_and_depth_are_accepted():
    """Property: the closed ends beta = 0, beta = 1 and depth = 1 are legal; numpy scalars are
    accepted.  beta = 1 makes every layer's kernel the constant beta^2 = 1 (pure bias network):
    checked exactly."""
    K = nk.ntk(X, depth=3, activation="tanh", beta=1.0)
    torch.testing.assert_close(
        nk.nngp(X, depth=3, activation="tanh", beta=1.0),
        torch.ones(3, 3, dtype=DTYPE),
        rtol=0,
        atol=1e-15,
    )
    torch.testing.assert_close(K, torch.ones(3, 3, dtype=DTYPE), rtol=0, atol=1e-15)  # SigmaDot = 0
    assert nk.ntk(X, depth=np.int64(1), beta=np.float64(0.0)).shape == (3, 3)


# ---- X and Y -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [X[0], X[None], np.zeros((0, 2))], ids=["1-D", "3-D", "empty"])
def test_inputs_must_be_nonempty_2d(bad):
    """Property: X (or Y) that is not a non-empty 2-D array raises, naming the argument and
    the shape."""
    shape = re.escape(str(tuple(np.shape(bad))))
    for fn in (nk.nngp, nk.ntk):
        with pytest.raises(
            ValueError, match=rf"X: got .*shape {shape}; accepted: .*shape \(N, n_0\)"
        ):
            fn(bad, depth=2)
        with pytest.raises(
            ValueError, match=rf"Y: got .*shape {shape}; accepted: .*shape \(N, n_0\)"
        ):
            fn(X, bad, depth=2)
    with pytest.raises(ValueError, match=rf"X: got .*shape {shape}; accepted"):
        nk.empirical_ntk(nk.FCNet(2, 4, 2, seed=0), bad)


def test_x_and_y_column_counts_must_agree():
    """Property: Y with a different input dimension raises, naming both column counts."""
    for fn in (nk.nngp, nk.ntk):
        with pytest.raises(
            ValueError, match=r"Y: has 1 columns but X has 2; accepted: the same input dimension"
        ):
            fn(X, X[:, :1], depth=2)
    with pytest.raises(ValueError, match=r"Y: has 3 columns but X has 2"):
        nk.empirical_ntk(nk.FCNet(2, 4, 2, seed=0), X, np.ones((2, 3)))


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_raise(bad_value):
    """Property: NaN or inf in X or Y raises, naming the argument and the first bad position."""
    B = X.copy()
    B[1, 0] = bad_value
    for fn in (nk.nngp, nk.ntk):
        with pytest.raises(
            ValueError,
            match=r"X: contains NaN or inf \(first at row 1, column 0\); accepted: finite",
        ):
            fn(B, depth=2)
        with pytest.raises(
            ValueError,
            match=r"Y: contains NaN or inf \(first at row 1, column 0\); accepted: finite",
        ):
            fn(X, B, depth=2)
    net = nk.FCNet(2, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"X: contains NaN or inf"):
        nk.empirical_ntk(net, B)
    with pytest.raises(ValueError, match=r"Y: contains NaN or inf"):
        nk.empirical_ntk(net, X, torch.from_numpy(B))


def test_non_numeric_input_raises():
    """Property: strings in X raise a ValueError naming X (not a numpy/torch TypeError)."""
    with pytest.raises(ValueError, match=r"X: could not read list as a numeric array"):
        nk.ntk([["a", "b"]], depth=2)


# ---- activations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["relux", "ReLU6", ""])
def test_unknown_activation_name_raises(name):
    """Property: an unknown name raises, repeating the name and listing the accepted names."""
    pattern = (
        rf"activation: unknown name {re.escape(repr(name))}; accepted names are .*'relu'.*'tanh'"
    )
    for call in _kernel_calls(activation=name) + [
        lambda: nk.normalized(name),
        lambda: nk.r_value(name, 0.1),
        lambda: nk.scaled(name, 2.0),
        lambda: nk.get_activation(name),
    ]:
        with pytest.raises(ValueError, match=pattern):
            call()


def test_names_are_case_insensitive_with_aliases():
    """Property: "ReLU" is relu and "linear" is identity (documented aliases): identical kernels."""
    torch.testing.assert_close(
        nk.ntk(X, depth=3, activation="ReLU"), nk.ntk(X, depth=3, activation="relu"), rtol=0, atol=0
    )
    torch.testing.assert_close(
        nk.ntk(X, depth=3, activation="linear"),
        nk.ntk(X, depth=3, activation="identity"),
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize(
    "fn,got",
    [
        (lambda x: x.numpy(), "ndarray"),
        (lambda x: 1.0, "float"),
        (lambda x: x.sum(), r"Tensor torch.Size\(\[\]\)"),
    ],
    ids=["numpy", "float", "wrong_shape"],
)
def test_callable_activation_must_return_a_tensor_of_the_input_shape(fn, got):
    """Property: a callable whose output is not a tensor of the input's shape raises, saying what it
    got."""
    pattern = (
        rf"activation: the callable .* must return a torch tensor of the input's shape, got {got}"
    )
    for call in _kernel_calls(activation=fn):
        with pytest.raises(ValueError, match=pattern):
            call()


def test_failing_callable_or_non_callable_activation_raises():
    """Property: a callable that raises on a float64 tensor, or an object that is neither a name nor
    a callable, gives a ValueError naming activation (the original error is chained, not
    swallowed)."""

    def broken(x):
        raise RuntimeError("boom")

    with pytest.raises(
        ValueError, match=r"activation: the callable .* failed on a float64 torch tensor \(boom\)"
    ):
        nk.ntk(X, depth=2, activation=broken)
    with pytest.raises(ValueError, match=r"activation: got 3 of type int; accepted: a name"):
        nk.ntk(X, depth=2, activation=3)


# ---- FCNet and empirical_ntk ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "width,pattern",
    [
        (0, r"width: got 0; accepted: an integer >= 1"),
        (-3, r"width: got -3; accepted: an integer >= 1"),
        (2.5, r"width: got 2.5; accepted: an integer >= 1"),
        (
            [8],
            (
                r"width: got 1 hidden widths for depth=3; "
                r"accepted: an int, or a list of depth - 1 = 2 ints"
            ),
        ),
        ([8, 0], r"width: got 0; accepted: an integer >= 1"),
    ],
)
def test_fcnet_bad_width_raises(width, pattern):
    """Property: FCNet rejects widths that are not positive integers or lists
    of depth - 1 of them."""
    with pytest.raises(ValueError, match=pattern):
        nk.FCNet(2, width, 3)


@pytest.mark.parametrize("norm", ["group", "Layer", "", 1])
def test_fcnet_bad_norm_raises(norm):
    """Property: norm must be None, 'layer' or 'batch' (exact spelling)."""
    with pytest.raises(
        ValueError, match=rf"norm: got {re.escape(repr(norm))}; accepted: None, 'layer' or 'batch'"
    ):
        nk.FCNet(2, 8, 3, norm=norm)


@pytest.mark.parametrize("n_in", [0, -2, 2.5])
def test_fcnet_bad_n_in_raises(n_in):
    """Property: n_in (and n_out) must be integers >= 1."""
    with pytest.raises(
        ValueError, match=rf"n_in: got {re.escape(repr(n_in))}; accepted: an integer >= 1"
    ):
        nk.FCNet(n_in, 8, 3)
    with pytest.raises(
        ValueError, match=rf"n_out: got {re.escape(repr(n_in))}; accepted: an integer >= 1"
    ):
        nk.FCNet(2, 8, 3, n_out=n_in)


def test_fcnet_wrong_input_dimension_raises():
    """Property: feeding FCNet an input of the wrong dimension names X, its shape and the expected
    one."""
    net = nk.FCNet(2, 8, 3, seed=0)
    with pytest.raises(
        ValueError, match=r"X: got shape \(4, 3\); accepted: shape \(N, n_in\) = \(N, 2\)"
    ):
        net(torch.zeros(4, 3, dtype=DTYPE))
    with pytest.raises(ValueError, match=r"X: got shape \(4, 3\)"):
        nk.empirical_ntk(net, np.zeros((4, 3)))


@pytest.mark.parametrize(
    "model",
    [lambda: nk.FCNet(2, 8, 2, n_out=3, seed=0), lambda: nn.Linear(2, 3).to(DTYPE)],
    ids=["fcnet_n_out_3", "linear_2_to_3"],
)
def test_empirical_ntk_of_vector_outputs_has_an_output_pair_axis(model):
    """Property: empirical_ntk on a model with O = 3 outputs returns (N, M, O, O), its trace
    (N, M) and its diagonal (N, M, O); a model returning no row per input raises, naming the
    shape it returned and the accepted shapes."""
    m = model()
    assert nk.empirical_ntk(m, X).shape == (len(X), len(X), 3, 3)
    assert nk.empirical_ntk(m, X, trace=True).shape == (len(X), len(X))
    assert nk.empirical_ntk(m, X, diagonal=True).shape == (len(X), len(X), 3)

    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 1).to(DTYPE)

        def forward(self, x):
            return self.lin(x).sum()

    with pytest.raises(
        ValueError,
        match=r"model: returned shape \(\) for \d+ inputs; accepted: one "
        r"output row per input",
    ):
        nk.empirical_ntk(Pooled(), X)


def test_empirical_ntk_rejects_non_modules_and_parameterless_modules():
    """Property: model must be a torch.nn.Module with parameters."""
    with pytest.raises(ValueError, match=r"model: got function; accepted: a torch.nn.Module"):
        nk.empirical_ntk(lambda x: x.sum(1), X)
    with pytest.raises(ValueError, match=r"model: has no parameters"):
        nk.empirical_ntk(nn.Identity(), X)


def test_batchnorm_needs_at_least_two_inputs():
    """Property: norm="batch" standardises over the batch, so a single input raises
    (forward and NTK)."""
    net = nk.FCNet(2, 8, 2, norm="batch", seed=0)
    with pytest.raises(
        ValueError,
        match=r"X: got 1 input; norm='batch' standardises over the batch, accepted: at least 2",
    ):
        nk.empirical_ntk(net, X[:1])
    with pytest.raises(ValueError, match=r"X: got 1 input; norm='batch' .*at least 2 inputs"):
        net(torch.zeros(1, 2, dtype=DTYPE))


def test_batchnorm_fcnet_refuses_per_sample_ntk():
    """Property: the per-sample NTK of a batch-coupled FCNet is not defined; asking for it
    raises."""
    net = nk.FCNet(2, 8, 2, norm="batch", seed=0)
    with pytest.raises(ValueError, match=r"batch_coupled: got False .*accepted: None or True"):
        nk.empirical_ntk(net, X[:3], batch_coupled=False)


# ---- zero-norm inputs ----------------------------------------------------------------------------

ZERO_ACTS = [
    ("relu", "relu"),
    ("erf", "erf"),
    ("tanh", "tanh"),
    ("identity", "identity"),
    ("gelu", "gelu"),
    ("normalized_relu", nk.normalized("relu")),
    ("sqrt2_relu", nk.scaled("relu", 2**0.5)),
    ("callable", lambda x: torch.tanh(x) + 0.1 * x),
]


def _with_zero_row():
    Z = randn(4, 3, seed=50)
    Z[0] = 0.0
    return Z


@pytest.mark.parametrize("act", [a for _, a in ZERO_ACTS], ids=[n for n, _ in ZERO_ACTS])
@pytest.mark.parametrize("beta", [0.0, 0.1])
def test_zero_norm_input_gives_finite_continuous_kernels(act, beta):
    """Property: an input x = 0 gives finite nngp/ntk (no 0/0 in the correlation), with and
    without Y, depths 1..4, and the value is the limit of x = eps * u as eps -> 0.  Tolerance 1e-4
    at eps = 1e-6: the kernels are Lipschitz in x near 0 with constants << 100 here (measured change
    ~4e-7 at eps = 1e-7), while a wrong convention at 0 would be off by O(0.1).  Depths 1, 2 and 4:
    the input layer alone, one nonlinear layer, and a layer fed by another's zero-input variance."""
    Z = _with_zero_row()
    Ze = Z.clone()
    Ze[0] = 1e-6 * torch.tensor([0.6, -0.8, 0.0], dtype=DTYPE)
    for depth in (1, 2, 4):
        for fn in (nk.nngp, nk.ntk):
            for args, args_e in [((Z,), (Ze,)), ((Z[:1], Z), (Ze[:1], Ze))]:
                K = fn(*args, depth=depth, activation=act, beta=beta)
                assert torch.isfinite(K).all(), (fn.__name__, depth)
                torch.testing.assert_close(
                    K, fn(*args_e, depth=depth, activation=act, beta=beta), rtol=0, atol=1e-4
                )


@pytest.mark.parametrize("act", ["relu", "erf", "tanh", "identity"])
def test_zero_input_kernels_vanish_without_bias(act):
    """Property: with beta = 0 and sigma(0) = 0, the pre-activations of x = 0 are exactly 0 at every
    layer, so every kernel entry involving x = 0 is exactly 0 (tolerance 1e-15, i.e. exact)."""
    Z = _with_zero_row()
    for depth in range(1, 5):
        for fn in (nk.nngp, nk.ntk):
            K = fn(Z, depth=depth, activation=act, beta=0.0)
            torch.testing.assert_close(K[0], torch.zeros(4, dtype=DTYPE), rtol=0, atol=1e-15)
            torch.testing.assert_close(K[:, 0], torch.zeros(4, dtype=DTYPE), rtol=0, atol=1e-15)


def test_zero_input_normalized_relu_value():
    """Property: for sigma_bar = normalized relu, beta = 0, x = 0: Sigma^(1)(0, 0) = 0, so u = 0 and
    Sigma^(2)(0, 0) = sigma_bar(0)^2 = (E relu / sd relu)^2 = (1/(2 pi)) / (1/2 - 1/(2 pi)) =
    1/(pi - 1).  Tolerance 1e-12 (closed form)."""
    K = nk.nngp(np.zeros((1, 3)), depth=2, activation=nk.normalized("relu"), beta=0.0)
    assert float(K[0, 0]) == pytest.approx(1.0 / (math.pi - 1.0), abs=1e-12)


def test_an_overflow_in_the_dtype_cast_is_caught():
    """1e300 is finite in float64 and inf in float32: the check runs after the cast, so float32
    kernels refuse it instead of returning NaN."""
    X = torch.tensor([[1e300, 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert torch.isfinite(nk.nngp(X / 1e300, depth=2, dtype=torch.float32)).all()
    with pytest.raises(ValueError, match="NaN or inf"):
        nk.ntk(X, depth=2, dtype=torch.float32)


# ---- issue 20: the reproducers -------------------------------------------------------------------


def test_numpy_and_torch_scalars_are_numbers_and_device_strings_any_case():
    """Property: depth=torch.tensor(3), beta=torch.tensor(0.1), np.float32 lr, device="CPU" are the
    same calls as with Python numbers and "cpu" (results equal to the last ulp of the beta cast)."""
    ref = nk.ntk(X, depth=3, beta=0.1)
    got = nk.ntk(
        X, depth=torch.tensor(3), beta=torch.tensor(0.1, dtype=torch.float64), device="CPU"
    )
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    rec = nk.train_gd(
        nk.FCNet(2, 8, 2, seed=0), X, X[:, 0], lr=np.float32(0.5), steps=2, progress=False
    )
    assert rec.lr == float(np.float32(0.5))


def test_huge_inputs_are_refused_by_name_not_nan():
    """||x||^2/n_0 = 1e320 overflows float64 (it gave NaN kernels): refused, naming X and the bound;
    1e-170 (squares underflow to the zero-norm path) and ||x||^2/n_0 ~ 1e98 give finite kernels."""
    huge = r"X: row \d+ has \|\|x\|\|\^2/n_0 = 10\^\d+\.\d.*accepted"
    for scale in (1e160, 1e60):
        with pytest.raises(ValueError, match=huge):
            nk.ntk(X * scale, depth=2)
    with pytest.raises(ValueError, match=r"Y: row"):
        nk.nngp(X, X * 1e160, depth=2)
    for scale in (1e-170, 1e49):
        assert torch.isfinite(nk.ntk(X * scale, depth=3)).all()


def test_integer_or_complex_dtype_and_complex_inputs_are_refused():
    """dtype=torch.int64 gave int64 zeros (nngp) or a raw cast error; complex input lost its
    imaginary part."""
    for fn in (nk.ntk, nk.nngp, nk.kernel_layers):
        for dtype in (torch.int64, torch.complex128):
            with pytest.raises(
                ValueError, match=r"dtype: got torch\.\w+; accepted: a torch floating"
            ):
                fn(X, depth=2, dtype=dtype)
        with pytest.raises(ValueError, match=r"X: could not read .*complex"):
            fn(X + 1j, depth=2)


def test_activation_callables_undefined_on_r_and_nan_factors_are_refused():
    """torch.log gave NaN kernels and r_value 21.22 (true: infinite); scaled(relu, nan) was
    accepted."""
    for call in (
        lambda: nk.ntk(X, depth=2, activation=torch.log),
        lambda: nk.r_value(torch.log, 0.1),
        lambda: nk.normalized(torch.sqrt),
    ):
        with pytest.raises(ValueError, match=r"activation: \w+ is not finite at z = -\d+"):
            call()
    with pytest.raises(ValueError, match=r"factor: got nan; accepted: a finite real number"):
        nk.scaled("relu", float("nan"))


@pytest.mark.parametrize(
    "kw, pattern",
    [
        ({"lr": float("inf")}, r"lr: got inf; accepted: a finite number > 0"),
        ({"lr": True}, r"lr: got True"),
        ({"steps": True}, r"steps: got True; accepted: an integer >= 0"),
        ({"record_steps": []}, r"record_steps: is empty"),
        (
            {"record_steps": [0, 5]},
            r"record_steps: got \[0, 5\]; accepted: integer indices in 0\.\.3",
        ),
        ({"Y": [1.0, np.nan, 0.0]}, r"Y: contains NaN or inf"),
        ({"X": np.ones((3, 3))}, r"X: got shape \(3, 3\); accepted: shape \(N, n_in\) = \(N, 2\)"),
    ],
)
def test_train_gd_refuses_bad_arguments_before_training(kw, pattern):
    """Each refused before any step (the network is unchanged), on both the low-rank and autograd
    paths."""
    for method in ("lowrank", "autograd"):
        net = nk.FCNet(2, 8, 2, seed=0)
        before = [p.clone() for p in net.parameters()]
        args = dict(X=X, Y=X[:, 0], lr=0.1, steps=3, method=method, progress=False) | kw
        with pytest.raises(ValueError, match=pattern):
            nk.train_gd(net, **args)
        assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_fcnet_takes_float32_tensors_like_empirical_ntk():
    """A float32 tensor into a float64 FCNet is converted (it raised a raw dtype error)."""
    net = nk.FCNet(2, 8, 2, seed=0)
    x = torch.as_tensor(X)
    torch.testing.assert_close(net(x.float()), net(x.float().double()), rtol=0, atol=0)


def test_empirical_ntk_chunk_and_budget_options():
    """chunk_size=-1 once returned uninitialised memory; memory_budget=1 byte is legal (chunks of 1)
    and equals the one-chunk result to rounding (J J^T of a linear model: (x.y + 1), exactly)."""
    lin = nn.Linear(2, 1).double()
    with pytest.raises(ValueError, match=r"chunk_size: got -1; accepted: an integer >= 1"):
        nk.empirical_ntk(lin, X, chunk_size=-1, memory_budget=1)
    K = nk.empirical_ntk(lin, X, memory_budget=1)
    torch.testing.assert_close(K, torch.as_tensor(X @ X.T + 1.0), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"X: the model failed on inputs of shape \(1, 3\)"):
        nk.empirical_ntk(lin, np.ones((2, 3)))


def test_indices_do_not_wrap_and_kernels_are_not_silently_symmetrised():
    """ntk_pca(k=-1), kernel_gd(batches=[[-1]]), condition_number([1, -1e-3]) = -1000,
    narrow_valley(modes=(0, 17)) with N = 3, ntk_flow of a non-symmetric kernel or at t < 0."""
    K = nk.ntk(X, depth=2)
    cases = [
        (lambda: nk.ntk_pca(K, k=-1), r"k: got -1; accepted: an integer >= 1"),
        (lambda: nk.ntk_pca(K, k=4), r"k: got 4; accepted: an integer in 1\.\.N = 1\.\.3"),
        (
            lambda: nk.kernel_gd(K, np.zeros(3), np.ones(2), [0, 1], lr=0.1, batches=[[-1]]),
            r"batches\[0\]: got \[-1\]; accepted: integer indices in 0\.\.1",
        ),
        (
            lambda: nk.kernel_gd(K, np.zeros(3), np.ones(2), [0, 3], lr=0.1, batches=[[0]]),
            r"train_idx: got \[0, 3\]",
        ),
        (lambda: nk.condition_number([1.0, -1e-3]), r"lam: has min -0\.001; accepted"),
        (
            lambda: nk.ntk_flow(
                K + torch.triu(torch.ones(3, 3), 1), np.zeros(3), np.ones(3), [1.0]
            ),
            r"theta_XX: is not symmetric",
        ),
        (lambda: nk.ntk_flow(K, np.zeros(3), np.ones(3), [-100.0]), r"times: got \[-100\.0\]"),
        (
            lambda: nk.convergence.narrow_valley(
                nk.FCNet(2, 8, 2, seed=0), X, X[:, 0], modes=(0, 17)
            ),
            r"modes: got \(0, 17\); accepted: two eigenvector indices in -N\.\.N-1 = -3\.\.2",
        ),
    ]
    for call, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            call()
