"""The C emitter and the loop interpreter support the same loop-level ops (STYLE rule 16).

The emitter's ops are the keys of its two tables (`_EXPRESSIONS`: an arith/math op per C
expression; `_STATEMENTS`: loops, loads, stores, views, allocation); the interpreter's are
`SUPPORTED_OPS`, which it checks a module against before running it. A loop-level op one of
them lacks would make the `c` and `loops` levels of the op table disagree only when the
pipeline first emits it; these tests name it now. Every op the default pipeline emits at the
loop level, for every op case in f32 and f64, forward and with gradients, must be in both.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from xdsl.dialects import arith, builtin, func, math, memref, scf
from xdsl.ir import Operation
from xdsl.parser import Parser

from aidjit import compile, ops, value_and_grad
from aidjit.context import make_context
from aidjit.runtime.emit_c import _EXPRESSIONS, _STATEMENTS
from aidjit.runtime.interpreter.loops import SUPPORTED_OPS
from tests.op_cases import COMPILED, COMPILED_DIFFERENTIABLE, Case, total

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


def _forward(case: Case) -> Callable[..., Any]:
    return case.fn


def _with_gradients(case: Case) -> Callable[..., Any]:
    floats = tuple(i for i in range(len(case.shapes)) if i not in case.int_inputs)
    return value_and_grad(lambda *args: total(case.fn(*args)), argnums=floats)


MODES = {
    "forward": (_forward, COMPILED),
    "value_and_grad": (_with_gradients, COMPILED_DIFFERENTIABLE),
}
ROWS = [
    pytest.param(mode, case, id=f"{mode}-{case.id}")
    for mode, (_, cases) in MODES.items()
    for case in cases
]


def _loop_ops(fn: Callable[..., Any], inputs: list[np.ndarray]) -> set[type[Operation]]:
    """The op types in the loop-level IR the default pipeline makes of `fn`."""
    compiled = compile(fn, *inputs, backend="interpreter")
    module = Parser(make_context(), compiled.ir("loops")).parse_module()
    return {type(op) for op in module.walk()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("mode", "case"), ROWS)
def test_every_emitted_loop_op_is_supported(mode: str, case: Case, dtype: type) -> None:
    make, _ = MODES[mode]
    used = _loop_ops(make(case), case.inputs(dtype))
    missing = {
        "C emitter": used - EMITTER_OPS - MODULE_LEVEL,
        "loop interpreter": used - SUPPORTED_OPS,
    }
    problems = [f"the {who} lacks {_names(ops)}" for who, ops in missing.items() if ops]
    assert not problems, f"{mode} of {case.id} ({np.dtype(dtype)}): " + "; ".join(problems)


def test_the_row_check_sees_ops() -> None:
    """The per-case check reads real IR: a softmax's loop level holds loops, loads, and its
    exp expanded (expand-math) into arith ops, among them integer ones on the exponent bits."""
    used = _loop_ops(ops.softmax, [np.ones((2, 3), np.float32)])
    assert {scf.ForOp, memref.LoadOp, memref.StoreOp, arith.ShLIOp} <= used
    assert math.ExpOp not in used
