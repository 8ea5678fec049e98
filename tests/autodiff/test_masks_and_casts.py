"""Comparison masks, `ops.where` and `astype`: the edge cases a table row does not reach."""

import numpy as np
import pytest

import aidjit
from aidjit import GradientTape, Tensor, ops
from aidjit.errors import DTypeError, ShapeError

BACKENDS = ["eager", "c", "interpreter"]


def run(fn, backend: str, *args: np.ndarray):
    if backend == "eager":
        result = fn(*[Tensor(a) for a in args])
        return tuple(map(np.asarray, result)) if isinstance(result, tuple) else np.asarray(result)
    return aidjit.compile(fn, *args, backend=backend)(*args)


@pytest.mark.parametrize("backend", BACKENDS)
def test_where_never_leaks_the_branch_not_taken(backend: str) -> None:
    """log(x) is nan below 0: it never reaches the result.

    The gradient needs JAX's double-where idiom, as in JAX: where sends a zero cotangent to
    log, but log's own rule computes 0 / x, which is nan at x = 0 — hence the inner where.
    """
    x = np.array([-1.0, 0.0, 2.0, np.nan], np.float32)

    def safe_log(t: Tensor) -> Tensor:
        positive = t > 0.0
        return ops.where(positive, ops.log(ops.where(positive, t, 1.0)), -1.0)

    def value_and_grad(t: Tensor):
        return aidjit.value_and_grad(lambda u: ops.sum(safe_log(u)))(t)

    value, grad = run(value_and_grad, backend, x[:3])
    np.testing.assert_allclose(value, np.log(2.0) - 2.0)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.5])
    expected = np.array([-1.0, -1.0, np.log(2.0), -1.0], np.float32)
    np.testing.assert_array_equal(run(safe_log, backend, x), expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_comparisons_follow_numpy_on_nan_and_signed_zero(backend: str) -> None:
    x = np.array([np.nan, 0.0, -0.0, 1.0, np.inf], np.float64)
    y = np.array([np.nan, -0.0, 0.0, 2.0, np.inf], np.float64)

    def compare(a: Tensor, b: Tensor):
        return (a == b, a != b, a < b, a <= b, a > b, a >= b)

    expected = [np.asarray(r, np.float64) for r in compare(x, y)]
    for result, reference in zip(run(compare, backend, x, y), expected, strict=True):
        np.testing.assert_array_equal(result, reference)


@pytest.mark.parametrize("backend", BACKENDS)
def test_where_condition_nan_and_int64_count_as_nonzero_like_numpy(backend: str) -> None:
    condition = np.array([np.nan, 0.0, -0.0, 2.0], np.float32)
    labels = np.array([[0], [3], [-1]], np.int64)
    x, y = np.arange(4, dtype=np.float32), np.full(4, -1, np.float32)
    result = run(lambda c, i, a, b: (ops.where(c, a, b), ops.where(i, a, b)), backend,
                 condition, labels, x, y)  # fmt: skip
    np.testing.assert_array_equal(result[0], np.where(condition, x, y))
    np.testing.assert_array_equal(result[1], np.where(labels != 0, x, y))


def test_where_rule_names_the_operands() -> None:
    x32, x64 = Tensor(np.ones(3, np.float32)), Tensor(np.ones(3))
    with pytest.raises(DTypeError, match=r"where: x and y dtypes differ: tensor<3xf32> and"):
        ops.where(x32 > 0, x32, x64)
    with pytest.raises(ShapeError, match=r"where: condition tensor<2xf32>, x tensor<3xf32>"):
        ops.where(Tensor(np.ones(2, np.float32)), x32, 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_astype_truncates_toward_zero_and_rounds_like_numpy(backend: str) -> None:
    x = np.array([-2.7, -0.5, 0.0, 0.5, 2.7, 1e10, 1 + 2**-40], np.float64)

    def casts(t: Tensor):
        return (t.astype(np.int64), ops.astype(t, np.float32), ops.astype(t.astype("int64"), "f8"))

    expected = (x.astype(np.int64), x.astype(np.float32), x.astype(np.int64).astype(np.float64))
    for result, reference in zip(run(casts, backend, x), expected, strict=True):
        assert result.dtype == reference.dtype
        np.testing.assert_array_equal(result, reference)


def test_astype_gradient_casts_back_and_stops_at_int() -> None:
    x = Tensor(np.array([1.5, -2.0], np.float32))
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        wide = ops.sum(x.astype(np.float64) ** 2)
        through_int = ops.sum(x.astype(np.int64).astype(np.float32) * x)
    grad = tape.gradient(wide, x)
    assert grad.dtype == np.float32
    np.testing.assert_array_equal(grad, [3.0, -4.0])
    # Only the direct factor x contributes: the int64 path carries no gradient.
    np.testing.assert_array_equal(tape.gradient(through_int, x), [1.0, -2.0])


def test_astype_rejects_unsupported_dtypes() -> None:
    with pytest.raises(DTypeError, match="astype: dtype int32 is not supported"):
        ops.astype(Tensor(np.ones(2)), np.int32)


def test_comparison_operators_keep_tensors_hashable_by_identity() -> None:
    a, b = Tensor(np.ones(2)), Tensor(np.ones(2))
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len(table) == 2
    np.testing.assert_array_equal((a == b).numpy(), [1.0, 1.0])
    assert (a == b).dtype == np.float64


def test_less_reports_errors_as_the_swapped_greater() -> None:
    with pytest.raises(ShapeError, match=r"less\(x, y\) is greater\(y, x\): greater: operands"):
        _ = Tensor(np.ones(2)) < Tensor(np.ones(3))
