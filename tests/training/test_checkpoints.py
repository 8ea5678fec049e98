"""Trainer.save / load: parameters, model state and optimiser state in one .npz, named by key
path, restored exactly (dtypes included), so training resumes as if never stopped; a file of
another model or optimiser is refused with the array at fault named, and nothing changes."""

from pathlib import Path

import numpy as np
import pytest

import aidjit
import aidjit.optim as optim
from aidjit import nn, tree_util
from aidjit.training import Trainer
from tests.training.models import classification, mlp

DATA = classification((6,), 10)


def trainer_for(
    model: nn.Layer, dtype: type = np.float32, optimizer: object = None, seed: int = 0
) -> Trainer:
    model.init(seed, (1, 6), dtype)
    return Trainer(model, "cross_entropy", optimizer or optim.Adam(lr=0.01), jit=False)


def fit(trainer: Trainer, dtype: type = np.float32) -> dict:
    x, y = DATA
    return trainer.fit(x.astype(dtype), y, epochs=1, batch_size=4, seed=5, verbose=False)


def everything(trainer: Trainer) -> dict:
    return {"params": trainer.model.params, "state": trainer.model.state, "opt": trainer.opt_state}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_checkpoint_round_trips_exactly_and_training_resumes(dtype: type, tmp_path: Path) -> None:
    trained = trainer_for(mlp(), dtype)
    fit(trained, dtype)
    path = trained.save(tmp_path / "checkpoint")
    assert path == tmp_path / "checkpoint.npz"
    with np.load(path) as data:
        assert "params['dense']['weight']" in data.files
        assert "state['batch_norm1d']['running_var']" in data.files
        assert data["opt_state['step']"].dtype == np.int64 and data["opt_state['step']"] == 3

    restored = trainer_for(mlp(), dtype, seed=1)  # other initial values, same structure
    restored.load(path)
    saved, loaded = everything(trained), everything(restored)
    assert tree_util.tree_structure(loaded) == tree_util.tree_structure(saved)
    for a, b in zip(tree_util.tree_leaves(loaded), tree_util.tree_leaves(saved), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert fit(restored, dtype) == fit(trained, dtype)


def test_a_checkpoint_of_another_model_or_optimiser_is_refused(tmp_path: Path) -> None:
    trained = trainer_for(mlp())
    fit(trained)
    path = trained.save(tmp_path / "mlp.npz")

    cases = [
        (trainer_for(nn.Sequential(nn.Dense(6, 3))), aidjit.ArgumentValueError,
         r"and Adam: missing params\['dense'\]\['bias'\], opt_state\['exp_avg'\]\['dense'\]"
         r"\['bias'\], .*; unexpected params\['batch_norm1d'\]\['bias'\], .* and 9 more$"),
        (trainer_for(mlp(), optimizer=optim.SGD()), aidjit.ArgumentValueError,
         r"and SGD: unexpected opt_state\['exp_avg'\]"),
        (trainer_for(mlp(), np.float64), aidjit.DTypeError,
         r"params\['batch_norm1d'\]\['bias'\] is float32, the model's float64"),
    ]  # fmt: skip
    for trainer, error, message in cases:
        before = everything(trainer)
        with pytest.raises(error, match=message):
            trainer.load(path)
        assert all(everything(trainer)[key] is value for key, value in before.items())

    # The same names, another shape: the shape is checked too.
    same_names = nn.Sequential(nn.Dense(6, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(),
                               nn.Dropout(0.25), nn.Dense(8, 4))  # fmt: skip
    with pytest.raises(aidjit.ShapeError, match=r"params\['dense_1'\]\['bias'\] has shape \(3,\)"):
        trainer_for(same_names).load(path)


def test_save_and_load_need_a_model_with_parameters(tmp_path: Path) -> None:
    trainer = Trainer(mlp(), "cross_entropy", optim.SGD(), jit=False)
    with pytest.raises(nn.NotInitializedError, match="Trainer.save/load: Sequential"):
        trainer.save(tmp_path / "never")
