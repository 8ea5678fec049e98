"""Each layer eagerly: forward against a numpy reference (f32, f64), output_shape against the
result, gradients with respect to parameters and input against central finite differences
(f64). Parameters and state are random, not the initial ones, so weights and biases matter."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import aidjit
from aidjit import nn, tree_util
from tests.nn import references as ref

Reference = Callable[[dict, dict, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], nn.Layer]
    shape: tuple[int, ...]
    reference: Reference
    training: bool = False
    classes: int = 0
    """An int input of indices below this (Embedding); 0: a float input."""
    new_state: Callable[[dict, np.ndarray], dict] | None = field(default=None)
    """The state `apply` must return, when it changes it."""


def running_update(state: dict, x: np.ndarray) -> dict:
    """torch's update of the running statistics: momentum 0.1, unbiased batch variance."""
    mean, var, count = ref.batch_statistics(x)
    return {
        "running_mean": 0.9 * state["running_mean"] + 0.1 * mean,
        "running_var": 0.9 * state["running_var"] + 0.1 * var * count / (count - 1),
    }


def batch_norm_training(p: dict, s: dict, x: np.ndarray) -> np.ndarray:
    mean, var, _ = ref.batch_statistics(x)
    return ref.batch_norm(x, p["weight"], p["bias"], mean, var)


def batch_norm_inference(p: dict, s: dict, x: np.ndarray) -> np.ndarray:
    return ref.batch_norm(x, p["weight"], p["bias"], s["running_mean"], s["running_var"])


def activation_case(name: str) -> Case:
    options, formula = ref.ACTIVATIONS[name]
    cls = getattr(nn, name)
    return Case(name.lower(), lambda: cls(**options), (2, 3, 4), lambda p, s, x: formula(x))


CASES = [
    Case("dense", lambda: nn.Dense(4, 3), (2, 4), lambda p, s, x: x @ p["weight"] + p["bias"]),
    Case("dense_rank3_no_bias", lambda: nn.Dense(4, 3, bias=False), (2, 3, 4),
         lambda p, s, x: x @ p["weight"]),
    Case("dense_rank1", lambda: nn.Dense(4, 2), (4,), lambda p, s, x: x @ p["weight"] + p["bias"]),
    Case("conv2d_stride_pad", lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 2, 5, 6),
         lambda p, s, x: ref.conv2d(x, p["weight"], p["bias"], (2, 2), (1, 1))),
    Case("conv2d_groups_dilation",
         lambda: nn.Conv2d(4, 2, (2, 3), padding=(1, 0), dilation=(2, 1), groups=2, bias=False),
         (1, 4, 5, 5),
         lambda p, s, x: ref.conv2d(x, p["weight"], None, (1, 1), (1, 0), (2, 1), groups=2)),
    Case("conv2d_same", lambda: nn.Conv2d(2, 2, 3, padding="same"), (1, 2, 4, 4),
         lambda p, s, x: ref.conv2d(x, p["weight"], p["bias"], padding=(1, 1))),
    Case("batch_norm1d", lambda: nn.BatchNorm1d(3), (4, 3), batch_norm_inference),
    Case("batch_norm1d_ncl_training", lambda: nn.BatchNorm1d(3), (3, 3, 2), batch_norm_training,
         training=True, new_state=running_update),
    Case("batch_norm2d", lambda: nn.BatchNorm2d(2), (2, 2, 2, 3), batch_norm_inference),
    Case("batch_norm2d_training", lambda: nn.BatchNorm2d(2), (2, 2, 2, 3), batch_norm_training,
         training=True, new_state=running_update),
    Case("layer_norm", lambda: nn.LayerNorm(4), (2, 3, 4),
         lambda p, s, x: ref.normalize(x, -1) * p["weight"] + p["bias"]),
    Case("layer_norm_two_axes", lambda: nn.LayerNorm((3, 4)), (2, 3, 4),
         lambda p, s, x: ref.normalize(x, (1, 2)) * p["weight"] + p["bias"]),
    Case("layer_norm_no_affine", lambda: nn.LayerNorm((3, 4), elementwise_affine=False), (2, 3, 4),
         lambda p, s, x: ref.normalize(x, (1, 2))),
    Case("group_norm", lambda: nn.GroupNorm(2, 4), (2, 4, 2, 3),
         lambda p, s, x: ref.group_norm(x, 2, p["weight"], p["bias"])),
    Case("max_pool2d", lambda: nn.MaxPool2d(2), (2, 2, 4, 5),
         lambda p, s, x: ref.max_pool2d(x, (2, 2), (2, 2))),
    Case("max_pool2d_padding_ceil", lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
         (1, 2, 6, 6), lambda p, s, x: ref.max_pool2d(x, (3, 3), (2, 2), (1, 1), ceil_mode=True)),
    Case("max_pool2d_dilation", lambda: nn.MaxPool2d(2, stride=1, dilation=2), (1, 2, 5, 4),
         lambda p, s, x: ref.max_pool2d(x, (2, 2), (1, 1), dilation=(2, 2))),
    Case("avg_pool2d", lambda: nn.AvgPool2d((2, 3), stride=(2, 1)), (2, 2, 4, 5),
         lambda p, s, x: ref.avg_pool2d(x, (2, 3), (2, 1))),
    Case("avg_pool2d_padding_excluded",
         lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (1, 2, 5, 5),
         lambda p, s, x: ref.avg_pool2d(x, (3, 3), (2, 2), (1, 1), count_include_pad=False)),
    Case("global_avg_pool2d", lambda: nn.GlobalAvgPool2d(), (2, 3, 2, 3),
         lambda p, s, x: x.mean(axis=(2, 3), keepdims=True)),
    Case("global_avg_pool2d_flat", lambda: nn.GlobalAvgPool2d(keepdims=False), (2, 3, 2, 3),
         lambda p, s, x: x.mean(axis=(2, 3))),
    Case("flatten", lambda: nn.Flatten(), (2, 3, 2, 2), lambda p, s, x: x.reshape(2, 12)),
    Case("flatten_middle", lambda: nn.Flatten(1, 2), (2, 3, 2, 2),
         lambda p, s, x: x.reshape(2, 6, 2)),
    Case("reshape", lambda: nn.Reshape((2, -1)), (2, 3, 4), lambda p, s, x: x.reshape(2, 2, 6)),
    Case("embedding", lambda: nn.Embedding(5, 3), (2, 3), lambda p, s, x: p["weight"][x],
         classes=5),
    Case("activation_gelu_tanh", lambda: nn.Activation("gelu", approximate="tanh"), (2, 5),
         lambda p, s, x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))),
    *[activation_case(name) for name in ref.ACTIVATIONS],
]  # fmt: skip

TOLERANCE = {np.float32: {"rtol": 1e-4, "atol": 1e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}


def randomized(case: Case, dtype: type, seed: int = 0) -> tuple[nn.Layer, dict, dict, np.ndarray]:
    """The case's layer with random parameters and state (variances positive) and an input."""
    layer = case.make()
    params, state = layer.init(seed, case.shape, dtype)
    rng = np.random.default_rng(seed + 1)
    params = tree_util.tree_map(lambda p: rng.standard_normal(p.shape).astype(dtype), params)
    state = tree_util.tree_map(lambda s: rng.uniform(0.5, 1.5, s.shape).astype(dtype), state)
    if case.classes:
        x = rng.integers(0, case.classes, case.shape).astype(np.int64)
    else:
        x = rng.standard_normal(case.shape).astype(dtype)
    return layer, params, state, x


def as_f64(tree: Any) -> Any:
    return tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def test_every_activation_class_has_a_case() -> None:
    assert sorted(cls.__name__ for cls in nn.ACTIVATION_LAYERS) == sorted(ref.ACTIVATIONS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_forward_matches_numpy(case: Case, dtype: type) -> None:
    layer, params, state, x = randomized(case, dtype)
    y, new_state = layer.apply(params, state, x, training=case.training)
    assert y.dtype == dtype
    assert y.shape == layer.output_shape(case.shape)
    xf = x if case.classes else x.astype(np.float64)
    expected = case.reference(as_f64(params), as_f64(state), xf)
    np.testing.assert_allclose(y.numpy(), expected, **TOLERANCE[dtype])
    expected_state = case.new_state(as_f64(state), xf) if case.new_state else as_f64(state)
    assert tree_util.tree_structure(new_state) == tree_util.tree_structure(state)
    leaves = zip(
        tree_util.tree_leaves(new_state), tree_util.tree_leaves(expected_state), strict=True
    )
    for got, want in leaves:
        assert np.asarray(got).dtype == dtype
        np.testing.assert_allclose(np.asarray(got), want, **TOLERANCE[dtype])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gradients_match_finite_differences(case: Case) -> None:
    layer, params, state, x = randomized(case, np.float64)
    out_shape = layer.output_shape(case.shape)
    weights = np.random.default_rng(7).uniform(0.5, 1.5, out_shape)

    def loss(params: dict, x: np.ndarray) -> Any:
        return aidjit.ops.sum(layer.apply(params, state, x, training=case.training)[0] * weights)

    argnums = (0,) if case.classes else (0, 1)
    grads = aidjit.grad(loss, argnums=argnums)(params, x)
    arguments = [params, x]
    for position, grad in zip(argnums, grads, strict=True):
        leaves, structure = tree_util.tree_flatten(arguments[position])
        grad_leaves = tree_util.tree_leaves(grad)
        assert len(grad_leaves) == len(leaves)
        for index, grad_leaf in enumerate(grad_leaves):
            numeric = finite_differences(loss, arguments, position, structure, leaves, index)
            np.testing.assert_allclose(grad_leaf, numeric, rtol=1e-5, atol=1e-7)


def finite_differences(
    loss: Callable[..., Any],
    arguments: list[Any],
    position: int,
    structure: Any,
    leaves: list[np.ndarray],
    index: int,
) -> np.ndarray:
    """Central differences of `loss` in every element of leaf `index` of argument `position`."""
    eps = 1e-6
    leaf = leaves[index]
    numeric = np.zeros_like(leaf)

    def at(shifted_leaf: np.ndarray) -> float:
        shifted = list(arguments)
        new_leaves = [*leaves[:index], shifted_leaf, *leaves[index + 1 :]]
        shifted[position] = tree_util.tree_unflatten(structure, new_leaves)
        return float(loss(*shifted).numpy())

    for element in np.ndindex(leaf.shape):
        plus, minus = leaf.copy(), leaf.copy()
        plus[element] += eps
        minus[element] -= eps
        numeric[element] = (at(plus) - at(minus)) / (2 * eps)
    return numeric
