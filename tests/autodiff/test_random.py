"""Explicit-key random numbers: the cipher against Random123's known answers, compiled bits
equal to eager bits, the distribution, and dropout's semantics (torch's)."""

import numpy as np
import pytest

import aidjit
from aidjit import GradientTape, Tensor, ops
from aidjit import random as rnd
from aidjit.autodiff.ops.random import threefry2x32_numpy
from aidjit.errors import ArgumentValueError, DTypeError, ShapeError

# Random123's kat_vectors for threefry2x32 with 20 rounds: counter, key, expected output.
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x243F6A88, 0x85A308D3), (0x13198A2E, 0x03707344), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_threefry_matches_random123_known_answers(counter, key, expected) -> None:
    words = threefry2x32_numpy(key, (np.array([counter[0]]), np.array([counter[1]])))
    assert tuple(int(w[0]) for w in words) == expected


def _draws(key: np.ndarray) -> tuple:
    """Every random function once: what compiled code must reproduce bit for bit."""
    first, second = rnd.split(key)
    x = np.linspace(-1.0, 1.0, 35, dtype=np.float32).reshape(5, 7)
    return (
        rnd.bits(key, (3, 5, 7)),
        rnd.uniform(key, (5, 9)),
        rnd.uniform(first, (4, 3), np.float64, minval=-2.0, maxval=3.0),
        second,
        ops.dropout(x, 0.4, second),
        rnd.bits(key),
    )


def test_compiled_draws_equal_eager_draws_bit_for_bit() -> None:
    key = rnd.key(2**40 + 12345)
    compiled = aidjit.compile(_draws, key)
    for seed in (2**40 + 12345, 7):
        key = rnd.key(seed)
        for got, want in zip(compiled(key), _draws(key), strict=True):
            want = want.numpy()
            assert got.dtype == want.dtype and got.shape == want.shape
            assert got.tobytes() == want.tobytes()


def test_keys() -> None:
    assert rnd.key(5).tolist() == [0, 5]
    assert rnd.key(2**32 + 3).tolist() == [1, 3]
    assert rnd.key(-1).tolist() == [2**32 - 1, 2**32 - 1]
    keys = [k.numpy().tolist() for k in rnd.split(rnd.key(0), 4)]
    assert len({tuple(k) for k in keys}) == 4
    # split draws from its own stream: its keys are not the parent's first draws.
    draws = rnd.bits(rnd.key(0), (8,)).numpy().tolist()
    assert not {w for k in keys for w in k} & set(draws)
    with pytest.raises(ShapeError, match=r"random_bits: key must have shape \(2,\)"):
        rnd.bits(np.zeros(3, np.int64), (2,))
    with pytest.raises(DTypeError, match="random_bits: key must be int64"):
        rnd.bits(np.zeros(2, np.float32), (2,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_is_uniform(dtype: type) -> None:
    draws = rnd.uniform(rnd.key(3), (100_000,), dtype).numpy()
    assert draws.dtype == dtype and draws.min() >= 0.0 and draws.max() < 1.0
    # Standard errors: mean sqrt(1/12/n) = 0.0009, variance about 0.0002; 5 sigma.
    assert abs(draws.mean() - 0.5) < 0.005
    assert abs(draws.var() - 1 / 12) < 0.0012
    counts = np.histogram(draws, bins=10, range=(0.0, 1.0))[0]
    assert np.abs(counts - 10_000).max() < 500  # each bin: sigma = 95
    # Every bit of the 32-bit words is set half of the time.
    words = rnd.bits(rnd.key(4), (100_000,)).numpy()
    ones = (words[:, None] >> np.arange(32)) & 1
    assert np.abs(ones.mean(axis=0) - 0.5).max() < 0.008


def test_dropout_scales_kept_elements_and_drops_at_the_rate() -> None:
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=(200, 500))
    out = ops.dropout(x, 0.3, rnd.key(9)).numpy()
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.005
    np.testing.assert_array_equal(out[kept], x[kept] * (1 / 0.7))
    # Same key, same mask; another key, another mask.
    np.testing.assert_array_equal(ops.dropout(x, 0.3, rnd.key(9)).numpy(), out)
    assert (ops.dropout(x, 0.3, rnd.key(10)).numpy() != 0).tolist() != kept.tolist()


def test_dropout_gradient_is_the_mask_times_the_scale() -> None:
    x = Tensor(np.ones((4, 6)))
    with GradientTape() as tape:
        tape.watch(x)
        out = ops.dropout(x, 0.5, rnd.key(1))
        loss = out.sum()
    (grad,) = tape.gradient(loss, [x])
    np.testing.assert_array_equal(grad, out.numpy())


def test_dropout_edge_cases() -> None:
    x = np.array([[1.0, -2.0, np.nan], [0.5, np.inf, 3.0]], np.float32)
    key = rnd.key(0)
    np.testing.assert_array_equal(ops.dropout(x, 0.7, key, training=False).numpy(), x)
    np.testing.assert_array_equal(ops.dropout(x, 0.0, key).numpy(), x)
    # rate 1 drops everything: x * 0, so a NaN or inf stays NaN (torch's).
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(ops.dropout(x, 1.0, key).numpy(), x * 0.0)
    for rate in (-0.1, 1.5):
        with pytest.raises(ArgumentValueError, match=r"dropout: rate must lie in \[0, 1\]"):
            ops.dropout(x, rate, key)
