"""aidjit.optim eagerly: every optimiser variant against a numpy reference of torch's algorithm
over several steps in float32 and float64, the schedules against their closed forms, and the
errors. tests/optim/test_compiled.py holds the same updates to these numbers under aidjit.jit."""

import math

import numpy as np
import pytest

import aidjit.optim as optim
from aidjit import ArgumentValueError, DTypeError, ShapeError, Tensor
from aidjit.tree_util import tree_flatten, tree_leaves, tree_map
from tests.optim.references import VARIANT_IDS, VARIANTS, Variant

STEPS = 6
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def make_problem(dtype: type, steps: int = STEPS) -> tuple[dict, list[dict]]:
    """Parameters (nested, with a 0-d leaf) and the gradients of `steps` steps, whose scale
    changes from step to step so that AMSGrad's running maximum and momentum both matter."""
    rng = np.random.default_rng(0)
    params = {
        "dense": {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)},
        "scale": np.array(1.5),
    }
    grads = []
    for _ in range(steps):
        scale = rng.uniform(0.1, 3.0)
        grads.append(tree_map(lambda a, s=scale: s * rng.normal(size=np.shape(a)), params))
    cast = tree_map(lambda a: np.asarray(a, dtype), params)
    return cast, [tree_map(lambda a: np.asarray(a, dtype), g) for g in grads]


def run(optimizer: optim.Optimizer, params: dict, grads: list[dict]) -> tuple[list[dict], dict]:
    """The parameters after each update, and the final state."""
    state = optimizer.init(params)
    history = []
    for g in grads:
        params, state = optimizer.update(g, state, params)
        history.append(params)
    return history, state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_update_matches_reference(variant: Variant, dtype: type) -> None:
    params, grads = make_problem(dtype)
    history, state = run(variant.optimizer, params, grads)
    lrs = variant.learning_rates(STEPS)
    initial, structure = tree_flatten(params)
    per_step_grads = [tree_leaves(g) for g in grads]
    for index, leaf in enumerate(initial):
        expected = variant.reference(leaf, [g[index] for g in per_step_grads], lrs)
        for step, params_after in enumerate(history):
            actual = tree_leaves(params_after)[index]
            assert isinstance(actual, np.ndarray) and actual.dtype == dtype
            np.testing.assert_allclose(
                actual, expected[step], **TOLERANCE[dtype], err_msg=f"leaf {index}, step {step}"
            )
    assert tree_flatten(history[-1])[1] == structure
    assert state["step"].dtype == np.int64 and int(state["step"]) == STEPS
    buffers = [leaf for key, tree in state.items() if key != "step" for leaf in tree_leaves(tree)]
    assert all(isinstance(b, np.ndarray) and b.dtype == dtype for b in buffers)


def test_a_tree_mixing_dtypes_updates_each_leaf_in_its_own() -> None:
    """The step's scalars (here a schedule and Adam's bias corrections) are cast per dtype."""
    variant = next(v for v in VARIANTS if v.id == "adamw-amsgrad-cosine")
    params32, grads32 = make_problem(np.float32)
    params64, grads64 = make_problem(np.float64)
    mixed = {"f32": params32, "f64": params64}
    history, _ = run(
        variant.optimizer,
        mixed,
        [{"f32": a, "f64": b} for a, b in zip(grads32, grads64, strict=True)],
    )
    separate32, _ = run(variant.optimizer, params32, grads32)
    separate64, _ = run(variant.optimizer, params64, grads64)
    for leaf, alone in zip(
        tree_leaves(history[-1]), tree_leaves([separate32[-1], separate64[-1]]), strict=True
    ):
        assert leaf.dtype == alone.dtype
        np.testing.assert_array_equal(leaf, alone)


def test_state_names_are_torchs() -> None:
    params = {"w": np.zeros(2, np.float32)}
    expected = {
        optim.SGD(): {"step"},
        optim.SGD(momentum=0.9): {"step", "momentum_buffer"},
        optim.Adam(): {"step", "exp_avg", "exp_avg_sq"},
        optim.AdamW(amsgrad=True): {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
        optim.RMSprop(centered=True, momentum=0.1): {
            "step",
            "square_avg",
            "grad_avg",
            "momentum_buffer",
        },
    }
    for optimizer, keys in expected.items():
        state = optimizer.init(params)
        assert set(state) == keys, optimizer
        assert state["step"].shape == () and state["step"].dtype == np.int64


def test_defaults_are_torchs() -> None:
    assert optim.SGD().lr == 1e-3 and optim.SGD().momentum == 0.0
    assert (optim.Adam().lr, optim.Adam().betas, optim.Adam().eps) == (1e-3, (0.9, 0.999), 1e-8)
    assert optim.Adam().weight_decay == 0.0 and optim.AdamW().weight_decay == 1e-2
    rmsprop = optim.RMSprop()
    assert (rmsprop.lr, rmsprop.alpha, rmsprop.eps, rmsprop.momentum) == (1e-2, 0.99, 1e-8, 0.0)


def test_adam_first_step_moves_by_lr_in_the_gradients_direction() -> None:
    """Independent of the reference: m-hat / sqrt(v-hat) is g / |g| at the first step."""
    params, grads = make_problem(np.float64, steps=1)
    (after,), _ = run(optim.Adam(lr=0.01), params, grads)
    for p0, p1, g in zip(
        tree_leaves(params), tree_leaves(after), tree_leaves(grads[0]), strict=True
    ):
        # |g| / (|g| + eps): 1 to within eps / |g|, about 1e-6 for these gradients
        np.testing.assert_allclose(p0 - p1, 0.01 * np.sign(g), rtol=1e-5)


def test_dampened_momentum_starts_from_the_gradient() -> None:
    """torch's first momentum step copies the gradient, undamped; later ones are damped."""
    params, grads = make_problem(np.float64, steps=2)
    optimizer = optim.SGD(lr=0.1, momentum=0.9, dampening=0.5)
    state = optimizer.init(params)
    params, state = optimizer.update(grads[0], state, params)
    np.testing.assert_array_equal(state["momentum_buffer"]["dense"]["w"], grads[0]["dense"]["w"])
    params, state = optimizer.update(grads[1], state, params)
    expected = 0.9 * grads[0]["dense"]["w"] + 0.5 * grads[1]["dense"]["w"]
    np.testing.assert_allclose(state["momentum_buffer"]["dense"]["w"], expected, rtol=1e-15)


def test_amsgrad_keeps_the_running_maximum() -> None:
    """With the "adam-amsgrad-decay" variant's betas the maximum differs from v: the reference
    test exercises AMSGrad rather than plain Adam."""
    params, grads = make_problem(np.float64)
    _, state = run(optim.Adam(betas=(0.8, 0.9), amsgrad=True), params, grads)
    v_max = np.concatenate([leaf.ravel() for leaf in tree_leaves(state["max_exp_avg_sq"])])
    v = np.concatenate([leaf.ravel() for leaf in tree_leaves(state["exp_avg_sq"])])
    assert (v_max >= v).all() and (v_max > v).any()


# ----- schedules ----------------------------------------------------------------------------------


def cosine(value: float, floor: float, t: float, total: float) -> float:
    return floor + (value - floor) * (1 + math.cos(math.pi * min(t, total) / total)) / 2


SCHEDULES = {
    "constant": (optim.Constant(0.1), lambda t: 0.1),
    "step-decay": (optim.StepDecay(0.1, step_size=3, gamma=0.5), lambda t: 0.1 * 0.5 ** (t // 3)),
    "exponential": (optim.ExponentialDecay(0.1, gamma=0.9), lambda t: 0.1 * 0.9**t),
    "cosine": (
        optim.CosineAnnealing(0.1, total_steps=10, min_value=0.01),
        lambda t: cosine(0.1, 0.01, t, 10),
    ),
    "cosine-warmup": (
        optim.CosineAnnealing(0.1, total_steps=10, warmup_steps=4, warmup_value=0.02),
        lambda t: 0.02 + 0.08 * t / 4 if t < 4 else cosine(0.1, 0.0, t - 4, 6),
    ),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_matches_its_closed_form(name: str) -> None:
    schedule, closed_form = SCHEDULES[name]
    for t in range(14):  # beyond total_steps too: the cosine stays at its floor
        expected = closed_form(t)
        for step in (t, np.int64(t), Tensor(np.array(t, np.int64)), Tensor(np.array(t, float))):
            assert float(schedule(step)) == pytest.approx(expected, rel=1e-12, abs=1e-15), step


def test_cosine_warmup_reaches_the_peak_and_ends_at_the_floor() -> None:
    schedule = optim.CosineAnnealing(1.0, total_steps=8, min_value=0.1, warmup_steps=3)
    assert float(schedule(0)) == 0.0 and float(schedule(3)) == 1.0
    assert float(schedule(8)) == pytest.approx(0.1) and float(schedule(100)) == pytest.approx(0.1)


# ----- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: optim.SGD(lr=-0.1), "SGD: invalid learning rate -0.1"),
        (lambda: optim.SGD(nesterov=True), "SGD: invalid nesterov True.*momentum > 0"),
        (lambda: optim.SGD(momentum=0.9, dampening=0.1, nesterov=True), "SGD: invalid nesterov"),
        (lambda: optim.Adam(betas=(0.9, 1.0)), r"Adam: invalid betas\[1\] 1.0.*\[0, 1\)"),
        (lambda: optim.AdamW(weight_decay=-1.0), "AdamW: invalid weight_decay -1.0"),
        (lambda: optim.RMSprop(eps=-1.0), "RMSprop: invalid eps"),
        (lambda: optim.StepDecay(0.1, step_size=0), "StepDecay: invalid step_size 0"),
        (
            lambda: optim.CosineAnnealing(0.1, total_steps=3, warmup_steps=3),
            r"CosineAnnealing: invalid total_steps 3.*greater than warmup_steps \(3\)",
        ),
    ],
)
def test_bad_hyperparameters_are_rejected(make: object, message: str) -> None:
    with pytest.raises(ArgumentValueError, match=message):
        make()


def test_update_names_what_does_not_match() -> None:
    params = {"dense": {"w": np.zeros((3, 2), np.float32)}, "b": np.zeros(2, np.float32)}
    optimizer = optim.Adam()
    state = optimizer.init(params)
    good = tree_map(np.ones_like, params)
    with pytest.raises(ShapeError, match=r"Adam.update: grads has structure .* but params have"):
        optimizer.update({"dense": good["dense"]}, state, params)
    with pytest.raises(ShapeError, match=r"grads\['dense'\]\['w'\] has shape \(2, 3\)"):
        optimizer.update({**good, "dense": {"w": np.ones((2, 3), np.float32)}}, state, params)
    with pytest.raises(DTypeError, match=r"grads\['b'\] is float64, but params\['b'\] is float32"):
        optimizer.update({**good, "b": np.ones(2)}, state, params)
    with pytest.raises(ArgumentValueError, match="opt_state has keys .*'momentum_buffer'"):
        optimizer.update(good, optim.SGD(momentum=0.9).init(params), params)
    with pytest.raises(DTypeError, match=r"SGD: params\['n'\] must be a float32 or float64"):
        optim.SGD().init({"n": np.zeros(2, np.int64)})
