"""Notebook 03's experiments on convergence: how fast each eigendirection of the NTK is learnt, what
the condition number costs, the loss surface along eigendirections ("the narrow valley"), finite
networks against the infinite-width linear ODE across widths (how fast they train:
`kernel_scale_fit`; their distribution over seeds: `ensemble_zscores` against `nk.ntk_ensemble`),
generalisation along training time and depth (`test_error_vs_time`, `test_error_vs_depth`), and the
Hessian of the cost (`hessian_spectrum`, `hessian_eigenvalues`, `hessian_operator`, defined in
ntklib.hessian).

The reusable pieces they build on (train_gd, ntk_flow, ntk_pca, mode_coefficients, mode_rates,
condition_number) are in ntklib.dynamics and at the top level of ntklib.  With Theta(X, X) =
V diag(lam) V^T, the residual along eigenvector v_i decays as exp(-2 lam_i t / N) under the flow.
"""

from ..hessian import hessian_eigenvalues, hessian_operator, hessian_spectrum  # noqa: F401 - namespace
from .generalisation import test_error_vs_depth, test_error_vs_time
from .ode import (
    constant_mode_cosine,
    convergence_time,
    eigen_gap,
    ensemble_zscores,
    fit_decay_rates,
    kernel_scale_fit,
    mode_decay,
    narrow_valley,
    ode_gap_sweep,
)

# hessian_* are reached as nk.convergence.hessian_spectrum etc.; they are listed in the __all__ of
# ntklib.hessian, their home module.
__all__ = [
    "fit_decay_rates",
    "mode_decay",
    "convergence_time",
    "constant_mode_cosine",
    "eigen_gap",
    "narrow_valley",
    "ode_gap_sweep",
    "kernel_scale_fit",
    "ensemble_zscores",
    "test_error_vs_time",
    "test_error_vs_depth",
]
