"""The dtype table: each row's spellings agree with each other, and every level derives from it."""

import cffi
import numpy as np
import pytest
from xdsl.dialects.builtin import IndexType, IntegerType, Signedness, TensorType, f16
from xdsl.utils.exceptions import VerifyException

from aidjit.autodiff.primitives import SUPPORTED_DTYPES, Spec
from aidjit.dialects import graph
from aidjit.dtypes import BY_ELEMENT, BY_NUMPY, INDEX, LOOP_DTYPES, TENSOR_DTYPES, DType, one_of
from aidjit.runtime import emit_c, loader

FFI = cffi.FFI()


@pytest.mark.parametrize("row", LOOP_DTYPES, ids=lambda row: row.short)
def test_row_spellings_agree(row: DType) -> None:
    assert str(row.element) == row.short  # MLIR's spelling is the short name
    assert FFI.sizeof(row.c_type) == row.size
    if isinstance(row.element, IntegerType):
        assert row.element.width.data == (1 if row.numpy == np.bool_ else 8 * row.size)
        assert row.numpy.kind in "ib" and row.libm_suffix is None
        assert row.c_unsigned is not None and FFI.sizeof(row.c_unsigned) == row.size
    else:
        assert row.is_float and row.element.bitwidth == 8 * row.size
        assert row.c_unsigned is None and row.libm_suffix in ("f", "")


def test_rows_are_distinct_in_every_spelling() -> None:
    for field in ("numpy", "element", "short", "c_type"):
        values = [getattr(row, field) for row in LOOP_DTYPES]
        assert len(set(values)) == len(values), field


@pytest.mark.parametrize("row", TENSOR_DTYPES, ids=lambda row: row.short)
def test_tensor_dtype_round_trips_through_every_level(row: DType) -> None:
    assert BY_NUMPY[row.numpy] is row and BY_ELEMENT[row.element] is row
    assert graph.numpy_dtype(row.element) == row.numpy
    assert graph.element_type(row.numpy) == row.element
    assert graph.spec_of(TensorType(row.element, [2])) == Spec((2,), row.numpy)
    assert str(Spec((2,), row.numpy)) == f"tensor<2x{row.short}>"
    assert loader.C_TYPES[row.numpy] == row.c_type


def test_levels_cover_the_table_and_nothing_else() -> None:
    assert SUPPORTED_DTYPES == tuple(row.numpy for row in TENSOR_DTYPES)
    assert set(loader.C_TYPES) == {row.numpy for row in TENSOR_DTYPES}
    assert emit_c._C_TYPES == {row.element: row.c_type for row in LOOP_DTYPES} | {
        IndexType(): INDEX.c_type
    }


@pytest.mark.parametrize("element", [f16, IntegerType(32), IntegerType(64, Signedness.SIGNED)])
def test_graph_rejects_loop_only_and_unknown_element_types(element: object) -> None:
    with pytest.raises(VerifyException, match="is not supported: use f32, f64 or i64"):
        graph.numpy_dtype(element)


def test_one_of_lists_like_prose() -> None:
    assert one_of(["f32"]) == "f32"
    assert one_of(["f32", "f64", "i64"]) == "f32, f64 or i64"
