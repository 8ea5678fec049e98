"""The xDSL context aidjit compiles in: builtin and upstream loop-level dialects plus `graph`."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, memref, scf
from xdsl.dialects import math as mathd

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
        Graph,
    ):
        ctx.load_dialect(dialect)
    return ctx
