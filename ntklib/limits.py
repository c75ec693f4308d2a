"""The NTK limit (Jacot, Gabriel, Hongler 2018, Thms. 1 and 2), finite side: empirical NTKs of FCNets
across widths and seeds, at initialisation and after gradient-descent training, for comparison with
`nk.ntk`.

Thm. 1: as n_1, ..., n_{L-1} -> infinity, Theta_hat(0) -> Theta_inf (fluctuations ~ width^(-1/2)).
Thm. 2: during gradient descent for a fixed time T, Theta_hat(t) stays at Theta_inf (movement -> 0).
"""
from __future__ import annotations

import numpy as np
import torch

from .dynamics import train_gd
from .empirical import empirical_ntk
from .networks import FCNet
from .stats import relative_error

__all__ = ["ntk_deviation", "ntk_training_snapshots", "train_fc_lowrank"]


def train_fc_lowrank(net: FCNet, X, Y, *, lr, steps):
    """Full-batch gradient descent of an FCNet (norm=None) on C = (1/N) ||f(X) - Y||^2, in place,
    exactly as `nk.train_gd` does it, but with each weight kept as W = W0 + U V^T.

    With N training points every gradient step changes W^(l) by a rank-N matrix
    -lr c_l g^T a (c_l = sqrt(1 - beta^2)/sqrt(n_l), g = dC/dz^(l+1), a = a^(l)), so after k steps
    W^(l) - W0^(l) has rank <= kN.  Keeping the factors U, V instead of rewriting W costs two reads of W0
    per step (forward and backward) instead of about eight passes over W, which is what makes
    width-10000 training affordable on a CPU when kN << width.  The network's parameters are updated
    once at the end.  Returns the loss after `steps` steps.
    """
    if net.norm is not None:
        raise ValueError(f"net: norm={net.norm!r}; accepted: an FCNet with norm=None (use nk.train_gd)")
    X = X.to(net.weights[0])
    Y = Y.reshape(-1, 1).to(X)
    N = X.shape[0]
    act, beta, L = net.activation, net.beta, net.depth
    W0 = [w.detach() for w in net.weights]
    b = [v.detach().clone() for v in net.biases]
    U = [w.new_zeros(w.shape[0], 0) for w in W0]
    V = [w.new_zeros(w.shape[1], 0) for w in W0]
    c = net.scales

    def matvec(l, a):                      # a @ W_l^T with W_l = W0_l + U_l V_l^T
        return a @ W0[l].T + (a @ V[l]) @ U[l].T

    def forward():
        acts, pre = [], []
        a = X
        for l in range(L):
            acts.append(a)
            z = c[l] * matvec(l, a) + beta * b[l]
            pre.append(z)
            if l < L - 1:
                a = act(z)
        return acts, pre

    with torch.no_grad():
        for _ in range(steps):
            acts, pre = forward()
            g = (2.0 / N) * (pre[-1] - Y)                       # dC/dz^(L), (N, 1)
            for l in range(L - 1, -1, -1):
                g_prev = None
                if l > 0:                                       # dC/dz^(l) = c_l (g @ W_l) * sigma'(z^(l))
                    gW = g @ W0[l] + (g @ U[l]) @ V[l].T
                    g_prev = c[l] * gW * act.deriv(pre[l - 1])
                U[l] = torch.cat([U[l], (-lr * c[l]) * g.T], 1)   # W_l -= lr c_l g^T a^(l)
                V[l] = torch.cat([V[l], acts[l].T], 1)
                b[l] -= lr * beta * g.sum(0)
                g = g_prev
        for l in range(L):                  # W0 are views of the parameters: update them last
            net.weights[l].add_(U[l] @ V[l].T)
            net.biases[l].copy_(b[l])
        loss = ((net(X) - Y) ** 2).mean()
    return float(loss)


def ntk_deviation(X, reference, *, widths, seeds, depth, activation="relu", beta=0.1, Y=None,
                  seed_offset=0, dtype=torch.float64):
    """Relative Frobenius deviation ||Theta_hat - reference||_F / ||reference||_F of FCNets at init.

    Args:
        X, Y: inputs (N, n_0) and optional (M, n_0); reference: (N, M) kernel, usually nk.ntk(X, Y, ...).
        widths: hidden widths; seeds: networks per width (seed = seed_offset + 1000 * seed + width index).
    Returns:
        numpy array (len(widths), seeds).
    """
    out = np.empty((len(widths), seeds))
    for i, w in enumerate(widths):
        for s in range(seeds):
            net = FCNet(X.shape[1], int(w), depth, activation=activation, beta=beta,
                        seed=seed_offset + 1000 * s + i, dtype=dtype)
            out[i, s] = relative_error(empirical_ntk(net, X, Y).to(torch.float64), reference)
    return out


def ntk_training_snapshots(X_eval, X_train, Y_train, *, width, seeds, depth, lr, steps,
                           activation="relu", beta=0.1, Y_eval=None, seed_offset=0, dtype=torch.float64):
    """Empirical NTK Theta_hat(X_eval, Y_eval) of `seeds` FCNets at t = 0 and after `steps` steps of
    full-batch gradient descent (step lr, cost (1/N) ||f(X_train) - Y_train||^2, flow time lr * steps).

    Returns a dict of numpy arrays: K0 and KT of shape (seeds, N, M) in float64, movement (seeds,)
    = ||KT - K0||_F / ||K0||_F, and final_loss (seeds,).
    """
    K0, KT, move, loss = [], [], [], []
    Xtr = X_train.to(dtype)
    Ytr = Y_train.to(dtype)
    for s in range(seeds):
        net = FCNet(X_eval.shape[1], int(width), depth, activation=activation, beta=beta,
                    seed=seed_offset + 1000 * s, dtype=dtype)
        k0 = empirical_ntk(net, X_eval, Y_eval).to(torch.float64)
        if steps * Xtr.shape[0] * 4 < width:             # low-rank updates pay off
            final = train_fc_lowrank(net, Xtr, Ytr, lr=lr, steps=steps)
        else:
            final = float(train_gd(net, Xtr, Ytr, lr=lr, steps=steps, record_steps=[steps]).loss[-1])
        kt = empirical_ntk(net, X_eval, Y_eval).to(torch.float64)
        K0.append(k0.cpu().numpy())
        KT.append(kt.cpu().numpy())
        move.append(relative_error(kt, k0))
        loss.append(final)
    return {"K0": np.stack(K0), "KT": np.stack(KT), "movement": np.array(move), "final_loss": np.array(loss)}
