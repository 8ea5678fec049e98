"""Pytrees: nested containers of arrays, flattened to a list of leaves and a structure.

JAX's convention, which users bring with them: tuples, lists, dicts (keys in sorted order),
NamedTuples and registered classes (`register_pytree_node`, `register_dataclass`) are *nodes*;
`None` is a node with no children; everything else (arrays, Tensors, Python scalars) is a *leaf*.

    tree_flatten({"w": w, "b": (b0, None)})  ->  [b0, w], PyTreeDef({'b': (*, None), 'w': *})

`aidjit.jit`, `compile`, `grad` and `value_and_grad` flatten arguments to leaves with this module,
name each leaf after its path (`params['w']` in messages, `params_w` in the IR), and unflatten
results. A `PyTreeDef` is hashable, so it can be part of a compile cache key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

from aidjit.records import record

T = TypeVar("T", bound=type)

Flatten = Callable[[Any], tuple[Iterable[Any], Hashable]]
"""node -> (children, auxiliary data); the aux data must be hashable and comparable."""

Unflatten = Callable[[Hashable, Iterable[Any]], Any]
"""(auxiliary data, children) -> node."""


# ----- key paths --------------------------------------------------------------------------------


@record
class SequenceKey:
    """The position of a child in a tuple, list or NamedTuple-less sequence node."""

    idx: int

    def __str__(self) -> str:
        return f"[{self.idx}]"

    @property
    def part(self) -> str:
        return str(self.idx)


@record
class DictKey:
    """The key of a child in a dict."""

    key: Hashable

    def __str__(self) -> str:
        return f"[{self.key!r}]"

    @property
    def part(self) -> str:
        return str(self.key)


@record
class GetAttrKey:
    """The attribute of a child in a NamedTuple or a dataclass."""

    name: str

    def __str__(self) -> str:
        return f".{self.name}"

    @property
    def part(self) -> str:
        return self.name


@record
class FlattenedIndexKey:
    """The position of a child among the children of a custom node without named children."""

    key: int

    def __str__(self) -> str:
        return f"[<flat index {self.key}>]"

    @property
    def part(self) -> str:
        return str(self.key)


KeyEntry = SequenceKey | DictKey | GetAttrKey | FlattenedIndexKey
KeyPath = tuple[KeyEntry, ...]


def keystr(path: KeyPath) -> str:
    """`['w'][0].b`: a path as Python would index it."""
    return "".join(str(entry) for entry in path)


def key_name(path: KeyPath) -> str:
    """`w_0_b`: a path as an identifier fragment, for IR argument names."""
    return "_".join(entry.part for entry in path)


# ----- the registry -----------------------------------------------------------------------------


class _NodeKind(NamedTuple):
    flatten: Flatten
    unflatten: Unflatten
    keys: Callable[[Hashable, int], Sequence[KeyEntry]]
    """(aux data, child count) -> the key of each child, for paths."""


def _positions(aux: Hashable, count: int) -> list[KeyEntry]:
    return [SequenceKey(i) for i in range(count)]


def _flat_positions(aux: Hashable, count: int) -> list[KeyEntry]:
    return [FlattenedIndexKey(i) for i in range(count)]


def _dict_flatten(node: dict[Any, Any]) -> tuple[list[Any], tuple[Any, ...]]:
    try:
        keys = tuple(sorted(node))
    except TypeError as error:
        raise TypeError(f"pytree dict keys must be sortable, got {list(node)!r}") from error
    return [node[key] for key in keys], keys


_REGISTRY: dict[type, _NodeKind] = {
    tuple: _NodeKind(lambda t: (t, None), lambda _, c: tuple(c), _positions),
    list: _NodeKind(lambda t: (t, None), lambda _, c: list(c), _positions),
    dict: _NodeKind(
        _dict_flatten,
        lambda keys, c: dict(zip(keys, c, strict=True)),
        lambda keys, _: [DictKey(key) for key in keys],
    ),
    type(None): _NodeKind(lambda _: ((), None), lambda _, __: None, _positions),
}


def register_pytree_node(node_type: type, flatten: Flatten, unflatten: Unflatten) -> None:
    """Make `node_type` a pytree node: `flatten(x) -> (children, aux)`, `unflatten(aux, children)`.

    The aux data is the static part of the node (compared and hashed as part of a compile cache
    key); the children are flattened further.
    """
    _register(node_type, _NodeKind(flatten, unflatten, _flat_positions))


def _register(node_type: type, kind: _NodeKind) -> None:
    if node_type in _REGISTRY:
        raise ValueError(f"{node_type.__qualname__} is already registered as a pytree node")
    _REGISTRY[node_type] = kind


def register_dataclass(
    node_type: T,
    data_fields: Sequence[str] | None = None,
    meta_fields: Sequence[str] | None = None,
) -> T:
    """Register a dataclass as a pytree node; usable as a class decorator.

    `data_fields` are children (arrays, or subtrees); `meta_fields` are static (hashable) and part
    of the structure. By default every field is a data field, as `@register_dataclass` in JAX
    without arguments.
    """
    if not dataclasses.is_dataclass(node_type):
        raise TypeError(f"register_dataclass expects a dataclass, got {node_type!r}")
    names = [f.name for f in dataclasses.fields(node_type) if f.init]
    meta = tuple(meta_fields or ())
    data = (
        tuple(data_fields) if data_fields is not None else tuple(n for n in names if n not in meta)
    )
    missing = set(names) - set(data) - set(meta)
    if missing:
        raise ValueError(
            f"register_dataclass({node_type.__qualname__}): fields {sorted(missing)} are neither "
            "data_fields nor meta_fields"
        )

    def flatten(node: Any) -> tuple[list[Any], tuple[Any, ...]]:
        return [getattr(node, n) for n in data], tuple(getattr(node, n) for n in meta)

    def unflatten(aux: Hashable, children: Iterable[Any]) -> Any:
        assert isinstance(aux, tuple)
        return node_type(
            **dict(zip(data, children, strict=True)), **dict(zip(meta, aux, strict=True))
        )

    _register(node_type, _NodeKind(flatten, unflatten, lambda _, __: [GetAttrKey(n) for n in data]))
    return node_type


_NAMEDTUPLE = _NodeKind(
    lambda t: (tuple(t), type(t)),
    lambda cls, c: cls(*c),
    lambda cls, _: [GetAttrKey(n) for n in cls._fields],
)
"""Every NamedTuple class not registered otherwise: its class is the aux data."""


def _kind_of(node_type: type) -> _NodeKind | None:
    """How nodes of `node_type` flatten, or None for a leaf type."""
    kind = _REGISTRY.get(node_type)
    if kind is None and issubclass(node_type, tuple) and hasattr(node_type, "_fields"):
        return _NAMEDTUPLE
    return kind


def is_node(value: Any) -> bool:
    """Whether `value` is a pytree node (a container) rather than a leaf."""
    return _kind_of(type(value)) is not None


# ----- structure ----------------------------------------------------------------------------------


@record
class PyTreeDef:
    """The structure of a pytree: node types and aux data, with a hole for every leaf."""

    node_type: type | None  # None for a leaf
    aux: Hashable = None
    children: tuple[PyTreeDef, ...] = ()
    num_leaves: int = dataclasses.field(init=False, compare=False, repr=False)
    _hash: int | None = dataclasses.field(init=False, compare=False, repr=False, default=None)

    def __post_init__(self) -> None:
        leaves = 1 if self.node_type is None else sum(c.num_leaves for c in self.children)
        object.__setattr__(self, "num_leaves", leaves)

    def __hash__(self) -> int:
        # Computed once: a structure is hashed on every jit call, as part of the cache key.
        if self._hash is None:
            object.__setattr__(self, "_hash", hash((self.node_type, self.aux, self.children)))
        return self._hash  # type: ignore[return-value]

    @property
    def is_leaf(self) -> bool:
        return self.node_type is None

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """Rebuild the tree with `leaves` in place of the holes, in flattening order."""
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"{self} has {self.num_leaves} leaves, got {len(leaves)}")
        return self._build(iter(leaves))

    def _build(self, leaves: Any) -> Any:
        if self.node_type is None:
            return next(leaves)
        children = [child._build(leaves) for child in self.children]
        kind = _kind_of(self.node_type)
        assert kind is not None  # a node's type was registered when it was flattened
        return kind.unflatten(self.aux, children)

    def __str__(self) -> str:
        if self.node_type is None:
            return "*"
        inner = [str(child) for child in self.children]
        if self.node_type is type(None):
            return "None"
        if self.node_type is tuple:
            return f"({inner[0]},)" if len(inner) == 1 else f"({', '.join(inner)})"
        if self.node_type is list:
            return f"[{', '.join(inner)}]"
        if self.node_type is dict:
            pairs = [f"{k!r}: {v}" for k, v in zip(self.aux, inner, strict=True)]  # type: ignore[arg-type]
            return "{" + ", ".join(pairs) + "}"
        return f"{self.node_type.__name__}({', '.join(inner)})"

    def __repr__(self) -> str:
        return f"PyTreeDef({self})"


LEAF = PyTreeDef(None)


def tree_flatten_with_path(
    tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[tuple[KeyPath, Any]], PyTreeDef]:
    """Leaves with their key paths, and the structure."""
    leaves: list[tuple[KeyPath, Any]] = []
    treedef = _flatten(tree, (), leaves, is_leaf)
    return leaves, treedef


def tree_flatten(
    tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[Any], PyTreeDef]:
    """The leaves of `tree` in order (dicts by sorted key) and its structure."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, None, leaves, is_leaf)


def _flatten(
    tree: Any,
    path: KeyPath | None,
    leaves: list[Any],
    is_leaf: Callable[[Any], bool] | None,
) -> PyTreeDef:
    """Append the leaves of `tree` to `leaves`, as `(path, leaf)` pairs unless `path` is None
    (what `jit` runs on every call: no key paths built), and return its structure."""
    kind = None if is_leaf is not None and is_leaf(tree) else _kind_of(type(tree))
    if kind is None:
        leaves.append(tree if path is None else (path, tree))
        return LEAF
    children, aux = kind.flatten(tree)
    if path is None:
        defs = tuple([_flatten(child, None, leaves, is_leaf) for child in children])
    else:
        children = list(children)
        keys = kind.keys(aux, len(children))
        defs = tuple(
            _flatten(child, (*path, key), leaves, is_leaf)
            for child, key in zip(children, keys, strict=True)
        )
    return _node_def(type(tree), aux, defs)


_INTERNED: dict[tuple[type, Hashable, tuple[PyTreeDef, ...]], PyTreeDef] = {}


def _node_def(node_type: type, aux: Hashable, children: tuple[PyTreeDef, ...]) -> PyTreeDef:
    """One shared PyTreeDef per structure, so the structure of a call hashes in O(1) after the
    first time (its hash is cached); unhashable aux data gets a fresh one. Programs meet few
    distinct structures, so the table stays small."""
    key = (node_type, aux, children)
    try:
        found = _INTERNED.get(key)
    except TypeError:
        return PyTreeDef(node_type, aux, children)
    if found is None:
        found = _INTERNED.setdefault(key, PyTreeDef(node_type, aux, children))
    return found


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """The inverse of `tree_flatten`."""
    return treedef.unflatten(leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    return tree_flatten(tree, is_leaf)[1]


def tree_map(
    fn: Callable[..., Any],
    tree: Any,
    *rest: Any,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Apply `fn` to each leaf of `tree` (and the matching leaves of `rest`), keep the structure."""
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = []
    for index, other in enumerate(rest):
        other_leaves, other_def = tree_flatten(other, is_leaf)
        if other_def != treedef:
            raise ValueError(
                f"tree_map: tree {index + 1} has structure {other_def}, expected {treedef}"
            )
        others.append(other_leaves)
    return treedef.unflatten(fn(*args) for args in zip(leaves, *others, strict=True))
