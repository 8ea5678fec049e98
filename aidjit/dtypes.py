"""The element types aidjit knows, each one row holding every spelling of it.

A dtype is spelled differently at each level: numpy (`float32`), MLIR/xDSL (`f32`), C
(`float`, `expf`, `aidjit_maximum_f32`). Each module used to keep its own table of these; now
each derives the mapping it needs from the rows below, so adding a dtype is one row.

Two sets of rows: `TENSOR_DTYPES`, the dtypes of tensors (what users pass and the `graph`
dialect accepts), and `LOOP_DTYPES`, which adds the scalar types that appear only once tensors
are lowered to loops (i32 from casts, i8 for the bytes of a workspace, i1 from comparisons):
users never see those, so they are rows here but not tensor dtypes. MLIR's `index` is no row of
its own: aidjit runs it 64 bits wide everywhere (`INDEX`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from aidjit.records import record

if TYPE_CHECKING:
    from xdsl.ir import Attribute


@record
class DType:
    """One element type in every spelling: numpy, MLIR (xDSL attribute and short name), C."""

    numpy: np.dtype
    short: str
    """MLIR's name (`f32`): used in messages and in the names of generated C helpers."""
    c_type: str
    c_unsigned: str | None = None
    """The unsigned C twin an integer operation (shift, unsigned compare) reinterprets it as."""
    libm_suffix: str | None = None
    """What libm appends for this float type (`expf`, `exp`); None for an integer."""

    @cached_property
    def element(self) -> Attribute:
        """The xDSL element type (`f32`), looked up on first use: `import aidjit` and a warm
        start never import xDSL (~0.2 s), so no row may hold an xDSL attribute eagerly."""
        from xdsl.dialects import builtin

        return getattr(builtin, self.short)

    @property
    def name(self) -> str:
        return self.numpy.name

    @property
    def size(self) -> int:
        """Bytes per element, in numpy and in C alike."""
        return self.numpy.itemsize

    @property
    def is_float(self) -> bool:
        return self.numpy.kind == "f"


FLOAT32 = DType(np.dtype(np.float32), "f32", "float", libm_suffix="f")
FLOAT64 = DType(np.dtype(np.float64), "f64", "double", libm_suffix="")
INT64 = DType(np.dtype(np.int64), "i64", "int64_t", c_unsigned="uint64_t")
INT32 = DType(np.dtype(np.int32), "i32", "int32_t", c_unsigned="uint32_t")
INT8 = DType(np.dtype(np.int8), "i8", "int8_t", c_unsigned="uint8_t")
BOOL = DType(np.dtype(np.bool_), "i1", "bool", c_unsigned="bool")

TENSOR_DTYPES: tuple[DType, ...] = (FLOAT32, FLOAT64, INT64)
"""The dtypes a tensor may have; int64 is for labels and indices."""

LOOP_DTYPES: tuple[DType, ...] = (*TENSOR_DTYPES, INT32, INT8, BOOL)
"""Every scalar type of the loop level (`index` aside): what the C emitter and the loop
interpreter handle."""

INDEX = INT64
"""MLIR's `index` (loop counters, subscripts) as aidjit runs it: the interpreter is built with
`index_bitwidth=64` and C declares it `int64_t`, so it is spelled as int64 below the IR."""

BY_NUMPY: Mapping[np.dtype, DType] = {dtype.numpy: dtype for dtype in TENSOR_DTYPES}
"""A tensor dtype's row by its numpy dtype."""


def __getattr__(name: str) -> Mapping[Attribute, DType]:
    """`BY_ELEMENT`, a tensor dtype's row by its xDSL element type, made on first use (PEP 562):
    its keys are xDSL attributes (see `DType.element`)."""
    if name != "BY_ELEMENT":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    table = {dtype.element: dtype for dtype in TENSOR_DTYPES}
    globals()["BY_ELEMENT"] = table
    return table


def one_of(words: Sequence[str]) -> str:
    """`a, b or c`: how messages list the accepted dtypes."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
