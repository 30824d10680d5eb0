"""Neural-network building blocks: ``Module``, ``Parameter``, layers, losses, ``init``.

``from minigrad import nn``; ``nn.functional`` is the functional API.
"""

from minigrad.nn import functional, init, utils
from minigrad.nn.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from minigrad.nn.container import (
    Flatten,
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
    Unflatten,
)
from minigrad.nn.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from minigrad.nn.dropout import Dropout, Dropout1d, Dropout2d
from minigrad.nn.embedding import Embedding
from minigrad.nn.linear import Identity, Linear
from minigrad.nn.local import LocallyConnected2d, TiledConv2d
from minigrad.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    KLDivLoss,
    KLSparsity,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from minigrad.nn.module import Module, Parameter
from minigrad.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from minigrad.nn.pool import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    LPPool1d,
    LPPool2d,
    MaxPool1d,
    MaxPool2d,
    MaxUnpool1d,
    MaxUnpool2d,
)
from minigrad.nn.tied import TiedConvTranspose2d, TiedLinear
from minigrad.nn.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = [
    "functional",
    "init",
    "utils",
    "Module",
    "Parameter",
    "Linear",
    "Identity",
    "Conv1d",
    "Conv2d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "LPPool1d",
    "LPPool2d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "LocallyConnected2d",
    "TiledConv2d",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "GELU",
    "ELU",
    "SiLU",
    "Softmax",
    "LogSoftmax",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "Embedding",
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
    "Flatten",
    "Unflatten",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "ParameterList",
    "ParameterDict",
    "TiedLinear",
    "TiedConvTranspose2d",
    "MSELoss",
    "L1Loss",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "KLDivLoss",
    "KLSparsity",
]
