"""Elementwise math and activations: what the op table's rows do not reach.

Special values through the stable formulations (compiled against eager, one compile per
dtype), clip's gradient at its bounds, and `apply_activation`'s dispatch and errors.
"""

import numpy as np
import pytest

import aidjit
from aidjit import GradientTape, Tensor, ops
from aidjit.errors import ArgumentValueError, UnsupportedError

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 100.0, -100.0, 30.0, -30.0, 1e30, -1e30, 1e-30]
LARGE = [5, 6]
"""Positions of ±100 in SPECIAL: no stable formulation may give nan there."""

STABLE = {
    "softplus": ops.softplus,
    "softplus_beta": lambda x: ops.softplus(x, beta=0.5, threshold=10.0),
    "log_sigmoid": ops.log_sigmoid,
    "gelu": ops.gelu,
    "gelu_tanh": lambda x: ops.gelu(x, approximate="tanh"),
    "mish": ops.mish,
    "silu": ops.silu,
    "elu": ops.elu,
    "selu": ops.selu,
    "leaky_relu": ops.leaky_relu,
    "hard_sigmoid": ops.hard_sigmoid,
    "clip": lambda x: ops.clip(x, -1.0, 2.0),
    "erf": ops.erf,
    "reciprocal": ops.reciprocal,
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_compiled_match_eager_and_stay_finite(dtype: type) -> None:
    x = np.array(SPECIAL, dtype)

    def every(t: Tensor) -> tuple[Tensor, ...]:
        return tuple(fn(t) for fn in STABLE.values())

    compiled = aidjit.compile(every, x)(x)
    eager = every(Tensor(x))
    tiny = np.finfo(dtype).tiny
    for name, got, want in zip(STABLE, compiled, eager, strict=True):
        want = want.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=tiny, equal_nan=True, err_msg=name)
        if name not in ("reciprocal", "erf", "clip", "hard_sigmoid", "leaky_relu"):
            assert not np.isnan(want[LARGE]).any(), name
    by_name = dict(zip(STABLE, (r.numpy() for r in eager), strict=True))
    np.testing.assert_array_equal(by_name["softplus"][[1, 2, 5]], [np.inf, 0.0, 100.0])
    np.testing.assert_allclose(by_name["softplus"][6], np.exp(dtype(-100.0)), rtol=1e-5)
    np.testing.assert_array_equal(by_name["log_sigmoid"][[1, 2, 6]], [0.0, -np.inf, -100.0])
    np.testing.assert_array_equal(by_name["gelu"][[1, 5, 6]], [np.inf, 100.0, 0.0])
    np.testing.assert_array_equal(by_name["mish"][[1, 5]], [np.inf, 100.0])
    assert all(np.isnan(by_name[n][0]) for n in STABLE), "nan in, nan out"


def test_clip_gradient_passes_on_the_closed_interval() -> None:
    """1 at the bounds themselves (torch.clamp's convention), 0 outside and at nan."""
    x = Tensor(np.array([-2.0, -1.0, 0.5, 2.0, 3.0, np.nan]))
    with GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(ops.clip(x, -1.0, 2.0))
    (grad,) = tape.gradient(y, [x])
    np.testing.assert_array_equal(grad, [0.0, 1.0, 1.0, 1.0, 0.0, 0.0])


def test_clip_takes_scalar_bounds_only() -> None:
    x = Tensor(np.ones(3))
    with pytest.raises(UnsupportedError, match="clip: a_min must be a Python or numpy scalar"):
        ops.clip(x, np.zeros(3), 1.0)
    assert ops.clip(x) is x  # numpy 2: no bound, no change


def test_apply_activation_dispatches_by_name() -> None:
    x = Tensor(np.linspace(-2.0, 2.0, 5))
    for name, expected in [
        ("relu", ops.relu(x)),
        ("leaky_relu", ops.leaky_relu(x, negative_slope=0.3)),
        ("gelu", ops.gelu(x, approximate="tanh")),
        ("swish", ops.silu(x)),
        ("softmax", ops.softmax(x)),
    ]:
        params = {"negative_slope": 0.3} if name == "leaky_relu" else {}
        params |= {"approximate": "tanh"} if name == "gelu" else {}
        got = ops.apply_activation(x, name, **params)
        np.testing.assert_array_equal(got.numpy(), expected.numpy(), err_msg=name)
    assert ops.apply_activation(x, None) is x
    assert ops.apply_activation(x, "linear") is x


def test_apply_activation_errors_name_what_is_known() -> None:
    x = Tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"unknown activation 'rleu'; known: elu, gelu, .*swish"):
        ops.apply_activation(x, "rleu")
    with pytest.raises(TypeError, match=r"'elu' takes alpha, got negative_slope"):
        ops.apply_activation(x, "elu", negative_slope=0.1)
    with pytest.raises(ArgumentValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        ops.apply_activation(x, "gelu", approximate="erf")
