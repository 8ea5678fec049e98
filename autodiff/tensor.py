"""Tensor and op dispatch: one code path for eager execution, tape recording and tracing.

A Tensor is either *concrete* (it holds a numpy array) or *symbolic* (it belongs to a Trace and
holds only its shape and dtype). `apply` runs a primitive on either kind: concrete inputs run the
numpy forward; any symbolic input makes the result symbolic and appends a node to the trace. In
both cases the application is recorded on every tape of this thread that watches an input, so
gradients — built from the same primitives — are themselves eager or traced.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from aidjit.autodiff.primitives import SUPPORTED_DTYPES, Primitive, Spec
from aidjit.errors import DTypeError, UnsupportedError

if TYPE_CHECKING:
    from aidjit.autodiff.tape import GradientTape
    from aidjit.autodiff.trace import Trace


@dataclass(eq=False)
class Node:
    """One application of a primitive: what the tape and the trace record."""

    primitive: Primitive
    inputs: tuple[Tensor, ...]
    params: dict[str, Any]
    output: Tensor


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.tapes: list[GradientTape] = []


_state = _ThreadState()


def active_tapes() -> list[GradientTape]:
    """The tapes opened by this thread, innermost last; tapes never see other threads' ops."""
    return _state.tapes


def as_dtype(dtype: Any) -> np.dtype:
    resolved = np.dtype(dtype)
    if resolved not in SUPPORTED_DTYPES:
        names = ", ".join(str(d) for d in SUPPORTED_DTYPES)
        raise DTypeError(f"dtype {resolved} is not supported; use one of {names}")
    return resolved


class Tensor:
    """A numpy-backed tensor (float32, float64, or int64 for labels) that tapes can record."""

    __array_priority__ = 100  # numpy defers `ndarray + Tensor` to Tensor.__radd__

    def __init__(self, value: Any, dtype: Any = None) -> None:
        if isinstance(value, Tensor):
            value = value.numpy()
        array = np.asarray(value, dtype=dtype)
        if dtype is None and array.dtype.kind == "i":
            array = array.astype(np.int64)
        elif dtype is None and array.dtype.kind not in "f":
            array = array.astype(np.float64)
        if not array.flags.c_contiguous:
            array = array.copy(order="C")
        self._value: np.ndarray | None = array
        self._spec = Spec(tuple(array.shape), as_dtype(array.dtype))
        self._trace: Trace | None = None
        self._node: Node | None = None

    @classmethod
    def _make(
        cls, value: np.ndarray | None, spec: Spec, trace: Trace | None, node: Node | None
    ) -> Tensor:
        """Build without the constructor's conversions: callers guarantee value matches spec."""
        tensor = cls.__new__(cls)
        tensor._value = value
        tensor._spec = spec
        tensor._trace = trace
        tensor._node = node
        return tensor

    @classmethod
    def _concrete(cls, value: np.ndarray, spec: Spec) -> Tensor:
        """A tensor of a fresh, contiguous array already known to match `spec`."""
        return cls._make(value, spec, None, None)

    @classmethod
    def symbolic(cls, spec: Spec, trace: Trace, node: Node | None = None) -> Tensor:
        return cls._make(None, spec, trace, node)

    # ----- introspection --------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._spec.shape

    @property
    def dtype(self) -> np.dtype:
        return self._spec.dtype

    @property
    def ndim(self) -> int:
        return len(self._spec.shape)

    @property
    def spec(self) -> Spec:
        return self._spec

    @property
    def is_symbolic(self) -> bool:
        return self._value is None

    def numpy(self) -> np.ndarray:
        if self._value is None:
            raise UnsupportedError(
                f"cannot read the value of a traced {self._spec} inside a compiled function; "
                "return it instead, or compute it outside aidjit.jit"
            )
        return self._value

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        value = self.numpy()
        return value if dtype is None else value.astype(dtype)

    def __repr__(self) -> str:
        if self._value is None:
            return f"Tensor(<traced {self._spec}>)"
        return f"Tensor({self._value!r})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ----- operators (the functions live in ops.py; imported lazily to avoid a cycle) --------

    def __add__(self, other: Any) -> Tensor:
        return _ops().add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops().add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops().subtract(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops().subtract(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops().multiply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops().multiply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops().divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops().divide(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops().power(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops().power(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops().matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops().matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops().negate(self)

    @property
    def T(self) -> Tensor:  # noqa: N802 - numpy's name
        return _ops().transpose(self)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return _ops().reshape(self, shape)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops().sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops().mean(self, axis=axis, keepdims=keepdims)


def _ops() -> Any:
    from aidjit.autodiff import ops

    return ops


def constant(value: Any, dtype: Any) -> Tensor:
    """A concrete tensor of `dtype`; inside a trace it becomes a graph.constant."""
    return Tensor(np.asarray(value, dtype=dtype))


def _float_dtype_of(operands: Sequence[Any]) -> np.dtype:
    for operand in operands:
        if isinstance(operand, Tensor) and operand.dtype.kind == "f":
            return operand.dtype
    for operand in operands:
        if isinstance(operand, np.ndarray | np.generic) and operand.dtype.kind == "f":
            return operand.dtype
    return np.dtype(np.float64)


def to_tensors(operands: Sequence[Any]) -> tuple[Tensor, ...]:
    """Tensors as they are; Python scalars take the dtype of the float tensors among them."""
    scalar_dtype = _float_dtype_of(operands)
    converted = []
    for operand in operands:
        if isinstance(operand, Tensor):
            converted.append(operand)
        elif isinstance(operand, bool | int | float):
            converted.append(constant(operand, scalar_dtype))
        else:
            converted.append(Tensor(operand))
    return tuple(converted)


def _trace_of(inputs: Sequence[Tensor]) -> Trace | None:
    traces = {id(t._trace): t._trace for t in inputs if t._trace is not None}
    if len(traces) > 1:
        raise UnsupportedError(
            "an operation mixes tensors traced by two different aidjit.jit calls"
        )
    return next(iter(traces.values()), None)


def apply(primitive: Primitive, *operands: Any, record: bool = True, **params: Any) -> Tensor:
    """Run `primitive` on operands, eagerly or into a trace, and record it on watching tapes.

    `record=False` detaches the result from every tape (a stop-gradient), used where a
    composite needs a value only for numerical stability, such as the max in softmax.
    """
    if set(params) != set(primitive.params):
        expected = ", ".join(primitive.params) or "none"
        raise TypeError(f"{primitive.name}: expected parameters {expected}, got {sorted(params)}")
    inputs = to_tensors(operands)
    spec = primitive.infer([t.spec for t in inputs], params)
    trace = _trace_of(inputs)
    if trace is None:
        value = primitive.evaluate([t.numpy() for t in inputs], params, spec)
        output = Tensor._concrete(value, spec)
        node = Node(primitive, inputs, params, output)
    else:
        output = Tensor.symbolic(spec, trace)
        node = Node(primitive, inputs, params, output)
        output._node = node
        trace.record(node)
    if record:
        for tape in active_tapes():
            tape.record(node)
    return output
