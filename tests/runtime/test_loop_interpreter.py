"""The loop interpreter against numpy, on the same modules the C emitter is tested with."""

import numpy as np
import pytest

from aidjit.errors import DTypeError, ShapeError, UnsupportedError
from aidjit.runtime.interpreter.loops import make_loop_interpreter, run_loops
from tests.runtime.loop_cases import ALL_CASES, LoopCase, elementwise_mlir, parse


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
