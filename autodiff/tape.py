"""GradientTape: records primitive applications on watched tensors and runs them backwards.

The tape keeps the nodes in the order they ran, which is already a topological order, and walks
it in reverse, calling each primitive's vector-Jacobian rule and accumulating with `+` (an `add`
op, so the backward pass is an ordinary graph that outer tapes and the tracer record too).

It also keeps the *detached* applications (`stop_gradient`, the max inside softmax) on tensors
it tracks: no gradient flows through them, but with them the recording is a complete program of
its inputs, which `aidjit.compile_tape` and `GradientTape(use_jit=True)` replay on new values
(see `aidjit.autodiff.replay`). Without them, a replay would reuse the recorded value of every
stop-gradient: silently stale results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

import numpy as np

from aidjit.autodiff.tensor import Node, Tensor, active_tapes, apply, constant
from aidjit.errors import AidjitError, GradientError

if TYPE_CHECKING:
    from aidjit.api import CompiledFunction

UnconnectedGradients = Literal["none", "zero"]
"""What `GradientTape.gradient` returns for a source the target does not depend on."""

_UNCONNECTED = get_args(UnconnectedGradients)

JitPath = Literal["eager", "compiled", "reused"]
"""How a `gradient` call ran: the eager backward pass, a gradient function compiled for this
recording's structure, or one compiled earlier for the same structure."""


class Recording(NamedTuple):
    """What a tape recorded, read-only: for replaying it (`aidjit.autodiff.replay`)."""

    nodes: Sequence[Node]
    """Every recorded application, in program order."""
    detached: frozenset[int]
    """The ids of the nodes no gradient flows through (stop-gradients)."""
    watched: Mapping[int, Tensor]
    """The tensors gradients may be taken with respect to, by id (watched or computed from
    watched ones through differentiable nodes)."""


class GradientTape:
    """Record operations on watched tensors to differentiate them later.

    `persistent=False` allows one `gradient` call; `True` allows many. A tape belongs to the
    thread that opened it. Tapes nest: an outer tape records the gradient computation of an inner
    one, which gives second derivatives.

    `use_jit=True` makes `gradient` compile the recorded forward computation and its gradient
    into one function, cached by the recording's structure (ops, params, shapes and dtypes), and
    call it on this recording's values: a loop that records the same structure each step
    compiles once. `jit_options` are `aidjit.jit`'s options for that compile. After each
    `gradient` call, `jit_path` says how it ran ("eager", "compiled", "reused") and `compiled`
    is the compiled function that ran, if any. See `aidjit.tape_jit`.
    """

    def __init__(
        self,
        persistent: bool = False,
        use_jit: bool = False,
        jit_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.persistent = persistent
        self.use_jit = use_jit
        self.jit_options = dict(jit_options or {})
        self.jit_path: JitPath | None = None
        self.compiled: CompiledFunction | None = None
        self._watched: dict[int, Tensor] = {}
        self._tracked: set[int] = set()
        """Ids of the watched tensors and of every recorded output: what the tape follows.
        Each id's tensor is kept alive by `_watched` or `_nodes`, so an id is never reused."""
        self._nodes: list[Node] = []
        self._detached: set[int] = set()
        self._used = False
        self._recording = False

    def __enter__(self) -> GradientTape:
        active_tapes().append(self)
        self._recording = True
        return self

    def __exit__(self, *exc: object) -> None:
        tapes = active_tapes()
        if self not in tapes:
            raise AidjitError("GradientTape closed from a thread other than the one that opened it")
        tapes.remove(self)
        self._recording = False

    def watch(self, *tensors: Tensor) -> None:
        for tensor in tensors:
            if not isinstance(tensor, Tensor):
                raise TypeError(f"GradientTape.watch expects aidjit Tensors, got {type(tensor)}")
            self._watched[id(tensor)] = tensor
            self._tracked.add(id(tensor))

    def watches(self, tensor: Tensor) -> bool:
        """Whether operations on `tensor` are being recorded by this tape now."""
        return self._recording and id(tensor) in self._tracked

    def record(self, node: Node, differentiable: bool = True) -> None:
        """Keep `node` if it reads a tensor this tape follows. Its output is followed too; it is
        a valid source of `gradient` only through a differentiable node from a watched one."""
        if not self._recording or not any(id(t) in self._tracked for t in node.inputs):
            return
        self._nodes.append(node)
        output = node.output
        self._tracked.add(id(output))
        if not differentiable:
            self._detached.add(id(node))
        elif any(id(t) in self._watched for t in node.inputs):
            self._watched[id(output)] = output

    def recording(self) -> Recording:
        """The recorded program (see `Recording`), for `aidjit.compile_tape` and `use_jit`."""
        return Recording(tuple(self._nodes), frozenset(self._detached), self._watched)

    def gradient(
        self,
        target: Tensor,
        sources: Tensor | Sequence[Tensor],
        unconnected_gradients: UnconnectedGradients = "none",
    ) -> Any:
        """d(sum(target))/d(source) for each source, shaped like the source.

        Returns numpy arrays, except where the gradient is itself being recorded (an outer tape
        watches it, or aidjit.jit is tracing) — there it returns Tensors so it can be
        differentiated or compiled in turn.

        A source the target does not depend on (TensorFlow's rule, also through operations
        without a gradient such as comparisons) gets None with `unconnected_gradients="none"`,
        the default, and zeros shaped like it with `"zero"`. A source this tape never watched,
        and did not compute from a watched tensor, is an error: its gradient is not zero but
        unknown, and a silent zero hides a missing `tape.watch`.
        """
        if unconnected_gradients not in _UNCONNECTED:
            raise GradientError(
                f"GradientTape.gradient: unconnected_gradients must be 'none' or 'zero', "
                f"got {unconnected_gradients!r}"
            )
        if self._used and not self.persistent:
            raise AidjitError(
                "GradientTape.gradient can only be called once on a non-persistent tape; "
                "open it with GradientTape(persistent=True) to call it again"
            )
        single = not isinstance(sources, Sequence)  # a Tensor, or anything to be reported
        source_list = [sources] if single else list(sources)
        if not isinstance(target, Tensor):
            raise GradientError(
                f"GradientTape.gradient: the target must be an aidjit Tensor, got {type(target)}"
            )
        for position, source in enumerate(source_list):
            self._check_watched(position, source)
        self._used = True
        zeros = unconnected_gradients == "zero"
        was_recording, self._recording = self._recording, False
        try:
            results = self._jit_gradient(target, source_list, zeros) if self.use_jit else None
            if results is None:
                self.jit_path, self.compiled = "eager", None
                grads = self._backward(target, {id(s) for s in source_list})
                results = [self._export(grads.get(id(s)), s, zeros) for s in source_list]
        finally:
            self._recording = was_recording
        return results[0] if single else results

    def _jit_gradient(self, target: Tensor, sources: list[Tensor], zeros: bool) -> list[Any] | None:
        """The gradients from the compiled function of this recording's structure, or None
        where the eager pass must run (see `aidjit.tape_jit.jit_gradient`). Imported here, not
        at the top: the compiler's front door is loaded only by a tape that asks for it."""
        from aidjit.tape_jit import jit_gradient

        return jit_gradient(self, target, sources, zeros)

    def _check_watched(self, position: int, source: Any) -> None:
        if not isinstance(source, Tensor):
            raise GradientError(
                f"GradientTape.gradient: source {position} is a {type(source).__name__}, not an "
                "aidjit Tensor the tape watched"
            )
        if id(source) not in self._watched:
            raise GradientError(
                f"GradientTape.gradient: source {position} ({source.spec}) was never watched by "
                "this tape; call tape.watch(x) before computing with x, or ask for the gradient "
                "of a tensor computed from watched ones"
            )

    def _backward(self, target: Tensor, source_ids: set[int]) -> dict[int, Tensor]:
        needed = self._needed_ids(source_ids)
        grads: dict[int, Tensor] = {id(target): _ones_like(target)}
        for node in reversed(self._nodes):
            cotangent = grads.get(id(node.output))
            if cotangent is None or node.primitive.vjp is None or id(node) in self._detached:
                continue
            thunks = node.primitive.vjp(cotangent, node.inputs, node.output, **node.params)
            for tensor, thunk in zip(node.inputs, thunks, strict=True):
                if thunk is None or id(tensor) not in needed:
                    continue
                grad = thunk()
                previous = grads.get(id(tensor))
                grads[id(tensor)] = grad if previous is None else previous + grad
        return grads

    def _needed_ids(self, source_ids: set[int]) -> set[int]:
        """Tensors on a path from a source: only their gradients are worth building."""
        needed = set(source_ids)
        for node in self._nodes:
            if id(node) not in self._detached and any(id(t) in needed for t in node.inputs):
                needed.add(id(node.output))
        return needed

    @staticmethod
    def _export(grad: Tensor | None, source: Tensor, zeros: bool) -> Any:
        if grad is None and not zeros:
            return None
        if grad is None:
            grad = constant(np.zeros(source.shape), source.dtype)
        if grad.is_symbolic or any(id(grad) in tape._watched for tape in active_tapes()):
            return grad
        return grad.numpy()


def _ones_like(tensor: Tensor) -> Tensor:
    return constant(np.ones(tensor.shape), tensor.dtype)


def stop_gradient(tensor: Tensor) -> Tensor:
    """The same value, invisible to every tape."""
    from aidjit.autodiff.ops.core import reshape_p

    return apply(reshape_p, tensor, shape=tensor.shape, record=False)
