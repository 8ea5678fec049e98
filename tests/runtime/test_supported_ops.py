"""The C emitter and the loop interpreter support the same loop-level ops (STYLE rule 16).

The emitter's ops are the keys of its two tables (`_EXPRESSIONS`: an arith/math op per C
expression; `_STATEMENTS`: loops, loads, stores, views, allocation); the interpreter's are
`SUPPORTED_OPS`, which it checks a module against before running it. A loop-level op one of
them lacks would make the `c` and `loops` levels of the op table disagree only when the
pipeline first emits it; these tests name it now. Every op the default pipeline emits at the
loop level, for every op case in f32 and f64, forward and with gradients, must be in both:
tests/api/test_compiled_ops.py checks `unsupported_loop_ops` on each case's loops, in the
pipeline run it interprets (a family bundle's loops are checked there, not run).
"""

import numpy as np
from xdsl.dialects import arith, builtin, func, math, memref, scf
from xdsl.ir import Operation

from aidjit import ops
from aidjit.runtime.emit_c import _EXPRESSIONS, _STATEMENTS
from aidjit.runtime.interpreter.loops import SUPPORTED_OPS
from tests.staged import staged

MODULE_LEVEL: frozenset[type[Operation]] = frozenset(
    {builtin.ModuleOp, func.FuncOp, memref.GlobalOp}
)
"""Ops the emitter handles outside its tables: `emit_c` walks the module's top level itself,
turning each func.func into a C function (prototype from the signature, then its body
through the tables) and each memref.global into a static array. They are not per-op C
templates, so they are not table rows; the interpreter lists them in `SUPPORTED_OPS` because
`check_supported` walks every op of the module, the module and functions included."""

EMITTER_OPS: frozenset[type[Operation]] = frozenset(_EXPRESSIONS) | frozenset(_STATEMENTS)


def _names(ops: frozenset[type[Operation]] | set[type[Operation]]) -> list[str]:
    return sorted(op.name for op in ops)


def test_emitter_and_interpreter_support_the_same_ops() -> None:
    emitter = EMITTER_OPS | MODULE_LEVEL
    only_emitter = emitter - SUPPORTED_OPS
    only_interpreter = SUPPORTED_OPS - emitter
    assert not only_emitter and not only_interpreter, (
        f"the C emitter (runtime/emit_c.py _EXPRESSIONS, _STATEMENTS) and the loop interpreter "
        f"(runtime/interpreter/loops.py SUPPORTED_OPS) differ: only the emitter supports "
        f"{_names(only_emitter)}, only the interpreter {_names(only_interpreter)}"
    )


def test_module_level_ops_are_no_table_rows() -> None:
    """The exemption above stays honest: those ops really are handled outside the tables."""
    assert not MODULE_LEVEL & EMITTER_OPS, _names(MODULE_LEVEL & EMITTER_OPS)
    assert MODULE_LEVEL <= SUPPORTED_OPS, _names(MODULE_LEVEL - SUPPORTED_OPS)


def unsupported_loop_ops(used: set[type[Operation]]) -> list[str]:
    """What the C emitter and the loop interpreter each lack of the loop-level ops `used`."""
    missing = {
        "C emitter": used - EMITTER_OPS - MODULE_LEVEL,
        "loop interpreter": used - SUPPORTED_OPS,
    }
    return [f"the {who} lacks {_names(ops)}" for who, ops in missing.items() if ops]


def test_the_row_check_sees_ops() -> None:
    """The per-case check reads real IR: a softmax's loop level holds loops, loads, and its
    exp expanded (expand-math) into arith ops, among them integer ones on the exponent bits;
    and it names an op one side lacks."""
    used = staged(ops.softmax, np.ones((2, 3), np.float32)).ops("loops")
    assert {scf.ForOp, memref.LoadOp, memref.StoreOp, arith.ShLIOp} <= used
    assert math.ExpOp not in used
    assert unsupported_loop_ops(used) == []
    cast = builtin.UnrealizedConversionCastOp  # no loop-level op: neither side has it
    assert unsupported_loop_ops(used | {cast}) == [
        f"the C emitter lacks ['{cast.name}']",
        f"the loop interpreter lacks ['{cast.name}']",
    ]
