"""The class `Activation` (a nonlinearity with its Gaussian moments and duals), defined here and
re-exported by ntklib.activations, which documents it and builds the named activations."""

from __future__ import annotations

import warnings

import torch

from ._quadrature import (
    DUAL_TOL,
    QuadratureWarning,
    _adaptive_gaussian,
    _autograd_derivative,
    _check_kinks,
    _correlation,
    _degenerate_expectation,
    _kinked_expectation,
    _kinked_mean,
    _mehler,
    SMOOTH_BREAKS,
    gaussian_mean,
)


class Activation:
    """A nonlinearity sigma: a torch function, its derivative and its Gaussian dual kernels.

    dual(a, b, c) = E[sigma(u) sigma(v)], dual_deriv(a, b, c) = E[sigma'(u) sigma'(v)] and
    mean(a) = E[sigma(u)] for (u, v) ~ N(0, [[a, c], [c, b]]), elementwise over broadcast float64
    tensors; `duals` returns both kernels at once (sharing work); `moments()` =
    (E sigma(z), E sigma(z)^2, E sigma'(z)^2) for z ~ N(0, 1).  Without closed forms the duals are
    Mehler's expansion (smooth sigma; the entries where its series has not converged, as for a
    smooth sigma at a large variance, are redone by the kink-split rule with break points at unit
    scale) or, when `kinks` is given, the kink-split 2-D quadrature (module docstring); both
    carry an error estimate, and one above `tol` warns (`QuadratureWarning`).  The moments of a
    callable come from adaptive quadrature (1e-12, kinks or not).

    Args:
        name: a label used in plots and error messages.
        fn: elementwise torch function.
        deriv: its derivative (autograd when None; 0 where fn is piecewise constant).
        dual, dual_deriv: closed forms (a, b, c) -> E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)];
            quadrature when None.
        mean: closed form a -> E[sigma(u)], u ~ N(0, a); quadrature when None.
        duals: optional fused (a, b, c) -> (dual, dual_deriv) sharing work (one arccos for relu).
        kinks: increasing finite points where sigma or sigma' is not smooth (a kink or a jump), e.g.
            (-1, 1) for hardtanh; the quadratures split there.  None: sigma is taken to be smooth.
    Attributes:
        kinks: the tuple of kinks, or None.  tol: the tolerance of the quadrature error estimates.
        error_estimates: the largest error estimate seen so far, per quantity ("dual",
            "dual_deriv", "moments"); 0.0 for closed forms.
    Calling the object applies `fn`; `affine(s, h)` is `s * sigma + h`, closed forms and kinks kept.
    Example:
        >>> softsign = nk.Activation("softsign", lambda x: x / (1 + x.abs()), kinks=(0,))  # sigma''
        >>> nk.ntk([[1.0, 0.0]], depth=2, activation=softsign).shape            # jumps at 0
        torch.Size([1, 1])
        >>> hardtanh = nk.Activation("hardtanh", lambda x: torch.clamp(x, -1, 1), kinks=(-1, 1))
        >>> round(hardtanh.moments()[2], 10)               # E sigma'(z)^2 = P(|z| < 1)
        0.6826894921
    """

    def __init__(
        self, name, fn, deriv=None, *, dual=None, dual_deriv=None, mean=None, duals=None, kinks=None
    ):
        self.name = name
        self.fn = fn
        self._deriv = deriv if deriv is not None else _autograd_derivative(fn)
        self._dual, self._dual_deriv, self._mean = dual, dual_deriv, mean
        self._duals = duals
        self.kinks = _check_kinks(kinks)
        self.tol = DUAL_TOL
        self.error_estimates = {}
        self._warned = {}
        self._moments = None

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return f"Activation({self.name!r})"

    @property
    def closed_form(self) -> bool:
        """True when the dual kernels are exact formulas rather than quadrature."""
        return self._dual is not None and self._dual_deriv is not None

    @property
    def _kinked(self) -> bool:
        return bool(self.kinks)

    def deriv(self, x):
        return self._deriv(x)

    # -- error bookkeeping --
    def _report(self, what, est, scale, method):
        """Record est; warn (QuadratureWarning) when it exceeds tol * max(1, scale), at most once
        per tenfold growth of the estimate."""
        est = float(est)
        self.error_estimates[what] = max(self.error_estimates.get(what, 0.0), est)
        if est > self.tol * max(1.0, float(scale)) and est > 10 * self._warned.get(what, 0.0):
            self._warned[what] = est
            hint = (
                ""
                if self._kinked
                else "; if sigma has kinks or jumps, pass them: "
                f"Activation({self.name!r}, fn, kinks=(...))"
            )
            warnings.warn(
                f"activation {self.name}: {what} by {method} has an estimated error "
                f"{est:.3g}, above the tolerance {self.tol:.3g}{hint}",
                QuadratureWarning,
                stacklevel=3,
            )

    def _quadrature(self, fns, whats, a, b, c):
        if self._kinked:
            vals, errs = _kinked_expectation(fns, a, b, c, self.kinks)
            for v, r, what in zip(vals, errs, whats):
                scale = float(v.abs().max()) if v.numel() else 0.0
                self._report(what, r, scale, "the kink-split quadrature")
            return vals
        out = []
        for f, what in zip(fns, whats):
            v, est = _mehler(f, f, a, b, c)
            if not v.numel():
                out.append(v)
                continue
            scale = max(1.0, float(v.abs().max()))
            bad = est > self.tol * scale
            method, worst = "Mehler's expansion", float(est.max())
            if bool(bad.any()):  # the series has not converged there: the panel rules, there only
                a_, b_, c_ = (t.expand(v.shape)[bad] for t in (a, b, c))
                rho = _correlation(a_, b_, c_)[0]
                # |rho| = 1 (a diagonal entry, or a zero-variance input): a 1-D integral; Mehler
                # converges slowest there (rho^k), and the 2-D rule would be ~100x dearer
                one = rho.abs() >= 1.0 - 4 * torch.finfo(rho.dtype).eps
                redo, err = torch.empty_like(a_), 0.0
                for part, rule in ((one, _degenerate_expectation), (~one, _kinked_expectation)):
                    if bool(part.any()):
                        last = rho[part] if rule is _degenerate_expectation else c_[part]
                        (r,), (e,) = rule([f], a_[part], b_[part], last, SMOOTH_BREAKS)
                        redo[part], err = r, max(err, e)
                v = v.masked_scatter(bad, redo)
                worst = max(float(est[~bad].max()) if bool((~bad).any()) else 0.0, err)
                method = "the panel rules (Mehler's series had not converged)"
            self._report(what, worst, scale, method)
            out.append(v)
        return out

    def dual(self, a, b, c):
        """E[sigma(u) sigma(v)], (u, v) ~ N(0, [[a, c], [c, b]]), elementwise, a, b, c broadcast."""
        if self._dual is not None:
            return self._dual(a, b, c)
        return self._quadrature([self.fn], ["dual"], a, b, c)[0]

    def dual_deriv(self, a, b, c):
        """E[sigma'(u) sigma'(v)], (u, v) ~ N(0, [[a, c], [c, b]]), elementwise."""
        if self._dual_deriv is not None:
            return self._dual_deriv(a, b, c)
        return self._quadrature([self._deriv], ["dual_deriv"], a, b, c)[0]

    def duals(self, a, b, c):
        """(dual(a, b, c), dual_deriv(a, b, c)) together, sharing work where the method allows."""
        if self._duals is not None:
            return self._duals(a, b, c)
        if self._dual is None and self._dual_deriv is None and self._kinked:
            k, kd = self._quadrature([self.fn, self._deriv], ["dual", "dual_deriv"], a, b, c)
            return k, kd
        return self.dual(a, b, c), self.dual_deriv(a, b, c)

    def mean(self, a):
        """E[sigma(u)], u ~ N(0, a), elementwise over the variances a."""
        if self._mean is not None:
            return self._mean(a)
        if self._kinked:
            return _kinked_mean(self.fn, a, self.kinks)
        return gaussian_mean(self.fn, a)

    def moments(self):
        """(E sigma(z), E sigma(z)^2, E sigma'(z)^2) for z ~ N(0, 1), computed once, as floats."""
        if self._moments is None:
            one = torch.ones((), dtype=torch.float64)
            if self.closed_form:
                self._moments = (
                    float(self.mean(one)),
                    float(self.dual(one, one, one)),
                    float(self.dual_deriv(one, one, one)),
                )
                self.error_estimates.setdefault("moments", 0.0)
            else:
                vals, errs = _adaptive_gaussian(
                    [self.fn, lambda z: self.fn(z) ** 2, lambda z: self._deriv(z) ** 2],
                    self.kinks or (),
                )
                self._report("moments", max(errs), max(abs(v) for v in vals), "adaptive quadrature")
                self._moments = tuple(vals)
        return self._moments

    def affine(self, scale: float, shift: float = 0.0, name: str | None = None) -> "Activation":
        """The nonlinearity scale * sigma + shift, with closed forms and kinks kept."""
        s, h, base = float(scale), float(shift), self
        name = name or f"{s:g}*{self.name}" + (f"{h:+g}" if h else "")
        dual = dual_deriv = mean = None
        if base._mean is not None and base._dual is not None:

            def dual(a, b, c):
                return s * s * base.dual(a, b, c) + s * h * (base.mean(a) + base.mean(b)) + h * h

        if base._dual_deriv is not None:

            def dual_deriv(a, b, c):
                return s * s * base.dual_deriv(a, b, c)

        if base._mean is not None:

            def mean(a):
                return s * base.mean(a) + h

        duals = None
        if dual is not None and dual_deriv is not None:

            def duals(a, b, c):
                k, kd = base.duals(a, b, c)  # out of place: a base may return its input c
                if h:
                    k = k * (s * s) + (s * h * (base.mean(a) + base.mean(b)) + h * h)
                else:
                    k = k * (s * s)
                return k, kd * (s * s)

        return Activation(
            name,
            lambda x: s * base.fn(x) + h,
            lambda x: s * base.deriv(x),
            dual=dual,
            dual_deriv=dual_deriv,
            mean=mean,
            duals=duals,
            kinks=base.kinks,
        )
