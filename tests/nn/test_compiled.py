"""Layers under aidjit.jit: models using every layer, compiled once per dtype with inference,
training (batch statistics, dropout) and gradients in one function, equal eager; and
`aidjit.jit(model.apply)` compiles once per `training` value and is reused."""

import functools
from typing import Any

import numpy as np
import pytest

import aidjit
from aidjit import nn, ops, tree_util

TOLERANCE = {np.float32: {"rtol": 2e-4, "atol": 2e-5}, np.float64: {"rtol": 1e-9, "atol": 1e-11}}


def image_model() -> nn.Sequential:
    """[N, 4, 8, 8] -> [N, 5], through every layer but Embedding and most activations."""
    return nn.Sequential(
        nn.Conv2d(4, 6, 3, padding=1, groups=2),
        nn.BatchNorm2d(6),
        nn.Add(nn.ReLU(), nn.GELU(), nn.Tanh()),
        nn.Residual(nn.Sequential(nn.Conv2d(6, 6, 3, padding="same"), nn.GroupNorm(3, 6))),
        nn.Concat(nn.MaxPool2d(2), nn.AvgPool2d(3, stride=2, padding=1), axis=1),
        nn.Conv2d(12, 4, 2, stride=2, bias=False),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Reshape((4, 4)),
        nn.LayerNorm(4),
        nn.Flatten(),
        nn.Dense(16, 8),
        nn.BatchNorm1d(8),
        nn.Activation("leaky_relu", negative_slope=0.1),
        nn.Dense(8, 5),
        nn.LogSoftmax(axis=1),
    )  # fmt: skip


def token_model() -> nn.Sequential:
    """int64 [N, T] -> [N, T, 3]: Embedding, Dense, Softmax."""
    return nn.Sequential(nn.Embedding(7, 4), nn.Dense(4, 3), nn.Softmax())


def activations() -> nn.Add:
    """Every activation class on the same input, summed (forward only: their gradients are
    the ops', compiled in tests/api; the image model's gradient covers a few)."""
    along_channels = (nn.Softmax, nn.LogSoftmax)
    return nn.Add(
        *[cls(axis=1) if cls in along_channels else cls() for cls in nn.ACTIVATION_LAYERS]
    )


def upscale_model() -> nn.Sequential:
    """[N, 4, 6, 6] -> [N, 2, 8, 8]: the upsampling layers and the unshared (locally
    connected) and depthwise convolutions."""
    return nn.Sequential(
        nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1, groups=2),
        nn.PixelUnshuffle(2),
        nn.DepthwiseConv2d(16, 3, stride=2, padding=1),
        nn.PixelShuffle(2),
        nn.Upsample(scale_factor=1.5, mode="bilinear"),
        nn.LocallyConnected2d(4, 2, 3, stride=2),
        nn.Upsample(scale_factor=2),
    )


def warp_model() -> nn.SpatialTransformer:
    """[N, 4, 6, 6] -> [N, 4, 5, 5]: a spatial transformer (inference only: grid_sample's
    gradient, some 290 graph ops, would double this test's compile time; its compiled
    gradient is tested in the op table's bundle, the layer's eagerly against finite
    differences)."""
    localization = nn.Sequential(nn.Conv2d(4, 2, 3, stride=2), nn.Flatten(), nn.Dense(8, 4))
    return nn.SpatialTransformer(localization, output_size=(5, 5))


def graph_model() -> nn.Sequential:
    """(features [7, 3], int64 edge list [2, 12]) -> [7, 4]: GraphConv, ReLU, RBF."""
    return nn.Sequential(nn.GraphConv(3, 6), nn.ReLU(), nn.RBF(6, 4))


def attention_model() -> nn.Sequential:
    """Cross-attention with an int64 key padding mask, a float attn_mask and attention
    dropout, then LayerNorm: {query [N, 3, 8], key [N, 5, 6], masks} -> [N, 3, 8]."""
    return nn.Sequential(nn.MultiHeadAttention(8, 2, dropout=0.25, kdim=6, vdim=6), nn.LayerNorm(8))


def attention_inputs(rng: np.random.Generator, dtype: type) -> dict:
    padding = (rng.random((2, 5)) < 0.5).astype(np.int64)
    padding[:, 0] = 0  # every query keeps a key
    return {
        "query": rng.standard_normal((2, 3, 8)).astype(dtype),
        "key": rng.standard_normal((2, 5, 6)).astype(dtype),
        "key_padding_mask": padding,
        "attn_mask": rng.standard_normal((3, 5)).astype(dtype),
    }


def normal(shape: tuple[int, ...]) -> Any:
    return lambda rng, dtype: rng.standard_normal(shape).astype(dtype)


INPUTS = {
    "images": normal((4, 4, 8, 8)),
    "text": lambda rng, dtype: rng.integers(0, 7, (4, 3)),
    "activations": normal((2, 3, 4)),
    "upscale": normal((2, 4, 6, 6)),
    "warp": normal((2, 4, 6, 6)),
    "graph": lambda rng, dtype: (
        rng.standard_normal((7, 3)).astype(dtype),
        rng.integers(0, 7, (2, 12)),
    ),
    "attention": attention_inputs,
}
"""Each model's input, drawn from a numpy Generator in a dtype."""

MODELS = {
    "images": image_model,
    "text": token_model,
    "activations": activations,
    "upscale": upscale_model,
    "warp": warp_model,
    "graph": graph_model,
    "attention": attention_model,
}
TRAINED = ("images", "text", "upscale", "graph", "attention")
"""The models in the training loss (each with its own dropout key)."""
INFERRED = ("images", "activations", "warp", "attention")
"""The models run in inference too: those not trained, and those whose training differs
(batch statistics, dropout); the others' inference is their training forward pass."""


def step(
    models: dict[str, nn.Layer],
    params: dict,
    state: dict,
    inputs: dict,
    key: Any,
    gradients: bool,
) -> Any:
    """Everything a training loop asks of the layers, in one function: inference, a training
    forward pass (batch statistics, dropout) and, with `gradients`, its gradient with respect
    to the parameters."""

    def loss(params: dict) -> tuple[Any, dict]:
        terms, new_state = [], {}
        for name, model_key in zip(TRAINED, aidjit.random.split(key, len(TRAINED)), strict=True):
            y, new_state[name] = models[name].apply(
                params[name], state[name], inputs[name], training=True, key=model_key
            )
            terms.append(ops.sum(y * y))
        return functools.reduce(ops.add, terms), new_state

    evaluated = {
        name: models[name].apply(params[name], state[name], inputs[name])[0] for name in INFERRED
    }
    if not gradients:
        return evaluated, loss(params)
    return evaluated, aidjit.value_and_grad(loss, has_aux=True)(params)


# The backward graph triples the compile time (about 40 s and 15 s on a busy 2-core machine):
# f32 compiles it, f64 the forward passes only (the gradients are checked in f64 against
# finite differences eagerly).
@pytest.mark.parametrize(("dtype", "gradients"), [(np.float32, True), (np.float64, False)])
def test_compiled_model_equals_eager(dtype: type, gradients: bool) -> None:
    models = {name: make() for name, make in MODELS.items()}
    rng = np.random.default_rng(2)
    params, state = {}, {}
    for seed, (name, model) in enumerate(models.items()):
        shape = nn.module.shape_of(INPUTS[name](rng, dtype))
        params[name], state[name] = model.init(seed, shape, dtype)
    # theta starts as the identity whatever the localization computes: make that path count
    params["warp"]["theta"]["weight"] = rng.normal(0.0, 0.3, (4, 6)).astype(dtype)

    @aidjit.jit
    def jitted(params: dict, state: dict, inputs: dict, key: Any) -> Any:
        return step(models, params, state, inputs, key, gradients)

    for round_ in range(2):  # the second call, with other values, reuses the compiled version
        inputs = {name: draw(rng, dtype) for name, draw in INPUTS.items()}
        key = aidjit.random.key(round_)
        eager = step(models, params, state, inputs, key, gradients)
        compiled = jitted(params, state, inputs, key)
        eager_leaves, eager_tree = tree_util.tree_flatten(eager)
        compiled_leaves, compiled_tree = tree_util.tree_flatten(compiled)
        assert compiled_tree == eager_tree
        for got, want in zip(compiled_leaves, eager_leaves, strict=True):
            assert got.dtype == dtype
            want = np.asarray(want)
            # A gradient element is a sum of many terms: its rounding error scales with the
            # leaf's magnitude, not its own (a conv weight's 0.079 among entries of 7.3).
            scale = max(1.0, float(np.abs(want).max(initial=0.0)))
            tolerance = TOLERANCE[dtype]
            np.testing.assert_allclose(
                got, want, rtol=tolerance["rtol"], atol=tolerance["atol"] * scale
            )
        new_state = (compiled[1][0] if gradients else compiled[1])[1]
        state = {**state, **new_state}
    assert len(jitted.versions()) == 1
    assert not np.allclose(state["images"]["batch_norm2d"]["running_var"], 1.0)
    if gradients:
        grads = compiled[1][1]
        for path in (
            ("images", "conv2d", "weight"),
            ("upscale", "locally_connected2d", "weight"),
            ("graph", "graph_conv", "weight"),
            ("graph", "rbf", "log_sigma"),
            ("attention", "multi_head_attention", "key", "weight"),
        ):
            assert np.any(functools.reduce(dict.__getitem__, path, grads) != 0.0), path


def test_jit_of_model_apply_compiles_once_per_training_flag() -> None:
    model = nn.Sequential(nn.Dense(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.ReLU())
    params, state = model.init(0, (6, 3))
    apply = aidjit.jit(model.apply, static_argnames="training")
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.standard_normal((6, 3)).astype(np.float32)
        np.testing.assert_allclose(apply(params, state, x)[0], model(x).numpy(), rtol=1e-6)
        key = aidjit.random.key(3)
        y, new_state = apply(params, state, x, training=True, key=key)
        y_eager, state_eager = model.apply(params, state, x, training=True, key=key)
        np.testing.assert_allclose(y, y_eager.numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(
            new_state["batch_norm1d"]["running_mean"],
            state_eager["batch_norm1d"]["running_mean"].numpy(),
            rtol=1e-6,
        )
        assert (y == 0).any()  # dropout zeroed some (ReLU alone leaves few exact zeros at 6x4)
    assert [version.reason for version in apply.versions()][0] == "first call"
    assert len(apply.versions()) == 2
