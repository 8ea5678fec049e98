"""numpy references of the layers, written from PyTorch's documented formulas (float64)."""

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def conv2d(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """torch.nn.functional.conv2d by a sum over kernel offsets of strided input slices."""
    n, _, h, wd = x.shape
    f, per_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, f, oh, ow))
    outputs_per_group = f // groups
    for g in range(groups):
        xg = xp[:, g * per_group : (g + 1) * per_group]
        rows = slice(g * outputs_per_group, (g + 1) * outputs_per_group)
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh][
                    ..., j * dw : j * dw + sw * (ow - 1) + 1 : sw
                ]
                out[:, rows] += np.einsum("nchw,fc->nfhw", patch, w[rows, :, i, j])
    return out if b is None else out + b[None, :, None, None]


def pool_windows(x, kernel, stride, padding, dilation, ceil_mode, fill):
    """[N, C, OH, OW, kH * kW] windows of x padded with `fill` (extra `fill` on the high side
    for ceil_mode's last windows), and OH, OW by torch's formula."""
    sizes = []
    for size, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation, strict=True):
        span = size + 2 * p - d * (k - 1) - 1
        out = (math.ceil(span / s) if ceil_mode else span // s) + 1
        if ceil_mode and (out - 1) * s >= size + p:
            out -= 1
        sizes.append(out)
    high = [
        max(0, (o - 1) * s + d * (k - 1) + 1 - (size + p))
        for o, s, d, k, size, p in zip(
            sizes, stride, dilation, kernel, x.shape[2:], padding, strict=True
        )
    ]
    pad = ((0, 0), (0, 0), (padding[0], high[0]), (padding[1], high[1]))
    xp = np.pad(x, pad, constant_values=fill)
    windows = [
        xp[:, :, i * dilation[0] :: stride[0]][:, :, : sizes[0]][..., j * dilation[1] :: stride[1]][
            ..., : sizes[1]
        ]
        for i in range(kernel[0])
        for j in range(kernel[1])
    ]
    return np.stack(windows, axis=-1)


def max_pool2d(x, kernel, stride, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
    return pool_windows(x, kernel, stride, padding, dilation, ceil_mode, -np.inf).max(axis=-1)


def avg_pool2d(x, kernel, stride, padding=(0, 0), count_include_pad=True):
    windows = pool_windows(x, kernel, stride, padding, (1, 1), False, 0.0)
    if count_include_pad:
        return windows.mean(axis=-1)
    counts = pool_windows(np.ones_like(x), kernel, stride, padding, (1, 1), False, 0.0)
    return windows.sum(axis=-1) / counts.sum(axis=-1)


def batch_norm(x, weight, bias, mean, var, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    normalized = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return normalized * weight.reshape(shape) + bias.reshape(shape)


def batch_statistics(x):
    """The batch's mean and biased variance per channel (axis 1), and the count per channel."""
    axes = (0, *range(2, x.ndim))
    return x.mean(axis=axes), x.var(axis=axes), x.size // x.shape[1]


def normalize(x, axes, eps=1e-5):
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def group_norm(x, groups, weight, bias, eps=1e-5):
    n, c = x.shape[:2]
    grouped = normalize(x.reshape(n, groups, -1), axes=2, eps=eps).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return grouped * weight.reshape(shape) + bias.reshape(shape)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softplus(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805

ACTIVATIONS = {
    "ReLU": ({}, lambda x: np.maximum(x, 0.0)),
    "LeakyReLU": ({"negative_slope": 0.2}, lambda x: np.where(x > 0, x, 0.2 * x)),
    "ELU": ({"alpha": 1.5}, lambda x: np.where(x > 0, x, 1.5 * np.expm1(x))),
    "SELU": ({}, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))),
    "GELU": ({}, lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))),
    "SiLU": ({}, lambda x: x * sigmoid(x)),
    "Sigmoid": ({}, sigmoid),
    "Tanh": ({}, np.tanh),
    "Softplus": ({"beta": 2.0}, lambda x: softplus(x, beta=2.0)),
    "Mish": ({}, lambda x: x * np.tanh(softplus(x))),
    "HardTanh": ({"min_val": -0.5, "max_val": 0.8}, lambda x: np.clip(x, -0.5, 0.8)),
    "HardSigmoid": ({}, lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0)),
    "LogSoftmax": ({"axis": 1}, lambda x: log_softmax(x, 1)),
    "Softmax": ({"axis": 1}, lambda x: np.exp(log_softmax(x, 1))),
}
"""torch.nn class name -> (the options the test passes, the numpy formula with them)."""
