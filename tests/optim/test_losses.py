"""aidjit.losses: each loss against a numpy reference written from torch's definition (f32, f64,
every reduction), gradients against finite differences (f64), compiled == eager (one jit'd
function per dtype for every case), the edge cases torch defines, and the errors."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import aidjit
import aidjit.losses as losses
from aidjit import ArgumentValueError, DTypeError, ShapeError, Tensor, ops

TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
REDUCE = {"mean": np.mean, "sum": np.sum, "none": lambda loss: loss}


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def bce_reference(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped as torch does
        log_p, log_not_p = np.maximum(np.log(p), -100), np.maximum(np.log(1 - p), -100)
    return -(t * log_p + (1 - t) * log_not_p)


def bce_logits_reference(x: np.ndarray, t: np.ndarray, pos_weight: float | np.ndarray = 1.0):
    """By definition, -[w t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], with
    log sigmoid(x) = -logaddexp(0, -x) and log(1 - sigmoid(x)) = -logaddexp(0, x)."""
    return pos_weight * t * np.logaddexp(0, -x) + (1 - t) * np.logaddexp(0, x)


def cross_entropy_reference(logits: np.ndarray, target: np.ndarray, smoothing: float = 0.0):
    """torch's definition: target class indices become one-hot rows, then are smoothed."""
    classes = logits.shape[-1]
    if target.dtype.kind == "i":
        target = np.eye(classes)[target]
    target = (1 - smoothing) * target + smoothing / classes
    return -(target * log_softmax(logits)).sum(axis=-1)


def huber_reference(pred: np.ndarray, target: np.ndarray, delta: float) -> np.ndarray:
    d = np.abs(pred - target)
    return np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.exp(log_softmax(rng.normal(size=shape)))


@dataclass(frozen=True)
class LossCase:
    id: str
    loss: Callable[..., Tensor]  # the inputs, then reduction=
    reference: Callable[..., np.ndarray]  # the unreduced loss, in float64
    make: Callable[[np.random.Generator], list[np.ndarray]]  # float64 and int64 inputs
    wrt: tuple[int, ...]  # the inputs with a gradient

    def inputs(self, dtype: type) -> list[np.ndarray]:
        arrays = self.make(np.random.default_rng(0))
        return [a if a.dtype.kind == "i" else a.astype(dtype) for a in arrays]


POS_WEIGHT = np.array([0.5, 2.0, 1.5, 3.0])

CASES = [
    LossCase(
        "mse",
        losses.mse,
        lambda p, t: (p - t) ** 2,
        lambda rng: [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))],
        (0, 1),
    ),
    LossCase(
        "huber",
        losses.huber,
        lambda p, t: huber_reference(p, t, 1.0),
        lambda rng: [2 * rng.normal(size=(3, 4)), rng.normal(size=(3, 4))],
        (0, 1),
    ),
    LossCase(
        "huber-delta",
        lambda p, t, reduction: losses.huber(p, t, delta=0.3, reduction=reduction),
        lambda p, t: huber_reference(p, t, 0.3),
        lambda rng: [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))],
        (0, 1),
    ),
    LossCase(
        "bce",
        losses.binary_cross_entropy,
        bce_reference,
        lambda rng: [rng.uniform(0.05, 0.95, size=(3, 4)), rng.uniform(0, 1, size=(3, 4))],
        (0, 1),
    ),
    LossCase(
        "bce-logits",
        losses.binary_cross_entropy_with_logits,
        bce_logits_reference,
        lambda rng: [3 * rng.normal(size=(3, 4)), rng.uniform(0, 1, size=(3, 4))],
        (0, 1),
    ),
    LossCase(
        "bce-logits-pos-weight",
        lambda x, t, reduction: losses.binary_cross_entropy_with_logits(
            x, t, pos_weight=POS_WEIGHT.astype(x.dtype), reduction=reduction
        ),
        lambda x, t: bce_logits_reference(x, t, POS_WEIGHT),
        lambda rng: [3 * rng.normal(size=(3, 4)), rng.integers(0, 2, (3, 4)).astype(float)],
        (0, 1),
    ),
    LossCase(
        "ce-indices",
        losses.cross_entropy,
        cross_entropy_reference,
        lambda rng: [rng.normal(size=(4, 5)), rng.integers(0, 5, size=4)],
        (0,),
    ),
    LossCase(
        "ce-indices-3d-smoothing",
        lambda x, y, reduction: losses.cross_entropy(x, y, reduction, label_smoothing=0.2),
        lambda x, y: cross_entropy_reference(x, y, 0.2),
        lambda rng: [rng.normal(size=(2, 3, 5)), rng.integers(0, 5, size=(2, 3))],
        (0,),
    ),
    LossCase(
        "ce-probabilities",
        losses.cross_entropy,
        cross_entropy_reference,
        lambda rng: [rng.normal(size=(4, 5)), probabilities(rng, (4, 5))],
        (0, 1),
    ),
    LossCase(
        "ce-probabilities-smoothing",
        lambda x, y, reduction: losses.cross_entropy(x, y, reduction, label_smoothing=0.1),
        lambda x, y: cross_entropy_reference(x, y, 0.1),
        lambda rng: [rng.normal(size=(4, 5)), probabilities(rng, (4, 5))],
        (0, 1),
    ),
]
CASE_IDS = [case.id for case in CASES]


@pytest.mark.parametrize("reduction", REDUCE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_loss_matches_reference(case: LossCase, dtype: type, reduction: str) -> None:
    inputs = case.inputs(dtype)
    result = case.loss(*inputs, reduction=reduction)
    expected = REDUCE[reduction](case.reference(*case.inputs(np.float64)))
    assert isinstance(result, Tensor) and result.dtype == dtype
    assert result.shape == np.shape(expected)
    np.testing.assert_allclose(result.numpy(), expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_gradient_matches_finite_differences(case: LossCase, reduction: str) -> None:
    inputs = case.inputs(np.float64)
    weights = np.random.default_rng(1).uniform(0.5, 1.5, np.shape(case.reference(*inputs)))

    def scalar(*args: np.ndarray) -> Tensor:
        loss = case.loss(*args, reduction=reduction)
        return loss if reduction == "mean" else ops.sum(loss * weights)

    grads = aidjit.grad(scalar, argnums=case.wrt)(*inputs)
    eps = 1e-6
    for position, grad in zip(case.wrt, grads, strict=True):
        numeric = np.zeros_like(inputs[position])
        for index in np.ndindex(numeric.shape):
            shifted = [a.copy() for a in inputs]
            shifted[position][index] += eps
            plus = scalar(*shifted).numpy()
            shifted[position][index] -= 2 * eps
            numeric[index] = (plus - scalar(*shifted).numpy()) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=f"input {position}")


def every_loss(inputs: dict[str, list]) -> tuple[dict, dict]:
    """Every case under every reduction, and the gradient of their weighted sum."""

    def total(floats: dict[str, list]) -> tuple[Tensor, dict]:
        values, value = {}, 0.0
        for case in CASES:
            args = list(inputs[case.id])
            for position, array in zip(case.wrt, floats[case.id], strict=True):
                args[position] = array
            for reduction in REDUCE:
                values[f"{case.id}-{reduction}"] = case.loss(*args, reduction=reduction)
            value = value + ops.sum(values[f"{case.id}-none"] * 0.5) + values[f"{case.id}-mean"]
        return value, values

    floats = {case.id: [inputs[case.id][i] for i in case.wrt] for case in CASES}
    (_, values), grads = aidjit.value_and_grad(total, has_aux=True)(floats)
    return values, grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_losses_and_gradients_match_eager(dtype: type) -> None:
    inputs = {case.id: case.inputs(dtype) for case in CASES}
    eager_values, eager_grads = every_loss(inputs)
    compiled_values, compiled_grads = aidjit.jit(every_loss)(inputs)
    for expected, actual in ((eager_values, compiled_values), (eager_grads, compiled_grads)):
        assert expected.keys() == actual.keys()
        for key in expected:
            for e, a in zip(np.atleast_1d(expected[key]), np.atleast_1d(actual[key]), strict=True):
                assert a.dtype == dtype, key
                np.testing.assert_allclose(a, e, **TOLERANCE[dtype], err_msg=key)


# ----- edge cases torch defines ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_of_saturated_probabilities(dtype: type) -> None:
    """torch clamps each log at -100: a wrong certain prediction costs 100, not inf, and the
    gradient stays finite (a saturated float32 sigmoid gives exactly 0 and 1)."""
    probs = np.array([0.0, 1.0, 0.0, 1.0], dtype)
    targets = np.array([1.0, 0.0, 0.0, 1.0], dtype)
    loss = losses.binary_cross_entropy(probs, targets, reduction="none").numpy()
    np.testing.assert_array_equal(loss, [100.0, 100.0, 0.0, 0.0])
    grads = aidjit.grad(lambda p: losses.binary_cross_entropy(p, targets))(probs)
    assert np.isfinite(grads).all()


def test_binary_cross_entropy_with_logits_is_finite_for_huge_logits() -> None:
    """No overflow at any logit; as in torch (the same formula), (1 - t) * x - log_sigmoid(x)
    cancels in float32 to an absolute error of about eps * |x|."""
    logits = np.array([-200.0, 200.0, 30.0, -30.0], np.float32)
    targets = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    loss = losses.binary_cross_entropy_with_logits(logits, targets, reduction="none").numpy()
    expected = bce_logits_reference(logits.astype(float), targets)
    np.testing.assert_allclose(loss, expected, rtol=1e-6, atol=1e-5)
    assert loss[0] == 200.0 and loss[1] == 200.0


def test_cross_entropy_with_indices_equals_one_hot_probabilities_and_ops_cross_entropy() -> None:
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(6, 4)), rng.integers(0, 4, size=6)
    by_index = losses.cross_entropy(logits, labels).numpy()
    by_probability = losses.cross_entropy(logits, np.eye(4)[labels]).numpy()
    assert by_index == ops.cross_entropy(logits, labels).numpy()
    np.testing.assert_allclose(by_probability, by_index, rtol=1e-14)


def test_cross_entropy_accepts_narrow_integer_labels() -> None:
    logits = np.zeros((2, 3), np.float32)
    loss = losses.cross_entropy(logits, np.array([0, 2], np.int32), reduction="sum")
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.numpy(), 2 * np.log(3), rtol=1e-6)


# ----- errors ------------------------------------------------------------------------------------

LOSSES_OF_TWO = [
    losses.mse,
    losses.huber,
    losses.binary_cross_entropy,
    losses.binary_cross_entropy_with_logits,
    losses.cross_entropy,
]


@pytest.mark.parametrize("loss", LOSSES_OF_TWO, ids=lambda f: f.__name__)
def test_a_bad_reduction_names_the_loss(loss: Callable[..., Tensor]) -> None:
    a = np.full((2, 3), 0.5, np.float32)
    with pytest.raises(ArgumentValueError, match=f"{loss.__name__}: reduction must be one of"):
        loss(a, a, reduction="avg")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: losses.cross_entropy(np.zeros((4, 5), np.float32), np.zeros(3, np.int64)),
            ShapeError,
            r"cross_entropy: class-index labels int64\[3\] must have the shape of logits "
            r"float32\[4, 5\] without its last \(class\) axis, \[4\]",
        ),
        (
            lambda: losses.cross_entropy(
                np.zeros((4, 5), np.float32), np.zeros((4, 4), np.float32)
            ),
            ShapeError,
            r"cross_entropy: logits float32\[4, 5\] and probability labels float32\[4, 4\] differ",
        ),
        (
            lambda: losses.cross_entropy(np.zeros((4, 5)), np.zeros(4)),
            DTypeError,
            r"cross_entropy: labels float64\[4\] have the shape of class indices: pass them as "
            "int64",
        ),
        (
            lambda: losses.cross_entropy(np.zeros((2, 3)), np.array([0, 3])),
            ShapeError,
            r"cross_entropy: labels must lie in \[0, 3\), got values from 0 to 3",
        ),
        (
            lambda: losses.cross_entropy(np.zeros((2, 3)), np.array([0, 3]), reduction="none"),
            ShapeError,
            r"cross_entropy: labels must lie in \[0, 3\)",
        ),
        (
            lambda: losses.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=1.5),
            ArgumentValueError,
            r"cross_entropy: label_smoothing must lie in \[0, 1\], got 1.5",
        ),
        (
            lambda: losses.mse(np.zeros((3, 1), np.float32), np.zeros(3, np.float32)),
            ShapeError,
            r"mse: pred float32\[3, 1\] and target float32\[3\] differ in shape",
        ),
        (
            lambda: losses.huber(np.zeros(3, np.float32), np.zeros(3)),
            DTypeError,
            r"huber: pred float32\[3\] and target float64\[3\] differ in dtype",
        ),
        (
            lambda: losses.huber(np.zeros(3), np.zeros(3), delta=0.0),
            ArgumentValueError,
            "huber: delta must be positive, got 0.0",
        ),
        (
            lambda: losses.binary_cross_entropy(np.zeros(3, np.int64), np.zeros(3, np.int64)),
            DTypeError,
            r"binary_cross_entropy: probs must be float32 or float64, got int64\[3\]",
        ),
        (
            lambda: losses.binary_cross_entropy_with_logits(
                np.zeros(3, np.float32), np.zeros(3, np.float32), pos_weight=np.ones(3)
            ),
            DTypeError,
            r"binary_cross_entropy_with_logits: pos_weight float64\[3\] and logits float32\[3\]",
        ),
    ],
)
def test_errors_name_the_loss_and_what_is_wrong(
    call: Callable[[], object], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        call()
