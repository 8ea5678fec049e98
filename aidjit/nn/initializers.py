"""PyTorch's default initialisers, drawn from an explicit numpy Generator.

Every function draws in float64 and rounds to the dtype asked, so a float32 and a float64 model
initialised from the same seed hold the same numbers up to rounding. `fan_in` is what PyTorch
computes from the weight (`in_features` for a Dense, `in_channels / groups * kH * kW` for a
convolution); layers pass it explicitly because aidjit's layouts differ from torch's (Dense
stores [in, out], torch [out, in]).
"""

import math

import numpy as np

Shape = tuple[int, ...]


def kaiming_uniform(
    rng: np.random.Generator, shape: Shape, fan_in: int, dtype: np.dtype, a: float = math.sqrt(5)
) -> np.ndarray:
    """torch.nn.init.kaiming_uniform_(w, a=a) (leaky_relu gain): U(-bound, bound) with
    bound = sqrt(2 / (1 + a^2)) * sqrt(3 / fan_in). PyTorch's Linear and Conv use a = sqrt(5),
    which makes bound = 1 / sqrt(fan_in)."""
    if fan_in == 0:
        return np.zeros(shape, dtype)
    bound = math.sqrt(2.0 / (1.0 + a * a)) * math.sqrt(3.0 / fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def bias_uniform(
    rng: np.random.Generator, shape: Shape, fan_in: int, dtype: np.dtype
) -> np.ndarray:
    """PyTorch's Linear/Conv bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (zeros when fan_in is 0)."""
    if fan_in == 0:
        return np.zeros(shape, dtype)
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def normal(rng: np.random.Generator, shape: Shape, dtype: np.dtype, std: float = 1.0) -> np.ndarray:
    """torch.nn.init.normal_: N(0, std^2); std 1 is torch.nn.Embedding's default."""
    return (rng.standard_normal(size=shape) * std).astype(dtype)


def xavier_uniform(
    rng: np.random.Generator,
    shape: Shape,
    fan_in: int,
    fan_out: int,
    dtype: np.dtype,
    gain: float = 1.0,
) -> np.ndarray:
    """torch.nn.init.xavier_uniform_ (Glorot & Bengio 2010): U(-bound, bound) with
    bound = gain * sqrt(6 / (fan_in + fan_out)), which keeps the variance of activations and
    of gradients alike through the layer. MultiHeadAttention's input projections and
    GraphConv's weight (PyTorch Geometric's glorot) use it."""
    if fan_in + fan_out == 0:
        return np.zeros(shape, dtype)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)
