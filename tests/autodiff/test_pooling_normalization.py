"""Pooling and normalisation beyond the op table: max pooling's tie rule against gradients worked
out by hand (finite differences are undefined at a tie), and the errors torch's rules raise."""

from typing import Any

import numpy as np
import pytest

import aidjit
from aidjit import Tensor, ops
from aidjit.errors import ShapeError, UnsupportedError

TIES = np.array([[1, 1, 0, 0], [1, 1, 0, 2], [0, 0, 2, 2], [3, 0, 0, 0]], np.float32)[None, None]
WEIGHTS = np.arange(1.0, 10.0, dtype=np.float32).reshape(1, 1, 3, 3)

# Each 2x2 window (stride 1) of TIES sends its weight to its first maximum in row-major order:
# window (1, 2) holds three 2s and the first, at (1, 3), takes 6; window (2, 2) = [2, 2, 0, 0]
# sends 9 to (2, 2); the all-equal window (0, 0) sends 1 to (0, 0) alone.
TIES_GRADIENT = np.array(
    [[1, 2, 0, 0], [4, 0, 0, 3 + 6], [0, 0, 5 + 8 + 9, 0], [7, 0, 0, 0]], np.float32
)[None, None]

# Zeros with -inf padding: every window is a tie of its real elements, and its first one takes
# the (unit) cotangent: windows (i, j) start at (i - 1, j - 1), clamped to the input.
PADDED_ZEROS_GRADIENT = np.array([[4, 2, 2], [2, 1, 1], [2, 1, 1]], np.float32)[None, None]


def tied_loss(ties: Tensor, zeros: Tensor) -> Tensor:
    windows = ops.max_pool2d(ties, 2, stride=1) * WEIGHTS
    padded = ops.max_pool2d(zeros, 2, stride=1, padding=1)
    return ops.sum(windows) + ops.sum(padded)


def test_max_pool2d_sends_a_tied_window_to_its_first_maximum_eagerly_and_compiled() -> None:
    zeros = np.zeros((1, 1, 3, 3), np.float32)
    step = aidjit.value_and_grad(tied_loss, argnums=(0, 1))
    for _, grads in (step(TIES, zeros), aidjit.compile(step, TIES, zeros)(TIES, zeros)):
        np.testing.assert_array_equal(np.asarray(grads[0]), TIES_GRADIENT)
        np.testing.assert_array_equal(np.asarray(grads[1]), PADDED_ZEROS_GRADIENT)


X = np.zeros((2, 4, 5, 5), np.float32)
STATS = np.ones(4, np.float32)

REFUSALS: list[tuple[Any, type[Exception], str]] = [
    (lambda: ops.max_pool2d(X, 2, padding=2), ShapeError, "at most half of the effective kernel"),
    (lambda: ops.max_pool2d(X, 7), ShapeError, "does not fit in an axis of size 5"),
    (lambda: ops.max_pool2d(X[0], 2), ShapeError, "expected an NCHW tensor of rank 4"),
    (lambda: ops.avg_pool2d(X, (2, 2, 2)), ShapeError, "kernel_size must be an int or a pair"),
    (lambda: ops.avg_pool2d(X, 2, divisor_override=0), ShapeError, "divisor_override"),
    (lambda: ops.adaptive_avg_pool2d(X, (0, 2)), ShapeError, "output_size must be positive"),
    (lambda: ops.batch_norm(X, STATS, STATS), ShapeError, "needs running_mean and running_var"),
    (lambda: ops.batch_norm(X, running_mean=STATS), ShapeError, "give both running_mean"),
    (
        lambda: ops.batch_norm(X, running_mean=STATS[:3], running_var=STATS[:3], training=True),
        ShapeError,
        "running_mean tensor<3xf32> must have shape (4,)",
    ),
    (
        lambda: ops.batch_norm(X, None, None, STATS, STATS, training=True, momentum=None),
        UnsupportedError,
        "momentum=None",
    ),
    (lambda: ops.batch_norm(X[:1, :, :1, :1], training=True), ShapeError, "more than one value"),
    (lambda: ops.group_norm(X, 3), ShapeError, "must be positive and divide the 4 channels"),
    (lambda: ops.instance_norm(X[0, 0]), ShapeError, "rank 3 or more"),
]


@pytest.mark.parametrize("call, error, message", REFUSALS, ids=[r[2] for r in REFUSALS])
def test_torch_rules_are_refused_with_the_op_named(call: Any, error: type, message: str) -> None:
    with pytest.raises(error, match="pool|norm") as raised:
        call()
    assert message in str(raised.value)
