"""What the table of tests/nn/test_layers.py does not show about the convolution, spatial,
graph and attention layers: their PyTorch initialisation, the spatial transformer's identity
start, attention dropout with an explicit key, layers of several inputs in containers, and
constructor errors that name the layer."""

import math
from collections.abc import Callable

import numpy as np
import pytest

import aidjit
from aidjit import nn
from tests.nn import references as ref


def assert_uniform(values: np.ndarray, bound: float) -> None:
    """Drawn from U(-bound, bound): within it, reaching near it, with a uniform's spread."""
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.98 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.04 * bound


@pytest.mark.parametrize(
    ("layer", "shape", "path", "bound"),
    [
        # torch's fan_in of a transposed convolution comes from the weight's axis 1: out / groups
        (nn.ConvTranspose2d(64, 40, 3, groups=2), (1, 64, 4, 4), ("weight",), 1 / math.sqrt(180)),
        (nn.ConvTranspose2d(8, 600, 3), (1, 8, 4, 4), ("bias",), 1 / math.sqrt(5400)),
        (nn.DepthwiseConv2d(200, 3, depth_multiplier=2), (1, 200, 4, 4), ("weight",), 1 / 3),
        (nn.LocallyConnected2d(10, 20, 3), (1, 10, 6, 6), ("weight",), 1 / math.sqrt(90)),
        (nn.GraphConv(100, 300), ((5, 100), (2, 4)), ("weight",), math.sqrt(6 / 400)),
        # kdim = vdim = embed_dim: torch's one in_proj_weight [3E, E]
        (nn.MultiHeadAttention(64, 4), (1, 2, 64), ("value", "weight"), math.sqrt(6 / 256)),
        (
            nn.MultiHeadAttention(64, 4, kdim=32, vdim=32),
            {"query": (1, 2, 64), "key": (1, 3, 32)},
            ("key", "weight"),
            math.sqrt(6 / 96),
        ),
        (nn.MultiHeadAttention(64, 4), (1, 2, 64), ("out", "weight"), 1 / 8),
    ],
)
def test_weights_initialise_as_pytorch(
    layer: nn.Layer, shape: tuple, path: tuple[str, ...], bound: float
) -> None:
    values = layer.init(0, shape)[0]
    for name in path:
        values = values[name]
    assert_uniform(values, bound)


def test_zero_and_unit_initialisations() -> None:
    shapes = {"query": (1, 2, 8), "key": (1, 3, 4), "value": (1, 3, 6)}
    params, _ = nn.MultiHeadAttention(8, 2, kdim=4, vdim=6).init(0, shapes)
    assert [params[name]["weight"].shape for name in ("query", "key", "value", "out")] == [
        (8, 8),
        (4, 8),
        (6, 8),
        (8, 8),
    ]
    assert all((params[name]["bias"] == 0).all() for name in params)
    assert nn.MultiHeadAttention(8, 2, bias=False).init(0, (1, 2, 8))[0]["out"].keys() == {"weight"}
    assert (nn.GraphConv(3, 4).init(0, ((5, 3), (5, 5)))[0]["bias"] == 0).all()
    params, _ = nn.RBF(3, 5000).init(0, (1, 3))
    assert (params["log_sigma"] == 0).all()
    assert abs(params["centers"].std() - 1) < 0.02 and abs(params["centers"].mean()) < 0.02


def test_spatial_transformer_starts_as_the_identity() -> None:
    """theta's weight zeros and bias [1, 0, 0, 0, 1, 0]: every pixel samples itself."""
    layer = nn.SpatialTransformer(
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Dense(4 * 4 * 5, 8), nn.ReLU())
    )
    params, _ = layer.init(0, (2, 3, 6, 7), np.float64)
    np.testing.assert_array_equal(params["theta"]["weight"], np.zeros((8, 6)))
    np.testing.assert_array_equal(params["theta"]["bias"], [1, 0, 0, 0, 1, 0])
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7))
    np.testing.assert_allclose(layer(x).numpy(), x, atol=1e-12)
    assert sorted(params) == ["sequential", "theta"]


def test_attention_dropout_drops_weights_with_the_explicit_key() -> None:
    """In training, the attention weights [N * heads, L, S] are multiplied by the mask
    `ops.dropout` draws from the key (the same key: the same mask); inference drops none."""
    layer = nn.MultiHeadAttention(4, 2, dropout=0.4)
    rng = np.random.default_rng(0)
    params, state = layer.init(0, (2, 3, 4), np.float64)
    x = rng.standard_normal((2, 3, 4))
    key = aidjit.random.key(5)
    y, _ = layer.apply(params, state, x, training=True, key=key)
    mask = aidjit.ops.dropout(np.ones((4, 3, 3)), 0.4, key).numpy()
    assert 0 < (mask == 0).sum() < mask.size
    expected = ref.multi_head_attention(params, x, x, x, 2, dropout=mask)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    inferred = layer.apply(params, state, x)[0].numpy()
    np.testing.assert_allclose(inferred, ref.multi_head_attention(params, x, x, x, 2), rtol=1e-12)
    with pytest.raises(
        aidjit.ArgumentValueError, match=r"MultiHeadAttention 'multi_head_attention': .*needs a key"
    ):
        layer.apply(params, state, x, training=True)


def test_attention_input_forms_agree() -> None:
    """An array is self-attention; (q, k, v) and a dict name the same inputs."""
    layer = nn.MultiHeadAttention(4, 1)
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    layer.init(0, (2, 3, 4))
    expected = layer(x).numpy()
    np.testing.assert_array_equal(layer((x, x, x)).numpy(), expected)
    np.testing.assert_array_equal(layer({"query": x}).numpy(), expected)
    with pytest.raises(aidjit.ArgumentValueError, match=r"got keys \['mask', 'query'\]"):
        layer({"query": x, "mask": x})
    with pytest.raises(aidjit.ArgumentValueError, match="a tuple input is .* got 2 items"):
        layer((x, x))


def test_a_layer_of_several_inputs_opens_a_sequential() -> None:
    model = nn.Sequential(nn.GraphConv(3, 4), nn.ReLU(), nn.RBF(4, 2))
    shape = ((5, 3), (2, 6))
    params, _ = model.init(0, shape)
    text = model.summary()
    assert "Input shape: ((5, 3), (2, 6))" in text and "(5, 2)" in text
    features = np.ones((5, 3), np.float32)
    edges = np.array([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 0, 2]])
    assert model((features, edges)).shape == (5, 2)
    assert params["graph_conv"]["weight"].shape == (3, 4)


def test_locally_connected_weights_fit_one_input_size() -> None:
    layer = nn.LocallyConnected2d(2, 3, 3)
    params, state = layer.init(0, (1, 2, 5, 5))
    assert params["weight"].shape == (3, 3, 3, 2, 3, 3) and params["bias"].shape == (3, 3, 3)
    with pytest.raises(
        aidjit.ShapeError,
        match=r"LocallyConnected2d 'locally_connected2d': the weights were made for a 3x3 "
        r"output, input \(1, 2, 6, 5\) gives 4x3",
    ):
        layer.apply(params, state, np.ones((1, 2, 6, 5), np.float32))


CONSTRUCTOR_ERRORS: list[tuple[Callable[[], nn.Layer], str]] = [
    (lambda: nn.ConvTranspose2d(3, 4, 3, groups=2), r"ConvTranspose2d .*groups=2 must divide"),
    (
        lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2),
        r"ConvTranspose2d .*output_padding \(2, 2\) must be smaller than either the stride",
    ),
    (lambda: nn.ConvTranspose2d(2, 2, 3, padding=-1), r"padding \(-1, -1\) must be non-negative"),
    (lambda: nn.DepthwiseConv2d(3, 3, depth_multiplier=0), r"DepthwiseConv2d .*depth_multiplier"),
    (lambda: nn.LocallyConnected2d(2, 2, (1, 2, 3)), r"LocallyConnected2d .*kernel_size"),
    (lambda: nn.Upsample(), r"Upsample 'upsample': give exactly one of size and scale_factor"),
    (lambda: nn.Upsample(size=4, mode="cubic"), r"mode must be one of nearest, linear"),
    (lambda: nn.Upsample(size=4, align_corners=True), r"align_corners can only be set"),
    (lambda: nn.PixelShuffle(0), r"PixelShuffle 'pixel_shuffle': upscale_factor must be"),
    (lambda: nn.PixelUnshuffle(1.5), r"PixelUnshuffle .*downscale_factor must be"),
    (lambda: nn.SpatialTransformer(nn.Flatten(), mode="bicubic"), r"mode must be one of"),
    (
        lambda: nn.SpatialTransformer(nn.Flatten(), padding_mode="wrap"),
        r"SpatialTransformer 'spatial_transformer': padding_mode must be one of zeros",
    ),
    (lambda: nn.SpatialTransformer(nn.Flatten(name="theta")), r"may not be named 'theta'"),
    (lambda: nn.MultiHeadAttention(6, 4), r"MultiHeadAttention .*num_heads=4 must divide"),
    (lambda: nn.MultiHeadAttention(4, 2, dropout=1.5), r"dropout must lie in \[0, 1\]"),
]
"""(a constructor call with a wrong argument, what its error says)."""


@pytest.mark.parametrize(("make", "message"), CONSTRUCTOR_ERRORS)
def test_constructor_errors_name_the_layer(make: Callable[[], nn.Layer], message: str) -> None:
    with pytest.raises(aidjit.ArgumentValueError, match=message):
        make()
