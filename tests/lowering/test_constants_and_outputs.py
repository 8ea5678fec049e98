"""Constants and output buffers through every backend: regressions found by differential testing.

Each program runs eagerly (the reference) and compiled to C and through the interpreter at
every level of the pipeline. Results must match eager bit for bit (these are exact ops),
including the sign of zero.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from xdsl.dialects import func, memref
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

import aidjit
from aidjit import Tensor, ops
from aidjit.api import workspace_bytes
from aidjit.context import make_context
from aidjit.pipeline import (
    DEFAULT_PIPELINE,
    GRAPH_PIPELINE,
    STAGES,
    pipeline_to_stage,
    run_pipeline,
)
from aidjit.runtime.cache import build
from aidjit.runtime.emit_c import c_prototype, emit_c, view_source
from aidjit.runtime.interpreter.loops import run_loops
from aidjit.runtime.loader import load_library
from aidjit.runtime.toolchain import find_toolchain

BACKENDS: dict[str, dict[str, Any]] = {
    "c": {},
    **{
        level: {"backend": "interpreter", "pipeline": pipeline_to_stage(level)}
        for level in STAGES
        if level not in ("graph", "c")
    },
}
FLOATS = [np.float32, np.float64]


def assert_same(got: Any, want: Any, *, signed_zeros: bool = True) -> None:
    """Equal values, dtypes and shapes, and (with `signed_zeros`) the same sign on every zero."""
    got_list = list(got) if isinstance(got, tuple) else [got]
    want_list = list(want) if isinstance(want, tuple) else [want]
    assert len(got_list) == len(want_list)
    for result, expected in zip(got_list, want_list, strict=True):
        result, expected = np.asarray(result), np.asarray(expected)
        assert result.dtype == expected.dtype and result.shape == expected.shape
        np.testing.assert_array_equal(result, expected)
        if signed_zeros:
            assert (np.signbit(result) == np.signbit(expected)).all(), (result, expected)


def eager(fn: Callable[..., Any], *args: np.ndarray) -> Any:
    result = fn(*[Tensor(a) for a in args])
    if isinstance(result, tuple):
        return tuple(np.asarray(r.numpy() if isinstance(r, Tensor) else r) for r in result)
    return result.numpy()


def check_all_backends(
    fn: Callable[..., Any], *args: np.ndarray, signed_zeros: bool = True
) -> None:
    want = eager(fn, *args)
    for backend, options in BACKENDS.items():
        compiled = aidjit.compile(fn, *args, **options)
        try:
            assert_same(compiled(*args), want, signed_zeros=signed_zeros)
        except AssertionError as error:
            raise AssertionError(f"backend {backend}: {error}") from error


@pytest.mark.parametrize("dtype", FLOATS)
def test_constant_mixing_signed_zeros_keeps_each_zero(dtype: type) -> None:
    # [-0.0, 0.0, 0.0] once became a splat of -0.0 ("all equal to the first" with ==).
    zeros = Tensor(np.array([-0.0, 0.0, 0.0], dtype))
    x = np.ones(3, dtype)
    with np.errstate(divide="ignore"):
        want = np.array([-np.inf, np.inf, np.inf], dtype)
        assert_same(eager(lambda v: ops.divide(v, zeros), x), want)
        check_all_backends(lambda v: ops.divide(v, zeros), x)
    check_all_backends(lambda v: ops.multiply(v, zeros), x)
    check_all_backends(lambda v: (v, zeros), x)


@pytest.mark.parametrize("dtype", FLOATS)
def test_splat_of_negative_zero_stays_negative(dtype: type) -> None:
    negative_zeros = Tensor(np.full((2, 3), -0.0, dtype))
    check_all_backends(lambda v: ops.add(v, negative_zeros), np.full((2, 3), -0.0, dtype))


@pytest.mark.parametrize(
    "labels", [np.zeros(3, np.int64), np.full(3, 7, np.int64), np.full(2, 2**60 + 1, np.int64)]
)
def test_int64_splat_constant_is_an_integer(labels: np.ndarray) -> None:
    # A splat i64 constant once lowered to a float attribute typed i64 (invalid IR).
    x = np.ones(3, np.float32)
    check_all_backends(lambda v: (ops.negate(v), labels), x)


@pytest.mark.parametrize("dtype", FLOATS)
def test_constant_one_hot_labels(dtype: type) -> None:
    labels = np.full(4, 2, np.int64)
    x = np.arange(12, dtype=dtype).reshape(4, 3)
    check_all_backends(lambda v: ops.one_hot(labels, 3, dtype) * v, x)


@pytest.mark.parametrize("dtype", FLOATS)
def test_copy_of_a_zero_one_constant_array(dtype: type) -> None:
    # gcc 12.2 -march=native (AVX-512) once returned [1,1,0,1,1,1,1,1,1] for this constant.
    table = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1], dtype)
    check_all_backends(lambda v: (v, table), np.ones(9, dtype))
    check_all_backends(lambda v: v * table, np.full(9, 3, dtype))


MAX_MIN_OF_NON_NEGATIVE: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "relu-abs": lambda x, y: ops.relu(ops.abs(x)),
    "maximum-square": lambda x, y: ops.maximum(x * x, y),
    "minimum-square": lambda x, y: ops.minimum(x * x, y),
    "minimum-abs": lambda x, y: ops.minimum(ops.abs(x), y),
}


@pytest.mark.parametrize("shape", [(16,), (4, 3)])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", MAX_MIN_OF_NON_NEGATIVE, ids=list(MAX_MIN_OF_NON_NEGATIVE))
def test_max_min_of_a_non_negative_operand(name: str, dtype: type, shape: tuple[int, ...]) -> None:
    # gcc 12.2 -O3 (AVX-512) once crashed compiling these (ICE in tree-ssa-sccvn) for f32.
    # Signs of zero are not compared: of +0 and -0 numpy returns either, aidjit the larger
    # (tests/runtime/loop_cases.py checks that, against MLIR's definition).
    specials = [-0.0, 0.0, np.nan, -2.0, 3.0, np.inf, -np.inf, 0.5]
    x = np.resize(np.array(specials, dtype), shape)
    y = np.resize(np.array([0.0, -0.0, 1.0, np.nan, 9.0, -1.0], dtype), shape)
    check_all_backends(MAX_MIN_OF_NON_NEGATIVE[name], x, y, signed_zeros=False)


# Layout ops of a splat constant reach the structured level only when nothing folds them first
# (tracing and canonicalize do), so these start from graph-level IR and skip the graph passes.
# Fusion folds the splat into the generic that moves it; every output must still be written,
# whatever produces it, and the same value returned twice.
OUTPUT_PRODUCERS: dict[str, str] = {
    "broadcast-of-splat": """
    %c = graph.constant dense<1.5> : tensor<3xf32>
    %r = graph.broadcast_to %c : tensor<3xf32> -> tensor<2x3xf32>""",
    "reshape-of-splat": """
    %c = graph.constant dense<-0.0> : tensor<6xf32>
    %r = graph.reshape %c : tensor<6xf32> -> tensor<2x3xf32>""",
    "transpose-of-splat": """
    %c = graph.constant dense<4.0> : tensor<3x2xf32>
    %r = graph.transpose %c {perm = array<i64: 1, 0>} : tensor<3x2xf32> -> tensor<2x3xf32>""",
    "splat": """
    %r = graph.constant dense<2.5> : tensor<2x3xf32>""",
    "constant": """
    %r = graph.constant dense<[[0.0, 1.0, 2.0], [3.0, 4.0, -0.0]]> : tensor<2x3xf32>""",
    "argument": """
    %r = graph.negate %x : tensor<2x3xf32>""",
    "transpose-of-constant": """
    %c = graph.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
    %r = graph.transpose %c {perm = array<i64: 1, 0>} : tensor<3x2xf32> -> tensor<2x3xf32>""",
}
EXPECTED_OUTPUTS: dict[str, np.ndarray] = {
    "broadcast-of-splat": np.full((2, 3), 1.5),
    "reshape-of-splat": np.full((2, 3), -0.0),
    "transpose-of-splat": np.full((2, 3), 4.0),
    "splat": np.full((2, 3), 2.5),
    "constant": np.array([[0.0, 1.0, 2.0], [3.0, 4.0, -0.0]]),
    "argument": -np.arange(6.0).reshape(2, 3),
    "transpose-of-constant": np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]),
}


def lowered_module(producer: str) -> ModuleOp:
    """`f(x) -> (producer, x, producer)`: the value twice, an argument between, no canonicalize."""
    text = f"""
func.func @f(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {{
{OUTPUT_PRODUCERS[producer]}
    func.return %r, %x, %r : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}}"""
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    run_pipeline(ctx, module, DEFAULT_PIPELINE.removeprefix(GRAPH_PIPELINE + ","))
    return module


def run_c_with_poisoned_outputs(module: ModuleOp, x: np.ndarray) -> list[np.ndarray]:
    """Call the compiled function with outputs pre-filled with NaN: unwritten ones stay NaN."""
    (function,) = [op for op in module.ops if isinstance(op, func.FuncOp)]
    prototype = c_prototype(function)
    ffi, library = load_library(build(emit_c(module), find_toolchain()).path, prototype + ";")
    outputs = [np.full((2, 3), np.nan, np.float32) for _ in range(3)]
    pointers = [ffi.from_buffer("float[]", array) for array in (x, *outputs)]
    workspace = np.zeros(workspace_bytes(function), np.int8)
    if workspace.size:
        pointers.append(ffi.from_buffer("int8_t[]", workspace))
    library.f(*pointers)
    return outputs


@pytest.mark.parametrize("producer", OUTPUT_PRODUCERS, ids=list(OUTPUT_PRODUCERS))
def test_every_output_is_written_without_canonicalize(producer: str) -> None:
    module = lowered_module(producer)
    (function,) = [op for op in module.ops if isinstance(op, func.FuncOp)]
    stored = {view_source(op.memref) for op in function.walk() if isinstance(op, memref.StoreOp)}
    outputs = function.body.block.args[1:4]
    assert all(output in stored for output in outputs), str(module)
    assert "const float *restrict arg1" not in c_prototype(function)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    expected = [EXPECTED_OUTPUTS[producer].astype(np.float32), x, None]
    expected[2] = expected[0]
    specs = [((2, 3), np.dtype(np.float32))] * 3
    interpreted = run_loops(module, "f", [x], specs)
    compiled = run_c_with_poisoned_outputs(module, x)
    for results in (interpreted, compiled):
        assert_same(tuple(results), tuple(expected))
