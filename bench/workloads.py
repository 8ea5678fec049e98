"""The reference workloads of DESIGN.md: inputs, a hand-written numpy version and an aidjit version.

Each workload has fixed-seed float32 inputs (int64 labels for W3 and W5t), a plain-numpy
implementation and the function aidjit traces. The numpy implementation plays two parts: on the
float32 inputs it is the "numpy eager" column, and on float64 copies of the same inputs it is the
reference every column is checked against, with float32 tolerances. The numpy W3 and W5t
gradients are derived by hand, so aidjit's autodiff is checked against an independent derivation
(tests/bench/test_workloads.py checks W5t's against finite differences).

Ids: W2a/W2b are one model at two batch sizes; W5i is the small CNN's inference and W5t its
training step.

W1 takes `a` and `b` as arrays of x's shape (function arguments, not scalars): a scalar would be
baked into the trace as a constant, and arrays make every implementation stream the same 12 MiB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from aidjit import Tensor, ops, value_and_grad

Arrays = tuple[np.ndarray, ...]

SEED = 20240601
W1_SIZE = 1_048_576
MLP_SIZES = (784, 256, 256, 10)
W3_BATCH = 64
W4_TOKENS, W4_WIDTH = 128, 256
W6_SHAPE = (4096, 1024)
LAYER_NORM_EPS = 1e-5
W5_IMAGES = (8, 3, 32, 32)  # NCHW
W5_CHANNELS = (16, 32)  # out channels of the two convolutions
W5_KERNEL = 3
W5_CLASSES = 10
W5_PARAMS = 8  # w1, b1, gamma, beta, w2, b2, wd, bd: W5t differentiates all of them
BN_MOMENTUM, BN_EPS = 0.1, 1e-5


@dataclass(frozen=True)
class Workload:
    """One reference workload: how to make its inputs, compute it in numpy and trace it."""

    id: str
    title: str
    make_inputs: Callable[[np.random.Generator], Arrays]
    numpy_fn: Callable[..., Any]
    aidjit_fn: Callable[..., Any]
    rtol: float = 1e-4
    atol: float = 1e-5

    def inputs(self) -> Arrays:
        return self.make_inputs(np.random.default_rng(SEED))

    def reference(self, inputs: Arrays) -> list[np.ndarray]:
        """The numpy implementation evaluated in float64: the oracle for every column."""
        wide = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in inputs]
        return flatten(self.numpy_fn(*wide))


def flatten(tree: Any, to_numpy: Callable[[Any], np.ndarray] = np.asarray) -> list[np.ndarray]:
    """The leaves of nested tuples/lists, in order, as numpy arrays."""
    if isinstance(tree, tuple | list):
        return [leaf for item in tree for leaf in flatten(item, to_numpy)]
    return [to_numpy(tree)]


def _normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ----- W1: elementwise chain ----------------------------------------------------------------


def w1_inputs(rng: np.random.Generator) -> Arrays:
    return tuple(_normal(rng, (W1_SIZE,), 1.0) for _ in range(3))


def w1_numpy(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sigmoid = 1.0 / (1.0 + np.exp(-x))
    return np.tanh(x * a + b) * sigmoid + 0.5 * x * x - np.exp(-np.abs(x))


def w1_aidjit(x: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return ops.tanh(x * a + b) * ops.sigmoid(x) + 0.5 * x * x - ops.exp(-ops.abs(x))


# ----- W2a / W2b: MLP inference -------------------------------------------------------------


def mlp_params(rng: np.random.Generator) -> Arrays:
    """w1, b1, w2, b2, w3, b3 with He-style scaling, so activations stay O(1)."""
    params: list[np.ndarray] = []
    for fan_in, fan_out in zip(MLP_SIZES, MLP_SIZES[1:], strict=False):
        params.append(_normal(rng, (fan_in, fan_out), np.sqrt(2.0 / fan_in)))
        params.append(_normal(rng, (fan_out,), 0.1))
    return tuple(params)


def mlp_images(rng: np.random.Generator, batch: int) -> np.ndarray:
    return rng.random((batch, MLP_SIZES[0]), dtype=np.float32)


def mlp_inputs(batch: int) -> Callable[[np.random.Generator], Arrays]:
    def make(rng: np.random.Generator) -> Arrays:
        return (mlp_images(rng, batch), *mlp_params(rng))

    return make


def numpy_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def mlp_numpy(
    x: np.ndarray,
    w1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: np.ndarray,
    w3: np.ndarray,
    b3: np.ndarray,
) -> np.ndarray:
    h = np.maximum(x @ w1 + b1, 0)
    h = np.maximum(h @ w2 + b2, 0)
    return numpy_softmax(h @ w3 + b3)


def mlp_aidjit(
    x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, w3: Tensor, b3: Tensor
) -> Tensor:
    h = ops.relu(x @ w1 + b1)
    h = ops.relu(h @ w2 + b2)
    return ops.softmax(h @ w3 + b3)


# ----- W3: MLP training step ----------------------------------------------------------------


def numpy_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[Any, np.ndarray]:
    """Mean cross-entropy of int labels under softmax(logits), and its gradient wrt logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = -log_probs[rows, labels].mean()
    d_logits = np.exp(log_probs)
    d_logits[rows, labels] -= 1
    d_logits /= len(labels)
    return loss, d_logits


def w3_inputs(rng: np.random.Generator) -> Arrays:
    params = mlp_params(rng)
    labels = rng.integers(0, MLP_SIZES[-1], size=W3_BATCH, dtype=np.int64)
    return (*params, mlp_images(rng, W3_BATCH), labels)


def w3_numpy(
    w1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: np.ndarray,
    w3: np.ndarray,
    b3: np.ndarray,
    x: np.ndarray,
    labels: np.ndarray,
) -> tuple[Any, Arrays]:
    """Cross-entropy loss and its gradients, backward derived by hand."""
    z1 = x @ w1 + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ w2 + b2
    h2 = np.maximum(z2, 0)
    loss, d_logits = numpy_cross_entropy(h2 @ w3 + b3, labels)
    d_z2 = (d_logits @ w3.T) * (z2 > 0)
    d_z1 = (d_z2 @ w2.T) * (z1 > 0)
    grads = (x.T @ d_z1, d_z1.sum(0), h1.T @ d_z2, d_z2.sum(0), h2.T @ d_logits, d_logits.sum(0))
    return loss, grads


def w3_loss(
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
    w3: Tensor,
    b3: Tensor,
    x: Tensor,
    labels: Tensor,
) -> Tensor:
    h = ops.relu(x @ w1 + b1)
    h = ops.relu(h @ w2 + b2)
    return ops.cross_entropy(h @ w3 + b3, labels)


# ----- W4: attention-lite -------------------------------------------------------------------


def w4_inputs(rng: np.random.Generator) -> Arrays:
    x = _normal(rng, (W4_TOKENS, W4_WIDTH), 1.0)
    weights = tuple(_normal(rng, (W4_WIDTH, W4_WIDTH), W4_WIDTH**-0.5) for _ in range(3))
    return (x, *weights)


def w4_numpy(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray) -> np.ndarray:
    q, k, v = x @ wq, x @ wk, x @ wv
    y = numpy_softmax(q @ k.T / 16.0) @ v + x
    centered = y - y.mean(axis=-1, keepdims=True)
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / np.sqrt(variance + LAYER_NORM_EPS)


def w4_aidjit(x: Tensor, wq: Tensor, wk: Tensor, wv: Tensor) -> Tensor:
    q, k, v = x @ wq, x @ wk, x @ wv
    a = ops.softmax(q @ ops.transpose(k) / 16.0)
    return ops.layer_norm(a @ v + x, eps=LAYER_NORM_EPS)


# ----- W5i / W5t: small CNN, inference and training step --------------------------------------
#
# NCHW [8, 3, 32, 32] -> conv3x3 3->16, padding 1, + bias -> batch_norm -> relu -> max_pool 2x2
# -> conv3x3 16->32, padding 1, + bias -> relu -> global average pool -> dense 32->10.
# W5i: inference, batch_norm with fixed running statistics (inputs), returning the logits.
# W5t: a training step, batch_norm with the batch's statistics: cross-entropy on int64 labels,
# the gradient of every parameter, and the updated running statistics (`has_aux`).
# The numpy versions are a numpy user's: im2col (a strided window view, copied once) + matmul
# for the convolutions, reshape + max for the pooling, and a backward derived by hand.


def w5_params(rng: np.random.Generator) -> Arrays:
    """w1, b1, gamma, beta, w2, b2, wd, bd: He-style scaling, so activations stay O(1)."""
    (c1, c2), k = W5_CHANNELS, W5_KERNEL
    c0 = W5_IMAGES[1]
    return (
        _normal(rng, (c1, c0, k, k), np.sqrt(2.0 / (c0 * k * k))),
        _normal(rng, (c1,), 0.1),
        1.0 + _normal(rng, (c1,), 0.1),
        _normal(rng, (c1,), 0.1),
        _normal(rng, (c2, c1, k, k), np.sqrt(2.0 / (c1 * k * k))),
        _normal(rng, (c2,), 0.1),
        _normal(rng, (c2, W5_CLASSES), np.sqrt(2.0 / c2)),
        _normal(rng, (W5_CLASSES,), 0.1),
    )


def w5_running_statistics(rng: np.random.Generator) -> Arrays:
    """Running mean and variance near the first convolution's own statistics (mean ~ b1,
    variance ~ 2 with He weights on unit inputs), as after some training."""
    c1 = W5_CHANNELS[0]
    return _normal(rng, (c1,), 0.1), rng.uniform(1.0, 3.0, c1).astype(np.float32)


def w5i_inputs(rng: np.random.Generator) -> Arrays:
    """x, w1, b1, gamma, beta, running_mean, running_var, w2, b2, wd, bd."""
    w1, b1, gamma, beta, *rest = w5_params(rng)
    statistics = w5_running_statistics(rng)
    return (_normal(rng, W5_IMAGES, 1.0), w1, b1, gamma, beta, *statistics, *rest)


def w5t_inputs(rng: np.random.Generator) -> Arrays:
    """The 8 parameters of `w5_params`, then x, running_mean, running_var, labels."""
    params = w5_params(rng)
    statistics = w5_running_statistics(rng)
    labels = rng.integers(0, W5_CLASSES, size=W5_IMAGES[0], dtype=np.int64)
    return (*params, _normal(rng, W5_IMAGES, 1.0), *statistics, labels)


def per_channel(v: np.ndarray) -> np.ndarray:
    """A [C] vector broadcast along axis 1 of an NCHW array."""
    return v[:, None, None]


def im2col(x: np.ndarray, kernel: int, padding: int) -> np.ndarray:
    """The patches of a stride-1 convolution, [N, OH, OW, C * k * k] (a copy of the window
    view, channels outermost in a patch as in the weights [F, C, k, k])."""
    pad = ((0, 0), (0, 0), (padding, padding), (padding, padding))
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, pad), (kernel, kernel), (2, 3))
    n, c, oh, ow = windows.shape[:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n, oh, ow, c * kernel * kernel)


def col2im(d_cols: np.ndarray, shape: tuple[int, ...], kernel: int, padding: int) -> np.ndarray:
    """The transpose of `im2col`: each patch element's gradient added back to the input
    element it was copied from (one strided add per kernel offset), the padding cut off."""
    n, c, h, w = shape
    _, oh, ow, _ = d_cols.shape
    patches = d_cols.reshape(n, oh, ow, c, kernel, kernel)
    d_padded = np.zeros((n, c, h + 2 * padding, w + 2 * padding), d_cols.dtype)
    for i in range(kernel):
        for j in range(kernel):
            d_padded[:, :, i : i + oh, j : j + ow] += patches[..., i, j].transpose(0, 3, 1, 2)
    return d_padded[:, :, padding : padding + h, padding : padding + w]


def conv_same(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A kxk convolution with padding k // 2, + bias: (output NCHW, the im2col patches)."""
    cols = im2col(x, w.shape[-1], w.shape[-1] // 2)
    out = cols @ w.reshape(len(w), -1).T + b
    return out.transpose(0, 3, 1, 2), cols


def conv_same_backward(
    d_out: np.ndarray, cols: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...] | None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(d_x or None when x_shape is None, d_w, d_b) of `conv_same`."""
    d_rows = d_out.transpose(0, 2, 3, 1)  # [N, OH, OW, F], as the matmul's output
    d_w = np.einsum("nyxf,nyxk->fk", d_rows, cols).reshape(w.shape)
    d_b = d_rows.sum(axis=(0, 1, 2))
    if x_shape is None:
        return None, d_w, d_b
    d_cols = d_rows @ w.reshape(len(w), -1)
    return col2im(d_cols, x_shape, w.shape[-1], w.shape[-1] // 2), d_w, d_b


def max_pool_2x2(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def max_pool_2x2_backward(x: np.ndarray, d_out: np.ndarray) -> np.ndarray:
    """Each window's gradient goes to its first maximum in row-major order (torch's rule)."""
    n, c, h, w = x.shape
    windows = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    windows = windows.reshape(n, c, h // 2, w // 2, 4)
    first = windows.argmax(axis=-1)[..., None]
    d_windows = np.zeros_like(windows)
    np.put_along_axis(d_windows, first, d_out[..., None], axis=-1)
    d_x = d_windows.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    return d_x.reshape(x.shape)


def w5_head(
    h: np.ndarray, w2: np.ndarray, b2: np.ndarray, wd: np.ndarray, bd: np.ndarray
) -> np.ndarray:
    """The layers after the first pooling: conv, relu, global average pool, dense."""
    z2, _ = conv_same(h, w2, b2)
    return np.maximum(z2, 0).mean(axis=(2, 3)) @ wd + bd


def w5i_numpy(
    x: np.ndarray,
    w1: np.ndarray,
    b1: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    w2: np.ndarray,
    b2: np.ndarray,
    wd: np.ndarray,
    bd: np.ndarray,
) -> np.ndarray:
    z1, _ = conv_same(x, w1, b1)
    scale = gamma / np.sqrt(running_var + BN_EPS)
    y1 = z1 * per_channel(scale) + per_channel(beta - running_mean * scale)
    return w5_head(max_pool_2x2(np.maximum(y1, 0)), w2, b2, wd, bd)


def w5t_numpy(
    w1: np.ndarray,
    b1: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    w2: np.ndarray,
    b2: np.ndarray,
    wd: np.ndarray,
    bd: np.ndarray,
    x: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    labels: np.ndarray,
) -> tuple[tuple[Any, Arrays], Arrays]:
    """((loss, (new running mean, new running var)), gradients), backward derived by hand."""
    axes = (0, 2, 3)
    z1, cols1 = conv_same(x, w1, b1)
    count = z1.size // z1.shape[1]
    batch_mean, batch_var = z1.mean(axis=axes), z1.var(axis=axes)
    inv_std = 1.0 / np.sqrt(batch_var + BN_EPS)
    normalised = (z1 - per_channel(batch_mean)) * per_channel(inv_std)
    y1 = normalised * per_channel(gamma) + per_channel(beta)
    a1 = np.maximum(y1, 0)
    p1 = max_pool_2x2(a1)
    z2, cols2 = conv_same(p1, w2, b2)
    a2 = np.maximum(z2, 0)
    pooled = a2.mean(axis=(2, 3))
    loss, d_logits = numpy_cross_entropy(pooled @ wd + bd, labels)
    # Backward, layer by layer from the loss.
    d_wd, d_bd = pooled.T @ d_logits, d_logits.sum(axis=0)
    d_a2 = (d_logits @ wd.T)[:, :, None, None] / (a2.shape[2] * a2.shape[3])  # broadcast
    d_p1, d_w2, d_b2 = conv_same_backward(d_a2 * (z2 > 0), cols2, w2, p1.shape)
    d_y1 = max_pool_2x2_backward(a1, d_p1) * (y1 > 0)
    d_gamma, d_beta = (d_y1 * normalised).sum(axis=axes), d_y1.sum(axis=axes)
    # y = gamma * (z - mean) / std: the batch's mean and variance depend on z too.
    d_normalised = d_y1 * per_channel(gamma)
    d_z1 = per_channel(inv_std) * (
        d_normalised
        - per_channel(d_normalised.mean(axis=axes))
        - normalised * per_channel((d_normalised * normalised).mean(axis=axes))
    )
    _, d_w1, d_b1 = conv_same_backward(d_z1, cols1, w1, None)
    keep = 1.0 - BN_MOMENTUM
    new_mean = running_mean * keep + batch_mean * BN_MOMENTUM
    new_var = running_var * keep + batch_var * (BN_MOMENTUM * count / (count - 1))
    grads = (d_w1, d_b1, d_gamma, d_beta, d_w2, d_b2, d_wd, d_bd)
    return (loss, (new_mean, new_var)), grads


def w5_head_aidjit(h: Tensor, w2: Tensor, b2: Tensor, wd: Tensor, bd: Tensor) -> Tensor:
    h = ops.relu(ops.conv2d(h, w2, b2, padding=1))
    pooled = ops.reshape(ops.global_avg_pool2d(h), h.shape[:2])
    return pooled @ wd + bd


def w5i_aidjit(
    x: Tensor,
    w1: Tensor,
    b1: Tensor,
    gamma: Tensor,
    beta: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    w2: Tensor,
    b2: Tensor,
    wd: Tensor,
    bd: Tensor,
) -> Tensor:
    z1 = ops.conv2d(x, w1, b1, padding=1)
    y1 = ops.batch_norm(z1, gamma, beta, running_mean, running_var, eps=BN_EPS)
    return w5_head_aidjit(ops.max_pool2d(ops.relu(y1), 2), w2, b2, wd, bd)


def w5t_loss(
    w1: Tensor,
    b1: Tensor,
    gamma: Tensor,
    beta: Tensor,
    w2: Tensor,
    b2: Tensor,
    wd: Tensor,
    bd: Tensor,
    x: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    labels: Tensor,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """(loss, (new running mean, new running var)): batch_norm in training mode."""
    z1 = ops.conv2d(x, w1, b1, padding=1)
    y1, new_mean, new_var = ops.batch_norm(
        z1, gamma, beta, running_mean, running_var, True, BN_MOMENTUM, BN_EPS
    )
    logits = w5_head_aidjit(ops.max_pool2d(ops.relu(y1), 2), w2, b2, wd, bd)
    return ops.cross_entropy(logits, labels), (new_mean, new_var)


# ----- W6: row reductions -------------------------------------------------------------------


def w6_inputs(rng: np.random.Generator) -> Arrays:
    return (_normal(rng, W6_SHAPE, 1.0),)


def w6_numpy(x: np.ndarray) -> Arrays:
    peak = x.max(axis=1, keepdims=True)
    logsumexp = np.log(np.exp(x - peak).sum(axis=1)) + peak[:, 0]
    return x.mean(axis=1), x.var(axis=1), logsumexp


def w6_aidjit(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    mean = ops.mean(x, axis=1, keepdims=True)
    centered = x - mean
    variance = ops.mean(centered * centered, axis=1)
    peak = ops.reduce_max(x, axis=1, keepdims=True)
    logsumexp = ops.log(ops.sum(ops.exp(x - peak), axis=1, keepdims=True)) + peak
    rows = (W6_SHAPE[0],)
    return ops.reshape(mean, rows), variance, ops.reshape(logsumexp, rows)


WORKLOADS: tuple[Workload, ...] = (
    Workload("W1", "elementwise chain, 1M", w1_inputs, w1_numpy, w1_aidjit),
    Workload("W2a", "MLP inference, batch 1", mlp_inputs(1), mlp_numpy, mlp_aidjit),
    Workload("W2b", "MLP inference, batch 256", mlp_inputs(256), mlp_numpy, mlp_aidjit),
    Workload(
        "W3",
        "MLP train step, batch 64",
        w3_inputs,
        w3_numpy,
        value_and_grad(w3_loss, argnums=(0, 1, 2, 3, 4, 5)),
    ),
    Workload("W4", "attention-lite 128x256", w4_inputs, w4_numpy, w4_aidjit),
    Workload("W5i", "small CNN inference, 8x3x32x32", w5i_inputs, w5i_numpy, w5i_aidjit),
    Workload(
        "W5t",
        "small CNN train step, 8x3x32x32",
        w5t_inputs,
        w5t_numpy,
        value_and_grad(w5t_loss, argnums=tuple(range(W5_PARAMS)), has_aux=True),
    ),
    Workload("W6", "row reductions 4096x1024", w6_inputs, w6_numpy, w6_aidjit),
)

# id -> (title, why skipped): listed in the tables so the suite's gaps are visible, not silent.
# Empty since W5 joined (issue 8); a workload aidjit cannot run yet goes here.
SKIPPED: dict[str, tuple[str, str]] = {}

BY_ID: dict[str, Workload] = {w.id: w for w in WORKLOADS}
