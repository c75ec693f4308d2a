"""Full-batch gradient descent of many FCNets of one architecture at once (private; used by the
width sweeps of nk.convergence, where hundreds of small networks are trained per width).

The arithmetic is that of `nk.train_gd`'s low-rank path, network by network: forward
z^(l+1) = c_l W^(l) a^(l) + beta b^(l), cost C = (1/N) ||f(X) - Y||^2, backward through the layers,
W^(l) <- W^(l) - lr c_l g^T a^(l), b^(l) <- b^(l) - lr beta sum_n g.  The S networks' weights are
stacked, so each step is a few batched matrix products instead of S Python loops: the results equal
S separate `train_gd` runs up to rounding (tests/test_convergence_batch.py).
"""

from __future__ import annotations

import torch

from ._lowrank import SKINNY_ROWS
from .dynamics import TrainRecord, _fast_fc

# bytes of stacked weights held per batch of networks, and of one layer's activations (small enough
# that a batch's intermediate tensors stay near the cache)
BATCH_BYTES = 2**27
ACTIVATION_BYTES = 2**24


def fc_batch_compatible(nets) -> bool:
    """Whether `nets` are FCNets on the low-rank path of train_gd with one architecture."""
    if not nets or not all(_fast_fc(n) for n in nets):
        return False
    a = nets[0]
    if a.weights[-1].shape[0] != 1:
        return False
    key = (a.depth, a.beta, a.activation, tuple(a.scales), tuple(w.shape for w in a.weights))
    return all(
        (n.depth, n.beta, n.activation, tuple(n.scales), tuple(w.shape for w in n.weights)) == key
        and n.weights[0].dtype == a.weights[0].dtype
        and n.weights[0].device == a.weights[0].device
        for n in nets
    )


def train_fc_batched(nets, X, Y, *, lr, steps, record_steps, X_test=None):
    """Train every FCNet of `nets` (fc_batch_compatible) by full-batch gradient descent in place.

    Args:
        nets: FCNets of one architecture, dtype and device (norm=None, all parameters trainable).
        X: (N, n_in) and Y: (N,) training data, X_test: optional (M, n_in), on the nets' dtype and
            device.  lr: step; steps: number of steps; record_steps: sorted steps in 0..steps.
    Returns:
        list of TrainRecord, one per network, as `nk.train_gd(net, X, Y, lr=lr, steps=steps,
        record_steps=record_steps, X_test=X_test)` would return (equal up to rounding).
    """
    size = nets[0].weights[0].element_size()
    per_net = sum(w.numel() for w in nets[0].weights) * size
    rows = max(X.shape[0], X_test.shape[0] if X_test is not None else 0)
    per_act = rows * max(w.shape[0] for w in nets[0].weights) * size
    chunk = max(1, min(int(BATCH_BYTES // per_net), int(ACTIVATION_BYTES // per_act)))
    records = []
    for start in range(0, len(nets), chunk):
        records += _train_chunk(nets[start : start + chunk], X, Y, lr, steps, record_steps, X_test)
    return records


def _train_chunk(nets, X, Y, lr, steps, record_steps, X_test):
    ref = nets[0]
    L, beta, act, c = ref.depth, ref.beta, ref.activation, ref.scales
    N, S = X.shape[0], len(nets)
    record = set(int(k) for k in record_steps)
    with torch.no_grad():
        Ws = [torch.stack([n.weights[l].detach() for n in nets]) for l in range(L)]  # (S, out, in)
        bs = [torch.stack([n.biases[l].detach() for n in nets]) for l in range(L)]  # (S, out)

        def forward(Z, keep):
            a = Z.expand(S, *Z.shape)
            acts, pre = [], []
            for l in range(L):
                if Z.shape[0] <= SKINNY_ROWS:  # (W a^T)^T: faster for a few rows (dynamics.py)
                    z = (
                        torch.baddbmm(
                            bs[l][:, :, None],
                            Ws[l],
                            a.contiguous().transpose(1, 2),
                            beta=beta,
                            alpha=c[l],
                        )
                        .transpose(1, 2)
                        .contiguous()
                    )
                else:
                    z = torch.baddbmm(
                        bs[l][:, None, :], a, Ws[l].transpose(1, 2), beta=beta, alpha=c[l]
                    )
                if keep:
                    acts.append(a)
                    pre.append(z)
                if l < L - 1:
                    a = act(z)
            return z.reshape(S, Z.shape[0]), acts, pre

        rec_steps, f_tr, f_te, losses = [], [], [], []
        for k in range(steps + 1):
            f, acts, pre = forward(X, True)
            resid = f - Y
            if k in record:
                rec_steps.append(k)
                f_tr.append(f.clone())
                losses.append((resid**2).mean(1))
                if X_test is not None:
                    f_te.append(forward(X_test, False)[0].clone())
            if k == steps:
                break
            g = (2.0 / N) * resid[:, :, None]  # dC/dz^(L), (S, N, 1)
            for l in range(L - 1, -1, -1):
                g_prev = None
                if l > 0:  # dC/dz^(l) = c_l (g W_l) * sigma'(z^(l))
                    g_prev = c[l] * torch.bmm(g, Ws[l]) * act.deriv(pre[l - 1])
                Ws[l].baddbmm_(g.transpose(1, 2), acts[l], alpha=-lr * c[l])
                bs[l].sub_((lr * beta) * g.sum(1))
                g = g_prev
        for i, n in enumerate(nets):
            for l in range(L):
                n.weights[l].data.copy_(Ws[l][i])
                n.biases[l].data.copy_(bs[l][i])
    f_tr, losses = torch.stack(f_tr, 1), torch.stack(losses, 1)  # (S, T, N), (S, T)
    f_te = torch.stack(f_te, 1) if X_test is not None else None
    steps_arr = torch.tensor(rec_steps).numpy()
    return [
        TrainRecord(
            steps_arr.copy(),
            f_tr[i].clone(),
            f_te[i].clone() if f_te is not None else None,
            losses[i].clone(),
            float(lr),
        )
        for i in range(S)
    ]
