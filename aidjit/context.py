"""The xDSL context aidjit compiles in: builtin, the upstream dialects of the structured and
loop levels, and `graph`."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, memref, scf, tensor
from xdsl.dialects import math as mathd
from xdsl.dialects.linalg import Linalg

from aidjit.dialects import xdsl_fixes  # noqa: F401  (patches xDSL's linalg.generic parser)
from aidjit.dialects.graph import Graph


def make_context() -> Context:
    ctx = Context()
    for dialect in (
        builtin.Builtin,
        func.Func,
        arith.Arith,
        mathd.Math,
        scf.Scf,
        memref.MemRef,
        tensor.Tensor,
        Linalg,
        Graph,
    ):
        ctx.load_dialect(dialect)
    return ctx
