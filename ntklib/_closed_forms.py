"""Closed-form Gaussian dual kernels of ntklib.activations: the two-slope (arc-cosine) family
(relu, abs, leaky relu, step), erf, and elu by radial integrals on four polar arcs."""

from __future__ import annotations

import math

import torch

from ._quadrature import _ELU_NODES, _blocks, _correlation, _legendre, _safe_sqrt

# ---- closed forms -------------------------------------------------------------------------------
# sigma(x) = p relu(x) - q relu(-x) (slope p for x > 0, q for x < 0): with theta = arccos(rho),
#   E[sigma(u) sigma(v)]   = sqrt(ab)/(2 pi) [(p - q)^2 sin(theta) + ((p^2 + q^2)(pi - theta)
#                                                                     + 2 p q theta) rho]
#   E[sigma'(u) sigma'(v)] = ((p^2 + q^2)(pi - theta) + 2 p q theta) / (2 pi)
#   E[sigma(u)]            = (p - q) sqrt(a / (2 pi)),
# from E[relu(u) relu(v)] = sqrt(ab)/(2 pi) (sin theta + (pi - theta) cos theta) at rho and -rho and
# P(u > 0, v > 0) = (pi - theta)/(2 pi): relu (1, 0), abs (1, -1), leaky relu (1, alpha).


def _relu_dual(a, b, c):
    rho, s = _correlation(a, b, c)
    return s / (2 * math.pi) * (_safe_sqrt(1 - rho * rho) + (math.pi - torch.arccos(rho)) * rho)


def _relu_dual_deriv(a, b, c):
    rho, _ = _correlation(a, b, c)
    return (math.pi - torch.arccos(rho)) / (2 * math.pi)


def _relu_duals(a, b, c):
    """Both relu dual kernels with one arccos and in-place arithmetic (the hot path of nk.ntk)."""
    sa, sb = _safe_sqrt(a), _safe_sqrt(b)
    if not (bool((sa > 0).all()) and bool((sb > 0).all())):
        return _relu_dual(a, b, c), _relu_dual_deriv(a, b, c)
    s_ab = torch.sqrt(a * b)  # exact on the diagonal, where c = a = b
    rho = torch.div(c, s_ab).clamp_(-1.0, 1.0)
    pt = torch.arccos(rho).neg_().add_(math.pi)  # pi - theta
    deriv = pt * (1.0 / (2 * math.pi))
    sin = torch.mul(rho, rho).neg_().add_(1.0).clamp_(min=0.0).sqrt_()
    k = pt.mul_(rho).add_(sin).mul_(s_ab).mul_(1.0 / (2 * math.pi))
    return k, deriv


def _two_slope(p: float, q: float):
    """(dual, dual_deriv, duals, mean) of sigma(x) = p x (x > 0), q x (x < 0): the forms above."""
    pp, pq, dd = p * p + q * q, 2 * p * q, (p - q) ** 2

    def parts(a, b, c):
        rho, s = _correlation(a, b, c)
        theta = torch.arccos(rho)
        kd = (pp * math.pi + (pq - pp) * theta) * (1.0 / (2 * math.pi))
        k = s * (dd / (2 * math.pi) * _safe_sqrt(1 - rho * rho) + kd * rho)
        return k, kd

    def mean(a):
        return (p - q) / math.sqrt(2 * math.pi) * _safe_sqrt(a)

    return (lambda a, b, c: parts(a, b, c)[0]), (lambda a, b, c: parts(a, b, c)[1]), parts, mean


def _step_dual(a, b, c):
    """E[step(u) step(v)] = P(u > 0, v > 0) = (pi - arccos rho) / (2 pi)."""
    return _relu_dual_deriv(a, b, c)


def _erf_dual(a, b, c):
    d = torch.sqrt((1 + 2 * a) * (1 + 2 * b))
    return (2 / math.pi) * torch.arcsin((2 * c / d).clamp(-1.0, 1.0))


def _erf_dual_deriv(a, b, c):
    return (4 / math.pi) / _safe_sqrt((1 + 2 * a) * (1 + 2 * b) - 4 * c * c)


def _step(x):
    return (x > 0).to(x.dtype)


# ---- elu: four arcs in polar coordinates ---------------------------------------------------------
# u = sqrt(a) r cos(phi), v = sqrt(b) r cos(phi - theta), E = (1/2 pi) int dphi int r e^{-r^2/2} dr.
# elu(x) = x (x > 0), e^x - 1 (x < 0).  With I_k(l) = int_0^inf r^k e^{-l r - r^2/2} dr (l >= 0),
# I_0 = sqrt(pi/2) erfcx(l / sqrt 2), I_1 = 1 - l I_0, I_2 = I_0 - l I_1, on the arcs
#   (+,-) phi = -pi/2 + psi, psi in [0, theta]: alpha = sqrt(a) sin psi,
#                                               beta = sqrt(b) sin(theta - psi)
#   (-,+) phi =  pi/2 + psi, psi in [0, theta]:  |u| / r = alpha, v / r = beta (the same nodes)
#   (-,-) phi = theta + pi/2 + psi, psi in [0, pi - theta]: alpha = sqrt(a) sin(theta + psi),
#                                                           beta = sqrt(b) sin psi
# the radial integrals are (+,+) relu and step closed forms,
#   (+,-) alpha (I_2(beta) - I_2(0)) and I_1(beta), (-,+) beta (I_2(alpha) - I_2(0)) and I_1(alpha),
#   (-,-) I_1(alpha + beta) - I_1(alpha) - I_1(beta) + 1 and I_1(alpha + beta)
# (for E elu elu and E elu' elu'); the arcs are integrated by Gauss-Legendre in psi.

_SQRT_HALF_PI = math.sqrt(math.pi / 2)


def _radial(lam):
    """(I_1(lam), I_2(lam)) for lam >= 0."""
    i0 = _SQRT_HALF_PI * torch.special.erfcx(lam * (1 / math.sqrt(2)))
    i1 = 1.0 - lam * i0
    return i1, i0 - lam * i1


def _elu_nodes(top: float) -> int:
    return _ELU_NODES if top <= 4 else min(256, int(8 + 4 * math.sqrt(top)))


def _elu_block(a, b, c, want_dual=True, want_deriv=True):
    rho, s = _correlation(a, b, c)
    theta = torch.arccos(rho)
    top = float(torch.maximum(a.max(), b.max())) if a.numel() else 1.0
    x, w = _legendre(_elu_nodes(top), a)
    sa, sb = _safe_sqrt(a)[:, None], _safe_sqrt(b)[:, None]
    t = theta[:, None]
    psi1, w1 = t * x, t * w  # arcs (+,-) and (-,+)
    psi2, w2 = t + (math.pi - t) * x, (math.pi - t) * w  # arc (-,-), psi2 = theta + psi
    al1, be1 = sa * torch.sin(psi1), sb * torch.sin(t - psi1)
    al2, be2 = sa * torch.sin(psi2), sb * torch.sin(psi2 - t)
    i1_a1, i2_a1 = _radial(al1)
    i1_b1, i2_b1 = _radial(be1)
    i1_a2, _ = _radial(al2)
    i1_b2, _ = _radial(be2)
    i1_ab, _ = _radial(al2 + be2)
    out = []
    if want_dual:
        arcs = ((al1 * (i2_b1 - _SQRT_HALF_PI) + be1 * (i2_a1 - _SQRT_HALF_PI)) * w1).sum(-1)
        arcs = arcs + ((i1_ab - i1_a2 - i1_b2 + 1.0) * w2).sum(-1)
        relu = s / (2 * math.pi) * (_safe_sqrt(1 - rho * rho) + (math.pi - theta) * rho)
        out.append(relu + arcs * (1 / (2 * math.pi)))
    if want_deriv:
        arcs = ((i1_b1 + i1_a1) * w1).sum(-1) + (i1_ab * w2).sum(-1)
        out.append((math.pi - theta + arcs) * (1 / (2 * math.pi)))
    return out


def _elu_apply(a, b, c, want_dual, want_deriv):
    a, b, c = torch.broadcast_tensors(a, b, c)
    shape = a.shape
    a, b, c = a.reshape(-1), b.reshape(-1), c.reshape(-1)
    n_out = int(want_dual) + int(want_deriv)
    outs = [torch.empty_like(a) for _ in range(n_out)]
    top = float(torch.maximum(a.max(), b.max())) if a.numel() else 1.0
    for e in _blocks(a.numel(), 16 * _elu_nodes(top)):
        for o, r in zip(outs, _elu_block(a[e], b[e], c[e], want_dual, want_deriv)):
            o[e] = r
    return [o.reshape(shape) for o in outs]


def _elu_mean(a):
    """E elu(u) = sqrt(a / (2 pi)) + e^{a/2} Phi(-sqrt a) - 1/2
    = sqrt(a / (2 pi)) + erfcx(sqrt(a / 2)) / 2 - 1/2."""
    r = _safe_sqrt(a)
    return r / math.sqrt(2 * math.pi) + 0.5 * torch.special.erfcx(r / math.sqrt(2)) - 0.5
