"""Random numbers computed by the program itself, from an explicit key: Threefry-2x32.

A training step that draws a dropout mask must give the same mask eagerly and compiled, and
the same mask on every call with the same key, so the randomness cannot come from numpy's
global state or from a generator living in the compiled code. As in JAX, it is a pure
function of a key: `random_bits(key, shape)` is one primitive whose element at flat
(row-major) index i is the Threefry-2x32 block cipher (Salmon et al. 2011, "Parallel random
numbers: as easy as 1, 2, 3", 20 rounds as Random123 and JAX use it) of the counter
((i >> 32) + stream, i & 0xffffffff) under the key, its two output words xor-ed (the counter
scheme of JAX's partitionable threefry; `stream` keeps `split`'s keys apart from draws).
No state, no sequence: element i needs nothing but i, so the lowering is one parallel
`linalg.generic` over the output whose body runs the cipher on `linalg.index`
(lowering/random.py), and any slice of the stream can be computed alone.

The cipher is written once, below, over a small word-arithmetic interface: the numpy forward
runs it on uint64 arrays and the lowering on i64 `arith` values (`addi`, `andi`, `xori`,
`ori`, `shli`, `shrsi` — 32-bit words kept in 64-bit integers, masked after each add and
shift, so no unsigned op is needed), operation for operation, so eager and compiled bits are
the same by construction and tests/autodiff/test_random.py checks it bit for bit.

Keys are int64 arrays of shape (2,), two 32-bit words (only the low 32 bits of each count).
`aidjit.random` is the user-facing API: `key(seed)`, `split(key, num)`, `bits`, `uniform`;
this module also holds `dropout(x, rate, key, training)` (`aidjit.ops.dropout`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from aidjit.autodiff.ops.core import astype, greater_equal, multiply
from aidjit.autodiff.ops.elementwise import floor
from aidjit.autodiff.primitives import (
    INDEX_DTYPE,
    Family,
    Primitive,
    Spec,
    register,
    require_float,
)
from aidjit.autodiff.tensor import Tensor, apply, as_dtype, to_tensors
from aidjit.errors import ArgumentValueError, DTypeError, ShapeError

__all__ = ["dropout"]

WORD_MASK = 0xFFFFFFFF
"""A 32-bit word's bits, within the 64-bit integers that hold it."""
KEY_PARITY = 0x1BD11BDA
"""Threefry's key-schedule constant: the third key word is k0 ^ k1 ^ KEY_PARITY."""
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
"""Threefry-2x32's rotation distances (Random123's R_32x2), four rounds per group, the two
rows alternating between key injections."""
GROUPS = 5
SPLIT_STREAM = 1
"""The counters' high word offset `split` draws keys from, apart from the draws' stream 0."""
"""Five groups of four rounds: the 20 rounds Random123 and JAX use (a key injection after each)."""

Word = TypeVar("Word")


class WordArithmetic(Protocol[Word]):
    """Unsigned 32-bit word arithmetic on some representation of words (numpy arrays when
    evaluating, SSA values when lowering): all the cipher needs."""

    def constant(self, value: int) -> Word: ...

    def add(self, a: Word, b: Word) -> Word:
        """(a + b) mod 2**32."""
        ...

    def xor(self, a: Word, b: Word) -> Word: ...

    def rotate_left(self, a: Word, distance: int) -> Word: ...


def threefry2x32(
    words: WordArithmetic[Word], key: tuple[Word, Word], counter: tuple[Word, Word]
) -> tuple[Word, Word]:
    """The Threefry-2x32-20 block of `counter` under `key` (Random123's threefry2x32)."""
    schedule = (key[0], key[1], words.xor(words.xor(key[0], key[1]), words.constant(KEY_PARITY)))
    x0, x1 = words.add(counter[0], schedule[0]), words.add(counter[1], schedule[1])
    for group in range(GROUPS):
        for distance in ROTATIONS[group % 2]:
            x0 = words.add(x0, x1)
            x1 = words.xor(words.rotate_left(x1, distance), x0)
        x0 = words.add(x0, schedule[(group + 1) % 3])
        x1 = words.add(x1, words.add(schedule[(group + 2) % 3], words.constant(group + 1)))
    return x0, x1


class NumpyWords:
    """Words as uint64 arrays below 2**32: sums and shifts never overflow 64 bits, so numpy
    never wraps (nor warns), and each result is masked back to 32 bits, as the lowering does."""

    def constant(self, value: int) -> np.ndarray:
        return np.uint64(value)

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a + b) & np.uint64(WORD_MASK)

    def xor(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a ^ b

    def rotate_left(self, a: np.ndarray, distance: int) -> np.ndarray:
        high = (a << np.uint64(distance)) & np.uint64(WORD_MASK)
        return high | (a >> np.uint64(32 - distance))


NUMPY_WORDS = NumpyWords()


def threefry2x32_numpy(
    key: Sequence[int], counter: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The cipher on uint64 arrays of 32-bit counter words (the Random123 known-answer tests
    call this)."""
    k0, k1 = (np.uint64(int(k) & WORD_MASK) for k in key)
    c0, c1 = (np.asarray(c, dtype=np.uint64) & np.uint64(WORD_MASK) for c in counter)
    return threefry2x32(NUMPY_WORDS, (k0, k1), (c0, c1))


# ----- the primitive --------------------------------------------------------------------------


def _random_bits_rule(key: Spec, *, shape: tuple[int, ...], stream: int) -> Spec:
    if key.dtype != INDEX_DTYPE:
        raise DTypeError(f"random_bits: key must be int64, got {key}")
    if key.shape != (2,):
        raise ShapeError(f"random_bits: key must have shape (2,), got {key}")
    if any(d < 0 for d in shape):
        raise ShapeError(f"random_bits: negative dimension in shape {tuple(shape)}")
    if not 0 <= stream <= WORD_MASK:
        raise ShapeError(f"random_bits: stream must lie in [0, 2**32), got {stream}")
    return Spec(tuple(shape), INDEX_DTYPE)


def _random_bits_impl(key: np.ndarray, shape: tuple[int, ...], stream: int) -> np.ndarray:
    index = np.arange(math.prod(shape), dtype=np.uint64)
    high = (index >> np.uint64(32)) + np.uint64(stream)
    x0, x1 = threefry2x32_numpy(key.tolist(), (high, index))
    return (x0 ^ x1).astype(INDEX_DTYPE).reshape(shape)


random_bits_p = register(
    Primitive(
        "random_bits",
        Family.RANDOM,
        _random_bits_impl,
        _random_bits_rule,
        # No gradient: the bits are integers, and the key is not a value one differentiates.
        lambda g, xs, out, shape, stream: (None,),
        params=("shape", "stream"),
        doc="int64 32-bit words: Threefry-2x32-20 of each element's flat index under the key",
    )
)


def random_bits(key: Any, shape: Sequence[int], stream: int = 0) -> Tensor:
    """int64 values in [0, 2**32), 32 random bits each: element i (row-major) is the xor of
    the two words of Threefry-2x32-20(key, ((i >> 32) + stream, i & 0xffffffff)). One
    graph.random_bits. Draws use stream 0 and `split` stream 1, so the keys a key splits
    into are none of its own draws (for arrays of fewer than 2**32 elements)."""
    (key,) = to_tensors([key])
    return apply(random_bits_p, key, shape=tuple(int(d) for d in shape), stream=int(stream))


# ----- composites: keys, uniform floats, dropout ------------------------------------------------


def key(seed: int) -> np.ndarray:
    """A key from an integer seed: its high and low 32-bit words (JAX's PRNGKey for a 64-bit
    seed); a negative seed counts in two's complement."""
    seed = int(seed) & ((1 << 64) - 1)
    return np.array([seed >> 32, seed & WORD_MASK], dtype=INDEX_DTYPE)


def split(key: Any, num: int = 2) -> tuple[Tensor, ...]:
    """`num` new keys from `key`, independent of each other and of `key`'s own draws: the
    rows of random_bits(key, (num, 2), stream=1). A tuple (unpackable while tracing, where a traced
    array cannot be iterated), where jax.random.split returns one array."""
    if num < 1:
        raise ArgumentValueError(f"split: num must be positive, got {num}")
    words = random_bits(key, (num, 2), stream=SPLIT_STREAM)
    return tuple(words[i] for i in range(num))


def bits(key: Any, shape: Sequence[int] = ()) -> Tensor:
    """32 random bits per element, as int64 in [0, 2**32) (jax.random.bits for uint32)."""
    return random_bits(key, shape)


def uniform(
    key: Any,
    shape: Sequence[int] = (),
    dtype: Any = np.float32,
    minval: float = 0.0,
    maxval: float = 1.0,
) -> Tensor:
    """Floats uniform in [minval, maxval) (jax.random.uniform's signature).

    float32: the top 24 bits of one draw times 2**-24, every float32 multiple of 2**-24 in
    [0, 1) equally likely; float64: 53 bits from two draws per element, (a >> 5) * 2**26 +
    (b >> 6) times 2**-53, numpy's `random()` recipe. Shifts are `floor` of exact float64
    products (graph ops have no integer arithmetic): `random_bits`, `astype`, `multiply`,
    `floor`, `add` (and a `slice` per word for float64), one loop once fused. Then
    `u * (maxval - minval) + minval` when the interval is not [0, 1).
    """
    dtype = as_dtype(dtype)
    require_float("uniform", Spec((), dtype))
    shape = tuple(int(d) for d in shape)
    if dtype == np.float32:
        draws = astype(random_bits(key, shape), np.float64)
        unit = floor(draws * 2.0**-8) * 2.0**-24
    else:
        draws = astype(random_bits(key, (*shape, 2)), np.float64)
        high, low = floor(draws[..., 0] * 2.0**-5), floor(draws[..., 1] * 2.0**-6)
        unit = (high * 2.0**26 + low) * 2.0**-53
    unit = astype(unit, dtype)
    if (minval, maxval) == (0.0, 1.0):
        return unit
    return unit * (maxval - minval) + minval


def dropout(x: Any, rate: float, key: Any, training: bool = True) -> Tensor:
    """torch.nn.functional.dropout with an explicit key: each element is zeroed with
    probability `rate`, the others scaled by 1 / (1 - rate); the identity when not `training`
    or when `rate` is 0. The same key gives the same mask, eagerly and compiled.

    The mask is `uniform(key, x.shape, x.dtype) >= rate` (`greater_equal`), times the scale,
    then one `multiply` with x (its gradient: the cotangent times the same mask). `rate` 1
    gives `x * 0.0` (torch's: a NaN stays NaN), without drawing.
    """
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ArgumentValueError(f"dropout: rate must lie in [0, 1], got {rate}")
    (x,) = to_tensors([x])
    require_float("dropout", x.spec)
    if not training or rate == 0.0:
        return x
    if rate == 1.0:
        return multiply(x, 0.0)
    keep = greater_equal(uniform(key, x.shape, x.dtype), rate)
    return multiply(x, keep * (1.0 / (1.0 - rate)))
