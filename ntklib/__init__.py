"""ntklib: neural tangent kernels in PyTorch, infinite width beside finite width.

    import ntklib as nk
    nk.nngp(X, Y=None, *, depth, activation="relu", beta=0.1)   # Sigma^(depth)(X, Y)
    nk.ntk(X, Y=None, *, depth, activation="relu", beta=0.1)    # Theta^(depth)_inf(X, Y)
    nk.r_value(activation, beta)                                 # r(sigma, beta)
    nk.normalized(activation)                                    # sigma_bar
    nk.FCNet(n_in, width, depth, *, n_out=1, activation="relu", beta=0.1, norm=None)
    nk.empirical_ntk(model, X, Y=None)
    device="cuda" / "auto" on every function that builds networks or kernels (see ntklib/devices.py)

Conventions (NTK parametrisation, balance beta) are in CONVENTIONS.md §1 and each docstring.
"""
from .activations import (ACTIVATIONS, Activation, gaussian_expectation, get_activation, normalized,
                          scaled, standardized)
from . import data, plotting, stats
from .dynamics import *  # noqa: F401,F403 - every module lists its public names in __all__
from .empirical import couples_batch, empirical_nngp, empirical_ntk, jacobian_contraction_ntk
from .kernels import KernelLayers, edge_beta, kernel_layers, nngp, ntk, r_value
from .networks import FCNet, normal_parameters, sample_outputs
from .devices import resolve_device

__version__ = "0.1.0"

__all__ = [
    "nngp", "ntk", "kernel_layers", "KernelLayers", "r_value", "edge_beta",
    "Activation", "ACTIVATIONS", "get_activation", "normalized", "scaled", "standardized", "gaussian_expectation",
    "FCNet", "sample_outputs", "normal_parameters", "empirical_ntk", "empirical_nngp", "jacobian_contraction_ntk", "couples_batch",
    "resolve_device", "data", "plotting", "stats",
]
# Modules with many public names re-export through their own __all__.
from . import dynamics as _dynamics  # noqa: E402
__all__ += _dynamics.__all__
from .convergence import *  # noqa: F401,F403,E402
from . import convergence as _convergence  # noqa: E402
__all__ += _convergence.__all__
from .limits import *  # noqa: F401,F403,E402
from . import limits as _limits  # noqa: E402
__all__ += _limits.__all__
from .deconv import *  # noqa: F401,F403,E402
from . import deconv as _deconv  # noqa: E402
__all__ += _deconv.__all__
from .phases import *  # noqa: F401,F403,E402
from . import phases as _phases  # noqa: E402
__all__ += _phases.__all__
from .architectures import *  # noqa: F401,F403,E402
from . import architectures as _architectures  # noqa: E402
__all__ += _architectures.__all__
