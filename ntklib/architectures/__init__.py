"""Architectural universality (notebook 07): an RNN, a residual MLP, an attention block and a BatchNorm
MLP in NTK parametrisation, their infinite-width NTKs by tensor-program recursions, and the
experiments of Tensor Programs IIb.

    nk.architectures.RNN(n_in, width), .ResNet, .AttentionBlock, .BatchNormMLP    # finite networks
    nk.architectures.layerwise_ntk(model, X)                  # their exact empirical NTK, no Jacobian formed
    nk.architectures.rnn_ntk(X), .resnet_ntk, .attention_ntk, .batchnorm_ntk          # infinite width
    a = nk.architectures.architecture("RNN"); nk.architectures.ntk_deviation(a, X, widths, seeds)

networks.py holds the finite networks (and layerwise_ntk, batch_ntk), kernels.py the infinite-width
recursions, experiments.py the Architecture interface, the width sweeps and SGD against kernel
gradient descent.  The pictures are in ntklib.plotting.architectures.
"""
from .experiments import (ARCHITECTURE_NAMES, Architecture, SGDComparison, architecture, geometric_slope,
                          ntk_deviation, parameter_share, regression_targets, sequences, sgd_vs_kernel, train_sgd)
from .kernels import attention_ntk, batch_kernels, batchnorm_ntk, resnet_ntk, rnn_ntk
from .networks import PARAMETRIZATIONS, RNN, AttentionBlock, BatchNormMLP, ResNet, batch_ntk, layerwise_ntk

__all__ = [
    # finite networks and their exact empirical NTK
    "RNN", "ResNet", "AttentionBlock", "BatchNormMLP", "PARAMETRIZATIONS", "layerwise_ntk", "batch_ntk",
    # infinite-width NTKs
    "rnn_ntk", "resnet_ntk", "attention_ntk", "batchnorm_ntk", "batch_kernels",
    # the experiments
    "Architecture", "architecture", "ARCHITECTURE_NAMES", "sequences", "regression_targets",
    "ntk_deviation", "parameter_share", "train_sgd", "sgd_vs_kernel", "SGDComparison",
    "geometric_slope",
]
