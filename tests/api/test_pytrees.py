"""Pytrees: aidjit.tree_util itself, and nested arguments and results of jit and compile."""

import dataclasses
from typing import NamedTuple

import numpy as np
import pytest

import aidjit
from aidjit import ops
from aidjit.tree_util import (
    PyTreeDef,
    keystr,
    register_dataclass,
    register_pytree_node,
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)


class Pair(NamedTuple):
    first: object
    second: object


@register_dataclass
@dataclasses.dataclass
class Linear:
    w: object
    b: object


@dataclasses.dataclass
class Scaled:
    value: object
    scale: float


register_dataclass(Scaled, data_fields=["value"], meta_fields=["scale"])


class Box:
    """A custom node registered with explicit flatten/unflatten functions."""

    def __init__(self, items: list, tag: str) -> None:
        self.items, self.tag = items, tag


register_pytree_node(Box, lambda b: (b.items, b.tag), lambda tag, items: Box(list(items), tag))

TREE = {"z": [1, (2, None)], "a": Pair(3, 4), "m": Linear(5, 6), "s": Scaled(7, 0.5)}


def test_flatten_order_and_roundtrip() -> None:
    leaves, structure = tree_flatten(TREE)
    assert leaves == [3, 4, 5, 6, 7, 1, 2]  # dict keys sorted, None has no leaves
    assert structure.num_leaves == 7
    rebuilt = tree_unflatten(structure, leaves)
    assert rebuilt["z"] == [1, (2, None)] and rebuilt["a"] == Pair(3, 4)
    assert rebuilt["m"] == Linear(5, 6) and rebuilt["s"] == Scaled(7, 0.5)
    assert tree_leaves(TREE) == leaves


def test_paths() -> None:
    paths = [keystr(path) for path, _ in tree_flatten_with_path(TREE)[0]]
    assert paths == [
        "['a'].first",
        "['a'].second",
        "['m'].w",
        "['m'].b",
        "['s'].value",
        "['z'][0]",
        "['z'][1][0]",
    ]


def test_structure_is_hashable_and_compares_meta_data() -> None:
    assert tree_structure(TREE) == tree_structure(tree_map(float, TREE))
    assert hash(tree_structure(TREE)) == hash(tree_structure(tree_map(float, TREE)))
    assert tree_structure(Scaled(1, 0.5)) != tree_structure(Scaled(1, 0.25))
    assert tree_structure({"a": 1}) != tree_structure({"b": 1})
    assert tree_structure((1, 2)) != tree_structure([1, 2])
    assert str(tree_structure({"w": 1, "b": (2, None)})) == "{'b': (*, None), 'w': *}"
    assert isinstance(tree_structure(1), PyTreeDef)


def test_tree_map_several_trees_and_custom_nodes() -> None:
    boxed = Box([1, {"k": 2}], "t")
    doubled = tree_map(lambda x, y: x + y, boxed, boxed)
    assert doubled.items == [2, {"k": 4}] and doubled.tag == "t"
    with pytest.raises(ValueError, match="structure"):
        tree_map(lambda x, y: x, [1, 2], [1, 2, 3])
    assert tree_map(lambda x: x * 10, [1, (2,)], is_leaf=lambda n: isinstance(n, tuple)) == [
        10,
        (2, 2, 2, 2, 2, 2, 2, 2, 2, 2),
    ]


def test_registering_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_pytree_node(Box, lambda b: ((), None), lambda _, __: Box([], ""))


def mlp(params, batch):
    hidden = ops.relu(batch["x"] @ params[0].w + params[0].b)
    out = hidden @ params[1].w + params[1].b
    return {"out": out, "stats": Pair(ops.mean(out), None)}


def make_params(dtype: type) -> list[Linear]:
    rng = np.random.default_rng(1)
    return [
        Linear(rng.standard_normal((3, 4)).astype(dtype), np.zeros(4, dtype)),
        Linear(rng.standard_normal((4, 2)).astype(dtype), np.ones(2, dtype)),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", ["c", "interpreter"])
def test_compile_takes_and_returns_pytrees(dtype: type, backend: str) -> None:
    params = make_params(dtype)
    batch = {"x": np.random.default_rng(2).standard_normal((5, 3)).astype(dtype)}
    compiled = aidjit.compile(mlp, params, batch, backend=backend)
    result = compiled(params, batch)
    expected = mlp(
        [Linear(aidjit.Tensor(p.w), aidjit.Tensor(p.b)) for p in params],
        {"x": aidjit.Tensor(batch["x"])},
    )
    np.testing.assert_allclose(result["out"], expected["out"].numpy(), rtol=1e-5)
    assert isinstance(result["stats"], Pair) and result["stats"].second is None
    assert result["out"].dtype == dtype
    graph = compiled.ir("graph")
    for name in ("params_0_w", "params_1_b", "batch_x"):
        assert f"%{name}: tensor<" in graph


def test_compiled_call_with_another_structure_is_an_error() -> None:
    compiled = aidjit.compile(lambda p: ops.sum(p["w"]), {"w": np.ones(2)})
    with pytest.raises(
        aidjit.ArgumentCountError,
        match=r"structured as p=\{'w': \*\}; got 1 structured as p=\{'v': \*\}",
    ):
        compiled({"v": np.ones(2)})


def test_jit_cache_key_includes_the_tree_structure() -> None:
    @aidjit.jit
    def total(tree):
        return sum(ops.sum(leaf) for leaf in aidjit.tree_util.tree_leaves(tree))

    one = np.ones(2)
    assert total({"a": one, "b": one}) == 4.0
    assert total({"a": one, "c": one}) == 4.0
    assert total([one, one]) == 4.0
    assert total({"a": one, "b": one}) == 4.0
    assert len(total.versions()) == 3
    assert "tree structure of 'tree' changed" in total.versions()[1].reason


def test_namedtuple_and_none_arguments() -> None:
    @aidjit.jit
    def f(pair, nothing, x):
        assert nothing is None
        return Pair(pair.first * x, pair.second + x)

    out = f(Pair(np.ones(2), np.zeros(2)), None, np.full(2, 3.0))
    assert isinstance(out, Pair)
    np.testing.assert_array_equal(out.first, [3.0, 3.0])


def test_static_meta_fields_are_part_of_the_key() -> None:
    @aidjit.jit
    def apply(s):
        return s.value * s.scale

    np.testing.assert_array_equal(apply(Scaled(np.ones(2), 0.5)), [0.5, 0.5])
    np.testing.assert_array_equal(apply(Scaled(np.ones(2), 2.0)), [2.0, 2.0])
    assert len(apply.versions()) == 2


def test_unsupported_leaf_names_its_path() -> None:
    with pytest.raises(aidjit.DTypeError, match=r"argument cfg\['mode'\] is a str"):
        aidjit.jit(lambda cfg: cfg["x"])({"x": np.ones(2), "mode": "fast"})
    with pytest.raises(aidjit.DTypeError, match=r"argument p\[0\]: dtype int32"):
        aidjit.jit(lambda p: p[0])([np.ones(2, np.int32)])
