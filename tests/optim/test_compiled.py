"""Training steps under aidjit.jit: forward, loss, backward and every optimiser variant's update
compile into one native function per dtype, and give eager's numbers step after step.

One jit'd function per optimiser class and dtype updates a model per variant of that class in
tests/optim/references.py (momentum, nesterov, weight decay, AMSGrad, centered, each schedule);
the step count is an int64 argument, so later steps reuse that compile.
"""

from collections.abc import Callable

import numpy as np
import pytest

import aidjit
import aidjit.losses as losses
from aidjit.tree_util import tree_leaves
from tests.optim.references import VARIANTS, Variant

STEPS = 3
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}


def loss_fn(params: dict, x: np.ndarray, labels: np.ndarray) -> aidjit.Tensor:
    logits = (x @ params["dense"]["w"] + params["dense"]["b"]) * params["scale"]
    return losses.cross_entropy(logits, labels, label_smoothing=0.1)


FAMILIES = {
    name: [v for v in VARIANTS if type(v.optimizer).__name__.startswith(name)]
    for name in ("SGD", "Adam", "RMSprop")  # Adam covers AdamW
}


def test_the_families_cover_every_variant() -> None:
    assert sorted(v.id for f in FAMILIES.values() for v in f) == sorted(v.id for v in VARIANTS)


def training_step(variants: list[Variant]) -> Callable[..., dict]:
    def step(models: dict, x: np.ndarray, labels: np.ndarray) -> dict:
        results = {}
        for variant in variants:
            params, opt_state = models[variant.id]
            loss, grads = aidjit.value_and_grad(loss_fn)(params, x, labels)
            params, opt_state = variant.optimizer.update(grads, opt_state, params)
            results[variant.id] = (loss, params, opt_state)
        return results

    return step


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_training_steps_match_eager(dtype: type, family: str) -> None:
    variants = FAMILIES[family]
    rng = np.random.default_rng(0)
    params = {
        "dense": {
            "w": rng.normal(size=(4, 3)).astype(dtype),
            "b": rng.normal(size=3).astype(dtype),
        },
        "scale": np.array(1.2, dtype),
    }
    x = rng.normal(size=(5, 4)).astype(dtype)
    labels = rng.integers(0, 3, size=5)
    eager = {v.id: (params, v.optimizer.init(params)) for v in variants}
    compiled = dict(eager)
    train_step = training_step(variants)
    step = aidjit.jit(train_step)
    for _ in range(STEPS):
        eager_results = train_step(eager, x, labels)
        compiled_results = step(compiled, x, labels)
        for variant in variants:
            expected, actual = eager_results[variant.id], compiled_results[variant.id]
            for e, a in zip(tree_leaves(expected), tree_leaves(actual), strict=True):
                assert a.dtype == e.dtype, variant.id
                np.testing.assert_allclose(a, e, **TOLERANCE[dtype], err_msg=variant.id)
        eager = {key: (p, s) for key, (_, p, s) in eager_results.items()}
        compiled = {key: (p, s) for key, (_, p, s) in compiled_results.items()}
    assert all(int(state["step"]) == STEPS for _, state in compiled.values())
    assert all(leaf.dtype == dtype for p, _ in compiled.values() for leaf in tree_leaves(p))
    assert len(step.versions()) == 1  # the step count is an argument, not a constant
