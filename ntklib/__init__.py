"""ntklib: neural tangent kernels in PyTorch, infinite width beside finite width.

The reusable core sits at the top level:

    import ntklib as nk
    nk.nngp(X, Y=None, *, depth, activation="relu", beta=0.1)   # Sigma^(depth)(X, Y)
    nk.ntk(X, Y=None, *, depth, activation="relu", beta=0.1)    # Theta^(depth)_inf(X, Y)
    nk.r_value(activation, beta)                                 # r(sigma, beta)
    nk.normalized(activation)                                    # sigma_bar
    nk.FCNet(n_in, width, depth, *, n_out=1, activation="relu", beta=0.1, norm=None)
    nk.empirical_ntk(model, X, Y=None)
    nk.train_gd(model, X, Y, lr=..., steps=...); nk.ntk_flow(theta_XX, f0_X, Y, times)
    device="cuda" / "auto" on every function that builds networks or kernels (see ntklib/devices.py)

Each topic is a namespace named after its concept, its theory beside its finite networks and
experiments: nk.limits (notebook 02), nk.convergence (03), nk.phases (04, 05), nk.deconv and nk.gan
(06), nk.architectures (07); nk.data and nk.stats hold inputs and small statistics, nk.plotting the
figures (one style, shared helpers, one module per topic: nk.plotting.phases.plot_phase_map).

Conventions (NTK parametrisation, balance beta) are in CONVENTIONS.md §1 and each docstring.
"""

from .activations import (
    ACTIVATIONS,
    Activation,
    gaussian_expectation,
    get_activation,
    normalized,
    scaled,
    standardized,
)
from .devices import resolve_device
from .dynamics import (
    TrainRecord,
    condition_number,
    kernel_gd,
    mode_coefficients,
    mode_rates,
    ntk_flow,
    ntk_pca,
    train_gd,
)
from .empirical import couples_batch, empirical_nngp, empirical_ntk, jacobian_contraction_ntk
from .kernels import KernelLayers, edge_beta, kernel_layers, nngp, ntk, r_value
from .networks import FCNet, normal_parameters, sample_outputs
from .prediction import nngp_posterior, ntk_ensemble
from . import data, stats, plotting
from . import architectures, convergence, deconv, gan, limits, phases

__version__ = "0.1.0"

__all__ = [
    # infinite-width kernels
    "nngp",
    "ntk",
    "kernel_layers",
    "KernelLayers",
    "r_value",
    "edge_beta",
    # nonlinearities
    "Activation",
    "ACTIVATIONS",
    "get_activation",
    "normalized",
    "scaled",
    "standardized",
    "gaussian_expectation",
    # finite networks and their empirical kernels
    "FCNet",
    "sample_outputs",
    "normal_parameters",
    "empirical_ntk",
    "empirical_nngp",
    "jacobian_contraction_ntk",
    "couples_batch",
    # training: gradient descent beside the infinite-width linear ODE
    "train_gd",
    "TrainRecord",
    "ntk_flow",
    "kernel_gd",
    "ntk_pca",
    "mode_coefficients",
    "mode_rates",
    "condition_number",
    # the distribution of trained infinite-width networks, and the NNGP posterior
    "ntk_ensemble",
    "nngp_posterior",
    "resolve_device",
    # namespaces
    "data",
    "stats",
    "plotting",
    "limits",
    "convergence",
    "phases",
    "deconv",
    "gan",
    "architectures",
]
