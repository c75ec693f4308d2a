"""The Hessian of the cost of a network, matrix-free: its top eigenvalues by Lanczos iteration on
Hessian-vector products, beside the NTK's (Jacot, Gabriel, Hongler 2019a, arXiv 1910.02875).

Cost C(theta) = (1/N) ||f_theta(X) - Y||^2.  With J the (N, P) Jacobian of f_theta(X):

    H = (2/N) J^T J  +  (2/N) sum_i (f_i - y_i) Hess_theta f_i  =  G + R

The Gauss-Newton part G has rank N and the same non-zero eigenvalues as (2/N) J J^T =
(2/N) Theta_hat(X, X), the empirical NTK; the residual part R is what makes the loss surface
non-quadratic.  As the width grows, Theta_hat -> Theta_inf and R -> 0 (in the NTK parametrisation
each Hess_theta f_i has operator norm O(width^(-1/2)): its entries couple the weights of
consecutive layers through a factor 1/sqrt(width)), so the Hessian's top N eigenvalues tend to
(2/N) eig Theta_inf and the other P - N ("the bulk") to 0: a narrow valley whose steepest direction
is (2/N) lam_max and whose flattest learnable direction is (2/N) lam_min.

No P x P matrix is ever formed: scipy.sparse.linalg.eigsh runs Lanczos on a LinearOperator whose
matvec is one Hessian-vector product, a backward pass through the kept graph of the gradient
(reverse over reverse).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch.func import functional_call, jvp, vjp

from ._checks import check_positive_int, model_inputs
from .empirical import empirical_ntk

__all__ = ["hessian_operator", "hessian_eigenvalues", "hessian_spectrum"]

PARTS = ("full", "gauss_newton", "residual")


def hessian_operator(model, X, Y, *, part="full"):
    """The Hessian of C(theta) = (1/N) ||f_theta(X) - Y||^2 at the model's parameters, as a scipy
    LinearOperator of shape (P, P) (float64 vectors in the order of model.parameters()).

    H = G + R with G = (2/N) J^T J (Gauss-Newton) and R = (2/N) sum_i (f_i - y_i) Hess_theta f_i
    (Jacot, Gabriel, Hongler 2019a, §2).  Each matvec is one Hessian-vector product by
    reverse-over-reverse differentiation: the gradient's graph is built at the first product and
    kept by the operator (memory: one backward graph of the model on X), then H v is one backward
    pass through it; G v is J^T (J v) by one jvp and one vjp; R v = H v - G v.  The model is not
    modified.

    Args:
        model: a scalar-output torch module (all its parameters count).
        X: (N, n_0) inputs (moved to the model's dtype and device).  Y: (N,) or (N, 1) targets.
        part: "full" (H), "gauss_newton" (G) or "residual" (R).
    Returns:
        scipy.sparse.linalg.LinearOperator of shape (P, P), dtype float64.
    Example:
        >>> X, _ = nk.data.circle(3); net = nk.FCNet(2, 4, 2, seed=0)
        >>> H = nk.convergence.hessian_operator(net, X, X[:, 0]); H.shape
        (17, 17)
    """
    if part not in PARTS:
        raise ValueError(f"part: got {part!r}; accepted: 'full', 'gauss_newton' or 'residual'")
    X = model_inputs(model, X, "X")
    N = X.shape[0]
    names = [k for k, _ in model.named_parameters()]
    p0 = {k: v.detach() for k, v in model.named_parameters()}
    Y = torch.as_tensor(Y).to(X)
    if Y.shape not in ((N,), (N, 1)):
        raise ValueError(f"Y: got shape {tuple(Y.shape)}; accepted: ({N},) or ({N}, 1)")
    Y = Y.reshape(N)
    sizes = [p0[k].numel() for k in names]
    P = sum(sizes)

    def outputs(p):
        return functional_call(model, p, (X,)).reshape(N)

    def cost(p):
        return ((outputs(p) - Y) ** 2).mean()

    def unflat(v):
        t = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64)).to(X)
        return {k: c.view_as(p0[k]) for k, c in zip(names, torch.split(t, sizes))}

    def flat(d):
        t = torch.cat([d[k].reshape(-1) for k in names]).detach()
        return t.to("cpu", torch.float64).numpy()

    graph = {}

    def hvp(v):
        # reverse over reverse: the gradient's graph is built once (create_graph) and kept, then
        # each product is one backward pass through it, about 10x faster than torch.func's
        # forward-over-reverse jvp(grad(cost)) for these networks (whose forward-mode rules run
        # through Python decompositions), and equal to it to rounding
        if not graph:
            with torch.enable_grad():
                p = {k: t.clone().requires_grad_(True) for k, t in p0.items()}
                g = torch.autograd.grad(cost(p), list(p.values()), create_graph=True)
            live = [i for i, t in enumerate(g) if t.requires_grad]  # g_k that depend on theta
            graph.update(p=p, g=[g[i] for i in live], live=live)
        if not graph["live"]:  # the cost is quadratic in nothing: H = 0
            return {k: torch.zeros_like(p0[k]) for k in names}
        with torch.enable_grad():
            h = torch.autograd.grad(
                graph["g"],
                list(graph["p"].values()),
                grad_outputs=[v[names[i]] for i in graph["live"]],
                retain_graph=True,
                allow_unused=True,
            )
        return {k: torch.zeros_like(p0[k]) if t is None else t for k, t in zip(names, h)}

    def gnvp(v):
        _, Jv = jvp(outputs, (p0,), (v,))
        _, pullback = vjp(outputs, p0)
        return {k: (2.0 / N) * g for k, g in pullback(Jv)[0].items()}

    def matvec(v):
        v = unflat(np.asarray(v).reshape(-1))
        with torch.no_grad():
            if part == "full":
                return flat(hvp(v))
            if part == "gauss_newton":
                return flat(gnvp(v))
            h, g = hvp(v), gnvp(v)
            return flat({k: h[k] - g[k] for k in names})

    return LinearOperator((P, P), matvec=matvec, rmatvec=matvec, dtype=np.float64)


def hessian_eigenvalues(model, X, Y, *, k, part="full", which="LA", tol=1e-8, seed=0):
    """The k extreme eigenvalues of the Hessian of C = (1/N) ||f(X) - Y||^2 (or of its Gauss-Newton
    or residual part), by Lanczos iteration (scipy.sparse.linalg.eigsh) on Hessian-vector products.

    H = (2/N) J^T J + (2/N) sum_i (f_i - y_i) Hess_theta f_i (Jacot, Gabriel, Hongler 2019a); see
    `hessian_operator`.  The start vector is drawn from a seeded generator, so the result is
    deterministic up to the tolerance.

    Args:
        model, X, Y, part: as in `hessian_operator`.
        k: how many eigenvalues (k < P).
        which: "LA" (largest), "SA" (smallest) or "LM" (largest in magnitude, signed), as in eigsh.
        tol: relative accuracy of the eigenvalues asked of eigsh.  seed: of the start vector.
    Returns:
        (k,) numpy float64 array, in decreasing order.
    Example:
        >>> X, _ = nk.data.circle(3); net = nk.FCNet(2, 8, 2, seed=0)
        >>> top = nk.convergence.hessian_eigenvalues(net, X, X[:, 0], k=2, part="gauss_newton")
        >>> gn = 2 / 3 * torch.linalg.eigvalsh(nk.empirical_ntk(net, X)).flip(0)[:2]   # (2/N) eig
        >>> bool(torch.allclose(torch.from_numpy(top), gn, rtol=1e-6))
        True
    """
    k = check_positive_int(k, "k")
    if which not in ("LA", "SA", "LM"):
        raise ValueError(f"which: got {which!r}; accepted: 'LA', 'SA' or 'LM'")
    op = hessian_operator(model, X, Y, part=part)
    P = op.shape[0]
    if k >= P:
        raise ValueError(
            f"k: got {k}; accepted: fewer than the {P} parameters (Lanczos needs k < P)"
        )
    v0 = np.random.default_rng(seed).standard_normal(P)
    lam = eigsh(op, k=k, which=which, tol=tol, v0=v0, return_eigenvectors=False)
    return np.sort(lam)[::-1].copy()


def hessian_spectrum(model, X, Y, *, n_bulk=2, tol=1e-8, seed=0) -> dict:
    """The Hessian's top eigenvalues beside (2/N) times the empirical NTK's, and the size of the
    residual term (Jacot, Gabriel, Hongler 2019a): the narrow valley seen by the Hessian.

    With H = G + R, G = (2/N) J^T J and R = (2/N) sum_i (f_i - y_i) Hess_theta f_i (see
    `hessian_operator`), the N + n_bulk largest-magnitude eigenvalues of H are computed by Lanczos;
    G's non-zero eigenvalues are exactly (2/N) eig Theta_hat(X, X) (Theta_hat = J J^T, from
    `empirical_ntk`), and ||R|| (its largest |eigenvalue|) by a second Lanczos run.  By Weyl's
    inequality |lam_i(H) - lam_i(G)| <= ||R||, so the top N eigenvalues of H are those of G up to
    ||R||,
    and the rest of the spectrum of H lies in [-||R||, ||R||].

    Args:
        model: a scalar-output torch module (not modified).  X: (N, n_0) inputs.  Y: (N,) targets.
        n_bulk: how many eigenvalues beyond the top N to return (the largest of the bulk).
        tol, seed: as in `hessian_eigenvalues`.
    Returns:
        dict with "top" (N + n_bulk,) eigenvalues of H of largest magnitude, decreasing;
        "gauss_newton" (N,) = (2/N) eig Theta_hat(X, X), decreasing; "residual_norm" = ||R||_op;
        "loss" = C(theta);
        "n_params" = P (numpy arrays and floats).
    Example:
        >>> X, _ = nk.data.circle(3); net = nk.FCNet(2, 16, 2, seed=0)
        >>> s = nk.convergence.hessian_spectrum(net, X, X[:, 0], n_bulk=1)
        >>> gap = abs(s["top"][:3] - s["gauss_newton"]).max()
        >>> s["top"].shape, s["n_params"], bool(gap <= s["residual_norm"] + 1e-9)       # Weyl
        ((4,), 65, True)
    """
    Xm = model_inputs(model, X, "X")
    N = Xm.shape[0]
    n_bulk = int(n_bulk)
    if n_bulk < 0:
        raise ValueError(f"n_bulk: got {n_bulk}; accepted: an integer >= 0")
    top = hessian_eigenvalues(model, Xm, Y, k=N + n_bulk, which="LM", tol=tol, seed=seed)
    resid = hessian_eigenvalues(model, Xm, Y, k=1, part="residual", which="LM", tol=tol, seed=seed)
    theta = empirical_ntk(model, Xm).detach().to("cpu", torch.float64)
    gn = (2.0 / N) * torch.linalg.eigvalsh((theta + theta.T) / 2).flip(0).numpy()
    with torch.no_grad():
        f = model(Xm).reshape(N)
        loss = float(((f - torch.as_tensor(Y).to(f).reshape(N)) ** 2).mean())
    return {
        "top": top,
        "gauss_newton": gn,
        "residual_norm": float(abs(resid[0])),
        "loss": loss,
        "n_params": sum(p.numel() for p in model.parameters()),
    }
