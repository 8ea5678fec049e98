"""Regressions of the structured level (fusion, row groups, bufferize): each program compiled
to C and interpreted at every stage from `linalg` down, against eager execution.

Each program once went wrong, or guards a rewrite that could: a producer using linalg.index
fused through a transpose, an empty slice, rank-0 reshapes, row groups across reductions and
matmuls, outputs reached through views, in-place reuse of a buffer a later op still reads.
Results are compared with tolerances (fusion and split reductions reassociate sums), forward
and, through `value_and_grad` of a weighted sum of the outputs, gradients too. Where structure
is the point (one loop nest, workspace reuse), `compiled.stats` is checked as well.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import aidjit
from aidjit import Tensor, ops, value_and_grad
from aidjit.pipeline import pipeline_to_stage
from tests.staged import staged, verified_at_stage_ends

STRUCTURED_LEVELS = ("linalg", "fused", "bufferized", "loops")
"""The interpreted levels: each stop point of the structured level, from one pipeline run
(tests/staged.py); C is compiled as users compile."""
FLOATS = [np.float32, np.float64]
TOLERANCE = {
    np.dtype(np.float32): dict(rtol=2e-5, atol=2e-6),
    np.dtype(np.float64): dict(rtol=1e-12, atol=1e-13),
}


def _leaves(tree: Any) -> list[np.ndarray]:
    if isinstance(tree, tuple | list):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [np.asarray(tree.numpy() if isinstance(tree, Tensor) else tree)]


def check_levels(fn: Callable[..., Any], *args: np.ndarray) -> None:
    """`fn` compiled to C and interpreted at every level of `STRUCTURED_LEVELS` returns what it
    returns eagerly."""
    want = _leaves(fn(*[Tensor(a) for a in args]))
    stages = staged(fn, *args)
    with verified_at_stage_ends():  # the staged run verified each of the same passes
        results = {"c": _leaves(aidjit.compile(fn, *args)(*args))}
    results.update({level: stages.run(level, args) for level in STRUCTURED_LEVELS})
    for level, got in results.items():
        assert len(got) == len(want), f"{level}: {len(got)} results, expected {len(want)}"
        for index, (result, expected) in enumerate(zip(got, want, strict=True)):
            where = f"{level}, result {index}"
            assert result.dtype == expected.dtype, f"{where}: {result.dtype} != {expected.dtype}"
            assert result.shape == expected.shape, f"{where}: {result.shape} != {expected.shape}"
            if expected.dtype.kind == "f":
                np.testing.assert_allclose(
                    result, expected, **TOLERANCE[expected.dtype], err_msg=where
                )
            else:
                np.testing.assert_array_equal(result, expected, err_msg=where)


def weighted_loss(fn: Callable[..., Any]) -> Callable[..., Tensor]:
    """sum(out_k * w_k) over `fn`'s outputs, with fixed weights that vary per element, so no
    gradient is trivially zero (a softmax's plain sum is 1 per row whatever the input)."""

    def loss(*args: Tensor) -> Tensor:
        outputs = fn(*args)
        total: Tensor | None = None
        for k, out in enumerate(outputs if isinstance(outputs, tuple) else (outputs,)):
            count = math.prod(out.shape)
            weights = np.cos(np.arange(count) + k).reshape(out.shape).astype(out.dtype)
            term = ops.sum(out * Tensor(weights))
            total = term if total is None else total + term
        assert total is not None
        return total

    return loss


def check_levels_and_gradients(
    fn: Callable[..., Any], *args: np.ndarray, argnums: tuple[int, ...] | None = None
) -> None:
    """`check_levels` of `fn`, then of value_and_grad of its weighted loss (every float arg)."""
    check_levels(fn, *args)
    if argnums is None:
        argnums = tuple(i for i, a in enumerate(args) if a.dtype.kind == "f")
    check_levels(value_and_grad(weighted_loss(fn), argnums=argnums), *args)


def uniform(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.5, 1.5, size=shape).astype(dtype)


# ----- one program each ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
def test_one_hot_fused_through_a_transpose(dtype: type) -> None:
    """one_hot computes each element from linalg.index; fused into the transpose that reads it
    as (d1, d0), the indices must be the consumer's dims swapped. It once returned wrong rows."""
    labels = np.array([3, 0, 2, 2, 1], np.int64)
    x = uniform((4, 5), dtype)
    check_levels(lambda y: ops.transpose(ops.one_hot(y, 4, dtype)), labels)
    check_levels_and_gradients(
        lambda y, v: ops.transpose(ops.one_hot(y, 4, dtype)) * v, labels, x, argnums=(1,)
    )


@pytest.mark.parametrize("dtype", FLOATS)
def test_empty_slice_and_its_gradient(dtype: type) -> None:
    """x[-10:10, 3:1] has shape (4, 0): its loop nest must run no iteration, and its gradient
    (a pad of an empty block) must write only zeros. It once wrote out of bounds."""
    x = uniform((4, 5), dtype)
    check_levels(lambda v: v[-10:10, 3:1], x)
    check_levels_and_gradients(lambda v: (v[-10:10, 3:1], ops.exp(v)), x)


RANK0: dict[str, Callable[[Tensor], Tensor]] = {
    "reshape-of-mean": lambda x: ops.reshape(ops.mean(x), (1, 1)),
    "broadcast-of-sum": lambda x: ops.broadcast_to(ops.sum(x), (2, 3)),
    "reshape-of-sum-times-x": lambda x: ops.reshape(ops.sum(x), (1,)) * x,
    # A reversed (strided) view reshaped to rank 0 is copied, not viewed: the copy once tried
    # to view the rank-0 buffer with the source's shape (found through cumsum's gradient).
    "reshape-of-reversed-view": lambda x: ops.reshape(ops.exp(x[0, :1])[::-1], ()) * x,
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", RANK0, ids=list(RANK0))
def test_rank0_value_broadcast_and_reshaped(name: str, dtype: type) -> None:
    check_levels_and_gradients(RANK0[name], uniform((2, 3), dtype))


def log_softmax_like(x: Tensor) -> Tensor:
    """log_softmax spelled out: a row max, a row sum of exponentials, a log epilogue."""
    shifted = x - ops.reduce_max(x, axis=-1, keepdims=True)
    return shifted - ops.log(ops.sum(ops.exp(shifted), axis=-1, keepdims=True))


ROW_PROGRAMS: dict[str, Callable[..., Tensor]] = {
    "softmax": lambda x, w, b: ops.softmax(x),
    "layer_norm": lambda x, w, b: ops.layer_norm(x, w, b),
    "log_softmax": lambda x, w, b: ops.log_softmax(x),
    "log_softmax_like": lambda x, w, b: log_softmax_like(x),
    "softmax_times_layer_norm": lambda x, w, b: ops.softmax(x) * ops.layer_norm(x, w, b),
}
ROW_SHAPES = [(1, 7), (3, 37), (2, 32), (2, 2, 16)]
"""N=1; rows of 7 and 37, no multiple of 16 (split reduction off); rows of 32 and 16 (on in
f32's 16 lanes and f64's 8); a leading batch dim. Small: the interpreter runs every element."""


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", ROW_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", ROW_PROGRAMS, ids=list(ROW_PROGRAMS))
def test_row_compositions(name: str, shape: tuple[int, ...], dtype: type) -> None:
    x = uniform(shape, dtype)
    w = uniform(shape[-1:], dtype, seed=1)
    b = uniform(shape[-1:], dtype, seed=2)
    check_levels_and_gradients(ROW_PROGRAMS[name], x, w, b)


def row_statistics(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """W6's sibling reductions over each row of x: mean, variance and logsumexp."""
    rows = (x.shape[0],)
    mean = ops.mean(x, axis=1, keepdims=True)
    centered = x - mean
    variance = ops.mean(centered * centered, axis=1)
    peak = ops.reduce_max(x, axis=1, keepdims=True)
    logsumexp = ops.log(ops.sum(ops.exp(x - peak), axis=1, keepdims=True)) + peak
    return ops.reshape(mean, rows), variance, ops.reshape(logsumexp, rows)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 16), (3, 37), (4, 64)], ids=lambda s: "x".join(map(str, s)))
def test_sibling_reductions(shape: tuple[int, int], dtype: type) -> None:
    check_levels_and_gradients(row_statistics, uniform(shape, dtype))


def two_layers(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
    """matmul + bias + relu (a row group with the matmul) feeding a second matmul + bias."""
    return ops.relu(x @ w1 + b1) @ w2 + b2


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", [1, 5])
def test_matmul_epilogue_then_second_matmul(batch: int, dtype: type) -> None:
    args = [
        uniform(shape, dtype, seed)
        for seed, shape in enumerate([(batch, 6), (6, 8), (8,), (8, 3), (3,)])
    ]
    check_levels_and_gradients(two_layers, *args)


OUTPUTS: dict[str, Callable[[Tensor], Any]] = {
    # Computed twice, one value after cse.
    "value-twice": lambda x: (ops.exp(x) + 1.0, ops.exp(x) + 1.0),
    "same-tensor-twice": lambda x: (lambda e: (e, x, e))(ops.tanh(x) * 2.0),
    "argument": lambda x: (x, ops.exp(x)),
    "constant": lambda x: (Tensor(np.arange(6.0).reshape(2, 3).astype(x.dtype)), ops.exp(x)),
    "reshape-of-intermediate": lambda x: (ops.reshape(ops.exp(x) * x, (3, 2)), ops.tanh(x)),
    "reshape-of-row-result": lambda x: ops.reshape(ops.softmax(x), (6,)),
    "transpose-and-reshape": lambda x: (
        ops.reshape(ops.exp(x), (6,)),
        ops.transpose(ops.exp(x)),
    ),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", OUTPUTS, ids=list(OUTPUTS))
def test_outputs_through_views_and_aliases(name: str, dtype: type) -> None:
    """Each output gets its own buffer, written through any reshape between it and the op that
    computes it, whether it is an argument, a constant or a value returned twice."""
    check_levels_and_gradients(OUTPUTS[name], uniform((2, 3), dtype))


def _chain(x: Tensor) -> Tensor:
    return ops.tanh(ops.exp(x * 0.5) - 1.0) * 3.0


IN_PLACE: dict[str, Callable[[Tensor], Any]] = {
    # a: row-local inside the softmax's row group, then read transposed after it.
    "transposed-after-row-group": lambda x: (lambda a: ops.softmax(a) + ops.transpose(a))(
        _chain(x)
    ),
    # The transposed read comes first, the row group (which may overwrite a) after it.
    "transposed-before-row-group": lambda x: (
        lambda a: (ops.transpose(a) * 2.0, ops.softmax(a * 3.0))
    )(_chain(x)),
    # a dies inside the group only in row order; its column view lives on in the output.
    "column-sum-of-chain": lambda x: (lambda a: (ops.log_softmax(a), ops.sum(a, axis=0)))(
        _chain(x)
    ),
    # A chain whose intermediates die, with one intermediate used again transposed at the end.
    "long-chain": lambda x: (
        lambda a: (lambda b: ops.exp(-b) * b + ops.transpose(a))(ops.tanh(a) * a + 1.0)
    )(ops.exp(x) - x),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", IN_PLACE, ids=list(IN_PLACE))
def test_in_place_reuse_respects_later_reads(name: str, dtype: type) -> None:
    """An elementwise op may write over an input that dies there; inside a row loop an input
    dies row by row, so a buffer a later op reads whole (transposed, by column) must not be
    overwritten early."""
    check_levels_and_gradients(IN_PLACE[name], uniform((5, 5), dtype))


# ----- structure -------------------------------------------------------------------------------


def stats_of(fn: Callable[..., Any], *args: np.ndarray) -> aidjit.api.Stats:
    """The stats of the default pipeline (through the loops stage; no C is built)."""
    return aidjit.compile(fn, *args, backend="interpreter").stats


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["softmax", "layer_norm"])
def test_softmax_and_layer_norm_are_one_loop_nest(name: str, dtype: type) -> None:
    x = uniform((64, 256), dtype)
    w, b = uniform((256,), dtype, 1), uniform((256,), dtype, 2)
    stats = stats_of(ROW_PROGRAMS[name], x, w, b)
    assert stats.loop_nests == 1, stats


def _load_workloads() -> ModuleType:
    """bench/ is a folder of scripts, not a package: load workloads.py from its file
    (registered in sys.modules first, as dataclasses look their module up there)."""
    name = "bench_workloads"
    path = Path(__file__).resolve().parents[2] / "bench" / "workloads.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_w1_is_one_loop_nest_without_workspace() -> None:
    workloads = _load_workloads()
    args = workloads.w1_inputs(np.random.default_rng(0))
    stats = aidjit.compile(workloads.w1_aidjit, *args).stats
    assert (stats.loop_nests, stats.workspace_bytes) == (1, 0), stats


def test_workspace_reuse_in_a_chain_with_temporaries() -> None:
    """Column sums keep a chain's steps apart: each round's exp is read by its column sum and,
    after that is complete, by the division, so it is a temporary (exp is never recomputed),
    as are the sums; a temporary that died is reused by a later round."""

    def chain(x: Tensor) -> Tensor:
        for _ in range(4):
            e = ops.exp(x)
            x = e / ops.sum(e, axis=0)
        return x

    x = uniform((8, 8), np.float32)
    stats = stats_of(chain, x)
    assert 0 < stats.workspace_bytes < stats.bytes_without_reuse, stats
    check_levels(chain, x)


def test_chains_that_reread_a_value_do_not_grow_the_fused_body() -> None:
    """`x = x.T * x + 1`, repeated: fusing the producer into both reads (or duplicating it into
    its two users) doubled the body at every step, exponential in compile time."""

    def chain(x: Tensor) -> Tensor:
        for _ in range(12):
            x = ops.transpose(x) * x + 1.0
        return x

    x = uniform((3, 3), np.float32)
    compiled = aidjit.compile(chain, x, backend="interpreter", pipeline=pipeline_to_stage("fused"))
    assert compiled.stats.passes_ms and sum(compiled.stats.passes_ms.values()) < 2000
    np.testing.assert_allclose(compiled(x), chain(Tensor(x)).numpy(), rtol=1e-5)
    exp_twice = aidjit.compile(
        lambda v: (lambda e: ops.transpose(e) * e)(ops.exp(v)), x, backend="interpreter"
    )
    assert exp_twice.ir("fused").count("math.exp") == 1


def test_a_row_group_mark_on_an_op_that_is_not_row_by_row_is_an_error() -> None:
    """Hand-written IR may mark anything: the lowering checks the mark, naming the op."""
    from xdsl.parser import Parser

    from aidjit.context import make_context
    from aidjit.errors import UnsupportedError
    from aidjit.lowering.convert_linalg_to_loops import ConvertLinalgToFusedLoopsPass

    text = """
func.func @f(%x: memref<4x3xf32>, %out: memref<3xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill {aidjit.row_group = 0 : i64} ins(%zero : f32) outs(%out : memref<3xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                    affine_map<(d0, d1) -> (d1)>],
                  iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<4x3xf32>) outs(%out : memref<3xf32>) attrs = {aidjit.row_group = 0 : i64} {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  }
  func.return
}
"""
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    with pytest.raises(UnsupportedError, match="linalg.generic is marked aidjit.row_group"):
        ConvertLinalgToFusedLoopsPass().apply(ctx, module)
