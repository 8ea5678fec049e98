"""aidjit.losses: PyTorch's losses, written with `aidjit.ops`: they differentiate and trace.

    loss = aidjit.losses.cross_entropy(logits, labels)              # mean over the batch
    per_example = aidjit.losses.mse(pred, target, reduction="none")

Every loss takes `reduction`: `"mean"` (the default, over every element of the unreduced loss),
`"sum"` or `"none"` (the elementwise or per-example loss), as torch.nn.functional's do. Inputs
must agree in shape (no broadcasting: a target of shape (N,) against predictions (N, 1) is a
bug torch only warns about) and in dtype (float32 or float64); a mismatch raises
`aidjit.ShapeError` / `aidjit.DTypeError` naming the loss and both shapes or dtypes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aidjit.autodiff import ops
from aidjit.autodiff.tensor import Tensor
from aidjit.errors import ArgumentValueError, DTypeError, ShapeError

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber",
    "mse",
]

REDUCTIONS = ("mean", "sum", "none")

LOG_FLOOR = -100.0
"""torch's binary_cross_entropy clamps each log at -100, so a probability of 0 costs 100."""


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    return ops.sum(loss) if reduction == "sum" else loss


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ArgumentValueError(
            f"{name}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}, "
            f"got {reduction!r}"
        )


def _tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value))


def _spec(t: Tensor) -> str:
    return f"{t.dtype}{list(t.shape)}"


def _float_pair(name: str, first: str, a: Any, second: str, b: Any) -> tuple[Tensor, Tensor]:
    """`a` and `b` as tensors of one float dtype and one shape, or an error naming the loss."""
    a, b = _tensor(a), _tensor(b)
    for label, t in ((first, a), (second, b)):
        if t.dtype not in (np.float32, np.float64):
            raise DTypeError(f"{name}: {label} must be float32 or float64, got {_spec(t)}")
    if a.dtype != b.dtype:
        raise DTypeError(f"{name}: {first} {_spec(a)} and {second} {_spec(b)} differ in dtype")
    if a.shape != b.shape:
        raise ShapeError(f"{name}: {first} {_spec(a)} and {second} {_spec(b)} differ in shape")
    return a, b


def mse(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Squared error `(pred - target) ** 2`, reduced: torch.nn.functional.mse_loss."""
    _check_reduction("mse", reduction)
    pred, target = _float_pair("mse", "pred", pred, "target", target)
    difference = pred - target
    return _reduce(difference * difference, reduction)


def huber(pred: Any, target: Any, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Huber loss, torch.nn.functional.huber_loss: with `d = |pred - target|`,
    `0.5 * d**2` where `d < delta`, `delta * (d - 0.5 * delta)` elsewhere (quadratic near zero,
    linear in the tails, so outliers pull with a bounded gradient)."""
    _check_reduction("huber", reduction)
    if not delta > 0:
        raise ArgumentValueError(f"huber: delta must be positive, got {delta!r}")
    pred, target = _float_pair("huber", "pred", pred, "target", target)
    distance = ops.abs(pred - target)
    quadratic = 0.5 * distance * distance
    linear = delta * (distance - 0.5 * delta)
    return _reduce(ops.where(distance < delta, quadratic, linear), reduction)


def binary_cross_entropy(probs: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """`-(t * log(p) + (1 - t) * log(1 - p))`: torch.nn.functional.binary_cross_entropy.

    As in torch, each log is clamped at -100, so a probability of exactly 0 or 1 (a saturated
    `sigmoid`) costs at most 100 per element. The gradient there is 0 rather than nan: the log
    is taken of 1 where p is 0, and that branch is not selected. Prefer
    `binary_cross_entropy_with_logits` on the logits: its loss and gradient stay informative
    where the sigmoid saturates.
    """
    _check_reduction("binary_cross_entropy", reduction)
    probs, targets = _float_pair("binary_cross_entropy", "probs", probs, "targets", targets)

    def clamped_log(x: Tensor) -> Tensor:
        positive = x > 0.0
        return ops.where(
            positive, ops.maximum(ops.log(ops.where(positive, x, 1.0)), LOG_FLOOR), LOG_FLOOR
        )

    loss = -(targets * clamped_log(probs) + (1.0 - targets) * clamped_log(1.0 - probs))
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    logits: Any, targets: Any, pos_weight: Any = None, reduction: str = "mean"
) -> Tensor:
    """`binary_cross_entropy(sigmoid(logits), targets)` computed stably, as
    torch.nn.functional.binary_cross_entropy_with_logits:

        loss = (1 - t) * x - (1 + (pos_weight - 1) * t) * log_sigmoid(x)

    `log_sigmoid` never overflows, so the loss is finite for any logit (in float32 the
    subtraction rounds a loss below about `1e-7 * |x|` to 0, as torch's does). `pos_weight`
    (a scalar or an array broadcasting against the last axis, one weight per class) multiplies
    the positive term, trading recall against precision.
    """
    name = "binary_cross_entropy_with_logits"
    _check_reduction(name, reduction)
    logits, targets = _float_pair(name, "logits", logits, "targets", targets)
    log_weight: Any = 1.0
    if pos_weight is not None:
        weight = _tensor(pos_weight) if not np.isscalar(pos_weight) else pos_weight
        if isinstance(weight, Tensor) and weight.dtype != logits.dtype:
            raise DTypeError(
                f"{name}: pos_weight {_spec(weight)} and logits {_spec(logits)} differ in dtype"
            )
        log_weight = 1.0 + (weight - 1.0) * targets
    loss = (1.0 - targets) * logits - log_weight * ops.log_sigmoid(logits)
    return _reduce(loss, reduction)


def cross_entropy(
    logits: Any, labels: Any, reduction: str = "mean", label_smoothing: float = 0.0
) -> Tensor:
    """Cross-entropy of softmax(`logits`) against `labels`: torch.nn.functional.cross_entropy.

    Classes lie along the LAST axis of `logits` (as in `ops.cross_entropy`, JAX and Keras; torch
    puts them on axis 1 of an (N, C, d1, ...) input: move it last with `ops.transpose`).
    `labels` are either
    - int64 class indices of shape `logits.shape[:-1]` (out-of-range labels raise
      `aidjit.ShapeError` eagerly, `aidjit.ArgumentValueError` from a compiled call), or
    - float class probabilities of the same shape and dtype as `logits`.

    With `label_smoothing = s`, the target is mixed with the uniform distribution:
    `(1 - s) * target + s / classes`, as torch does for both kinds of label. The per-example
    loss `-sum(target * log_softmax(logits), axis=-1)` is then reduced; `"mean"` divides by the
    number of examples (`logits.size / classes`). The plain case (indices, mean, no smoothing)
    is `ops.cross_entropy` itself.
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentValueError(
            f"cross_entropy: label_smoothing must lie in [0, 1], got {label_smoothing!r}"
        )
    logits, labels = _tensor(logits), _class_labels(labels)
    if logits.dtype not in (np.float32, np.float64) or logits.ndim == 0:
        raise DTypeError(
            f"cross_entropy: logits must be a float32 or float64 array of rank >= 1, "
            f"got {_spec(logits)}"
        )
    classes = logits.shape[-1]
    if labels.dtype == np.int64:
        if labels.shape != logits.shape[:-1]:
            raise ShapeError(
                f"cross_entropy: class-index labels {_spec(labels)} must have the shape of "
                f"logits {_spec(logits)} without its last (class) axis, {list(logits.shape[:-1])}"
            )
        if reduction == "mean" and not label_smoothing:
            return ops.cross_entropy(logits, labels)
        _check_label_range(labels, classes)
        target = ops.one_hot(labels, classes, logits.dtype)
    elif labels.shape == logits.shape[:-1] and labels.shape != logits.shape:
        raise DTypeError(
            f"cross_entropy: labels {_spec(labels)} have the shape of class indices: pass them as "
            f"int64 (probability labels need the shape of logits {_spec(logits)})"
        )
    else:
        _, target = _float_pair("cross_entropy", "logits", logits, "probability labels", labels)
    if label_smoothing:
        target = (1.0 - label_smoothing) * target + label_smoothing / classes
    return _reduce(-ops.sum(target * ops.log_softmax(logits), axis=-1), reduction)


def _class_labels(labels: Any) -> Tensor:
    """Labels as a tensor; numpy integer arrays of any width become int64 (`one_hot`'s dtype)."""
    if isinstance(labels, Tensor):
        return labels
    array = np.asarray(labels)
    return Tensor(array.astype(np.int64) if array.dtype.kind in "iu" else array)


def _check_label_range(labels: Tensor, classes: int) -> None:
    """Reject eagerly what a compiled call rejects through one_hot's precondition."""
    if labels.is_symbolic or labels.size == 0:
        return
    values = labels.numpy()
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= classes:
        raise ShapeError(
            f"cross_entropy: labels must lie in [0, {classes}), got values from {low} to {high}"
        )
