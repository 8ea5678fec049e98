"""`aidjit.records.record` behaves as the dataclass it replaces: each case defines the same class
with `record` and with `dataclasses.dataclass` and compares what they do."""

import copy
import dataclasses
import pickle
from typing import Any

import pytest

from aidjit import records
from aidjit.records import record

NAN = float("nan")


def define(decorate: Any) -> type:
    @decorate
    class Point:
        """A point with a label, a list made per instance, and a norm set after init."""

        x: float
        y: float = 0.0
        labels: list[str] = dataclasses.field(default_factory=list)
        norm: float = dataclasses.field(init=False, compare=False, repr=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "norm", abs(self.x) + abs(self.y))

    return Point


@record
class Stamp:
    """A module-level record, so pickle can find its class."""

    name: str
    count: int


RECORD, DATACLASS = define(record), define(dataclasses.dataclass(frozen=True))
INSTANCES = [((1.0,), {}), ((1.0, 2.0), {}), ((), {"x": -3.0, "labels": ["a"]}), ((NAN,), {})]


@pytest.mark.parametrize(("args", "kwargs"), INSTANCES)
def test_a_record_builds_compares_hashes_and_prints_as_a_frozen_dataclass(args, kwargs) -> None:
    ours, theirs = RECORD(*args, **kwargs), DATACLASS(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert repr(dataclasses.asdict(ours)) == repr(dataclasses.asdict(theirs))
    assert repr(ours.norm) == repr(theirs.norm)
    assert (ours == ours) == (theirs == theirs)  # a NaN field: the same object compares equal
    same = RECORD(*args, **kwargs)
    assert (ours == same) == (theirs == DATACLASS(*args, **kwargs))
    if "labels" not in kwargs:  # the factory runs per instance
        assert RECORD(*args, **kwargs).labels is not ours.labels


def test_equality_is_by_class_and_compared_fields() -> None:
    assert RECORD(1.0, 2.0, ["a"]) == RECORD(1.0, 2.0, ["a"])
    assert RECORD(1.0, 2.0) != RECORD(1.0, 3.0)
    assert RECORD(1.0) != DATACLASS(1.0)  # another class, even with the same fields
    hashable = record(type("Pair", (), {"__annotations__": {"a": int, "b": str}}))
    assert hash(hashable(1, "x")) == hash(hashable(1, "x"))
    assert {hashable(1, "x"), hashable(1, "x"), hashable(2, "x")} == {
        hashable(1, "x"),
        hashable(2, "x"),
    }


def test_a_record_is_frozen() -> None:
    point = RECORD(1.0)
    for change in (lambda: setattr(point, "x", 2.0), lambda: delattr(point, "y")):
        with pytest.raises(dataclasses.FrozenInstanceError, match="field"):
            change()
    assert point.x == 1.0


def test_dataclass_helpers_see_a_dataclass() -> None:
    point = RECORD(1.0, 2.0, ["a"])
    assert dataclasses.is_dataclass(RECORD)
    assert [f.name for f in dataclasses.fields(RECORD)] == ["x", "y", "labels", "norm"]
    moved = dataclasses.replace(point, y=5.0)
    assert (moved.x, moved.y, moved.labels, moved.norm) == (1.0, 5.0, ["a"], 6.0)
    assert RECORD.__match_args__ == DATACLASS.__match_args__
    assert copy.deepcopy(point) == point
    stamp = Stamp("t", 3)
    assert pickle.loads(pickle.dumps(stamp)) == stamp


def test_methods_a_class_defines_are_kept() -> None:
    @record
    class Named:
        """Hashes and prints its own way."""

        name: str

        def __hash__(self) -> int:
            return 7

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert hash(Named("a")) == 7 and repr(Named("a")) == "<a>" and Named("a") == Named("a")

    @record
    class Folded:
        """Equal whatever the case, and hashed by the fields, as a frozen dataclass would be."""

        name: str

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Folded) and self.name.lower() == other.name.lower()

    assert Folded("A") == Folded("a") and hash(Folded("a")) == hash(Folded("a"))


def test_a_mutable_record_is_compared_by_value_and_not_hashable() -> None:
    ours = record(frozen=False)(type("Counter", (), {"__annotations__": {"count": int}}))
    theirs = dataclasses.dataclass(type("Counter", (), {"__annotations__": {"count": int}}))
    counter = ours(1)
    counter.count += 1
    assert counter == ours(2) and repr(counter) == repr(theirs(2))
    assert ours.__hash__ is None and theirs.__hash__ is None


def test_a_record_without_eq_is_compared_by_identity() -> None:
    node = record(frozen=False, eq=False)(type("Node", (), {"__annotations__": {"value": int}}))
    one = node(1)
    assert one != node(1) and one == one and hash(one) == object.__hash__(one)


def test_an_undocumented_record_is_described_by_its_fields() -> None:
    plain = record(type("Plain", (), {"__annotations__": {"a": int, "b": int}}))
    assert plain.__doc__ == "Plain(a, b)"


def test_only_init_is_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `record` is for: one `exec` per class where a frozen dataclass runs six."""
    compiled: list[str] = []
    original = exec

    def counting_exec(source: str, *namespaces: Any) -> None:
        compiled.append(source.split("(")[0])
        original(source, *namespaces)

    monkeypatch.setattr(records, "exec", counting_exec, raising=False)
    define(record)
    assert compiled == ["def __init__"]


def test_what_a_record_cannot_be_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="field 'b' has no default but follows 'a'"):
        record(type("Bad", (), {"__annotations__": {"a": int, "b": int}, "a": 1}))
    with pytest.raises(TypeError, match="InitVar fields are not supported"):
        record(type("Init", (), {"__annotations__": {"a": dataclasses.InitVar[int]}}))
    with pytest.raises(TypeError, match="keyword-only fields are not supported"):
        record(type("Keyword", (), {"__annotations__": {"a": dataclasses.KW_ONLY, "b": int}}))
    with pytest.raises(ValueError, match="mutable default"):
        record(type("Shared", (), {"__annotations__": {"a": list}, "a": []}))
