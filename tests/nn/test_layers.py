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
    inputs: Callable[[np.random.Generator, type], Any] | None = None
    """The input of a layer of several inputs (a tuple or dict of arrays) in a dtype; `shape`
    is then the same tuple or dict of shapes (see `structured_case`)."""


def structured_case(
    id_: str, make: Callable[[], nn.Layer], inputs: Callable[..., Any], reference: Reference
) -> Case:
    """A case whose input is the tuple or dict `inputs(rng, dtype)` draws."""
    shape = nn.module.shape_of(inputs(np.random.default_rng(0), np.float64))
    return Case(id_, make, shape, reference, inputs=inputs)


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


def graph_inputs(edges: int) -> Callable[[np.random.Generator, type], tuple]:
    """Features of 5 nodes and an int64 edge list of `edges` edges (repeats included), or
    with 0 a dense adjacency in [0, 1) (non-negative: the degrees' rsqrt stays real)."""

    def make(rng: np.random.Generator, dtype: type) -> tuple:
        x = rng.standard_normal((5, 3)).astype(dtype)
        if edges:
            return x, np.concatenate([rng.integers(0, 5, (2, edges - 1)), [[1], [2]]], axis=1)
        return x, rng.uniform(0.0, 1.0, (5, 5)).astype(dtype)

    return make


def cross_attention_inputs(rng: np.random.Generator, dtype: type) -> dict:
    """Query, key and value of other widths, a bool key padding mask and a float attn_mask."""
    padding = rng.random((2, 4)) < 0.5
    padding[:, 0] = False  # a query with every key masked gives NaN, as in torch
    return {
        "query": rng.standard_normal((2, 3, 4)).astype(dtype),
        "key": rng.standard_normal((2, 4, 3)).astype(dtype),
        "value": rng.standard_normal((2, 4, 5)).astype(dtype),
        "key_padding_mask": padding,
        "attn_mask": rng.standard_normal((3, 4)).astype(dtype),
    }


def per_head_mask_inputs(rng: np.random.Generator, dtype: type) -> dict:
    """Query and key (the value defaults to it) and an int64 mask per batch entry and head."""
    mask = (rng.random((4, 3, 5)) < 0.5).astype(np.int64)
    mask[..., 0] = 0
    return {
        "query": rng.standard_normal((2, 3, 4)).astype(dtype),
        "key": rng.standard_normal((2, 5, 4)).astype(dtype),
        "attn_mask": mask,
    }


def attention(heads: int) -> Reference:
    """The reference of MultiHeadAttention with `heads` heads on any of its input forms."""

    def reference(p: dict, s: dict, x: Any) -> np.ndarray:
        named = x if isinstance(x, dict) else {"query": x}
        query = named["query"]
        key = named.get("key", query)
        masks = []
        if "key_padding_mask" in named:
            masks.append(named["key_padding_mask"][:, None, None, :])
        if "attn_mask" in named:
            mask = named["attn_mask"]
            mask = mask.astype(bool) if mask.dtype.kind == "i" else mask
            masks.append(
                mask.reshape(len(query), heads, *mask.shape[1:]) if mask.ndim == 3 else mask
            )
        return ref.multi_head_attention(p, query, key, named.get("value", key), heads, masks)

    return reference


def spatial_transformer(
    localization: Callable[[dict, np.ndarray], np.ndarray],
    output_size: tuple[int, int] | None = None,
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> Reference:
    """The reference of a SpatialTransformer whose localization computes `localization`."""

    def reference(p: dict, s: dict, x: np.ndarray) -> np.ndarray:
        features = localization(p, x).reshape(len(x), -1)
        theta = (features @ p["theta"]["weight"] + p["theta"]["bias"]).reshape(-1, 2, 3)
        size = (*x.shape[:2], *(output_size or x.shape[2:]))
        grid = ref.affine_grid(theta, size, align_corners)
        return ref.grid_sample(x, grid, padding_mode, align_corners)

    return reference


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
    Case("conv_transpose2d_stride_output_padding",
         lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1), (2, 2, 3, 4),
         lambda p, s, x: ref.conv_transpose2d(x, p["weight"], p["bias"], (2, 2), (1, 1), (1, 1))),
    Case("conv_transpose2d_groups_dilation",
         lambda: nn.ConvTranspose2d(4, 2, (2, 3), stride=(1, 2), padding=(1, 0),
                                    output_padding=1, groups=2, bias=False, dilation=(2, 1)),
         (1, 4, 3, 3),
         lambda p, s, x: ref.conv_transpose2d(x, p["weight"], None, (1, 2), (1, 0), (1, 1),
                                              (2, 1), groups=2)),
    Case("depthwise_conv2d_multiplier",
         lambda: nn.DepthwiseConv2d(3, 3, depth_multiplier=2, stride=2, padding=1), (2, 3, 5, 5),
         lambda p, s, x: ref.conv2d(x, p["weight"], p["bias"], (2, 2), (1, 1), groups=3)),
    Case("locally_connected2d",
         lambda: nn.LocallyConnected2d(2, 3, (2, 3), stride=(1, 2), padding=1), (2, 2, 3, 5),
         lambda p, s, x: ref.locally_connected2d(x, p["weight"], p["bias"], (1, 2), (1, 1))),
    Case("upsample_nearest_factor", lambda: nn.Upsample(scale_factor=2), (2, 2, 3, 4),
         lambda p, s, x: ref.upsample_nearest(x, (6, 8), (2.0, 2.0))),
    Case("upsample_nearest_size", lambda: nn.Upsample(size=(5, 7)), (1, 2, 3, 4),
         lambda p, s, x: ref.upsample_nearest(x, (5, 7), (None, None))),
    Case("upsample_bilinear", lambda: nn.Upsample(scale_factor=(2, 1.5), mode="bilinear"),
         (1, 2, 3, 4), lambda p, s, x: ref.upsample_linear(x, (6, 6), (2.0, 1.5), False)),
    Case("upsample_bilinear_align_corners",
         lambda: nn.Upsample(size=(5, 6), mode="bilinear", align_corners=True), (1, 2, 3, 4),
         lambda p, s, x: ref.upsample_linear(x, (5, 6), (None, None), True)),
    Case("pixel_shuffle", lambda: nn.PixelShuffle(2), (2, 8, 2, 3),
         lambda p, s, x: ref.pixel_shuffle(x, 2)),
    Case("pixel_unshuffle", lambda: nn.PixelUnshuffle(2), (2, 2, 4, 6),
         lambda p, s, x: ref.pixel_unshuffle(x, 2)),
    structured_case("graph_conv_dense", lambda: nn.GraphConv(3, 4), graph_inputs(0),
                    lambda p, s, x: ref.graph_conv(*x, p["weight"], p["bias"])),
    structured_case("graph_conv_edge_list", lambda: nn.GraphConv(3, 2, bias=False),
                    graph_inputs(8), lambda p, s, x: ref.graph_conv(*x, p["weight"], None)),
    Case("rbf", lambda: nn.RBF(3, 4), (2, 3, 3),
         lambda p, s, x: ref.rbf(x, p["centers"], p["log_sigma"])),
    Case("spatial_transformer",
         lambda: nn.SpatialTransformer(nn.Sequential(nn.Flatten(), nn.Dense(40, 3), nn.Tanh())),
         (2, 2, 4, 5),
         spatial_transformer(lambda p, x: np.tanh(
             x.reshape(len(x), -1) @ p["sequential"]["dense"]["weight"]
             + p["sequential"]["dense"]["bias"]))),
    Case("spatial_transformer_border_output_size",
         lambda: nn.SpatialTransformer(nn.GlobalAvgPool2d(keepdims=False), output_size=(3, 2),
                                       padding_mode="border", align_corners=True),
         (2, 2, 4, 5),
         spatial_transformer(lambda p, x: x.mean(axis=(2, 3)), (3, 2), "border", True)),
    Case("multi_head_attention_self", lambda: nn.MultiHeadAttention(4, 2), (2, 3, 4),
         attention(2)),
    structured_case("multi_head_attention_cross_masks",
                    lambda: nn.MultiHeadAttention(4, 2, kdim=3, vdim=5),
                    cross_attention_inputs, attention(2)),
    structured_case("multi_head_attention_per_head_mask_no_bias",
                    lambda: nn.MultiHeadAttention(4, 2, bias=False), per_head_mask_inputs,
                    attention(2)),
]  # fmt: skip

TOLERANCE = {np.float32: {"rtol": 1e-4, "atol": 1e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}


def randomized(case: Case, dtype: type, seed: int = 0) -> tuple[nn.Layer, dict, dict, np.ndarray]:
    """The case's layer with random parameters and state (variances positive) and an input."""
    layer = case.make()
    params, state = layer.init(seed, case.shape, dtype)
    rng = np.random.default_rng(seed + 1)
    params = tree_util.tree_map(lambda p: rng.standard_normal(p.shape).astype(dtype), params)
    state = tree_util.tree_map(lambda s: rng.uniform(0.5, 1.5, s.shape).astype(dtype), state)
    if case.inputs:
        x = case.inputs(rng, dtype)
    elif case.classes:
        x = rng.integers(0, case.classes, case.shape).astype(np.int64)
    else:
        x = rng.standard_normal(case.shape).astype(dtype)
    return layer, params, state, x


def as_f64(tree: Any) -> Any:
    return tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def floats_as_f64(tree: Any) -> Any:
    """The float leaves in float64, the others (indices, masks) as they are."""
    return tree_util.tree_map(lambda a: a.astype(np.float64) if a.dtype.kind == "f" else a, tree)


def test_every_activation_class_has_a_case() -> None:
    assert sorted(cls.__name__ for cls in nn.ACTIVATION_LAYERS) == sorted(ref.ACTIVATIONS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_forward_matches_numpy(case: Case, dtype: type) -> None:
    layer, params, state, x = randomized(case, dtype)
    y, new_state = layer.apply(params, state, x, training=case.training)
    assert y.dtype == dtype
    assert y.shape == layer.output_shape(case.shape)
    xf = floats_as_f64(x)
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

    x_leaves, x_structure = tree_util.tree_flatten(x)
    floating = [index for index, leaf in enumerate(x_leaves) if leaf.dtype.kind == "f"]

    def loss(params: dict, float_leaves: list) -> Any:
        """The weighted output sum as a function of the parameters and of the input's float
        leaves (the gradient has none with respect to indices and masks)."""
        leaves = list(x_leaves)
        for index, leaf in zip(floating, float_leaves, strict=True):
            leaves[index] = leaf
        x = tree_util.tree_unflatten(x_structure, leaves)
        return aidjit.ops.sum(layer.apply(params, state, x, training=case.training)[0] * weights)

    arguments = [params, [x_leaves[index] for index in floating]]
    argnums = (0, 1) if floating else (0,)
    grads = aidjit.grad(loss, argnums=argnums)(*arguments)
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
