"""FCNet's BatchNorm controls (notebook 05, "where the identity breaks"): `norm_affine=True` (the
trained scale and shift of torch.nn.BatchNorm1d's default affine=True) and running statistics in
eval mode (`FCNet.record_running_stats`, then `net.eval()`).

The reference is torch itself: the same network written as nn.Sequential of NTK-parametrised dense
layers (conftest.NTKDense) and torch.nn.BatchNorm1d (eps = FCNet's 1e-12), its NTK built row by row
from torch.autograd.grad (conftest.autograd_ntk), its running statistics updated by torch's own
training-mode forward passes.  Tolerances: the two sides do the same float64 arithmetic in a
different order (sums over at most a few thousand products), so 1e-10 relative, not bit-exact.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import NTKDense, autograd_ntk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import ntklib as nk
from ntklib.networks import NORM_EPS

N_IN, WIDTH, DEPTH, BETA = 5, 12, 3, 0.3
SETTINGS = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _X(n=10, seed=0):
    return nk.data.sphere(n, N_IN, seed=seed)


def _net(seed=3, **kw):
    return nk.FCNet(N_IN, WIDTH, DEPTH, activation="tanh", beta=BETA, norm="batch", seed=seed, **kw)


def _torch_twin(net, affine, track):
    """nn.Sequential of NTKDense / Tanh / BatchNorm1d with net's W and b (and gamma, s)."""
    layers = []
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        dense = NTKDense(W.shape[1], W.shape[0], BETA, seed=0)
        with torch.no_grad():
            dense.weight.copy_(W)
            dense.bias.copy_(b)
        layers.append(dense)
        if l < len(net.weights) - 1:
            bn = nn.BatchNorm1d(
                W.shape[0],
                eps=NORM_EPS,
                momentum=0.1,
                affine=affine,
                track_running_stats=track,
                dtype=torch.float64,
            )
            layers += [nn.Tanh(), bn]
    return nn.Sequential(*layers)


def _rel(A, B):
    return float((A - B).detach().norm() / B.detach().norm())


# ---- norm_affine ---------------------------------------------------------------------------------


def test_affine_defaults_keep_the_parameters_and_outputs_of_the_plain_network():
    """norm_affine=True draws nothing: the seeded W, b are those of norm_affine=False, and with
    gamma = 1, s = 0 the outputs are equal (a * 1 + 0 is exact in IEEE arithmetic, so torch.equal);
    only the parameter count grows, by 2 per hidden neuron."""
    plain, affine = _net(), _net(norm_affine=True)
    assert not hasattr(plain, "norm_weights")
    for p, q in zip(
        list(plain.weights) + list(plain.biases), list(affine.weights) + list(affine.biases)
    ):
        assert torch.equal(p, q)
    X = _X()
    assert torch.equal(plain(X), affine(X))
    n_extra = sum(p.numel() for p in affine.parameters()) - sum(
        p.numel() for p in plain.parameters()
    )
    assert n_extra == 2 * WIDTH * (DEPTH - 1)


def test_affine_ntk_is_torch_batchnorm1d_affine_ntk():
    """The batch-output NTK of FCNet(norm_affine=True), at initialisation and after moving gamma
    and s off (1, 0), equals that of the torch twin with BatchNorm1d(affine=True) (autograd rows):
    1e-10 relative."""
    X = _X()
    net = _net(norm_affine=True)
    with torch.no_grad():
        for g, s in zip(net.norm_weights, net.norm_biases):
            g.add_(
                0.3
                * torch.randn(g.shape, generator=torch.Generator().manual_seed(1), dtype=g.dtype)
            )
            s.add_(0.2)
    twin = _torch_twin(net, affine=True, track=False)
    bns = [m for m in twin if isinstance(m, nn.BatchNorm1d)]
    with torch.no_grad():
        for bn, g, s in zip(bns, net.norm_weights, net.norm_biases):
            bn.weight.copy_(g)
            bn.bias.copy_(s)
    assert _rel(net(X), twin(X)) < 1e-10
    assert _rel(nk.empirical_ntk(net, X), autograd_ntk(twin, X, batch=True)) < 1e-10


def test_affine_breaks_the_constant_mode_identity_by_the_predicted_amount():
    """Without affine parameters (1/N^2) sum Theta = beta^2 (Jacot et al. 2019b); with them the
    shift s^(L-1) adds c^2 ||W^(L-1)||^2 / n exactly at initialisation (s = 0).  The two kernels
    differ by far more than rounding: this test fails if norm_affine is ignored."""
    X = _X()
    plain, affine = _net(), _net(norm_affine=True)
    m_plain = float(nk.empirical_ntk(plain, X).mean())
    m_affine = float(nk.empirical_ntk(affine, X).mean())
    W = affine.weights[-1].detach()
    extra = (1 - BETA**2) * float((W * W).sum()) / WIDTH
    assert abs(m_plain - BETA**2) < 1e-12
    assert abs(m_affine - (BETA**2 + extra)) < 1e-12
    assert m_affine - m_plain > 0.1


@pytest.mark.parametrize("norm", [None, "layer"])
def test_affine_needs_batchnorm(norm):
    with pytest.raises(ValueError, match=r"norm_affine: got True with norm=.*accepted: True only"):
        nk.FCNet(N_IN, WIDTH, DEPTH, norm=norm, norm_affine=True)


@pytest.mark.parametrize("bad", [1, 0, "yes", None, 1.0])
def test_affine_flag_must_be_a_bool(bad):
    with pytest.raises(ValueError, match=r"norm_affine: got .*; accepted: True or False"):
        nk.FCNet(N_IN, WIDTH, DEPTH, norm="batch", norm_affine=bad)


# ---- running statistics in eval mode -------------------------------------------------------------


def test_running_statistics_are_torch_batchnorm1d_running_statistics():
    """Five updates with momentum 0.1 from different batches give torch's running_mean and
    running_var (unbiased) layer by layer; in eval mode the outputs and the per-input NTK are those
    of the torch twin in eval mode (1e-10 relative)."""
    net = _net()
    twin = _torch_twin(net, affine=False, track=True).train()
    for k in range(5):
        Xb = _X(seed=10 + k)
        net.record_running_stats(Xb, momentum=0.1)
        with torch.no_grad():
            twin(Xb)
    bns = [m for m in twin if isinstance(m, nn.BatchNorm1d)]
    for l, bn in enumerate(bns):
        assert _rel(net.get_buffer(f"running_mean_{l}"), bn.running_mean) < 1e-10
        assert _rel(net.get_buffer(f"running_var_{l}"), bn.running_var) < 1e-10
    net.eval()
    twin.eval()
    X = _X(seed=99)
    assert _rel(net(X), twin(X)) < 1e-10
    assert _rel(nk.empirical_ntk(net, X), autograd_ntk(twin, X)) < 1e-10


def test_eval_mode_uncouples_the_batch_and_breaks_the_identity():
    """With recorded statistics, eval mode makes each output depend on its own input only: the
    per-input NTK (FCNet path) equals the batch-output NTK (Jacobian of F(X)) and a single input is
    accepted.  The statistics are constants, so (1/N^2) sum Theta moves away from beta^2, even when
    they are this batch's own (momentum 1); back in training mode the identity holds again."""
    X = _X()
    net = _net()
    net.record_running_stats(X, momentum=1.0)
    assert net.couples_batch and not net.eval().couples_batch
    K = nk.empirical_ntk(net, X)
    assert _rel(K, nk.empirical_ntk(net, X, batch_coupled=True)) < 1e-10
    assert nk.empirical_ntk(net, X[:1]).shape == (1, 1)
    assert float(K.mean()) - BETA**2 > 0.1
    assert abs(float(nk.empirical_ntk(net.train(), X).mean()) - BETA**2) < 1e-12


def test_eval_without_recorded_statistics_keeps_batch_statistics():
    """Default behaviour unchanged: eval() alone still normalises with the batch's statistics."""
    X = _X()
    net = _net()
    out = net(X)
    assert net.eval().couples_batch and torch.equal(net(X), out)
    assert not hasattr(net, "running_mean_0")


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(norm=None), r"record_running_stats: got a network with norm=None"),
        (dict(norm="layer"), r"record_running_stats: got a network with norm='layer'"),
        (dict(norm="batch", norm_affine=True), r"norm_affine=True; accepted: norm='batch'"),
    ],
)
def test_record_needs_plain_batchnorm(kw, match):
    net = nk.FCNet(N_IN, WIDTH, DEPTH, **kw)
    with pytest.raises(ValueError, match=match):
        net.record_running_stats(_X())


def test_record_needs_two_inputs():
    with pytest.raises(ValueError, match=r"X: got 1 input; norm='batch' .*at least 2"):
        _net().record_running_stats(_X()[:1])


@SETTINGS
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda m: not 0 < m <= 1),
        st.booleans(),
        st.text(max_size=3),
        st.none(),
    )
)
def test_bad_momentum_is_refused_and_leaves_no_statistics(momentum):
    """Property: a momentum outside (0, 1] (or not a number) raises, before any buffer exists."""
    net = _net()
    with pytest.raises(ValueError, match=r"momentum: got .*; accepted: a number in \(0, 1\]"):
        net.record_running_stats(_X(), momentum=momentum)
    assert not net.running_stats and not hasattr(net, "running_mean_0")


@SETTINGS
@given(st.floats(min_value=0.0, max_value=1.0, exclude_min=True))
def test_any_momentum_in_range_is_torch_update(momentum):
    """Property: one update from the defaults (0, 1) is (m mean, (1 - m) + m var_unbiased)."""
    net = _net()
    X = _X()
    net.record_running_stats(X, momentum=momentum)
    h = torch.tanh(net.scales[0] * X @ net.weights[0].detach().T + BETA * net.biases[0].detach())
    mean, var = h.mean(0), h.var(0, unbiased=True)
    assert torch.allclose(net.running_mean_0, momentum * mean, rtol=1e-12, atol=1e-15)
    assert torch.allclose(net.running_var_0, (1 - momentum) + momentum * var, rtol=1e-12, atol=0)
    assert math.isfinite(float(net.eval()(X).detach().sum()))
