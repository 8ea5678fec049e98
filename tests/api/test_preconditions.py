"""Primitive preconditions: checks on argument values that compiled calls make for an op.

The compile API knows no op by name: it runs the `Precondition` of every primitive whose operand
an argument reaches. one_hot is today's one user (labels in range).
"""

import numpy as np
import pytest

import aidjit
from aidjit import ops
from aidjit.autodiff.ops.core import one_hot_p

F32 = np.float32


def test_one_hot_declares_its_label_range() -> None:
    precondition = one_hot_p.precondition
    assert precondition is not None and precondition.operand == 0
    params = {"num_classes": 4, "dtype": "float32"}
    assert precondition.check(np.array([0, 3, 1]), params) is None
    assert precondition.check(np.array([0, 4, -2]), params) == (
        "labels must lie in [0, 4), got values from -2 to 4"
    )
    # Nothing to check, or the loader's dtype error to come: not this check's to report.
    assert precondition.check(np.zeros((0,), np.int64), params) is None
    assert precondition.check(np.array([9.0]), params) is None


@pytest.mark.parametrize("backend", ["c", "interpreter"])
def test_every_op_an_argument_reaches_is_checked(backend: str) -> None:
    def encode(labels):
        return ops.sum(ops.one_hot(labels, 4)) + ops.sum(
            ops.one_hot(ops.reshape(labels, (2, 1)), 3)
        )

    compiled = aidjit.compile(encode, np.array([0, 2]), backend=backend)
    assert compiled(np.array([2, 1])) == pytest.approx(4.0)
    with pytest.raises(aidjit.ArgumentValueError, match=r"'labels': labels must lie in \[0, 3\)"):
        compiled(np.array([0, 3]))
    with pytest.raises(aidjit.ArgumentValueError, match=r"must lie in \[0, 4\), got .* 0 to 4"):
        compiled(np.array([0, 4]))


@pytest.mark.parametrize("backend", ["c", "interpreter"])
def test_arguments_concatenated_into_a_checked_operand_are_each_checked(backend: str) -> None:
    """concat only moves elements: a bad label in either operand would reach one_hot, where
    compiled code gives a row of zeros instead of raising."""

    def encode(first, second):
        return ops.one_hot(ops.concat([first, ops.reshape(second, (1,))]), 3)

    compiled = aidjit.compile(encode, np.array([0, 2]), np.array(1), backend=backend)
    np.testing.assert_array_equal(compiled(np.array([2, 0]), np.array(1)), np.eye(3)[[2, 0, 1]])
    with pytest.raises(aidjit.ArgumentValueError, match=r"'second': labels must lie in \[0, 3\)"):
        compiled(np.array([0, 1]), np.array(3))
    with pytest.raises(aidjit.ArgumentValueError, match=r"'first': labels must lie in \[0, 3\)"):
        compiled(np.array([-1, 1]), np.array(0))


def test_an_argument_that_reaches_no_checked_operand_is_not_checked() -> None:
    def scale(labels, x):
        return ops.astype(labels, F32) * x

    compiled = aidjit.compile(scale, np.array([0, 2]), np.ones(2, F32))
    np.testing.assert_array_equal(compiled(np.array([-5, 7]), np.ones(2, F32)), [-5.0, 7.0])


@pytest.mark.parametrize("backend", ["c", "interpreter"])
def test_take_checks_its_indices_negative_ones_counting_from_the_end(backend: str) -> None:
    x = np.arange(12.0, dtype=F32).reshape(3, 4)
    compiled = aidjit.compile(lambda x, i: ops.take(x, i, axis=1), x, np.array([0, -4, 3]))
    np.testing.assert_array_equal(compiled(x, np.array([3, -1, -4])), x[:, [3, 3, 0]])
    message = (
        r"argument 'i': gather \(take, .*\): index -5 is out of bounds for an axis of size 4 "
        r"\(valid: -4 to 3\)"
    )
    with pytest.raises(aidjit.ArgumentValueError, match=message):
        compiled(x, np.array([0, -5, 4]))
    with pytest.raises(IndexError, match="take: index 4 is out of bounds"):
        ops.take(x, np.array([4]), axis=1)
