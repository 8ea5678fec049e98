"""vectorize-transposes against numpy, the scalar nest it replaces and the loop interpreter.

A transpose is a copy, so every case must be bit for bit numpy's `transpose`, in float32 and
float64, at shapes that leave every remainder: blocks only, a column tail, a row tail, both,
and a leading batch dimension (attention's per-head `k.T`).
"""

import re

import numpy as np
import pytest

import aidjit
from aidjit import ops
from aidjit.errors import PipelineError
from aidjit.pipeline import DEFAULT_PIPELINE

PASS = "vectorize-transposes"
SHAPES = [(32, 48), (37, 16), (16, 21), (19, 35), (3, 20, 17)]


def _swap_last(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def _transpose(x: aidjit.Tensor) -> aidjit.Tensor:
    axes = (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2)
    return ops.transpose(x, axes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposes_are_numpy_s_bit_for_bit(dtype: type) -> None:
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]

    def every_shape(*xs: aidjit.Tensor) -> tuple[aidjit.Tensor, ...]:
        return tuple(_transpose(x) for x in xs)

    compiled = aidjit.compile(every_shape, *arrays, tier="optimized")
    assert compiled.ir("loops").count("vector.shuffle") > 0
    for got, x in zip(compiled(*arrays), arrays, strict=True):
        assert np.array_equal(got, _swap_last(x))


def test_the_pass_changes_no_bit_and_the_interpreter_runs_its_shuffles() -> None:
    """With 16-byte vectors (4 lanes: two shuffle rounds), the interpreted loop level and the
    C with and without the pass all give the transpose."""
    x = np.random.default_rng(3).standard_normal((2, 9, 14)).astype(np.float32)
    narrow, off = (
        re.sub(
            r"vectorize-transposes\{vector-bytes=\d+\}",
            f"{PASS}{{vector-bytes={n}}}",
            DEFAULT_PIPELINE,
        )
        for n in (16, 0)
    )
    assert f"{PASS}{{vector-bytes=16}}" in narrow and f"{PASS}{{vector-bytes=0}}" in off
    interpreted = aidjit.compile(_transpose, x, backend="interpreter", pipeline=narrow)
    assert "vector<4xf32>" in interpreted.ir("loops")
    results = [
        interpreted(x),
        aidjit.compile(_transpose, x, tier="optimized", pipeline=narrow)(x),
        aidjit.compile(_transpose, x, tier="optimized", pipeline=off)(x),
    ]
    for result in results:
        assert np.array_equal(result, _swap_last(x))


def test_vector_bytes_must_be_a_power_of_two() -> None:
    x = np.zeros((16, 16), np.float32)
    pipeline = re.sub(
        r"vectorize-transposes\{vector-bytes=\d+\}", f"{PASS}{{vector-bytes=24}}", DEFAULT_PIPELINE
    )
    with pytest.raises(PipelineError, match="vector-bytes must be 0 or a power of two"):
        aidjit.compile(_transpose, x, tier="optimized", pipeline=pipeline)
