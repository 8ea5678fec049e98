"""`record`: a dataclass that is cheap to define, for the modules `import aidjit` loads.

Python 3.11's `dataclasses.dataclass` compiles each generated method from source when the class
is defined: six for a frozen class (`__init__`, `__repr__`, `__eq__`, `__hash__`,
`__setattr__`, `__delattr__`). Defined that way, the records that `import aidjit` and a warm
start define were a large part of aidjit's own import time.

`record` lets `dataclasses` collect the fields, so `dataclasses.fields`, `replace`, `asdict`,
`is_dataclass` and `tree_util.register_dataclass` see a dataclass as before, and compiles only
`__init__`. Equality, hashing, `repr` and immutability are the shared functions below, compiled
once with this module; they read the fields through an `operator.attrgetter` made per class, so
they cost no more per call than the generated ones. Methods a class defines itself are kept, as
`dataclass` keeps them. Supported: defaults, `field(default_factory=...)`, `field(init=False)`,
`compare=False`, `repr=False` and `__post_init__`; not `InitVar` or keyword-only fields, which
no record uses and which are refused, nor `slots`.
"""

from __future__ import annotations

import dataclasses
import operator
import reprlib
from collections.abc import Callable
from typing import Any, TypeVar

RecordT = TypeVar("RecordT", bound=type)

_NO_ARGUMENT = object()
"""The default of an `__init__` parameter whose field has a `default_factory`."""


def record(cls: RecordT | None = None, /, *, frozen: bool = True, eq: bool = True) -> Any:
    """Make `cls` a dataclass (frozen and compared by value unless told otherwise), compiling
    only its `__init__`; use as `@record` or `@record(frozen=False)`."""

    def make(cls: RecordT) -> RecordT:
        return _make_record(cls, frozen=frozen, eq=eq)

    return make if cls is None else make(cls)


def _make_record(cls: RecordT, *, frozen: bool, eq: bool) -> RecordT:
    own = set(cls.__dict__)
    if "__eq__" in own and cls.__dict__.get("__hash__", 0) is None:
        own.discard("__hash__")  # Python's None for a class with __eq__: dataclass replaces it
    undocumented = cls.__doc__ is None
    if undocumented:
        # Else dataclass writes one from inspect.signature(cls), which here is object.__init__'s:
        # parsing that compiles inspect's regexes, a few ms at import.
        cls.__doc__ = cls.__name__
    cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    pseudo = cls.__dataclass_fields__.values()  # type: ignore[attr-defined]
    if any(f._field_type is dataclasses._FIELD_INITVAR for f in pseudo):  # type: ignore[attr-defined]
        raise TypeError(f"record {cls.__qualname__}: InitVar fields are not supported")
    fields = dataclasses.fields(cls)
    if any(f.kw_only for f in fields):
        raise TypeError(f"record {cls.__qualname__}: keyword-only fields are not supported")
    if undocumented:
        cls.__doc__ = f"{cls.__name__}({', '.join(f.name for f in fields)})"
    methods: dict[str, Any] = {"__init__": _init_function(cls, fields, frozen), "__repr__": _repr}
    if eq:
        # As dataclass does: a mutable class compared by value must not be hashable.
        methods |= {"__eq__": _eq, "__hash__": _hash if frozen else None}
    if frozen:
        methods |= {"__setattr__": _frozen_setattr, "__delattr__": _frozen_delattr}
    for name, method in methods.items():
        if name not in own:
            setattr(cls, name, method)
    compared = tuple(f.name for f in fields if f.compare)
    cls.__record_values__ = staticmethod(_values_getter(compared))  # type: ignore[attr-defined]
    cls.__record_shown__ = tuple(f.name for f in fields if f.repr)  # type: ignore[attr-defined]
    return cls


def _init_function(cls: type, fields: tuple[dataclasses.Field, ...], frozen: bool) -> Callable:
    """`cls.__init__`, compiled from source as `dataclass` writes it: one `exec` per class."""
    namespace: dict[str, Any] = {"__no_argument": _NO_ARGUMENT, "__set": object.__setattr__}
    parameters, body = ["self"], []
    for f in fields:
        namespace[f"__default_{f.name}"] = f.default
        namespace[f"__factory_{f.name}"] = f.default_factory
        parameter, value = _init_parts(f)
        if parameter is not None:
            if "=" not in parameter and "=" in parameters[-1]:
                raise TypeError(
                    f"record {cls.__qualname__}: field {f.name!r} has no default but follows "
                    f"{parameters[-1].split('=')[0]!r}, which has one"
                )
            parameters.append(parameter)
        if value is not None:
            body.append(
                f"__set(self, {f.name!r}, {value})" if frozen else f"self.{f.name} = {value}"
            )
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    lines = "".join(f"    {line}\n" for line in body or ["pass"])
    exec(f"def __init__({', '.join(parameters)}):\n{lines}", namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _init_parts(f: dataclasses.Field) -> tuple[str | None, str | None]:
    """The `__init__` parameter for field `f` (None for `init=False`) and the expression the
    field is set to (None when `__post_init__` sets it)."""
    name = f.name
    if f.default_factory is not dataclasses.MISSING:
        made = f"__factory_{name}()"
        if not f.init:
            return None, made
        return f"{name}=__no_argument", f"{made} if {name} is __no_argument else {name}"
    if f.default is not dataclasses.MISSING:
        return (f"{name}=__default_{name}", name) if f.init else (None, f"__default_{name}")
    return (name, name) if f.init else (None, None)


def _values_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The compared fields of a record as a tuple (a tuple even for one field, as `dataclass`
    compares: `(nan,) == (nan,)` holds for the same object, `nan == nan` does not)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if not names:
        return lambda _: ()
    one = operator.attrgetter(names[0])
    return lambda value: (one(value),)


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    values = self.__record_values__
    return values(self) == values(other)


def _hash(self: Any) -> int:
    return hash(self.__record_values__(self))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_shown__)
    return f"{type(self).__qualname__}({shown})"


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
