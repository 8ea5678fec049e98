"""The layer framework: initialisation (seeds, PyTorch's initialisers), containers (names,
nesting, keys), the training flag, summary and errors that name the layer and the shapes."""

import math

import numpy as np
import pytest

import aidjit
from aidjit import nn, tree_util


def cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Residual(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Dense(8 * 4 * 4, 10),
    )


def leaves_equal(a: object, b: object) -> bool:
    return tree_util.tree_structure(a) == tree_util.tree_structure(b) and all(
        np.array_equal(x, y)
        for x, y in zip(tree_util.tree_leaves(a), tree_util.tree_leaves(b), strict=True)
    )


# ----- initialisation -----------------------------------------------------------------------


def test_init_is_deterministic_per_seed_and_dtype() -> None:
    params, state = cnn().init(3, (2, 3, 8, 8))
    again, again_state = cnn().init(3, (2, 3, 8, 8))
    assert leaves_equal(params, again) and leaves_equal(state, again_state)
    other, _ = cnn().init(4, (2, 3, 8, 8))
    assert not np.array_equal(other["dense"]["weight"], params["dense"]["weight"])
    wide, _ = cnn().init(3, (2, 3, 8, 8), np.float64)
    assert all(leaf.dtype == np.float64 for leaf in tree_util.tree_leaves(wide))
    assert all(leaf.dtype == np.float32 for leaf in tree_util.tree_leaves(params))
    for narrow, double in zip(
        tree_util.tree_leaves(params), tree_util.tree_leaves(wide), strict=True
    ):
        np.testing.assert_array_equal(narrow, double.astype(np.float32))


def test_children_draw_from_their_own_streams() -> None:
    """A child's parameters depend on its position, not on its siblings' draws."""
    short, _ = nn.Sequential(nn.Dense(4, 4), nn.Dense(4, 2)).init(0, (1, 4))
    longer, _ = nn.Sequential(nn.Dense(4, 4), nn.Dense(4, 2), nn.Dense(2, 2)).init(0, (1, 4))
    bigger_first, _ = nn.Sequential(nn.Dense(4, 4, bias=False), nn.Dense(4, 2)).init(0, (1, 4))
    assert leaves_equal(short["dense"], longer["dense"])
    assert leaves_equal(short["dense_1"], longer["dense_1"])
    assert leaves_equal(short["dense_1"], bigger_first["dense_1"])
    alone, _ = nn.Dense(4, 4).init(
        np.random.default_rng(np.random.SeedSequence(0).spawn(1)[0]), (1, 4)
    )
    assert leaves_equal(alone, short["dense"])


def test_a_generator_seed_advances() -> None:
    rng = np.random.default_rng(0)
    first, _ = nn.Dense(3, 3).init(rng, (1, 3))
    second, _ = nn.Dense(3, 3).init(rng, (1, 3))
    assert not np.array_equal(first["weight"], second["weight"])


@pytest.mark.parametrize(
    ("layer", "shape", "name", "fan_in"),
    [
        (nn.Dense(200, 300), (1, 200), "weight", 200),
        (nn.Dense(200, 3000), (1, 200), "bias", 200),
        (nn.Conv2d(32, 64, 3), (1, 32, 5, 5), "weight", 32 * 9),
        (nn.Conv2d(32, 64, (3, 5), groups=4), (1, 32, 5, 5), "weight", 8 * 15),
        (nn.Conv2d(32, 3000, 3, groups=2), (1, 32, 5, 5), "bias", 16 * 9),
    ],
)
def test_dense_and_conv_init_as_pytorch(
    layer: nn.Layer, shape: tuple, name: str, fan_in: int
) -> None:
    """kaiming_uniform(a=sqrt(5)) and the bias both give U(-1/sqrt(fan_in), 1/sqrt(fan_in)):
    within the bound, and a uniform's standard deviation bound / sqrt(3)."""
    values = layer.init(0, shape)[0][name]
    bound = 1.0 / math.sqrt(fan_in)
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.99 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert abs(values.mean()) < 0.03 * bound


def test_norm_and_embedding_init_as_pytorch() -> None:
    params, state = nn.BatchNorm2d(5).init(0, (2, 5, 3, 3))
    assert (params["weight"] == 1).all() and (params["bias"] == 0).all()
    assert (state["running_mean"] == 0).all() and (state["running_var"] == 1).all()
    for layer, shape in [(nn.LayerNorm((2, 3)), (4, 2, 3)), (nn.GroupNorm(2, 4), (1, 4, 2))]:
        params, state = layer.init(0, shape)
        assert (params["weight"] == 1).all() and (params["bias"] == 0).all() and state == {}
    weight = nn.Embedding(1000, 100).init(0, (2, 3))[0]["weight"]
    assert weight.shape == (1000, 100)
    assert abs(weight.std() - 1.0) < 0.01 and abs(weight.mean()) < 0.01
    assert nn.BatchNorm1d(3, affine=False).init(0, (2, 3))[0] == {}


# ----- containers ---------------------------------------------------------------------------


def test_container_params_are_nested_dicts_under_unique_names() -> None:
    model = nn.Sequential(
        nn.Dense(4, 4),
        nn.ReLU(),
        nn.Dense(4, 4, name="hidden"),
        nn.Concat(nn.Dense(4, 2), nn.Dense(4, 3), axis=-1),
        nn.Dense(5, 5),
        nn.Add(nn.Residual(nn.Dense(5, 5)), nn.Sequential(nn.Dense(5, 5), nn.Tanh())),
    )
    params, state = model.init(0, (2, 4))
    assert tree_util.tree_structure(params) == tree_util.tree_structure(
        {
            "dense": {"weight": 0, "bias": 0},
            "relu": {},
            "hidden": {"weight": 0, "bias": 0},
            "concat": {"dense": {"weight": 0, "bias": 0}, "dense_1": {"weight": 0, "bias": 0}},
            "dense_1": {"weight": 0, "bias": 0},
            "add": {
                "residual": {"dense": {"weight": 0, "bias": 0}},
                "sequential": {"dense": {"weight": 0, "bias": 0}, "tanh": {}},
            },
        }
    )
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    add = model.layers[-1]
    h = np.maximum(x @ params["dense"]["weight"] + params["dense"]["bias"], 0)
    h = h @ params["hidden"]["weight"] + params["hidden"]["bias"]
    branches = [
        h @ params["concat"][k]["weight"] + params["concat"][k]["bias"]
        for k in ("dense", "dense_1")
    ]
    h = np.concatenate(branches, axis=-1)
    h = h @ params["dense_1"]["weight"] + params["dense_1"]["bias"]
    inner = params["add"]["residual"]["dense"]
    second = params["add"]["sequential"]["dense"]
    expected = (h + h @ inner["weight"] + inner["bias"]) + np.tanh(
        h @ second["weight"] + second["bias"]
    )
    y, new_state = model.apply(params, state, x)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert new_state == state and isinstance(add, nn.Add)
    assert model(x).shape == (2, 5)


def test_explicit_duplicate_names_and_reused_layers_are_rejected() -> None:
    with pytest.raises(aidjit.ArgumentValueError, match="two children are named 'a'"):
        nn.Sequential(nn.ReLU(name="a"), nn.Tanh(name="a"))
    relu = nn.ReLU()
    with pytest.raises(aidjit.ArgumentValueError, match="appears twice"):
        nn.Sequential(relu, relu)
    with pytest.raises(aidjit.ArgumentValueError, match="aidjit.nn layers"):
        nn.Sequential(nn.ReLU(), np.tanh)
    # An auto name steps around explicit names, wherever they stand.
    model = nn.Sequential(nn.ReLU(), nn.ReLU(), nn.Tanh(name="relu_1"))
    assert [layer.name for layer in model.layers] == ["relu", "relu_2", "relu_1"]


def test_keys_are_split_among_children() -> None:
    """Two dropouts get different masks from one key; the same key gives the same masks."""
    model = nn.Concat(nn.Dropout(0.5), nn.Dropout(0.5), axis=1)
    params, state = model.init(0, (4, 64))
    x = np.ones((4, 64), np.float32)
    y, _ = model.apply(params, state, x, training=True, key=aidjit.random.key(0))
    first, second = y.numpy()[:, :64], y.numpy()[:, 64:]
    assert not np.array_equal(first, second)
    again, _ = model.apply(params, state, x, training=True, key=aidjit.random.key(0))
    np.testing.assert_array_equal(again.numpy(), y.numpy())


# ----- training flag ------------------------------------------------------------------------


def test_dropout_is_active_only_in_training() -> None:
    layer = nn.Dropout(0.25)
    layer.init(0, (50, 40))
    x = np.random.default_rng(0).standard_normal((50, 40)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    y, _ = layer.apply({}, {}, x, training=True, key=aidjit.random.key(1))
    y = y.numpy()
    dropped = y == 0
    assert 0.2 < dropped.mean() < 0.3
    np.testing.assert_allclose(y[~dropped], x[~dropped] / 0.75, rtol=1e-6)
    with pytest.raises(
        aidjit.ArgumentValueError, match=r"Dropout 'dropout': training .* needs a key"
    ):
        layer.apply({}, {}, x, training=True)
    assert nn.Dropout(0.0).apply({}, {}, x, training=True)[0] is not None


def test_batch_norm_uses_running_statistics_in_inference_and_updates_them_in_training() -> None:
    layer = nn.BatchNorm1d(3)
    params, state = layer.init(0, (8, 3))
    x = np.random.default_rng(0).normal(5.0, 2.0, (8, 3)).astype(np.float32)
    inferred, same = layer.apply(params, state, x)
    np.testing.assert_allclose(inferred.numpy(), x / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert same is state
    trained, new_state = layer.apply(params, state, x, training=True)
    np.testing.assert_allclose(trained.numpy().mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(new_state["running_mean"].numpy(), 0.1 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(
        new_state["running_var"].numpy(), 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-5
    )
    assert layer.state is state  # apply is pure: the layer's own state did not change


# ----- summary ------------------------------------------------------------------------------


def test_summary_counts_parameters_and_state() -> None:
    model = cnn()
    params, _ = model.init(0, (2, 3, 8, 8))
    text = model.summary()
    conv, residual_conv, dense = 3 * 8 * 9 + 8, 8 * 8 * 9 + 8, 128 * 10 + 10
    total = conv + 2 * 8 + residual_conv + dense
    assert total == sum(leaf.size for leaf in tree_util.tree_leaves(params))
    lines = text.splitlines()
    row: dict[str, list[str]] = {}
    for line in lines[2:-4]:  # the outermost layer of each name
        row.setdefault(line.split()[0], line.split())
    assert row["sequential"][-2:] == [f"{total:,}", "16"]
    assert row["conv2d"][-2:] == [str(conv), "0"] and "(2, 8, 8, 8)" in " ".join(row["conv2d"])
    assert row["batch_norm2d"][-2:] == ["16", "16"]
    assert row["residual"][-2:] == [str(residual_conv), "0"]
    assert row["dense"][-2:] == [f"{dense:,}", "0"] and "(2, 10)" in " ".join(row["dense"])
    assert f"Parameters: {total:,} ({total * 4:,} bytes)" in text
    assert "State values: 16" in text
    assert [line.startswith("      conv2d (Conv2d)") for line in lines].count(True) == 1  # depth 3


def test_calling_or_summarising_a_layer_without_init_names_the_fix() -> None:
    with pytest.raises(nn.NotInitializedError, match=r"Dense 'dense' has no parameters yet.*init"):
        nn.Dense(2, 2)(np.ones((1, 2), np.float32))
    with pytest.raises(nn.NotInitializedError):
        cnn().summary()


# ----- errors -------------------------------------------------------------------------------


SHAPE_ERRORS = [
    (nn.Conv2d(3, 4, 3), (2, 3, 8), r"rank 4 \[N, C, H, W\], got shape \(2, 3, 8\)"),
    (nn.Conv2d(3, 4, 3), (2, 5, 8, 8), r"3 input channels \(axis 1\), got shape \(2, 5, 8, 8\)"),
    (nn.Conv2d(3, 4, 5), (2, 3, 3, 3), r"input \(2, 3, 3, 3\) is smaller"),
    (nn.Dense(4, 2), (3, 5), r"4 input features \(axis 1\), got shape \(3, 5\)"),
    (nn.BatchNorm2d(4), (2, 4), r"rank 4 \[N, C, H, W\], got shape \(2, 4\)"),
    (nn.BatchNorm1d(4), (2, 3), r"expected 4 features \(axis 1\)"),
    (nn.LayerNorm((2, 3)), (4, 3, 2), r"expected 2 values \(axis 1\)"),
    (nn.GroupNorm(2, 4), (4,), r"rank 2 or more \[N, C, ...\]"),
    (nn.MaxPool2d(2), (2, 3, 4), r"rank 4 \[N, C, H, W\]"),
    (nn.Reshape((5, -1)), (2, 12), r"cannot reshape samples of shape \(12,\)"),
    (nn.Flatten(2, 1), (2, 3, 4), r"cannot flatten axes 2..1"),
    (nn.Residual(nn.Dense(4, 3)), (2, 4), r"Dense 'dense' maps \(2, 4\) to \(2, 3\)"),
    (nn.Add(nn.Dense(4, 3), nn.Dense(4, 2)), (2, 4), r"got dense \(2, 3\), dense_1 \(2, 2\)"),
    (nn.Concat(nn.Dense(4, 3), nn.Flatten(0)), (2, 4), r"must agree on every axis but 1"),
    (nn.Softmax(axis=2), (3, 4), r"axis 2 is out of range"),
    (nn.ConvTranspose2d(2, 4, 3), (1, 3, 4, 4), r"2 input channels \(axis 1\)"),
    (nn.ConvTranspose2d(2, 4, 1, padding=1), (1, 2, 2, 2), r"empty output \(0, 0\)"),
    (nn.DepthwiseConv2d(3, 3), (1, 3, 2, 2), r"input \(1, 3, 2, 2\) is smaller"),
    (nn.LocallyConnected2d(2, 2, 3), (1, 2, 8), r"rank 4 \[N, C, H, W\]"),
    (nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 3), r"rank 4 \[N, C, \*spatial\]"),
    (nn.Upsample(size=(2, 3, 4)), (1, 2, 3, 3), r"3 sizes or factors for 2 spatial axes"),
    (nn.PixelShuffle(2), (1, 6, 2, 2), r"divisible by upscale_factor² = 4"),
    (nn.PixelUnshuffle(2), (1, 1, 3, 4), r"divisible by downscale_factor = 2"),
    (nn.GraphConv(3, 2), (5, 3), r"expected the pair \(x \[N, F\], adjacency"),
    (nn.GraphConv(3, 2), ((5, 3), (5, 4)), r"must be \[5, 5\] \(dense\) or \[2, E\]"),
    (nn.GraphConv(3, 2), ((5, 4), (2, 7)), r"expected 3 input features \(axis 1\)"),
    (nn.RBF(3, 4), (2, 5), r"expected 3 input features"),
    (nn.SpatialTransformer(nn.Flatten(0)), (2, 1, 3, 3), r"must keep the batch axis"),
    (nn.SpatialTransformer(nn.Flatten()), (2, 3, 3), r"rank 4 \[N, C, H, W\]"),
    (nn.MultiHeadAttention(4, 2), (2, 4), r"rank 3 \[N, L, E\] for the query"),
    (nn.MultiHeadAttention(4, 2, kdim=3), ((2, 3, 4), (2, 5, 4), (2, 5, 4)), r"3 key features"),
    (nn.MultiHeadAttention(4, 2), ((2, 3, 4), (2, 5, 4), (2, 6, 4)), r"must share the batch"),
    (nn.MultiHeadAttention(4, 2), {"query": (2, 3, 4), "key_padding_mask": (2, 4)},
     r"key_padding_mask must be \[2, 3\], got shape \(2, 4\)"),
    (nn.MultiHeadAttention(4, 2), {"query": (2, 3, 4), "attn_mask": (2, 3, 3)},
     r"attn_mask must be \[3, 3\] or \[4, 3, 3\]"),
]  # fmt: skip
"""(layer, input shape, what the message says after naming the layer)."""


@pytest.mark.parametrize(("layer", "shape", "message"), SHAPE_ERRORS)
def test_wrong_input_shapes_name_the_layer_and_shape(
    layer: nn.Layer, shape: tuple, message: str
) -> None:
    with pytest.raises(aidjit.ShapeError, match=f"^{layer.describe()}: .*{message}"):
        layer.init(0, shape)


def test_apply_checks_the_input_and_names_the_innermost_layer() -> None:
    model = nn.Sequential(nn.Dense(4, 4), nn.Residual(nn.Sequential(nn.Conv2d(4, 4, 1))))
    with pytest.raises(aidjit.ShapeError, match=r"Conv2d 'conv2d': expected an input of rank 4"):
        model.init(0, (2, 4))
    model = nn.Sequential(nn.Dense(4, 4), nn.Dense(4, 2))
    params, state = model.init(0, (2, 4))
    with pytest.raises(aidjit.ShapeError, match=r"Dense 'dense': expected 4 input features"):
        model.apply(params, state, np.ones((2, 3), np.float32))
    with pytest.raises(aidjit.DTypeError, match=r"^Dense 'dense': matmul: operand dtypes differ"):
        model.apply(params, state, np.ones((2, 4), np.float64))
    with pytest.raises(
        aidjit.ArgumentValueError,
        match=r"Sequential 'sequential': params has no entry for child 'dense_1'",
    ):
        model.apply({"dense": params["dense"]}, state, np.ones((2, 4), np.float32))


def test_constructor_arguments_are_checked() -> None:
    with pytest.raises(
        aidjit.ArgumentValueError, match=r"Conv2d 'conv2d': groups=2 must divide in_channels=3"
    ):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(aidjit.ArgumentValueError, match="padding='same' needs stride 1"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(aidjit.ArgumentValueError, match="unknown activation 'rleu'"):
        nn.Activation("rleu")
    with pytest.raises(
        aidjit.ArgumentValueError, match="'leaky_relu' takes negative_slope, got slope"
    ):
        nn.Activation("leaky_relu", slope=0.1)
    with pytest.raises(
        aidjit.ArgumentValueError, match="GroupNorm 'group_norm': num_groups=3 must divide"
    ):
        nn.GroupNorm(3, 4)
    with pytest.raises(aidjit.ArgumentValueError, match="rate must lie in"):
        nn.Dropout(1.5)
    with pytest.raises(aidjit.DTypeError, match="Dense 'dense': parameters are float32 or float64"):
        nn.Dense(2, 2).init(0, (1, 2), np.int64)
    with pytest.raises(aidjit.ShapeError, match="input_shape must be a tuple of sizes"):
        nn.Dense(2, 2).init(0, 2)
    assert nn.LeakyReLU(0.3).options == {"negative_slope": 0.3}
    assert nn.Softmax(axis=1).name == "softmax" and nn.Activation("gelu").name == "gelu"
