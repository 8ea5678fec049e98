"""Spatial and graph ops eagerly, beyond the op table: every grid_sample mode against torch's
formulas (tests/op_cases.py's reference) and finite differences, and the properties that
define affine_grid, graph_conv and rbf_kernel."""

import itertools

import numpy as np
import pytest

from aidjit import GradientTape, Tensor, ops
from aidjit.errors import ArgumentValueError, ShapeError
from tests.op_cases import _edge_matrix_ref, _gcn_ref, _grid_sample_ref

COMBINATIONS = list(
    itertools.product(("bilinear", "nearest"), ("zeros", "border", "reflection"), (False, True))
)
IDS = [f"{m}-{p}-align{int(a)}" for m, p, a in COMBINATIONS]


def _inputs(dtype: type) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    # Grid values reach 1.6 past the border: reflections fold more than once on 3 pixels.
    return rng.normal(size=(2, 2, 3, 4)).astype(dtype), rng.uniform(-2.6, 2.6, (2, 3, 2, 2)).astype(
        dtype
    )


@pytest.mark.parametrize(("mode", "padding", "align"), COMBINATIONS, ids=IDS)
def test_grid_sample_matches_torchs_formulas(mode: str, padding: str, align: bool) -> None:
    for dtype, tolerance in ((np.float32, 2e-5), (np.float64, 1e-12)):
        x, grid = _inputs(dtype)
        out = ops.grid_sample(x, grid, mode, padding, align)
        assert out.dtype == dtype
        expected = _grid_sample_ref(x, grid, mode, padding, align)
        np.testing.assert_allclose(out.numpy(), expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(("mode", "padding", "align"), COMBINATIONS, ids=IDS)
def test_grid_sample_gradients_match_finite_differences(
    mode: str, padding: str, align: bool
) -> None:
    x, grid = _inputs(np.float64)
    weights = np.random.default_rng(6).uniform(0.5, 1.5, size=(2, 2, 3, 2))

    def loss(x: np.ndarray | Tensor, grid: np.ndarray | Tensor) -> Tensor:
        return (ops.grid_sample(x, grid, mode, padding, align) * weights).sum()

    tensors = [Tensor(x), Tensor(grid)]
    with GradientTape() as tape:
        tape.watch(*tensors)
        value = loss(*tensors)
    grads = tape.gradient(value, tensors, "zero")
    eps = 1e-6
    for position, (array, grad) in enumerate(zip((x, grid), grads, strict=True)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            shifted = [x.copy(), grid.copy()]
            shifted[position][index] += eps
            plus = loss(*shifted).numpy()
            shifted[position][index] -= 2 * eps
            numeric[index] = (plus - loss(*shifted).numpy()) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("align", [False, True])
def test_identity_transform_reproduces_the_input(align: bool) -> None:
    """torch's defining property: the identity theta's grid samples every pixel's centre."""
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    theta = np.tile(np.eye(2, 3), (2, 1, 1))
    grid = ops.affine_grid(theta, x.shape, align_corners=align)
    for mode in ("bilinear", "nearest"):
        out = ops.grid_sample(x, grid, mode, align_corners=align).numpy()
        np.testing.assert_allclose(out, x, rtol=1e-12, atol=1e-12)


def test_spatial_errors_name_the_op() -> None:
    x, grid = _inputs(np.float32)
    with pytest.raises(
        ArgumentValueError, match="grid_sample: mode must be one of bilinear, nearest"
    ):
        ops.grid_sample(x, grid, mode="bicubic")
    with pytest.raises(ArgumentValueError, match="grid_sample: padding_mode must be one of"):
        ops.grid_sample(x, grid, padding_mode="circular")
    with pytest.raises(ShapeError, match=r"grid_sample: expected input \[N, C, H, W\]"):
        ops.grid_sample(x, grid[:1])
    with pytest.raises(ShapeError, match=r"affine_grid: theta must have shape \(2, 2, 3\)"):
        ops.affine_grid(np.zeros((2, 3, 3)), (2, 1, 4, 4))
    with pytest.raises(ArgumentValueError, match=r"graph_conv: node ids must lie in \[0, 3\)"):
        ops.graph_conv(np.ones((3, 2)), np.array([[0, 1], [1, 3]]), np.ones((2, 2)))
    with pytest.raises(ShapeError, match="rbf_kernel: expected x"):
        ops.rbf_kernel(np.ones((3, 2)), np.ones((4, 3)))


def test_graph_conv_edge_list_is_its_count_matrix() -> None:
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(6, 4)), rng.normal(size=(4, 3))
    edges = np.array([[0, 1, 1, 2, 5, 5, 3], [1, 0, 2, 1, 4, 4, 3]])  # a repeat, a self loop
    dense = _edge_matrix_ref(edges, 6)
    np.testing.assert_allclose(
        ops.graph_conv(x, edges, w).numpy(), ops.graph_conv(x, dense, w).numpy(), rtol=1e-13
    )
    np.testing.assert_allclose(
        ops.graph_conv(x, edges, w).numpy(), _gcn_ref(x, dense, w), rtol=1e-12
    )


def test_rbf_kernel_of_coincident_points_is_one() -> None:
    """The clamp at 0: ||x||² + ||x||² - 2 x.x may round below 0 for large ||x||."""
    x = np.random.default_rng(2).normal(size=(7, 5)).astype(np.float32) * 30 + 100
    kernel = ops.rbf_kernel(x, x, 0.1).numpy()
    assert kernel.max() <= 1.0
    np.testing.assert_allclose(np.diag(kernel), 1.0, atol=1e-2)
    np.testing.assert_allclose(ops.rbf_kernel(x[:2], x[:3]).numpy()[:, 0], [1.0, 0.0], atol=1e-2)
