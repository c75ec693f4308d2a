"""Architectural universality (notebook 07): an RNN, a residual MLP, an attention block, a BatchNorm
MLP and a transformer in NTK parametrisation, their infinite-width NTKs by tensor-program
recursions, and the experiments of Tensor Programs IIb.

    nk.architectures.RNN(n_in, width), .ResNet, .AttentionBlock, .BatchNormMLP, .Transformer
    nk.architectures.layerwise_ntk(model, X)         # their exact empirical NTK, no Jacobian formed
    nk.architectures.rnn_ntk(X), .resnet_ntk, .attention_ntk, .batchnorm_ntk, .transformer_ntk
    a = nk.architectures.architecture("Transformer"); nk.architectures.ntk_bias(a, X, 256, seeds)

networks.py holds the finite networks (and layerwise_ntk, batch_ntk), kernels.py the infinite-width
recursions, transformer.py the transformer and its kernel, experiments.py the Architecture
interface, the width sweeps and the bias test, sgd.py SGD against kernel gradient descent.  The
pictures are in ntklib.plotting.architectures.
"""

from .experiments import (
    ARCHITECTURE_NAMES,
    Architecture,
    NTKBias,
    architecture,
    geometric_slope,
    ntk_bias,
    ntk_deviation,
    parameter_share,
    regression_targets,
    sequences,
    sqrt_width_flatness,
)
from .kernels import attention_ntk, batch_kernels, batchnorm_ntk, resnet_ntk, rnn_ntk
from .networks import (
    PARAMETRIZATIONS,
    RNN,
    AttentionBlock,
    BatchNormMLP,
    ResNet,
    batch_ntk,
    layerwise_ntk,
)
from .sgd import SGDComparison, sgd_speed_bias, sgd_vs_kernel, train_sgd
from .transformer import QUERY_KEY, Transformer, transformer_attention, transformer_ntk

__all__ = [
    # finite networks and their exact empirical NTK
    "RNN",
    "ResNet",
    "AttentionBlock",
    "BatchNormMLP",
    "Transformer",
    "PARAMETRIZATIONS",
    "QUERY_KEY",
    "layerwise_ntk",
    "batch_ntk",
    # infinite-width NTKs
    "rnn_ntk",
    "resnet_ntk",
    "attention_ntk",
    "batchnorm_ntk",
    "batch_kernels",
    "transformer_ntk",
    "transformer_attention",
    # the experiments
    "Architecture",
    "architecture",
    "ARCHITECTURE_NAMES",
    "sequences",
    "regression_targets",
    "ntk_deviation",
    "ntk_bias",
    "NTKBias",
    "sqrt_width_flatness",
    "parameter_share",
    "train_sgd",
    "sgd_vs_kernel",
    "sgd_speed_bias",
    "SGDComparison",
    "geometric_slope",
]
