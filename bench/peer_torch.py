"""PyTorch versions of the reference workloads: the "torch eager" and "torch.compile" columns.

Imported only when torch is installed (run.py imports it lazily). Inputs are the benchmark's numpy
arrays wrapped with `torch.from_numpy` (no copy) before timing. The training steps (W3, W5t)
compute the gradients with `torch.autograd.grad` on leaf tensors that require grad; under
torch.compile the loss function is compiled and AOTAutograd compiles its backward, the usual
torch.compile training set-up. W5t's batch_norm updates running statistics in place (torch's
only way): it updates copies made inside the loss function and returns them, so the benchmark's
inputs stay unchanged from call to call and the step is a function, as aidjit's and JAX's are.
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
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from timing import Column

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


def w5_head(
    h: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor, wd: torch.Tensor, bd: torch.Tensor
) -> torch.Tensor:
    h = torch.relu(F.conv2d(h, w2, b2, padding=1))
    return F.linear(F.adaptive_avg_pool2d(h, 1).flatten(1), wd.T, bd)


def w5i(*args: torch.Tensor) -> torch.Tensor:
    x, w1, b1, gamma, beta, running_mean, running_var, w2, b2, wd, bd = args
    z1 = F.conv2d(x, w1, b1, padding=1)
    y1 = F.batch_norm(z1, running_mean, running_var, gamma, beta, training=False, eps=1e-5)
    return w5_head(F.max_pool2d(torch.relu(y1), 2), w2, b2, wd, bd)


def w5t_loss(*args: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    w1, b1, gamma, beta, w2, b2, wd, bd, x, running_mean, running_var, labels = args
    new_mean, new_var = running_mean.clone(), running_var.clone()
    z1 = F.conv2d(x, w1, b1, padding=1)
    y1 = F.batch_norm(z1, new_mean, new_var, gamma, beta, training=True, momentum=0.1, eps=1e-5)
    logits = w5_head(F.max_pool2d(torch.relu(y1), 2), w2, b2, wd, bd)
    return F.cross_entropy(logits, labels), (new_mean, new_var)


def w6(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return x.mean(dim=1), x.var(dim=1, correction=0), torch.logsumexp(x, dim=1)


FORWARD: dict[str, Callable[..., Any]] = {
    "W1": w1,
    "W2a": mlp,
    "W2b": mlp,
    "W4": w4,
    "W5i": w5i,
    "W6": w6,
}


class Training(NamedTuple):
    """A training step: the loss function, how many leading arguments are parameters, and
    whether it returns `(loss, aux)` (the step then returns `((loss, aux), grads)`, JAX's and
    aidjit's has_aux layout)."""

    loss: Callable[..., Any]
    params: int
    has_aux: bool = False


TRAINING: dict[str, Training] = {
    "W3": Training(w3_loss, 6),
    "W5t": Training(w5t_loss, 8, has_aux=True),
}


def _training_step(training: Training, loss_fn: Callable[..., Any]) -> Callable[..., Any]:
    def step(*args: torch.Tensor) -> tuple[Any, tuple[torch.Tensor, ...]]:
        loss, aux = loss_fn(*args) if training.has_aux else (loss_fn(*args), None)
        grads = torch.autograd.grad(loss, args[: training.params])
        return ((loss.detach(), aux) if training.has_aux else loss.detach()), grads

    return step


def _tensors(workload_id: str, inputs: tuple[np.ndarray, ...]) -> list[torch.Tensor]:
    tensors = [torch.from_numpy(a) for a in inputs]
    if workload_id in TRAINING:
        params = TRAINING[workload_id].params
        tensors[:params] = [t.requires_grad_() for t in tensors[:params]]
    return tensors


def _function(workload_id: str, compiled: bool) -> Callable[..., Any]:
    if workload_id in TRAINING:
        training = TRAINING[workload_id]
        loss = torch.compile(training.loss, dynamic=False) if compiled else training.loss
        return _training_step(training, loss)
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
