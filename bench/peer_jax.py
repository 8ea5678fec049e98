"""JAX versions of the reference workloads: the "jax.jit" column.

Imported only when jax is installed (run.py imports it lazily). Inputs are moved to the device
(`jax.device_put`) before timing; every timed call ends with `block_until_ready`, since JAX
dispatches asynchronously. W3 is `jax.jit(jax.value_and_grad(loss, argnums=(0, ..., 5)))`.
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

from timing import Column

W3_PARAMS = 6


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
    log_probs = jax.nn.log_softmax(h @ w3 + b3, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=1))


def w4(x: jax.Array, wq: jax.Array, wk: jax.Array, wv: jax.Array) -> jax.Array:
    q, k, v = x @ wq, x @ wk, x @ wv
    y = jax.nn.softmax(q @ k.T / 16.0, axis=-1) @ v + x
    centered = y - jnp.mean(y, axis=-1, keepdims=True)
    variance = jnp.mean(centered * centered, axis=-1, keepdims=True)
    return centered / jnp.sqrt(variance + 1e-5)


def w6(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    return jnp.mean(x, axis=1), jnp.var(x, axis=1), jax.nn.logsumexp(x, axis=1)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "W1": w1,
    "W2a": mlp,
    "W2b": mlp,
    "W3": jax.value_and_grad(w3_loss, argnums=tuple(range(W3_PARAMS))),
    "W4": w4,
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
