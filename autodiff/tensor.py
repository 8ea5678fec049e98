"""Tensor and op dispatch: one code path for eager execution, tape recording and tracing.

A Tensor is either *concrete* (it holds a numpy array) or *symbolic* (it belongs to a Trace and
holds only its shape and dtype). `apply` runs a primitive on either kind: concrete inputs run the
numpy forward; any symbolic input makes the result symbolic and appends a node to the trace. In
both cases the application is recorded on every tape of this thread that watches an input, so
gradients — built from the same primitives — are themselves eager or traced.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aidjit.autodiff.primitives import (
    FLOAT_DTYPES,
    FLOAT_FAMILIES,
    SUPPORTED_DTYPES,
    Family,
    Primitive,
    Spec,
)
from aidjit.dtypes import FLOAT64, INT64
from aidjit.errors import ConcretizationError, DTypeError, UnsupportedError
from aidjit.records import record

if TYPE_CHECKING:
    from aidjit.autodiff.tape import GradientTape
    from aidjit.autodiff.trace import Trace


@record(frozen=False, eq=False)
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

    __hash__ = object.__hash__  # `==` builds a mask; tensors stay usable as dict keys by id

    weak: bool = False
    """Weakly typed (JAX's rule): a Python scalar, or computed from weak operands only. A weak
    operand takes the dtype of the strong float tensor it meets instead of clashing with it."""

    def __new__(cls, value: Any = None, dtype: Any = None) -> Tensor:
        """`Tensor(t)` of a Tensor is `t` itself (`t.astype(dtype)` for another dtype), as
        `jnp.asarray` returns a tracer: it neither copies nor detaches, so it works on traced
        tensors and keeps gradients flowing. `aidjit.stop_gradient(t)` detaches."""
        if isinstance(value, Tensor):
            if dtype is None or np.dtype(dtype) == value.dtype:
                return value
            return _ops().astype(value, dtype)
        return super().__new__(cls)

    def __init__(self, value: Any, dtype: Any = None) -> None:
        if isinstance(value, Tensor):
            return  # __new__ returned an existing tensor: nothing to build
        array = np.asarray(value, dtype=dtype)
        if dtype is None and array.dtype.kind == "i":
            array = array.astype(INT64.numpy)
        elif dtype is None and array.dtype.kind not in "f":
            array = array.astype(FLOAT64.numpy)
        if not array.flags.c_contiguous:
            array = array.copy(order="C")
        self._value: np.ndarray | None = array
        self._spec = Spec(tuple(array.shape), as_dtype(array.dtype))
        self._trace: Trace | None = None
        self._node: Node | None = None

    @classmethod
    def _make(
        cls,
        value: np.ndarray | None,
        spec: Spec,
        trace: Trace | None,
        node: Node | None,
        *,
        weak: bool = False,
    ) -> Tensor:
        """Build without the constructor's conversions: callers guarantee value matches spec."""
        tensor = object.__new__(cls)  # not Tensor.__new__: nothing to convert
        tensor._value = value
        tensor._spec = spec
        tensor._trace = trace
        tensor._node = node
        tensor.weak = weak
        return tensor

    @classmethod
    def _concrete(cls, value: np.ndarray, spec: Spec, *, weak: bool = False) -> Tensor:
        """A tensor of a fresh, contiguous array already known to match `spec`."""
        return cls._make(value, spec, None, None, weak=weak)

    @classmethod
    def symbolic(
        cls, spec: Spec, trace: Trace, node: Node | None = None, *, weak: bool = False
    ) -> Tensor:
        """A traced value; `weak=True` for a traced Python scalar argument."""
        return cls._make(None, spec, trace, node, weak=weak)

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

    @property
    def size(self) -> int:
        return math.prod(self._spec.shape)

    # ----- values in Python: numpy's semantics when concrete, ConcretizationError when traced ---

    def _value_for(self, operation: str) -> np.ndarray:
        """The array, or the error saying why `operation` cannot see a traced tensor's value."""
        if self._value is None:
            raise ConcretizationError(
                f"{operation} of a traced {self._spec}: under aidjit.jit a tensor has a shape "
                "and dtype but no value until the compiled code runs. Use ops.where(condition, "
                "x, y) for a value-dependent choice, return the value from the function, or mark "
                "the argument static (static_argnums) to compile one version per value"
            )
        return self._value

    def numpy(self) -> np.ndarray:
        return self._value_for("numpy()")

    def item(self) -> Any:
        return self._value_for("item()").item()

    def __float__(self) -> float:
        return float(self._value_for("float()"))

    def __int__(self) -> int:
        return int(self._value_for("int()"))

    def __bool__(self) -> bool:
        return bool(self._value_for("bool()"))

    def __index__(self) -> int:
        if self.dtype.kind != "i" or self.shape:
            raise TypeError(
                f"only 0-d integer tensors can be used as an index, not a {self._spec} tensor"
            )
        return operator.index(self._value_for("__index__()"))

    def __len__(self) -> int:
        return len(self._value_for("len()"))

    def __iter__(self) -> Iterator[Tensor]:
        """Rows along the first axis, as indexing gives them (so tapes record each row)."""
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        self._value_for("iteration")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        if self._value is None:
            return f"Tensor(<traced {self._spec}>)"
        values = np.array2string(self._value, separator=", ", prefix="Tensor(")
        return f"Tensor({values}, dtype={self.dtype})"

    # ----- numpy protocols (the tables live in numpy_dispatch.py) ---------------------------

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """`np.asarray(t)`: the value of a concrete tensor, recorded on no tape (it is data now).

        A traced tensor has no value, so this raises ConcretizationError under aidjit.jit.
        """
        value = self._value_for("np.asarray()")
        if dtype is not None:
            return value.astype(dtype, copy=bool(copy))
        return value.copy() if copy else value

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """numpy ufuncs (`np.exp(t)`, `ndarray + t`) run the aidjit op of the same meaning."""
        return _numpy_dispatch().array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(
        self, func: Any, types: tuple[type, ...], args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        """numpy functions (`np.sum(t)`, `np.reshape(t, s)`) run the aidjit op meaning the same."""
        return _numpy_dispatch().array_function(func, types, args, kwargs)

    # ----- operators (the functions live in aidjit.ops; imported lazily to avoid a cycle) --------

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

    # Comparisons are masks (1.0 where true, 0.0 elsewhere), like `ops.greater`.
    def __gt__(self, other: Any) -> Tensor:
        return _ops().greater(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ops().greater_equal(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _ops().less(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ops().less_equal(self, other)

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return _ops().equal(self, other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return _ops().not_equal(self, other)

    def __getitem__(self, key: Any) -> Tensor:
        return _ops().getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        _ops().setitem(self, key, value)

    def astype(self, dtype: Any) -> Tensor:
        return _ops().astype(self, dtype)

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


def _numpy_dispatch() -> Any:
    from aidjit.autodiff import numpy_dispatch

    return numpy_dispatch


def constant(value: Any, dtype: Any, *, weak: bool = False) -> Tensor:
    """A concrete tensor of `dtype`; inside a trace it becomes a graph.constant."""
    array = np.asarray(value, dtype=dtype)
    if not array.flags.c_contiguous:
        array = array.copy(order="C")
    return Tensor._concrete(array, Spec(array.shape, as_dtype(array.dtype)), weak=weak)


WEAK_SCALARS = (bool, int, float, np.integer, np.floating)
"""Operands without a dtype of their own in JAX's sense: Python numbers, and numpy scalars
(`np.sqrt(d)`, `np.float64(0.5)`), which numpy code makes everywhere. `aidjit.jit` traces the
same kinds of argument as weak 0-d tensors (see `weak_scalar_dtype`), so eager and compiled
code agree."""


def weak_scalar_dtype(value: Any) -> np.dtype | None:
    """The dtype a weak scalar carries until it meets a tensor, or None for anything else.

    float64 for a Python float, int64 for an int, a numpy scalar's own float dtype (float64
    where aidjit has no such dtype), int64 for a numpy integer. The one definition both eager
    operands and `aidjit.jit`'s scalar arguments use.
    """
    if isinstance(value, np.floating):
        dtype = np.dtype(type(value))
        return dtype if dtype in FLOAT_DTYPES else FLOAT64.numpy
    if isinstance(value, float):
        return FLOAT64.numpy
    if isinstance(value, int | np.integer):
        return INT64.numpy  # bool too: True is the int 1
    return None


def _weak_target(operands: Sequence[Any]) -> tuple[np.dtype | None, bool]:
    """The float dtype weak operands take, and whether it stays weak.

    The first strong float tensor's dtype (else a float numpy array's). When every float is
    weak, the widest weak float's (a weak tensor's or a numpy scalar's; float64 for Python
    floats, which have no dtype of their own). None when no operand is a float.
    """
    strong_array: np.dtype | None = None
    weak: np.dtype | None = None
    for operand in operands:
        if isinstance(operand, Tensor):
            dtype = operand.dtype
            if dtype.kind != "f":
                continue
            if not operand.weak:
                return dtype, False
        elif isinstance(operand, np.ndarray):
            if strong_array is None and operand.dtype.kind == "f":
                strong_array = operand.dtype
            continue
        else:
            dtype = weak_scalar_dtype(operand)
            if dtype is None or dtype.kind != "f":
                continue
        if weak is None or dtype.itemsize > weak.itemsize:
            weak = dtype
    if strong_array is not None:
        return strong_array, False
    return weak, True


def to_tensors(operands: Sequence[Any]) -> tuple[Tensor, ...]:
    """Tensors, with JAX's weak-type rule among the operands of one operation.

    Python numbers, numpy scalars and weak tensors take the dtype of the strong float tensor
    they meet (`x32 * 2.0` stays float32; a weak tensor of another dtype is cast with
    `astype`); among weak operands only, a float makes the ints float64. Without any float,
    scalars are float64 constants (the only dtype arithmetic accepts besides float32). Two
    strong float dtypes are left for the operation's dtype rule to reject.
    """
    for operand in operands:
        if type(operand) is not Tensor or operand.weak:
            break
    else:
        return tuple(operands)  # the common case, tensors among themselves: nothing to decide
    target, stays_weak = _weak_target(operands)
    converted = []
    for operand in operands:
        if isinstance(operand, Tensor):
            if operand.weak and target is not None and operand.dtype != target:
                operand = _cast(operand, target, weak=stays_weak)
            converted.append(operand)
        elif isinstance(operand, WEAK_SCALARS):
            converted.append(constant(operand, target or FLOAT64.numpy, weak=True))
        else:
            converted.append(Tensor(operand))
    return tuple(converted)


def _cast(tensor: Tensor, dtype: np.dtype, *, weak: bool) -> Tensor:
    """`astype`, recorded and traced like any op, keeping the weak mark when asked."""
    cast = _ops().astype(tensor, dtype)
    cast.weak = weak
    return cast


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
    composite needs a value only for numerical stability, such as the max in softmax. Tapes
    still see the application, marked detached: no gradient flows through it, but a tape
    replayed on new inputs (`aidjit.compile_tape`) recomputes it instead of reusing a value.
    """
    if set(params) != set(primitive.params):
        expected = ", ".join(primitive.params) or "none"
        raise TypeError(f"{primitive.name}: expected parameters {expected}, got {sorted(params)}")
    # where's condition is a mask, not a value: it takes no part in the weak-type rule.
    masks = 1 if primitive.family is Family.WHERE else 0
    if masks:
        inputs = (*to_tensors(operands[:masks]), *to_tensors(operands[masks:]))
    else:
        inputs = to_tensors(operands)
    weak = False
    if any(t.weak for t in inputs):
        if primitive.family in FLOAT_FAMILIES:
            # A weak int64 (a Python int argument) where floats are needed: `ops.exp(n)`.
            inputs = tuple(
                _cast(t, FLOAT64.numpy, weak=True) if t.weak and t.dtype.kind != "f" else t
                for t in inputs
            )
        # Weak in, weak out — unless the op names its result dtype (astype, one_hot).
        values = inputs[masks:]
        weak = bool(values) and all(t.weak for t in values) and "dtype" not in primitive.params
    spec = primitive.infer([t.spec for t in inputs], params)
    trace = _trace_of(inputs)
    if trace is None:
        value = primitive.evaluate([t.numpy() for t in inputs], params, spec)
        output = Tensor._concrete(value, spec, weak=weak)
        node = Node(primitive, inputs, params, output)
    else:
        output = Tensor.symbolic(spec, trace, weak=weak)
        node = Node(primitive, inputs, params, output)
        output._node = node
        trace.record(node)
    for tape in active_tapes():
        tape.record(node, differentiable=record)
    return output
