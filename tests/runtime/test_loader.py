"""Loading compiled functions and checking every argument before a pointer reaches C.

Each call test runs on both routes of the loader: the dispatch extension (the kernel's source
gains its thunk) and cffi; the errors and results must not depend on the route.
"""

import itertools
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from aidjit.errors import AidjitError, DTypeError, ShapeError
from aidjit.runtime.entry_point import entry_module, packed_thunk, thunk_symbol
from aidjit.runtime.loader import (
    ArgSpec,
    ArgumentCountError,
    LibraryLoadError,
    NativeFunction,
    _parameter_types,
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


Load = Callable[..., NativeFunction]


@pytest.fixture(params=["entry", "cffi"])
def load(request: pytest.FixtureRequest, compile_c: Callable[[str], Path]) -> Load:
    """`load(source, symbol, prototype, inputs, outputs, workspace_bytes=0)`: a NativeFunction
    on the parametrized route."""
    entry = request.param == "entry"
    if entry and entry_module() is None:
        pytest.skip("the dispatch extension does not build here (no Python headers?)")

    def make(
        source: str,
        symbol: str,
        prototype: str,
        inputs: Sequence[ArgSpec],
        outputs: Sequence[ArgSpec],
        workspace_bytes: int = 0,
    ) -> NativeFunction:
        if entry:
            count = len(inputs) + len(outputs) + bool(workspace_bytes)
            source += packed_thunk(symbol, count)
        path = compile_c(source)
        native = NativeFunction(
            path, symbol, prototype, inputs, outputs, workspace_bytes, thunk=entry
        )
        assert (native.entry_point() is not None) == entry
        return native

    return make


@pytest.fixture
def add(load: Load) -> NativeFunction:
    """add(a, b) on float32 arrays of shape (2, 3)."""
    return load(
        ADD_SOURCE,
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


def test_float64_and_int64_arguments(load: Load) -> None:
    scale = load(
        MIXED_SOURCE,
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


def test_zero_dimensional_arrays_and_scalars(load: Load) -> None:
    square = load(
        SQUARE_SOURCE,
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
def test_empty_arrays(load: Load, shape: tuple[int, ...]) -> None:
    empty = load(
        "void nothing(const float *a, const double *b, float *out) {}\n",
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


def test_function_without_inputs(load: Load) -> None:
    fill = load(
        "void fill(double *out) { out[0] = 1.0; out[1] = 2.0; }\n",
        "fill",
        "void fill(double *out)",
        [],
        [ArgSpec("out", (2,), F64)],
    )
    np.testing.assert_array_equal(fill()[0], [1.0, 2.0])


def test_argument_names_never_reach_generated_code(load: Load) -> None:
    name = "x'); raise SystemExit('"
    square = load(
        SQUARE_SOURCE,
        "square",
        SQUARE_PROTOTYPE,
        [ArgSpec(name, (), F64)],
        [ArgSpec("y", (), F64)],
    )
    assert square(3.0)[0] == 9.0
    with pytest.raises(DTypeError, match=r"arg 0 \"x'\); raise SystemExit\('\""):
        square(np.float32(3.0))


def test_missing_thunk_is_named(compile_c: Callable[[str], Path]) -> None:
    if entry_module() is None:
        pytest.skip("the dispatch extension does not build here")
    specs = [ArgSpec("a", (2, 3), F32), ArgSpec("b", (2, 3), F32)]
    with pytest.raises(LibraryLoadError, match=thunk_symbol("add")):
        NativeFunction(compile_c(ADD_SOURCE), "add", ADD_PROTOTYPE, specs, [specs[0]], thunk=True)


@pytest.mark.parametrize(
    ("prototype", "types"),
    [
        ("void f(void)", []),
        ("void f()", []),
        ("void f(const float *restrict arg0, int64_t *b)", ["float *", "int64_t *"]),
        ("void f(const double*x,int8_t *restrict ws)", ["double *", "int8_t *"]),
        ("void f(unsigned long n, float **rows)", ["unsigned long", "float **"]),
    ],
)
def test_prototype_parameters_are_read_without_cffi(prototype: str, types: list[str]) -> None:
    assert _parameter_types(prototype) == types


def test_an_equal_dtype_spelled_differently_is_accepted(load: Load) -> None:
    scale = load(
        MIXED_SOURCE,
        "scale",
        MIXED_PROTOTYPE,
        [ArgSpec("x", (3,), F64), ArgSpec("k", (3,), I64)],
        [ArgSpec("y", (3,), F64), ArgSpec("twice", (3,), I64)],
    )
    k = np.array([1, 2, 3], dtype=np.longlong)  # int64 whose buffer format is "q", not "l"
    assert k.dtype == I64
    y, twice = scale(np.ones(3), k)
    np.testing.assert_array_equal(twice, [2, 4, 6])


def test_array_subclasses_and_strided_views_take_the_checked_path(add: NativeFunction) -> None:
    class Tagged(np.ndarray):
        pass

    a = np.arange(6, dtype=F32).reshape(2, 3)
    (out,) = add(a.view(Tagged), np.arange(12, dtype=F32).reshape(2, 6)[:, ::2])
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, a + np.arange(12, dtype=F32).reshape(2, 6)[:, ::2])


WORKSPACE_SOURCE = """\
#include <stdint.h>
#include <string.h>
void twice(const double *x, double *y, int8_t *workspace) {
  double *scratch = (double *)workspace;
  for (int64_t i = 0; i < 512; i++) scratch[i] = x[i] * 2.0;
  for (int64_t i = 0; i < 512; i++) y[i] = scratch[511 - i];
}
"""


def test_threads_calling_at_once_get_their_own_workspace_and_outputs(load: Load) -> None:
    twice = load(
        WORKSPACE_SOURCE,
        "twice",
        "void twice(const double *x, double *y, int8_t *workspace)",
        [ArgSpec("x", (512,), F64)],
        [ArgSpec("y", (512,), F64)],
        workspace_bytes=512 * 8,
    )
    failures: list[str] = []

    def run(seed: int) -> None:
        x = np.random.default_rng(seed).standard_normal(512)
        results = [twice(x)[0] for _ in range(300)]
        if any(not np.array_equal(y, 2 * x[::-1]) for y in results):
            failures.append(f"thread {seed}: wrong result")
        if len({id(y) for y in results}) != len(results) or any(
            np.shares_memory(first, second) for first, second in itertools.pairwise(results)
        ):
            failures.append(f"thread {seed}: outputs reused")

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
