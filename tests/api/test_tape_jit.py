"""Compiling a recorded tape: `aidjit.compile_tape` and `GradientTape(use_jit=True)`.

Each compiled result is held to the eager tape on the same values; the cached gradient function
is shown to use each recording's values, not the first one's."""

import numpy as np
import pytest

import aidjit
from aidjit import GradientTape, Tensor, ops

F32, F64 = np.float32, np.float64


def forward(x: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax (a stop-gradient max inside), an explicit stop_gradient, a Python scalar."""
    probabilities = ops.softmax(x @ w * 2.0, axis=-1)
    frozen = aidjit.stop_gradient(x) * x + 1.0
    return probabilities, ops.sum(frozen, axis=1)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_compile_tape_replays_the_recording_on_new_inputs(dtype: type) -> None:
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((3, 4)).astype(dtype))
    w = Tensor(rng.standard_normal((4, 5)).astype(dtype))  # not watched: a constant
    with GradientTape() as tape:
        tape.watch(x)
        probabilities, rows = forward(x, w)
    compiled = aidjit.compile_tape(tape, inputs=[x], outputs=[probabilities, rows])
    # Values where a stale softmax max (the recording's) overflows exp, and a stale
    # stop_gradient(x) gives wrong rows: both are recomputed from the new input.
    new_x = (rng.standard_normal((3, 4)) * 60).astype(dtype)
    got_probabilities, got_rows = compiled(new_x)
    want_probabilities, want_rows = forward(Tensor(new_x), w)
    tolerance = 1e-5 if dtype is F32 else 1e-12
    assert got_probabilities.dtype == dtype and got_rows.dtype == dtype
    np.testing.assert_allclose(got_probabilities, want_probabilities.numpy(), rtol=tolerance)
    np.testing.assert_allclose(got_rows, want_rows.numpy(), rtol=tolerance)
    np.testing.assert_allclose(got_rows, (new_x * new_x + 1.0).sum(axis=1), rtol=tolerance)

    with pytest.raises(aidjit.ShapeError, match=r"arg 0 'inputs_0': expected shape \(3, 4\)"):
        compiled(new_x[:2])
    other = F64 if dtype is F32 else F32
    with pytest.raises(aidjit.DTypeError, match="'inputs_0'"):
        compiled(new_x.astype(other))


def test_compile_tape_rejects_what_it_cannot_replay_faithfully() -> None:
    x, b = Tensor(np.ones(3, F32)), Tensor(np.ones(3, F32))
    untracked = Tensor(np.ones(3, F32))
    with GradientTape() as tape:
        tape.watch(x, b)
        y = ops.tanh(x) * b
        z = x * 2.0
    outside = ops.exp(x)  # after the tape closed: not recorded

    with pytest.raises(
        aidjit.ArgumentValueError,
        match=r"outputs\[1\] depends on a watched tensor<3xf32> \(tensor 2 passed to "
        r"tape.watch\) that is not among the inputs",
    ):
        aidjit.compile_tape(tape, inputs=[x], outputs=[z, y])
    with pytest.raises(aidjit.ArgumentValueError, match=r"inputs\[0\] \(tensor<3xf32>\) was not"):
        aidjit.compile_tape(tape, inputs=[untracked], outputs=[y])
    with pytest.raises(aidjit.ArgumentValueError, match=r"outputs\[0\] .* was not recorded"):
        aidjit.compile_tape(tape, inputs=[x], outputs=[outside])
    with pytest.raises(aidjit.ArgumentValueError, match=r"inputs\[1\] is listed twice"):
        aidjit.compile_tape(tape, inputs=[x, x], outputs=[z])
    with pytest.raises(TypeError, match=r"inputs\[0\] is a ndarray"):
        aidjit.compile_tape(tape, inputs=[np.ones(3, F32)], outputs=[z])


def mlp_loss(params: dict[str, Tensor], x: Tensor, labels: Tensor) -> Tensor:
    hidden = ops.relu(x @ params["w1"] + params["b1"])
    return ops.cross_entropy(hidden @ params["w2"], labels)


def make_params(rng: np.random.Generator, features: int) -> dict[str, Tensor]:
    shapes = {"w1": (features, 6), "b1": (6,), "w2": (6, 3), "unused": (2,)}
    return {name: Tensor(rng.standard_normal(shape).astype(F32)) for name, shape in shapes.items()}


def record_step(
    params: dict[str, Tensor], x: np.ndarray, labels: np.ndarray, use_jit: bool
) -> tuple[GradientTape, Tensor]:
    with GradientTape(persistent=True, use_jit=use_jit) as tape:
        tape.watch(*params.values())
        loss = mlp_loss(params, Tensor(x), Tensor(labels))
    return tape, loss


def eager_gradients(params: dict[str, Tensor], x: np.ndarray, labels: np.ndarray) -> list:
    tape, loss = record_step(params, x, labels, use_jit=False)
    return tape.gradient(loss, list(params.values()))


def test_jit_tape_compiles_once_per_structure_and_uses_each_recordings_values() -> None:
    aidjit.cache_clear()
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((4, 5)).astype(F32), rng.integers(0, 3, 4)) for _ in range(3)]
    first, second = make_params(rng, 5), make_params(rng, 5)
    paths, results = [], []
    for params, (x, labels) in [(first, batches[0]), (second, batches[1])]:
        tape, loss = record_step(params, x, labels, use_jit=True)
        results.append((tape.gradient(loss, list(params.values())), params, x, labels))
        paths.append(tape.jit_path)
    assert paths == ["compiled", "reused"]
    assert isinstance(tape.compiled, aidjit.CompiledFunction)
    for grads, params, x, labels in results:
        want = eager_gradients(params, x, labels)
        assert grads[3] is None and want[3] is None  # "unused": unconnected
        for got, expected in zip(grads[:3], want[:3], strict=True):
            assert got.dtype == F32
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(results[0][0][0], results[1][0][0])  # new values, new gradients

    # The same persistent tape, asking for zeros where unconnected: the same function.
    grads = tape.gradient(loss, list(second.values()), unconnected_gradients="zero")
    assert tape.jit_path == "reused"
    np.testing.assert_array_equal(grads[3], np.zeros(2, F32))

    # Another batch size is another structure: compiled again.
    x, labels = batches[2][0][:2], batches[2][1][:2]
    tape, loss = record_step(second, x, labels, use_jit=True)
    grads = tape.gradient(loss, [second["w1"]])
    assert tape.jit_path == "compiled"
    np.testing.assert_allclose(grads[0], eager_gradients(second, x, labels)[0], rtol=1e-5)
    info = aidjit.cache_info()
    assert (info.tape_misses, info.tape_hits) == (2, 2)


def test_jit_tape_runs_eagerly_where_compiled_code_would_hide_the_gradient() -> None:
    """Under an outer tape (a second derivative) and under jit's tracing (a traced target)."""
    x = Tensor(np.array([0.3, -0.7], F64))
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape(use_jit=True) as inner:
            inner.watch(x)
            y = ops.sum(ops.tanh(x) * x)
        dy = inner.gradient(y, x)
        d2 = outer.gradient(ops.sum(dy), x)
    assert inner.jit_path == "eager" and inner.compiled is None
    t = np.tanh(x.numpy())
    sech2 = 1.0 - t * t
    np.testing.assert_allclose(d2, 2.0 * sech2 - 2.0 * x.numpy() * t * sech2, rtol=1e-12)

    tapes = []

    @aidjit.jit(backend="interpreter")
    def traced_gradient(v):
        with GradientTape(use_jit=True) as tape:
            tape.watch(v)
            out = ops.sum(v * v)
        tapes.append(tape)
        return tape.gradient(out, v)

    np.testing.assert_allclose(traced_gradient(x.numpy()), 2.0 * x.numpy())
    assert tapes[0].jit_path == "eager"


def test_a_tape_follows_stop_gradients_without_differentiating_through_them() -> None:
    x = Tensor(np.array([1.0, 2.0], F64))
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        frozen = aidjit.stop_gradient(x)
        y = ops.sum(frozen * 3.0 * x)
        assert tape.watches(frozen)  # followed: a replay recomputes it
    np.testing.assert_allclose(tape.gradient(y, x), 3.0 * x.numpy())
    with pytest.raises(aidjit.GradientError, match="never watched"):
        tape.gradient(y, frozen)
