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


def conv_transpose2d(
    x, w, b, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1
):
    """torch's conv_transpose2d by its definition: every input pixel adds its kernel, weighted
    by its value, into the output at (h * stride + i * dilation - padding, ...); the
    output_padding rows and columns extend the high side."""
    n, c_in, h, wd = x.shape
    _, per_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    full = ((h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw)
    out = np.zeros((n, per_group * groups, *full))
    inputs_per_group = c_in // groups
    for g in range(groups):
        xs = x[:, g * inputs_per_group : (g + 1) * inputs_per_group]
        ws = w[g * inputs_per_group : (g + 1) * inputs_per_group]
        rows = slice(g * per_group, (g + 1) * per_group)
        for i in range(kh):
            for j in range(kw):
                spread = out[:, rows, i * dh : i * dh + sh * (h - 1) + 1 : sh]
                spread[..., j * dw : j * dw + sw * (wd - 1) + 1 : sw] += np.einsum(
                    "nchw,co->nohw", xs, ws[:, :, i, j]
                )
    out = out[:, :, ph : full[0] - ph, pw : full[1] - pw]
    return out if b is None else out + b[None, :, None, None]


def locally_connected2d(x, w, b, stride=(1, 1), padding=(0, 0)):
    """out[n, f, y, x] = sum over c, i, j of w[y, x, f, c, i, j] * xp[n, c, y*sh + i, x*sw + j]."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow, f, _, kh, kw = w.shape
    out = np.zeros((x.shape[0], f, oh, ow))
    for y in range(oh):
        for z in range(ow):
            patch = xp[:, :, y * sh : y * sh + kh, z * sw : z * sw + kw]
            out[:, :, y, z] = np.einsum("ncij,fcij->nf", patch, w[y, z])
    return out if b is None else out + b


def upsample_nearest(x, sizes, factors):
    """torch's nearest interpolation: source index min(floor(dst * scale), n - 1) per axis,
    scale = 1 / scale_factor when a factor is given, else in / out."""
    for axis, (out, factor) in enumerate(zip(sizes, factors, strict=True), start=2):
        n = x.shape[axis]
        scale = 1.0 / factor if factor else n / out
        source = np.minimum(np.floor(np.arange(out) * scale).astype(int), n - 1)
        x = np.take(x, source, axis=axis)
    return x


def upsample_linear(x, sizes, factors, align_corners):
    """torch's (bi)linear interpolation, one axis at a time (it is separable): the source
    position dst * (n - 1) / (out - 1) with align_corners, else (dst + 0.5) * scale - 0.5
    clamped at 0; the two pixels around it weighed by distance."""
    for axis, (out, factor) in enumerate(zip(sizes, factors, strict=True), start=2):
        n = x.shape[axis]
        dst = np.arange(out, dtype=np.float64)
        if align_corners:
            source = dst * ((n - 1) / (out - 1)) if out > 1 else np.zeros(out)
        else:
            scale = 1.0 / factor if factor else n / out
            source = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
        low = np.minimum(np.floor(source).astype(int), n - 1)
        high = np.minimum(low + 1, n - 1)
        shape = [1] * x.ndim
        shape[axis] = out
        weight = (source - low).reshape(shape)
        x = np.take(x, low, axis=axis) * (1 - weight) + np.take(x, high, axis=axis) * weight
    return x


def pixel_shuffle(x, r):
    """out[..., c, h * r + i, w * r + j] = x[..., c * r * r + i * r + j, h, w]."""
    *batch, channels, h, w = x.shape
    out = np.empty((*batch, channels // (r * r), h * r, w * r))
    for i in range(r):
        for j in range(r):
            out[..., i::r, j::r] = x[..., i * r + j :: r * r, :, :]
    return out


def pixel_unshuffle(x, r):
    """pixel_shuffle's inverse: out[..., c * r * r + i * r + j, h, w] = x[..., c, h*r+i, w*r+j]."""
    *batch, channels, h, w = x.shape
    out = np.empty((*batch, channels * r * r, h // r, w // r))
    for i in range(r):
        for j in range(r):
            out[..., i * r + j :: r * r, :, :] = x[..., i::r, j::r]
    return out


def graph_conv(x, adjacency, w, b):
    """Kipf & Welling: D^-1/2 (A + I) D^-1/2 x w + b; an int edge list [2, E] counts edges
    source -> target into A[target, source]."""
    nodes = x.shape[0]
    if adjacency.dtype.kind == "i":
        counts = np.zeros((nodes, nodes))
        np.add.at(counts, (adjacency[1], adjacency[0]), 1.0)
        adjacency = counts
    looped = adjacency + np.eye(nodes)
    scale = 1.0 / np.sqrt(looped.sum(axis=1))
    out = scale[:, None] * looped * scale[None, :] @ x @ w
    return out if b is None else out + b


def rbf(x, centers, log_sigma):
    """exp(-||x - c_j||² / σ_j²), σ = exp(log_sigma), by the direct difference."""
    distances = ((x[..., None, :] - centers) ** 2).sum(axis=-1)
    return np.exp(-distances / np.exp(2.0 * log_sigma))


def _grid_positions(steps, align_corners):
    if steps <= 1:
        return np.zeros(steps)
    positions = np.linspace(-1.0, 1.0, steps)
    return positions if align_corners else positions * (steps - 1) / steps


def affine_grid(theta, size, align_corners):
    """torch's affine_grid: grid[n, h, w] = theta[n] @ (x_w, y_h, 1)."""
    _, _, h, w = size
    xs, ys = _grid_positions(w, align_corners), _grid_positions(h, align_corners)
    base = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], 1.0), axis=-1)  # [H, W, 3]
    return np.einsum("nab,hwb->nhwa", theta, base)


def grid_sample(x, grid, padding_mode, align_corners):
    """torch's bilinear grid_sample, pixel by pixel: the four pixels around the unnormalised
    position, weighed by distance; outside pixels read 0 ("zeros") or the position is first
    clamped into the image ("border")."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, *grid.shape[1:3]))
    for index in np.ndindex(n, *grid.shape[1:3]):
        position = []
        for coordinate, size in zip(grid[index], (w, h), strict=True):
            if align_corners:
                pixel = (coordinate + 1) / 2 * (size - 1)
            else:
                pixel = ((coordinate + 1) * size - 1) / 2
            position.append(np.clip(pixel, 0, size - 1) if padding_mode == "border" else pixel)
        px, py = position
        x0, y0 = int(np.floor(px)), int(np.floor(py))
        for cx in (x0, x0 + 1):
            for cy in (y0, y0 + 1):
                weight = (1 - abs(px - cx)) * (1 - abs(py - cy))
                if 0 <= cx < w and 0 <= cy < h:
                    out[index[0], :, index[1], index[2]] += weight * x[index[0], :, cy, cx]
    return out


def multi_head_attention(p, query, key, value, heads, masks=(), dropout=None):
    """torch's multi_head_attention_forward (batch first): projections, per-head
    softmax(q kᵀ / sqrt(d) + masks) v, the heads concatenated, the output projection. Each
    mask broadcasts against [N, heads, L, S]: bool masks put -inf where True, float masks
    are added; `dropout` multiplies the weights."""

    def project(name, t):
        out = t @ p[name]["weight"]
        return out + p[name]["bias"] if "bias" in p[name] else out

    q, k, v = project("query", query), project("key", key), project("value", value)
    n, length, embed = q.shape
    d = embed // heads

    def split(t):
        return t.reshape(n, -1, heads, d).transpose(0, 2, 1, 3)

    scores = split(q) @ split(k).transpose(0, 1, 3, 2) / math.sqrt(d)
    for mask in masks:
        scores = np.where(mask, -np.inf, scores) if mask.dtype == bool else scores + mask
    weights = np.exp(log_softmax(scores, -1))
    if dropout is not None:
        weights = weights * dropout.reshape(weights.shape)
    out = (weights @ split(v)).transpose(0, 2, 1, 3).reshape(n, length, embed)
    return project("out", out)
