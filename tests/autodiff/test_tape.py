"""GradientTape semantics: watching, persistence, nesting, threads, and value_and_grad."""

import threading

import numpy as np
import pytest

import aidjit
from aidjit import GradientTape, Tensor, ops

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_unconnected_source_gets_none_by_default_and_zeros_on_request(dtype: type) -> None:
    x = Tensor(np.array([1.0, 2.0], dtype))
    y = Tensor(np.array([[3.0], [4.0]], dtype))
    with GradientTape(persistent=True) as tape:
        tape.watch(x, y)
        z = ops.sum(x * x)
    dx, dy = tape.gradient(z, [x, y])
    np.testing.assert_array_equal(dx, [2.0, 4.0])
    assert dy is None
    assert tape.gradient(z, y, unconnected_gradients="none") is None
    zeros = tape.gradient(z, y, unconnected_gradients="zero")
    assert zeros.shape == (2, 1) and zeros.dtype == dtype and not zeros.any()


def test_a_path_through_comparisons_only_is_unconnected() -> None:
    """As in TensorFlow: a source reached only through ops without a gradient has None."""
    x = Tensor(np.array([-1.0, 2.0]))
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        mask = ops.greater(x, 0.0) + ops.sign(x)
    assert tape.gradient(mask, x) is None
    np.testing.assert_array_equal(tape.gradient(mask, x, unconnected_gradients="zero"), 0.0)


def test_the_target_itself_and_intermediates_are_valid_sources() -> None:
    x = Tensor(np.array([1.0, 3.0]))
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        h = x * x
        y = ops.sum(ops.exp(h))
    np.testing.assert_allclose(tape.gradient(y, h), np.exp([1.0, 9.0]))
    np.testing.assert_array_equal(tape.gradient(y, y), 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unwatched_source_is_an_error_naming_it(dtype: type) -> None:
    x, w = Tensor(np.ones((1, 2), dtype)), Tensor(np.ones((2, 3), dtype))
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = ops.sum(x @ w)
    after = x * 2.0  # computed from a watched tensor, but after the tape closed
    spec = f"tensor<2x3x{'f32' if dtype == np.float32 else 'f64'}>"
    with pytest.raises(aidjit.GradientError, match=rf"source 1 \({spec}\) was never watched"):
        tape.gradient(y, [x, w])
    with pytest.raises(aidjit.GradientError, match=r"source 0 \(tensor<1x2x"):
        tape.gradient(y, after)
    with pytest.raises(aidjit.GradientError, match="source 0 is a ndarray, not an aidjit Tensor"):
        tape.gradient(y, np.ones(2, dtype))
    np.testing.assert_array_equal(tape.gradient(y, x), [[3.0, 3.0]])  # errors did not use it up


def test_unconnected_gradients_must_be_none_or_zero() -> None:
    x = Tensor(np.ones(2))
    with GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(x)
    with pytest.raises(aidjit.GradientError, match="must be 'none' or 'zero', got 'zeros'"):
        tape.gradient(y, x, unconnected_gradients="zeros")


@pytest.mark.parametrize("dtype", DTYPES)
def test_unconnected_and_unwatched_sources_under_jit(dtype: type) -> None:
    seen = {}

    def step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        with GradientTape(persistent=True) as tape:
            tape.watch(x, y)
            loss = ops.sum(ops.tanh(x))
        seen["none"] = tape.gradient(loss, y)
        return tape.gradient(loss, [x, y], unconnected_gradients="zero")

    x, y = np.array([0.5, -1.0], dtype), np.array([2.0, 3.0, 4.0], dtype)
    dx, dy = aidjit.jit(step)(x, y)
    assert seen["none"] is None
    np.testing.assert_allclose(dx, 1 - np.tanh(x) ** 2, rtol=1e-6)
    assert dy.shape == (3,) and dy.dtype == dtype and not dy.any()

    def unwatched(x: Tensor, y: Tensor) -> Tensor:
        with GradientTape() as tape:
            tape.watch(x)
            loss = ops.sum(x * y)
        return tape.gradient(loss, y)

    with pytest.raises(aidjit.GradientError, match=r"source 0 \(tensor<3x.*never watched"):
        aidjit.jit(unwatched)(np.ones(3, dtype), y)


def test_single_source_returns_one_array() -> None:
    x = Tensor(np.float32(3.0))
    with GradientTape() as tape:
        tape.watch(x)
        y = x * x
    grad = tape.gradient(y, x)
    assert isinstance(grad, np.ndarray) and grad.dtype == np.float32 and grad == 6.0


def test_non_persistent_tape_allows_one_gradient() -> None:
    x = Tensor(np.array([1.0]))
    with GradientTape() as tape:
        tape.watch(x)
        y = ops.exp(x)
    tape.gradient(y, x)
    with pytest.raises(aidjit.AidjitError, match="persistent=True"):
        tape.gradient(y, x)


def test_persistent_tape_allows_many() -> None:
    x = Tensor(np.array([0.5]))
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = ops.tanh(x)
        z = y * y
    np.testing.assert_allclose(tape.gradient(y, x), 1 - np.tanh(0.5) ** 2)
    np.testing.assert_allclose(tape.gradient(z, x), 2 * np.tanh(0.5) * (1 - np.tanh(0.5) ** 2))


def test_reused_values_accumulate() -> None:
    x = Tensor(np.array([2.0, -1.0]))
    with GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(x * x + x * 3.0 + ops.exp(x))
    np.testing.assert_allclose(tape.gradient(y, x), 2 * x.numpy() + 3 + np.exp(x.numpy()))


@pytest.mark.parametrize(
    ("fn", "second"),
    [
        (lambda x: x**3, lambda v: 6 * v),
        (ops.tanh, lambda v: -2 * np.tanh(v) * (1 - np.tanh(v) ** 2)),
        (ops.exp, np.exp),
        (lambda x: ops.sigmoid(x) * x, None),
    ],
    ids=["cube", "tanh", "exp", "x_sigmoid"],
)
def test_nested_tapes_give_second_derivatives(fn, second) -> None:
    values = np.array([-0.7, 0.2, 1.3])
    x = Tensor(values)
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = ops.sum(fn(x))
        first = inner.gradient(y, x)
        assert isinstance(first, Tensor)
        total = ops.sum(first)
    result = outer.gradient(total, x)
    if second is None:
        eps = 1e-5

        def d1(v):
            t = Tensor(v)
            with GradientTape() as g:
                g.watch(t)
                s = ops.sum(fn(t))
            return g.gradient(s, t)

        expected = (d1(values + eps) - d1(values - eps)) / (2 * eps)
    else:
        expected = second(values)
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-8)


def test_stop_gradient_hides_a_value() -> None:
    x = Tensor(np.array([3.0]))
    with GradientTape() as tape:
        tape.watch(x)
        y = x * aidjit.stop_gradient(x)
    np.testing.assert_array_equal(tape.gradient(y, x), [3.0])


def test_tapes_only_record_their_own_thread() -> None:
    x = Tensor(np.array([1.0, 2.0]))
    started, finished = threading.Event(), threading.Event()
    results = {}

    def other_thread() -> None:
        started.wait()
        results["other"] = ops.sum(x * 100.0)  # runs while the main thread's tape is open
        finished.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with GradientTape() as tape:
        tape.watch(x)
        started.set()
        finished.wait()
        y = ops.sum(x * x)
    worker.join()
    np.testing.assert_array_equal(tape.gradient(y, x), [2.0, 4.0])
    with pytest.raises(aidjit.AidjitError):
        tape.gradient(results["other"], x)


def test_tapes_in_parallel_threads_do_not_interfere() -> None:
    grads = {}

    def work(scale: float) -> None:
        x = Tensor(np.array([1.0, 2.0]) * scale)
        with GradientTape() as tape:
            tape.watch(x)
            for _ in range(200):
                y = ops.sum(x * x * scale)
        grads[scale] = tape.gradient(y, x)

    threads = [threading.Thread(target=work, args=(s,)) for s in (1.0, 2.0, 3.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for scale, grad in grads.items():
        np.testing.assert_allclose(grad, 2 * np.array([1.0, 2.0]) * scale * scale)


def test_watch_rejects_non_tensors() -> None:
    with GradientTape() as tape, pytest.raises(TypeError, match="aidjit Tensors"):
        tape.watch(np.ones(3))


def test_value_and_grad_argnums() -> None:
    def f(a, b, c):
        return ops.sum(a * b + c)

    a, b, c = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0])
    value, grad = aidjit.value_and_grad(f)(a, b, c)
    assert value == pytest.approx(1 * 3 + 2 * 4 + 11)
    np.testing.assert_array_equal(grad, b)
    _, (ga, gc) = aidjit.value_and_grad(f, argnums=(0, 2))(a, b, c)
    np.testing.assert_array_equal(ga, b)
    np.testing.assert_array_equal(gc, [1.0, 1.0])
    with pytest.raises(IndexError, match="argnums 3"):
        aidjit.value_and_grad(f, argnums=3)(a, b, c)


def test_mixed_dtypes_are_rejected() -> None:
    with pytest.raises(aidjit.DTypeError, match="operand dtypes differ"):
        Tensor(np.ones(2, np.float32)) + Tensor(np.ones(2, np.float64))


def test_python_scalars_take_the_tensor_dtype() -> None:
    y = 2.0 * Tensor(np.ones(2, np.float32)) - 1
    assert y.dtype == np.float32


def test_cross_entropy_rejects_out_of_range_labels() -> None:
    with pytest.raises(aidjit.ShapeError, match=r"labels must lie in \[0, 3\)"):
        ops.cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 3]))


def test_tensor_of_a_tensor_is_the_same_tensor_traced_or_watched() -> None:
    """Found by the fuzzer: `Tensor(t)` read t's value, which fails on a traced tensor (and
    would detach a watched one). Like jnp.asarray, it returns t, or t.astype(dtype)."""
    x = np.array([1.0, 2.0], np.float32)
    compiled = aidjit.jit(lambda t: Tensor(t) * 2.0 + Tensor(t, np.float64).astype(np.float32))
    np.testing.assert_array_equal(compiled(x), 3.0 * x)
    t = Tensor(x)
    assert Tensor(t) is t
    with GradientTape() as tape:
        tape.watch(t)
        y = ops.sum(Tensor(t) * Tensor(t, np.float64).astype(np.float32))
    np.testing.assert_allclose(tape.gradient(y, t), 2.0 * x)
