"""expand-math: the expansions of exp, log and tanh against numpy and IEEE special values.

Every function runs compiled (aidjit's default pipeline, which includes the pass, and the C
emitter) and in the loop interpreter, in f32 and f64. Special values must come out exactly
(the sign of zero included); other inputs within the ulp bounds of the exhaustive f32 sweep
(test_expand_math_ulp.py) and, for f64, of a dense sample checked here against glibc (Python's
`math`, which rounds correctly in practice).
"""

import math
from collections.abc import Callable

import numpy as np
import pytest
from xdsl.dialects.builtin import f32, f64

import aidjit
from aidjit import ops
from aidjit.runtime import emit_vector
from aidjit.runtime.target import detect_target
from aidjit.transforms.expand_math import EXPANSIONS, FORMATS

FUNCTIONS: dict[str, tuple[Callable, Callable[[float], float]]] = {
    "exp": (ops.exp, math.exp),
    "log": (ops.log, math.log),
    "tanh": (ops.tanh, math.tanh),
}
MAX_ULP = {np.float32: {"exp": 1, "log": 1, "tanh": 5}, np.float64: {"exp": 1, "log": 1, "tanh": 3}}
"""The bounds of docs/performance.md ("Vector math"): f32 measured over every input. f64 tanh
goes to libmvec by default: 2 ulp in its AVX-512 variant, 3 in its AVX2 one (`_ZGVdN4v_tanh`,
3 ulp at -0.25174398355895206)."""

INF, NAN = math.inf, math.nan
SPECIALS: dict[str, list[tuple[float, float]]] = {
    "exp": [(0.0, 1.0), (-0.0, 1.0), (INF, INF), (-INF, 0.0), (NAN, NAN), (1e4, INF), (-1e4, 0.0)],
    "log": [
        (1.0, 0.0),
        (0.0, -INF),
        (-0.0, -INF),
        (-1.0, NAN),
        (-INF, NAN),
        (INF, INF),
        (NAN, NAN),
        (-1e-40, NAN),
    ],
    "tanh": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (INF, 1.0),
        (-INF, -1.0),
        (NAN, NAN),
        (30.0, 1.0),
        (-30.0, -1.0),
    ],
}
"""(input, exact result) for both precisions."""

EDGES = {
    np.float32: {
        "exp": [
            88.72283,
            88.72284,
            -87.33654,
            -87.33655,
            -103.27893,
            -103.97,
            -104.0,
            1e-45,
            -1e-45,
        ],
        "log": [1e-45, 1.17549435e-38, 1.1754942e-38, 3.4028235e38, 1.0000001, 0.99999994, 2.0],
        "tanh": [1e-45, -1e-45, 0.6249999, 0.625, 0.6250001, 9.0, 9.1, -9.1, 1e-4],
    },
    np.float64: {
        "exp": [709.782712893384, 709.7827128933841, -708.3964185322641, -745.13, -745.14, 5e-324],
        "log": [5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1.7976931348623157e308],
        "tanh": [5e-324, -5e-324, 0.6249999999999999, 0.625, 19.0, 19.1, -19.1, 1e-8],
    },
}
"""Where the expansions switch branches, overflow, underflow or meet subnormals."""

BACKENDS = ["c", "interpreter"]
DTYPES = [np.float32, np.float64]


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Representable floats between a and b (0 for NaN against NaN and for +0 against -0)."""
    bits = {4: np.int32, 8: np.int64}[a.dtype.itemsize]

    def key(x: np.ndarray) -> np.ndarray:
        raw = x.view(bits).astype(np.int64)
        return np.where(raw < 0, np.iinfo(bits).min - raw, raw)

    with np.errstate(over="ignore"):
        distance = np.abs(key(a) - key(b)).astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    one_nan = np.isnan(a) ^ np.isnan(b)
    return np.where(both_nan, 0.0, np.where(one_nan, np.inf, distance))


def reference(name: str, x: np.ndarray) -> np.ndarray:
    """glibc's double function (Python's math) rounded to x's dtype; IEEE results where
    Python raises."""
    function = FUNCTIONS[name][1]

    def one(value: float) -> float:
        try:
            return function(value)
        except OverflowError:
            return INF
        except ValueError:
            return -INF if value == 0 else NAN

    with np.errstate(over="ignore"):
        return np.array([one(float(v)) for v in x]).astype(x.dtype)


def run(name: str, x: np.ndarray, backend: str) -> np.ndarray:
    compiled = aidjit.compile(FUNCTIONS[name][0], x, backend=backend)
    return np.asarray(compiled(x))


def test_the_tables_cover_what_these_tests_check() -> None:
    assert set(FORMATS) == {f32, f64}
    assert {op.name for op in EXPANSIONS} == {f"math.{name}" for name in FUNCTIONS}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_special_values_are_exact(name: str, dtype: type, backend: str) -> None:
    inputs, expected = (np.array(column, dtype) for column in zip(*SPECIALS[name], strict=True))
    got = run(name, inputs, backend)
    same = (got == expected) & (np.signbit(got) == np.signbit(expected))
    same |= np.isnan(got) & np.isnan(expected)
    assert same.all(), f"{name} {np.dtype(dtype)}: {inputs[~same]} gave {got[~same]}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_edges_within_bound(name: str, dtype: type, backend: str) -> None:
    x = np.array(EDGES[dtype][name], dtype)
    distance = ulp_distance(run(name, x, backend), reference(name, x))
    assert distance.max() <= MAX_ULP[dtype][name], dict(zip(x, distance, strict=True))


def _sample(name: str, dtype: type, count: int) -> np.ndarray:
    """Log-uniform magnitudes over the function's interesting range, both signs (log: >0)."""
    rng = np.random.default_rng(7)
    finfo = np.finfo(dtype)
    low, high = {
        "exp": (-60, math.log2(-math.log(float(finfo.smallest_subnormal)))),
        "log": (math.log2(float(finfo.smallest_subnormal)), math.log2(float(finfo.max))),
        "tanh": (-60, 5),
    }[name]
    magnitude = np.exp2(rng.uniform(low, high, count))
    if name == "log":
        return magnitude.astype(dtype)
    return (magnitude * rng.choice([-1.0, 1.0], count)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_dense_sample_within_bound(name: str, dtype: type) -> None:
    """f64's accuracy check (f32 has the exhaustive sweep); f32 here compares the same way."""
    x = _sample(name, dtype, 200_000)
    distance = ulp_distance(run(name, x, "c"), reference(name, x))
    worst = int(np.argmax(distance))
    assert distance[worst] <= MAX_ULP[dtype][name], f"{distance[worst]} ulp at {x[worst]!r}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_interpreter_agrees_with_c(name: str, dtype: type) -> None:
    """The loop interpreter runs the expansion's bit tricks (bitcast, shifts) as C does."""
    x = _sample(name, dtype, 300)
    distance = ulp_distance(run(name, x, "interpreter"), run(name, x, "c"))
    assert distance.max() <= 1


def test_the_default_pipeline_expands_exp_and_picks_tanh_by_target() -> None:
    """W1's chain in the default pipeline: exp expanded (1 ulp, as fast as libmvec's 3-ulp
    expf); tanh (and sigmoid, a tanh) called at the vector width on AVX-512 (libmvec's is 1 ulp
    and as fast as the 5-ulp rational there), expanded elsewhere (libmvec's AVX2 tanhf took
    twice the rational's time), its clamps then min and max instructions; scalar tails
    included."""
    x = np.linspace(-5, 5, 64, dtype=np.float32)
    compiled = aidjit.compile(
        lambda x, a, b: ops.tanh(x * a + b) * ops.sigmoid(x) - ops.exp(-ops.abs(x)), x, x, x
    )
    loops, source = compiled.ir("loops"), compiled.ir("c")
    assert "math.exp " not in loops and "arith.bitcast" in loops
    assert "expf(" not in source
    isa = detect_target().isa
    if isa.name == "avx512":
        assert "math.tanh " in loops
        assert "_ZGV" in source and "aidjit_tanh_v" in source
    else:
        assert "math.tanh " not in loops
        assert "tanhf(" not in source
    if isa.vector_bytes:
        for kind in ("min", "max"):
            assert f"{emit_vector.intrinsic(kind, 8 * isa.vector_bytes, 'float')}(" in source
