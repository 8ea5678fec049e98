"""aidjit demo: compile an MLP (inference, workload W2) and its training step (W3).

Each compiled function is checked against eager execution (aidjit's numpy-backed tape) and timed
against it; the training step — forward, cross-entropy and all six gradients — is one native
function. Run: `python examples/demo.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

import aidjit
from aidjit import ops

SIZES = (784, 256, 256, 10)


def init_params(rng: np.random.Generator) -> list[np.ndarray]:
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        params.append((rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32))
        params.append(np.zeros(fan_out, np.float32))
    return params


def logits(x: Any, w1: Any, b1: Any, w2: Any, b2: Any, w3: Any, b3: Any) -> Any:
    h = ops.relu(x @ w1 + b1)
    h = ops.relu(h @ w2 + b2)
    return h @ w3 + b3


def mlp(x: Any, *params: Any) -> Any:
    return ops.softmax(logits(x, *params))


def loss(w1: Any, b1: Any, w2: Any, b2: Any, w3: Any, b3: Any, x: Any, labels: Any) -> Any:
    return ops.cross_entropy(logits(x, w1, b1, w2, b2, w3, b3), labels)


train_step = aidjit.value_and_grad(loss, argnums=(0, 1, 2, 3, 4, 5))


def median_ms(fn: Callable[[], Any], budget_s: float = 0.5) -> float:
    fn()
    times = []
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline or len(times) < 5:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def as_list(result: Any) -> list[np.ndarray]:
    if isinstance(result, tuple):
        return [a for item in result for a in as_list(item)]
    return [np.asarray(result)]


def report(name: str, fn: Callable[..., Any], eager: Callable[..., Any], args: list[Any]) -> None:
    start = time.perf_counter()
    compiled = aidjit.compile(fn, *args)
    compile_ms = (time.perf_counter() - start) * 1e3
    for got, want in zip(as_list(compiled(*args)), as_list(eager(*args)), strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)
    eager_ms = median_ms(lambda: eager(*args))
    compiled_ms = median_ms(lambda: compiled(*args))
    print(
        f"{name:<28} eager {eager_ms:8.3f} ms   compiled {compiled_ms:8.3f} ms   "
        f"speed-up {eager_ms / compiled_ms:6.1f}x   (compile {compile_ms:.0f} ms, "
        f"cache {compiled.stats.cache}, {compiled.stats.ops_before} -> "
        f"{compiled.stats.ops_after} graph ops)"
    )


def main() -> None:
    rng = np.random.default_rng(0)
    params = init_params(rng)
    print(f"aidjit demo — MLP {' -> '.join(map(str, SIZES))}, float32; results match eager\n")
    for batch in (1, 256):
        x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
        eager_mlp = lambda *a: mlp(*[aidjit.Tensor(v) for v in a]).numpy()  # noqa: E731
        report(f"W2 MLP inference, batch {batch}", mlp, eager_mlp, [x, *params])
    x = rng.standard_normal((64, SIZES[0])).astype(np.float32)
    labels = rng.integers(0, SIZES[-1], size=64).astype(np.int64)
    report("W3 training step, batch 64", train_step, train_step, [*params, x, labels])


if __name__ == "__main__":
    main()
