"""Property tests: random broadcasting shapes and reduction axes, compiled against numpy."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aidjit
from aidjit import ops

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

dims = st.integers(min_value=1, max_value=4)
shapes = st.lists(dims, min_size=0, max_size=3).map(tuple)


@st.composite
def broadcastable_pairs(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = draw(shapes)
    other = tuple(d if draw(st.booleans()) else 1 for d in shape)
    drop = draw(st.integers(min_value=0, max_value=len(other)))
    return shape, other[drop:]


@SETTINGS
@given(pair=broadcastable_pairs(), swap=st.booleans(), op=st.sampled_from(["add", "maximum"]))
def test_broadcasting_binary_ops_match_numpy(pair, swap, op) -> None:
    lhs_shape, rhs_shape = pair[::-1] if swap else pair
    rng = np.random.default_rng(0)
    lhs = rng.standard_normal(lhs_shape).astype(np.float32)
    rhs = rng.standard_normal(rhs_shape).astype(np.float32)
    fn = getattr(ops, op)
    result = aidjit.compile(fn, lhs, rhs)(lhs, rhs)
    np.testing.assert_allclose(result, getattr(np, op)(lhs, rhs), rtol=1e-6)


@SETTINGS
@given(
    shape=st.lists(dims, min_size=1, max_size=3).map(tuple),
    data=st.data(),
    keepdims=st.booleans(),
    reduction=st.sampled_from(["sum", "mean", "reduce_max"]),
)
def test_reductions_over_random_axes_match_numpy(shape, data, keepdims, reduction) -> None:
    axes = data.draw(st.lists(st.sampled_from(range(len(shape))), unique=True, max_size=len(shape)))
    x = np.random.default_rng(1).standard_normal(shape)

    def fn(v):
        return getattr(ops, reduction)(v, axis=tuple(axes), keepdims=keepdims)

    reference = {"sum": np.sum, "mean": np.mean, "reduce_max": np.max}[reduction]
    expected = reference(x, axis=tuple(axes), keepdims=keepdims)
    np.testing.assert_allclose(aidjit.compile(fn, x)(x), expected, rtol=1e-12)
