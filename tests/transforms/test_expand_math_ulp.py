"""The maximum ulp error of each route of exp, log and tanh to C, over f32 inputs.

The expansion is the pass's own output, emitted by aidjit's C emitter and built with aidjit's
flags (plus a preferred vector width, see `toolchain`): a loop kernel `y[i] = math.<fn>(x[i])`
over a chunk of 2^16 floats. A C harness appended to it walks bit patterns chunk by chunk,
computes the reference as the float64 function (glibc's libmvec, under 4 ulp of float64)
rounded to float32, and returns the largest distance in representable floats (NaN against NaN
is 0, +0 against -0 is 0, NaN against a number is 2^40). In C because numpy would take minutes
per function; docs/performance.md ("Vector math") has the cost and the figures.

The suite sweeps a sample (`sample`): every 251st bit pattern, some 33,000 inputs in each
binade and in the subnormals of either sign, and every pattern of 2^16-wide windows where the
function changes regime (zeros and the smallest subnormals, the subnormal-normal boundary, 1,
the largest floats, infinities, the first and last NaNs, and the function's own edges), with
either sign: about 17 million inputs, under a second per route. The sweep over all 2^32
inputs, whose maxima docs/performance.md quotes, takes 20-40 s of CPU per route:
`pytest -m exhaustive tests/transforms/test_expand_math_ulp.py` runs it.
"""

import dataclasses
import math
from pathlib import Path
from typing import NamedTuple

import cffi
import numpy as np
import pytest
from xdsl.parser import Parser

from aidjit.context import make_context
from aidjit.pipeline import parse_pipeline
from aidjit.runtime.emit_c import emit_c
from aidjit.runtime.target import detect_target
from aidjit.runtime.toolchain import Toolchain, compile_shared, find_toolchain
from aidjit.transforms.expand_math import TANH_RATIONAL_CLAMP, TANH_RATIONAL_TINY

CHUNK = 1 << 16

KERNEL = """
func.func @kernel(%x: memref<{n}xf32>, %y: memref<{n}xf32>) {{
  %zero = arith.constant 0 : index
  %one = arith.constant 1 : index
  %n = arith.constant {n} : index
  scf.for %i = %zero to %n step %one {{
    %v = memref.load %x[%i] : memref<{n}xf32>
    %r = math.{fn} %v : f32
    memref.store %r, %y[%i] : memref<{n}xf32>
  }}
  func.return
}}
"""

HARNESS = """
#include <string.h>

/* The reference: the float64 function, vectorised through libmvec so a sweep takes seconds. */
#pragma omp declare simd notinbranch
extern double {fn}(double) __attribute__((const));

static float ulp_x[{n}], ulp_y[{n}], ulp_argument[{n}], ulp_reference[{n}];
static int64_t ulp_distances[{n}];

/* Floats in order as integers, one step per representable float (+0 and -0 are both 0);
   NaN far from every number, so NaN against NaN is 0 and NaN against a number 2^40. */
static inline int64_t ulp_key(float value) {{
    int32_t bits;
    memcpy(&bits, &value, sizeof bits);
    const int64_t ordered = bits < 0 ? (int64_t)INT32_MIN - bits : bits;
    return isnan(value) ? INT64_C(1) << 40 : ordered;
}}

/* Bit patterns first, first + step, ... (count of them, modulo 2^32), chunk by chunk. */
void ulp_sweep(uint64_t first, uint64_t step, uint64_t count, int64_t *worst,
               uint32_t *worst_input) {{
    int64_t largest = -1;
    for (uint64_t done = 0; done < count; done += {n}) {{
        const uint32_t lanes = count - done < {n} ? (uint32_t)(count - done) : {n};
        for (uint32_t i = 0; i < {n}; i++) {{
            /* Lanes past `count` repeat the chunk's first input: computed, never the worst. */
            const uint32_t bits = (uint32_t)(first + (done + (i < lanes ? i : 0)) * step);
            memcpy(&ulp_x[i], &bits, sizeof bits);
        }}
        kernel(ulp_x, ulp_y);
        /* Separate loops, each of which gcc vectorises (a call among selects it does not):
           the arguments (NaN lanes compute on 1), the calls, the results and distances. */
        for (uint32_t i = 0; i < {n}; i++) {{
            const float x = isnan(ulp_x[i]) ? 1.0f : ulp_x[i];
            ulp_argument[i] = {argument};
        }}
        for (uint32_t i = 0; i < {n}; i++)
            ulp_reference[i] = (float){fn}((double)ulp_argument[i]);
        int64_t chunk = 0;
        for (uint32_t i = 0; i < {n}; i++) {{
            const float x = ulp_x[i], value = ulp_reference[i];
            const int64_t step = ulp_key(ulp_y[i]) - ulp_key(isnan(x) ? x : {result});
            const int64_t distance = step < 0 ? -step : step;
            ulp_distances[i] = distance;
            chunk = distance > chunk ? distance : chunk;
        }}
        if (chunk <= largest) continue;
        largest = chunk;
        for (uint32_t i = 0; i < {n}; i++) {{
            if (ulp_distances[i] == chunk) {{
                memcpy(worst_input, &ulp_x[i], sizeof *worst_input);
                break;
            }}
        }}
    }}
    *worst = largest;
}}
"""

REFERENCES = {
    "exp": ("x < -110.0f ? -110.0f : x > 95.0f ? 95.0f : x", "value"),
    "log": ("fabsf(x)", "x < 0 ? NAN : value"),
    "tanh": ("x < -20.0f ? -20.0f : x > 20.0f ? 20.0f : x", "value"),
}
"""The reference for a non-NaN x, in C: the argument of the float64 function (a float), and
the result from its `value`. Arguments are kept where the float result saturates (exp(-110)
and below round to 0, exp(95) and above overflow, tanh(+-20) and beyond round to +-1; log of a
negative is NaN), which gives the same float result and spares libmvec its scalar fallback on
such lanes (20 ns per element instead of 1). Selects, not fminf/fmaxf, which gcc calls
instead of vectorising (their NaN rules need -ffinite-math-only)."""

ROUTES = {
    "expand-math": "expand-math",
    "libmvec": f"vectorize-loops{{vector-bytes={detect_target().isa.vector_bytes}}}",
}
"""How each function reaches C: expand-math's polynomials, or (the default pipeline) a vector
loop whose math op the emitter writes as libmvec's variant of the target's width."""

MAX_ULP = {
    ("expand-math", "exp"): 1,
    ("expand-math", "log"): 1,
    ("expand-math", "tanh"): 5,
    ("libmvec", "exp"): 3,
    ("libmvec", "log"): 4,
    ("libmvec", "tanh"): 1,
}
"""Asserted bounds; the measured maxima (of the exhaustive sweep) are in docs/performance.md
("Vector math"). The default pipeline's routes are expand-math's exp and log and libmvec's tanh;
the others are what a toolchain without libmvec, or `expand-math` given tanh, would run."""


class Sweep(NamedTuple):
    """Bit patterns `first + k * step` for k < count, modulo 2^32."""

    first: int
    step: int
    count: int


STRIDE = 251
"""Odd, so successive binades are sampled at different mantissa offsets."""
WINDOW = 1 << 15
"""Patterns on either side of each window's centre, all of them swept."""
F32 = np.finfo(np.float32)
CENTRES = (0.0, float(F32.smallest_normal), 1.0, math.inf)
"""Every function's windows: +0 (the smallest subnormals; the window reaches back to the last
NaNs of the other sign), the subnormal-normal boundary, 1, +inf (the largest floats and the
first, signalling NaNs); and the first quiet NaN, `QUIET_NAN`."""
QUIET_NAN = 0x7FC0_0000
REGIME_EDGES = {
    "exp": (math.log(F32.max), math.log(F32.smallest_normal), math.log(2.0**-150)),
    "log": (math.sqrt(0.5), math.sqrt(2.0)),
    "tanh": (TANH_RATIONAL_TINY, TANH_RATIONAL_CLAMP),
}
"""Where each function's f32 result changes regime: exp overflows, turns subnormal, reaches 0;
log's reduced mantissa wraps around (m in [sqrt(1/2), sqrt(2))); the rational tanh returns x
itself below its first edge and is clamped beyond its second."""


def _bits(value: float) -> int:
    return int(np.float32(value).view(np.uint32))


def sample(fn: str) -> tuple[Sweep, ...]:
    """What the suite sweeps for `fn`: every `STRIDE`th pattern, then a window around each
    centre and each of `fn`'s regime edges, with either sign."""
    centres = [QUIET_NAN, *map(_bits, (*CENTRES, *REGIME_EDGES[fn]))]
    windows = [
        Sweep(((centre ^ sign) - WINDOW) % (1 << 32), 1, 2 * WINDOW)
        for centre in centres
        for sign in (0, 1 << 31)
    ]
    return (Sweep(0, STRIDE, -(-(1 << 32) // STRIDE)), *windows)


EVERY_INPUT: tuple[Sweep, ...] = (Sweep(0, 1, 1 << 32),)
CASES = [(fn, route) for fn in sorted(REFERENCES) for route in sorted(ROUTES)]


def harness_source(fn: str, route: str) -> str:
    """The kernel as the route emits it, followed by the sweep."""
    module = Parser(make_context(), KERNEL.format(n=CHUNK, fn=fn)).parse_module()
    for pass_ in parse_pipeline(ROUTES[route]):
        pass_.apply(make_context(), module)
    source = emit_c(module)
    if route == "expand-math":
        assert f"{fn}f(" not in source, f"math.{fn} was not expanded"
    else:
        assert "_ZGV" in source and f"_{fn}f(" in source, f"math.{fn} is no libmvec call"
    argument, result = REFERENCES[fn]
    return source + HARNESS.format(n=CHUNK, fn=fn, argument=argument, result=result)


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    """aidjit's toolchain with 512-bit vectors preferred: twice as fast a sweep on AVX-512 (and
    harmless elsewhere), and the same results, lane by lane (no contraction, no reassociation:
    every lane computes the same IEEE operations at any width)."""
    found = find_toolchain()
    if not found.vector_math:
        pytest.skip("no libmvec: a scalar float64 reference would take minutes")
    return dataclasses.replace(found, cflags=(*found.cflags, "-mprefer-vector-width=512"))


def _worst(
    fn: str, route: str, sweeps: tuple[Sweep, ...], tmp_path: Path, toolchain: Toolchain
) -> tuple[int, str]:
    """The largest ulp distance over `sweeps`, and the first input at which it occurs."""
    if route == "libmvec" and not detect_target().isa.vector_bytes:
        pytest.skip("no vector ISA: the default pipeline leaves math to gcc and libm")
    c_path, so_path = tmp_path / f"ulp_{fn}.c", tmp_path / f"ulp_{fn}.so"
    c_path.write_text(harness_source(fn, route))
    compile_shared(toolchain, c_path, so_path)
    ffi = cffi.FFI()
    ffi.cdef("void ulp_sweep(uint64_t, uint64_t, uint64_t, int64_t *, uint32_t *);")
    library = ffi.dlopen(str(so_path))
    worst, where = ffi.new("int64_t *"), ffi.new("uint32_t *")
    largest, at = -1, 0
    for sweep in sweeps:
        library.ulp_sweep(sweep.first, sweep.step, sweep.count, worst, where)
        if worst[0] > largest:
            largest, at = worst[0], where[0]
    x = ffi.cast("float *", ffi.new("uint32_t *", at))[0]
    print(f"{route} {fn}: max {largest} ulp, first at x = {x!r} (bits {at:#010x})")
    return largest, f"{route} {fn}: {largest} ulp at x = {x!r} ({at:#010x})"


@pytest.mark.parametrize(("fn", "route"), CASES)
def test_max_ulp_over_a_sample_of_every_binade(
    fn: str, route: str, toolchain: Toolchain, tmp_path: Path
) -> None:
    largest, message = _worst(fn, route, sample(fn), tmp_path, toolchain)
    assert largest <= MAX_ULP[(route, fn)], message


@pytest.mark.exhaustive
@pytest.mark.parametrize(("fn", "route"), CASES)
def test_max_ulp_over_every_f32_input(
    fn: str, route: str, toolchain: Toolchain, tmp_path: Path
) -> None:
    largest, message = _worst(fn, route, EVERY_INPUT, tmp_path, toolchain)
    assert largest <= MAX_ULP[(route, fn)], message
