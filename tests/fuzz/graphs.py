"""A seeded random-program generator over the whole of `aidjit.ops`, writing Python source.

`generate(seed)` returns a `Program`: the text of a function `f(x0, ..., l0, ...)` built from
random aidjit ops, an `inputs()` function making its arguments, and a `loss(...)` (a weighted sum
of f's float outputs) whose gradients the harness checks. The text *is* the program — the harness
execs it — so a failure prints exactly what ran, and it pastes into a file as it is.

What the programs exercise:

- random DAGs over every family of `OP_TABLE` (one row per op; a new op is one row), with
  operands picked from earlier values (biased to recent ones), fresh inputs or constants;
- shapes of rank 0-4 with 1s and 0s, numpy broadcasting, reductions over random axes (empty,
  negative, None) with random `keepdims`, layout ops into and out of broadcast shapes;
- repeated subexpressions (the same right-hand side emitted twice: CSE), constants (literal,
  splat, identity and captured arrays: folding), values nobody returns (DCE), several outputs,
  an output returned twice, float32 and float64.

Every value carries an interval bound. Ops with a restricted domain get guarded operands
(`abs(v) + 0.5` before log, `tanh(v) * 2` before exp...), and large values are squashed, so
every program is valid and well conditioned: a mismatch is a compiler bug, not numerics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from string import Template
from typing import Any

import numpy as np

from aidjit import ops
from aidjit.autodiff.primitives import all_primitives
from aidjit.pipeline import GRAPH_PIPELINE, pipeline_to_stage

BACKENDS: dict[str, dict[str, str]] = {
    # Every level a program can run at, named after the stop point it runs from.
    "graph": {"backend": "interpreter", "pipeline": ""},
    "optimized": {"backend": "interpreter", "pipeline": GRAPH_PIPELINE},
    "fused": {"backend": "interpreter", "pipeline": pipeline_to_stage("fused")},
    "bufferized": {"backend": "interpreter", "pipeline": pipeline_to_stage("bufferized")},
    "loops": {"backend": "interpreter"},
    # The C kernel itself: under the default tier "auto" a cold compile answers its first
    # calls with the instant tier (numpy), so outside pytest (whose conftest sets AIDJIT_TIER)
    # `python -m tests.fuzz.harness SEED` and a printed reproduction compared numpy with numpy.
    "c": {"tier": "optimized"},
}
"""aidjit.compile options per execution level, compared against eager execution."""

# ----- known bugs the generator steers around --------------------------------------------------

# ----- limits -------------------------------------------------------------------------------------

MAX_ELEMENTS = 48  # per value: small enough for the loop interpreter and finite differences
MAX_RANK = 4
MAGNITUDE_LIMIT = 8.0  # larger operands are squashed first, so nothing overflows
SMALL_LIMIT = 3.0  # exp's argument and exponents of power
POSITIVE_FLOOR = 0.25  # log, sqrt, divisors and bases of power stay above it
DIMS = (0, 1, 2, 3, 4)
DIM_WEIGHTS = (0.04, 0.3, 0.26, 0.24, 0.16)


@dataclass(frozen=True)
class Value:
    """A named value of the program and what the generator knows about it."""

    name: str
    shape: tuple[int, ...]
    kind: str = "float"  # "float" (DTYPE) or "int" (int64 labels)
    lo: float = -1.5
    hi: float = 1.5
    const: bool = False  # known at trace time: computed by numpy or folded by aidjit
    finite: bool = True  # False where it may hold nan (a mean over an empty axis)
    # stop_gradient or a float32 rounding on its path: finite differences disagree by design
    fd_blind: bool = False
    classes: int = 0  # int values usable as labels lie in [0, classes); 0: not labels

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def bound(self) -> float:
        return max(abs(self.lo), abs(self.hi))


@dataclass
class Program:
    """A generated program: its Python source and what the harness needs to check it."""

    seed: int
    dtype: str
    source: str
    has_loss: bool  # loss() exists: some float output is finite
    fd_checkable: bool  # the loss has no stop_gradient on its path
    float_args: tuple[int, ...]  # positions of f's float arguments (gradient argnums)
    ops_used: tuple[str, ...]

    def namespace(self, dtype: str | None = None) -> dict[str, object]:
        """Exec the source; `dtype` overrides DTYPE (the float64 twin of a float32 program)."""
        scope: dict[str, object] = {"__name__": f"aidjit_fuzz_{self.seed}"}
        exec(compile(self.source, f"<fuzz program {self.seed}>", "exec"), scope)
        if dtype is not None:
            scope["DTYPE"] = getattr(np, dtype)
        return scope


# ----- interval arithmetic ----------------------------------------------------------------------


def _corners(op: Callable[[float, float], float], a: Value, b: Value) -> tuple[float, float]:
    with np.errstate(all="ignore"):
        values = [float(op(x, y)) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    return min(values), max(values)


def _monotone(fn: Callable[[float], float]) -> Callable[[Value], tuple[float, float]]:
    return lambda v: (float(fn(v.lo)), float(fn(v.hi)))


def _abs_bounds(v: Value) -> tuple[float, float]:
    low = 0.0 if v.lo <= 0 <= v.hi else min(abs(v.lo), abs(v.hi))
    return low, v.bound


def _sigmoid(x: float) -> float:
    return 0.5 * math.tanh(0.5 * x) + 0.5


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _dipping(fn: Callable[[float], float], floor: float) -> Callable[[Value], tuple[float, float]]:
    """Bounds of x * (a sigmoid-like curve): increasing but for a dip to `floor` (below the true
    minimum) somewhere on the negative side."""

    def bounds(v: Value) -> tuple[float, float]:
        ends = (fn(v.lo), fn(v.hi))
        return min(*ends, floor) if v.lo < 0 else min(ends), max(ends)

    return bounds


# ----- the builder ------------------------------------------------------------------------------


class Builder:
    """Builds one program statement by statement; op rows call its helpers."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.dtype = str(self.rng.choice(["float32", "float64"]))
        self.pool: list[Value] = []
        self.lines: list[str] = []
        self.inputs: list[Value] = []
        self.used: set[str] = set()
        self.statements: list[tuple[str, Value]] = []  # (right-hand side, value) for CSE repeats
        self.ops_used: list[str] = []
        self._counters: dict[str, int] = {}

    # ----- randomness helpers -----

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def choice(self, options: Sequence[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def dim(self) -> int:
        return int(self.rng.choice(DIMS, p=DIM_WEIGHTS))

    def shape(self, max_rank: int = 3) -> tuple[int, ...]:
        for _ in range(20):
            rank = int(self.rng.choice(range(max_rank + 1)))
            shape = tuple(self.dim() for _ in range(rank))
            if fits(shape):
                return shape
        return (2,)

    def fresh(self, prefix: str) -> str:
        index = self._counters.get(prefix, 0)
        self._counters[prefix] = index + 1
        return f"{prefix}{index}"

    # ----- values -----

    def emit(self, rhs: str, value: Value, op: str | None = None, operands: tuple = ()) -> Value:
        """Append `name = rhs` and make the value available to later statements."""
        named = replace(value, name=self.fresh("v") if value.name == "" else value.name)
        self.lines.append(f"{named.name} = {rhs}")
        self.used.update(v.name for v in operands)
        self.pool.append(named)
        if op is not None:
            self.ops_used.append(op)
            self.statements.append((rhs, named))
        return named

    def new_input(self, shape: tuple[int, ...]) -> Value:
        value = Value(self.fresh("x"), shape)
        self.inputs.append(value)
        self.pool.append(value)
        return value

    def new_labels(self, shape: tuple[int, ...], classes: int) -> Value:
        """Labels as an int64 argument or, when allowed, an int64 constant."""
        literal = self.rng.integers(0, classes, size=shape)
        if self.chance(0.3):
            rhs = _literal(literal, "np.int64")
            value = Value(
                self.fresh("c"), shape, "int", 0, classes - 1, const=True, classes=classes
            )
            return self.emit(rhs, value)
        value = Value(self.fresh("l"), shape, "int", 0, classes - 1, classes=classes)
        self.inputs.append(value)
        self.pool.append(value)
        return value

    def new_constant(self, shape: tuple[int, ...]) -> Value:
        """A captured numpy array: splat, identity, literal or ramp."""
        size = math.prod(shape)
        styles = ["splat", "literal", "ramp", "ones", "zeros", "negative_zero", "signed_zeros"]
        style = self.choice(styles)
        if style == "splat":
            fill = self.choice([0.5, -0.75, 1.25, 2.0, -1.5])
            rhs, lo, hi = f"np.full({shape}, {fill}, DTYPE)", fill, fill
        elif style in ("ones", "zeros"):
            fill = 1.0 if style == "ones" else 0.0
            rhs, lo, hi = f"np.{style}({shape}, DTYPE)", fill, fill
        elif style == "negative_zero":
            rhs, lo, hi = f"np.full({shape}, -0.0, DTYPE)", 0.0, 0.0
        elif style == "signed_zeros":
            signs = self.rng.choice([-0.0, 0.0], size=shape)
            rhs, lo, hi = _literal(signs, "DTYPE"), 0.0, 0.0
        elif style == "ramp":
            rhs = f"np.linspace(-1.0, 1.0, {size}, dtype=DTYPE).reshape({shape})"
            lo, hi = -1.0, 1.0
        else:
            literal = np.round(self.rng.uniform(-2.0, 2.0, size=shape) * 4) / 4
            rhs = _literal(literal, "DTYPE")
            lo, hi = (float(literal.min()), float(literal.max())) if size else (0.0, 0.0)
        return self.emit(rhs, Value(self.fresh("c"), shape, lo=lo, hi=hi, const=True))

    def leaf(self, shape: tuple[int, ...]) -> Value:
        return self.new_input(shape) if self.chance(0.6) else self.new_constant(shape)

    def pick(
        self, predicate: Callable[[Value], bool] = lambda v: True, kind: str = "float"
    ) -> Value | None:
        """An earlier value satisfying `predicate`, recent ones likelier; None if there is none."""
        candidates = [v for v in self.pool if v.kind == kind and predicate(v)]
        if not candidates:
            return None
        # Recent values keep the DAG deep; larger ones keep reductions from collapsing it.
        recency = np.arange(1, len(candidates) + 1, dtype=float) ** 1.5
        weights = recency * np.sqrt([1.0 + v.size for v in candidates])
        return candidates[int(self.rng.choice(len(candidates), p=weights / weights.sum()))]

    def operand(self, predicate: Callable[[Value], bool] = lambda v: True) -> Value:
        found = self.pick(predicate)
        return found if found is not None else self.new_input(self.shape())

    def with_shape(self, shape: tuple[int, ...], prefer_pool: float = 0.6) -> Value:
        found = self.pick(lambda v: v.shape == shape)
        if found is not None and self.chance(prefer_pool):
            return found
        return self.leaf(shape)

    # ----- domain guards: each is a statement of the program -----

    def tame(self, v: Value, limit: float = MAGNITUDE_LIMIT) -> Value:
        """`v` if its bound is within `limit`, else a squashed copy."""
        if v.bound <= limit:
            return v
        if self.chance(0.5):
            scale = limit / v.bound
            rhs = f"{_tensor_expr(v)} * {scale:.6g}"
            return self.emit(rhs, replace(v, name="", lo=v.lo * scale, hi=v.hi * scale), None, (v,))
        rhs = f"ops.tanh({v.name}) * {limit / 2:g}"
        lo, hi = math.tanh(v.lo) * limit / 2, math.tanh(v.hi) * limit / 2
        return self.emit(rhs, replace(v, name="", lo=lo, hi=hi), None, (v,))

    def positive(self, v: Value) -> Value:
        """`v` if it stays above POSITIVE_FLOOR, else a guarded positive function of it."""
        if v.lo >= POSITIVE_FLOOR:
            return self.tame(v)
        v = self.tame(v)
        style = self.choice(["abs", "square", "sigmoid", "exp"])
        if style == "abs":
            rhs, (lo, hi) = f"ops.abs({v.name}) + 0.5", _abs_bounds(v)
            lo, hi = lo + 0.5, hi + 0.5
        elif style == "square" and not v.const:
            rhs, lo, hi = f"{v.name} * {v.name} + 0.25", 0.25, v.bound**2 + 0.25
        elif style == "sigmoid":
            rhs, lo, hi = f"ops.sigmoid({v.name}) + 0.5", _sigmoid(v.lo) + 0.5, _sigmoid(v.hi) + 0.5
        else:
            rhs, lo, hi = f"ops.exp(ops.tanh({v.name}))", math.exp(-1), math.e
        return self.emit(rhs, replace(v, name="", lo=lo, hi=hi), None, (v,))

    def small(self, v: Value) -> Value:
        v = self.tame(v)
        if v.bound <= SMALL_LIMIT:
            return v
        lo, hi = math.tanh(v.lo) * 2, math.tanh(v.hi) * 2
        return self.emit(f"ops.tanh({v.name}) * 2.0", replace(v, name="", lo=lo, hi=hi), None, (v,))


def _literal(array: np.ndarray, dtype: str) -> str:
    """An array as Python source; an empty one keeps its shape through a reshape."""
    text = f"np.array({array.tolist()}, {dtype})"
    return f"{text}.reshape({array.shape})" if array.size == 0 else text


def fits(shape: tuple[int, ...]) -> bool:
    return len(shape) <= MAX_RANK and math.prod(shape) <= MAX_ELEMENTS


def _tensor_expr(v: Value) -> str:
    """`v` usable with operators: numpy constants are wrapped so `*` is an aidjit op."""
    return f"aidjit.Tensor({v.name})" if v.const else v.name


def _derived(operands: tuple[Value, ...], shape: tuple[int, ...], lo: float, hi: float) -> Value:
    """The facts every op result inherits from its operands."""
    floats = [v for v in operands if v.kind == "float"]
    return Value(
        "",
        shape,
        lo=lo,
        hi=hi,
        const=all(v.const for v in operands),
        finite=all(v.finite for v in operands),
        fd_blind=any(v.fd_blind for v in floats),
    )


def broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    rank = max(len(a), len(b))
    pa, pb = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    out = []
    for x, y in zip(pa, pb, strict=True):
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return tuple(out)


def partner_shape(b: Builder, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape broadcasting with `shape`: dims dropped from the front, set to 1, or stretched."""
    dims = [1 if b.chance(0.3) else d for d in shape]
    dims = [
        b.dim() if d == 1 and b.chance(0.3) and shape[i] == 1 else d for i, d in enumerate(dims)
    ]
    dims = dims[int(b.rng.integers(0, len(dims) + 1)) if b.chance(0.4) else 0 :]
    if b.chance(0.2):
        dims = [b.choice([1, 2, 3])] + dims
    result = tuple(dims)
    combined = broadcast(shape, result)
    return result if combined is not None and fits(combined) else shape


# ----- op rows ----------------------------------------------------------------------------------

Build = Callable[[Builder, str], Value | None]
"""(builder, op name) -> the emitted result, or None when the op does not apply right now."""


@dataclass(frozen=True)
class Unary:
    domain: str  # "any", "positive" or "small"
    bounds: Callable[[Value], tuple[float, float]]


UNARY: dict[str, Unary] = {
    "negate": Unary("any", lambda v: (-v.hi, -v.lo)),
    "abs": Unary("any", _abs_bounds),
    "sign": Unary("any", _monotone(np.sign)),
    "exp": Unary("small", _monotone(math.exp)),
    "log": Unary("positive", _monotone(math.log)),
    "sqrt": Unary("positive", _monotone(math.sqrt)),
    "relu": Unary("any", lambda v: (max(v.lo, 0.0), max(v.hi, 0.0))),
    "sigmoid": Unary("any", _monotone(_sigmoid)),
    "tanh": Unary("any", _monotone(math.tanh)),
    "sin": Unary("any", lambda v: (-1.0, 1.0)),
    "cos": Unary("any", lambda v: (-1.0, 1.0)),
    "square": Unary("any", lambda v: (_abs_bounds(v)[0] ** 2, v.bound**2)),
    "reciprocal": Unary("positive", lambda v: (1 / v.hi, 1 / v.lo)),
    "rsqrt": Unary("positive", lambda v: (1 / math.sqrt(v.hi), 1 / math.sqrt(v.lo))),
    "floor": Unary("any", _monotone(math.floor)),
    "erf": Unary("any", _monotone(math.erf)),
    "softplus": Unary("any", _monotone(_softplus)),
    "gelu": Unary("any", _dipping(lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2))), -0.18)),
    "leaky_relu": Unary("any", _monotone(lambda x: x if x > 0 else 0.01 * x)),
    "elu": Unary("any", _monotone(lambda x: x if x > 0 else math.expm1(x))),
    "selu": Unary("any", _monotone(lambda x: 1.0507 * (x if x > 0 else 1.6733 * math.expm1(x)))),
    "silu": Unary("any", _dipping(lambda x: x * _sigmoid(x), -0.28)),
    "mish": Unary("any", _dipping(lambda x: x * math.tanh(_softplus(x)), -0.31)),
    "log_sigmoid": Unary("any", _monotone(lambda x: min(x, 0.0) - math.log1p(math.exp(-abs(x))))),
    "hard_sigmoid": Unary("any", _monotone(lambda x: min(max(x + 3.0, 0.0), 6.0) / 6.0)),
    "hard_tanh": Unary("any", _monotone(lambda x: min(max(x, -1.0), 1.0))),
}

GUARDS: dict[str, Callable[[Builder, Value], Value]] = {
    "any": Builder.tame,
    "positive": Builder.positive,
    "small": Builder.small,
}


def build_unary(b: Builder, op: str) -> Value | None:
    row = UNARY[op]
    v = GUARDS[row.domain](b, b.operand())
    lo, hi = row.bounds(v)
    rhs = f"-{_tensor_expr(v)}" if op == "negate" and b.chance(0.4) else f"ops.{op}({v.name})"
    return b.emit(rhs, _derived((v,), v.shape, lo, hi), op, (v,))


@dataclass(frozen=True)
class Binary:
    symbol: str | None  # Python operator, when there is one
    lhs: str  # domain of each operand
    rhs: str
    bounds: Callable[[Value, Value], tuple[float, float]]


def _product_bounds(a: Value, b: Value) -> tuple[float, float]:
    if a.name == b.name:
        return _abs_bounds(a)[0] ** 2, a.bound**2
    return _corners(lambda x, y: x * y, a, b)


def _mask_bounds(a: Value, b: Value) -> tuple[float, float]:
    return 0.0, 1.0


BINARY: dict[str, Binary] = {
    "add": Binary("+", "any", "any", lambda a, b: (a.lo + b.lo, a.hi + b.hi)),
    "subtract": Binary("-", "any", "any", lambda a, b: (a.lo - b.hi, a.hi - b.lo)),
    "multiply": Binary("*", "any", "any", _product_bounds),
    "divide": Binary("/", "any", "positive", lambda a, b: _corners(lambda x, y: x / y, a, b)),
    "power": Binary("**", "positive", "small", lambda a, b: _corners(lambda x, y: x**y, a, b)),
    "maximum": Binary(None, "any", "any", lambda a, b: (max(a.lo, b.lo), max(a.hi, b.hi))),
    "minimum": Binary(None, "any", "any", lambda a, b: (min(a.lo, b.lo), min(a.hi, b.hi))),
    "greater": Binary(">", "any", "any", _mask_bounds),
    "greater_equal": Binary(">=", "any", "any", _mask_bounds),
    "less": Binary("<", "any", "any", _mask_bounds),
    "less_equal": Binary("<=", "any", "any", _mask_bounds),
    "equal": Binary("==", "any", "any", _mask_bounds),
    "not_equal": Binary("!=", "any", "any", _mask_bounds),
}

SCALARS = {"any": (2.0, 0.5, -1.5, 1.0, 0.0, 3.0), "positive": (0.5, 1.0, 2.0), "small": (2.0, 0.5)}


def _second_operand(b: Builder, first: Value) -> Value | float:
    """A Python scalar, or a value whose shape broadcasts with `first`."""
    roll = b.rng.random()
    if roll < 0.25:
        return float(b.choice([2.0, 0.5, -1.5, 1.0, 0.0, 3.0]))
    if roll < 0.6:
        found = b.pick(lambda v: (s := broadcast(first.shape, v.shape)) is not None and fits(s))
        if found is not None:
            return found
    return b.leaf(partner_shape(b, first.shape))


def build_binary(b: Builder, op: str) -> Value | None:
    row = BINARY[op]
    first = b.operand()
    second = _second_operand(b, first)
    operands: list[Value | float] = [first, second]
    if b.chance(0.5):
        operands.reverse()
    guarded = []
    for value, domain in zip(operands, (row.lhs, row.rhs), strict=True):
        if isinstance(value, float):
            value = value if domain == "any" else b.choice(SCALARS[domain])
            guarded.append(value)
        else:
            guarded.append(GUARDS[domain](b, value))
    lhs, rhs = guarded
    values = tuple(v for v in guarded if isinstance(v, Value))
    as_value = [
        v if isinstance(v, Value) else Value(repr(v), (), lo=v, hi=v, const=True) for v in guarded
    ]
    shape = broadcast(as_value[0].shape, as_value[1].shape)
    lo, hi = row.bounds(*as_value)
    names = [v.name if isinstance(v, Value) else repr(v) for v in guarded]
    tensor_side = any(isinstance(v, Value) and not v.const for v in guarded)
    if row.symbol is not None and tensor_side and b.chance(0.6):
        left = _tensor_expr(lhs) if isinstance(lhs, Value) else names[0]
        text = f"{left} {row.symbol} {names[1]}"
    else:
        text = f"ops.{op}({names[0]}, {names[1]})"
    return b.emit(text, _derived(values, shape, lo, hi), op, values)


REDUCTIONS: dict[str, str] = {
    "sum": "sum",
    "mean": "mean",
    "reduce_max": "max",
    "reduce_min": "min",
}


def build_reduction(b: Builder, op: str) -> Value | None:
    v = b.tame(b.operand())
    rank = len(v.shape)
    axes = tuple(
        sorted(int(a) for a in b.rng.permutation(rank)[: int(b.rng.integers(0, rank + 1))])
    )
    style = b.choice(["tuple", "none", "int"]) if rank else "none"
    if style == "none":
        axes = tuple(range(rank))
    if style == "int" or (style == "tuple" and len(axes) == 1 and b.chance(0.5)):
        axes = axes[:1] if axes else (int(b.rng.integers(rank)),)
    empty = any(v.shape[a] == 0 for a in axes)
    if op in ("reduce_max", "reduce_min") and empty:
        return None
    keepdims = b.chance(0.4)
    shape = tuple(1 if i in axes else d for i, d in enumerate(v.shape) if keepdims or i not in axes)
    count = math.prod(v.shape[a] for a in axes)
    lo, hi = (v.lo * count, v.hi * count) if op == "sum" else (v.lo, v.hi)
    lo, hi = (min(lo, 0.0), max(hi, 0.0)) if op == "sum" else (lo, hi)
    spelled = _axes_text(b, axes, rank, style)
    keep = ", keepdims=True" if keepdims else (", keepdims=False" if b.chance(0.2) else "")
    rhs = f"ops.{op}({v.name}{spelled}{keep})"
    result = _derived((v,), shape, lo, hi)
    if op == "mean" and empty and math.prod(shape) > 0:
        result = replace(result, finite=False)
    return b.emit(rhs, result, op, (v,))


def _one_axis(b: Builder, rank: int) -> int | None:
    """None (the flattened tensor) or one axis of a tensor of `rank`."""
    return None if not rank or b.chance(0.3) else int(b.rng.integers(rank))


def _axis_text(b: Builder, axis: int | None, rank: int) -> str:
    if axis is None:
        return "" if b.chance(0.7) else ", axis=None"
    return f", axis={axis - rank if b.chance(0.3) else axis}"


def build_arg_reduction(b: Builder, op: str) -> Value | None:
    """argmax/argmin of an argument: int64 positions, usable as labels downstream.

    Only arguments (random, so tie-free) or captured constants (exact, so ties break the same
    everywhere): near ties in computed values could fall either way in rounding that
    legitimately differs between levels, which would be a false alarm.
    """
    v = b.pick(lambda v: v in b.inputs) or b.leaf(b.shape())
    rank = len(v.shape)
    axis = _one_axis(b, rank)
    count = v.size if axis is None else v.shape[axis]
    if count == 0:
        return None
    keepdims = b.chance(0.3)
    if axis is None:
        shape = (1,) * rank if keepdims else ()
    else:
        shape = tuple(1 if i == axis else d for i, d in enumerate(v.shape) if keepdims or i != axis)
    keep = ", keepdims=True" if keepdims else ""
    rhs = f"ops.{op}({v.name}{_axis_text(b, axis, rank)}{keep})"
    result = Value("", shape, "int", 0, count - 1, const=v.const, classes=count)
    return b.emit(rhs, result, op, (v,))


def build_statistic(b: Builder, op: str) -> Value | None:
    """variance (ddof 0 or 1) or logsumexp over random axes: composites of reductions."""
    v = b.tame(b.operand())
    rank = len(v.shape)
    axes = tuple(sorted(int(a) for a in b.rng.permutation(rank)[: int(b.rng.integers(rank + 1))]))
    count = math.prod(v.shape[a] for a in axes)
    ddof = int(b.chance(0.5)) if op == "variance" else 0
    if count - ddof <= 0:
        return None  # numpy's inf or nan, and logsumexp rejects an empty axis
    keepdims = b.chance(0.4)
    shape = tuple(1 if i in axes else d for i, d in enumerate(v.shape) if keepdims or i not in axes)
    if op == "variance":
        lo, hi, extra = 0.0, (v.hi - v.lo) ** 2, f", ddof={ddof}"
    else:
        lo, hi, extra = v.lo, v.hi + math.log(count), ""
    keep = ", keepdims=True" if keepdims else ""
    rhs = f"ops.{op}({v.name}, axis={axes}{extra}{keep})"
    return b.emit(rhs, _derived((v,), shape, lo, hi), op, (v,))


def build_cumsum(b: Builder, op: str) -> Value | None:
    """Running sums along one axis or over the flattened tensor."""
    v = b.tame(b.operand())
    rank = len(v.shape)
    axis = _one_axis(b, rank)
    count = v.size if axis is None else v.shape[axis]
    shape = (v.size,) if axis is None else v.shape
    lo, hi = min(v.lo, v.lo * count), max(v.hi, v.hi * count)
    rhs = f"ops.cumsum({v.name}{_axis_text(b, axis, rank)})"
    return b.emit(rhs, _derived((v,), shape, lo, hi), op, (v,))


def _axes_text(b: Builder, axes: tuple[int, ...], rank: int, style: str) -> str:
    if style == "none":
        return "" if b.chance(0.7) else ", axis=None"
    spelled = [a - rank if b.chance(0.3) else a for a in axes]
    if style == "int":
        return f", axis={spelled[0]}"
    return f", axis={tuple(spelled)}"


def build_matmul(b: Builder, op: str) -> Value | None:
    a = b.pick(lambda v: len(v.shape) in (2, 3))
    if a is None:
        a = b.new_input(b.choice([(2, 3), (3, 1), (2, 2, 3), (1, 4)]))
    a = b.tame(a)
    k, n = a.shape[-1], b.choice([0, 1, 2, 3, 4])
    shape_b = (k, n) if len(a.shape) == 2 or b.chance(0.4) else (a.shape[0], k, n)
    out = (*a.shape[:-1], n)
    if not fits(out) or not fits(shape_b):
        return None
    other = b.tame(b.with_shape(shape_b))
    lo, hi = _corners(lambda x, y: x * y, a, other)
    lo, hi = min(lo * k, 0.0), max(hi * k, 0.0)
    text = f"{_tensor_expr(a)} @ {other.name}" if not a.const and b.chance(0.5) else None
    rhs = text or f"ops.matmul({a.name}, {other.name})"
    return b.emit(rhs, _derived((a, other), out, lo, hi), op, (a, other))


def _layout_operand(b: Builder) -> Value:
    """Layout ops move int64 labels as well as floats."""
    if b.chance(0.15):
        labels = b.pick(kind="int")
        if labels is not None:
            return labels
    return b.operand()


def _keep_facts(v: Value, shape: tuple[int, ...]) -> Value:
    return replace(v, name="", shape=shape, const=v.const)


def build_transpose(b: Builder, op: str) -> Value | None:
    v = _layout_operand(b)
    perm = tuple(int(p) for p in b.rng.permutation(len(v.shape)))
    style = b.choice(["perm", "reverse", "T"])
    if style == "perm":
        rhs, shape = f"ops.transpose({v.name}, {perm})", tuple(v.shape[p] for p in perm)
    else:
        shape = tuple(reversed(v.shape))
        rhs = f"{v.name}.T" if style == "T" and not v.const else f"ops.transpose({v.name})"
    return b.emit(rhs, _keep_facts(v, shape), op, (v,))


def _reshape_target(b: Builder, shape: tuple[int, ...]) -> tuple[int, ...]:
    size = math.prod(shape)
    if size == 0:
        dims = [b.choice([1, 2, 3]) for _ in range(int(b.rng.integers(1, 4)))]
        dims[int(b.rng.integers(len(dims)))] = 0
        return tuple(dims)
    factors = [p for p in range(2, size + 1) for _ in range(_multiplicity(size, p))]
    rank = int(b.rng.integers(0 if size == 1 else 1, 4))
    dims = [1] * rank
    for factor in factors:
        dims[int(b.rng.integers(rank))] *= factor
    return tuple(dims)


def _multiplicity(n: int, p: int) -> int:
    if any(p % q == 0 for q in range(2, int(p**0.5) + 1)):
        return 0
    count = 0
    while n % p == 0:
        n, count = n // p, count + 1
    return count


def build_reshape(b: Builder, op: str) -> Value | None:
    v = _layout_operand(b)
    target = _reshape_target(b, v.shape)
    spelled = list(target)
    if target and v.size > 0 and b.chance(0.3):
        spelled[int(b.rng.integers(len(spelled)))] = -1
    method = not v.const and b.chance(0.4)
    rhs = (
        f"{v.name}.reshape({tuple(spelled)})"
        if method
        else f"ops.reshape({v.name}, {tuple(spelled)})"
    )
    return b.emit(rhs, _keep_facts(v, target), op, (v,))


def build_broadcast_to(b: Builder, op: str) -> Value | None:
    v = _layout_operand(b)
    lead = tuple(b.choice([1, 2, 3]) for _ in range(int(b.rng.integers(0, 3))))
    stretched = tuple(b.choice([0, 2, 3]) if d == 1 and b.chance(0.5) else d for d in v.shape)
    target = lead + stretched
    if not fits(target):
        return None
    return b.emit(f"ops.broadcast_to({v.name}, {target})", _keep_facts(v, target), op, (v,))


def build_stop_gradient(b: Builder, op: str) -> Value | None:
    v = b.operand(lambda v: not v.const)
    return b.emit(f"aidjit.stop_gradient({v.name})", replace(v, name="", fd_blind=True), op, (v,))


def _labels(b: Builder, shape: tuple[int, ...], classes: int) -> Value:
    found = b.pick(lambda v: v.shape == shape and 0 < v.classes <= classes, kind="int")
    return found if found is not None and b.chance(0.6) else b.new_labels(shape, classes)


def build_one_hot(b: Builder, op: str) -> Value | None:
    labels = b.pick(lambda v: v.classes > 0, kind="int") if b.chance(0.4) else None
    if labels is None:
        labels = b.new_labels(b.shape(max_rank=2), int(b.rng.integers(1, 5)))
    classes = labels.classes + int(b.rng.integers(0, 2))
    shape = (*labels.shape, classes)
    if not fits(shape):
        return None
    result = Value("", shape, lo=0.0, hi=1.0, const=labels.const)
    return b.emit(f"ops.one_hot({labels.name}, {classes}, DTYPE)", result, op, (labels,))


def build_random_bits(b: Builder, op: str) -> Value | None:
    """Uniform floats in [0, 1) (graph.random_bits and its scaling) from a key [2]: an int64
    argument or constant, any two words being a key."""
    key = _labels(b, (2,), 4)
    shape = b.shape()
    result = Value("", shape, lo=0.0, hi=1.0, const=key.const)
    return b.emit(f"aidjit.random.uniform({key.name}, {shape}, DTYPE)", result, op, (key,))


def build_softmax(b: Builder, op: str) -> Value | None:
    v = b.tame(b.operand(lambda v: len(v.shape) >= 1))
    if not v.shape:
        return None
    axis = int(b.rng.integers(-len(v.shape), len(v.shape)))
    if v.shape[axis] == 0:
        return None
    spelled = "" if axis == -1 and b.chance(0.5) else f", axis={axis}"
    lo, hi = (0.0, 1.0) if op == "softmax" else (v.lo - v.hi - math.log(v.shape[axis]), 0.0)
    return b.emit(f"ops.{op}({v.name}{spelled})", _derived((v,), v.shape, lo, hi), op, (v,))


def build_layer_norm(b: Builder, op: str) -> Value | None:
    v = b.tame(b.operand(lambda v: len(v.shape) >= 1))
    if not v.shape:
        return None
    axis = int(b.rng.integers(-len(v.shape), len(v.shape)))
    trailing = v.shape[axis:]
    params = [b.tame(b.with_shape(trailing)) if b.chance(0.5) else None for _ in range(2)]
    weight, bias = params
    extent = math.sqrt(max(v.shape[axis], 1))
    scale = extent * (weight.bound if weight else 1.0)
    shift = bias.bound if bias else 0.0
    operands = (v, *(p for p in params if p is not None))
    args = [v.name] + [
        f"{k}={p.name}" for k, p in zip(("weight", "bias"), params, strict=True) if p
    ]
    if axis != -1 or b.chance(0.3):
        args.append(f"axis={axis}")
    result = _derived(operands, v.shape, -scale - shift, scale + shift)
    return b.emit(f"ops.layer_norm({', '.join(args)})", result, op, operands)


def build_cross_entropy(b: Builder, op: str) -> Value | None:
    logits = b.tame(b.operand(lambda v: len(v.shape) >= 1 and v.shape[-1] > 0))
    if not logits.shape or logits.shape[-1] == 0:
        return None
    labels = _labels(b, logits.shape[:-1], logits.shape[-1])
    result = _derived((logits,), (), 0.0, logits.hi - logits.lo + math.log(logits.shape[-1]))
    if math.prod(logits.shape[:-1]) == 0:
        result = replace(result, finite=False)
    return b.emit(f"ops.cross_entropy({logits.name}, {labels.name})", result, op, (logits, labels))


def build_where(b: Builder, op: str) -> Value | None:
    """A select on a comparison mask, any float (nonzero is true) or an int64 tensor."""
    masks = b.pick(lambda v: v.lo >= 0 and v.hi <= 1)
    condition = masks if masks is not None and b.chance(0.6) else None
    if condition is None:
        condition = b.pick(kind="int") if b.chance(0.2) else None
    condition = condition or b.operand()
    x = b.tame(b.operand(lambda v: _fits_with(v.shape, condition.shape)))
    if not _fits_with(x.shape, condition.shape):
        return None
    y: Value | float = (
        float(b.choice([0.0, 1.0, -2.0]))
        if b.chance(0.3)
        else b.tame(b.operand(lambda v: _fits_with(v.shape, x.shape, condition.shape)))
    )
    y_value = y if isinstance(y, Value) else Value(repr(y), (), lo=y, hi=y, const=True)
    shape = broadcast(broadcast(condition.shape, x.shape) or (), y_value.shape)
    if shape is None or not _fits_with(x.shape, condition.shape, y_value.shape):
        return None
    operands = (condition, x) + ((y,) if isinstance(y, Value) else ())
    lo, hi = min(x.lo, y_value.lo), max(x.hi, y_value.hi)
    y_text = y.name if isinstance(y, Value) else repr(y)
    result = _derived(operands, shape, lo, hi)
    return b.emit(f"ops.where({condition.name}, {x.name}, {y_text})", result, op, operands)


def _fits_with(*shapes: tuple[int, ...]) -> bool:
    combined: tuple[int, ...] | None = ()
    for shape in shapes:
        combined = broadcast(combined, shape) if combined is not None else None
    return combined is not None and fits(combined)


def build_clip(b: Builder, op: str) -> Value | None:
    """numpy's clip with one or two scalar bounds (None leaves that side open)."""
    v = b.tame(b.operand())
    low = b.choice([None, -1.0, -0.25, 0.0])
    high = b.choice([0.5, 1.5]) if low is None or b.chance(0.7) else None
    lo, hi = (float(np.clip(end, low, high)) for end in (v.lo, v.hi))
    rhs = f"ops.clip({v.name}, {low}, {high})"
    return b.emit(rhs, _derived((v,), v.shape, lo, hi), op, (v,))


def build_astype(b: Builder, op: str) -> Value | None:
    """int64 truncation and back, or a round trip through the other float type."""
    if b.chance(0.35):
        ints = b.pick(kind="int")
        if ints is not None:
            result = replace(ints, name="", kind="float", classes=0, const=ints.const)
            return b.emit(f"ops.astype({ints.name}, DTYPE)", result, op, (ints,))
    v = b.tame(b.operand())
    if b.chance(0.5):
        lo, hi = float(math.trunc(v.lo)), float(math.trunc(v.hi))
        result = replace(v, name="", kind="int", lo=lo, hi=hi, classes=0, fd_blind=True)
        rhs = f"{v.name}.astype(np.int64)" if not v.const else f"ops.astype({v.name}, np.int64)"
        return b.emit(rhs, result, op, (v,))
    # float32 rounding in the float64 twin makes a staircase finite differences cannot follow.
    wide = b.choice(["np.float64", "np.float32"])
    result = replace(v, name="", fd_blind=v.fd_blind or wide == "np.float32")
    return b.emit(f"ops.astype(ops.astype({v.name}, {wide}), DTYPE)", result, op, (v,))


def _index_item(b: Builder, dim: int) -> int | slice:
    if dim and b.chance(0.25):
        return int(b.rng.integers(-dim, dim))
    step = b.choice([None, 1, 2, -1, -2])
    start = b.choice([None, int(b.rng.integers(-dim - 1, dim + 2))])
    stop = b.choice([None, int(b.rng.integers(-dim - 1, dim + 2))])
    return slice(start, stop, step)


def _index_text(item: object) -> str:
    if item is None:
        return "None"
    if item is Ellipsis:
        return "..."
    if isinstance(item, slice):
        parts = ["" if x is None else str(x) for x in (item.start, item.stop, item.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if parts[2] else "")
    return str(item)


def build_slice(b: Builder, op: str) -> Value | None:
    """Basic indexing (`v[1:, ::-1, None]`) or an explicit `ops.strided_slice`."""
    v = _layout_operand(b)
    if v.const:
        return None  # numpy would index a captured array itself
    if b.chance(0.3):
        return _strided_slice(b, v, op)
    rank = len(v.shape)
    count = int(b.rng.integers(0, rank + 1))  # axes indexed explicitly
    items: list[object] = [_index_item(b, d) for d in v.shape[:count]]
    if b.chance(0.2):
        # Items after an ellipsis index the trailing axes: draw those for the axes they meet.
        before = int(b.rng.integers(0, count + 1))
        trailing = [_index_item(b, d) for d in v.shape[rank - (count - before) :]]
        items = [*items[:before], Ellipsis, *trailing]
    if b.chance(0.2):
        items.insert(int(b.rng.integers(0, len(items) + 1)), None)
    key = tuple(items)
    shape = np.empty(v.shape)[key].shape
    if not items or not fits(shape):
        return None
    text = ", ".join(_index_text(item) for item in items)
    return b.emit(f"{v.name}[{text}]", _keep_facts(v, shape), op, (v,))


def _strided_slice(b: Builder, v: Value, op: str) -> Value:
    start, shape, strides = [], [], []
    for dim in v.shape:
        stride = b.choice([1, 1, 2, -1])
        count = int(b.rng.integers(0, (dim - 1) // abs(stride) + 2)) if dim else 0
        span = (count - 1) * abs(stride) if count else 0
        first = int(b.rng.integers(0, dim - span)) if count else 0
        start.append(first + span if stride < 0 else first)
        shape.append(count)
        strides.append(stride)
    rhs = f"ops.strided_slice({v.name}, {tuple(start)}, {tuple(shape)}, {tuple(strides)})"
    return b.emit(rhs, _keep_facts(v, tuple(shape)), op, (v,))


def build_pad(b: Builder, op: str) -> Value | None:
    v = _layout_operand(b)
    low, high, interior = ([int(b.rng.integers(0, n)) for _ in v.shape] for n in (3, 3, 2))
    widths = zip(v.shape, low, high, interior, strict=True)
    shape = tuple(lo + hi + (d + (d - 1) * i if d else 0) for d, lo, hi, i in widths)
    if not fits(shape):
        return None
    # A label stays a label padded with 0; floats may be padded with another value too.
    value = 0.0 if v.kind == "int" else float(b.choice([0.0, 0.0, 1.0, -0.5]))
    result = replace(_keep_facts(v, shape), lo=min(v.lo, value), hi=max(v.hi, value))
    spelled = f"{tuple(low)}, {tuple(high)}, {tuple(interior)}"
    return b.emit(f"ops.lax_pad({v.name}, {spelled}, value={value})", result, op, (v,))


def build_concat(b: Builder, op: str) -> Value | None:
    """Two or three operands joined along a (maybe negative) axis, some possibly empty there."""
    v = _layout_operand(b)
    if not v.shape:
        return None
    axis = int(b.rng.integers(-len(v.shape), len(v.shape)))
    operands = [v]
    for _ in range(int(b.rng.integers(1, 3))):
        shape = list(v.shape)
        shape[axis] = int(b.choice([0, 1, 2, 3]))
        same = v.kind == "int" or b.chance(0.2)  # labels join labels only
        operands.append(v if same else b.with_shape(tuple(shape)))
    out = list(v.shape)
    out[axis] = sum(o.shape[axis] for o in operands)
    if not fits(tuple(out)) or all(o.const for o in operands):
        return None  # numpy would concatenate captured arrays itself
    lo, hi = min(o.lo for o in operands), max(o.hi for o in operands)
    result = replace(v, name="", shape=tuple(out), lo=lo, hi=hi, const=False)
    if v.kind == "float":
        result = _derived(tuple(operands), tuple(out), lo, hi)
    names = ", ".join(o.name for o in operands)
    return b.emit(f"ops.concat([{names}], axis={axis})", result, op, tuple(operands))


def _indexed_shape(b: Builder, shape: tuple[int, ...], axis: int, extent: int) -> tuple[int, ...]:
    """`shape` with `extent` along `axis`, other dims kept or (sometimes) 1: broadcast."""
    return tuple(
        extent if d == axis else dim if b.chance(0.75) else 1 for d, dim in enumerate(shape)
    )


def build_gather(b: Builder, op: str) -> Value | None:
    """take_along_axis: a value read at int64 indices (numpy broadcasting in other dims)."""
    x = b.pick(lambda v: len(v.shape) >= 1 and v.size > 0)
    if x is None:
        return None
    axis = int(b.rng.integers(0, len(x.shape)))
    indices = b.new_labels(
        _indexed_shape(b, x.shape, axis, int(b.rng.integers(1, 5))), x.shape[axis]
    )
    out = tuple(
        i if d == axis else max(i, s)
        for d, (i, s) in enumerate(zip(indices.shape, x.shape, strict=True))
    )
    if not fits(out):
        return None
    result = replace(x, name="", shape=out, const=x.const and indices.const)
    rhs = f"ops.take_along_axis({_tensor_expr(x)}, {indices.name}, axis={axis})"
    return b.emit(rhs, result, op, (x, indices))


def build_scatter_add(b: Builder, op: str) -> Value | None:
    """Updates added at int64 indices along an axis into zeros (repeats accumulate)."""
    u = b.pick(lambda v: len(v.shape) >= 1 and v.size > 0)
    if u is None:
        return None
    axis = int(b.rng.integers(0, len(u.shape)))
    extent = int(b.rng.integers(1, 5))
    indices = b.new_labels(_indexed_shape(b, u.shape, axis, u.shape[axis]), extent)
    shape = tuple(extent if d == axis else s for d, s in enumerate(u.shape))
    if not fits(shape):
        return None
    count = u.shape[axis]
    lo, hi = min(0.0, u.lo * count), max(0.0, u.hi * count)
    result = replace(u, name="", shape=shape, lo=lo, hi=hi, const=u.const and indices.const)
    rhs = (
        f"aidjit.autodiff.ops.indexing.scatter_add({_tensor_expr(u)}, {indices.name}, {axis}, "
        f"{shape})"
    )
    return b.emit(rhs, result, op, (u, indices))


def build_conv2d(b: Builder, op: str) -> Value | None:
    """torch's conv2d on a rank-4 value (NCHW) or a fresh input: random stride, dilation,
    padding (an int, or "same" at stride 1) and groups, a small weight, sometimes a bias."""
    x = b.pick(lambda v: len(v.shape) == 4 and v.size > 0 and v.shape[1] <= 4)
    if x is None:
        x = b.new_input((b.choice([1, 2]), b.choice([1, 2]), b.choice([2, 3, 4]), b.choice([2, 3])))
    x = b.tame(x)
    _, channels, height, width = x.shape
    groups = b.choice([g for g in (1, 2) if channels % g == 0])
    out_channels = groups * b.choice([1, 2])
    stride, dilation = b.choice([1, 1, 2]), b.choice([1, 1, 2])
    kernel = (b.choice([1, 2, 3]), b.choice([1, 2]))
    padding = "same" if stride == 1 and b.chance(0.3) else b.choice([0, 1])
    sizes = []
    for size, k in zip((height, width), kernel, strict=True):
        reach = (k - 1) * dilation + 1
        padded = size + (reach - 1 if padding == "same" else 2 * padding)
        if reach > padded:
            return None
        sizes.append((padded - reach) // stride + 1)
    out = (x.shape[0], out_channels, *sizes)
    weight_shape = (out_channels, channels // groups, *kernel)
    if not fits(out) or not fits(weight_shape):
        return None
    weight = b.tame(b.with_shape(weight_shape))
    operands: tuple[Value, ...] = (x, weight)
    bound = channels // groups * kernel[0] * kernel[1] * x.bound * weight.bound
    bias = "None"
    if b.chance(0.5):
        operands = (x, weight, b.tame(b.with_shape((out_channels,))))
        bias, bound = operands[2].name, bound + operands[2].bound
    rhs = (
        f"ops.conv2d({x.name}, {weight.name}, {bias}, stride={stride}, padding={padding!r}, "
        f"dilation={dilation}, groups={groups})"
    )
    return b.emit(rhs, _derived(operands, out, -bound, bound), op, operands)


def _nchw(b: Builder) -> Value:
    """A rank-4 (NCHW) value with some spatial extent, or a fresh input."""
    x = b.pick(lambda v: len(v.shape) == 4 and v.size > 0 and min(v.shape[2:]) >= 2)
    if x is None:
        x = b.new_input((b.choice([1, 2]), b.choice([1, 2]), b.choice([2, 3, 4]), b.choice([2, 3])))
    return b.tame(x)


def _pooled_size(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """torch's pooling output size (dilation 1); 0 when no window fits."""
    span = size + 2 * padding - kernel
    if span < 0:
        return 0
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    return out - 1 if ceil_mode and (out - 1) * stride >= size + padding else out


def build_pool(b: Builder, op: str) -> Value | None:
    """torch's max_pool2d (for max_pool2d) or avg_pool2d, the bare sum_pool2d, adaptive and
    global averages (for sum_pool2d): random kernel, stride, padding and ceil_mode."""
    x = _nchw(b)
    style = "max" if op == "max_pool2d" else b.choice(["avg", "avg", "sum", "adaptive", "global"])
    lo, hi = (x.lo, x.hi) if style == "max" else (min(x.lo, 0.0), max(x.hi, 0.0))
    if style == "global":
        shape = (*x.shape[:2], 1, 1)
        return b.emit(f"ops.global_avg_pool2d({x.name})", _derived((x,), shape, lo, hi), op, (x,))
    if style == "adaptive":
        size = (b.choice([1, 2, x.shape[2]]), b.choice([1, 2, 3]))
        rhs = f"ops.adaptive_avg_pool2d({x.name}, {size})"
        return b.emit(rhs, _derived((x,), (*x.shape[:2], *size), lo, hi), op, (x,))
    kernel, stride = b.choice([1, 2, 3]), b.choice([1, 2])
    padding = 0 if style == "sum" else b.choice([p for p in (0, 0, 1) if 2 * p <= kernel])
    ceil_mode = style != "sum" and b.chance(0.3)
    sizes = tuple(_pooled_size(n, kernel, stride, padding, ceil_mode) for n in x.shape[2:])
    if 0 in sizes:
        return None
    shape = (*x.shape[:2], *sizes)
    if style == "sum":
        lo, hi = lo * kernel * kernel, hi * kernel * kernel
        rhs = f"ops.sum_pool2d({x.name}, {kernel}, stride={stride})"
    else:
        options = f"stride={stride}, padding={padding}, ceil_mode={ceil_mode}"
        if style == "avg" and b.chance(0.5):
            options += f", count_include_pad={b.chance(0.5)}"
        rhs = f"ops.{style}_pool2d({x.name}, {kernel}, {options})"
    return b.emit(rhs, _derived((x,), shape, lo, hi), op, (x,))


def build_batch_norm(b: Builder, op: str) -> Value | None:
    """Inference batch_norm on [N, C, ...] with given statistics (the variance guarded
    positive), or training mode (the batch's own statistics) on a fresh input, whose rows are
    random: a value constant over the batch would have a variance of 0 and a gradient of
    1/sqrt(eps)."""
    if b.chance(0.3):
        x = b.new_input((b.choice([2, 3]), b.choice([1, 2]), b.choice([1, 2, 3])))
        channels = x.shape[1]
        weight = b.tame(b.with_shape((channels,)))
        bound = math.sqrt(x.size / channels) * weight.bound
        rhs = f"ops.batch_norm({x.name}, {weight.name}, training=True)"
        return b.emit(rhs, _derived((x, weight), x.shape, -bound, bound), op, (x, weight))
    x = b.tame(b.operand(lambda v: len(v.shape) >= 2 and v.shape[1] > 0))
    if len(x.shape) < 2 or x.shape[1] == 0:
        return None
    channels = (x.shape[1],)
    weight, bias, mean = (b.tame(b.with_shape(channels)) for _ in range(3))
    var = b.positive(b.with_shape(channels))
    operands = (x, weight, bias, mean, var)
    bound = (x.bound + mean.bound) * weight.bound / math.sqrt(var.lo) + bias.bound
    names = ", ".join(v.name for v in operands)
    result = _derived(operands, x.shape, -bound, bound)
    return b.emit(f"ops.batch_norm({names})", result, op, operands)


@dataclass(frozen=True)
class OpRow:
    """One op the generator can emit: its family (for reports), weight and builder."""

    family: str
    weight: float
    build: Build


def _rows() -> dict[str, OpRow]:
    """The op pool: every primitive of aidjit.ops and the composites, keyed by op name."""
    table: dict[str, OpRow] = {}
    table |= {name: OpRow("elementwise_unary", 1.0, build_unary) for name in UNARY}
    table |= {
        # Six comparisons against five arithmetic ops: weighted so arithmetic dominates.
        name: OpRow("elementwise_binary", 0.6 if row.bounds is _mask_bounds else 1.4, build_binary)
        for name, row in BINARY.items()
    }
    table |= {name: OpRow("reduction", 1.4, build_reduction) for name in REDUCTIONS}
    table["argmax"] = OpRow("reduction", 0.6, build_arg_reduction)
    table["argmin"] = OpRow("reduction", 0.6, build_arg_reduction)
    table["cumsum"] = OpRow("scan", 0.8, build_cumsum)
    table["variance"] = OpRow("composite", 0.6, build_statistic)
    table["logsumexp"] = OpRow("composite", 0.6, build_statistic)
    table["matmul"] = OpRow("matmul", 2.0, build_matmul)
    table["transpose"] = OpRow("layout", 1.2, build_transpose)
    table["reshape"] = OpRow("layout", 1.2, build_reshape)
    table["broadcast_to"] = OpRow("layout", 1.2, build_broadcast_to)
    table["stop_gradient"] = OpRow("layout", 0.4, build_stop_gradient)
    table["slice"] = OpRow("layout", 1.2, build_slice)
    table["pad"] = OpRow("pad", 0.8, build_pad)
    table["concat"] = OpRow("concat", 0.8, build_concat)
    table["where"] = OpRow("where", 1.0, build_where)
    table["astype"] = OpRow("cast", 0.8, build_astype)
    table["clip"] = OpRow("elementwise_unary", 1.0, build_clip)
    table["one_hot"] = OpRow("one_hot", 0.8, build_one_hot)
    table["gather"] = OpRow("indexing", 0.8, build_gather)
    table["conv2d"] = OpRow("conv", 1.0, build_conv2d)
    table["max_pool2d"] = OpRow("pooling", 0.8, build_pool)
    table["sum_pool2d"] = OpRow("pooling", 0.8, build_pool)
    table["batch_norm_inference"] = OpRow("normalization", 0.8, build_batch_norm)
    table["scatter_add"] = OpRow("indexing", 0.6, build_scatter_add)
    table["random_bits"] = OpRow("random", 0.6, build_random_bits)
    table["softmax"] = OpRow("composite", 0.8, build_softmax)
    table["log_softmax"] = OpRow("composite", 0.8, build_softmax)
    table["layer_norm"] = OpRow("composite", 0.8, build_layer_norm)
    table["cross_entropy"] = OpRow("composite", 0.8, build_cross_entropy)
    return {name: row for name, row in table.items() if _available(name)}


def _available(name: str) -> bool:
    """Rows for ops other helpers are still adding switch on when the op exists."""
    return name == "stop_gradient" or name in all_primitives() or hasattr(ops, name)


OP_TABLE: dict[str, OpRow] = _rows()


# ----- programs ---------------------------------------------------------------------------------


def generate(seed: int) -> Program:
    """The program for `seed`: the same seed always gives the same text."""
    b = Builder(seed)
    names = list(OP_TABLE)
    weights = np.array([OP_TABLE[n].weight for n in names])
    for _ in range(int(b.rng.integers(1, 3))):
        b.new_input(b.shape())
    target = int(b.rng.integers(4, 14))
    attempts = 0
    while len(b.statements) < target and attempts < 100:
        attempts += 1
        if b.statements and b.chance(0.1):
            rhs, template = b.choice(b.statements)  # a repeated subexpression
            b.emit(rhs, replace(template, name=""), None, ())
            continue
        name = names[int(b.rng.choice(len(names), p=weights / weights.sum()))]
        OP_TABLE[name].build(b, name)
    return _assemble(b)


def _outputs(b: Builder) -> list[Value]:
    candidates = list(b.pool)
    sinks = [v for v in candidates if v.name not in b.used and v not in b.inputs]
    chosen = [v for v in sinks if b.chance(0.75)] or candidates[-1:]
    if b.chance(0.15):
        chosen.append(b.choice(candidates))  # an earlier value, or an argument, returned as well
    if b.chance(0.1):
        chosen.append(chosen[0])  # the same value returned twice
    return chosen


PROGRAM = Template('''\
"""aidjit fuzz program, seed $seed: $count ops, $dtype."""

import numpy as np

import aidjit
from aidjit import ops

DTYPE = np.$dtype


def f($params):
$body
    return ($returned,)


def inputs():
    rng = np.random.default_rng($seed)
    return [$inputs]
''')

LOSS = Template('''

def weights(shape, index):
    """Fixed, uneven weights: the loss is a generic linear functional of the outputs."""
    size = int(np.prod(shape))
    return np.cos(np.arange(size) * 1.7 + index).reshape(shape).astype(DTYPE)


def loss($params):
    out = f($params)
    return (
        $terms
    )
''')

DRIVER = Template("""

if __name__ == "__main__":
    args = inputs()
    print("eager", f(*[aidjit.Tensor(a) for a in args]))
    for level, options in {
$levels
    }.items():
        print(level, aidjit.compile(f, *args, **options)(*args))
""")


def _assemble(b: Builder) -> Program:
    outputs = _outputs(b)
    if not any(v.kind == "float" for v in b.inputs):
        b.new_input((2,))  # gradients need a float argument, even an unused one
    params = ", ".join(v.name for v in b.inputs)
    loss_outputs = {i: v for i, v in enumerate(outputs) if v.kind == "float" and v.finite}
    makers = [
        f"rng.integers(0, {v.classes}, size={v.shape})"
        if v.kind == "int"
        else f"rng.uniform(-1.5, 1.5, size={v.shape}).astype(DTYPE)"
        for v in b.inputs
    ]
    source = PROGRAM.substitute(
        seed=b.seed,
        count=len(b.ops_used),
        dtype=b.dtype,
        params=params,
        body="\n".join(f"    {line}" for line in b.lines),
        returned=", ".join(v.name for v in outputs),
        inputs=", ".join(makers),
    )
    if loss_outputs:
        terms = [f"ops.sum(out[{i}] * weights({v.shape}, {i}))" for i, v in loss_outputs.items()]
        source += LOSS.substitute(params=params, terms="\n        + ".join(terms))
    levels = [f"        {name!r}: {options!r}," for name, options in BACKENDS.items()]
    source += DRIVER.substitute(levels="\n".join(levels))
    return Program(
        seed=b.seed,
        dtype=b.dtype,
        source=source,
        has_loss=bool(loss_outputs),
        fd_checkable=not any(v.fd_blind for v in loss_outputs.values()),
        float_args=tuple(i for i, v in enumerate(b.inputs) if v.kind == "float"),
        ops_used=tuple(b.ops_used),
    )


def _fuzz_main() -> None:
    """`python -m tests.fuzz.graphs SEED...` prints the programs."""
    import sys

    for seed in sys.argv[1:]:
        print(generate(int(seed)).source)


if __name__ == "__main__":
    _fuzz_main()
