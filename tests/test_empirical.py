"""Empirical NTK: fast FCNet path, generic Jacobian path, chunking, hand-written autograd,
BatchNorm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ntklib as nk
from conftest import DTYPE, NTKDense, autograd_ntk, randn

ACTS = [
    ("relu", "relu"),
    ("erf", "erf"),
    ("tanh", "tanh"),
    ("normalized_relu", nk.normalized("relu")),
    ("callable_sin", lambda x: torch.sin(x)),
]


# ---- three ways to the same matrix ---------------------------------------------------------------


@pytest.mark.parametrize("act", [a for _, a in ACTS], ids=[n for n, _ in ACTS])
@pytest.mark.parametrize("norm", [None, "layer"])
@pytest.mark.parametrize("beta", [0.0, 0.3])
def test_fast_path_equals_jacobian_contraction(act, norm, beta):
    """Property: the layer-structure formula for FCNet (no Jacobian formed) equals the generic
    per-sample Jacobian contraction (empirical_ntk(fast=False) and jacobian_contraction_ntk), with
    and without Y, depths 1..4.  Tolerance 1e-10 in float64 (the same sums in another order; entries
    are O(1-10); measured agreement ~1e-15 relative)."""
    X = randn(5, 3, seed=31)
    Y = randn(3, 3, seed=32)
    for depth in range(1, 5):
        net = nk.FCNet(3, 7, depth, activation=act, beta=beta, norm=norm, seed=depth)
        for YY in (None, Y):
            fast = nk.empirical_ntk(net, X, YY)
            torch.testing.assert_close(
                fast, nk.empirical_ntk(net, X, YY, fast=False), rtol=1e-10, atol=1e-10
            )
            torch.testing.assert_close(
                fast, nk.jacobian_contraction_ntk(net, X, YY), rtol=1e-10, atol=1e-10
            )
            assert fast.shape == (5, 5 if YY is None else 3) and fast.dtype == DTYPE


@pytest.mark.parametrize("norm", [None, "layer"])
def test_empirical_ntk_matches_hand_written_autograd_loop(norm):
    """Property: on a tiny FCNet, all three paths equal J J^T built row by row from
    torch.autograd.grad of each scalar output w.r.t. every parameter (independent of torch.func and
    of the layer formula).  Tolerance 1e-12 (a handful of parameters, plain float64 sums)."""
    X = randn(4, 2, seed=33)
    Y = randn(2, 2, seed=34)
    net = nk.FCNet(2, [5, 4], 3, activation="tanh", beta=0.3, norm=norm, seed=3)
    for YY in (None, Y):
        ref = autograd_ntk(net, X, YY)
        for got in (
            nk.empirical_ntk(net, X, YY),
            nk.empirical_ntk(net, X, YY, fast=False),
            nk.jacobian_contraction_ntk(net, X, YY),
        ):
            torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)


def _sequential(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1)
    ).to(DTYPE)


def test_non_fcnet_module():
    """Property: a plain torch.nn.Sequential (outputs (N, 1)) and the same network returning shape
    (N,) get the NTK of the hand-written autograd loop, with and without Y.  Tolerance 1e-12."""
    X = randn(5, 3, seed=35)
    Y = randn(2, 3, seed=36)
    model = _sequential()
    flat = nn.Sequential(*model, nn.Flatten(0))
    for YY in (None, Y):
        ref = autograd_ntk(model, X, YY)
        torch.testing.assert_close(nk.empirical_ntk(model, X, YY), ref, rtol=0, atol=1e-12)
        torch.testing.assert_close(
            nk.jacobian_contraction_ntk(model, X, YY), ref, rtol=0, atol=1e-12
        )
        torch.testing.assert_close(nk.empirical_ntk(flat, X, YY), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "chunk_size,memory_budget", [(1, 2**30), (2, 2**30), (3, 2**30), (None, 1), (2, 1)]
)
def test_chunked_contraction_equals_unchunked(chunk_size, memory_budget):
    """Property: chunking the generic path (tiny chunk_size, and a 1-byte memory_budget that forces
    the recompute-the-right-hand-side branch) gives the unchunked matrix, for N not a multiple
    of the chunk, with and without Y, per-sample and batch-coupled models.  Tolerance 1e-12 (the
    same dot products, grouped differently)."""
    X = randn(7, 3, seed=37)
    Y = randn(4, 3, seed=38)
    kw = dict(chunk_size=chunk_size, memory_budget=memory_budget)
    model = _sequential(1)
    net = nk.FCNet(3, 6, 3, activation="tanh", beta=0.3, seed=5)
    bn = nk.FCNet(3, 6, 3, activation="tanh", beta=0.3, norm="batch", seed=5)
    for YY in (None, Y):
        torch.testing.assert_close(
            nk.empirical_ntk(model, X, YY, **kw),
            nk.jacobian_contraction_ntk(model, X, YY),
            rtol=0,
            atol=1e-12,
        )
        torch.testing.assert_close(
            nk.empirical_ntk(net, X, YY, fast=False, **kw),
            nk.empirical_ntk(net, X, YY),
            rtol=0,
            atol=1e-12,
        )
        torch.testing.assert_close(
            nk.empirical_ntk(bn, X, YY, **kw), nk.empirical_ntk(bn, X, YY), rtol=0, atol=1e-12
        )


@pytest.mark.parametrize(
    "model_name", ["fcnet_relu", "fcnet_layernorm", "fcnet_batchnorm", "sequential"]
)
def test_empirical_ntk_is_symmetric_psd(model_name):
    """Property: with Y = None the empirical NTK is a Gram matrix J J^T: symmetric and positive
    semi-definite.  Tolerance: symmetry 1e-12; eigenvalues >= -1e-10 * largest (rounding of a
    12 x 12 Gram matrix; a sign error in one layer's term would give eigenvalues of order -1)."""
    X = randn(12, 3, seed=39)
    model = {
        "fcnet_relu": lambda: nk.FCNet(3, 32, 3, activation="relu", beta=0.2, seed=1),
        "fcnet_layernorm": lambda: nk.FCNet(
            3, 32, 3, activation="erf", beta=0.2, norm="layer", seed=1
        ),
        "fcnet_batchnorm": lambda: nk.FCNet(
            3, 32, 3, activation="tanh", beta=0.2, norm="batch", seed=1
        ),
        "sequential": lambda: _sequential(2),
    }[model_name]()
    K = nk.empirical_ntk(model, X)
    torch.testing.assert_close(K, K.T, rtol=0, atol=1e-12)
    eig = torch.linalg.eigvalsh(K)
    assert eig.min() >= -1e-10 * eig.max(), eig


# ---- BatchNorm: the batch-output NTK and the constant-mode identity ------------------------------


def test_batch_coupled_fcnet_matches_autograd_over_the_batch_output():
    """Property: for FCNet(norm="batch") the empirical NTK is the NTK of the batch output F(X) in
    R^N, i.e. J_F J_F^T with rows torch.autograd.grad(F(X)_i, params); with Y it is the (X, Y) block
    of the joint batch [X; Y].  Tolerance 1e-12."""
    X = randn(5, 3, seed=40)
    Y = randn(3, 3, seed=41)
    net = nk.FCNet(3, [6, 5], 3, activation="tanh", beta=0.4, norm="batch", seed=7)
    assert nk.couples_batch(net)
    torch.testing.assert_close(
        nk.empirical_ntk(net, X), autograd_ntk(net, X, batch=True), rtol=0, atol=1e-12
    )
    torch.testing.assert_close(
        nk.empirical_ntk(net, X, Y), autograd_ntk(net, X, Y, batch=True), rtol=0, atol=1e-12
    )
    joint = nk.empirical_ntk(net, torch.cat([X, Y]))
    torch.testing.assert_close(nk.empirical_ntk(net, X, Y), joint[:5, 5:], rtol=0, atol=1e-12)


@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("beta", [0.0, 0.3, 0.8])
def test_batchnorm_fcnet_constant_mode_identity(act, beta):
    """Property (Jacot et al. 2019b, §4): with BatchNorm after the last nonlinearity the hidden
    features have zero batch mean, so sum_i f(x_i) = N beta b^(L) and
    (1/N^2) sum_ij Theta(x_i, x_j) = beta^2 exactly, at every width.  Widths 3..64, depths 2..4.
    Tolerance 1e-10 (exact identity; rounding of O(N^2) terms of size O(10))."""
    X = randn(6, 3, seed=42)
    for width, depth in [(3, 2), (16, 3), (64, 4)]:
        net = nk.FCNet(3, width, depth, activation=act, beta=beta, norm="batch", seed=width)
        K = nk.empirical_ntk(net, X)
        assert float(K.mean()) == pytest.approx(beta**2, abs=1e-10)
        assert float(K.diagonal().mean()) > beta**2 + 0.05  # K itself is far from constant


def _bn_sequential(beta, seed=0):
    """NTK-parametrised dense -> tanh -> BatchNorm1d(affine=False) -> dense, in training mode."""
    return nn.Sequential(
        NTKDense(3, 16, beta, seed),
        nn.Tanh(),
        nn.BatchNorm1d(16, affine=False).to(DTYPE),
        NTKDense(16, 1, beta, seed + 1),
    ).train()


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.8])
def test_batchnorm_sequential_constant_mode_identity(beta):
    """Property: the same identity for a torch.nn.Sequential with nn.BatchNorm1d(affine=False) in
    training mode after the last nonlinearity, coupling detected automatically (no batch_coupled=):
    (1/N^2) sum_ij Theta = beta^2, and the matrix equals the autograd batch-output NTK.
    With a plain nn.Linear head (bias coefficient 1) the identity reads (1/N^2) sum_ij Theta = 1.
    Tolerance 1e-10 (exact identity)."""
    X = randn(6, 3, seed=43)
    model = _bn_sequential(beta)
    assert nk.couples_batch(model)
    K = nk.empirical_ntk(model, X)
    assert float(K.mean()) == pytest.approx(beta**2, abs=1e-10)
    torch.testing.assert_close(K, autograd_ntk(model, X, batch=True), rtol=0, atol=1e-12)
    torch.manual_seed(0)
    plain = (
        nn.Sequential(
            nn.Linear(3, 16), nn.ReLU(), nn.BatchNorm1d(16, affine=False), nn.Linear(16, 1)
        )
        .to(DTYPE)
        .train()
    )
    assert float(nk.empirical_ntk(plain, X).mean()) == pytest.approx(1.0, abs=1e-10)


def test_batch_coupling_matters():
    """Property: ignoring the coupling breaks the identity.  The same BatchNorm network in eval
    mode, with running statistics set to this batch's own mean and (biased) variance, computes
    exactly the same outputs on X, yet each output then depends on its own input only, and its
    per-sample NTK does NOT satisfy (1/N^2) sum_ij Theta = beta^2 (it misses it by > 0.05), while
    the batch-output NTK of the training-mode network (hand-written autograd) does, to 1e-10."""
    beta = 0.3
    X = randn(6, 3, seed=44)
    model = _bn_sequential(beta, seed=4)
    with torch.no_grad():
        hidden = model[1](model[0](X))
        out_train = model(X)
    coupled = autograd_ntk(model, X, batch=True)
    assert float(coupled.mean()) == pytest.approx(beta**2, abs=1e-10)
    bn = model[2]
    with torch.no_grad():
        bn.running_mean.copy_(hidden.mean(0))
        bn.running_var.copy_(hidden.var(0, unbiased=False))
    model.eval()
    assert not nk.couples_batch(model)
    with torch.no_grad():
        torch.testing.assert_close(model(X), out_train, rtol=0, atol=1e-12)
    per_sample = nk.empirical_ntk(model, X)
    torch.testing.assert_close(per_sample, autograd_ntk(model, X), rtol=0, atol=1e-12)
    assert abs(float(per_sample.mean()) - beta**2) > 0.05


def test_empirical_ntk_leaves_the_model_unchanged():
    """Property: computing an NTK does not change the model: parameters, BatchNorm running
    statistics, num_batches_tracked, track_running_stats and training flags are all as before
    (exact equality), for the batch-coupled path, the per-sample path (eval mode) and FCNet."""
    X = randn(6, 3, seed=45)
    model = _bn_sequential(0.3, seed=6)
    with torch.no_grad():
        model(X)  # non-trivial running statistics
    for mode in ("train", "eval"):
        model.train(mode == "train")
        before = {k: v.clone() for k, v in model.state_dict().items()}
        flags = [(m.training, getattr(m, "track_running_stats", None)) for m in model.modules()]
        nk.empirical_ntk(model, X)
        nk.empirical_ntk(model, X, randn(2, 3, seed=46))
        after = model.state_dict()
        for k, v in before.items():
            assert torch.equal(after[k], v), f"{mode}: {k} changed"
        assert flags == [
            (m.training, getattr(m, "track_running_stats", None)) for m in model.modules()
        ]
    net = nk.FCNet(3, 8, 3, activation="tanh", norm="batch", seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    nk.empirical_ntk(net, X)
    nk.empirical_ntk(net, X, fast=False, batch_coupled=True)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_fcnet_norms_standardise_hidden_features(norm):
    """Property: with norm="layer" every hidden layer's input a^(l) (l >= 1) has mean 0 and mean
    square 1 over its neurons, for each sample; with norm="batch" over the batch, for each neuron
    (CONVENTIONS.md §1, no affine parameters).  Tolerance 1e-9 (the 1e-12 epsilon in the denominator
    and rounding)."""
    X = randn(7, 3, seed=47)
    net = nk.FCNet(3, [9, 6], 3, activation="relu", beta=0.2, norm=norm, seed=8)
    inputs, _ = net.layers(X)
    dim = -1 if norm == "layer" else 0
    for a in inputs[1:]:
        a = a.detach()
        torch.testing.assert_close(a.mean(dim), torch.zeros_like(a.mean(dim)), rtol=0, atol=1e-9)
        torch.testing.assert_close(
            (a * a).mean(dim), torch.ones_like(a.mean(dim)), rtol=0, atol=1e-9
        )


# ---- several outputs: (N, M, O, O), trace and diagonal; Jacobian contraction and NTK-vector
# products


def _jacrev_einsum(model, X, Y=None, batch=False):
    """The reference: J by torch.func.jacrev (per input, or of the whole batch output when batch),
    contracted with einsum to Theta[n, m, o, o'] = sum_p J[n, o, p] J[m, o', p]."""
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}

    def f(p, x):
        return functional_call(model, (p, buffers), (x,))

    if batch:
        Z = X if Y is None else torch.cat([X, Y])
        jac = jacrev(lambda p: f(p, Z).reshape(len(Z), -1))(params)
        J = torch.cat([j.reshape(len(Z), j.shape[1], -1) for j in jac.values()], 2)
        K = torch.einsum("nop,mqp->nmoq", J, J)
        return K if Y is None else K[: len(X), len(X) :]
    jac = vmap(jacrev(lambda p, x: f(p, x[None]).reshape(-1)), in_dims=(None, 0))
    jx = jac(params, X)
    jy = jx if Y is None else jac(params, Y)
    return sum(torch.einsum("nop,mqp->nmoq", jx[k].flatten(2), jy[k].flatten(2)) for k in jx)


def _multi_sequential(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4)
    ).to(DTYPE)


def _views(full):
    return {
        "full": full,
        "trace": full.diagonal(0, 2, 3).sum(-1),
        "diagonal": full.diagonal(0, 2, 3),
    }


MODES = {"full": {}, "trace": {"trace": True}, "diagonal": {"diagonal": True}}


@pytest.mark.parametrize("implementation", ["jacobian", "ntvp", "auto"])
@pytest.mark.parametrize("mode", list(MODES))
def test_multi_output_generic_path_matches_jacrev_einsum(implementation, mode):
    """Property: for a 4-output nn.Sequential, empirical_ntk gives Theta[n, m, o, o'] of shape
    (N, M, 4, 4) (trace: sum_o Theta_oo, (N, M); diagonal: Theta_oo, (N, M, 4)) equal to the
    torch.func.jacrev + einsum contraction written in the test, with and without Y, whole and in
    chunks of 2 inputs (N = 5 not a multiple) and with a 1-byte memory budget (recompute branch).
    Tolerance 1e-12 (the same products summed in another order)."""
    X, Y = randn(5, 3, seed=60), randn(3, 3, seed=61)
    model = _multi_sequential()
    for YY in (None, Y):
        want = _views(_jacrev_einsum(model, X, YY))[mode]
        for kw in ({}, {"chunk_size": 2}, {"memory_budget": 1}):
            got = nk.empirical_ntk(model, X, YY, implementation=implementation, **kw, **MODES[mode])
            assert got.shape == want.shape
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("norm", [None, "layer"])
@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_multi_output_fcnet_fast_path_matches_jacrev_einsum(norm, act):
    """Property: the FCNet layer-structure path with n_out = 3 (delta^(L) the identity on
    the outputs, hand-backpropagated or by autograd with LayerNorm) gives the (N, M, 3, 3) kernel
    and its trace and diagonal equal to the jacrev + einsum reference and to the generic path,
    depths 1..3, with and without Y, also with features computed in chunks (chunk_size=2).
    Tolerance 1e-12."""
    X, Y = randn(5, 3, seed=62), randn(4, 3, seed=63)
    for depth in (1, 2, 3):
        net = nk.FCNet(3, 7, depth, n_out=3, activation=act, beta=0.3, norm=norm, seed=depth)
        for YY in (None, Y):
            want = _views(_jacrev_einsum(net, X, YY))
            for mode, kw in MODES.items():
                for extra in ({}, {"chunk_size": 2}):
                    got = nk.empirical_ntk(net, X, YY, **kw, **extra)
                    torch.testing.assert_close(got, want[mode], rtol=0, atol=1e-12)
                generic = nk.empirical_ntk(net, X, YY, fast=False, **kw)
                torch.testing.assert_close(generic, want[mode], rtol=0, atol=1e-12)


def test_multi_output_batch_coupled_matches_jacrev_of_the_batch_output():
    """Property: for a BatchNorm FCNet with 2 outputs, both methods give the NTK of the batch
    output, sum_p dF(X)_{n o}/d theta_p dF(X)_{m o'}/d theta_p, equal to jacrev of the whole batch
    function (with Y: the (X, Y) block of the batch [X; Y]).  Tolerance 1e-12."""
    X, Y = randn(5, 3, seed=64), randn(3, 3, seed=65)
    bn = nk.FCNet(3, 6, 3, n_out=2, activation="tanh", beta=0.3, norm="batch", seed=9)
    for YY in (None, Y):
        want = _jacrev_einsum(bn, X, YY, batch=True)
        for impl in ("jacobian", "ntvp"):
            torch.testing.assert_close(
                nk.empirical_ntk(bn, X, YY, implementation=impl), want, rtol=0, atol=1e-12
            )


class _SmallCNN(nn.Module):
    """Conv1d -> relu -> conv1d -> relu -> mean pool -> linear (weights shared over positions)."""

    def __init__(self, n_out=1):
        super().__init__()
        torch.manual_seed(3)
        self.body = nn.Sequential(
            nn.Unflatten(1, (1, 12)),
            nn.Conv1d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(4, 4, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(4, n_out),
        )
        self.to(DTYPE)

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("n_out", [1, 3])
def test_jacobian_and_ntvp_give_the_same_kernel(n_out):
    """Property: implementation="jacobian" and "ntvp" (and "auto") agree on a small CNN and on an
    nn.Sequential, scalar and 3 outputs, with and without Y, chunked or not; a scalar output keeps
    shape (N, M) (and (N, M, 1) with diagonal=True).  Tolerance 1e-12 (float64)."""
    X, Y = randn(6, 12, seed=66), randn(4, 12, seed=67)
    for model in (
        _SmallCNN(n_out),
        nn.Sequential(nn.Linear(12, 5), nn.Tanh(), nn.Linear(5, n_out)).to(DTYPE),
    ):
        for YY in (None, Y):
            ref = nk.empirical_ntk(model, X, YY, implementation="jacobian")
            m = 6 if YY is None else 4
            assert ref.shape == ((6, m) if n_out == 1 else (6, m, n_out, n_out))
            for kw in (
                {"implementation": "ntvp"},
                {"implementation": "ntvp", "chunk_size": 1},
                {"implementation": "auto"},
            ):
                torch.testing.assert_close(
                    nk.empirical_ntk(model, X, YY, **kw), ref, rtol=0, atol=1e-12
                )
            diag = nk.empirical_ntk(model, X, YY, diagonal=True, implementation="ntvp")
            assert diag.shape == (6, m, n_out)


def test_scalar_output_behaviour_is_unchanged():
    """Property: scalar-output models still give (N, M) from every path (FCNet fast and generic,
    both methods), equal to the hand-written autograd loop; trace=True is the same matrix and
    diagonal=True adds an axis of length 1.  Tolerance 1e-12."""
    X, Y = randn(5, 3, seed=68), randn(2, 3, seed=69)
    for model in (nk.FCNet(3, 8, 3, activation="tanh", seed=4), _sequential(5)):
        for YY in (None, Y):
            ref = autograd_ntk(model, X, YY)
            for kw in (
                {},
                {"fast": False, "implementation": "jacobian"},
                {"fast": False, "implementation": "ntvp"},
            ):
                K = nk.empirical_ntk(model, X, YY, **kw)
                assert K.shape == ref.shape
                torch.testing.assert_close(K, ref, rtol=0, atol=1e-12)
                torch.testing.assert_close(
                    nk.empirical_ntk(model, X, YY, trace=True, **kw), K, rtol=0, atol=0
                )
                torch.testing.assert_close(
                    nk.empirical_ntk(model, X, YY, diagonal=True, **kw),
                    K[:, :, None],
                    rtol=0,
                    atol=1e-12,
                )


def test_choose_implementation_follows_the_cost_model():
    """Property: the auto rule picks Jacobian contraction where the forward pass costs much more
    than the parameters (a CNN: F >> P) or there is one output, and NTK-vector products for a dense
    model with many outputs and few inputs; batch-coupled costs count the whole batch."""
    from ntklib.empirical import choose_implementation

    assert choose_implementation(256, 256, 1, 5_000, 1e6) == "jacobian"
    assert choose_implementation(256, 256, 1, 10_000, 2e4) == "jacobian"
    assert choose_implementation(16, 16, 100, 10_000, 2e4, "full") == "ntvp"
    assert choose_implementation(16, 16, 100, 10_000, 2e4, "trace") == "jacobian"
    assert (
        choose_implementation(8, 8, 50, 10_000, 2e4, "full", coupled=True, symmetric=True) == "ntvp"
    )


@pytest.mark.parametrize(
    "kw,match",
    [
        (
            {"implementation": "fast"},
            r"implementation: got 'fast'; accepted: 'auto'.*'jacobian'.*'ntvp'",
        ),
        ({"implementation": None}, r"implementation: got None; accepted"),
        (
            {"trace": True, "diagonal": True},
            r"trace, diagonal: got trace=True and diagonal=True; accepted: "
            r"at most one",
        ),
        ({"trace": 1}, r"trace: got 1; accepted: True or False"),
        ({"diagonal": "yes"}, r"diagonal: got 'yes'; accepted: True or False"),
        ({"chunk_size": 0}, r"chunk_size: got 0; accepted: an integer >= 1"),
        ({"memory_budget": -5}, r"memory_budget: got -5; accepted: a positive number of bytes"),
    ],
)
def test_bad_options_raise_naming_the_argument(kw, match):
    """Property: bad options raise ValueError naming the argument, the value and what is accepted,
    on every path (FCNet fast path and a generic module)."""
    X = randn(3, 3, seed=70)
    for model in (nk.FCNet(3, 4, 2, seed=0), _multi_sequential()):
        with pytest.raises(ValueError, match=match):
            nk.empirical_ntk(model, X, **kw)


def test_output_must_have_one_row_per_input():
    """Property: a model whose output does not have one row per input raises, naming the shape."""

    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2).to(DTYPE)

        def forward(self, x):
            return self.lin(x).sum()

    with pytest.raises(
        ValueError,
        match=r"model: returned shape \(\) for 1 inputs; accepted: one "
        r"output row per input",
    ):
        nk.empirical_ntk(Pooled(), randn(3, 3, seed=71))
