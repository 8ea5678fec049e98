"""The primitive registry: every operation aidjit knows, defined exactly once.

A primitive bundles what every layer of the compiler needs to know about an operation and nothing
about how it is lowered: its name (``graph.<name>`` in IR), its family (which lowering template
and which IR op base class it uses), its numpy forward, its shape/dtype rule, and its
vector-Jacobian rule written in terms of other primitives. The eager tape, the tracer, the
`graph` dialect's verifiers and folders and the graph-level interpreter all read this table, so a
new op is one `Primitive(...)` here plus one line per family-specific table downstream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from aidjit.errors import DTypeError, ShapeError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INDEX_DTYPE = np.dtype(np.int64)
SUPPORTED_DTYPES = (*FLOAT_DTYPES, INDEX_DTYPE)


class Family(Enum):
    """Op families: ops of one family share an IR base class and a lowering template."""

    ELEMENTWISE_UNARY = "elementwise_unary"
    ELEMENTWISE_BINARY = "elementwise_binary"
    REDUCTION = "reduction"
    MATMUL = "matmul"
    LAYOUT = "layout"
    ONE_HOT = "one_hot"
    WHERE = "where"
    CAST = "cast"
    PAD = "pad"


FLOAT_FAMILIES = frozenset(
    {Family.ELEMENTWISE_UNARY, Family.ELEMENTWISE_BINARY, Family.REDUCTION, Family.MATMUL}
)
"""Families whose operands must be float: a weakly typed int meeting them is promoted to float,
as `ops.exp(2)` is in numpy, whether the 2 is a Python constant or a traced Python argument."""


@dataclass(frozen=True)
class Spec:
    """The static type of a tensor: shape and dtype, all a shape rule may look at."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def __str__(self) -> str:
        """MLIR's spelling, so messages read the same from Python and from aidjit-opt."""
        dims = "".join(f"{d}x" for d in self.shape)
        element = {"float32": "f32", "float64": "f64", "int64": "i64"}.get(self.dtype.name)
        return f"tensor<{dims}{element or self.dtype.name}>"


ShapeRule = Callable[..., Spec]
"""(input specs..., **params) -> output spec; raises ShapeError/DTypeError."""

VjpRule = Callable[..., Sequence[Callable[[], Any] | None]]
"""(cotangent, inputs, output, **params) -> per input, a thunk building its gradient, or None.

Thunks let the tape build only the gradients somebody asked for: a weight's gradient in a
training step never pays for the gradient of the data it multiplies."""


@dataclass(frozen=True)
class Primitive:
    """One operation: name, family, numpy forward, shape/dtype rule and gradient rule."""

    name: str
    family: Family
    impl: Callable[..., np.ndarray]
    rule: ShapeRule
    vjp: VjpRule | None
    params: tuple[str, ...] = ()
    doc: str = ""

    def infer(self, inputs: Sequence[Spec], params: Mapping[str, Any]) -> Spec:
        return self.rule(*inputs, **params)

    def evaluate(
        self, inputs: Sequence[np.ndarray], params: Mapping[str, Any], spec: Spec | None = None
    ) -> np.ndarray:
        """Run the numpy forward and normalise its result to the inferred (or given) spec."""
        if spec is None:
            spec = self.infer([Spec(tuple(a.shape), a.dtype) for a in inputs], params)
        # IEEE results (inf, nan) without numpy's warnings, as the compiled code gives them.
        with np.errstate(all="ignore"):
            result = np.asarray(self.impl(*inputs, **params), dtype=spec.dtype)
        result = result.reshape(spec.shape)
        # Views such as transpose or broadcast_to are materialised: tensors are contiguous.
        return result if result.flags.c_contiguous else result.copy(order="C")


_REGISTRY: dict[str, Primitive] = {}


def register(primitive: Primitive) -> Primitive:
    if primitive.name in _REGISTRY:
        raise ValueError(f"primitive {primitive.name!r} is defined twice")
    _REGISTRY[primitive.name] = primitive
    return primitive


def get_primitive(name: str) -> Primitive:
    return _REGISTRY[name]


def all_primitives() -> Mapping[str, Primitive]:
    return dict(_REGISTRY)


# ----- shape/dtype rules shared by families ---------------------------------------------------


def require_float(op: str, *specs: Spec) -> None:
    for spec in specs:
        if spec.dtype not in FLOAT_DTYPES:
            raise DTypeError(f"{op}: expected a float32 or float64 tensor, got {spec}")


def broadcast_shapes(op: str, lhs: tuple[int, ...], rhs: tuple[int, ...]) -> tuple[int, ...]:
    """numpy's broadcasting rule, with an error naming both shapes."""
    rank = max(len(lhs), len(rhs))
    padded_lhs = (1,) * (rank - len(lhs)) + lhs
    padded_rhs = (1,) * (rank - len(rhs)) + rhs
    out = []
    for a, b in zip(padded_lhs, padded_rhs, strict=True):
        if a != b and a != 1 and b != 1:
            raise ShapeError(f"{op}: shapes {lhs} and {rhs} cannot be broadcast together")
        out.append(b if a == 1 else a)
    return tuple(out)


def unary_rule(op: str) -> ShapeRule:
    def rule(x: Spec) -> Spec:
        require_float(op, x)
        return x

    return rule


def binary_rule(op: str) -> ShapeRule:
    def rule(lhs: Spec, rhs: Spec) -> Spec:
        require_float(op, lhs, rhs)
        if lhs.dtype != rhs.dtype:
            raise DTypeError(f"{op}: operand dtypes differ: {lhs} and {rhs}")
        try:
            return Spec(broadcast_shapes(op, lhs.shape, rhs.shape), lhs.dtype)
        except ShapeError:
            raise ShapeError(
                f"{op}: operands {lhs} and {rhs} cannot be broadcast together"
            ) from None

    return rule


def normalize_axes(op: str, axes: int | Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Axes as a sorted tuple of non-negative ints; None means all axes."""
    if axes is None:
        return tuple(range(rank))
    if isinstance(axes, int | np.integer):
        axes = (int(axes),)
    normalized = []
    for axis in axes:
        if not -rank <= axis < rank:
            raise ShapeError(f"{op}: axis {axis} is out of range for a tensor of rank {rank}")
        normalized.append(axis % rank)
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"{op}: repeated axis in {tuple(axes)}")
    return tuple(sorted(normalized))


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def reduction_rule(op: str, *, nonempty: bool = False) -> ShapeRule:
    def rule(x: Spec, *, axes: tuple[int, ...], keepdims: bool) -> Spec:
        require_float(op, x)
        checked = normalize_axes(op, axes, len(x.shape))
        if checked != tuple(axes):
            raise ShapeError(f"{op}: axes {tuple(axes)} must be sorted, unique and non-negative")
        if nonempty and any(x.shape[a] == 0 for a in checked):
            raise ShapeError(f"{op}: cannot reduce over an empty axis of {x}")
        return Spec(reduced_shape(x.shape, checked, keepdims), x.dtype)

    return rule
