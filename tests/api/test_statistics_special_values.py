"""Special values through the statistics ops, eager and compiled, against numpy's rules.

The op table's rows use tie-free finite inputs; here one function sees ties, NaN, infinities
and signed zeros: argmax/argmin give the first of tied extrema and the first NaN, logsumexp
gives -inf for a row of -inf and +inf for a row holding +inf (scipy's results), reduce_min
propagates NaN and cumsum adds in numpy's order, so inf - inf is NaN from there on only.
"""

import numpy as np
import pytest

from aidjit import Tensor, compile, ops
from aidjit.pipeline import pipeline_to_stage

ROWS = [
    [1.0, 3.0, 3.0, -2.0, 3.0],  # tied maxima
    [np.nan, 1.0, np.nan, 5.0, -1.0],  # NaN: the first NaN, for argmax and argmin alike
    [-np.inf] * 5,  # logsumexp: -inf, not -inf - -inf = NaN
    [np.inf, 1.0, -np.inf, 2.0, np.inf],  # logsumexp: inf; cumsum: inf, then NaN
    [-0.0, 0.0, -0.0, 0.0, -1.0],  # -0.0 == +0.0: the first zero is the maximum
    [2.0] * 5,  # all tied
    [4.0, -np.inf, 7.0, np.inf, 7.0],
]

LOGSUMEXP = [
    np.log(np.exp(1.0) + 3 * np.exp(3.0) + np.exp(-2.0)),
    np.nan,
    -np.inf,
    np.inf,
    np.log(4.0 + np.exp(-1.0)),
    2.0 + np.log(5.0),
    np.inf,
]


def statistics(x: Tensor) -> tuple[Tensor, ...]:
    return (
        ops.argmax(x, axis=1),
        ops.argmin(x, axis=1),
        ops.argmax(x),
        ops.argmin(ops.transpose(x), axis=0),
        ops.logsumexp(x, axis=1),
        ops.reduce_min(x, axis=1),
        ops.cumsum(x, axis=1),
    )


def expected(x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (
        np.argmax(x, axis=1),
        np.argmin(x, axis=1),
        np.argmax(x),
        np.argmin(x.T, axis=0),
        np.array(LOGSUMEXP, x.dtype),
        np.min(x, axis=1),
        np.cumsum(x, axis=1),
    )


def assert_same(results: tuple[np.ndarray, ...], x: np.ndarray) -> None:
    for index, (result, want) in enumerate(zip(results, expected(x), strict=True)):
        result = np.asarray(result)
        assert result.dtype == want.dtype and result.shape == want.shape, index
        if want.dtype.kind == "i":
            np.testing.assert_array_equal(result, want, err_msg=f"result {index}")
            continue
        np.testing.assert_allclose(result, want, rtol=1e-6, err_msg=f"result {index}")
        zeros = want == 0
        assert (np.signbit(result[zeros]) == np.signbit(want[zeros])).all(), index


@pytest.mark.parametrize(
    "dtype, backend",
    [(np.float32, "c"), (np.float64, "c"), (np.float64, "loops")],
)
def test_statistics_follow_numpy_on_special_values(dtype: type, backend: str) -> None:
    x = np.array(ROWS, dtype)
    with np.errstate(invalid="ignore"):  # numpy's own inf - inf in the reference cumsum
        assert_same(tuple(r.numpy() for r in statistics(Tensor(x))), x)
        options = {}
        if backend != "c":
            options = {"backend": "interpreter", "pipeline": pipeline_to_stage(backend)}
        assert_same(compile(statistics, x, **options)(x), x)
