"""Trainer.fit, evaluate and predict: compiled runs give eager's numbers (a tiny MLP and CNN with
batch norm and dropout), the compiled versions stay fixed across epochs (the last partial batch
compiles once), the epoch means weigh each batch by its size, and progress is reported."""

import sys
from collections.abc import Callable

import numpy as np
import pytest

import aidjit
import aidjit.losses as losses
import aidjit.optim as optim
from aidjit import nn, ops, tree_util
from aidjit.training import METRICS, Trainer
from tests.training.models import SAMPLE_SHAPES, classification, cnn, mlp

TOLERANCE = {"rtol": 2e-4, "atol": 2e-5}
"""float32, after 3 epochs of 3 steps: eager numpy and the compiled kernel round differently."""

CASES: dict[str, tuple[Callable[[], nn.Sequential], Callable[[], object]]] = {
    "mlp": (mlp, lambda: optim.Adam(lr=0.01)),
    "cnn": (cnn, lambda: optim.SGD(lr=0.05, momentum=0.9, nesterov=True)),
}


def run(name: str, jit: bool) -> tuple[Trainer, dict]:
    """Two epochs of 20 examples in batches of 8 (8, 8 and a partial 4), with 5 validation
    examples (one padded batch), then evaluate and predict; everything the test compares."""
    build, optimizer = CASES[name]
    x, y = classification(SAMPLE_SHAPES[name], 20)
    x_val, y_val = classification(SAMPLE_SHAPES[name], 5, seed=1)
    model = build()
    model.init(0, (1, *SAMPLE_SHAPES[name]))
    trainer = Trainer(model, losses.cross_entropy, optimizer(), jit=jit)
    history = trainer.fit(
        x, y, epochs=2, batch_size=8, validation_data=(x_val, y_val), seed=3, verbose=False
    )
    results = {
        "history": {key: list(values) for key, values in history.items()},
        "params": model.params,
        "state": model.state,
        "opt_state": trainer.opt_state,
        "evaluate": trainer.evaluate(x, y),
        "predict": trainer.predict(x_val),
    }
    # The padded evaluation and prediction against the whole set at once, eagerly.
    logits, _ = model.apply(model.params, model.state, x_val)
    logits = np.asarray(logits)
    np.testing.assert_allclose(results["predict"], logits, **TOLERANCE)
    expected_loss = float(np.asarray(losses.cross_entropy(logits, y_val)))
    assert history["val_loss"][-1] == pytest.approx(expected_loss, rel=1e-4)
    assert history["val_accuracy"][-1] == np.mean(logits.argmax(axis=1) == y_val)
    return trainer, results


@pytest.mark.parametrize("name", CASES)
def test_compiled_training_gives_the_eager_numbers_and_compiles_a_fixed_set(name: str) -> None:
    eager_trainer, eager = run(name, jit=False)
    trainer, compiled = run(name, jit=True)
    assert eager_trainer.compiled == dict.fromkeys(("step", "evaluate", "predict"), False)
    assert eager_trainer.jitted == {}
    assert trainer.compiled == dict.fromkeys(("step", "evaluate", "predict"), True)
    assert list(compiled["history"]) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    for key in ("params", "state", "opt_state", "predict"):
        tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, **TOLERANCE), compiled[key], eager[key]
        )
    for key, values in eager["history"].items():
        np.testing.assert_allclose(compiled["history"][key], values, **TOLERANCE)
    assert compiled["evaluate"] == pytest.approx(eager["evaluate"], rel=2e-4)
    # Full batches and the partial one: one version each, reused by every later epoch and fit.
    versions = {key: len(fn.versions()) for key, fn in trainer.jitted.items()}
    assert versions == {"step": 2, "evaluate": 1, "predict": 1}
    x, y = classification(SAMPLE_SHAPES[name], 20)
    trainer.fit(x, y, epochs=2, batch_size=8, validation_data=(x[:3], y[:3]), verbose=False)
    trainer.predict(x[:1])
    assert {key: len(fn.versions()) for key, fn in trainer.jitted.items()} == versions


def test_epoch_means_weigh_each_batch_by_its_size_and_metrics_come_from_a_table() -> None:
    """lr=0 leaves the model as it is, so the epoch's loss and metrics are the whole set's
    (batches of 4, 4 and 2: a plain mean of the batch means would be wrong)."""

    def mean_logit(outputs: aidjit.Tensor, targets: aidjit.Tensor) -> aidjit.Tensor:
        return ops.mean(outputs, axis=-1)

    x, y = classification((6,), 10)
    model = nn.Sequential(nn.Dense(6, 5), nn.Tanh(), nn.Dense(5, 3))
    params, state = model.init(0, (1, 6))
    metrics = ("accuracy", mean_logit)
    trainer = Trainer(model, "cross_entropy", optim.SGD(lr=0.0), jit=False, metrics=metrics)
    history = trainer.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=False)
    logits = np.asarray(model.apply(params, state, x)[0])
    assert history["loss"][0] == pytest.approx(float(losses.cross_entropy(logits, y)), rel=1e-6)
    assert history["accuracy"][0] == np.mean(logits.argmax(axis=1) == y)
    assert history["mean_logit"][0] == pytest.approx(logits.mean(), rel=1e-5, abs=1e-7)
    assert METRICS["accuracy"] is aidjit.training.accuracy
    one_hot = np.eye(3, dtype=np.float32)[y]  # accuracy also takes class probabilities
    scores = Trainer(model, "mse", optim.SGD(), jit=False).evaluate(x, one_hot)
    assert scores["accuracy"] == np.mean(logits.argmax(axis=1) == y)


def test_the_same_seed_gives_the_same_shuffles_and_dropout_masks() -> None:
    x, y = classification((6,), 12)

    def history(seed: int) -> list[float]:
        model = mlp()
        model.init(0, (1, 6))
        trainer = Trainer(model, "cross_entropy", optim.SGD(lr=0.1), jit=False)
        return trainer.fit(x, y, epochs=2, batch_size=5, seed=seed, verbose=False)["loss"]

    assert history(1) == history(1)
    assert history(1) != history(2)


def test_fit_initialises_a_model_without_parameters_and_model_call_uses_the_trained_ones() -> None:
    x, y = classification((6,), 8)
    model = nn.Sequential(nn.Dense(6, 3))
    trainer = Trainer(model, "cross_entropy", optim.SGD(lr=0.5), jit=False)
    trainer.fit(x, y, epochs=1, batch_size=8, seed=4, verbose=False)
    initial, _ = nn.Sequential(nn.Dense(6, 3)).init(4, (1, 6))
    assert model.params["dense"]["weight"].dtype == np.float32
    assert not np.array_equal(model.params["dense"]["weight"], initial["dense"]["weight"])
    np.testing.assert_array_equal(model(x), trainer.predict(x))


def test_without_tqdm_each_epoch_prints_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` raises ImportError
    x, y = classification((6,), 6)
    model = nn.Sequential(nn.Dense(6, 3))
    model.init(0, (1, 6))
    trainer = Trainer(model, "cross_entropy", optim.SGD(lr=0.1), jit=False)
    trainer.fit(x, y, epochs=2, batch_size=4, validation_data=(x, y))
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all(" - val_accuracy " in line and line.endswith(" s)") for line in lines)
    trainer.fit(x, y, epochs=2, batch_size=4, verbose=False)
    assert capsys.readouterr() == ("", "")


def test_with_tqdm_each_epoch_has_a_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    x, y = classification((6,), 6)
    model = nn.Sequential(nn.Dense(6, 3))
    model.init(0, (1, 6))
    Trainer(model, "cross_entropy", optim.SGD(lr=0.1), jit=False).fit(x, y, epochs=2, batch_size=4)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "epoch 1/2" in captured.err and "epoch 2/2" in captured.err
    assert "2/2" in captured.err and "accuracy=" in captured.err


ERRORS = [
    (lambda m: Trainer(m, "cross_entropy", optim.SGD(), metrics=("f1",)), "unknown metric 'f1'"),
    (lambda m: Trainer(m, "hinge", optim.SGD()), "loss must be a function"),
    (lambda m: Trainer(m, "mse", object()), "optimizer must have init"),
    (lambda m: Trainer(m, "mse", optim.SGD(), jit=False, jit_options={"threads": 1}), "jit=False"),
    (lambda m: Trainer(m, "mse", optim.SGD()).fit(np.ones((4, 6)), np.ones(3)), "y has 3"),
    (lambda m: Trainer(m, "mse", optim.SGD()).fit(np.ones((4, 6)), np.ones(4), batch_size=0),
     "batch_size must be an int >= 1"),
    (lambda m: Trainer(m, "mse", optim.SGD()).predict(np.ones((2, 6))), "has no parameters yet"),
    (lambda m: Trainer(m, "mse", optim.SGD()).predict(np.ones((0, 6))), "at least one example"),
]  # fmt: skip


@pytest.mark.parametrize("call, message", ERRORS)
def test_mistakes_raise_errors_that_say_what_is_wrong(
    call: Callable[[nn.Layer], object], message: str
) -> None:
    with pytest.raises(aidjit.AidjitError, match=message):
        call(nn.Sequential(nn.Dense(6, 3)))
