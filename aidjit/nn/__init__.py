"""aidjit.nn: layers as pure functions of (params, state, input), written on aidjit's public API.

    model = nn.Sequential(nn.Dense(4, 16), nn.ReLU(), nn.Dense(16, 3))
    params, state = model.init(0, (1, 4))
    y, state = model.apply(params, state, x)             # pure; traces under aidjit.jit
    y = model(x)                                         # the same on model.params, inference

See docs/models.md and `aidjit.nn.module` (how to write a layer).
"""

from aidjit.nn.activation import (
    ACTIVATION_LAYERS,
    ELU,
    GELU,
    SELU,
    Activation,
    HardSigmoid,
    HardTanh,
    LeakyReLU,
    LogSoftmax,
    Mish,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from aidjit.nn.attention import MultiHeadAttention
from aidjit.nn.containers import Add, Concat, Container, Residual, Sequential
from aidjit.nn.conv import Conv2d, ConvTranspose2d, DepthwiseConv2d, LocallyConnected2d
from aidjit.nn.core import Dense, Dropout, Embedding, Flatten, Reshape
from aidjit.nn.graph import GraphConv
from aidjit.nn.module import Layer, NotInitializedError
from aidjit.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from aidjit.nn.pooling import AvgPool2d, GlobalAvgPool2d, MaxPool2d
from aidjit.nn.rbf import RBF
from aidjit.nn.spatial import PixelShuffle, PixelUnshuffle, SpatialTransformer, Upsample

__all__ = [
    "ACTIVATION_LAYERS",
    "ELU",
    "GELU",
    "RBF",
    "SELU",
    "Activation",
    "Add",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Concat",
    "Container",
    "Conv2d",
    "ConvTranspose2d",
    "Dense",
    "DepthwiseConv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAvgPool2d",
    "GraphConv",
    "GroupNorm",
    "HardSigmoid",
    "HardTanh",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "LocallyConnected2d",
    "LogSoftmax",
    "MaxPool2d",
    "Mish",
    "MultiHeadAttention",
    "NotInitializedError",
    "PixelShuffle",
    "PixelUnshuffle",
    "ReLU",
    "Reshape",
    "Residual",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "SpatialTransformer",
    "Tanh",
    "Upsample",
]
