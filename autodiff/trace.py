"""Tracing: run a Python function on symbolic tensors and keep the primitives it applied.

The result is a `Trace` — arguments, nodes in program order, outputs — plain Python data that
`aidjit.lowering.trace_to_graph` turns into a graph-dialect module. Concrete tensors the function
touches (closed-over weights, Python scalars) are constants of the trace; operations among them
alone run eagerly at trace time, which is constant folding for free.

Arguments are the *leaves* of the caller's argument pytrees (see `aidjit.autodiff.tree_util`):
the caller flattens them, and the traced function rebuilds the structure from the leaves.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import Any

import numpy as np

from aidjit.autodiff.primitives import Spec
from aidjit.autodiff.tensor import Node, Tensor
from aidjit.autodiff.tree_util import LEAF, PyTreeDef, tree_flatten
from aidjit.errors import DTypeError, ShapeError, UnsupportedError
from aidjit.records import record


@record
class TraceArgument:
    """One leaf argument of a traced function.

    `name` is an identifier for the IR (`params_w`); `path` is how the user reaches the leaf in
    Python (`params['w']`), for messages; `weak` marks a Python scalar, which takes the dtype of
    the tensor it meets (JAX's weak typing).
    """

    name: str
    path: str
    spec: Spec
    weak: bool = False

    @property
    def type(self) -> str:
        """`tensor<2xf32>`, or `weak tensor<f64>` for a Python scalar."""
        return f"{'weak ' if self.weak else ''}{self.spec}"

    @property
    def quoted(self) -> str:
        return quote_path(self.path)

    def describe(self) -> str:
        return f"{self.path}: {self.type}"


@record
class PositionalNames:
    """What messages and the IR call each positional argument of a Python function."""

    names: tuple[str, ...]
    """The positional parameters' names, in order."""
    var_positional: str | None = None
    """The `*args` parameter's name, if there is one."""

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> PositionalNames:
        try:
            parameters = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # no signature (some builtins): positions only
            return cls(())
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        names = tuple(p.name for p in parameters if p.kind in positional)
        rest = next((p.name for p in parameters if p.kind == p.VAR_POSITIONAL), None)
        return cls(names, rest)

    def label(self, position: int) -> str:
        """`x` for a named parameter, `args[2]` within `*args`, else `arg5`."""
        if position < len(self.names):
            return self.names[position]
        if self.var_positional is not None:
            return f"{self.var_positional}[{position - len(self.names)}]"
        return f"arg{position}"


def quote_path(path: str) -> str:
    """`'lr'` for a plain name; a path with brackets reads best bare: `params['w']`."""
    return f"'{path}'" if path.isidentifier() else path


@record(frozen=False, eq=False)
class Trace:
    """Arguments, primitive applications in program order, and outputs of a traced function."""

    name: str
    arguments: list[TraceArgument] = field(default_factory=list)
    args: list[Tensor] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[Tensor] = field(default_factory=list)
    out_tree: PyTreeDef = LEAF

    @property
    def arg_names(self) -> list[str]:
        return [argument.name for argument in self.arguments]

    def record(self, node: Node) -> None:
        self.nodes.append(node)


def trace_function(fn: Callable[..., Any], arguments: Sequence[TraceArgument], name: str) -> Trace:
    """Call `fn` on one symbolic tensor per argument leaf and record what it computes.

    A shape or dtype error raised while tracing is re-raised with the arguments whose types it
    mentions, since the op that failed is often far from the argument that caused it.
    """
    trace = Trace(name, list(arguments))
    trace.args = [Tensor.symbolic(a.spec, trace, weak=a.weak) for a in arguments]
    try:
        result = fn(*trace.args)
    except (DTypeError, ShapeError) as error:
        raise type(error)(f"{error}{_argument_hint(str(error), arguments)}") from error
    leaves, trace.out_tree = tree_flatten(result)
    if not leaves:
        raise UnsupportedError(f"{name} returns nothing to compile")
    trace.outputs = [_as_output(leaf, name, i) for i, leaf in enumerate(leaves)]
    return trace


def _argument_hint(message: str, arguments: Sequence[TraceArgument]) -> str:
    """`(argument 's' is tensor<f64>)`: the arguments whose types the message names."""
    named = [a for a in arguments if str(a.spec) in message]
    if named:
        parts = ", ".join(f"argument {a.quoted} is {a.spec}" for a in named)
        return f" ({parts})"
    if not arguments:
        return ""
    return f" (arguments: {', '.join(a.describe() for a in arguments)})"


def _as_output(leaf: Any, name: str, index: int) -> Tensor:
    if isinstance(leaf, Tensor):
        return leaf
    if isinstance(leaf, np.ndarray | np.generic | float | int):
        return Tensor(leaf)
    raise UnsupportedError(
        f"{name}: output {index} is a {type(leaf).__name__}; compiled functions return tensors, "
        "numpy arrays, or pytrees of them (tuples, lists, dicts, NamedTuples, registered classes)"
    )
