"""Calling conventions of `jit` and `compile`: what a compiled version is specialised on.

A call `f(x, params, n=3, lr=0.1)` is bound to `f`'s parameters (keywords become positions, as
`inspect.Signature.bind` does), split into *static* arguments (`static_argnums`,
`static_argnames`: hashable Python values baked into the code) and *traced* ones, and the traced
ones are flattened as one pytree into leaves:

    x                -> leaf "x"          tensor<4x3xf32>
    params["w"]      -> leaf "params_w"   tensor<3x2xf32>   (path "params['w']" in messages)
    lr=0.1           -> leaf "lr"         weak tensor<f64>  (a runtime value: no recompile)
    n=3 (static)     -> part of the key, passed to f as is

A `CallKey` (tree structure, leaf shapes and dtypes, static values) is `aidjit.jit`'s cache key,
built on every call; a `CallSignature` names and types each leaf, for the IR and for messages,
built only when a version is compiled, and says what changed from a previous version.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from aidjit.autodiff.primitives import Spec
from aidjit.autodiff.tensor import Tensor, active_tapes, as_dtype, weak_scalar_dtype
from aidjit.autodiff.trace import PositionalNames, TraceArgument, quote_path
from aidjit.autodiff.tree_util import (
    PyTreeDef,
    key_name,
    keystr,
    tree_flatten,
    tree_flatten_with_path,
)
from aidjit.errors import AidjitError, ArgumentCountError, ArgumentValueError, DTypeError
from aidjit.records import record

StaticKey = int | str
"""A static argument's place: a position among the positional arguments, or a keyword."""


class CallKey(NamedTuple):
    """The cache key of `aidjit.jit`, cheap to build on every call: the tree structure, per leaf
    its shape and dtype (or Python type), per static argument its place, type and value."""

    tree: PyTreeDef
    leaf_types: tuple[Any, ...]
    statics: tuple[tuple[StaticKey, type, Any], ...]


@record
class CallSignature:
    """What one compiled version is specialised on, described for the IR and for messages."""

    key: CallKey
    tree: PyTreeDef
    """The structure of `(traced positional arguments, traced keyword arguments)`."""
    arguments: tuple[TraceArgument, ...]
    statics: tuple[tuple[StaticKey, str, type, Any], ...]
    """(place, label, type, value) per static argument; the type keeps 1 and 1.0 apart."""
    top_level: tuple[tuple[str, PyTreeDef], ...]
    """(label, structure) per traced argument, to say whose structure changed."""

    def describe(self) -> str:
        """`x: tensor<2xf32>, lr: weak tensor<f64>, n=3 (static)`."""
        parts = [argument.describe() for argument in self.arguments]
        parts += [f"{label}={value!r} (static)" for _, label, _, value in self.statics]
        return ", ".join(parts) or "no arguments"

    def structure(self) -> str:
        """`params={'b': *, 'w': *}, x=*`: each traced argument's tree structure."""
        return ", ".join(f"{label}={tree}" for label, tree in self.top_level)

    def changes_from(self, previous: CallSignature) -> str:
        """What differs from `previous`, argument by argument: the reason for a recompile."""
        changes = []
        before = dict(previous.top_level)
        for label, structure in self.top_level:
            if label in before and before[label] != structure:
                changes.append(
                    f"tree structure of {quote_path(label)} changed: {before[label]} -> {structure}"
                )
        after = sorted(label for label, _ in self.top_level)
        if sorted(before) != after:
            changes.append(f"traced arguments changed: {sorted(before)} -> {after}")
        old_statics = {key: (kind, value) for key, _, kind, value in previous.statics}
        for key, label, kind, value in self.statics:
            if old_statics.get(key, (kind, value)) != (kind, value):
                old = old_statics[key][1]
                changes.append(f"static argument {quote_path(label)} changed: {old!r} -> {value!r}")
        if {key for key, *_ in previous.statics} != {key for key, *_ in self.statics}:
            changes.append("the set of static arguments changed")
        if self.tree == previous.tree:
            for old, new in zip(previous.arguments, self.arguments, strict=True):
                if (old.spec, old.weak) != (new.spec, new.weak):
                    changes.append(f"argument {new.quoted} changed: {old.type} -> {new.type}")
        return "; ".join(changes) or "signature changed"


def _leaf_key(leaf: Any) -> Any:
    """What the compiled code depends on in a leaf; validated only when a version is built."""
    if isinstance(leaf, Tensor):
        # A Tensor compiles as the array it holds: both share one version.
        return (leaf.shape, leaf.dtype, True) if leaf.weak else (leaf.shape, leaf.dtype)
    if isinstance(leaf, np.ndarray):
        return leaf.shape, leaf.dtype
    return type(leaf)  # a scalar: weak, whatever its value


@record(frozen=False)
class BoundCall:
    """One call's arguments, split and flattened: its cache key and the values of its leaves."""

    key: CallKey
    leaves: list[Any]
    traced: tuple[tuple[Any, ...], dict[str, Any]]
    """The traced arguments as `(positional, keywords)`, the tree that was flattened."""
    labels: list[str]
    """The parameter label of each traced positional argument."""
    statics: tuple[tuple[StaticKey, str, type, Any], ...]
    name: str
    plain: bool = False
    """Positional numpy arrays only (the common call): the leaves are the arrays, as they are."""

    @property
    def needs_python(self) -> bool:
        """Whether the Python function must run instead of the compiled code: a leaf is traced
        by an outer `jit`, or watched by a GradientTape of this thread (under `grad`). The
        compiled code returns plain arrays, which would hide its ops from the outer trace or
        tape: a silently zero gradient. Running `fn` records them, as jax.jit does under grad.
        """
        if self.plain:
            return False  # numpy arrays are neither traced nor watched
        tapes = active_tapes()
        return any(
            isinstance(leaf, Tensor)
            and (leaf.is_symbolic or any(tape.watches(leaf) for tape in tapes))
            for leaf in self.leaves
        )

    def arrays(self) -> list[Any]:
        """The leaves as compiled code takes them: arrays; scalars as 0-d arrays of their dtype."""
        if self.plain:
            return self.leaves
        values = []
        for leaf in self.leaves:
            if isinstance(leaf, Tensor):
                values.append(leaf.numpy())
            elif isinstance(leaf, np.ndarray):
                values.append(leaf)
            else:
                values.append(np.asarray(leaf, weak_scalar_dtype(leaf)))
        return values

    def signature(self) -> CallSignature:
        """Name and type every leaf (`params['w']`, `params_w`, tensor<3x2xf32>), checking that
        each is an array or a number: built when a version is compiled or a message needs it."""
        _check_hashable(self.statics, self.name)
        pairs, tree = tree_flatten_with_path(self.traced)
        arguments = []
        for path, leaf in pairs:
            group, place, inner = path[0], path[1], path[2:]
            top = self.labels[place.idx] if group.idx == 0 else place.key  # type: ignore[union-attr]
            where = top + keystr(inner)
            name = _identifier("_".join(filter(None, (top, key_name(inner)))))
            arguments.append(TraceArgument(name, where, *_leaf_type(leaf, where, self.name)))
        top_level = tuple(zip(self.labels, tree.children[0].children, strict=True)) + tuple(
            zip(sorted(self.traced[1]), tree.children[1].children, strict=True)
        )
        return CallSignature(self.key, tree, tuple(arguments), self.statics, top_level)


class Binder:
    """Binds calls of one Python function; built once per `jit`/`compile`, used on every call."""

    def __init__(
        self,
        fn: Callable[..., Any],
        static_argnums: Sequence[int] = (),
        static_argnames: Sequence[str] = (),
    ) -> None:
        self.fn = fn
        self.name = getattr(fn, "__name__", "fn")
        self.static_argnums = tuple(static_argnums)
        self.static_argnames = frozenset(static_argnames)
        try:
            self._signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None
        parameters = list(self._signature.parameters.values()) if self._signature else []
        self._names = PositionalNames.of(fn)
        self._check_static_names(parameters)
        self._has_statics = bool(self.static_argnums or self.static_argnames)
        self._plain_trees: dict[int, tuple[PyTreeDef, list[str]]] = {}
        self._static_defaults = {
            p.name: p.default
            for p in parameters
            if p.default is not p.empty and self._declared_static(p.name)
        }

    def _check_static_names(self, parameters: list[inspect.Parameter]) -> None:
        if self._signature is None or any(p.kind == p.VAR_KEYWORD for p in parameters):
            return
        unknown = self.static_argnames - {p.name for p in parameters}
        if unknown:
            raise ValueError(
                f"static_argnames {sorted(unknown)} are not parameters of {self.name}"
                f"{self._signature}"
            )

    def bind(
        self, args: Sequence[Any], kwargs: dict[str, Any], static_self: bool = False
    ) -> BoundCall:
        """Split and flatten one call; `static_self` makes the first argument static (a method's
        `self` that is not a pytree)."""
        if not (kwargs or static_self or self._has_statics):
            plain = self._plain_arrays(args)
            if plain is not None:
                return plain
        positional, keywords = self._normalize(tuple(args), kwargs)
        static_positions = self._static_positions(len(positional), static_self)
        statics: list[tuple[StaticKey, str, type, Any]] = []
        traced_positional, traced_labels = [], []
        for position, value in enumerate(positional):
            label = self._names.label(position)
            if position in static_positions:
                statics.append((position, label, type(value), value))
            else:
                traced_positional.append(value)
                traced_labels.append(label)
        traced_keywords = {}
        for keyword, value in keywords.items():
            if self._declared_static(keyword) or self._position_of(keyword) in static_positions:
                statics.append((keyword, keyword, type(value), value))
            else:
                traced_keywords[keyword] = value
        traced = (tuple(traced_positional), traced_keywords)
        leaves, tree = tree_flatten(traced)
        key = CallKey(
            tree,
            tuple(_leaf_key(leaf) for leaf in leaves),
            tuple((place, kind, value) for place, _, kind, value in statics),
        )
        return BoundCall(key, leaves, traced, traced_labels, tuple(statics), self.name)

    def _plain_arrays(self, args: Sequence[Any]) -> BoundCall | None:
        """The common call, positional numpy arrays only, without the general machinery (a
        small compiled function is measured by its per-call overhead)."""
        if not all(type(arg) is np.ndarray for arg in args):
            return None
        count = len(args)
        known = self._plain_trees.get(count)
        if known is None:
            labels = [self._names.label(i) for i in range(count)]
            known = self._plain_trees[count] = (tree_flatten((tuple(args), {}))[1], labels)
        tree, labels = known
        key = CallKey(tree, tuple([(arg.shape, arg.dtype) for arg in args]), ())
        return BoundCall(key, list(args), (tuple(args), {}), labels, (), self.name, plain=True)

    def flat_function(self, signature: CallSignature) -> Callable[..., Any]:
        """`fn` as a function of the traced leaves alone, the statics put back in their places."""

        def call(*leaves: Any) -> Any:
            traced_positional, traced_keywords = signature.tree.unflatten(leaves)
            positional = list(traced_positional)
            keywords = dict(traced_keywords)
            for key, _, _, value in signature.statics:
                if isinstance(key, int):
                    positional.insert(key, value)  # statics are in increasing position order
                else:
                    keywords[key] = value
            return self.fn(*positional, **keywords)

        call.__name__ = self.name
        return call

    def _normalize(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Keywords that name positional parameters become positional, and static parameters
        left out take their defaults: `f(x)`, `f(x, 1)` and `f(x, k=1)` share one key."""
        if self._signature is None or not (kwargs or self._static_defaults):
            return args, dict(kwargs)
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.name}(): {error}") from None
        for name, default in self._static_defaults.items():
            bound.arguments.setdefault(name, default)
        return bound.args, bound.kwargs

    def _declared_static(self, name: str) -> bool:
        """Named in static_argnames, or a positional parameter named by a static_argnums."""
        if name in self.static_argnames:
            return True
        position = self._position_of(name)
        return position is not None and position in self.static_argnums

    def _static_positions(self, count: int, static_self: bool) -> set[int]:
        positions = {0} if static_self and count else set()
        for index in self.static_argnums:
            if not -count <= index < count:
                raise ArgumentCountError(
                    f"{self.name}: static_argnums {index} names a positional argument, but "
                    f"{self.name} was called with {count} positional argument(s)"
                )
            positions.add(index % count)
        positions |= {
            i for i, name in enumerate(self._names.names[:count]) if name in self.static_argnames
        }
        return positions

    def _position_of(self, keyword: str) -> int | None:
        return self._names.names.index(keyword) if keyword in self._names.names else None


def _identifier(text: str) -> str:
    """An IR argument name for a path label: `params[0]` -> `params_0`."""
    cleaned = re.sub(r"\W+", "_", text).strip("_")
    return cleaned if re.fullmatch(r"[A-Za-z_]\w*", cleaned) else f"arg_{cleaned}"


def _check_hashable(statics: Sequence[tuple[StaticKey, str, type, Any]], name: str) -> None:
    for _, label, kind, value in statics:
        try:
            hash(value)
        except TypeError:
            raise ArgumentValueError(
                f"{name}: static argument {quote_path(label)} must be hashable (it is part of "
                f"the compile cache key), got a {kind.__name__}; pass a tuple instead of a list, "
                "or a frozen dataclass"
            ) from None


def _leaf_type(leaf: Any, where: str, name: str) -> tuple[Spec, bool]:
    """(spec, weak) of one traced leaf; anything that is not an array or a number is an error."""
    if isinstance(leaf, Tensor):
        return leaf.spec, bool(getattr(leaf, "weak", False))
    if isinstance(leaf, bool | np.bool_):
        raise DTypeError(
            f"{name}: argument {quote_path(where)} is a bool; traced arguments are arrays or "
            "numbers; mark it static (static_argnums / static_argnames) to branch on it in Python"
        )
    scalar = weak_scalar_dtype(leaf)
    if scalar is not None:
        return Spec((), scalar), True
    if isinstance(leaf, np.ndarray | np.generic):
        try:
            return Spec(tuple(leaf.shape), as_dtype(leaf.dtype)), False
        except AidjitError as error:
            raise type(error)(f"{name}: argument {quote_path(where)}: {error}") from None
    raise DTypeError(
        f"{name}: argument {quote_path(where)} is a {type(leaf).__name__}, not an array or a "
        "number; mark it static (static_argnums / static_argnames), or register its type as a "
        "pytree node (aidjit.tree_util.register_pytree_node)"
    )
