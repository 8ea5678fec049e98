"""numpy functions on Tensors run aidjit ops; Python conversions follow numpy or refuse to trace.

Every numpy entry point of `NUMPY_TO_OPS` has a row: the same lambda runs on numpy arrays (the
reference) and on Tensors (dispatched through `__array_ufunc__`/`__array_function__`), and must
equal the aidjit op it maps to, forward and gradient, eagerly and under aidjit.jit.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import aidjit
from aidjit import GradientTape, Tensor, ops
from aidjit.autodiff.numpy_dispatch import NUMPY_TO_OPS, supported_functions

DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
UNARY = ((2, 3),)
BINARY = ((2, 3), (3,))


@dataclass(frozen=True)
class Row:
    """`fn` spells the computation with numpy; `direct` with the aidjit.ops it must become."""

    id: str
    fn: Callable[..., Any]
    direct: Callable[..., Any]
    shapes: tuple[tuple[int, ...], ...] = UNARY
    domain: str = "any"  # any | positive | away_from_zero | ties
    differentiable: bool = True
    entry: str = ""  # the NUMPY_TO_OPS row tested, when not the id

    @property
    def numpy_name(self) -> str:
        return self.entry or self.id

    def inputs(self, dtype: Any) -> list[np.ndarray]:
        rng = np.random.default_rng(len(self.id))
        samplers = {
            "any": lambda s: rng.uniform(-1.5, 1.5, s),
            "positive": lambda s: rng.uniform(0.5, 2.0, s),
            "away_from_zero": lambda s: rng.choice([-1.0, 1.0], s) * rng.uniform(0.3, 1.5, s),
            "ties": lambda s: rng.integers(-1, 2, s).astype(np.float64),  # equal values often
        }
        return [samplers[self.domain](shape).astype(dtype) for shape in self.shapes]


def _like(x: Any, values: list[float]) -> np.ndarray:
    """A constant ndarray of x's dtype, for ndarray-with-Tensor arithmetic."""
    return np.array(values, dtype=x.dtype)


ROWS = [
    Row("negative", lambda x: np.negative(x), ops.negate),
    Row("abs", lambda x: np.abs(x), ops.abs, domain="away_from_zero", entry="absolute"),
    Row("sign", lambda x: np.sign(x), ops.sign, domain="ties", differentiable=False),
    Row("exp", lambda x: np.exp(x), ops.exp),
    Row("log", lambda x: np.log(x), ops.log, domain="positive"),
    Row("sqrt", lambda x: np.sqrt(x), ops.sqrt, domain="positive"),
    Row("tanh", lambda x: np.tanh(x), ops.tanh),
    Row("sin", lambda x: np.sin(x), ops.sin),
    Row("cos", lambda x: np.cos(x), ops.cos),
    Row("square", lambda x: np.square(x), ops.square),
    Row("reciprocal", lambda x: np.reciprocal(x), ops.reciprocal, domain="away_from_zero"),
    Row("floor", lambda x: np.floor(x), ops.floor, differentiable=False),
    Row("clip", lambda x: np.clip(x, -0.5, None), lambda x: ops.clip(x, -0.5, None)),
    Row("add", lambda x, y: np.add(x, y), ops.add, BINARY),
    Row("subtract", lambda x, y: np.subtract(x, y), ops.subtract, BINARY),
    Row("multiply", lambda x, y: np.multiply(x, y), ops.multiply, BINARY),
    Row("divide", lambda x, y: np.divide(x, y), ops.divide, BINARY, "positive"),
    Row("true_divide", lambda x, y: np.true_divide(x, y), ops.divide, BINARY, "positive"),
    Row("power", lambda x, y: np.power(x, y), ops.power, BINARY, "positive"),
    Row("maximum", lambda x, y: np.maximum(x, y), ops.maximum, BINARY),
    Row("minimum", lambda x, y: np.minimum(x, y), ops.minimum, BINARY),
    *(
        Row(
            name,
            getattr(np, name),
            getattr(ops, name),
            BINARY,
            "ties",
            differentiable=False,
        )
        for name in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal")
    ),
    Row("matmul", lambda a, b: np.matmul(a, b), ops.matmul, ((2, 3), (3, 4))),
    Row("sum", lambda x: np.sum(x), ops.sum),
    Row(
        "sum_axis_keepdims",
        lambda x: np.sum(x, axis=1, keepdims=True),
        lambda x: ops.sum(x, axis=1, keepdims=True),
    ),
    Row("sum_numpy_defaults", lambda x: np.sum(x, 0, None, None), lambda x: ops.sum(x, axis=0)),
    Row("mean", lambda x: np.mean(x), ops.mean),
    Row("mean_axis", lambda x: np.mean(x, axis=0), lambda x: ops.mean(x, axis=0)),
    Row(
        "max_axis",
        lambda x: np.max(x, axis=1),
        lambda x: ops.reduce_max(x, axis=1),
        entry="max",
    ),
    Row("amax", lambda x: np.amax(x), ops.reduce_max),
    Row(
        "min_axis",
        lambda x: np.min(x, axis=0, keepdims=True),
        lambda x: ops.reduce_min(x, axis=0, keepdims=True),
        entry="min",
    ),
    Row("amin", lambda x: np.amin(x), ops.reduce_min),
    Row(
        "argmax",
        lambda x: np.argmax(x, axis=1),
        lambda x: ops.argmax(x, axis=1),
        domain="ties",
        differentiable=False,
    ),
    Row("argmin", lambda x: np.argmin(x), ops.argmin, domain="ties", differentiable=False),
    Row("var", lambda x: np.var(x, axis=1, ddof=1), lambda x: ops.variance(x, axis=1, ddof=1)),
    Row("std", lambda x: np.std(x, keepdims=True), lambda x: ops.std(x, keepdims=True)),
    Row("cumsum", lambda x: np.cumsum(x, axis=0), lambda x: ops.cumsum(x, axis=0)),
    Row("transpose", lambda x: np.transpose(x), ops.transpose),
    Row(
        "transpose_axes",
        lambda x: np.transpose(x, (1, 0, 2)),
        lambda x: ops.transpose(x, (1, 0, 2)),
        ((2, 3, 4),),
    ),
    Row(
        "permute_dims",
        lambda x: np.permute_dims(x, axes=(2, 0, 1)),
        lambda x: ops.transpose(x, (2, 0, 1)),
        ((2, 3, 4),),
    ),
    Row("reshape", lambda x: np.reshape(x, (3, 2)), lambda x: ops.reshape(x, (3, 2))),
    Row("reshape_keyword", lambda x: np.reshape(x, shape=(-1,)), lambda x: ops.reshape(x, (6,))),
    Row(
        "broadcast_to",
        lambda x: np.broadcast_to(x, (4, 2, 3)),
        lambda x: ops.broadcast_to(x, (4, 2, 3)),
    ),
    Row(
        "where",
        lambda c, x, y: np.where(np.greater(c, 0.0), x, y),
        lambda c, x, y: ops.where(ops.greater(c, 0.0), x, y),
        ((2, 3), (2, 3), (3,)),
        "away_from_zero",
    ),
    Row("astype", lambda x: np.astype(x, np.float64), lambda x: ops.astype(x, np.float64)),
    Row(
        "concatenate",
        lambda x, y: np.concatenate([x, y]),
        lambda x, y: ops.concat([x, y]),
        ((2, 3), (1, 3)),
    ),
    Row(
        "concat",
        lambda x, y: np.concat((x, y), axis=-1),
        lambda x, y: ops.concat((x, y), axis=-1),
        ((2, 3), (2, 1)),
    ),
    Row("stack", lambda x, y: np.stack([x, y], 1), lambda x, y: ops.stack([x, y], 1), UNARY * 2),
    Row(
        "split",
        lambda x: np.concatenate(np.split(x, [1], axis=1)[::-1], axis=1),
        lambda x: ops.concat(ops.split(x, [1], axis=1)[::-1], axis=1),
    ),
    Row("squeeze", lambda x: np.squeeze(x, 0), lambda x: ops.squeeze(x, 0), ((1, 2, 3),)),
    Row("expand_dims", lambda x: np.expand_dims(x, (0, -1)), lambda x: ops.expand_dims(x, (0, -1))),
    Row("flip", lambda x: np.flip(x, 1), lambda x: ops.flip(x, 1)),
    Row("tile", lambda x: np.tile(x, (2, 1)), lambda x: ops.tile(x, (2, 1))),
    Row("repeat", lambda x: np.repeat(x, 2, axis=1), lambda x: ops.repeat(x, 2, axis=1)),
    Row(
        "ndarray_add_tensor",
        lambda x: _like(x, [1.0, -2.0, 0.5]) + x,
        lambda x: ops.add(_like(x, [1.0, -2.0, 0.5]), x),
    ),
    Row(
        "ndarray_times_tensor",
        lambda x: _like(x, [1.0, -2.0, 0.5]) * x,
        lambda x: ops.multiply(_like(x, [1.0, -2.0, 0.5]), x),
    ),
    Row(
        "ndarray_matmul_tensor",
        lambda x: _like(x, [[1.0, 2.0], [0.5, -1.0]]) @ x,
        lambda x: ops.matmul(_like(x, [[1.0, 2.0], [0.5, -1.0]]), x),
    ),
    Row(
        "ndarray_greater_tensor",
        lambda x: _like(x, [0.0, 1.0, -1.0]) > x,
        lambda x: ops.greater(_like(x, [0.0, 1.0, -1.0]), x),
        domain="ties",
        differentiable=False,
    ),
    Row(
        "numpy_scalar_times_tensor",
        lambda x: x.dtype.type(2.5) * x,
        lambda x: ops.multiply(x.dtype.type(2.5), x),
    ),
]
DIFFERENTIABLE = [row for row in ROWS if row.differentiable]


def _rows(rows: list[Row]) -> Any:
    return pytest.mark.parametrize("row", rows, ids=[row.id for row in rows])


def test_every_table_entry_has_a_row() -> None:
    missing = set(NUMPY_TO_OPS) - {row.numpy_name for row in ROWS}
    assert not missing, f"numpy entry points without a test row: {sorted(missing)}"
    assert set(supported_functions()) == {f"np.{name}" for name in NUMPY_TO_OPS}


@_rows(ROWS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_entry_point_runs_the_aidjit_op(row: Row, dtype: type) -> None:
    arrays = row.inputs(dtype)
    tensors = [Tensor(a) for a in arrays]
    result = row.fn(*tensors)
    direct = row.direct(*tensors)
    assert isinstance(result, Tensor)
    assert result.dtype == direct.dtype and result.shape == direct.shape
    np.testing.assert_array_equal(result.numpy(), direct.numpy())
    reference = np.asarray(row.fn(*arrays), dtype=result.dtype)
    np.testing.assert_allclose(result.numpy(), reference, **TOLERANCE[dtype])


def _tape_gradients(fn: Callable[..., Any], arrays: list[np.ndarray], weights: np.ndarray) -> Any:
    tensors = [Tensor(a) for a in arrays]
    with GradientTape() as tape:
        tape.watch(*tensors)
        loss = ops.sum(fn(*tensors) * weights)
    # "zero": the where row's condition is connected only through a comparison (no gradient).
    return tape.gradient(loss, tensors, unconnected_gradients="zero")


def _weights(row: Row, arrays: list[np.ndarray]) -> np.ndarray:
    out = np.asarray(row.fn(*arrays))
    return np.random.default_rng(1).uniform(0.5, 1.5, out.shape).astype(out.dtype)


@_rows(DIFFERENTIABLE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_entry_point_is_recorded_on_tapes(row: Row, dtype: type) -> None:
    arrays = row.inputs(dtype)
    weights = _weights(row, arrays)
    through_numpy = _tape_gradients(row.fn, arrays, weights)
    direct = _tape_gradients(row.direct, arrays, weights)
    for got, expected, array in zip(through_numpy, direct, arrays, strict=True):
        assert got.shape == array.shape and got.dtype == dtype
        np.testing.assert_array_equal(got, expected)


@_rows(DIFFERENTIABLE)
def test_numpy_entry_point_gradient_matches_finite_differences(row: Row) -> None:
    """numpy itself is the oracle: central differences of the same lambda run on arrays."""
    arrays = row.inputs(np.float64)
    weights = _weights(row, arrays)
    grads = _tape_gradients(row.fn, arrays, weights)
    eps = 1e-6
    for position, grad in enumerate(grads):
        numeric = np.zeros_like(arrays[position])
        for index in np.ndindex(arrays[position].shape):
            shifted = [a.copy() for a in arrays]
            shifted[position][index] += eps
            plus = np.sum(row.fn(*shifted) * weights)
            shifted[position][index] -= 2 * eps
            minus = np.sum(row.fn(*shifted) * weights)
            numeric[index] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@_rows(ROWS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_entry_point_under_jit(row: Row, dtype: type) -> None:
    arrays = row.inputs(dtype)
    weights = _weights(row, arrays)

    def value_and_gradients(*xs: Tensor) -> Any:
        if not row.differentiable:
            return row.fn(*xs)
        with GradientTape() as tape:
            tape.watch(*xs)
            value = row.fn(*xs)
            loss = ops.sum(value * weights)
        return value, tape.gradient(loss, list(xs), unconnected_gradients="zero")

    compiled = aidjit.jit(value_and_gradients)(*arrays)
    eager = value_and_gradients(*[Tensor(a) for a in arrays])
    if not row.differentiable:
        compiled, eager = (compiled, []), (eager, [])
    np.testing.assert_allclose(compiled[0], eager[0].numpy(), **TOLERANCE[dtype])
    for got, expected in zip(compiled[1], eager[1], strict=True):
        np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])


def test_the_issue_reproduction_gives_exp_not_zeros() -> None:
    a = Tensor(np.array([0.5, -1.0, 2.0], np.float32))
    with GradientTape() as tape:
        tape.watch(a)
        y = ops.sum(np.exp(a))
    np.testing.assert_allclose(tape.gradient(y, a), np.exp(a.numpy()), rtol=1e-6)


def test_jit_of_a_numpy_lambda() -> None:
    x = np.linspace(-1, 1, 5).astype(np.float32)
    np.testing.assert_allclose(aidjit.jit(lambda t: np.exp(t) * 2)(x), np.exp(x) * 2, rtol=1e-6)


def test_numpy_defaults_are_accepted() -> None:
    t = Tensor(np.arange(6.0).reshape(2, 3))
    assert np.mean(t, dtype=None, out=None, keepdims=False).numpy() == 2.5
    np.testing.assert_array_equal(np.sum(t, axis=None, out=None, where=np._NoValue), 15.0)
    np.testing.assert_array_equal(np.add(t, t, casting="same_kind", where=True), 2 * t.numpy())
    np.testing.assert_array_equal(np.broadcast_to(t, (2, 3), subok=False), t.numpy())


_T = Tensor(np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: np.cumprod(_T), r"^np\.cumprod is not supported on aidjit Tensors.*np\.exp"),
        (lambda: np.linalg.norm(_T), r"^np\.linalg\.norm is not supported"),
        (lambda: np.vstack([_T, _T]), r"^np\.vstack is not supported"),
        (lambda: np.arctan(_T), r"^np\.arctan is not supported"),
        (lambda: np.add.reduce(_T), r"^np\.add\.reduce is not supported"),
        (lambda: np.sum(_T, dtype=np.float32), r"np\.sum\(\.\.\., dtype=.*has no 'dtype'"),
        (lambda: np.mean(_T, where=True), r"np\.mean\(\.\.\., where=True\)"),
        (lambda: np.reshape(_T, (3, 2), order="F"), r"np\.reshape\(\.\.\., order='F'\)"),
        (lambda: np.max(_T, initial=0.0), r"np\.max\(\.\.\., initial=0\.0\)"),
        (lambda: np.exp(_T, out=np.empty((2, 3))), r"np\.exp\(\.\.\., out=\.\.\.\).*immutable"),
        (lambda: np.add(_T, _T, dtype=np.float32), r"np\.add\(\.\.\., dtype="),
        (lambda: np.where(_T), r"np\.where without its 'x' argument"),
    ],
    ids=lambda v: "" if callable(v) else None,
)
def test_unsupported_numpy_calls_name_the_function(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(aidjit.UnsupportedError, match=message):
        call()


def test_in_place_ndarray_update_with_a_tensor_is_refused() -> None:
    accumulator = np.zeros(3)
    with pytest.raises(aidjit.UnsupportedError, match=r"write `a = a \+ t`"):
        accumulator += Tensor(np.ones(3))
    np.testing.assert_array_equal(accumulator, 0.0)


def test_metadata_functions_work_concrete_and_traced() -> None:
    t = Tensor(np.zeros((2, 3), np.float32))
    assert (np.shape(t), np.ndim(t), np.size(t)) == ((2, 3), 2, 6)
    seen = []

    def f(x: Tensor) -> Tensor:
        seen.append((np.shape(x), np.ndim(x), np.size(x)))
        return x * 2.0

    aidjit.jit(f)(np.zeros((4, 5), np.float32))
    assert seen == [((4, 5), 2, 20)]


def test_asarray_of_a_concrete_tensor_is_data_recorded_nowhere() -> None:
    a = Tensor(np.array([1.0, 2.0]))
    with GradientTape() as tape:
        tape.watch(a)
        value = np.asarray(a)
        y = ops.sum(Tensor(value) * 2.0) + ops.sum(a)
    assert isinstance(value, np.ndarray)
    np.testing.assert_array_equal(value, [1.0, 2.0])
    np.testing.assert_array_equal(tape.gradient(y, a), [1.0, 1.0])  # not 3: value is detached
    assert np.asarray(a, dtype=np.float32).dtype == np.float32
    assert np.array(a, copy=True) is not a.numpy()


# ----- Python conversions -----------------------------------------------------------------

CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "item": lambda v: v.item(),
    "float": float,
    "int": int,
    "bool": bool,
    "index": operator.index,
    "len": len,
}
ARRAYS = {
    "f32_0d": np.array(1.5, np.float32),
    "f64_0d_zero": np.array(0.0),
    "i64_0d": np.array(-3, np.int64),
    "f64_size1": np.array([2.5]),
    "i64_size1": np.array([4], np.int64),
    "f32_vector": np.array([1.0, 2.0], np.float32),
    "f64_matrix": np.ones((2, 2)),
    "f64_empty": np.zeros((0,)),
}


def _outcome(conversion: Callable[[Any], Any], value: Any) -> tuple[str, Any]:
    try:
        result = conversion(value)
    except (TypeError, ValueError) as error:
        return "raises", type(error)
    return "returns", (type(result), result)


@pytest.mark.parametrize("array_id", ARRAYS)
@pytest.mark.parametrize("conversion_id", CONVERSIONS)
def test_conversions_of_concrete_tensors_follow_numpy(conversion_id: str, array_id: str) -> None:
    conversion, array = CONVERSIONS[conversion_id], ARRAYS[array_id]
    assert _outcome(conversion, Tensor(array)) == _outcome(conversion, array)


TRACED_USES: dict[str, tuple[Callable[[Tensor], Any], str]] = {
    "item": (lambda t: t.item(), "item()"),
    "float": (float, "float()"),
    "int": (int, "int()"),
    "bool": (bool, "bool()"),
    "if": (lambda t: 1 if t else 0, "bool()"),
    "len": (len, "len()"),
    "iter": (lambda t: [row for row in t], "iteration"),
    "numpy": (lambda t: t.numpy(), "numpy()"),
    "asarray": (np.asarray, "np.asarray()"),
}


@pytest.mark.parametrize("use_id", TRACED_USES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_traced_tensors_refuse_python_conversions(use_id: str, dtype: type) -> None:
    use, operation = TRACED_USES[use_id]
    shape = () if use_id not in ("len", "iter", "asarray", "numpy") else (3,)

    def f(x: Tensor) -> Tensor:
        use(x)
        return x

    spec = f"tensor<{'3x' if shape else ''}{'f32' if dtype == np.float32 else 'f64'}>"
    expected = rf"^{re.escape(operation)} of a traced {spec}: .*ops\.where.*static_argnums"
    with pytest.raises(aidjit.ConcretizationError, match=expected):
        aidjit.jit(f)(np.ones(shape, dtype))


def test_index_of_traced_int_is_a_concretization_and_of_float_a_type_error() -> None:
    def as_index(x: Tensor) -> Tensor:
        operator.index(x)
        return x

    with pytest.raises(aidjit.ConcretizationError, match=r"^__index__\(\) of a traced tensor<i64>"):
        aidjit.jit(as_index)(np.array(2, np.int64))
    with pytest.raises(TypeError, match="only 0-d integer tensors"):
        aidjit.jit(as_index)(np.array(2.0))


def test_iteration_yields_rows_recorded_on_tapes() -> None:
    x = Tensor(np.arange(6.0).reshape(3, 2))
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(r, Tensor) for r in rows)
    np.testing.assert_array_equal(np.stack([r.numpy() for r in rows]), x.numpy())
    with GradientTape() as tape:
        tape.watch(x)
        first, _, last = x
        y = ops.sum(first * last)
    np.testing.assert_array_equal(tape.gradient(y, x), [[4.0, 5.0], [0.0, 0.0], [0.0, 1.0]])
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(Tensor(1.0))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (np.array([1.0, 2.0], np.float32), "Tensor([1., 2.], dtype=float32)"),
        (np.array([1.0, 2.5]), "Tensor([1. , 2.5], dtype=float64)"),
        (np.array([[1, 2], [3, 4]], np.int64), "Tensor([[1, 2],\n        [3, 4]], dtype=int64)"),
        (np.array(1.5), "Tensor(1.5, dtype=float64)"),
    ],
)
def test_repr_shows_values_and_dtype(value: np.ndarray, text: str) -> None:
    assert repr(Tensor(value)) == text


def test_repr_size_and_ndim_of_traced_tensors() -> None:
    seen = []

    def f(x: Tensor) -> Tensor:
        seen.append((repr(x), x.size, x.ndim))
        return x

    aidjit.jit(f)(np.ones(3, np.float32))
    assert seen == [("Tensor(<traced tensor<3xf32>>)", 3, 1)]
    t = Tensor(np.ones((2, 0, 3)))
    assert (t.size, t.ndim) == (0, 3)
