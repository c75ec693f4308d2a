"""Freeze and chaos, the normalised nonlinearity, LayerNorm and BatchNorm (notebooks 04 and 05).

    nk.phases.phase_diagram(["relu", "normalized(relu)"], betas)    # r(sigma, beta) and each phase
    nk.phases.freeze_bound(X, depths, activation="standardized(erf)", beta=0.5, fit_max=6)
    nk.phases.poincare_table(["relu", "tanh"])                      # E sigma_bar'^2 >= 1 (Poincare)

r = r(sigma, beta) = (1 - beta^2) E[sigma'(z)^2] decides the phase: FREEZE (r < 1), the Gram ratios
Theta(x, y)/Theta(x, x) tend to 1 with depth; CHAOS (r > 1), they tend to 0 (Jacot, Gabriel, Hongler
2019b).  freeze_chaos.py holds notebook 04's theory (families of nonlinearities, the phase diagram,
the bounds), training.py its consequences (conditioning and training speed), diagonal.py the
diagonal (1 - r^L)/(1 - r) against finite networks and the E[sigma] = 1 erratum; normalization.py
holds notebook 05 (the Gaussian Poincare inequality, LayerNorm and BatchNorm).  Everything returns
numbers; the pictures are in ntklib.plotting.phases.
"""

from .freeze_chaos import (
    chaos_decay,
    diagonal_identity_error,
    freeze_bound,
    gain_family_diagram,
    gram_ratio,
    input_scaled,
    mean_one,
    ntk_by_depth,
    phase_diagram,
    phase_of,
    resolvable_depth,
    resolve_activation,
    theta_diagonal_formula,
)
from .diagonal import diagonal_profile, empirical_diagonal_profile, finite_diagonal_test
from .training import (
    linearised_speed_test,
    empirical_condition_numbers,
    gd_step_size,
    gram_condition_numbers,
    kernel_gd_losses,
    steps_to_loss,
    training_speed,
)
from .normalization import (
    batchnorm_mass,
    compare_norms,
    constant_direction,
    constant_mode,
    empirical_deviation,
    gaussian_moments,
    hermite_poincare,
    poincare_table,
)

__all__ = [
    # notebook 04: nonlinearities and the phase diagram
    "mean_one",
    "input_scaled",
    "resolve_activation",
    "phase_of",
    "phase_diagram",
    "gain_family_diagram",
    # Gram matrices and the theorems
    "gram_ratio",
    "ntk_by_depth",
    "theta_diagonal_formula",
    "diagonal_identity_error",
    "finite_diagonal_test",
    "freeze_bound",
    "resolvable_depth",
    "chaos_decay",
    # consequences: conditioning and training speed
    "gram_condition_numbers",
    "empirical_condition_numbers",
    "gd_step_size",
    "kernel_gd_losses",
    "steps_to_loss",
    "training_speed",
    "linearised_speed_test",
    # the E[sigma] = 1 erratum
    "diagonal_profile",
    "empirical_diagonal_profile",
    # notebook 05: Poincare, LayerNorm, BatchNorm
    "gaussian_moments",
    "poincare_table",
    "hermite_poincare",
    "empirical_deviation",
    "constant_mode",
    "constant_direction",
    "batchnorm_mass",
    "compare_norms",
]
