"""Loading compiled functions and checking every argument before a pointer reaches C."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from aidjit.errors import AidjitError, DTypeError, ShapeError
from aidjit.runtime.loader import (
    ArgSpec,
    ArgumentCountError,
    LibraryLoadError,
    NativeFunction,
    load_library,
)

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
I64 = np.dtype(np.int64)

pytestmark = pytest.mark.usefixtures("isolated_cache")

ADD_SOURCE = """\
#include <stdint.h>
void add(const float *a, const float *b, float *out) {
  for (int64_t i = 0; i < 6; i++) out[i] = a[i] + b[i];
}
"""
ADD_PROTOTYPE = "void add(const float *a, const float *b, float *out)"

MIXED_SOURCE = """\
#include <stdint.h>
void scale(const double *x, const int64_t *k, double *y, int64_t *twice) {
  for (int64_t i = 0; i < 3; i++) { y[i] = x[i] * (double)k[i]; twice[i] = 2 * k[i]; }
}
"""
MIXED_PROTOTYPE = "void scale(const double *x, const int64_t *k, double *y, int64_t *twice)"

SQUARE_SOURCE = "void square(const double *x, double *y) { y[0] = x[0] * x[0]; }\n"
SQUARE_PROTOTYPE = "void square(const double *x, double *y)"


@pytest.fixture
def add(compile_c: Callable[[str], Path]) -> NativeFunction:
    """add(a, b) on float32 arrays of shape (2, 3)."""
    return NativeFunction(
        compile_c(ADD_SOURCE),
        "add",
        ADD_PROTOTYPE,
        [ArgSpec("a", (2, 3), F32), ArgSpec("b", (2, 3), F32)],
        [ArgSpec("out", (2, 3), F32)],
    )


def test_float32_arguments(add: NativeFunction) -> None:
    a = np.arange(6, dtype=F32).reshape(2, 3)
    (out,) = add(a, a + 0.5)
    assert out.dtype == F32 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, 2 * a + 0.5)


def test_float64_and_int64_arguments(compile_c: Callable[[str], Path]) -> None:
    scale = NativeFunction(
        compile_c(MIXED_SOURCE),
        "scale",
        MIXED_PROTOTYPE,
        [ArgSpec("x", (3,), F64), ArgSpec("k", (3,), I64)],
        [ArgSpec("y", (3,), F64), ArgSpec("twice", (3,), I64)],
    )
    k = np.array([1, -2, 2**40], dtype=I64)
    y, twice = scale(np.array([0.5, 1.5, 2.0]), k)
    np.testing.assert_array_equal(y, [0.5, -3.0, 2.0**41])
    np.testing.assert_array_equal(twice, 2 * k)
    assert twice.dtype == I64


def test_outputs_are_fresh_arrays_on_every_call(add: NativeFunction) -> None:
    a = np.ones((2, 3), dtype=F32)
    (first,) = add(a, a)
    (second,) = add(a, 2 * a)
    assert first is not second
    np.testing.assert_array_equal(first, 2)
    np.testing.assert_array_equal(second, 3)


def test_dtype_error_names_the_argument(add: NativeFunction) -> None:
    a = np.ones((2, 3), dtype=F32)
    with pytest.raises(DTypeError, match=r"^arg 1 'b': expected float32, got float64$"):
        add(a, a.astype(F64))


def test_byte_swapped_dtype_is_rejected(add: NativeFunction) -> None:
    a = np.ones((2, 3), dtype=F32)
    with pytest.raises(DTypeError, match="arg 0 'a'"):
        add(a.astype(F32.newbyteorder()), a)


def test_shape_error_names_the_argument(add: NativeFunction) -> None:
    a = np.ones((2, 3), dtype=F32)
    with pytest.raises(ShapeError, match=r"^arg 0 'a': expected shape \(2, 3\), got \(3, 2\)$"):
        add(a.T.copy(), a)
    with pytest.raises(ShapeError, match="arg 1 'b'"):
        add(a, a.ravel())


def test_wrong_argument_count_names_the_expected_count(add: NativeFunction) -> None:
    a = np.ones((2, 3), dtype=F32)
    with pytest.raises(
        ArgumentCountError, match=r"add\(\) takes 2 array arguments \(a, b\), got 1"
    ):
        add(a)
    assert issubclass(ArgumentCountError, TypeError) and issubclass(ArgumentCountError, AidjitError)


def test_non_contiguous_inputs_are_copied(add: NativeFunction) -> None:
    strided = np.arange(12, dtype=F32).reshape(2, 6)[:, ::2]
    transposed = np.asfortranarray(np.arange(6, dtype=F32).reshape(2, 3))
    assert not strided.flags.c_contiguous and not transposed.flags.c_contiguous
    (out,) = add(strided, transposed)
    np.testing.assert_array_equal(out, strided + transposed)


def test_read_only_and_list_inputs_are_accepted(add: NativeFunction) -> None:
    a = np.ones((2, 3), dtype=F32)
    a.flags.writeable = False
    (out,) = add(a, np.zeros((2, 3), dtype=F32))
    np.testing.assert_array_equal(out, a)


def test_zero_dimensional_arrays_and_scalars(compile_c: Callable[[str], Path]) -> None:
    square = NativeFunction(
        compile_c(SQUARE_SOURCE),
        "square",
        SQUARE_PROTOTYPE,
        [ArgSpec("x", (), F64)],
        [ArgSpec("y", (), F64)],
    )
    (y,) = square(np.array(3.0))
    assert y.shape == () and y == 9.0
    assert square(4.0)[0] == 16.0
    assert square(np.float64(5.0))[0] == 25.0


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4, 2)])
def test_empty_arrays(compile_c: Callable[[str], Path], shape: tuple[int, ...]) -> None:
    empty = NativeFunction(
        compile_c("void nothing(const float *a, const double *b, float *out) {}\n"),
        "nothing",
        "void nothing(const float *a, const double *b, float *out)",
        [ArgSpec("a", shape, F32), ArgSpec("b", shape, F64)],
        [ArgSpec("out", shape, F32)],
    )
    (out,) = empty(np.empty(shape, F32), np.empty(shape, F64))
    assert out.shape == shape and out.dtype == F32


def test_prototype_disagreeing_with_specs_is_rejected(compile_c: Callable[[str], Path]) -> None:
    so_path = compile_c(ADD_SOURCE)
    specs = [ArgSpec("a", (6,), F64), ArgSpec("b", (6,), F32)]
    with pytest.raises(LibraryLoadError, match=r"parameter 0 \('a'\) is 'float \*'"):
        NativeFunction(so_path, "add", ADD_PROTOTYPE, specs, [ArgSpec("out", (6,), F32)])
    with pytest.raises(LibraryLoadError, match="prototype has 3 parameters"):
        NativeFunction(so_path, "add", ADD_PROTOTYPE, specs, [])


def test_missing_symbol_is_named(compile_c: Callable[[str], Path]) -> None:
    so_path = compile_c(ADD_SOURCE)
    with pytest.raises(LibraryLoadError, match="'sub'"):
        NativeFunction(
            so_path,
            "sub",
            "void sub(const float *a, float *out)",
            [ArgSpec("a", (6,), F32)],
            [ArgSpec("out", (6,), F32)],
        )


def test_unloadable_library_names_the_path_and_the_fix(tmp_path: Path) -> None:
    so_path = tmp_path / "broken.so"
    so_path.write_bytes(b"garbage")
    with pytest.raises(LibraryLoadError) as caught:
        load_library(so_path)
    assert str(so_path) in str(caught.value)
    assert "Delete that file" in str(caught.value)
    assert isinstance(caught.value, AidjitError)


def test_argspec_normalises_and_rejects_unsupported_dtypes() -> None:
    spec = ArgSpec("x", [2, 3], "float32")  # type: ignore[arg-type]
    assert spec.shape == (2, 3) and spec.dtype == F32
    with pytest.raises(DTypeError, match="'x': int32 is not supported"):
        ArgSpec("x", (2,), np.dtype(np.int32))


def test_function_without_inputs(compile_c: Callable[[str], Path]) -> None:
    fill = NativeFunction(
        compile_c("void fill(double *out) { out[0] = 1.0; out[1] = 2.0; }\n"),
        "fill",
        "void fill(double *out)",
        [],
        [ArgSpec("out", (2,), F64)],
    )
    np.testing.assert_array_equal(fill()[0], [1.0, 2.0])


def test_argument_names_never_reach_generated_code(compile_c: Callable[[str], Path]) -> None:
    name = "x'); raise SystemExit('"
    square = NativeFunction(
        compile_c(SQUARE_SOURCE),
        "square",
        SQUARE_PROTOTYPE,
        [ArgSpec(name, (), F64)],
        [ArgSpec("y", (), F64)],
    )
    assert square(3.0)[0] == 9.0
    with pytest.raises(DTypeError, match=r"arg 0 \"x'\); raise SystemExit\('\""):
        square(np.float32(3.0))
