"""aidjit.optim: PyTorch's optimisers and learning-rate schedules, as pure functions over pytrees.

    opt = aidjit.optim.Adam(lr=1e-3)
    opt_state = opt.init(params)                       # {"step": 0, "exp_avg": ..., ...}
    params, opt_state = opt.update(grads, opt_state, params)

`params` and `grads` are pytrees of float arrays with the same structure (nested dicts, as
`aidjit.nn` makes them); `opt_state` is a pytree too: the number of updates done (`"step"`, an
int64 array, torch's `state["step"]`) and one tree per buffer, named as torch names them. Nothing
is changed in place, and `update` is written with `aidjit.ops` only, so the same code runs eagerly
(numpy in, numpy out, as `value_and_grad`) and traces under `aidjit.jit`, where the optimiser
step compiles into the same native function as the forward and backward passes:

    @aidjit.jit
    def train_step(params, opt_state, x, y):
        loss, grads = aidjit.value_and_grad(loss_fn)(params, x, y)
        params, opt_state = opt.update(grads, opt_state, params)
        return loss, params, opt_state

Each update follows torch.optim's algorithm (its documented pseudo-code and single-tensor
implementation) step for step, so a model trained here and in PyTorch moves the same way.
Scalars that depend on the step (the learning rate of a schedule, Adam's bias corrections) are
computed in float64, as torch computes them in Python floats, then cast to each parameter's dtype:
float32 parameters and buffers stay float32.

`lr` is a number or a schedule: any callable from the number of updates done so far (0 at the
first update, a float64 tensor under `jit`) to a learning rate, written with `aidjit.ops` so it
traces. `Constant`, `StepDecay`, `ExponentialDecay` and `CosineAnnealing` are provided.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from aidjit.autodiff import ops
from aidjit.autodiff.tensor import Tensor
from aidjit.errors import ArgumentValueError, DTypeError, ShapeError
from aidjit.tree_util import keystr, tree_flatten, tree_flatten_with_path, tree_map

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Constant",
    "CosineAnnealing",
    "ExponentialDecay",
    "Optimizer",
    "RMSprop",
    "Schedule",
    "StepDecay",
]

Schedule = Callable[[Any], Any]
"""A learning rate as a function of the number of updates done so far (0, 1, 2, ...)."""

LearningRate = float | Schedule

STEP_KEY = "step"
"""The key of the update count in every optimiser state (torch's `state["step"]`)."""


def _require(ok: bool, owner: str, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ArgumentValueError(f"{owner}: invalid {name} {value!r}: it must be {expected}")


def _as_step(step: Any) -> Tensor:
    """The step as a float64 tensor, whatever it came as (int, numpy, int64 or float tensor)."""
    if isinstance(step, Tensor):
        return step if step.dtype == np.float64 else ops.astype(step, np.float64)
    return Tensor(np.asarray(step, np.float64))


# ----- learning-rate schedules ---------------------------------------------------------------


@dataclass(frozen=True)
class Constant:
    """`value` at every step."""

    value: float

    def __call__(self, step: Any) -> float:
        return self.value


@dataclass(frozen=True)
class StepDecay:
    """`value * gamma ** floor(step / step_size)`: torch's StepLR, stepped once per update."""

    value: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        _require(self.step_size > 0, "StepDecay", "step_size", self.step_size, "positive")

    def __call__(self, step: Any) -> Tensor:
        return self.value * self.gamma ** ops.floor(_as_step(step) / float(self.step_size))


@dataclass(frozen=True)
class ExponentialDecay:
    """`value * gamma ** step`: torch's ExponentialLR, stepped once per update."""

    value: float
    gamma: float

    def __call__(self, step: Any) -> Tensor:
        return self.value * self.gamma ** _as_step(step)


@dataclass(frozen=True)
class CosineAnnealing:
    """Cosine annealing from `value` to `min_value` over `total_steps`, after an optional warm-up.

    - warm-up, `step < warmup_steps`: linear from `warmup_value` (at step 0) towards `value`;
    - then `min_value + (value - min_value) * (1 + cos(pi * t / T)) / 2` with
      `t = step - warmup_steps` and `T = total_steps - warmup_steps` (torch's
      CosineAnnealingLR with `T_max = T`, `eta_min = min_value`);
    - from `total_steps` on, `min_value`: the schedule stays at its floor, where torch's closed
      form would climb back up (optax's `warmup_cosine_decay_schedule` does the same).
    """

    value: float
    total_steps: int
    min_value: float = 0.0
    warmup_steps: int = 0
    warmup_value: float = 0.0

    def __post_init__(self) -> None:
        _require(
            self.warmup_steps >= 0, "CosineAnnealing", "warmup_steps", self.warmup_steps, ">= 0"
        )
        _require(
            self.total_steps > self.warmup_steps,
            "CosineAnnealing",
            "total_steps",
            self.total_steps,
            f"greater than warmup_steps ({self.warmup_steps})",
        )

    def __call__(self, step: Any) -> Tensor:
        step = _as_step(step)
        decay_steps = float(self.total_steps - self.warmup_steps)
        progress = ops.clip((step - float(self.warmup_steps)) / decay_steps, 0.0, 1.0)
        amplitude = self.value - self.min_value
        annealed = self.min_value + amplitude * 0.5 * (1.0 + ops.cos(math.pi * progress))
        if self.warmup_steps == 0:
            return annealed
        slope = (self.value - self.warmup_value) / self.warmup_steps
        warming = self.warmup_value + slope * step
        return ops.where(step < float(self.warmup_steps), warming, annealed)


# ----- the optimiser engine --------------------------------------------------------------------


Scalars = dict[str, Any]
"""Per-step scalars of one update (learning rate, bias corrections), by name."""


class Optimizer:
    """What every optimiser shares: state layout, checks, the walk over the pytree, dtypes.

    A subclass says which buffers it keeps per parameter (`slot_names`, torch's state keys),
    which scalars each step needs (`step_scalars`, computed once per update in float64) and how
    one parameter moves (`update_leaf`). Python-level choices (momentum or not, amsgrad,
    centered) are decided when tracing, so a compiled step contains only the arithmetic used.
    """

    lr: LearningRate

    @property
    def name(self) -> str:
        """The optimiser's class name, as errors show it."""
        return type(self).__name__

    def slot_names(self) -> tuple[str, ...]:
        """The buffers kept per parameter, each a tree shaped like the parameters."""
        raise NotImplementedError

    def step_scalars(self, step: Tensor, lr: Any) -> Scalars:
        """Scalars of update number `step` (1 at the first update, float64) given its `lr`."""
        return {"lr": lr}

    def update_leaf(
        self, param: Any, grad: Any, slots: dict[str, Any], scalars: Scalars
    ) -> tuple[Any, dict[str, Any]]:
        """One parameter's new value and new buffers, from its gradient and old buffers; the
        scalars are already in the parameter's dtype."""
        raise NotImplementedError

    def init(self, params: Any) -> dict[str, Any]:
        """The state before the first update: step 0 and zero buffers shaped like `params`."""
        _, leaves, treedef = self._parameters(params)

        def zeros() -> Any:
            return treedef.unflatten(np.zeros(leaf.shape, leaf.dtype) for leaf in leaves)

        return {STEP_KEY: np.zeros((), np.int64), **{slot: zeros() for slot in self.slot_names()}}

    def update(
        self, grads: Any, opt_state: dict[str, Any], params: Any
    ) -> tuple[Any, dict[str, Any]]:
        """One optimisation step: `(new_params, new_opt_state)`; nothing is changed in place.

        Eagerly the results are numpy arrays; under `aidjit.jit` they are traced tensors.
        """
        paths, param_leaves, treedef = self._parameters(params)
        grad_leaves = self._leaves_like(grads, "grads", treedef, param_leaves, paths)
        self._check_state_keys(opt_state)
        slot_leaves = {
            slot: self._leaves_like(
                opt_state[slot], f"opt_state[{slot!r}]", treedef, param_leaves, paths
            )
            for slot in self.slot_names()
        }
        done = _as_step(opt_state[STEP_KEY])  # updates before this one: what a schedule reads
        step = done + 1.0  # torch's 1-based step of this update
        scalars = self.step_scalars(step, self.lr(done) if callable(self.lr) else self.lr)
        per_dtype: dict[np.dtype, Scalars] = {}
        new_params, new_slots = [], {slot: [] for slot in slot_leaves}
        for index, (param, grad) in enumerate(zip(param_leaves, grad_leaves, strict=True)):
            dtype = np.dtype(param.dtype)
            if dtype not in per_dtype:
                per_dtype[dtype] = {k: _in_dtype(v, dtype) for k, v in scalars.items()}
            slots = {slot: leaves[index] for slot, leaves in slot_leaves.items()}
            param, slots = self.update_leaf(param, grad, slots, per_dtype[dtype])
            new_params.append(param)
            for slot, value in slots.items():
                new_slots[slot].append(value)
        new_state = {slot: treedef.unflatten(leaves) for slot, leaves in new_slots.items()}
        new_state[STEP_KEY] = ops.astype(step, np.int64)
        return _export(treedef.unflatten(new_params)), _export(new_state)

    def _parameters(self, params: Any) -> tuple[list[str], list[Tensor], Any]:
        """The key paths and leaves of `params`, checked to be float arrays, and its structure.

        Leaves become Tensors: eager arithmetic then follows aidjit's dtype rules, as traced
        arithmetic does, instead of numpy's.
        """
        pairs, treedef = tree_flatten_with_path(params)
        paths = [keystr(path) for path, _ in pairs]
        for path, (_, leaf) in zip(paths, pairs, strict=True):
            self._check_float(leaf, f"params{path}")
        return paths, [Tensor(leaf) for _, leaf in pairs], treedef

    def _check_float(self, leaf: Any, where: str) -> None:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or np.dtype(dtype) not in (np.float32, np.float64):
            raise DTypeError(
                f"{self.name}: {where} must be a float32 or float64 array, got "
                f"{type(leaf).__name__}{'' if dtype is None else f' of {dtype}'}"
            )

    def _leaves_like(
        self, tree: Any, what: str, treedef: Any, params: list[Any], paths: list[str]
    ) -> list[Any]:
        """The leaves of `tree`, checked to match the parameters leaf by leaf."""
        leaves, structure = tree_flatten(tree)
        if structure != treedef:
            raise ShapeError(
                f"{self.name}.update: {what} has structure {structure}, but params have {treedef}"
            )
        for leaf, param, path in zip(leaves, params, paths, strict=True):
            self._check_float(leaf, f"{what}{path}")
            if tuple(leaf.shape) != param.shape:
                raise ShapeError(
                    f"{self.name}.update: {what}{path} has shape {tuple(leaf.shape)}, but "
                    f"params{path} has {param.shape}"
                )
            if np.dtype(leaf.dtype) != np.dtype(param.dtype):
                raise DTypeError(
                    f"{self.name}.update: {what}{path} is {leaf.dtype}, but params{path} is "
                    f"{param.dtype}"
                )
        return [Tensor(leaf) for leaf in leaves]

    def _check_state_keys(self, opt_state: Any) -> None:
        expected = sorted((STEP_KEY, *self.slot_names()))
        found = sorted(opt_state) if isinstance(opt_state, dict) else None
        if found != expected:
            raise ArgumentValueError(
                f"{self.name}.update: opt_state has keys {found}, expected {expected}: pass the "
                f"state this optimiser's init (or its last update) returned"
            )


def _in_dtype(value: Any, dtype: np.dtype) -> Any:
    """A float64 tensor scalar cast to `dtype`; Python numbers stay weak and adapt by themselves."""
    if isinstance(value, Tensor | np.ndarray):
        return ops.astype(value, dtype)
    return value


def _export(tree: Any) -> Any:
    """Concrete tensors leave as numpy arrays (as `value_and_grad`'s do); traced ones stay."""
    return tree_map(lambda leaf: leaf if leaf.is_symbolic else leaf.numpy(), tree)


def _check_common(owner: str, lr: LearningRate, weight_decay: float) -> None:
    if not callable(lr):
        _require(lr >= 0.0, owner, "learning rate", lr, ">= 0 (or a schedule)")
    _require(weight_decay >= 0.0, owner, "weight_decay", weight_decay, ">= 0")


# ----- the optimisers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SGD(Optimizer):
    """Stochastic gradient descent with momentum: torch.optim.SGD (defaults as torch 2.x's).

    For update t = 1, 2, ... with gradient g and parameter p:

        g = g + weight_decay * p                      if weight_decay != 0
        if momentum != 0:
            b = g                                     at t = 1
            b = momentum * b + (1 - dampening) * g    after
            g = g + momentum * b  if nesterov  else  b
        p = p - lr * g

    Nesterov momentum needs `momentum > 0` and `dampening == 0`, as in torch.
    State: `"step"` and, with momentum, `"momentum_buffer"`.
    """

    lr: LearningRate = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        _check_common(self.name, self.lr, self.weight_decay)
        _require(self.momentum >= 0.0, self.name, "momentum", self.momentum, ">= 0")
        _require(
            not self.nesterov or (self.momentum > 0.0 and self.dampening == 0.0),
            self.name,
            "nesterov",
            self.nesterov,
            "False unless momentum > 0 and dampening == 0",
        )

    def slot_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum else ()

    def step_scalars(self, step: Tensor, lr: Any) -> Scalars:
        # The first update copies the gradient into the buffer; with dampening == 0 a zero
        # buffer gives the same, so only a dampened momentum needs the "first update" mask.
        first = ops.equal(step, 1.0) if self.momentum and self.dampening else None
        return {"lr": lr, "first": first}

    def update_leaf(
        self, param: Any, grad: Any, slots: dict[str, Any], scalars: Scalars
    ) -> tuple[Any, dict[str, Any]]:
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            buffer = self.momentum * slots["momentum_buffer"] + (1.0 - self.dampening) * grad
            if scalars["first"] is not None:
                buffer = ops.where(scalars["first"], grad, buffer)
            slots = {"momentum_buffer": buffer}
            grad = grad + self.momentum * buffer if self.nesterov else buffer
        return param - scalars["lr"] * grad, slots


@dataclass(frozen=True)
class Adam(Optimizer):
    """Adam (Kingma and Ba), torch.optim.Adam; `amsgrad=True` for AMSGrad.

    For update t = 1, 2, ... with gradient g and parameter p:

        g = g + weight_decay * p                      if weight_decay != 0 (L2, coupled)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                         with amsgrad; then v stands for v_max
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State: `"step"`, `"exp_avg"` (m), `"exp_avg_sq"` (v) and with amsgrad `"max_exp_avg_sq"`.
    """

    lr: LearningRate = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    decoupled_weight_decay: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check_common(self.name, self.lr, self.weight_decay)
        _require(self.eps >= 0.0, self.name, "eps", self.eps, ">= 0")
        for index, beta in enumerate(self.betas):
            _require(0.0 <= beta < 1.0, self.name, f"betas[{index}]", beta, "in [0, 1)")

    def slot_names(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    def step_scalars(self, step: Tensor, lr: Any) -> Scalars:
        beta1, beta2 = self.betas
        return {
            "lr": lr,
            "step_size": lr / (1.0 - beta1**step),
            "bias_correction2_sqrt": ops.sqrt(1.0 - beta2**step),
        }

    def update_leaf(
        self, param: Any, grad: Any, slots: dict[str, Any], scalars: Scalars
    ) -> tuple[Any, dict[str, Any]]:
        beta1, beta2 = self.betas
        if self.weight_decay and self.decoupled_weight_decay:
            param = param * (1.0 - scalars["lr"] * self.weight_decay)
        elif self.weight_decay:
            grad = grad + self.weight_decay * param
        exp_avg = beta1 * slots["exp_avg"] + (1.0 - beta1) * grad
        exp_avg_sq = beta2 * slots["exp_avg_sq"] + (1.0 - beta2) * (grad * grad)
        new_slots = {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
        second_moment = exp_avg_sq
        if self.amsgrad:
            second_moment = ops.maximum(slots["max_exp_avg_sq"], exp_avg_sq)
            new_slots["max_exp_avg_sq"] = second_moment
        denominator = ops.sqrt(second_moment) / scalars["bias_correction2_sqrt"] + self.eps
        return param - scalars["step_size"] * (exp_avg / denominator), new_slots


@dataclass(frozen=True)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), torch.optim.AdamW.

    As Adam, except that weight decay shrinks the parameter before the Adam step instead of
    being added to the gradient: `p = p * (1 - lr * weight_decay)`, default 1e-2.
    """

    weight_decay: float = 1e-2
    decoupled_weight_decay: ClassVar[bool] = True


@dataclass(frozen=True)
class RMSprop(Optimizer):
    """RMSprop (Hinton), torch.optim.RMSprop; `centered=True` divides by the variance estimate.

    For update t = 1, 2, ... with gradient g and parameter p:

        g = g + weight_decay * p                      if weight_decay != 0
        v = alpha * v + (1 - alpha) * g * g
        a = sqrt(v) + eps                             not centered
        ga = alpha * ga + (1 - alpha) * g; a = sqrt(v - ga * ga) + eps     centered
        b = momentum * b + g / a; p = p - lr * b      if momentum > 0
        p = p - lr * g / a                            otherwise

    State: `"step"`, `"square_avg"` (v), `"grad_avg"` (ga, centered) and `"momentum_buffer"` (b).
    """

    lr: LearningRate = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    momentum: float = 0.0
    centered: bool = False
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        _check_common(self.name, self.lr, self.weight_decay)
        _require(self.eps >= 0.0, self.name, "eps", self.eps, ">= 0")
        _require(self.alpha >= 0.0, self.name, "alpha", self.alpha, ">= 0")
        _require(self.momentum >= 0.0, self.name, "momentum", self.momentum, ">= 0")

    def slot_names(self) -> tuple[str, ...]:
        centered = ("grad_avg",) if self.centered else ()
        momentum = ("momentum_buffer",) if self.momentum else ()
        return ("square_avg", *centered, *momentum)

    def update_leaf(
        self, param: Any, grad: Any, slots: dict[str, Any], scalars: Scalars
    ) -> tuple[Any, dict[str, Any]]:
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        square_avg = self.alpha * slots["square_avg"] + (1.0 - self.alpha) * (grad * grad)
        new_slots = {"square_avg": square_avg}
        variance = square_avg
        if self.centered:
            grad_avg = self.alpha * slots["grad_avg"] + (1.0 - self.alpha) * grad
            new_slots["grad_avg"] = grad_avg
            variance = square_avg - grad_avg * grad_avg
        direction = grad / (ops.sqrt(variance) + self.eps)
        if self.momentum:
            direction = self.momentum * slots["momentum_buffer"] + direction
            new_slots["momentum_buffer"] = direction
        return param - scalars["lr"] * direction, new_slots
