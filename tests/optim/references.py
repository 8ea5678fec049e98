"""numpy references of torch.optim's algorithms, written from PyTorch's documented pseudo-code
(the textbook form: Adam with bias-corrected m-hat and v-hat, not torch's rearranged step size),
and the table of optimiser variants the tests run against them.

Each reference takes the initial parameter, the gradients of successive steps and the learning
rate of each step, and returns the parameter after every step; it runs in float64 whatever the
dtype of its inputs, so an aidjit float32 run is compared with exact arithmetic.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import aidjit.optim as optim

Reference = Callable[[np.ndarray, Sequence[np.ndarray], Sequence[float]], list[np.ndarray]]


def sgd(
    momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0
) -> Reference:
    def run(p: np.ndarray, grads: Sequence[np.ndarray], lrs: Sequence[float]) -> list[np.ndarray]:
        p, buffer, history = p.astype(np.float64), None, []
        for g, lr in zip(grads, lrs, strict=True):
            g = g.astype(np.float64)
            if weight_decay:
                g = g + weight_decay * p
            if momentum:
                buffer = g.copy() if buffer is None else momentum * buffer + (1 - dampening) * g
                g = g + momentum * buffer if nesterov else buffer
            p = p - lr * g
            history.append(p)
        return history

    return run


def adam(
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    decoupled: bool = False,
) -> Reference:
    beta1, beta2 = betas

    def run(p: np.ndarray, grads: Sequence[np.ndarray], lrs: Sequence[float]) -> list[np.ndarray]:
        p, history = p.astype(np.float64), []
        m = v = v_max = np.zeros_like(p)
        for t, (g, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
            g = g.astype(np.float64)
            if decoupled:
                p = p * (1 - lr * weight_decay)
            elif weight_decay:
                g = g + weight_decay * p
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            m_hat = m / (1 - beta1**t)
            if amsgrad:
                v_max = np.maximum(v_max, v)
                v_hat = v_max / (1 - beta2**t)
            else:
                v_hat = v / (1 - beta2**t)
            p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
            history.append(p)
        return history

    return run


def rmsprop(
    alpha: float = 0.99,
    eps: float = 1e-8,
    momentum: float = 0.0,
    centered: bool = False,
    weight_decay: float = 0.0,
) -> Reference:
    def run(p: np.ndarray, grads: Sequence[np.ndarray], lrs: Sequence[float]) -> list[np.ndarray]:
        p, history = p.astype(np.float64), []
        v = g_avg = buffer = np.zeros_like(p)
        for g, lr in zip(grads, lrs, strict=True):
            g = g.astype(np.float64)
            if weight_decay:
                g = g + weight_decay * p
            v = alpha * v + (1 - alpha) * g * g
            v_tilde = v
            if centered:
                g_avg = alpha * g_avg + (1 - alpha) * g
                v_tilde = v - g_avg * g_avg
            if momentum > 0:
                buffer = momentum * buffer + g / (np.sqrt(v_tilde) + eps)
                p = p - lr * buffer
            else:
                p = p - lr * g / (np.sqrt(v_tilde) + eps)
            history.append(p)
        return history

    return run


@dataclass(frozen=True)
class Variant:
    id: str
    optimizer: optim.Optimizer
    reference: Reference

    def learning_rates(self, steps: int) -> list[float]:
        """The closed-form learning rate of each step (the schedules' own tests check these)."""
        lr: Any = self.optimizer.lr
        return [float(lr(t)) if callable(lr) else lr for t in range(steps)]


VARIANTS = [
    Variant("sgd", optim.SGD(lr=0.1), sgd()),
    Variant("sgd-momentum", optim.SGD(lr=0.1, momentum=0.9), sgd(momentum=0.9)),
    Variant(
        "sgd-dampening-decay",
        optim.SGD(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1),
        sgd(momentum=0.8, dampening=0.3, weight_decay=0.1),
    ),
    Variant(
        "sgd-nesterov-stepdecay",
        optim.SGD(lr=optim.StepDecay(0.1, step_size=2, gamma=0.5), momentum=0.9, nesterov=True),
        sgd(momentum=0.9, nesterov=True),
    ),
    Variant("adam", optim.Adam(lr=0.01), adam()),
    Variant(
        "adam-amsgrad-decay",
        optim.Adam(lr=0.02, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1, amsgrad=True),
        adam(betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1, amsgrad=True),
    ),
    Variant("adamw", optim.AdamW(lr=0.01), adam(weight_decay=1e-2, decoupled=True)),
    Variant(
        "adamw-amsgrad-cosine",
        optim.AdamW(
            lr=optim.CosineAnnealing(0.05, total_steps=5, warmup_steps=2, warmup_value=0.01),
            weight_decay=0.2,
            amsgrad=True,
        ),
        adam(weight_decay=0.2, amsgrad=True, decoupled=True),
    ),
    Variant("rmsprop", optim.RMSprop(), rmsprop()),
    Variant(
        "rmsprop-centered-momentum-decay",
        optim.RMSprop(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1),
        rmsprop(alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1),
    ),
    Variant(
        "rmsprop-exponential",
        optim.RMSprop(lr=optim.ExponentialDecay(0.02, gamma=0.7), momentum=0.9),
        rmsprop(momentum=0.9),
    ),
]

VARIANT_IDS = [variant.id for variant in VARIANTS]
