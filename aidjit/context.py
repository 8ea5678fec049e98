"""The xDSL context aidjit compiles in: builtin, the upstream dialects of the structured and
loop levels, and `graph`."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import builtin, func, memref, scf, tensor, vector
from xdsl.dialects import math as mathd
from xdsl.dialects.linalg import Linalg

from aidjit.dialects.graph import Graph
from aidjit.dialects.xdsl_fixes import ARITH


def make_context() -> Context:
    ctx = Context()
    for dialect in (
        builtin.Builtin,
        func.Func,
        ARITH,
        mathd.Math,
        vector.Vector,
        scf.Scf,
        memref.MemRef,
        tensor.Tensor,
        Linalg,
        Graph,
    ):
        ctx.load_dialect(dialect)
    return ctx
