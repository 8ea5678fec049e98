"""The reference workloads of DESIGN.md: inputs, a hand-written numpy version and an aidjit version.

Each workload has fixed-seed float32 inputs (int64 labels for W3), a plain-numpy implementation
and the function aidjit traces. The numpy implementation plays two parts: on the float32 inputs it
is the "numpy eager" column, and on float64 copies of the same inputs it is the reference every
column is checked against, with float32 tolerances. The numpy W3 gradients are derived by hand, so
aidjit's autodiff is checked against an independent derivation.

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
    logits = h2 @ w3 + b3
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = -log_probs[rows, labels].mean()
    d_logits = np.exp(log_probs)
    d_logits[rows, labels] -= 1
    d_logits /= len(labels)
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
    Workload("W6", "row reductions 4096x1024", w6_inputs, w6_numpy, w6_aidjit),
)

# id -> (title, why skipped): listed in the tables so the suite's gaps are visible, not silent.
SKIPPED: dict[str, tuple[str, str]] = {
    "W5": ("small CNN 8x3x32x32", "needs convolution, not in aidjit yet")
}

BY_ID: dict[str, Workload] = {w.id: w for w in WORKLOADS}
