"""The fallback rule: a function the compiler cannot handle runs eagerly, with one warning on the
"aidjit" logger and `trainer.compiled` saying so, and the same numbers as eager training; an
error of the model or the data is raised as eager code raises it, with no fallback."""

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import aidjit
import aidjit.optim as optim
from aidjit import nn, ops
from aidjit.training import Trainer
from tests.training.models import classification

FUNCTIONS = ("step", "evaluate", "predict")


class PeakNormalize(nn.Layer):
    """Divides by the batch's largest magnitude, read in Python with float(): fine eagerly, a
    ConcretizationError under aidjit.jit."""

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape

    def call(self, params: dict, x: Any) -> Any:
        return x / float(ops.reduce_max(ops.abs(x)))


def train(model: nn.Layer, **trainer_options: Any) -> tuple[Trainer, dict, np.ndarray]:
    """Two epochs with validation, then predict: every function runs a few times."""
    x, y = classification((6,), 10)
    model.init(0, (1, 6))
    trainer = Trainer(model, "cross_entropy", optim.SGD(lr=0.1), **trainer_options)
    history = trainer.fit(x, y, epochs=2, batch_size=4, validation_data=(x, y), verbose=False)
    return trainer, history, trainer.predict(x)


def fallback_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "aidjit" and r.levelno == logging.WARNING and "eagerly" in r.getMessage()
    ]


def assert_same_training(first: tuple, second: tuple) -> None:
    _, history, predictions = first
    _, expected_history, expected_predictions = second
    assert history == expected_history
    np.testing.assert_array_equal(predictions, expected_predictions)


def test_a_model_that_cannot_be_traced_trains_eagerly_with_one_warning_per_function(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def model() -> nn.Sequential:
        return nn.Sequential(PeakNormalize(), nn.Dense(6, 3))

    with caplog.at_level(logging.WARNING, logger="aidjit"):
        fallen_back = train(model())
    trainer = fallen_back[0]
    assert trainer.compiled == dict.fromkeys(FUNCTIONS, False)
    assert trainer.jitted == {}
    messages = fallback_warnings(caplog)
    assert [m.split(" function")[0] for m in messages] == [f"Trainer: the {f}" for f in FUNCTIONS]
    assert all("ConcretizationError" in message for message in messages)
    assert_same_training(fallen_back, train(model(), jit=False))


def test_a_missing_compiler_falls_back(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    no_compiler = str(tmp_path / "no-such-cc")
    with caplog.at_level(logging.WARNING, logger="aidjit"):
        fallen_back = train(nn.Sequential(nn.Dense(6, 3)), jit_options={"cc": no_compiler})
    assert fallen_back[0].compiled == dict.fromkeys(FUNCTIONS, False)
    messages = fallback_warnings(caplog)
    assert len(messages) == 3 and all("CompilerNotFoundError" in m for m in messages)
    assert no_compiler in messages[0]
    assert_same_training(fallen_back, train(nn.Sequential(nn.Dense(6, 3)), jit=False))


def test_a_failure_in_a_later_call_falls_back_without_losing_a_step(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As a kernel built in the background (tier "auto") reports its failure at a later call:
    the first three calls of each function "run compiled" (here: the function itself), the
    fourth raises CompilationError; that call is rerun eagerly, and so is every later one.
    Predict makes three calls only, so it stays compiled."""

    def jit_failing_at_the_fourth_call(fn: Callable[..., Any], **options: Any) -> Any:
        calls = []

        def call(*args: Any) -> Any:
            calls.append(args)
            if len(calls) >= 4:
                raise aidjit.CompilationError("cc: internal compiler error (forced by the test)")
            return aidjit.tree_util.tree_map(np.asarray, fn(*args))

        return call

    monkeypatch.setattr(aidjit, "jit", jit_failing_at_the_fourth_call)
    with caplog.at_level(logging.WARNING, logger="aidjit"):
        fallen_back = train(nn.Sequential(nn.Dense(6, 3), nn.Dropout(0.5), nn.Dense(3, 3)))
    assert fallen_back[0].compiled == {"step": False, "evaluate": False, "predict": True}
    messages = fallback_warnings(caplog)
    assert len(messages) == 2 and "internal compiler error (forced" in messages[0]
    assert_same_training(
        fallen_back,
        train(nn.Sequential(nn.Dense(6, 3), nn.Dropout(0.5), nn.Dense(3, 3)), jit=False),
    )


def test_an_error_of_the_data_is_raised_as_it_is_without_falling_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = nn.Sequential(nn.Dense(6, 3))
    model.init(0, (1, 6))
    trainer = Trainer(model, "cross_entropy", optim.SGD(lr=0.1))
    x, y = classification((5,), 4)  # 5 features for a Dense(6, 3)
    with caplog.at_level(logging.WARNING, logger="aidjit"):
        with pytest.raises(aidjit.ShapeError, match="Dense 'dense': expected 6"):
            trainer.fit(x, y, batch_size=4, verbose=False)
    assert fallback_warnings(caplog) == []
    assert trainer.compiled["step"] is None and "step" in trainer.jitted
