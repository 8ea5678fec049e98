"""Layers under aidjit.jit: models using every layer, compiled once per dtype with inference,
training (batch statistics, dropout) and gradients in one function, equal eager; and
`aidjit.jit(model.apply)` compiles once per `training` value and is reused."""

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


SHAPES = {"images": (4, 4, 8, 8), "text": (4, 3), "activations": (2, 3, 4)}


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
    images, text = models["images"], models["text"]

    def loss(params: dict) -> tuple[Any, dict]:
        y, new_state = images.apply(
            params["images"], state["images"], inputs["images"], training=True, key=key
        )
        words, _ = text.apply(params["text"], state["text"], inputs["text"])
        return ops.sum(y * y) + ops.sum(words * words), new_state

    evaluated = {
        name: models[name].apply(params[name], state[name], inputs[name])[0]
        for name in ("images", "activations")
    }
    if not gradients:
        return evaluated, loss(params)
    return evaluated, aidjit.value_and_grad(loss, has_aux=True)(params)


# The backward graph triples the compile time (15 s for both): f32 compiles it, f64 the
# forward passes only (the gradients are checked in f64 against finite differences eagerly).
@pytest.mark.parametrize(("dtype", "gradients"), [(np.float32, True), (np.float64, False)])
def test_compiled_model_equals_eager(dtype: type, gradients: bool) -> None:
    models = {"images": image_model(), "text": token_model(), "activations": activations()}
    params, state = {}, {}
    for seed, (name, model) in enumerate(models.items()):
        params[name], state[name] = model.init(seed, SHAPES[name], dtype)
    rng = np.random.default_rng(2)

    @aidjit.jit
    def jitted(params: dict, state: dict, inputs: dict, key: Any) -> Any:
        return step(models, params, state, inputs, key, gradients)

    for round_ in range(2):  # the second call, with other values, reuses the compiled version
        inputs = {
            "images": rng.standard_normal(SHAPES["images"]).astype(dtype),
            "text": rng.integers(0, 7, SHAPES["text"]),
            "activations": rng.standard_normal(SHAPES["activations"]).astype(dtype),
        }
        key = aidjit.random.key(round_)
        eager = step(models, params, state, inputs, key, gradients)
        compiled = jitted(params, state, inputs, key)
        eager_leaves, eager_tree = tree_util.tree_flatten(eager)
        compiled_leaves, compiled_tree = tree_util.tree_flatten(compiled)
        assert compiled_tree == eager_tree
        for got, want in zip(compiled_leaves, eager_leaves, strict=True):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, np.asarray(want), **TOLERANCE[dtype])
        new_state = (compiled[1][0] if gradients else compiled[1])[1]
        state = {**state, "images": new_state}
    assert len(jitted.versions()) == 1
    assert not np.allclose(state["images"]["batch_norm2d"]["running_var"], 1.0)
    if gradients:
        assert np.any(compiled[1][1]["images"]["conv2d"]["weight"] != 0.0)


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
