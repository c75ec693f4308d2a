"""Weights updated by rank-N steps, kept as factors (private; nk.train_gd's FCNet path)."""

from __future__ import annotations

import torch

SKINNY_ROWS = 8  # up to this many rows a layer forms (W a^T)^T (_LowRankWeight.forward)


class _LowRankWeight:
    """W = W0 + U V^T with W0 the network's own weight storage (folds write into it)."""

    def __init__(self, W, n_new):
        self.W = W
        out_dim, in_dim = W.shape
        self.dense = min(out_dim, in_dim) <= 8 * n_new
        self.cap = 0 if self.dense else max(4 * n_new, min(out_dim, in_dim) // 8)
        self.cap -= self.cap % n_new if n_new else 0
        self.U = W.new_empty(out_dim, self.cap)
        self.V = W.new_empty(in_dim, self.cap)
        self.r = 0
        # A row-major copy of W^T for the backward products of a few rows: (W^T g^T)^T reads it
        # the way the forward reads W, 1.7x (width 1024) to 2.4x (4096) faster than g @ W (measured,
        # one thread), at the cost of a second copy of the weights.  Folds update both, so WT is
        # W^T up to the rounding of the two rank-r updates (~1e-16 relative, in a gradient).
        self.WT = W.T.contiguous() if not self.dense and n_new <= SKINNY_ROWS else None

    def forward(self, a):  # a @ W^T
        # (W a^T)^T for a few rows, a row-major: 2-4x faster than a @ W^T at width 4096-10000 with
        # 4 rows (measured, one thread); a row-major a^T makes it as slow again, hence the clone
        if a.shape[0] > SKINNY_ROWS:
            z = a @ self.W.T
        else:
            z = (self.W @ a.contiguous().T).T.clone(memory_format=torch.contiguous_format)
        if self.r:
            z = z + (a @ self.V[:, : self.r]) @ self.U[:, : self.r].T
        return z

    def backward(self, g):  # g @ W
        if self.WT is not None and g.shape[0] <= SKINNY_ROWS:
            out = (self.WT @ g.contiguous().T).T.clone(memory_format=torch.contiguous_format)
        else:
            out = g @ self.W
        if self.r:
            out = out + (g @ self.U[:, : self.r]) @ self.V[:, : self.r].T
        return out

    def add_outer(self, left, right):  # W += left @ right^T, left (out, n), right (in, n)
        n = left.shape[1]
        if self.dense or self.r + n > self.cap:
            self.fold()
        if self.dense:
            self.W.addmm_(left, right.T)
            return
        self.U[:, self.r : self.r + n] = left
        self.V[:, self.r : self.r + n] = right
        self.r += n

    def fold(self):
        if self.r:
            self.W.addmm_(self.U[:, : self.r], self.V[:, : self.r].T)
            if self.WT is not None:
                self.WT.addmm_(self.V[:, : self.r], self.U[:, : self.r].T)
            self.r = 0
