"""Empirical NTK: fast FCNet path, generic Jacobian path, chunking, hand-written autograd, BatchNorm."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import ntklib as nk
from conftest import DTYPE, NTKDense, autograd_ntk, randn

ACTS = [("relu", "relu"), ("erf", "erf"), ("tanh", "tanh"), ("normalized_relu", nk.normalized("relu")),
        ("callable_sin", lambda x: torch.sin(x))]


# ---- three ways to the same matrix ----------------------------------------------------------------

@pytest.mark.parametrize("act", [a for _, a in ACTS], ids=[n for n, _ in ACTS])
@pytest.mark.parametrize("norm", [None, "layer"])
@pytest.mark.parametrize("beta", [0.0, 0.3])
def test_fast_path_equals_jacobian_contraction(act, norm, beta):
    """Property: the layer-structure formula for FCNet (no Jacobian formed) equals the generic
    per-sample Jacobian contraction (empirical_ntk(fast=False) and jacobian_contraction_ntk), with and
    without Y, depths 1..4.  Tolerance 1e-10 in float64 (the same sums in another order; entries are
    O(1-10); measured agreement ~1e-15 relative)."""
    X = randn(5, 3, seed=31)
    Y = randn(3, 3, seed=32)
    for depth in range(1, 5):
        net = nk.FCNet(3, 7, depth, activation=act, beta=beta, norm=norm, seed=depth)
        for YY in (None, Y):
            fast = nk.empirical_ntk(net, X, YY)
            torch.testing.assert_close(fast, nk.empirical_ntk(net, X, YY, fast=False), rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(fast, nk.jacobian_contraction_ntk(net, X, YY), rtol=1e-10, atol=1e-10)
            assert fast.shape == (5, 5 if YY is None else 3) and fast.dtype == DTYPE


@pytest.mark.parametrize("norm", [None, "layer"])
def test_empirical_ntk_matches_hand_written_autograd_loop(norm):
    """Property: on a tiny FCNet, all three paths equal J J^T built row by row from
    torch.autograd.grad of each scalar output w.r.t. every parameter (independent of torch.func and of
    the layer formula).  Tolerance 1e-12 (a handful of parameters, plain float64 sums)."""
    X = randn(4, 2, seed=33)
    Y = randn(2, 2, seed=34)
    net = nk.FCNet(2, [5, 4], 3, activation="tanh", beta=0.3, norm=norm, seed=3)
    for YY in (None, Y):
        ref = autograd_ntk(net, X, YY)
        for got in (nk.empirical_ntk(net, X, YY), nk.empirical_ntk(net, X, YY, fast=False),
                    nk.jacobian_contraction_ntk(net, X, YY)):
            torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)


def _sequential(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1)).to(DTYPE)


def test_non_fcnet_module():
    """Property: a plain torch.nn.Sequential (outputs (N, 1)) and the same network returning shape (N,)
    get the NTK of the hand-written autograd loop, with and without Y.  Tolerance 1e-12."""
    X = randn(5, 3, seed=35)
    Y = randn(2, 3, seed=36)
    model = _sequential()
    flat = nn.Sequential(*model, nn.Flatten(0))
    for YY in (None, Y):
        ref = autograd_ntk(model, X, YY)
        torch.testing.assert_close(nk.empirical_ntk(model, X, YY), ref, rtol=0, atol=1e-12)
        torch.testing.assert_close(nk.jacobian_contraction_ntk(model, X, YY), ref, rtol=0, atol=1e-12)
        torch.testing.assert_close(nk.empirical_ntk(flat, X, YY), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk_size,memory_budget", [(1, 2 ** 30), (2, 2 ** 30), (3, 2 ** 30), (None, 1),
                                                      (2, 1)])
def test_chunked_contraction_equals_unchunked(chunk_size, memory_budget):
    """Property: chunking the generic path (tiny chunk_size, and a 1-byte memory_budget that forces the
    recompute-the-right-hand-side branch) gives the unchunked matrix, for N not a multiple of the
    chunk, with and without Y, per-sample and batch-coupled models.  Tolerance 1e-12 (the same dot
    products, grouped differently)."""
    X = randn(7, 3, seed=37)
    Y = randn(4, 3, seed=38)
    kw = dict(chunk_size=chunk_size, memory_budget=memory_budget)
    model = _sequential(1)
    net = nk.FCNet(3, 6, 3, activation="tanh", beta=0.3, seed=5)
    bn = nk.FCNet(3, 6, 3, activation="tanh", beta=0.3, norm="batch", seed=5)
    for YY in (None, Y):
        torch.testing.assert_close(nk.empirical_ntk(model, X, YY, **kw), nk.jacobian_contraction_ntk(model, X, YY),
                                   rtol=0, atol=1e-12)
        torch.testing.assert_close(nk.empirical_ntk(net, X, YY, fast=False, **kw), nk.empirical_ntk(net, X, YY),
                                   rtol=0, atol=1e-12)
        torch.testing.assert_close(nk.empirical_ntk(bn, X, YY, **kw), nk.empirical_ntk(bn, X, YY),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("model_name", ["fcnet_relu", "fcnet_layernorm", "fcnet_batchnorm", "sequential"])
def test_empirical_ntk_is_symmetric_psd(model_name):
    """Property: with Y = None the empirical NTK is a Gram matrix J J^T: symmetric and positive
    semi-definite.  Tolerance: symmetry 1e-12; eigenvalues >= -1e-10 * largest (rounding of a 12 x 12
    Gram matrix; a sign error in one layer's term would give eigenvalues of order -1)."""
    X = randn(12, 3, seed=39)
    model = {"fcnet_relu": lambda: nk.FCNet(3, 32, 3, activation="relu", beta=0.2, seed=1),
             "fcnet_layernorm": lambda: nk.FCNet(3, 32, 3, activation="erf", beta=0.2, norm="layer", seed=1),
             "fcnet_batchnorm": lambda: nk.FCNet(3, 32, 3, activation="tanh", beta=0.2, norm="batch", seed=1),
             "sequential": lambda: _sequential(2)}[model_name]()
    K = nk.empirical_ntk(model, X)
    torch.testing.assert_close(K, K.T, rtol=0, atol=1e-12)
    eig = torch.linalg.eigvalsh(K)
    assert eig.min() >= -1e-10 * eig.max(), eig


# ---- BatchNorm: the batch-output NTK and the constant-mode identity ------------------------------

def test_batch_coupled_fcnet_matches_autograd_over_the_batch_output():
    """Property: for FCNet(norm="batch") the empirical NTK is the NTK of the batch output F(X) in R^N,
    i.e. J_F J_F^T with rows torch.autograd.grad(F(X)_i, params); with Y it is the (X, Y) block of the
    joint batch [X; Y].  Tolerance 1e-12."""
    X = randn(5, 3, seed=40)
    Y = randn(3, 3, seed=41)
    net = nk.FCNet(3, [6, 5], 3, activation="tanh", beta=0.4, norm="batch", seed=7)
    assert nk.couples_batch(net)
    torch.testing.assert_close(nk.empirical_ntk(net, X), autograd_ntk(net, X, batch=True), rtol=0, atol=1e-12)
    torch.testing.assert_close(nk.empirical_ntk(net, X, Y), autograd_ntk(net, X, Y, batch=True),
                               rtol=0, atol=1e-12)
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
        assert float(K.mean()) == pytest.approx(beta ** 2, abs=1e-10)
        assert float(K.diagonal().mean()) > beta ** 2 + 0.05      # K itself is far from constant


def _bn_sequential(beta, seed=0):
    """NTK-parametrised dense -> tanh -> BatchNorm1d(affine=False) -> dense, in training mode."""
    return nn.Sequential(NTKDense(3, 16, beta, seed), nn.Tanh(), nn.BatchNorm1d(16, affine=False).to(DTYPE),
                         NTKDense(16, 1, beta, seed + 1)).train()


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
    assert float(K.mean()) == pytest.approx(beta ** 2, abs=1e-10)
    torch.testing.assert_close(K, autograd_ntk(model, X, batch=True), rtol=0, atol=1e-12)
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.BatchNorm1d(16, affine=False),
                          nn.Linear(16, 1)).to(DTYPE).train()
    assert float(nk.empirical_ntk(plain, X).mean()) == pytest.approx(1.0, abs=1e-10)


def test_batch_coupling_matters():
    """Property: ignoring the coupling breaks the identity.  The same BatchNorm network in eval mode,
    with running statistics set to this batch's own mean and (biased) variance, computes exactly the
    same outputs on X, yet each output then depends on its own input only, and its per-sample NTK
    does NOT satisfy (1/N^2) sum_ij Theta = beta^2 (it misses it by > 0.05), while the batch-output
    NTK of the training-mode network (hand-written autograd) does, to 1e-10."""
    beta = 0.3
    X = randn(6, 3, seed=44)
    model = _bn_sequential(beta, seed=4)
    with torch.no_grad():
        hidden = model[1](model[0](X))
        out_train = model(X)
    coupled = autograd_ntk(model, X, batch=True)
    assert float(coupled.mean()) == pytest.approx(beta ** 2, abs=1e-10)
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
    assert abs(float(per_sample.mean()) - beta ** 2) > 0.05


def test_empirical_ntk_leaves_the_model_unchanged():
    """Property: computing an NTK does not change the model: parameters, BatchNorm running statistics,
    num_batches_tracked, track_running_stats and training flags are all as before (exact equality),
    for the batch-coupled path, the per-sample path (eval mode) and FCNet."""
    X = randn(6, 3, seed=45)
    model = _bn_sequential(0.3, seed=6)
    with torch.no_grad():
        model(X)                                    # non-trivial running statistics
    for mode in ("train", "eval"):
        model.train(mode == "train")
        before = {k: v.clone() for k, v in model.state_dict().items()}
        flags = [(m.training, getattr(m, "track_running_stats", None)) for m in model.modules()]
        nk.empirical_ntk(model, X)
        nk.empirical_ntk(model, X, randn(2, 3, seed=46))
        after = model.state_dict()
        for k, v in before.items():
            assert torch.equal(after[k], v), f"{mode}: {k} changed"
        assert flags == [(m.training, getattr(m, "track_running_stats", None)) for m in model.modules()]
    net = nk.FCNet(3, 8, 3, activation="tanh", norm="batch", seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    nk.empirical_ntk(net, X)
    nk.empirical_ntk(net, X, fast=False, batch_coupled=True)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_fcnet_norms_standardise_hidden_features(norm):
    """Property: with norm="layer" every hidden layer's input a^(l) (l >= 1) has mean 0 and mean square 1
    over its neurons, for each sample; with norm="batch" over the batch, for each neuron (CONVENTIONS.md §1,
    no affine parameters).  Tolerance 1e-9 (the 1e-12 epsilon in the denominator and rounding)."""
    X = randn(7, 3, seed=47)
    net = nk.FCNet(3, [9, 6], 3, activation="relu", beta=0.2, norm=norm, seed=8)
    inputs, _ = net.layers(X)
    dim = -1 if norm == "layer" else 0
    for a in inputs[1:]:
        a = a.detach()
        torch.testing.assert_close(a.mean(dim), torch.zeros_like(a.mean(dim)), rtol=0, atol=1e-9)
        torch.testing.assert_close((a * a).mean(dim), torch.ones_like(a.mean(dim)), rtol=0, atol=1e-9)
