"""Trace -> graph dialect: the first lowering, from recorded Python to IR.

    trace: args x, w; nodes [matmul(x, w) -> t0, relu(t0) -> t1]; outputs [t1]
        ==>
    builtin.module {
      func.func @f(%x: tensor<1x4xf32>, %w: tensor<4x2xf32>) -> tensor<1x2xf32> {
        %0 = graph.matmul %x, %w : ...
        %1 = graph.relu %0 : tensor<1x2xf32>
        func.return %1 : tensor<1x2xf32>
      }
    }

Concrete tensors the trace touched become `graph.constant` ops, one per tensor object: a
closed-over array is baked into the compiled code, and changing it later has no effect. A large
one also makes compiling slow (a 784x256 weight is megabytes of C), so it logs a warning.
"""

from __future__ import annotations

import logging
import re

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from aidjit.autodiff.tensor import Tensor
from aidjit.autodiff.trace import Trace
from aidjit.dialects.graph import OP_FOR_PRIMITIVE, ConstantOp, tensor_type

logger = logging.getLogger("aidjit")

LARGE_CONSTANT_BYTES = 1 << 20
"""A captured array above this size is worth passing as an argument instead."""


def symbol_name(name: str) -> str:
    """A bare MLIR symbol for a Python name (`<lambda>` -> `lambda`).

    Names C reserves (`main`, `exp`, ...) are the C emitter's concern: `c_identifier` escapes them.
    """
    cleaned = re.sub(r"\W", "_", name).strip("_") or "fn"
    return f"fn_{cleaned}" if cleaned[0].isdigit() else cleaned


def trace_to_module(trace: Trace) -> ModuleOp:
    arg_types = [tensor_type(arg.spec) for arg in trace.args]
    result_types = [tensor_type(out.spec) for out in trace.outputs]
    function = func.FuncOp(symbol_name(trace.name), (arg_types, result_types))
    values: dict[int, SSAValue] = {}

    def value_of(tensor: Tensor) -> SSAValue:
        if id(tensor) not in values:
            _warn_if_large(tensor, trace.name)
            values[id(tensor)] = ConstantOp.from_numpy(tensor.numpy()).result
        return values[id(tensor)]

    with ImplicitBuilder(function.body) as args:
        for tensor, arg, name in zip(trace.args, args, trace.arg_names, strict=True):
            arg.name_hint = name if re.fullmatch(r"[A-Za-z_][\w]*", name) else None
            values[id(tensor)] = arg
        for node in trace.nodes:
            op_class = OP_FOR_PRIMITIVE[node.primitive.name]
            operands = [value_of(t) for t in node.inputs]
            op = op_class.build_from(operands, node.params, node.output.spec)
            values[id(node.output)] = op.results[0]
        func.ReturnOp(*[value_of(out) for out in trace.outputs])
    return ModuleOp([function])


def _warn_if_large(tensor: Tensor, name: str) -> None:
    size = tensor.numpy().nbytes
    if size <= LARGE_CONSTANT_BYTES:
        return
    logger.warning(
        "%s: a concrete %s (%.1f MiB) is baked into the compiled code as a constant; if it is a "
        "captured (closed-over) array, pass it as an argument instead: compiling is faster, and "
        "later changes to it are seen",
        name,
        tensor.spec,
        size / (1 << 20),
    )
