"""Graph-level interpreter: xDSL's Interpreter running graph ops with their numpy forwards.

Every graph op evaluates through its primitive (`op.primitive().evaluate`), the very definition
the eager tape runs, so this is the oracle the lowered and compiled code are held to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.interpreter import Interpreter, InterpreterFunctions, impl, register_impls
from xdsl.interpreters.func import FuncFunctions

from aidjit.dialects import graph


def _run_graph_op(
    self: InterpreterFunctions, interpreter: Interpreter, op: graph.GraphOp, args: tuple[Any, ...]
) -> tuple[np.ndarray]:
    return (op.primitive().evaluate([np.asarray(a) for a in args], op.params()),)


def _run_constant(
    self: InterpreterFunctions,
    interpreter: Interpreter,
    op: graph.ConstantOp,
    args: tuple[Any, ...],
) -> tuple[np.ndarray]:
    return (graph.dense_to_numpy(op.value),)


def _graph_functions() -> type[InterpreterFunctions]:
    """One `@impl` per graph op, generated from the dialect's op list instead of written out."""
    namespace: dict[str, Any] = {"run_constant": impl(graph.ConstantOp)(_run_constant)}
    for op_class in graph.GRAPH_OPS:
        namespace[f"run_{op_class.name.replace('.', '_')}"] = impl(op_class)(_run_graph_op)
    return register_impls(type("GraphFunctions", (InterpreterFunctions,), namespace))


GraphFunctions = _graph_functions()


def run_graph(
    module: ModuleOp, function: str, inputs: Sequence[np.ndarray]
) -> tuple[np.ndarray, ...]:
    """Call `function` of a graph-level module on numpy arrays."""
    interpreter = Interpreter(module)
    interpreter.register_implementations(FuncFunctions())
    interpreter.register_implementations(GraphFunctions())
    results = interpreter.call_op(function, tuple(np.asarray(a) for a in inputs))
    return tuple(np.asarray(r) for r in results)
