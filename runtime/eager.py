"""The instant tier: run a Trace by replaying its primitives' numpy forwards.

A compiled function's first calls need not wait for passes and a C compiler (0.1-1 s): the
trace already says what to compute, and every primitive has a numpy forward (the eager tape's,
see `aidjit.autodiff.primitives`), whose results are the reference the compiled code is tested
against. `TraceExecutor` turns the trace into a flat plan once (slots instead of tensors), so a
call is one `Primitive.evaluate` per node; no xDSL, no IR. `aidjit.api` runs it while the
optimised build runs in a background thread (`tier="auto"`).

Outputs are fresh arrays, as the compiled code's are: an output that is an argument, a constant,
a view of one (a reshape), or another output is copied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from aidjit.autodiff.primitives import Primitive, Spec
from aidjit.autodiff.trace import Trace


class _Step(NamedTuple):
    """One node: the primitive, its operands' slots, its params and output spec."""

    primitive: Primitive
    operands: tuple[int, ...]
    params: dict[str, Any]
    spec: Spec


class TraceExecutor:
    """``outputs = executor(*arrays)``: the trace evaluated on checked argument arrays.

    Values live in one list of slots: the arguments, then the constants, then one slot per
    node, in program order.
    """

    def __init__(self, trace: Trace) -> None:
        slots = {id(tensor): index for index, tensor in enumerate(trace.args)}
        produced = {id(node.output) for node in trace.nodes}
        referenced = [tensor for node in trace.nodes for tensor in node.inputs]
        self._constants: list[np.ndarray] = []
        for tensor in [*referenced, *trace.outputs]:
            if id(tensor) not in slots and id(tensor) not in produced:
                slots[id(tensor)] = len(trace.args) + len(self._constants)
                self._constants.append(tensor.numpy())
        first_node = len(trace.args) + len(self._constants)
        for index, node in enumerate(trace.nodes):
            slots[id(node.output)] = first_node + index
        self._steps = tuple(
            _Step(
                node.primitive,
                tuple(slots[id(tensor)] for tensor in node.inputs),
                node.params,
                node.output.spec,
            )
            for node in trace.nodes
        )
        self._outputs = tuple(slots[id(tensor)] for tensor in trace.outputs)
        self._first_node = first_node

    def __call__(self, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        values: list[np.ndarray] = [*arrays, *self._constants]
        for step in self._steps:
            operands = [values[slot] for slot in step.operands]
            values.append(step.primitive.evaluate(operands, step.params, step.spec))
        return _fresh([values[slot] for slot in self._outputs], values[: self._first_node])


def _fresh(outputs: Sequence[np.ndarray], external: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """`outputs`, each copied if its memory is an argument's, a constant's (a reshape of an
    argument is a view of it) or an earlier output's: the caller may change either."""
    taken = {id(_owner(array)) for array in external}
    fresh = []
    for array in outputs:
        if id(_owner(array)) in taken:
            array = array.copy()
        taken.add(id(_owner(array)))
        fresh.append(array)
    return tuple(fresh)


def _owner(array: np.ndarray) -> np.ndarray:
    """The array whose memory `array` views (itself if it owns its memory)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array
