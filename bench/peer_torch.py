"""PyTorch versions of the reference workloads: the "torch eager" and "torch.compile" columns.

Imported only when torch is installed (run.py imports it lazily). Inputs are the benchmark's numpy
arrays wrapped with `torch.from_numpy` (no copy) before timing. W3 computes the gradients with
`torch.autograd.grad` on leaf tensors that require grad; under torch.compile the loss function is
compiled and AOTAutograd compiles its backward, the usual torch.compile training set-up.
torch.compile runs in its default mode with `dynamic=False` (W2a and W2b share a function but
must not share dynamic-shape kernels); its first call (tracing + Inductor codegen + C++ build) is
made here, outside the timed region, and reported as `first_call_ms`.

Threads: the single-thread columns run in a process started with `OMP_NUM_THREADS=1`
(bench/columns.py). torch sizes its intra-op pool from that variable but not its inter-op pool,
so in such a process both are set to one here, at import, before torch runs anything.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from timing import Column

W3_PARAMS = 6

if os.environ.get("OMP_NUM_THREADS") == "1":
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)


def w1(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x * a + b) * torch.sigmoid(x) + 0.5 * x * x - torch.exp(-torch.abs(x))


def mlp(x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
    w1, b1, w2, b2, w3, b3 = params
    h = torch.relu(x @ w1 + b1)
    h = torch.relu(h @ w2 + b2)
    return torch.softmax(h @ w3 + b3, dim=-1)


def w3_loss(*args: torch.Tensor) -> torch.Tensor:
    w1, b1, w2, b2, w3, b3, x, labels = args
    h = torch.relu(x @ w1 + b1)
    h = torch.relu(h @ w2 + b2)
    return F.cross_entropy(h @ w3 + b3, labels)


def w4(x: torch.Tensor, wq: torch.Tensor, wk: torch.Tensor, wv: torch.Tensor) -> torch.Tensor:
    q, k, v = x @ wq, x @ wk, x @ wv
    a = torch.softmax(q @ k.T / 16.0, dim=-1)
    return F.layer_norm(a @ v + x, (x.shape[-1],), eps=1e-5)


def w6(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return x.mean(dim=1), x.var(dim=1, correction=0), torch.logsumexp(x, dim=1)


FORWARD: dict[str, Callable[..., Any]] = {"W1": w1, "W2a": mlp, "W2b": mlp, "W4": w4, "W6": w6}


def _training_step(loss_fn: Callable[..., torch.Tensor]) -> Callable[..., Any]:
    def step(*args: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        loss = loss_fn(*args)
        return loss.detach(), torch.autograd.grad(loss, args[:W3_PARAMS])

    return step


def _tensors(workload_id: str, inputs: tuple[np.ndarray, ...]) -> list[torch.Tensor]:
    tensors = [torch.from_numpy(a) for a in inputs]
    if workload_id == "W3":
        tensors[:W3_PARAMS] = [t.requires_grad_() for t in tensors[:W3_PARAMS]]
    return tensors


def _function(workload_id: str, compiled: bool) -> Callable[..., Any]:
    if workload_id == "W3":
        loss = torch.compile(w3_loss, dynamic=False) if compiled else w3_loss
        return _training_step(loss)
    forward = FORWARD[workload_id]
    return torch.compile(forward, dynamic=False) if compiled else forward


def _to_numpy(leaf: torch.Tensor) -> np.ndarray:
    return leaf.detach().numpy()


def _column(name: str, workload_id: str, inputs: tuple[np.ndarray, ...], compiled: bool) -> Column:
    fn = _function(workload_id, compiled)
    args = _tensors(workload_id, inputs)
    start = time.perf_counter()
    fn(*args)
    first_call_ms = (time.perf_counter() - start) * 1e3
    return Column(name, lambda: fn(*args), _to_numpy, first_call_ms if compiled else None)


def eager_column(workload_id: str, inputs: tuple[np.ndarray, ...]) -> Column:
    return _column("torch eager", workload_id, inputs, compiled=False)


def compiled_column(workload_id: str, inputs: tuple[np.ndarray, ...]) -> Column:
    return _column("torch.compile", workload_id, inputs, compiled=True)


def threads() -> str:
    return (
        f"torch intra-op threads: {torch.get_num_threads()}, "
        f"inter-op: {torch.get_num_interop_threads()}"
    )
