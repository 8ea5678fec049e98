"""grad and value_and_grad: scalar outputs, has_aux, argnums (negative, pytrees), zeros for
unconnected arguments, integer arguments; eagerly and under jit, against finite differences."""

from typing import Any

import numpy as np
import pytest

import aidjit
from aidjit import ops

RNG = np.random.default_rng(7)


def loss(params, x):
    return ops.mean(ops.tanh(x @ params["w"] + params["b"]) ** 2.0)


def make_params(dtype: type) -> dict[str, np.ndarray]:
    return {
        "w": RNG.standard_normal((3, 2)).astype(dtype),
        "b": RNG.standard_normal(2).astype(dtype),
    }


def finite_difference(fn, tree, eps: float = 1e-6):
    """Central differences of scalar `fn` at every leaf element of float64 `tree`."""
    leaves, structure = aidjit.tree_util.tree_flatten(tree)
    grads = []
    for index, leaf in enumerate(leaves):
        grad = np.zeros_like(leaf)
        for position in np.ndindex(leaf.shape):
            shifted = []
            for sign in (1.0, -1.0):
                moved = [a.copy() for a in leaves]
                moved[index][position] += sign * eps
                shifted.append(float(fn(structure.unflatten(moved))))
            grad[position] = (shifted[0] - shifted[1]) / (2 * eps)
        grads.append(grad)
    return structure.unflatten(grads)


def as_numpy(tensor):
    return np.asarray(tensor)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_pytree_gradient_matches_finite_differences(jit: bool) -> None:
    params, x = make_params(np.float64), RNG.standard_normal((4, 3))
    step = aidjit.value_and_grad(loss)
    value, grads = (aidjit.jit(step) if jit else step)(params, x)
    assert set(grads) == {"w", "b"}
    expected = finite_difference(lambda p: as_numpy(loss(p, aidjit.Tensor(x))), params)
    for key in ("w", "b"):
        np.testing.assert_allclose(grads[key], expected[key], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(value, as_numpy(loss(params, aidjit.Tensor(x))), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_keeps_the_argument_structure_and_dtype(dtype: type) -> None:
    params, x = make_params(dtype), RNG.standard_normal((4, 3)).astype(dtype)
    eager = aidjit.grad(loss)(params, x)
    compiled = aidjit.jit(aidjit.grad(loss))(params, x)
    for key in ("w", "b"):
        assert eager[key].dtype == dtype and eager[key].shape == params[key].shape
        np.testing.assert_allclose(
            compiled[key], eager[key], rtol=1e-5 if dtype == np.float32 else 1e-12
        )


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_negative_argnums(jit: bool) -> None:
    def f(a, b, c):
        return ops.sum(a * b * c)

    a, b, c = (np.full(3, v, np.float32) for v in (2.0, 3.0, 5.0))
    transform = aidjit.value_and_grad(f, argnums=(-1, 0))
    value, (gc, ga) = (aidjit.jit(transform) if jit else transform)(a, b, c)
    assert value == pytest.approx(90.0)
    np.testing.assert_allclose(gc, a * b)
    np.testing.assert_allclose(ga, b * c)
    single = aidjit.grad(f, argnums=-2)
    np.testing.assert_allclose((aidjit.jit(single) if jit else single)(a, b, c), a * c)


def test_argnums_out_of_range() -> None:
    with pytest.raises(IndexError, match="argnums -4 is out of range for 3"):
        aidjit.grad(lambda a, b, c: ops.sum(a), argnums=-4)(*[np.ones(2)] * 3)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_non_scalar_output_is_an_error(jit: bool) -> None:
    transform = aidjit.value_and_grad(lambda x: x * 2.0)
    with pytest.raises(
        aidjit.GradientError, match=r"grad requires a scalar output, got tensor<3xf32>"
    ):
        (aidjit.jit(transform) if jit else transform)(np.ones(3, np.float32))


def test_tuple_output_without_has_aux_suggests_it() -> None:
    with pytest.raises(aidjit.GradientError, match="has_aux=True"):
        aidjit.grad(lambda x: (ops.sum(x), x))(np.ones(3))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_has_aux(jit: bool) -> None:
    def f(x):
        y = x * 3.0
        return ops.sum(y * x), {"y": y, "n": ops.mean(x)}

    x = np.arange(3, dtype=np.float32)
    both = aidjit.value_and_grad(f, has_aux=True)
    only = aidjit.grad(f, has_aux=True)
    (value, aux), grad = (aidjit.jit(both) if jit else both)(x)
    grad2, aux2 = (aidjit.jit(only) if jit else only)(x)
    assert value == pytest.approx(15.0)
    np.testing.assert_allclose(grad, 6 * x)
    np.testing.assert_allclose(grad2, 6 * x)
    for out in (aux, aux2):
        np.testing.assert_allclose(out["y"], 3 * x)
        assert out["n"] == pytest.approx(1.0)
        assert isinstance(out["y"], np.ndarray)


def test_has_aux_needs_a_pair() -> None:
    with pytest.raises(aidjit.GradientError, match=r"\(value, aux\) pair"):
        aidjit.grad(lambda x: ops.sum(x), has_aux=True)(np.ones(2))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_unconnected_arguments_get_zeros(jit: bool) -> None:
    transform = aidjit.grad(lambda a, b: ops.sum(a * a), argnums=(0, 1))
    a, b = np.ones(2, np.float32), {"u": np.ones((2, 3)), "v": [np.ones(1, np.float32)]}
    ga, gb = (aidjit.jit(transform) if jit else transform)(a, b)
    np.testing.assert_array_equal(ga, [2.0, 2.0])
    np.testing.assert_array_equal(gb["u"], np.zeros((2, 3)))
    assert gb["u"].dtype == np.float64 and gb["v"][0].dtype == np.float32


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_gradient_with_respect_to_ints_is_an_error(jit: bool) -> None:
    def f(x, labels):
        return ops.cross_entropy(x, labels)

    transform = aidjit.grad(f, argnums=1)
    with pytest.raises(aidjit.GradientError, match=r"argument 'labels' of dtype int64"):
        (aidjit.jit(transform) if jit else transform)(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(aidjit.GradientError, match=r"argument xs\[1\] of dtype int64"):
        aidjit.grad(lambda xs: ops.sum(xs[0]))([np.ones(2), 3])


def test_keyword_arguments_and_second_derivative() -> None:
    def f(x, scale):
        return ops.sum(ops.tanh(x) * scale)

    x = np.array(0.3)
    first = aidjit.grad(f)
    assert first(x=x, scale=2.0) == pytest.approx(2 * (1 - np.tanh(0.3) ** 2))
    second = aidjit.grad(lambda x: aidjit.grad(f)(x, 1.0))
    t = np.tanh(0.3)
    assert second(x) == pytest.approx(-2 * t * (1 - t**2), rel=1e-10)


def test_wraps_the_function() -> None:
    def named_loss(x):
        """Doc."""
        return ops.sum(x)

    assert aidjit.grad(named_loss).__name__ == "named_loss"
    assert aidjit.value_and_grad(named_loss).__doc__ == "Doc."


@pytest.mark.parametrize("make", [aidjit.jit, lambda f: aidjit.compile(f, np.ones(3, np.float32))])
def test_a_compiled_function_called_under_grad_is_differentiated_not_zero(make: Any) -> None:
    """Compiled code returns plain arrays a tape cannot see: under a watching tape the Python
    function runs instead, so the gradient flows through (it was silently zero)."""
    inner = make(lambda x: x * 3.0)
    x = np.ones(3, np.float32)
    np.testing.assert_array_equal(aidjit.grad(lambda x: ops.sum(inner(x)))(x), [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(
        aidjit.jit(aidjit.grad(lambda x: ops.sum(inner(x))))(x), [3.0, 3.0, 3.0]
    )
    tensor = aidjit.Tensor(x)
    with aidjit.GradientTape() as tape:
        tape.watch(tensor)
        y = ops.sum(inner(tensor) ** 2)
    np.testing.assert_allclose(tape.gradient(y, tensor), 18.0 * x)
    assert isinstance(inner(x), np.ndarray)  # outside a tape the compiled code runs


def test_a_python_float_source_is_weak_eagerly_as_under_jit() -> None:
    def loss(w: Any, scale: Any) -> Any:
        return ops.sum(w * scale)

    w = np.ones(3, np.float32)
    eager = aidjit.grad(loss, argnums=(0, 1))(w, 0.5)
    jitted = aidjit.jit(aidjit.grad(loss, argnums=(0, 1)))(w, 0.5)
    for got in (eager, jitted):
        np.testing.assert_allclose(got[0], [0.5, 0.5, 0.5])
        assert float(got[1]) == 3.0
