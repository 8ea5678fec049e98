"""Replaying a tape: what a GradientTape recorded, as a program of new input values.

A tape records each application of a primitive on the tensors it follows, in program order,
including detached ones (stop-gradients; see `aidjit.autodiff.tape`). `slice_recording` takes
the applications some outputs depend on, stopping at given tensors, and numbers every value in
*slots*: first the *leaves* (tensors the slice reads but does not compute: the stop tensors in
their order, then the others in order of first use), then one slot per application.

`TapeProgram.replay` applies the same primitives with the same params to new leaf values, via
`apply`, the one dispatch path of eager execution, tapes and tracing. Called on the symbolic
arguments of `aidjit.compile` it *is* a trace of the recording: `aidjit.compile_tape` and
`GradientTape(use_jit=True)` compile tapes through the same tracer and graph builder as any
function. A program holds no recorded tensor (steps, leaf specs and slots only), so a cached one
keeps no activations alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from aidjit.autodiff.primitives import Primitive, Spec
from aidjit.autodiff.tape import Recording
from aidjit.autodiff.tensor import Node, Tensor, apply


class Step(NamedTuple):
    """One recorded application: its primitive, operand slots and params, and whether it is
    detached (a stop-gradient: replayed, but invisible to tapes)."""

    primitive: Primitive
    operands: tuple[int, ...]
    params: dict[str, Any]
    detached: bool


class TapeProgram(NamedTuple):
    """Recorded applications as a function of leaf values: slots `0..len(leaf_specs)-1` are
    the leaves, then one slot per step; `outputs` are the slots asked for."""

    leaf_specs: tuple[Spec, ...]
    steps: tuple[Step, ...]
    outputs: tuple[int, ...]

    def replay(self, leaves: Sequence[Any]) -> list[Tensor]:
        """Every slot's value, computed from `leaves` (concrete or traced tensors, arrays)."""
        values = list(leaves)
        for step in self.steps:
            operands = [values[slot] for slot in step.operands]
            values.append(apply(step.primitive, *operands, record=not step.detached, **step.params))
        return values


class Slice(NamedTuple):
    """A recording cut down to what some outputs need."""

    program: TapeProgram
    leaves: tuple[Tensor, ...]
    """The recorded leaf tensors, in slot order (their values are the recording's)."""
    slots: dict[int, int]
    """The slot of each recorded tensor in the slice, by id."""
    reached_from: dict[int, int]
    """For each leaf, by id: the index of the first output that depends on it (for messages)."""


def slice_recording(
    recording: Recording, outputs: Sequence[Tensor], stop_at: Sequence[Tensor] = ()
) -> Slice:
    """The applications `outputs` depend on, back to the tensors in `stop_at` (whatever
    computed them is left out) or to tensors no recorded application computed.

    The `stop_at` tensors are the first leaves, in their order, used or not."""
    producers = {id(node.output): node for node in recording.nodes}
    stops = {id(tensor) for tensor in stop_at}
    needed: set[int] = set()
    reached_from: dict[int, int] = {}
    for index, output in enumerate(outputs):
        pending = [output]
        while pending:
            tensor = pending.pop()
            node = None if id(tensor) in stops else producers.get(id(tensor))
            if node is None:
                reached_from.setdefault(id(tensor), index)
            elif id(node) not in needed:
                needed.add(id(node))
                pending.extend(node.inputs)
    nodes = [node for node in recording.nodes if id(node) in needed]
    leaves = _leaves(nodes, outputs, stop_at, reached_from)
    slots = {id(tensor): slot for slot, tensor in enumerate(leaves)}
    for node in nodes:
        slots[id(node.output)] = len(slots)
    steps = tuple(
        Step(
            node.primitive,
            tuple(slots[id(tensor)] for tensor in node.inputs),
            node.params,
            id(node) in recording.detached,
        )
        for node in nodes
    )
    program = TapeProgram(
        tuple(leaf.spec for leaf in leaves), steps, tuple(slots[id(t)] for t in outputs)
    )
    return Slice(program, leaves, slots, reached_from)


def _leaves(
    nodes: Sequence[Node],
    outputs: Sequence[Tensor],
    stop_at: Sequence[Tensor],
    reached_from: dict[int, int],
) -> tuple[Tensor, ...]:
    """The stop tensors, then every other leaf in order of first use (an output may be one)."""
    ordered = {id(tensor): tensor for tensor in stop_at}
    for tensor in [*(t for node in nodes for t in node.inputs), *outputs]:
        if id(tensor) in reached_from:
            ordered.setdefault(id(tensor), tensor)
    return tuple(ordered.values())
