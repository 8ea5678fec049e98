"""Compiling what a GradientTape recorded: `aidjit.compile_tape` and `GradientTape(use_jit=True)`.

Both replay the recording (`aidjit.autodiff.replay`) inside a function given to
`aidjit.compile`, so a tape goes through the same tracer, passes, kernel cache and runtime as
any compiled function; nothing here builds a graph of its own.

- `compile_tape(tape, inputs, outputs)`: the recorded computation of `outputs` from `inputs`,
  a `CompiledFunction` of new input arrays. Tensors it reads that the tape did not watch
  (captured weights, Python numbers) are compiled in as constants, as `aidjit.jit` does with
  captured values; a watched tensor that is not an input is an error, since its value would
  silently be frozen.
- `GradientTape(use_jit=True).gradient(target, sources)`: the recorded forward computation of
  `target` and its gradient, compiled once per *structure* (each op's primitive, params and
  operands; each leaf's shape, dtype and whether it is watched; the target and the sources)
  and called on this recording's leaf values. Every leaf is an argument, watched or not, so a
  recording with new values of the same structure reuses the function with those values.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aidjit import cache_stats
from aidjit.api import CompiledFunction, Options, compile
from aidjit.autodiff.tape import GradientTape
from aidjit.autodiff.tensor import Tensor, active_tapes
from aidjit.debug import INFO, log
from aidjit.errors import ArgumentValueError

if TYPE_CHECKING:
    from aidjit.autodiff.replay import Slice, TapeProgram
    from aidjit.autodiff.tape import Recording


def compile_tape(
    tape: GradientTape,
    inputs: Tensor | Sequence[Tensor],
    outputs: Tensor | Sequence[Tensor],
    **options: Any,
) -> CompiledFunction:
    """Compile what `tape` recorded from `inputs` to `outputs` into a function of new inputs.

    `inputs` are tensors the tape watched (or computed from watched ones); the result is
    called with one array per input, of the recorded shape and dtype, and returns one array per
    output (a tuple for a sequence of outputs, an array for a single Tensor). Options are
    `aidjit.compile`'s. Raises ArgumentValueError naming the input or output at fault: an input
    the tape did not follow, an output it did not record, or an output that depends on a
    watched tensor missing from `inputs`.
    """
    from aidjit.autodiff.replay import slice_recording  # off `import aidjit`'s path

    input_list = _tensors("inputs", inputs)
    output_list = _tensors("outputs", outputs)
    recording = tape.recording()
    produced = {id(node.output) for node in recording.nodes}
    _check_inputs(input_list, recording, produced)
    followed = produced | {id(tensor) for tensor in input_list}
    for index, output in enumerate(output_list):
        if id(output) not in followed:
            raise ArgumentValueError(
                f"compile_tape: outputs[{index}] ({output.spec}) was not recorded by this tape: "
                "compute it inside `with tape:` from the inputs, after tape.watch(...)"
            )
    cut = slice_recording(recording, output_list, input_list)
    constants = cut.leaves[len(input_list) :]
    _check_constants(cut, constants, recording, produced)
    program, single = cut.program, isinstance(outputs, Tensor)

    def tape_function(*inputs: Any) -> Any:
        values = program.replay([*inputs, *constants])
        results = tuple(values[slot] for slot in program.outputs)
        return results[0] if single else results

    return compile(tape_function, *(tensor.numpy() for tensor in input_list), **options)


def _tensors(what: str, given: Tensor | Sequence[Tensor]) -> list[Tensor]:
    tensors = [given] if isinstance(given, Tensor) else list(given)
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, Tensor):
            raise TypeError(
                f"compile_tape: {what}[{index}] is a {type(tensor).__name__}, not an aidjit "
                "Tensor recorded by the tape"
            )
    return tensors


def _check_inputs(inputs: list[Tensor], recording: Recording, produced: set[int]) -> None:
    seen: set[int] = set()
    for index, tensor in enumerate(inputs):
        if id(tensor) in seen:
            raise ArgumentValueError(f"compile_tape: inputs[{index}] is listed twice")
        seen.add(id(tensor))
        if id(tensor) not in recording.watched and id(tensor) not in produced:
            raise ArgumentValueError(
                f"compile_tape: inputs[{index}] ({tensor.spec}) was not watched by the tape, "
                "so nothing computed from it was recorded: call tape.watch(x) before computing "
                "with x"
            )


def _check_constants(
    cut: Slice, constants: Sequence[Tensor], recording: Recording, produced: set[int]
) -> None:
    """A watched leaf that is not an input would be compiled in as a constant: an error."""
    watched_leaves = [t for t in recording.watched.values() if id(t) not in produced]
    for tensor in constants:
        if id(tensor) in recording.watched:
            number = next(i for i, t in enumerate(watched_leaves, 1) if t is tensor)
            raise ArgumentValueError(
                f"compile_tape: outputs[{cut.reached_from[id(tensor)]}] depends on a watched "
                f"{tensor.spec} (tensor {number} passed to tape.watch) that is not among the "
                "inputs; add it to inputs= (its value would otherwise be frozen into the "
                "compiled function)"
            )


# ----- GradientTape(use_jit=True) ----------------------------------------------------------------

_gradients: dict[Any, CompiledFunction] = {}
"""Compiled gradient functions by recording structure (see `_structure_key`)."""
_gradients_lock = threading.Lock()


def jit_gradient(
    tape: GradientTape, target: Tensor, sources: Sequence[Tensor], zeros: bool
) -> list[Any] | None:
    """`tape.gradient(target, sources)` by the compiled function of the recording's structure,
    compiling it on a miss; sets `tape.jit_path` and `tape.compiled`. None where the eager pass
    must run instead: the target is traced or another tape records the gradient (compiled code
    would hide it from them), nothing was recorded, or a param cannot be keyed."""
    from aidjit.autodiff.replay import slice_recording

    if target.is_symbolic or _watched_elsewhere(tape, [target, *sources]):
        return None
    recording = tape.recording()
    cut = slice_recording(recording, [target])
    if not cut.program.steps:
        return None
    connected = tuple(dict.fromkeys(cut.slots[id(s)] for s in sources if id(s) in cut.slots))
    if not connected:
        return None
    watched = tuple(id(leaf) in recording.watched for leaf in cut.leaves)
    options = Options.make(**tape.jit_options)
    key = _structure_key(cut.program, watched, connected, options)
    if key is None:
        log(INFO, "GradientTape(use_jit=True): a param cannot be keyed; gradient runs eagerly")
        return None
    with _gradients_lock:
        compiled = _gradients.get(key)
        hit = compiled is not None
        if compiled is None:
            function = _gradient_function(cut.program, watched, connected)
            arrays = [leaf.numpy() for leaf in cut.leaves]
            compiled = _gradients[key] = compile(function, *arrays, **tape.jit_options)
    cache_stats.record_tape(hit)
    tape.jit_path, tape.compiled = ("reused" if hit else "compiled"), compiled
    _, computed = compiled(*(leaf.numpy() for leaf in cut.leaves))
    grads = dict(zip(connected, computed, strict=True))
    results = []
    for source in sources:
        grad = grads.get(cut.slots.get(id(source), -1))
        if grad is None and zeros:
            grad = np.zeros(source.shape, source.dtype)
        results.append(grad)
    return results


def _watched_elsewhere(tape: GradientTape, tensors: Sequence[Tensor]) -> bool:
    """Whether another tape of this thread follows one of `tensors` (a higher-order gradient)."""
    others = [other for other in active_tapes() if other is not tape]
    return any(other.watches(tensor) for other in others for tensor in tensors)


def _structure_key(
    program: TapeProgram, watched: tuple[bool, ...], connected: tuple[int, ...], options: Options
) -> tuple[Any, ...] | None:
    """What the compiled gradient depends on, values aside; None if a param has no exact form."""
    from aidjit.compile_key import Unkeyable, canonical_params

    try:
        steps = tuple(
            (
                step.primitive.name,
                step.operands,
                canonical_params(step.params),
                step.detached,
            )
            for step in program.steps
        )
    except Unkeyable:
        return None
    leaves = tuple(
        (spec.shape, spec.dtype.str, flag)
        for spec, flag in zip(program.leaf_specs, watched, strict=True)
    )
    return (steps, leaves, program.outputs, connected, options)


def _gradient_function(
    program: TapeProgram, watched: tuple[bool, ...], connected: tuple[int, ...]
) -> Any:
    """The function compiled for a structure: the target and its gradients with respect to the
    `connected` slots, from the leaves, by replaying the recording under a tape of its own that
    watches what the recording's tape watched (so the same gradients flow). The target is
    returned too (its value is computed anyway) because a gradient may be None (a path through
    comparisons only), and a function returning no array at all cannot be compiled."""

    def tape_gradient(*leaves: Tensor) -> tuple[Any, ...]:
        with GradientTape() as inner:
            inner.watch(*(leaf for leaf, flag in zip(leaves, watched, strict=True) if flag))
            values = program.replay(leaves)
        (target,) = (values[slot] for slot in program.outputs)
        return target, tuple(inner.gradient(target, [values[slot] for slot in connected]))

    return tape_gradient


def _clear() -> None:
    with _gradients_lock:
        _gradients.clear()


cache_stats.on_clear(_clear)
