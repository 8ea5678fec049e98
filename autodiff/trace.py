"""Tracing: run a Python function on symbolic tensors and keep the primitives it applied.

The result is a `Trace` — arguments, nodes in program order, outputs — plain Python data that
`aidjit.lowering.trace_to_graph` turns into a graph-dialect module. Concrete tensors the function
touches (closed-over weights, Python scalars) are constants of the trace; operations among them
alone run eagerly at trace time, which is constant folding for free.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aidjit.autodiff.primitives import Spec
from aidjit.autodiff.tensor import Node, Tensor
from aidjit.errors import UnsupportedError


@dataclass(frozen=True)
class TreeDef:
    """The nesting of a function's outputs (a tensor, or tuples/lists/dicts of them)."""

    kind: str  # "leaf", "tuple", "list" or "dict"
    children: tuple[TreeDef, ...] = ()
    keys: tuple[Any, ...] = ()

    def unflatten(self, leaves: Sequence[Any]) -> Any:
        iterator = iter(leaves)
        return self._build(iterator)

    def _build(self, leaves: Any) -> Any:
        if self.kind == "leaf":
            return next(leaves)
        items = [child._build(leaves) for child in self.children]
        if self.kind == "dict":
            return dict(zip(self.keys, items, strict=True))
        return tuple(items) if self.kind == "tuple" else items


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    if isinstance(tree, tuple | list):
        pairs = [flatten(item) for item in tree]
        leaves = [leaf for sub, _ in pairs for leaf in sub]
        kind = "tuple" if isinstance(tree, tuple) else "list"
        return leaves, TreeDef(kind, tuple(d for _, d in pairs))
    if isinstance(tree, dict):
        keys = tuple(tree)
        pairs = [flatten(tree[k]) for k in keys]
        leaves = [leaf for sub, _ in pairs for leaf in sub]
        return leaves, TreeDef("dict", tuple(d for _, d in pairs), keys)
    return [tree], TreeDef("leaf")


@dataclass(eq=False)
class Trace:
    """Arguments, primitive applications in program order, and outputs of a traced function."""

    name: str
    arg_names: list[str] = field(default_factory=list)
    args: list[Tensor] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[Tensor] = field(default_factory=list)
    treedef: TreeDef = field(default_factory=lambda: TreeDef("leaf"))

    def record(self, node: Node) -> None:
        self.nodes.append(node)


def trace_function(fn: Callable[..., Any], specs: Sequence[Spec], name: str) -> Trace:
    """Call `fn` on one symbolic tensor per spec and record what it computes."""
    trace = Trace(name, arg_names=_parameter_names(fn, len(specs)))
    trace.args = [Tensor.symbolic(spec, trace) for spec in specs]
    result = fn(*trace.args)
    leaves, trace.treedef = flatten(result)
    if not leaves:
        raise UnsupportedError(f"{name} returns nothing to compile")
    trace.outputs = [_as_output(leaf, name, i) for i, leaf in enumerate(leaves)]
    return trace


def _parameter_names(fn: Callable[..., Any], count: int) -> list[str]:
    """Python parameter names, to name the IR's arguments; positional fallbacks otherwise."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [names[i] if i < len(names) else f"arg{i}" for i in range(count)]


def _as_output(leaf: Any, name: str, index: int) -> Tensor:
    if isinstance(leaf, Tensor):
        return leaf
    if isinstance(leaf, np.ndarray | np.generic | float | int):
        return Tensor(leaf)
    raise UnsupportedError(
        f"{name}: output {index} is a {type(leaf).__name__}; compiled functions return tensors, "
        "numpy arrays or tuples, lists and dicts of them"
    )
