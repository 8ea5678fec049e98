"""Weak scalar types (JAX's rule): Python scalars take the dtype of the tensor they meet."""

import numpy as np
import pytest

import aidjit
from aidjit import GradientTape, Tensor, ops
from aidjit.autodiff.primitives import Spec
from aidjit.autodiff.trace import Trace
from aidjit.errors import DTypeError

F32, F64, I64 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x * 2.0,
        lambda x: 2.0 * x,
        lambda x: x + 1,
        lambda x: 1 - x,
        lambda x: x / 3,
        lambda x: x**2,
        lambda x: 2.0**x,
        lambda x: ops.maximum(x, 0),
        lambda x: ops.where(x > 0, x, 0.5),
        lambda x: x > 0.5,
        lambda x: x == 1,
    ],
    ids="mul rmul add_int rsub_int div_int pow rpow max where gt eq".split(),
)
def test_python_scalars_take_the_tensor_dtype(fn, dtype: type) -> None:
    x = np.linspace(-1, 1, 5).astype(dtype)
    result = fn(Tensor(x))
    assert result.dtype == dtype and not result.weak
    np.testing.assert_allclose(result.numpy(), np.asarray(fn(x), dtype=dtype), rtol=1e-6)


def test_operations_on_weak_operands_only_stay_weak() -> None:
    both = ops.add(2.0, 3)
    assert both.dtype == F64 and both.weak
    assert (both * 2).weak and ops.exp(both).weak
    x32 = Tensor(np.ones(2, np.float32))
    assert (x32 * both).dtype == F32  # a weak float64 result still defers to float32


def test_explicit_dtypes_are_strong() -> None:
    assert not Tensor(2.0).weak
    assert not ops.astype(ops.add(1.0, 1.0), np.float64).weak
    with pytest.raises(DTypeError, match=r"multiply: operand dtypes differ: tensor<2xf32> and"):
        Tensor(np.ones(2, np.float32)) * Tensor(2.0)


def test_strong_float_dtypes_still_clash() -> None:
    x32, x64 = Tensor(np.ones(3, np.float32)), Tensor(np.ones(3, np.float64))
    with pytest.raises(DTypeError, match="add: operand dtypes differ"):
        x32 + x64
    with pytest.raises(DTypeError, match="add: operand dtypes differ"):
        x32 + np.ones(3)  # a numpy array is strong too


def trace_with_weak_scalar(scalar: Spec) -> tuple[Trace, Tensor, Tensor]:
    trace = Trace("f")
    x = Tensor.symbolic(Spec((3,), F32), trace)
    s = Tensor.symbolic(scalar, trace, weak=True)
    return trace, x, s


@pytest.mark.parametrize("scalar_dtype", [F64, I64])
def test_weak_symbolic_scalars_are_cast_to_the_strong_dtype(scalar_dtype: np.dtype) -> None:
    trace, x, s = trace_with_weak_scalar(Spec((), scalar_dtype))
    y = x * s
    assert y.spec == Spec((3,), F32) and not y.weak
    assert [node.primitive.name for node in trace.nodes] == ["astype", "multiply"]
    assert trace.nodes[0].params == {"dtype": "float32"}


def test_weak_int_meeting_only_weak_floats_becomes_float64() -> None:
    trace, _, n = trace_with_weak_scalar(Spec((), I64))
    half = n * 0.5
    assert half.spec == Spec((), F64) and half.weak
    assert ops.exp(n).spec == Spec((), F64)  # float ops promote a weak int, as numpy does
    assert n.spec == Spec((), I64)  # the argument itself is untouched


def test_gradient_flows_back_through_the_weak_cast() -> None:
    x = Tensor(np.array([1.0, 2.0, 3.0], np.float32))
    s = Tensor(np.float64(0.5))
    s.weak = True  # a Python-scalar argument, as the API traces it
    with GradientTape() as tape:
        tape.watch(x, s)
        y = ops.sum(x * s * x)
    assert y.dtype == F32
    grad_x, grad_s = tape.gradient(y, [x, s])
    assert grad_s.dtype == F64 and grad_x.dtype == F32
    np.testing.assert_allclose(grad_s, 14.0)
    np.testing.assert_allclose(grad_x, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("backend", ["c", "interpreter"])
def test_compiled_scalar_constants_keep_float32(backend: str) -> None:
    x = np.linspace(-1, 1, 4).astype(np.float32)
    compiled = aidjit.compile(lambda t: ops.where(t > 0, t * 2.0 + 1, 3), x, backend=backend)
    assert "f64" not in compiled.ir("graph")
    result = compiled(x)
    assert result.dtype == F32
    np.testing.assert_allclose(result, np.where(x > 0, x * 2 + 1, 3))
