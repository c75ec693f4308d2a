"""Many FCNets trained by gradient descent in one batch (ntklib._ensemble_gd, used by
nk.convergence.ode_gap_sweep) against nk.train_gd, network by network.

Tolerance: both compute the same float64 operations in a different order (batched against plain
matrix products, a rank-N update folded at once against factors folded later), so each step
differs by a few units in the last place of quantities of size O(1); over at most 40 steps with
lr * lambda_max / N < 1 (a contraction of the residual) the outputs stay within 1e-12 of each other.
"""

import math

import numpy as np
import pytest
import torch

import ntklib as nk
from ntklib import _ensemble_gd
from ntklib.convergence import ode

X, _ = nk.data.circle(5, offset=0.3)
Y = X[:, 0] * X[:, 1] + 0.5 * X[:, 0]
X_TEST, _ = nk.data.circle(7)
STEPS, RECORD = 40, [0, 1, 5, 17, 40]
TOL = 1e-12


def _nets(width, depth, seeds, **kw):
    return [nk.FCNet(2, width, depth, seed=100 + s, **kw) for s in range(seeds)]


def _reference(width, depth, seeds, lr, **kw):
    nets = _nets(width, depth, seeds, **kw)
    recs = [
        nk.train_gd(n, X, Y, lr=lr, steps=STEPS, record_steps=RECORD, X_test=X_TEST, progress=False)
        for n in nets
    ]
    return nets, recs


@pytest.mark.parametrize(
    "width, depth, activation", [(3, 2, "relu"), (64, 2, "relu"), (32, 3, "tanh"), (48, 4, "erf")]
)
def test_batched_training_equals_train_gd_network_by_network(width, depth, activation):
    ref_nets, ref = _reference(width, depth, 4, 0.5, activation=activation, beta=0.2)
    nets = _nets(width, depth, 4, activation=activation, beta=0.2)
    assert _ensemble_gd.fc_batch_compatible(nets)
    got = _ensemble_gd.train_fc_batched(
        nets, X, Y, lr=0.5, steps=STEPS, record_steps=np.array(RECORD), X_test=X_TEST
    )
    for r, g, rn, n in zip(ref, got, ref_nets, nets):
        assert g.steps.tolist() == RECORD and g.lr == r.lr
        for a, b in [(r.f_train, g.f_train), (r.f_test, g.f_test), (r.loss, g.loss)]:
            assert a.shape == b.shape and float((a - b).abs().max()) < TOL
        # the networks themselves are trained in place (the empirical NTK after training uses them)
        for p, q in zip(rn.parameters(), n.parameters()):
            assert float((p - q).detach().abs().max()) < TOL


def test_chunks_do_not_change_the_result(monkeypatch):
    _, ref = _reference(16, 2, 5, 1.0)
    monkeypatch.setattr(_ensemble_gd, "ACTIVATION_BYTES", 1)  # one network per chunk
    got = _ensemble_gd.train_fc_batched(
        _nets(16, 2, 5), X, Y, lr=1.0, steps=STEPS, record_steps=np.array(RECORD), X_test=X_TEST
    )
    assert max(float((r.f_test - g.f_test).abs().max()) for r, g in zip(ref, got)) < TOL


def test_only_one_architecture_is_batched():
    assert not _ensemble_gd.fc_batch_compatible([])
    assert not _ensemble_gd.fc_batch_compatible(_nets(8, 2, 1) + _nets(9, 2, 1))  # widths
    assert not _ensemble_gd.fc_batch_compatible(_nets(8, 2, 1) + _nets(8, 2, 1, beta=0.3))
    assert not _ensemble_gd.fc_batch_compatible(_nets(8, 2, 2, norm="layer"))  # not low-rank
    assert not _ensemble_gd.fc_batch_compatible([nk.FCNet(2, 8, 2, n_out=2)])  # two outputs


@pytest.mark.parametrize("batch_bytes", [2**27, 1])
def test_ode_gap_sweep_equals_its_one_by_one_definition(monkeypatch, batch_bytes):
    """Each network of the sweep is the FCNet of its seed trained by train_gd (seed_offset +
    1000 * width index + s), whether the seeds are trained in one batch or one at a time."""
    monkeypatch.setattr(ode, "BATCH_BYTES", batch_bytes)
    widths, seeds, lr = [4, 32], 3, 1.0
    r = nk.convergence.ode_gap_sweep(
        X,
        Y,
        X_TEST,
        widths=widths,
        seeds=seeds,
        depth=2,
        lr=lr,
        steps=STEPS,
        record_steps=RECORD,
        seed_offset=7,
    )
    theta = nk.ntk(X, depth=2)
    for i, w in enumerate(widths):
        for s in range(seeds):
            net = nk.FCNet(2, w, 2, seed=7 + 1000 * i + s)
            K0 = nk.empirical_ntk(net, X)
            rec = nk.train_gd(
                net, X, Y, lr=lr, steps=STEPS, record_steps=RECORD, X_test=X_TEST, progress=False
            )
            got = r["records"][i][s]
            assert float((rec.f_test - got.f_test).abs().max()) < TOL
            move = nk.stats.relative_error(nk.empirical_ntk(net, X), K0)
            assert math.isclose(r["kernel_move"][i, s], move, rel_tol=1e-9, abs_tol=1e-12)
            init = nk.stats.relative_error(K0, theta)
            assert math.isclose(r["kernel_init"][i, s], init, rel_tol=1e-12)


def test_ode_gap_sweep_checks_its_arguments_before_training():
    with pytest.raises(ValueError, match="record_steps"):
        nk.convergence.ode_gap_sweep(
            X, Y, X_TEST, widths=[8], seeds=2, depth=2, lr=1.0, steps=3, record_steps=[0, 9]
        )
    with pytest.raises(ValueError, match="lr"):
        nk.convergence.ode_gap_sweep(X, Y, X_TEST, widths=[8], seeds=2, depth=2, lr=0.0, steps=3)


def test_batched_training_runs_in_the_networks_dtype():
    nets = _nets(8, 2, 2, dtype=torch.float32)
    recs = _ensemble_gd.train_fc_batched(
        nets, X.float(), Y.float(), lr=0.5, steps=3, record_steps=np.array([0, 3])
    )
    assert recs[0].f_train.dtype == torch.float32 and recs[0].f_test is None
