"""The loop interpreter against numpy, on the same modules the C emitter is tested with."""

import shutil
import subprocess

import numpy as np
import pytest

from aidjit.errors import DTypeError, ShapeError, UnsupportedError
from aidjit.runtime.interpreter.loops import make_loop_interpreter, run_loops
from tests.runtime.loop_cases import (
    ALL_CASES,
    SUBVIEW_CASES,
    SUBVIEW_COLLAPSE,
    WORKSPACE_SUBVIEW,
    LoopCase,
    elementwise_mlir,
    parse,
    workspace_subview_reference,
)

MLIR_OPT = next(
    (path for name in ("mlir-opt", "mlir-opt-19", "mlir-opt-20") if (path := shutil.which(name))),
    None,
)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.id)
def test_matches_numpy(case: LoopCase) -> None:
    outputs = run_loops(parse(case.mlir), "f", case.inputs, case.output_specs())
    case.check(outputs)


def test_f32_arithmetic_is_rounded_to_float32() -> None:
    """1 + 2**-30 is 1 in float32: a double-precision interpreter would keep the tiny part."""
    module = parse(elementwise_mlir("arith.addf", "f32", 2, 1))
    ones = np.ones(1, np.float32)
    tiny = np.full(1, 2.0**-30, np.float32)
    (total,) = run_loops(module, "f", [ones, tiny], [((1,), np.dtype(np.float32))])
    assert total[0] == np.float32(1.0)


def test_f32_overflow_rounds_to_infinity() -> None:
    module = parse(elementwise_mlir("arith.mulf", "f32", 2, 1))
    big = np.full(1, 3e38, np.float32)
    (product,) = run_loops(module, "f", [big, big], [((1,), np.dtype(np.float32))])
    assert product[0] == np.inf


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("arith.divf", 0.0, np.inf),
        ("math.log", 0.0, -np.inf),
        ("math.exp", 1000.0, np.inf),
        ("math.sqrt", -1.0, np.nan),
    ],
)
def test_ieee_results_instead_of_python_exceptions(op: str, value: float, expected: float) -> None:
    inputs = [np.full(1, value)]
    if op == "arith.divf":
        inputs.insert(0, np.ones(1))
    module = parse(elementwise_mlir(op, "f64", len(inputs), 1))
    (result,) = run_loops(module, "f", inputs, [((1,), np.dtype(np.float64))])
    np.testing.assert_array_equal(result, [expected])


def test_outputs_start_zeroed_and_inputs_are_not_modified() -> None:
    module = parse(elementwise_mlir("arith.negf", "f64", 1, 3))
    x = np.array([1.0, 2.0, 3.0])
    (negated,) = run_loops(module, "f", [x], [((3,), np.dtype(np.float64))])
    np.testing.assert_array_equal(negated, -x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_unsupported_op_is_named() -> None:
    module = parse(elementwise_mlir("math.atan", "f32", 1, 2))
    with pytest.raises(UnsupportedError, match="math.atan"):
        make_loop_interpreter(module)


def test_wrong_shape_and_dtype_are_rejected() -> None:
    module = parse(elementwise_mlir("arith.negf", "f32", 1, 3))
    out = [((3,), np.dtype(np.float32))]
    with pytest.raises(ShapeError, match="argument 0"):
        run_loops(module, "f", [np.zeros(4, np.float32)], out)
    with pytest.raises(DTypeError, match="float64"):
        run_loops(module, "f", [np.zeros(3, np.float64)], out)
    with pytest.raises(ShapeError, match="takes 2 buffers"):
        run_loops(module, "f", [], out)


# --- strided views: memref.subview ------------------------------------------------------------


def test_subview_of_a_workspace_view_writes_through_to_it() -> None:
    """Doubled in place through a strided subview: the whole workspace view shows it."""
    x = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)
    specs = [((2, 3), np.dtype(np.float32)), ((4, 6), np.dtype(np.float32))]
    outputs = run_loops(parse(WORKSPACE_SUBVIEW), "f", [x], specs)
    for got, want in zip(outputs, workspace_subview_reference(x), strict=True):
        np.testing.assert_array_equal(got, want, strict=True)


@pytest.mark.skipif(MLIR_OPT is None, reason="no upstream mlir-opt (apt-get install mlir-19-tools)")
@pytest.mark.parametrize(
    "text", [*(case.mlir for case in SUBVIEW_CASES), WORKSPACE_SUBVIEW], ids=lambda _: "ir"
)
def test_upstream_mlir_opt_verifies_the_subview_cases(text: str) -> None:
    """The layouts written by hand are those MLIR infers (mlir-opt rejects any other)."""
    assert MLIR_OPT is not None
    result = subprocess.run([MLIR_OPT], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


PAD = next(case for case in SUBVIEW_CASES if case.id == "subview-pad-interior")
PAD_SPECS = [((5, 8), np.dtype(np.float32))]


@pytest.mark.parametrize(
    ("old", "new", "error", "message"),
    [
        (
            "[2, 3] [2, 2]",
            "[2, 3] [2, 3]",
            ShapeError,
            r"dimension 1 of a \(5, 8\) source is sliced from 2 to 8 .*outside 0..7",
        ),
        ("offset: 10>>", "offset: 11>>", ShapeError, "strides \\[16, 2\\] and offset 10"),
        ("%inner[%i, %j]", "%inner[%j, %i]", ShapeError, r"index \(2, 0\) is outside"),
    ],
    ids=["slice-out-of-bounds", "wrong-result-layout", "load-outside-the-view"],
)
def test_subview_errors_are_reported(
    old: str, new: str, error: type[Exception], message: str
) -> None:
    """Each would make C touch memory outside the view (the buffer's other elements or beyond)."""
    module = parse(PAD.mlir.replace(old, new))
    with pytest.raises(error, match=message):
        run_loops(module, "f", PAD.inputs, PAD_SPECS)


def test_dynamic_subview_is_unsupported() -> None:
    text = PAD.mlir.replace("%out[1, 2] [2, 3] [2, 2]", "%out[%c1, 2] [2, 3] [2, 2]").replace(
        "offset: 10>>", "offset: ?>>"
    )
    with pytest.raises(UnsupportedError, match="'memref.subview' with dynamic offsets"):
        run_loops(parse(text), "f", PAD.inputs, PAD_SPECS)


def test_reshape_of_a_subview_must_keep_its_layout() -> None:
    """A collapsed type without the subview's offset would read row 0 instead of row 2."""
    text = SUBVIEW_COLLAPSE.replace("memref<6xf32, strided<[1], offset: 12>>", "memref<6xf32>")
    with pytest.raises(ShapeError, match="does not address the elements"):
        run_loops(parse(text), "f", [np.zeros((4, 6), np.float32)], [((6,), np.float32)])
