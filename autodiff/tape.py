"""GradientTape: records primitive applications on watched tensors and runs them backwards.

The tape keeps the nodes in the order they ran, which is already a topological order, and walks
it in reverse, calling each primitive's vector-Jacobian rule and accumulating with `+` (an `add`
op, so the backward pass is an ordinary graph that outer tapes and the tracer record too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np

from aidjit.autodiff.tensor import Node, Tensor, active_tapes, apply, constant
from aidjit.errors import AidjitError, GradientError

UnconnectedGradients = Literal["none", "zero"]
"""What `GradientTape.gradient` returns for a source the target does not depend on."""

_UNCONNECTED = get_args(UnconnectedGradients)


class GradientTape:
    """Record operations on watched tensors to differentiate them later.

    `persistent=False` allows one `gradient` call; `True` allows many. A tape belongs to the
    thread that opened it. Tapes nest: an outer tape records the gradient computation of an inner
    one, which gives second derivatives.
    """

    def __init__(self, persistent: bool = False) -> None:
        self.persistent = persistent
        self._watched: dict[int, Tensor] = {}
        self._nodes: list[Node] = []
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

    def watches(self, tensor: Tensor) -> bool:
        """Whether operations on `tensor` are being recorded by this tape now."""
        return self._recording and id(tensor) in self._watched

    def record(self, node: Node) -> None:
        if not self._recording:
            return
        if any(id(t) in self._watched for t in node.inputs):
            self._nodes.append(node)
            self._watched[id(node.output)] = node.output

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
        was_recording, self._recording = self._recording, False
        try:
            grads = self._backward(target, {id(s) for s in source_list})
        finally:
            self._recording = was_recording
        zeros = unconnected_gradients == "zero"
        results = [self._export(grads.get(id(s)), s, zeros) for s in source_list]
        return results[0] if single else results

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
            if cotangent is None or node.primitive.vjp is None:
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
            if any(id(t) in needed for t in node.inputs):
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
