"""vectorize-loops against the scalar loops it replaces, numpy, the interpreter and the CPU.

The pass must change no bit: each case is compiled twice, with the default pipeline and with
the same pipeline without vectorize-loops, and the outputs compared bit for bit (NaN payloads
and the sign of zero included), in float32 and float64, at sizes that leave every kind of
remainder (17, 33, 1000 columns: a scalar epilogue, unrolled steps, a vector loop). Both are
also checked against numpy eager within tolerance, so that two equally wrong kernels fail.
"""

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from xdsl.dialects import scf
from xdsl.parser import Parser

import aidjit
from aidjit import Tensor, ops
from aidjit.context import make_context
from aidjit.errors import PipelineError
from aidjit.pipeline import DEFAULT_PIPELINE, parse_pipeline
from aidjit.runtime.emit_c import emit_c
from aidjit.runtime.target import detect_target
from aidjit.runtime.toolchain import compile_shared, find_toolchain
from aidjit.transforms.vectorize_loops import VectorizeLoopsPass, plan_loop

PASS = "vectorize-loops"


def _scalar(pipeline: str) -> str:
    """`pipeline` without vectorize-loops."""
    return ",".join(name for name in pipeline.split(",") if not name.startswith(PASS))


def _bits(array: Any) -> np.ndarray:
    array = np.ascontiguousarray(array)
    return array.view(f"u{array.dtype.itemsize}")


def _inputs(dtype: type, columns: int, count: int) -> list[np.ndarray]:
    """Rows of normal values; the first input's row 1 holds a NaN and row 2 only zeros of
    both signs, +0.0 every third (max must order -0.0 < +0.0 and propagate NaN, lane by
    lane)."""
    rng = np.random.default_rng(columns)
    arrays = [rng.standard_normal((3, columns)).astype(dtype) for _ in range(count)]
    arrays[0][1, columns // 2] = np.nan
    arrays[0][2] = np.where(np.arange(columns) % 3 == 0, 0.0, -0.0).astype(dtype)
    return arrays


def _layer_norm(x: Tensor) -> Tensor:
    return ops.layer_norm(x, eps=1e-5)


Case = tuple[Callable[..., Any], Callable[..., Any], int]
"""aidjit function, numpy function, number of inputs."""

CASES: dict[str, Case] = {
    "affine": (lambda x, y: x * y + 2.0, lambda x, y: x * y + 2.0, 2),
    "relu_abs": (lambda x: ops.relu(ops.abs(x)), lambda x: np.maximum(np.abs(x), 0), 1),
    "exp_tanh": (
        lambda x: ops.exp(x) - ops.tanh(x),
        lambda x: np.exp(x) - np.tanh(x),
        1,
    ),
    "log_sqrt": (
        lambda x: ops.log(ops.abs(x) + 1.0) * ops.sqrt(ops.abs(x)),
        lambda x: np.log(np.abs(x) + 1.0) * np.sqrt(np.abs(x)),
        1,
    ),
    "sum": (lambda x: ops.sum(x, axis=1), lambda x: x.sum(axis=1), 1),
    "max": (lambda x: ops.reduce_max(x, axis=1), lambda x: x.max(axis=1), 1),
    "mean": (lambda x: ops.mean(x, axis=1), lambda x: x.mean(axis=1), 1),
    "softmax": (
        ops.softmax,
        lambda x: (
            np.exp(x - x.max(-1, keepdims=True))
            / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)
        ),
        1,
    ),
    "layer_norm": (
        _layer_norm,
        lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5),
        1,
    ),
}

SIZES = [17, 33, 1000]
LIBM_CALLED = {"exp_tanh"}
"""Cases with a function the default pipeline leaves to libm (tanh): not bitwise, see below."""


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in representable floats (NaN against NaN: 0)."""
    width = np.int32 if a.dtype == np.float32 else np.int64
    both_nan = np.isnan(a) & np.isnan(b)
    keys = [x.view(width).astype(np.float64) for x in (a, b)]
    keys = [np.where(k < 0, np.iinfo(width).min - k, k) for k in keys]
    return np.where(both_nan, 0, np.abs(keys[0] - keys[1]))


@pytest.mark.parametrize("columns", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CASES))
def test_vectorised_c_is_bitwise_the_scalar_c(name: str, dtype: type, columns: int) -> None:
    fn, reference, count = CASES[name]
    inputs = _inputs(dtype, columns, count)
    vectorised = aidjit.compile(fn, *inputs, threads=1)
    assert PASS in vectorised.pipeline
    scalar = aidjit.compile(fn, *inputs, threads=1, pipeline=_scalar(vectorised.pipeline))
    if detect_target().isa.vector_bytes:
        assert "vector.load" in vectorised.ir("loops"), "nothing was vectorised"
    got, expected = np.asarray(vectorised(*inputs)), np.asarray(scalar(*inputs))
    if name in LIBM_CALLED:
        # tanh stays a libm call: libmvec's vector variant in vector lanes, libm's scalar tanh
        # in the scalar pipeline, two implementations within 1 ulp each.
        assert _ulps(got, expected).max() <= 2, f"{name}: vectorised C differs"
    else:
        assert np.array_equal(_bits(got), _bits(expected)), f"{name}: vectorised C differs"
    with np.errstate(all="ignore"):
        wanted = reference(*(a.astype(np.float64) for a in inputs))
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, wanted, rtol=tolerance, atol=tolerance, equal_nan=True)
    if name in ("relu_abs", "max"):  # row 2 has +0.0 and -0.0: MLIR's max is +0.0 (numpy's varies)
        assert not np.signbit(got[2]).any(), "maximumf must order -0.0 below +0.0"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["log_sqrt", "max", "softmax"])
def test_interpreter_runs_the_vectorised_loops_as_the_c_does(name: str, dtype: type) -> None:
    """The loop interpreter computes each lane as the scalar op would: the same bits as C."""
    fn, _, count = CASES[name]
    inputs = _inputs(dtype, 37, count)
    interpreted = aidjit.compile(fn, *inputs, backend="interpreter")
    assert "vector.reduction" in interpreted.ir("loops") or "vector.load" in interpreted.ir("loops")
    compiled = aidjit.compile(fn, *inputs, threads=1)
    got, expected = np.asarray(interpreted(*inputs)), np.asarray(compiled(*inputs))
    assert np.array_equal(got, expected, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(expected))


LOOP = """
func.func @f(%x: memref<{n}xf32>, %y: memref<{n}xf32>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant {n} : index
  scf.for %i = %c0 to %n step %c1 {{
    %a = memref.load %x[%i] : memref<{n}xf32>
    {op}
    memref.store %b, %y[%i] : memref<{n}xf32>
  }}
  func.return
}}
"""


def _plan(op: str, n: int = 64, vector_bytes: int = 64) -> Any:
    module = Parser(make_context(), LOOP.format(n=n, op=op)).parse_module()
    loop = next(op for op in module.walk() if isinstance(op, scf.ForOp))
    return plan_loop(loop, vector_bytes)


@pytest.mark.parametrize(
    ("op", "lanes"),
    [
        ("%b = arith.addf %a, %a : f32", 16),
        ("%b = math.fma %a, %a, %a : f32", 16),
        ("%b = math.exp %a : f32", 16),  # expanded by expand-math, which runs next
        ("%b = math.powf %a, %a : f32", 16),  # libmvec's vector variant
        ("%b = math.sin %a : f32", 16),
        # the widest lanes decide: 8 of i64, so 8 of f32
        ("%t = arith.fptosi %a : f32 to i64\n    %b = arith.sitofp %t : i64 to f32", 8),
    ],
)
def test_which_ops_vectorise_and_at_how_many_lanes(op: str, lanes: int | None) -> None:
    plan = _plan(op)
    assert (plan.lanes if plan else None) == lanes


def test_lanes_follow_vector_bytes_and_short_loops_stay_scalar() -> None:
    assert _plan("%b = arith.addf %a, %a : f32", vector_bytes=32).lanes == 8
    assert _plan("%b = arith.addf %a, %a : f32", n=15) is None
    assert _plan("%b = arith.addf %a, %a : f32", n=15, vector_bytes=32).lanes == 8


def test_negative_vector_bytes_is_an_error_naming_the_pass() -> None:
    module = Parser(
        make_context(), LOOP.format(n=16, op="%b = arith.addf %a, %a : f32")
    ).parse_module()
    with pytest.raises(PipelineError, match="vectorize-loops: vector-bytes must be 0 or more"):
        VectorizeLoopsPass(vector_bytes=-1).apply(make_context(), module)


def _loops(disassembly: str) -> list[list[str]]:
    """The instructions of each loop of an objdump listing: from a backward jump's target up
    to the jump itself."""
    lines = [line for line in disassembly.splitlines() if re.match(r"\s+[0-9a-f]+:\t", line)]
    addresses = [int(line.split(":")[0], 16) for line in lines]
    loops = []
    for end, line in enumerate(lines):
        jump = re.search(r"\tj\w+\s+([0-9a-f]+) <", line)
        if jump and int(jump.group(1), 16) < addresses[end]:
            start = addresses.index(int(jump.group(1), 16))
            loops.append(lines[start : end + 1])
    return loops


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump")
@pytest.mark.skipif(not detect_target().isa.vector_bytes, reason="no vector ISA")
def test_nan_propagating_max_and_sum_loops_have_no_branch(tmp_path: Path) -> None:
    """W6's first pass (row sums and maxima, split reductions kept in registers): the innermost
    loops on vectors are straight-line code, NaN and -0.0 handled with blends, not branches.
    (The in-order fold of the 16 partial maxima, once per row, is scalar code with branches.)"""

    def sum_and_max(x: Tensor) -> tuple[Tensor, Tensor]:
        return ops.sum(x, axis=1), ops.reduce_max(x, axis=1)

    x = np.ones((8, 1024), np.float32)
    module = Parser(make_context(), aidjit.compile(sum_and_max, x).ir("loops")).parse_module()
    assert "iter_args" in str(module)
    source = tmp_path / "kernel.c"
    source.write_text(emit_c(module))
    compile_shared(find_toolchain(), source, tmp_path / "kernel.so")
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(tmp_path / "kernel.so")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    register = "%zmm" if detect_target().isa.vector_bytes == 64 else "%ymm"
    loops = _loops(listing)
    innermost = [loop for loop in loops if not any(set(o) < set(loop) for o in loops)]
    vector_loops = [loop for loop in innermost if any(register in i for i in loop)]
    assert vector_loops, f"no innermost loop on {register} registers"
    for loop in vector_loops:
        branches = [i for i in loop if re.search(r"\tj(?!mp)\w+\s", i)]
        assert len(branches) == 1, "a branch inside a vector loop:\n" + "\n".join(loop)


def test_pipeline_order() -> None:
    """vectorize-loops runs after the contraction tiling and the transposes (whose scalar
    remainders it may vectorise), before expand-math."""
    names = [type(p).name for p in parse_pipeline(DEFAULT_PIPELINE)]
    position = names.index(PASS)
    assert names[position - 2 : position] == ["tile-contractions", "vectorize-transposes"]
    assert names[position + 1] == "expand-math"
