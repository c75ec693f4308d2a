"""ntklib.hessian: the Hessian of the cost, matrix-free, against dense references.

References independent of the code under test: the dense Hessian of the flattened cost by
torch.autograd.functional.hessian (double backward, not forward-over-reverse), the dense Jacobian by
torch.autograd.functional.jacobian (so G = (2/N) J^T J is formed explicitly), numpy's eigh of those
matrices, and the linear model, whose outputs are linear in the parameters (R = 0 exactly).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call

import ntklib as nk
from ntklib.hessian import hessian_eigenvalues, hessian_operator, hessian_spectrum


def dense(net, X, Y):
    """(H, G) as dense P x P numpy arrays, from autograd on the flattened parameter vector."""
    params = {k: v.detach() for k, v in net.named_parameters()}
    names = list(params)
    sizes = [params[k].numel() for k in names]

    def unflat(flat):
        return {k: t.view_as(params[k]) for k, t in zip(names, torch.split(flat, sizes))}

    def out(flat):
        return functional_call(net, unflat(flat), (X,)).reshape(-1)

    theta = torch.cat([params[k].reshape(-1) for k in names])
    cost = lambda p: ((out(p) - Y) ** 2).mean()
    H = torch.autograd.functional.hessian(cost, theta, vectorize=True)
    J = torch.autograd.functional.jacobian(out, theta, vectorize=True)
    return H.numpy(), (2.0 / X.shape[0]) * (J.T @ J).numpy()


@pytest.fixture
def problem():
    X, _ = nk.data.circle(4, offset=0.4)
    Y = X[:, 0] * X[:, 1] + 0.4
    net = nk.FCNet(2, 6, 3, activation="tanh", beta=0.2, seed=3)  # P = 18 + 42 + 7 = 67
    return net, X, Y


def test_matvecs_equal_the_dense_hessian_and_gauss_newton(problem):
    """Every part's matvec against the dense matrices on random vectors; both are sums of O(P)
    float64 products of O(1) numbers: 1e-12 absolute."""
    net, X, Y = problem
    H, G = dense(net, X, Y)
    v = np.random.default_rng(0).standard_normal((H.shape[0], 3))
    for part, M in (("full", H), ("gauss_newton", G), ("residual", H - G)):
        op = hessian_operator(net, X, Y, part=part)
        assert op.shape == H.shape
        got = np.stack([op.matvec(v[:, j]) for j in range(3)], 1)
        assert np.allclose(got, M @ v, atol=1e-12), part


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_lanczos_eigenvalues_equal_dense_eigh(problem, which):
    """eigsh asked for tol = 1e-10 against numpy eigh of the dense Hessian: 1e-8 relative
    to ||H||."""
    net, X, Y = problem
    H, _ = dense(net, X, Y)
    ev = np.linalg.eigvalsh(H)
    ref = {"LA": ev[::-1][:3], "SA": ev[:3][::-1], "LM": ev[np.argsort(-np.abs(ev))][:3]}[which]
    got = hessian_eigenvalues(net, X, Y, k=3, which=which, tol=1e-10)
    assert np.allclose(got, np.sort(ref)[::-1], atol=1e-8 * np.abs(ev).max())


def test_gauss_newton_spectrum_is_the_empirical_ntk_and_weyl_bounds_the_rest(problem):
    """G's non-zero eigenvalues are (2/N) eig(J J^T) = (2/N) eig Theta_hat (a theorem: J^T J and J
    J^T
    share them); the top N of H lie within ||R|| of them (Weyl's inequality).  Dense references."""
    net, X, Y = problem
    H, G = dense(net, X, Y)
    s = hessian_spectrum(net, X, Y, n_bulk=2, tol=1e-10)
    N = X.shape[0]
    assert np.allclose(s["gauss_newton"], np.linalg.eigvalsh(G)[::-1][:N], atol=1e-10)
    ev_R = np.linalg.eigvalsh(H - G)
    assert np.isclose(s["residual_norm"], np.abs(ev_R).max(), rtol=1e-7)
    ev_H = np.linalg.eigvalsh(H)
    assert np.allclose(s["top"], np.sort(ev_H[np.argsort(-np.abs(ev_H))][: N + 2])[::-1], atol=1e-8)
    assert np.all(np.abs(s["top"][:N] - s["gauss_newton"]) <= s["residual_norm"] + 1e-9)
    with torch.no_grad():
        assert np.isclose(s["loss"], float(((net(X).reshape(-1) - Y) ** 2).mean()), rtol=1e-14)
    assert s["n_params"] == H.shape[0]


def test_linear_model_has_no_residual_term():
    """depth = 1: f(x) = c W x + beta b is linear in the parameters, so Hess f = 0, R = 0 and H = G
    (rounding only: 1e-13)."""
    X, _ = nk.data.circle(3)
    net = nk.FCNet(2, 1, 1, seed=0)
    v = np.random.default_rng(1).standard_normal(3)
    assert np.abs(hessian_operator(net, X, X[:, 1], part="residual").matvec(v)).max() < 1e-13


def test_the_model_is_not_modified(problem):
    net, X, Y = problem
    before = [p.detach().clone() for p in net.parameters()]
    hessian_spectrum(net, X, Y, n_bulk=1)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(part="gn"), r"part: got 'gn'; accepted: 'full', 'gauss_newton' or 'residual'"),
        (dict(which="BE"), r"which: got 'BE'; accepted: 'LA', 'SA' or 'LM'"),
        (dict(k=67), r"k: got 67; accepted: fewer than the 67 parameters"),
        (dict(k=0), r"k: got 0; accepted: an integer >= 1"),
    ],
)
def test_bad_arguments_name_themselves(problem, kwargs, match):
    net, X, Y = problem
    with pytest.raises(ValueError, match=match):
        hessian_eigenvalues(net, X, Y, **{"k": 2, **kwargs})


def test_targets_must_match_the_inputs(problem):
    net, X, _ = problem
    with pytest.raises(ValueError, match=r"Y: got shape \(3,\); accepted: \(4,\) or \(4, 1\)"):
        hessian_operator(net, X, torch.zeros(3))
