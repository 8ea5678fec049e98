"""tile-contractions end to end: register-tiled micro-kernels give the scalar nest's bits.

Each shape exercises a tail: rows that do not fill the 8-row tile, columns that do not fill a
2-vector panel, columns beyond the last full vector (a masked vector), fewer columns than one
vector (all masked), one row (batch 1), a k loop longer than one L1 block. The micro-kernel
applies the same FMAs to each element in the same k order as the scalar nest, so the two
pipelines must agree bitwise, and both match numpy.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import aidjit
from aidjit import ops
from aidjit.pipeline import DEFAULT_PIPELINE

SCALAR_PIPELINE = ",".join(
    name for name in DEFAULT_PIPELINE.split(",") if not name.startswith("tile-contractions")
)
SHAPES = [
    (37, 53, 45),
    (1, 784, 40),
    (9, 7, 33),
    (16, 1500, 64),
    (3, 5, 16),
    (37, 29, 10),
    (6, 5, 3),
]


def _dense(x: aidjit.Tensor, w: aidjit.Tensor, b: aidjit.Tensor) -> aidjit.Tensor:
    return ops.relu(x @ w + b)


def _inputs(shape: tuple[int, int, int], dtype: type) -> tuple[np.ndarray, ...]:
    m, k, n = shape
    rng = np.random.default_rng(m * 1000 + k + n)
    return (
        rng.standard_normal((m, k)).astype(dtype),
        rng.standard_normal((k, n)).astype(dtype),
        rng.standard_normal(n).astype(dtype),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_tiled_matmul_equals_scalar_nest_bitwise(shape: tuple[int, int, int], dtype: type) -> None:
    args = _inputs(shape, dtype)
    tiled = aidjit.compile(_dense, *args)
    scalar = aidjit.compile(_dense, *args, pipeline=SCALAR_PIPELINE)
    assert "vector.fma" in tiled.ir("loops")
    assert "vector.fma" not in scalar.ir("loops")
    got, expected = tiled(*args), scalar(*args)
    assert np.array_equal(got, expected)
    x, w, b = (a.astype(np.float64) for a in args)
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, np.maximum(x @ w + b, 0), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_accumulators_started_from_the_fill_keep_its_bits(dtype: type) -> None:
    """The zero fill before a row group's matmul is not run: the accumulators start from it.
    Products that are all -0 still sum to the fill's +0 (fma(-0, y, +0) = +0), and with K = 0
    the micro-kernels store the fill value itself, as the scalar nest leaves it."""
    x = np.array([[-0.0, 1.0], [-0.0, -0.0], [2.0, -0.0]] * 3, dtype)
    w = np.array([[1.0, -3.0, 0.5] * 3, [0.0, -0.0, 0.0] * 3], dtype)

    def matmul(x: aidjit.Tensor, w: aidjit.Tensor) -> aidjit.Tensor:
        return x @ w

    results = []
    for args in ((x, w), (np.ones((7, 0), dtype), np.ones((0, 20), dtype))):
        got = aidjit.compile(matmul, *args)(*args)
        expected = aidjit.compile(matmul, *args, pipeline=SCALAR_PIPELINE)(*args)
        assert np.array_equal(got, expected)
        assert np.array_equal(np.signbit(got), np.signbit(expected))
        np.testing.assert_array_equal(got, args[0] @ args[1])
        results.append(got)
    assert not np.signbit(results[0][1]).any()  # row 1: every product is -0
    assert not results[1].any()


def test_gradients_through_tiled_contractions() -> None:
    """The backward pass's matmuls (x.T @ dy, dy @ w.T) are tiled as well and stay exact."""
    args = _inputs((19, 35, 48), np.float64)

    def loss(x: aidjit.Tensor, w: aidjit.Tensor, b: aidjit.Tensor) -> aidjit.Tensor:
        return ops.sum(_dense(x, w, b) ** 2)

    step = aidjit.value_and_grad(loss, argnums=(0, 1, 2))
    tiled = aidjit.compile(step, *args)
    scalar = aidjit.compile(step, *args, pipeline=SCALAR_PIPELINE)
    assert tiled.ir("loops").count("vector.fma") > 0
    for got, expected in zip(
        aidjit.tree_util.tree_leaves(tiled(*args)),
        aidjit.tree_util.tree_leaves(scalar(*args)),
        strict=True,
    ):
        assert np.array_equal(got, expected)


def test_the_loop_interpreter_runs_the_micro_kernel_like_the_c() -> None:
    """The interpreter runs the tiled loop level (packed A on the stack, vector FMAs) to the
    same bits as the compiled C."""
    args = _inputs((11, 6, 40), np.float32)
    compiled = aidjit.compile(_dense, *args)
    interpreted = aidjit.compile(_dense, *args, backend="interpreter")
    assert "memref.alloca" in interpreted.ir("loops") and "vector.fma" in interpreted.ir("loops")
    assert np.array_equal(interpreted(*args), compiled(*args))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("hidden", "all_packed"), [(20, True), (25, False)])
def test_activations_are_computed_where_they_are_packed(
    hidden: int, all_packed: bool, dtype: type
) -> None:
    """A two-layer MLP's gradient: the second layer's input relu(x @ w1 + b1) and the
    weight gradient's relu(...).T are computed where A's blocks are packed (20 rows: 8 + 8 +
    4 on AVX-512, 6 + 6 + 6 + 2 on AVX2, all packed, so a view of the workspace goes; 25: a
    last row of one on both, read in place, its producer kept in the row group), the
    5-column second layer is tiled on the first's blocks of rows, and every gradient has the
    scalar nests' bits."""
    rng = np.random.default_rng(hidden)
    args = tuple(
        rng.standard_normal(shape).astype(dtype)
        for shape in ((13, 7), (7, hidden), (hidden,), (hidden, 5), (5,))
    )

    def loss(
        x: aidjit.Tensor, w1: aidjit.Tensor, b1: aidjit.Tensor, w2: aidjit.Tensor, b2: aidjit.Tensor
    ) -> aidjit.Tensor:
        return ops.sum(_dense(_dense(x, w1, b1), w2, b2) ** 2)

    step = aidjit.grad(loss, argnums=(1, 2, 3, 4))
    tiled = aidjit.compile(step, *args)
    scalar = aidjit.compile(step, *args, pipeline=SCALAR_PIPELINE)
    if all_packed:  # B's panels (3-D views, `pack_b`) left out of the count

        def views(loops: str) -> int:
            return len(re.findall(r"memref\.view .* to memref<(?!\d+x\d+x\d+x)", loops))

        assert views(tiled.ir("loops")) < views(scalar.ir("loops"))
    for got, expected in zip(tiled(*args), scalar(*args), strict=True):
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [19, 8, 1])
def test_two_layers_of_a_row_group_give_the_scalar_bits(batch: int, dtype: type) -> None:
    """W2b's shape in small: the second layer (10 columns, fewer than a vector) is tiled on
    the first layer's blocks of rows (19 = 8 + 8 + 3), its input computed where it is packed."""
    rng = np.random.default_rng(batch)
    args = tuple(
        rng.standard_normal(shape).astype(dtype)
        for shape in ((batch, 33), (33, 21), (21,), (21, 10), (10,))
    )

    def mlp(
        x: aidjit.Tensor, w1: aidjit.Tensor, b1: aidjit.Tensor, w2: aidjit.Tensor, b2: aidjit.Tensor
    ) -> aidjit.Tensor:
        return ops.softmax(_dense(x, w1, b1) @ w2 + b2)

    tiled = aidjit.compile(mlp, *args)
    scalar = aidjit.compile(mlp, *args, pipeline=SCALAR_PIPELINE)
    assert np.array_equal(tiled(*args), scalar(*args))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0, 1])
def test_packed_panels_of_b_give_the_scalar_bits(offset: int, dtype: type) -> None:
    """Fifty rows (several blocks of rows on any ISA) read B from panels packed once into the
    workspace (no heap allocation per call), the rows left over and the columns past the last
    panel from B in place, with the operands at numpy's usual alignment and one element off
    it; the interpreter runs the packed nest to the same bits."""
    rng = np.random.default_rng(50 + offset)

    def unaligned(shape: tuple[int, ...]) -> np.ndarray:
        flat = rng.standard_normal(int(np.prod(shape)) + offset).astype(dtype)
        return flat[offset:].reshape(shape)

    args = (unaligned((50, 31)), unaligned((31, 100)), unaligned((100,)))
    tiled = aidjit.compile(_dense, *args)
    scalar = aidjit.compile(_dense, *args, pipeline=SCALAR_PIPELINE)
    interpreted = aidjit.compile(_dense, *args, backend="interpreter")
    loops = tiled.ir("loops")
    assert "memref.alloc(" not in loops and "aligned_alloc" not in tiled.ir("c")
    panels = re.search(r"memref<\d+xi8> to memref<(\d+)x31x(\d+)x", loops)
    assert panels is not None, "B's panels are no view of the workspace"
    assert int(panels.group(1)) * int(panels.group(2)) <= 100  # full tiles' columns of B
    expected = scalar(*args)
    assert np.array_equal(tiled(*args), expected)
    assert np.array_equal(interpreted(*args), expected)
