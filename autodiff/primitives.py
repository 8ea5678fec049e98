"""The primitive registry: every operation aidjit knows, defined exactly once.

A primitive bundles what every layer of the compiler needs to know about an operation and nothing
about how it is lowered: its name (``graph.<name>`` in IR), its family (which lowering table
and which IR op base class it uses), its numpy forward, its shape/dtype rule, and its
vector-Jacobian rule written in terms of other primitives. The eager tape, the tracer, the
`graph` dialect's verifiers and folders and the graph-level interpreter all read this table, so a
new op is one `Primitive(...)` here plus one line per family-specific table downstream.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

import numpy as np

from aidjit.dtypes import BY_NUMPY, INT64, TENSOR_DTYPES, one_of
from aidjit.errors import DTypeError, ShapeError
from aidjit.records import record

FLOAT_DTYPES = tuple(dtype.numpy for dtype in TENSOR_DTYPES if dtype.is_float)
INDEX_DTYPE = INT64.numpy
SUPPORTED_DTYPES = tuple(dtype.numpy for dtype in TENSOR_DTYPES)
_FLOAT_NAMES = one_of([dtype.name for dtype in TENSOR_DTYPES if dtype.is_float])


class Family(Enum):
    """Op families: ops of one family share an IR base class and a lowering table."""

    ELEMENTWISE_UNARY = "elementwise_unary"
    ELEMENTWISE_BINARY = "elementwise_binary"
    REDUCTION = "reduction"
    MATMUL = "matmul"
    LAYOUT = "layout"
    ONE_HOT = "one_hot"
    WHERE = "where"
    CAST = "cast"
    PAD = "pad"
    CONCAT = "concat"
    SCAN = "scan"
    CONV = "conv"
    POOLING = "pooling"
    NORMALIZATION = "normalization"
    INDEXING = "indexing"
    RANDOM = "random"


FLOAT_FAMILIES = frozenset(
    {
        Family.ELEMENTWISE_UNARY,
        Family.ELEMENTWISE_BINARY,
        Family.REDUCTION,
        Family.MATMUL,
        Family.SCAN,
    }
)
"""Families whose operands must be float: a weakly typed int meeting them is promoted to float,
as `ops.exp(2)` is in numpy, whether the 2 is a Python constant or a traced Python argument."""


@record
class Spec:
    """The static type of a tensor: shape and dtype, all a shape rule may look at."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def __str__(self) -> str:
        """MLIR's spelling, so messages read the same from Python and from aidjit-opt."""
        dims = "".join(f"{d}x" for d in self.shape)
        row = BY_NUMPY.get(self.dtype)
        return f"tensor<{dims}{row.short if row else self.dtype.name}>"


ShapeRule = Callable[..., Spec]
"""(input specs..., **params) -> output spec; raises ShapeError/DTypeError."""

VjpRule = Callable[..., Sequence[Callable[[], Any] | None]]
"""(cotangent, inputs, output, **params) -> per input, a thunk building its gradient, or None.

Thunks let the tape build only the gradients somebody asked for: a weight's gradient in a
training step never pays for the gradient of the data it multiplies."""


@record
class Precondition:
    """What an operand's values (not its type) must satisfy, checked by a compiled call.

    For a fact no type expresses and the compiled code does not check (one_hot's labels lie in
    [0, num_classes): out of range, compiled code silently gives a row of zeros). A compiled
    function checks it on each call, on every argument that reaches `operand`, possibly through
    layout ops, which only move or select elements. So `check` must hold for an array exactly
    when it holds for each element (a range, not a sum): checking the whole argument is then as
    good as checking what reaches the op. It may see an array the loader will reject for its
    dtype or shape and then returns None, leaving that error to the loader.
    """

    operand: int
    check: Callable[[np.ndarray, Mapping[str, Any]], str | None]
    """(the values, the op's params) -> what is wrong with them, or None."""


@record
class Primitive:
    """One operation: name, family, numpy forward, shape/dtype rule and gradient rule."""

    name: str
    family: Family
    impl: Callable[..., np.ndarray]
    rule: ShapeRule
    vjp: VjpRule | None
    params: tuple[str, ...] = ()
    doc: str = ""
    precondition: Precondition | None = None

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

_DEFINITIONS = "aidjit.autodiff.ops"
"""The package whose family modules' `register(...)` calls fill the registry."""

_complete_registry = False


def register(primitive: Primitive) -> Primitive:
    if primitive.name in _REGISTRY:
        raise ValueError(f"primitive {primitive.name!r} is defined twice")
    _REGISTRY[primitive.name] = primitive
    return primitive


def _complete() -> Mapping[str, Primitive]:
    """The registry, with every primitive defined: the lookups below own that guarantee.

    The definitions cannot live in this module: their gradient rules are written with the
    public ops (which build Tensors and import this module), and this module must not import
    them back at load time. Left to importers, the table was filled only if someone happened
    to import the ops first, so `aidjit.dialects.graph` failed to load on its own
    (`KeyError: 'negate'`). The one moment the table must be complete is a lookup, so a lookup
    completes it: no importer needs to know the order. Each module of the package is imported
    by name, not through the package's `__init__`, so the registry is whole whichever of them
    an importer loaded (tests/test_imports.py loads modules with their packages' `__init__`
    left out). While a family module is being imported, it is already in `sys.modules`.
    """
    global _complete_registry
    if not _complete_registry:
        import pkgutil  # here, not at import: only a lookup needs it

        package = importlib.import_module(_DEFINITIONS)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{_DEFINITIONS}.{module.name}")
        _complete_registry = True
    return _REGISTRY


def get_primitive(name: str) -> Primitive:
    return _complete()[name]


def all_primitives() -> Mapping[str, Primitive]:
    return dict(_complete())


# ----- shape/dtype rules shared by families ---------------------------------------------------


def require_float(op: str, *specs: Spec) -> None:
    for spec in specs:
        if spec.dtype not in FLOAT_DTYPES:
            raise DTypeError(f"{op}: expected a {_FLOAT_NAMES} tensor, got {spec}")


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
