"""Basic indexing `x[key]`: numpy's values and gradients, eagerly and compiled; clear refusals."""

import numpy as np
import pytest

import aidjit
from aidjit import GradientTape, Tensor, ops
from aidjit.errors import ShapeError, UnsupportedError

KEYS = [
    0,
    -1,
    (slice(None), slice(1, 3)),
    slice(None, None, 2),
    (Ellipsis, -1),
    None,
    (np.newaxis, 1, Ellipsis),
    (slice(None, None, -1),),
    (slice(3, 0, -2), slice(None), 2),
    (slice(-100, 100), slice(3, 1)),
    (1, None, slice(1, None), None),
    (np.int64(2), slice(None, None, -3)),
    Ellipsis,
    (),
]
KEY_IDS = [repr(key) for key in KEYS]


def weights_for(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(1).uniform(0.5, 1.5, size=shape)


def expected_gradient(x: np.ndarray, key: object, weights: np.ndarray) -> np.ndarray:
    """d sum(weights * x[key]) / dx: basic indexing is a view, so scatter by assigning to it."""
    grad = np.zeros_like(x)
    grad[key] = weights
    return grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("key", KEYS, ids=KEY_IDS)
def test_indexing_matches_numpy_with_gradients(key: object, dtype: type) -> None:
    x = np.random.default_rng(0).uniform(-1, 1, size=(4, 3, 5)).astype(dtype)
    expected = x[key]
    weights = weights_for(expected.shape).astype(dtype)
    tensor = Tensor(x)
    with GradientTape() as tape:
        tape.watch(tensor)
        result = tensor[key]
        loss = ops.sum(result * weights)
    assert result.dtype == dtype and result.shape == expected.shape
    np.testing.assert_array_equal(result.numpy(), expected)
    np.testing.assert_array_equal(tape.gradient(loss, tensor), expected_gradient(x, key, weights))


@pytest.mark.parametrize(
    "key", [1, (slice(None), slice(1, 3)), (slice(3, 0, -2), None, -1)], ids=repr
)
def test_compiled_indexing_and_gradient_match_numpy(key: object) -> None:
    x = np.random.default_rng(0).uniform(-1, 1, size=(4, 3)).astype(np.float32)
    weights = weights_for(x[key].shape).astype(np.float32)

    def loss(t: Tensor) -> Tensor:
        return ops.sum(t[key] * t[key] * weights)

    compiled = aidjit.compile(lambda t: (t[key], aidjit.value_and_grad(loss)(t)), x)
    assert "graph.slice" in compiled.ir("graph") and "graph.pad" in compiled.ir("graph")
    value, (_, grad) = compiled(x)
    np.testing.assert_array_equal(value, x[key])
    expected = expected_gradient(x, key, 2 * x[key] * weights)
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_negative_strides_and_pads_compose_into_second_derivatives() -> None:
    x = Tensor(np.arange(1.0, 7.0))
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = ops.sum(x[::-2] ** 3)
        (dy,) = [inner.gradient(y, x)]
        z = ops.sum(dy * dy)
    # y = sum of x[5]**3, x[3]**3, x[1]**3: dy = 3 x**2 there; z = sum 9 x**4; dz = 36 x**3.
    mask = np.array([0, 1, 0, 1, 0, 1.0])
    np.testing.assert_allclose(outer.gradient(z, x), 36 * np.arange(1.0, 7.0) ** 3 * mask)


@pytest.mark.parametrize(
    "key",
    [[0, 1], np.array([0, 2]), np.array([True, False, True, False]), True, Tensor(np.int64(1))],
    ids=["list", "int_array", "bool_mask", "bool", "tensor"],
)
def test_advanced_indexing_is_refused_with_a_suggestion(key: object) -> None:
    x = Tensor(np.zeros((4, 3)))
    with pytest.raises(UnsupportedError, match="advanced indexing is not supported yet; use"):
        x[key]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (4, r"index 4 is out of bounds for axis 0 with size 4 \(tensor shape \(4, 3\)\)"),
        ((0, -4), r"index -4 is out of bounds for axis 1 with size 3"),
        ((0, 0, 0), r"too many indices for a tensor of shape \(4, 3\): 3"),
        ((Ellipsis, 0, Ellipsis), "single ellipsis"),
        (slice(None, None, 0), "slice step cannot be zero"),
    ],
)
def test_bad_basic_indices_raise_index_error(key: object, message: str) -> None:
    with pytest.raises(IndexError, match=message):
        Tensor(np.zeros((4, 3)))[key]


def test_assignment_is_refused() -> None:
    x = Tensor(np.zeros(3))
    with pytest.raises(UnsupportedError, match=r"assignment .* ops.where\(mask, v, x\)"):
        x[0] = 1.0


def test_slice_and_pad_rules_name_the_op_and_shape() -> None:
    x = Tensor(np.zeros((4, 3)))
    with pytest.raises(ShapeError, match=r"slice: axis 0 of tensor<4x3xf64>: 3 elements from 2"):
        ops.strided_slice(x, (2, 0), (3, 3))
    with pytest.raises(ShapeError, match=r"pad: padding of tensor<4x3xf64> must be non-negative"):
        ops.lax_pad(x, (0, -1), (0, 0))
    with pytest.raises(ShapeError, match=r"pad: low \(0,\) needs one entry per axis"):
        ops.lax_pad(x, (0,), (1,))


@pytest.mark.parametrize("shape", [(2, 0, 1), (3, 0), (0,)])
def test_pad_of_an_empty_axis_with_interior_padding(shape: tuple[int, ...]) -> None:
    """Found by the fuzzer (seed 30548): the eager pad placed an empty axis's elements through a
    negative, wrapping slice stop and failed; every level must give zeros of the padded shape."""
    low, high, interior = (2, 0, 2)[: len(shape)], (1, 2, 0)[: len(shape)], (0, 1, 1)[: len(shape)]
    x = np.ones(shape)
    expected_shape = tuple(
        lo + hi + max(d + (d - 1) * i, 0)
        for d, lo, hi, i in zip(shape, low, high, interior, strict=True)
    )
    eager = ops.lax_pad(Tensor(x), low, high, interior).numpy()
    assert eager.shape == expected_shape and not eager.any()
    for options in ({}, {"backend": "interpreter"}):
        compiled = aidjit.compile(lambda t: ops.lax_pad(t, low, high, interior), x, **options)(x)
        np.testing.assert_array_equal(compiled, eager)
