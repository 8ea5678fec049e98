"""JAX versions of the reference workloads: the "jax.jit" column.

Imported only when jax is installed (run.py imports it lazily). Inputs are moved to the device
(`jax.device_put`) before timing; every timed call ends with `block_until_ready`, since JAX
dispatches asynchronously. W3 is `jax.jit(jax.value_and_grad(loss, argnums=(0, ..., 5)))`, W5t
the same over its 8 parameters with `has_aux=True` (the updated batch-norm running statistics).
W5's layers are lax's: `conv_general_dilated` (NCHW/OIHW), `reduce_window` for the max pool, and
batch norm written out (jax has no batch_norm function; flax's is a module over the same ops).
Labels are passed as int32: JAX's default (64-bit types off) would truncate int64 anyway.
The first call (tracing + XLA compile) is made here, outside the timed region, and reported.
XLA's threads are set by `XLA_FLAGS` before jax loads (bench/columns.py); `threads()` reports it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from timing import Column

W3_PARAMS = 6
W5_PARAMS = 8
BN_MOMENTUM, BN_EPS = 0.1, 1e-5


def w1(x: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.tanh(x * a + b) * jax.nn.sigmoid(x) + 0.5 * x * x - jnp.exp(-jnp.abs(x))


def mlp(x: jax.Array, *params: jax.Array) -> jax.Array:
    w1, b1, w2, b2, w3, b3 = params
    h = jax.nn.relu(x @ w1 + b1)
    h = jax.nn.relu(h @ w2 + b2)
    return jax.nn.softmax(h @ w3 + b3, axis=-1)


def w3_loss(*args: jax.Array) -> jax.Array:
    w1, b1, w2, b2, w3, b3, x, labels = args
    h = jax.nn.relu(x @ w1 + b1)
    h = jax.nn.relu(h @ w2 + b2)
    return cross_entropy(h @ w3 + b3, labels)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=1))


def w4(x: jax.Array, wq: jax.Array, wk: jax.Array, wv: jax.Array) -> jax.Array:
    q, k, v = x @ wq, x @ wk, x @ wv
    y = jax.nn.softmax(q @ k.T / 16.0, axis=-1) @ v + x
    centered = y - jnp.mean(y, axis=-1, keepdims=True)
    variance = jnp.mean(centered * centered, axis=-1, keepdims=True)
    return centered / jnp.sqrt(variance + 1e-5)


def per_channel(v: jax.Array) -> jax.Array:
    return v[:, None, None]


def conv_same(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    """A 3x3 convolution, padding 1, + bias, in NCHW."""
    dimensions = ("NCHW", "OIHW", "NCHW")
    z = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=dimensions)
    return z + per_channel(b)


def max_pool_2x2(x: jax.Array) -> jax.Array:
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def w5_head(h: jax.Array, w2: jax.Array, b2: jax.Array, wd: jax.Array, bd: jax.Array) -> jax.Array:
    h = jax.nn.relu(conv_same(h, w2, b2))
    return jnp.mean(h, axis=(2, 3)) @ wd + bd


def w5i(*args: jax.Array) -> jax.Array:
    x, w1, b1, gamma, beta, running_mean, running_var, w2, b2, wd, bd = args
    scale = gamma * lax.rsqrt(running_var + BN_EPS)
    y1 = conv_same(x, w1, b1) * per_channel(scale) + per_channel(beta - running_mean * scale)
    return w5_head(max_pool_2x2(jax.nn.relu(y1)), w2, b2, wd, bd)


def w5t_loss(*args: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    w1, b1, gamma, beta, w2, b2, wd, bd, x, running_mean, running_var, labels = args
    z1 = conv_same(x, w1, b1)
    count = z1.size // z1.shape[1]
    batch_mean, batch_var = jnp.mean(z1, axis=(0, 2, 3)), jnp.var(z1, axis=(0, 2, 3))
    scale = gamma * lax.rsqrt(batch_var + BN_EPS)
    y1 = (z1 - per_channel(batch_mean)) * per_channel(scale) + per_channel(beta)
    logits = w5_head(max_pool_2x2(jax.nn.relu(y1)), w2, b2, wd, bd)
    keep = 1.0 - BN_MOMENTUM
    new_mean = running_mean * keep + batch_mean * BN_MOMENTUM
    new_var = running_var * keep + batch_var * (BN_MOMENTUM * count / (count - 1))
    return cross_entropy(logits, labels), (new_mean, new_var)


def w6(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    return jnp.mean(x, axis=1), jnp.var(x, axis=1), jax.nn.logsumexp(x, axis=1)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "W1": w1,
    "W2a": mlp,
    "W2b": mlp,
    "W3": jax.value_and_grad(w3_loss, argnums=tuple(range(W3_PARAMS))),
    "W4": w4,
    "W5i": w5i,
    "W5t": jax.value_and_grad(w5t_loss, argnums=tuple(range(W5_PARAMS)), has_aux=True),
    "W6": w6,
}


def _device_array(array: np.ndarray) -> jax.Array:
    if array.dtype == np.int64:
        array = array.astype(np.int32)
    return jax.device_put(array)


def jit_column(workload_id: str, inputs: tuple[np.ndarray, ...]) -> Column:
    fn = jax.jit(FUNCTIONS[workload_id])
    args = [_device_array(a) for a in inputs]
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first_call_ms = (time.perf_counter() - start) * 1e3
    return Column("jax.jit", lambda: jax.block_until_ready(fn(*args)), np.asarray, first_call_ms)


def threads() -> str:
    flags = os.environ.get("XLA_FLAGS") or "unset (XLA's default thread pool)"
    return f"jax {jax.__version__} on {jax.default_backend()}: XLA_FLAGS {flags}"
