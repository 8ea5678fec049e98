"""The structured-level interpreter against numpy, on hand-written linalg IR in both forms:
on tensors (after convert-graph-to-linalg and fusion) and on memrefs (after bufferize).

References are bit-exact: reductions accumulate in loop order in the element type, and libm
functions are computed in float64 and rounded, as the interpreter's shared scalar table does.
"""

import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.passes import PassPipeline
from xdsl.transforms import get_all_passes

from aidjit.context import make_context
from aidjit.errors import DTypeError, ShapeError, UnsupportedError
from aidjit.runtime.interpreter.loops import run_loops
from aidjit.runtime.interpreter.structured import run_structured

FLOATS = pytest.mark.parametrize("t", ["f32", "f64"])
DTYPES = {"f32": np.dtype(np.float32), "f64": np.dtype(np.float64)}
ID2 = "affine_map<(d0, d1) -> (d0, d1)>"


def parse(text: str, *, verify: bool = True) -> ModuleOp:
    module = Parser(make_context(), text).parse_module()
    if verify:
        module.verify()
    return module


def rounded(function: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """A libm function as the interpreter computes it: in float64, rounded to x's dtype."""
    return function(x.astype(np.float64)).astype(x.dtype)


def sequential_sum(values: np.ndarray, initial: np.ndarray | None = None) -> np.ndarray:
    """Sum over the last axis left to right in the element type, as a reduction loop does."""
    total = np.zeros(values.shape[:-1], values.dtype) if initial is None else initial.copy()
    for column in np.moveaxis(values, -1, 0):
        total = total + column
    return total


def assert_identical(actual: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, strict=True)


def random(shape: tuple[int, ...], t: str, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(DTYPES[t])


# --- on tensors ----------------------------------------------------------------------------------

SOFTMAX_PARTS = """
func.func @f(%x: tensor<4x8x{t}>, %b: tensor<8x{t}>)
    -> (tensor<4x{t}>, tensor<4x8x{t}>, tensor<2x16x{t}>, tensor<2x{t}>) {{
  %e = tensor.empty() : tensor<4x{t}>
  %cst = arith.constant 0.000000e+00 : {t}
  %init = linalg.fill ins(%cst : {t}) outs(%e : tensor<4x{t}>) -> tensor<4x{t}>
  %e2 = tensor.empty() : tensor<4x8x{t}>
  %r, %r_1 = linalg.generic {{indexing_maps = [{id2}, affine_map<(d0, d1) -> (d1)>,
      affine_map<(d0, d1) -> (d0)>, {id2}], iterator_types = ["parallel", "reduction"]}}
      ins(%x, %b : tensor<4x8x{t}>, tensor<8x{t}>)
      outs(%init, %e2 : tensor<4x{t}>, tensor<4x8x{t}>) {{
  ^bb0(%a: {t}, %bb: {t}, %acc: {t}, %o: {t}):
    %s = arith.subf %a, %bb : {t}
    %ex = math.exp %s : {t}
    %n = arith.addf %acc, %ex : {t}
    linalg.yield %n, %ex : {t}, {t}
  }} -> tensor<4x{t}>, tensor<4x8x{t}>
  %c = tensor.collapse_shape %r_1 [[0 : i64, 1 : i64]] : tensor<4x8x{t}> into tensor<32x{t}>
  %d = tensor.expand_shape %c [[0 : i64, 1 : i64]] output_shape [2, 16]
      : tensor<32x{t}> into tensor<2x16x{t}>
  %k = arith.constant dense<[1.000000e+00, 2.500000e+00]> : tensor<2x{t}>
  func.return %r, %r_1, %d, %k : tensor<4x{t}>, tensor<4x8x{t}>, tensor<2x16x{t}>, tensor<2x{t}>
}}
"""


@FLOATS
def test_multi_output_reduction_with_reshapes_and_constants(t: str) -> None:
    """Each yielded value goes to its own output (xDSL 0.74 stores them all into the first)."""
    x, b = random((4, 8), t), random((8,), t, seed=1)
    exponentials = rounded(np.exp, x - b)
    expected = (
        sequential_sum(exponentials),
        exponentials,
        exponentials.reshape(2, 16),
        np.array([1.0, 2.5], DTYPES[t]),
    )
    module = parse(SOFTMAX_PARTS.format(t=t, id2=ID2))
    assert_identical(run_structured(module, "f", [x, b]), expected)


INDEX_MAPS = """
func.func @f(%x: tensor<4x8x{t}>, %xt: tensor<8x4x{t}>, %rows: tensor<3x8x{t}>,
             %col: tensor<8x{t}>, %wide: tensor<4x17x{t}>) -> tensor<4x8x{t}> {{
  %e = tensor.empty() : tensor<4x8x{t}>
  %r = linalg.generic {{indexing_maps = [{id2}, affine_map<(d0, d1) -> (d1, d0)>,
      affine_map<(d0, d1) -> (2, d1)>, affine_map<(d0, d1) -> (d1)>,
      affine_map<(d0, d1) -> (d0, d1 * 2 + 1)>, {id2}], iterator_types = ["parallel", "parallel"]}}
      ins(%x, %xt, %rows, %col, %wide
          : tensor<4x8x{t}>, tensor<8x4x{t}>, tensor<3x8x{t}>, tensor<8x{t}>, tensor<4x17x{t}>)
      outs(%e : tensor<4x8x{t}>) {{
  ^bb0(%a: {t}, %at: {t}, %row: {t}, %c: {t}, %w: {t}, %o: {t}):
    %s = arith.addf %a, %at : {t}
    %s2 = arith.addf %s, %row : {t}
    %p = arith.mulf %s2, %c : {t}
    %d = arith.subf %p, %w : {t}
    linalg.yield %d : {t}
  }} -> tensor<4x8x{t}>
  func.return %r : tensor<4x8x{t}>
}}
"""


@FLOATS
def test_transposed_broadcast_constant_and_strided_maps(t: str) -> None:
    x, xt, rows = random((4, 8), t), random((8, 4), t, 1), random((3, 8), t, 2)
    col, wide = random((8,), t, 3), random((4, 17), t, 4)
    expected = ((x + xt.T) + rows[2]) * col - wide[:, 1::2]
    module = parse(INDEX_MAPS.format(t=t, id2=ID2))
    assert_identical(run_structured(module, "f", [x, xt, rows, col, wide]), (expected,))


DIV_MOD = """
func.func @f(%x: tensor<2x4xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0 floordiv 4, (d0 + 2) mod 4)>,
      affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%x : tensor<2x4xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<8xf32>
  func.return %r : tensor<8xf32>
}
"""


def test_floordiv_and_mod_maps() -> None:
    x = random((2, 4), "f32")
    expected = np.roll(x, -2, axis=1).reshape(8)
    assert_identical(run_structured(parse(DIV_MOD), "f", [x]), (expected,))


SPLIT_REDUCTION = """
func.func @f(%x: tensor<2x16x{t}>) -> (tensor<2x4x4x{t}>, tensor<2x4x{t}>) {{
  %e = tensor.empty() : tensor<2x4x4x{t}>
  %zero = arith.constant 0.000000e+00 : {t}
  %p = tensor.empty() : tensor<2x4x{t}>
  %init = linalg.fill ins(%zero : {t}) outs(%p : tensor<2x4x{t}>) -> tensor<2x4x{t}>
  %r, %partial = linalg.generic {{indexing_maps = [
      affine_map<(d0, d1, d2) -> (d0, d1 * 4 + d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>,
      affine_map<(d0, d1, d2) -> (d0, d2)>],
      iterator_types = ["parallel", "reduction", "parallel"]}}
      ins(%x : tensor<2x16x{t}>) outs(%e, %init : tensor<2x4x4x{t}>, tensor<2x4x{t}>) {{
  ^bb0(%a: {t}, %o: {t}, %acc: {t}):
    %n = arith.addf %acc, %a : {t}
    linalg.yield %a, %n : {t}, {t}
  }} -> tensor<2x4x4x{t}>, tensor<2x4x{t}>
  func.return %r, %partial : tensor<2x4x4x{t}>, tensor<2x4x{t}>
}}
"""


@FLOATS
def test_split_reduction_map(t: str) -> None:
    """K partial accumulators: `x[d0, d1 * 4 + d2]` summed over d1 into `partial[d0, d2]`."""
    x = random((2, 16), t)
    blocks = x.reshape(2, 4, 4)
    expected = (blocks, sequential_sum(np.moveaxis(blocks, 1, 2)))
    assert_identical(run_structured(parse(SPLIT_REDUCTION.format(t=t)), "f", [x]), expected)


SCALARS = """
func.func @f(%x: tensor<4x{t}>, %r0: tensor<{t}>) -> tensor<4x{t}> {{
  %s = arith.constant 2.500000e+00 : {t}
  %half = arith.constant 5.000000e-01 : {t}
  %e = tensor.empty() : tensor<4x{t}>
  %r = linalg.generic {{indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>,
      affine_map<(d0) -> ()>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}}
      ins(%x, %s, %r0 : tensor<4x{t}>, {t}, tensor<{t}>) outs(%e : tensor<4x{t}>) {{
  ^bb0(%a: {t}, %scale: {t}, %shift: {t}, %o: {t}):
    %p = arith.mulf %a, %scale : {t}
    %q = arith.addf %p, %shift : {t}
    %d = arith.subf %q, %half : {t}
    linalg.yield %d : {t}
  }} -> tensor<4x{t}>
  func.return %r : tensor<4x{t}>
}}
"""


@FLOATS
def test_scalar_operands_rank0_tensors_and_values_from_above(t: str) -> None:
    x, r0 = random((4,), t), np.array(0.75, DTYPES[t])
    dtype = DTYPES[t].type
    expected = (x * dtype(2.5) + r0) - dtype(0.5)
    assert_identical(run_structured(parse(SCALARS.format(t=t)), "f", [x, r0]), (expected,))


INDEX_AND_LABELS = """
func.func @f(%labels: tensor<4xi64>) -> (tensor<4x5xf32>, tensor<4x5xi64>) {
  %one = arith.constant 1.000000e+00 : f32
  %zero = arith.constant 0.000000e+00 : f32
  %ten = arith.constant 10 : i64
  %e = tensor.empty() : tensor<4x5xf32>
  %ei = tensor.empty() : tensor<4x5xi64>
  %hot, %codes = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>,
      affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%labels : tensor<4xi64>) outs(%e, %ei : tensor<4x5xf32>, tensor<4x5xi64>) {
  ^bb0(%label: i64, %o: f32, %oi: i64):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %ii = arith.index_cast %i : index to i64
    %jj = arith.index_cast %j : index to i64
    %match = arith.cmpi eq, %label, %jj : i64
    %h = arith.select %match, %one, %zero : f32
    %scaled = arith.muli %ii, %ten : i64
    %code = arith.addi %scaled, %jj : i64
    linalg.yield %h, %code : f32, i64
  } -> tensor<4x5xf32>, tensor<4x5xi64>
  func.return %hot, %codes : tensor<4x5xf32>, tensor<4x5xi64>
}
"""


def test_linalg_index_and_i64_labels_with_cmpi_select() -> None:
    labels = np.array([3, 0, 4, 3], np.int64)
    expected = (np.eye(5, dtype=np.float32)[labels], np.add.outer(np.arange(4) * 10, np.arange(5)))
    assert_identical(run_structured(parse(INDEX_AND_LABELS), "f", [labels]), expected)


def test_f32_accumulation_is_rounded_at_every_step() -> None:
    """1 + 2**-24 is 1 in float32, seven times over; a double accumulator would give 1 + 2**-21.

    (The body's sqrt(x * x) gives x back exactly, so each row's total is the sum of x's row.)
    """
    x = np.array([[1.0] + [2.0**-24] * 7], np.float32).repeat(4, axis=0).reshape(4, 8)
    module = parse(SOFTMAX_PARTS.format(t="f32", id2=ID2).replace("math.exp %s", "math.sqrt %a"))
    total, *_ = run_structured(module, "f", [x * x, np.zeros(8, np.float32)])
    np.testing.assert_array_equal(total, np.ones(4, np.float32))


NAMED = """
func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) -> tensor<2x3xf32> {{
  %e = tensor.empty() : tensor<2x3xf32>
  %r = linalg.{op} ins({operands}) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %r : tensor<2x3xf32>
}}
"""


@pytest.mark.parametrize(
    ("op", "reference"),
    [
        ("add", np.add),
        ("sub", np.subtract),
        ("mul", np.multiply),
        ("max", np.maximum),
        ("min", np.minimum),
        ("exp", lambda a: rounded(np.exp, a)),
        ("log", lambda a: rounded(np.log, a)),
        ("sqrt", np.sqrt),
        ("copy", np.copy),
    ],
)
def test_named_elementwise_ops(op: str, reference: Callable[..., np.ndarray]) -> None:
    a, b = np.abs(random((2, 3), "f32")), random((2, 3), "f32", 1)  # a > 0 for log and sqrt
    unary = op in ("exp", "log", "sqrt", "copy")
    operands = "%a : tensor<2x3xf32>" if unary else "%a, %b : tensor<2x3xf32>, tensor<2x3xf32>"
    module = parse(NAMED.format(op=op, operands=operands))
    expected = reference(a) if unary else reference(a, b)
    assert_identical(run_structured(module, "f", [a, b]), (expected,))


MATMUL_TRANSPOSE = """
func.func @f(%a: tensor<3x5xf32>, %b: tensor<5x4xf32>) -> (tensor<3x4xf32>, tensor<5x3xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<3x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<3x4xf32>) -> tensor<3x4xf32>
  %r = linalg.matmul ins(%a, %b : tensor<3x5xf32>, tensor<5x4xf32>)
      outs(%init : tensor<3x4xf32>) -> tensor<3x4xf32>
  %e2 = tensor.empty() : tensor<5x3xf32>
  %t = linalg.transpose ins(%a : tensor<3x5xf32>) outs(%e2 : tensor<5x3xf32>) permutation = [1, 0]
  func.return %r, %t : tensor<3x4xf32>, tensor<5x3xf32>
}
"""


def test_matmul_and_transpose() -> None:
    a, b = random((3, 5), "f32"), random((5, 4), "f32", 1)
    products = a[:, :, None] * b[None, :, :]  # (i, k, j): summed over k in loop order
    expected = (sequential_sum(np.moveaxis(products, 1, 2)), a.T.copy())
    assert_identical(run_structured(parse(MATMUL_TRANSPOSE), "f", [a, b]), expected)


def test_fill_of_any_rank_and_splat_constants() -> None:
    module = parse("""
func.func @f() -> (tensor<2x3xf64>, tensor<f32>, tensor<2x2xi64>) {
  %seven = arith.constant 7.000000e+00 : f64
  %e = tensor.empty() : tensor<2x3xf64>
  %r = linalg.fill ins(%seven : f64) outs(%e : tensor<2x3xf64>) -> tensor<2x3xf64>
  %half = arith.constant 5.000000e-01 : f32
  %e0 = tensor.empty() : tensor<f32>
  %r0 = linalg.fill ins(%half : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %splat = arith.constant dense<-3> : tensor<2x2xi64>
  func.return %r, %r0, %splat : tensor<2x3xf64>, tensor<f32>, tensor<2x2xi64>
}
""")
    expected = (np.full((2, 3), 7.0), np.array(0.5, np.float32), np.full((2, 2), -3))
    assert_identical(run_structured(module, "f", []), expected)


# --- on memrefs ----------------------------------------------------------------------------------

BUFFERIZED = """
func.func @f(%x: memref<4x8xf32>, %out0: memref<4xf32>, %out1: memref<2x16xf32>,
             %ws: memref<256xi8>) {
  %off = arith.constant 128 : index
  %t = memref.view %ws[%off][] : memref<256xi8> to memref<4x8xf32>
  %start = arith.constant 0 : index
  %bias = memref.view %ws[%start][] : memref<256xi8> to memref<8xf32>
  %k = memref.get_global @k : memref<8xf32>
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
      iterator_types = ["parallel"]} ins(%k : memref<8xf32>) outs(%bias : memref<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  %cst = arith.constant 0.000000e+00 : f32
  linalg.fill ins(%cst : f32) outs(%out0 : memref<4xf32>)
  linalg.generic {indexing_maps = [{id2}, affine_map<(d0, d1) -> (d1)>,
      affine_map<(d0, d1) -> (d0)>, {id2}], iterator_types = ["parallel", "reduction"]}
      ins(%x, %bias : memref<4x8xf32>, memref<8xf32>)
      outs(%out0, %t : memref<4xf32>, memref<4x8xf32>) {
  ^bb0(%a: f32, %bb: f32, %acc: f32, %o: f32):
    %s = arith.subf %a, %bb : f32
    %ex = math.exp %s : f32
    %n = arith.addf %acc, %ex : f32
    linalg.yield %n, %ex : f32, f32
  }
  %c = memref.collapse_shape %t [[0 : i64, 1 : i64]] : memref<4x8xf32> into memref<32xf32>
  %d = memref.expand_shape %c [[0 : i64, 1 : i64]] output_shape [2, 16]
      : memref<32xf32> into memref<2x16xf32>
  linalg.generic {indexing_maps = [{id2}, {id2}], iterator_types = ["parallel", "parallel"]}
      ins(%d : memref<2x16xf32>) outs(%out1 : memref<2x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  func.return
}
"memref.global"() <{sym_name = "k", sym_visibility = "private", type = memref<8xf32>,
    constant, initial_value = dense<[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]> : tensor<8xf32>}>
    : () -> ()
"""
BUFFERIZED_OUTPUTS = [((4,), np.dtype(np.float32)), ((2, 16), np.dtype(np.float32))]


def test_memref_form_with_workspace_views_and_globals() -> None:
    """Intermediates are views of the workspace: written through one view, read through another."""
    x = random((4, 8), "f32")
    exponentials = rounded(np.exp, x - np.arange(8, dtype=np.float32) / 2)
    module = parse(BUFFERIZED.replace("{id2}", ID2))
    outputs = run_structured(module, "f", [x], BUFFERIZED_OUTPUTS)
    assert_identical(outputs, (sequential_sum(exponentials), exponentials.reshape(2, 16)))


def test_loop_interpreter_runs_views_bit_for_bit_like_linalg() -> None:
    """convert-linalg-to-loops keeps the views and the workspace: both levels agree exactly."""
    x = random((4, 8), "f32")
    module = parse(BUFFERIZED.replace("{id2}", ID2))
    structured = run_structured(module, "f", [x], BUFFERIZED_OUTPUTS)
    PassPipeline.parse_spec(get_all_passes(), "convert-linalg-to-loops").apply(
        make_context(), module
    )
    assert "linalg." not in str(module)
    assert_identical(run_loops(module, "f", [x], BUFFERIZED_OUTPUTS), structured)


IN_PLACE_THROUGH_VIEWS = """
func.func @f(%x: memref<4x8xf64>, %out: memref<2x16xf64>) {
  %flat = memref.collapse_shape %out [[0 : i64, 1 : i64]] : memref<2x16xf64> into memref<32xf64>
  %grid = memref.expand_shape %flat [[0 : i64, 1 : i64]] output_shape [4, 8]
      : memref<32xf64> into memref<4x8xf64>
  linalg.generic {indexing_maps = [{id2}, {id2}], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x8xf64>) outs(%grid : memref<4x8xf64>) {
  ^bb0(%a: f64, %o: f64):
    %twice = arith.addf %a, %a : f64
    linalg.yield %twice : f64
  }
  linalg.generic {indexing_maps = [{id2}, {id2}], iterator_types = ["parallel", "parallel"]}
      ins(%grid : memref<4x8xf64>) outs(%grid : memref<4x8xf64>) {
  ^bb0(%a: f64, %o: f64):
    %e = math.exp %a : f64
    linalg.yield %e : f64
  }
  func.return
}
"""


def test_writes_through_views_reach_the_source_and_in_place_updates() -> None:
    x = random((4, 8), "f64")
    module = parse(IN_PLACE_THROUGH_VIEWS.replace("{id2}", ID2))
    (out,) = run_structured(module, "f", [x], [((2, 16), np.dtype(np.float64))])
    np.testing.assert_array_equal(out, np.exp(x + x).reshape(2, 16), strict=True)


# --- errors --------------------------------------------------------------------------------------

ELEMENTWISE = """
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {{
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.generic {{indexing_maps = [affine_map<(d0) -> ({index})>, affine_map<(d0) -> (d0)>],
      iterator_types = ["parallel"]}} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {{
  ^bb0(%a: f32, %o: f32):
    %r = {op} %a : f32
    linalg.yield %r : f32
  }} -> tensor<4xf32>
  func.return %r : tensor<4xf32>
}}
"""


def test_unsupported_op_is_named() -> None:
    module = parse(ELEMENTWISE.format(index="d0", op="math.atan"))
    with pytest.raises(UnsupportedError, match="math.atan"):
        run_structured(module, "f", [np.zeros(4, np.float32)])


def test_out_of_bounds_map_is_reported() -> None:
    """Unverified IR: C would read past the buffer; the interpreter names the access."""
    module = parse(ELEMENTWISE.format(index="d0 + 1", op="math.exp"), verify=False)
    with pytest.raises(ShapeError, match=r"operand 0 of shape \(4,\).*\(4,\).*loop indices \(3,\)"):
        run_structured(module, "f", [np.zeros(4, np.float32)])


def test_loop_without_a_bare_operand_dimension_is_reported() -> None:
    """The verifier rejects such maps too (not invertible), but the interpreter may get raw IR."""
    text = SPLIT_REDUCTION.format(t="f32").replace(
        "affine_map<(d0, d1, d2) -> (d0, d1, d2)>", "affine_map<(d0, d1, d2) -> (d0, d2, d2)>"
    )
    module = parse(text, verify=False)
    with pytest.raises(UnsupportedError, match="loop d1"):
        run_structured(module, "f", [np.zeros((2, 16), np.float32)])


def test_view_overrunning_the_workspace_is_reported() -> None:
    module = parse(BUFFERIZED.replace("{id2}", ID2).replace("256xi8", "140xi8"))
    with pytest.raises(ShapeError, match="at byte 128 overruns its 140 bytes"):
        run_structured(module, "f", [np.zeros((4, 8), np.float32)], BUFFERIZED_OUTPUTS)


@pytest.mark.parametrize(
    ("inputs", "specs", "error", "message"),
    [
        ([np.zeros((4, 7), np.float32)], None, ShapeError, "argument 0: shape"),
        ([np.zeros((4, 8), np.float64)], None, DTypeError, "argument 0: dtype float64"),
        ([np.zeros((4, 8), np.float32)], [((4,), np.float32)], ShapeError, "4 results, expected 1"),
        (
            [np.zeros((4, 8), np.float32)],
            [((4,), np.float32), ((4, 8), np.float32), ((2, 16), np.float32), ((2,), np.float64)],
            DTypeError,
            "result 3: dtype float32, expected float64",
        ),
    ],
)
def test_arguments_and_results_are_checked(
    inputs: list[np.ndarray], specs: Any, error: type[Exception], message: str
) -> None:
    module = parse(SOFTMAX_PARTS.format(t="f32", id2=ID2))
    with pytest.raises(error, match=message):
        run_structured(module, "f", [*inputs, np.zeros(8, np.float32)], specs)


# --- slices: tensor.extract_slice / insert_slice, and memref.subview after bufferize ------------

SLICES = """
func.func @f(%x: tensor<4x8x{t}>, %y: tensor<2x3x{t}>)
    -> (tensor<3x3x{t}>, tensor<0x3x{t}>, tensor<3x{t}>, tensor<5x8x{t}>, tensor<5x8x{t}>) {{
  %s = tensor.extract_slice %x[1, 2] [3, 3] [1, 2] : tensor<4x8x{t}> to tensor<3x3x{t}>
  %none = tensor.extract_slice %x[4, 2] [0, 3] [1, 2] : tensor<4x8x{t}> to tensor<0x3x{t}>
  %row = tensor.extract_slice %s[1, 0] [1, 3] [1, 1] : tensor<3x3x{t}> to tensor<3x{t}>
  %e = tensor.empty() : tensor<3x3x{t}>
  %twice = linalg.generic {{indexing_maps = [{id2}, {id2}],
      iterator_types = ["parallel", "parallel"]}}
      ins(%s : tensor<3x3x{t}>) outs(%e : tensor<3x3x{t}>) {{
  ^bb0(%a: {t}, %o: {t}):
    %d = arith.addf %a, %a : {t}
    linalg.yield %d : {t}
  }} -> tensor<3x3x{t}>
  %e2 = tensor.empty() : tensor<5x8x{t}>
  %zero = arith.constant 0.000000e+00 : {t}
  %fill = linalg.fill ins(%zero : {t}) outs(%e2 : tensor<5x8x{t}>) -> tensor<5x8x{t}>
  %pad = tensor.insert_slice %y into %fill[1, 2] [2, 3] [2, 2]
      : tensor<2x3x{t}> into tensor<5x8x{t}>
  func.return %twice, %none, %row, %pad, %fill
      : tensor<3x3x{t}>, tensor<0x3x{t}>, tensor<3x{t}>, tensor<5x8x{t}>, tensor<5x8x{t}>
}}
"""


@FLOATS
def test_extract_slice_with_offsets_and_strides_empty_and_rank_reduced(t: str) -> None:
    x, y = random((4, 8), t), random((2, 3), t, 1)
    sliced = x[1:4, 2:7:2]
    pad = np.zeros((5, 8), DTYPES[t])
    pad[1:4:2, 2:7:2] = y  # interior padding 1 between elements, as graph.pad lowers
    expected = (sliced + sliced, x[4:4, 2:7:2].copy(), sliced[1].copy(), pad, np.zeros_like(pad))
    outputs = run_structured(parse(SLICES.format(t=t, id2=ID2)), "f", [x, y])
    assert_identical(outputs, expected)


STRIDED_MEMREFS = """
func.func @f(%x: memref<4x8x{t}>, %y: memref<2x3x{t}>, %out0: memref<3x3x{t}>,
             %out1: memref<5x8x{t}>, %out2: memref<2x2x{t}>, %ws: memref<64xi8>) {{
  %s = memref.subview %x[1, 2] [3, 3] [1, 2]
      : memref<4x8x{t}> to memref<3x3x{t}, strided<[8, 2], offset: 10>>
  linalg.generic {{indexing_maps = [{id2}, {id2}], iterator_types = ["parallel", "parallel"]}}
      ins(%s : memref<3x3x{t}, strided<[8, 2], offset: 10>>) outs(%out0 : memref<3x3x{t}>) {{
  ^bb0(%a: {t}, %o: {t}):
    %d = arith.addf %a, %a : {t}
    linalg.yield %d : {t}
  }}
  %zero = arith.constant 0.000000e+00 : {t}
  linalg.fill ins(%zero : {t}) outs(%out1 : memref<5x8x{t}>)
  %inner = memref.subview %out1[1, 2] [2, 3] [2, 2]
      : memref<5x8x{t}> to memref<2x3x{t}, strided<[16, 2], offset: 10>>
  linalg.generic {{indexing_maps = [{id2}, {id2}], iterator_types = ["parallel", "parallel"]}}
      ins(%y : memref<2x3x{t}>) outs(%inner : memref<2x3x{t}, strided<[16, 2], offset: 10>>) {{
  ^bb0(%a: {t}, %o: {t}):
    linalg.yield %a : {t}
  }}
  %off = arith.constant 8 : index
  %t = memref.view %ws[%off][] : memref<64xi8> to memref<2x3x{t}>
  linalg.generic {{indexing_maps = [{id2}, {id2}], iterator_types = ["parallel", "parallel"]}}
      ins(%y : memref<2x3x{t}>) outs(%t : memref<2x3x{t}>) {{
  ^bb0(%a: {t}, %o: {t}):
    %n = arith.negf %a : {t}
    linalg.yield %n : {t}
  }}
  %right = memref.subview %t[0, 1] [2, 2] [1, 1]
      : memref<2x3x{t}> to memref<2x2x{t}, strided<[3, 1], offset: 1>>
  linalg.generic {{indexing_maps = [{id2}, {id2}], iterator_types = ["parallel", "parallel"]}}
      ins(%right : memref<2x2x{t}, strided<[3, 1], offset: 1>>) outs(%out2 : memref<2x2x{t}>) {{
  ^bb0(%a: {t}, %o: {t}):
    linalg.yield %a : {t}
  }}
  func.return
}}
"""


def strided_reference(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    sliced = x[1:4, 2:7:2]
    pad = np.zeros((5, 8), x.dtype)
    pad[1:4:2, 2:7:2] = y
    return sliced + sliced, pad, -y[:, 1:3]


def strided_specs(t: str) -> list[tuple[tuple[int, ...], np.dtype[Any]]]:
    return [((3, 3), DTYPES[t]), ((5, 8), DTYPES[t]), ((2, 2), DTYPES[t])]


@FLOATS
def test_generics_through_subviews_of_buffers_and_of_a_workspace_view(t: str) -> None:
    """A slice read through a strided subview, a pad written through one (the copy of an
    insert_slice), and a subview of a workspace view: the layouts decide every address."""
    x, y = random((4, 8), t), random((2, 3), t, 1)
    module = parse(STRIDED_MEMREFS.format(t=t, id2=ID2))
    outputs = run_structured(module, "f", [x, y], strided_specs(t))
    assert_identical(outputs, strided_reference(x, y))


def test_loop_interpreter_runs_subviews_bit_for_bit_like_linalg() -> None:
    """convert-linalg-to-loops loads and stores through the strided memrefs: both agree."""
    x, y = random((4, 8), "f64"), random((2, 3), "f64", 1)
    module = parse(STRIDED_MEMREFS.format(t="f64", id2=ID2))
    structured = run_structured(module, "f", [x, y], strided_specs("f64"))
    PassPipeline.parse_spec(get_all_passes(), "convert-linalg-to-loops").apply(
        make_context(), module
    )
    assert "linalg.generic" not in str(module)
    assert_identical(run_loops(module, "f", [x, y], strided_specs("f64")), structured)


MLIR_OPT = next(
    (path for name in ("mlir-opt", "mlir-opt-19", "mlir-opt-20") if (path := shutil.which(name))),
    None,
)


@pytest.mark.skipif(MLIR_OPT is None, reason="no upstream mlir-opt (apt-get install mlir-19-tools)")
@pytest.mark.parametrize("text", [SLICES, STRIDED_MEMREFS], ids=["tensors", "memrefs"])
def test_upstream_mlir_opt_verifies_the_slices(text: str) -> None:
    """The hand-written layouts are the ones MLIR infers (mlir-opt rejects any other)."""
    assert MLIR_OPT is not None
    source = text.format(t="f32", id2=ID2)
    result = subprocess.run([MLIR_OPT], input=source, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("old", "new", "error", "message"),
    [
        (
            "%x[1, 2] [3, 3] [1, 2] : tensor",
            "%x[1, 4] [3, 3] [1, 2] : tensor",
            ShapeError,
            r"'tensor.extract_slice': dimension 1 of a \(4, 8\) source is sliced from 4 to 8",
        ),
        (
            "[1, 2] [2, 3] [2, 2]\n      : tensor<2x3xf32> into",
            "[1, 2] [2, 3] [4, 2]\n      : tensor<2x3xf32> into",
            ShapeError,
            r"'tensor.insert_slice': dimension 0 of a \(5, 8\) source is sliced from 1 to 5",
        ),
        (
            "[1, 0] [1, 3] [1, 1] : tensor<3x3xf32> to tensor<3xf32>",
            "[1, 0] [2, 3] [1, 1] : tensor<3x3xf32> to tensor<3xf32>",
            ShapeError,
            r"sizes \[2, 3\] do not give the shape \(3,\)",
        ),
    ],
    ids=["extract-out-of-bounds", "insert-out-of-bounds", "sizes-not-the-shape"],
)
def test_slice_errors_are_reported(
    old: str, new: str, error: type[Exception], message: str
) -> None:
    text = SLICES.format(t="f32", id2=ID2)
    assert old in text
    module = parse(text.replace(old, new), verify=False)
    with pytest.raises(error, match=message):
        run_structured(module, "f", [random((4, 8), "f32"), random((2, 3), "f32")])


def test_subview_with_a_wrong_layout_is_reported() -> None:
    text = STRIDED_MEMREFS.format(t="f32", id2=ID2).replace("offset: 10>>", "offset: 11>>")
    with pytest.raises(ShapeError, match=r"has strides \[8, 2\] and offset 11"):
        run_structured(
            parse(text), "f", [random((4, 8), "f32"), random((2, 3), "f32")], strided_specs("f32")
        )
