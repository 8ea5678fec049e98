"""The op test table: one row per op and interesting shape, shared by every op-level test.

Each case names a function of aidjit tensors, the numpy reference it must match, the input
shapes and the input domain (so log sees positive numbers, abs stays away from its kink, ...).

Every row runs eagerly (against numpy, and its gradient against finite differences). Compiled,
the rows of the core family run one by one; the rows of every other family run as one bundle,
one function computing all of the family's rows, so that a family of twenty ops costs the
suite two compiles per dtype and level, not forty (`COMPILED` lists what compiled tests run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aidjit import ops


@dataclass(frozen=True)
class Case:
    id: str
    fn: Callable[..., Any]
    reference: Callable[..., np.ndarray]
    shapes: tuple[tuple[int, ...], ...]
    domain: str = "any"  # any | positive | away_from_zero | distinct
    differentiable: bool = True
    int_inputs: dict[int, int] = field(default_factory=dict)  # input index -> number of classes
    family: str = "core"
    rows: tuple[Case, ...] = ()
    """A bundle's rows: its inputs are theirs, one after another; its fn returns their results."""

    def inputs(self, dtype: Any, seed: int = 0) -> list[np.ndarray]:
        if self.rows:
            return [a for row in self.rows for a in row.inputs(dtype, seed)]
        rng = np.random.default_rng(seed)
        arrays = []
        for index, shape in enumerate(self.shapes):
            if index in self.int_inputs:
                arrays.append(rng.integers(0, self.int_inputs[index], size=shape).astype(np.int64))
                continue
            arrays.append(_sample(rng, shape, self.domain, index).astype(dtype))
        return arrays


def _sample(
    rng: np.random.Generator, shape: tuple[int, ...], domain: str, index: int
) -> np.ndarray:
    if domain == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    if domain == "away_from_zero":
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 1.5, size=shape)
    if domain == "distinct":
        size = int(np.prod(shape))
        # Distinct within an input and, through the offset, between inputs: no ties anywhere.
        return (rng.permutation(size).reshape(shape) - size / 2) * 0.37 + index * 0.11
    return rng.uniform(-1.5, 1.5, size=shape)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * w + b


def _pad(x: np.ndarray, low: tuple, high: tuple, interior: tuple) -> np.ndarray:
    """Zero padding with gaps between elements, built by strided assignment."""
    shape = [
        lo + hi + d + (d - 1) * i for d, lo, hi, i in zip(x.shape, low, high, interior, strict=True)
    ]
    out = np.zeros(shape, x.dtype)
    widths = zip(x.shape, low, interior, strict=True)
    out[tuple(slice(lo, lo + d * (i + 1), i + 1) for d, lo, i in widths)] = x
    return out


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    log_p = logits - logits.max(-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    return -np.take_along_axis(log_p, labels[..., None], -1).mean()


CASES: list[Case] = [
    # elementwise unary
    Case("negate", ops.negate, np.negative, ((3, 4),)),
    Case("abs", ops.abs, np.abs, ((3, 4),), "away_from_zero"),
    Case("sign", ops.sign, np.sign, ((3, 4),), "away_from_zero", differentiable=False),
    Case("exp", ops.exp, np.exp, ((3, 4),)),
    Case("log", ops.log, np.log, ((3, 4),), "positive"),
    Case("sqrt", ops.sqrt, np.sqrt, ((3, 4),), "positive"),
    Case("relu", ops.relu, lambda x: np.maximum(x, 0), ((3, 4),), "away_from_zero"),
    Case("sigmoid", ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)), ((3, 4),)),
    Case("tanh", ops.tanh, np.tanh, ((3, 4),)),
    Case("tanh_rank0", ops.tanh, np.tanh, ((),)),
    Case("exp_size1_dims", ops.exp, np.exp, ((1, 3, 1),)),
    Case("exp_empty", ops.exp, np.exp, ((0, 3),)),
    # elementwise binary, with numpy broadcasting
    Case("add", ops.add, np.add, ((3, 4), (3, 4))),
    Case("add_broadcast_row", ops.add, np.add, ((3, 4), (4,))),
    Case("add_broadcast_both", ops.add, np.add, ((3, 1), (1, 4))),
    Case("add_scalar_tensor", ops.add, np.add, ((2, 3), ())),
    Case("add_empty", ops.add, np.add, ((0, 4), (4,))),
    Case("subtract", ops.subtract, np.subtract, ((2, 1, 3), (4, 1))),
    Case("multiply", ops.multiply, np.multiply, ((2, 3), (2, 3))),
    Case("multiply_broadcast", ops.multiply, np.multiply, ((4,), (3, 1))),
    Case("divide", ops.divide, np.divide, ((2, 3), (2, 3)), "positive"),
    Case("power", ops.power, np.power, ((2, 3), (2, 3)), "positive"),
    Case("maximum", ops.maximum, np.maximum, ((3, 4), (3, 4)), "distinct"),
    Case("minimum", ops.minimum, np.minimum, ((3, 4), (4,)), "distinct"),
    Case(
        "greater",
        ops.greater,
        lambda x, y: (x > y).astype(x.dtype),
        ((3, 4), (4,)),
        "distinct",
        differentiable=False,
    ),
    Case(
        "greater_equal",
        ops.greater_equal,
        lambda x, y: (x >= y).astype(x.dtype),
        ((3, 4), (3, 4)),
        "distinct",
        differentiable=False,
    ),
    Case(
        "equal",
        lambda x, y: ops.equal(x, ops.maximum(x, y)),
        lambda x, y: (x == np.maximum(x, y)).astype(x.dtype),
        ((3, 4), (4,)),
        "distinct",
        differentiable=False,
    ),
    Case(
        "not_equal",
        lambda x, y: ops.not_equal(ops.minimum(x, y), y),
        lambda x, y: (np.minimum(x, y) != y).astype(x.dtype),
        ((3, 4), (3, 4)),
        "distinct",
        differentiable=False,
    ),
    Case(
        "comparison_operators",
        lambda x, y: (x < y) + (x <= 0.5) * 2.0 + (x > y) * 4.0 + (y >= x) * 8.0 + (x == x) * 16,
        lambda x, y: (
            (x < y) + (x <= 0.5) * 2.0 + (x > y) * 4.0 + (y >= x) * 8.0 + (x == x) * 16
        ).astype(x.dtype),
        ((3, 4), (3, 1)),
        "distinct",
        differentiable=False,
    ),
    # where: a float mask or an int64 condition, numpy broadcasting of all three
    Case(
        "where_mask",
        lambda x, y: ops.where(x > y, x * 2.0, y),
        lambda x, y: np.where(x > y, x * 2, y),
        ((3, 4), (4,)),
        "distinct",
    ),
    Case(
        "where_int_condition",
        ops.where,
        lambda c, x, y: np.where(c != 0, x, y),
        ((3, 1), (4,), (3, 4)),
        int_inputs={0: 2},
    ),
    Case(
        "where_scalar_branch",
        lambda x: ops.where(x > 0.0, ops.log(ops.abs(x)), 0.0),
        lambda x: np.where(x > 0, np.log(np.abs(x)), 0.0),
        ((3, 4),),
        "away_from_zero",
    ),
    # astype: float <-> float <-> int64
    Case(
        "astype_widen",
        lambda x: ops.astype(ops.astype(x, np.float64) * 3.0, x.dtype),
        lambda x: (x.astype(np.float64) * 3.0).astype(x.dtype),
        ((3, 4),),
    ),
    Case(
        # Rounding to float32 defeats float64 finite differences: forward only.
        "astype_narrow",
        lambda x: ops.astype(ops.astype(x, np.float32), x.dtype),
        lambda x: x.astype(np.float32).astype(x.dtype),
        ((3, 4),),
        differentiable=False,
    ),
    Case(
        "astype_to_int_truncates",
        lambda x: ops.astype(x * 3.0, np.int64).astype(x.dtype),
        lambda x: (x * 3).astype(np.int64).astype(x.dtype),
        ((3, 4),),
        differentiable=False,
    ),
    Case(
        "astype_from_int",
        lambda y, x: x * ops.astype(y, x.dtype),
        lambda y, x: x * y.astype(x.dtype),
        ((3, 4), (3, 4)),
        int_inputs={0: 5},
    ),
    Case("scalar_operand", lambda x: x * 2.0 + 1.0, lambda x: x * 2 + 1, ((3,),)),
    Case("int_scalar_operand", lambda x: 3 - x * 2, lambda x: 3 - x * 2, ((3,),)),
    Case(
        "constant_array",
        lambda x: x * np.arange(1.0, 5.0, dtype=x.dtype) - 0.5,
        lambda x: x * np.arange(1.0, 5.0, dtype=x.dtype) - 0.5,
        ((3, 4),),
    ),
    Case("pow_operator", lambda x: x**2, lambda x: x**2, ((3, 2),)),
    # reductions
    Case("sum_all", ops.sum, lambda x: np.sum(x), ((3, 4),)),
    Case("sum_axis1", lambda x: ops.sum(x, axis=1), lambda x: x.sum(1), ((3, 4),)),
    Case(
        "sum_keepdims",
        lambda x: ops.sum(x, axis=0, keepdims=True),
        lambda x: x.sum(0, keepdims=True),
        ((3, 4),),
    ),
    Case("sum_axes_0_2", lambda x: ops.sum(x, axis=(0, 2)), lambda x: x.sum((0, 2)), ((2, 3, 4),)),
    Case("sum_empty_axis", lambda x: ops.sum(x, axis=1), lambda x: x.sum(1), ((2, 0),)),
    Case("mean_axis_neg1", lambda x: ops.mean(x, axis=-1), lambda x: x.mean(-1), ((3, 4),)),
    Case(
        "mean_keepdims",
        lambda x: ops.mean(x, axis=(0, 1), keepdims=True),
        lambda x: x.mean((0, 1), keepdims=True),
        ((2, 3, 2),),
    ),
    Case(
        "reduce_max", lambda x: ops.reduce_max(x, axis=1), lambda x: x.max(1), ((3, 4),), "distinct"
    ),
    Case(
        "reduce_max_keepdims",
        lambda x: ops.reduce_max(x, axis=0, keepdims=True),
        lambda x: x.max(0, keepdims=True),
        ((3, 4),),
        "distinct",
    ),
    # matmul
    Case("matmul", ops.matmul, np.matmul, ((3, 4), (4, 5))),
    Case("matmul_vector_row", ops.matmul, np.matmul, ((1, 4), (4, 2))),
    Case("matmul_batched", ops.matmul, np.matmul, ((2, 3, 4), (2, 4, 5))),
    Case("matmul_batched_shared_rhs", ops.matmul, np.matmul, ((2, 3, 4), (4, 5))),
    Case("matmul_operator", lambda a, b: a @ b, np.matmul, ((2, 3), (3, 2))),
    # layout
    Case("transpose", ops.transpose, np.transpose, ((3, 4),)),
    Case(
        "transpose_perm",
        lambda x: ops.transpose(x, (1, 2, 0)),
        lambda x: np.transpose(x, (1, 2, 0)),
        ((2, 3, 4),),
    ),
    Case("reshape", lambda x: ops.reshape(x, (4, 3)), lambda x: x.reshape(4, 3), ((2, 6),)),
    Case("reshape_infer", lambda x: ops.reshape(x, (-1,)), lambda x: x.reshape(-1), ((2, 3, 2),)),
    Case(
        "broadcast_to",
        lambda x: ops.broadcast_to(x, (2, 3, 4)),
        lambda x: np.broadcast_to(x, (2, 3, 4)),
        ((3, 1),),
    ),
    # basic indexing (slice + reshape; its gradient is pad) and pad
    Case("index_int", lambda x: x[1], lambda x: x[1], ((3, 4),)),
    Case("index_negative", lambda x: x[-1], lambda x: x[-1], ((3, 4),)),
    Case("index_columns", lambda x: x[:, 1:3], lambda x: x[:, 1:3], ((3, 4),)),
    Case("index_step", lambda x: x[::2], lambda x: x[::2], ((5, 2),)),
    Case("index_ellipsis", lambda x: x[..., -1], lambda x: x[..., -1], ((2, 3, 4),)),
    Case("index_newaxis", lambda x: x[None, :, np.newaxis], lambda x: x[None, :, None], ((3,),)),
    Case(
        "index_combined",
        lambda x: x[1:, None, ::-2, 2],
        lambda x: x[1:, None, ::-2, 2],
        ((3, 5, 4),),
    ),
    Case("index_clamped", lambda x: x[-10:10, 3:1], lambda x: x[-10:10, 3:1], ((3, 4),)),
    Case("index_rank0", lambda x: x[()] * x[...], lambda x: x * x, ((),)),
    Case(
        "pad",
        lambda x: ops.pad(x, (1, 0), (2, 1), (0, 2)),
        lambda x: _pad(x, (1, 0), (2, 1), (0, 2)),
        ((2, 3),),
    ),
    # one_hot and composites
    Case(
        "one_hot",
        lambda y: ops.one_hot(y, 4),
        lambda y: np.eye(4, dtype=np.float32)[y],
        ((5,),),
        differentiable=False,
        int_inputs={0: 4},
    ),
    Case("softmax", ops.softmax, _softmax, ((3, 5),)),
    Case("softmax_axis0", lambda x: ops.softmax(x, axis=0), lambda x: _softmax(x, 0), ((3, 5),)),
    Case(
        "log_softmax",
        ops.log_softmax,
        lambda x: (
            x
            - x.max(-1, keepdims=True)
            - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
        ),
        ((3, 5),),
    ),
    Case("layer_norm", lambda x, w, b: ops.layer_norm(x, w, b), _layer_norm, ((4, 6), (6,), (6,))),
    Case("cross_entropy", ops.cross_entropy, _cross_entropy, ((4, 5), (4,)), int_inputs={1: 5}),
]

CASE_IDS = [case.id for case in CASES]
DIFFERENTIABLE = [case for case in CASES if case.differentiable]


def bundle(family: str, rows: list[Case]) -> Case:
    """One case computing every row of `family`: a tuple of the rows' results."""
    bounds = np.cumsum([0, *(len(row.shapes) for row in rows)]).tolist()
    spans = list(zip(bounds, bounds[1:], strict=False))

    def split(args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return [args[start:stop] for start, stop in spans]

    return Case(
        f"{family}-family",
        lambda *args: tuple(row.fn(*part) for row, part in zip(rows, split(args), strict=True)),
        lambda *args: tuple(
            row.reference(*part) for row, part in zip(rows, split(args), strict=True)
        ),
        tuple(shape for row in rows for shape in row.shapes),
        differentiable=any(row.differentiable for row in rows),
        int_inputs={
            start + index: classes
            for row, (start, _) in zip(rows, spans, strict=True)
            for index, classes in row.int_inputs.items()
        },
        family=family,
        rows=tuple(rows),
    )


def results(value: Any) -> list[Any]:
    """A case's results as a list: a bundle returns a tuple, a row one tensor or array."""
    return list(value) if isinstance(value, tuple) else [value]


def total(value: Any) -> Any:
    """The sum of every float result: what compiled gradient tests differentiate."""
    floats = [r.sum() for r in results(value) if np.dtype(r.dtype).kind == "f"]
    return sum(floats[1:], floats[0])


FAMILIES = sorted({case.family for case in CASES} - {"core"})
COMPILED = [case for case in CASES if case.family == "core"] + [
    bundle(family, [case for case in CASES if case.family == family]) for family in FAMILIES
]
"""What compiled tests run: each core row alone, then one bundle per other family."""
COMPILED_IDS = [case.id for case in COMPILED]
COMPILED_DIFFERENTIABLE = [case for case in COMPILED if case.differentiable]
