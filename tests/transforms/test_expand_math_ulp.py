"""The maximum ulp error of each expand-math expansion over every f32 input (2^32 patterns).

The expansion is the pass's own output, emitted by aidjit's C emitter and built with aidjit's
flags (plus a preferred vector width, see `toolchain`): a loop kernel `y[i] = math.<fn>(x[i])`
over a chunk of 2^16 floats. A C harness appended to it walks every bit pattern chunk by
chunk, computes the reference as the float64 function (glibc's libmvec, under 4 ulp of
float64) rounded to float32, and returns the largest distance in representable floats (NaN
against NaN is 0, +0 against -0 is 0, NaN against a number is 2^40). In C because numpy would
take minutes per function; docs/performance.md ("Vector math") has the cost and the figures.
"""

import dataclasses
import os
from pathlib import Path

import cffi
import pytest
from xdsl.parser import Parser

from aidjit.context import make_context
from aidjit.pipeline import parse_pipeline
from aidjit.runtime.emit_c import emit_c
from aidjit.runtime.target import detect_target
from aidjit.runtime.toolchain import Toolchain, compile_shared, find_toolchain

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

void ulp_sweep(uint64_t start, uint64_t stop, int64_t *worst, uint32_t *worst_input) {{
    int64_t largest = -1;
    for (uint64_t base = start; base < stop; base += {n}) {{
        for (uint32_t i = 0; i < {n}; i++) {{
            const uint32_t bits = (uint32_t)(base + i);
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
                *worst_input = (uint32_t)(base + i);
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
"""Asserted bounds; the measured maxima are in docs/performance.md ("Vector math")."""

IN_THE_SUITE = set(MAX_ULP) - {("libmvec", "exp"), ("libmvec", "log")}
"""The routes the pipeline can take: the default's (exp and log expanded, tanh libmvec) and
expand-math's tanh. libmvec's exp and log, which the default pipeline does not use, cost 28 s
of CPU each: `AIDJIT_ULP_ALL_ROUTES=1` adds them."""

CASES = [
    (fn, route)
    for fn in sorted(REFERENCES)
    for route in sorted(ROUTES)
    if (route, fn) in IN_THE_SUITE or os.environ.get("AIDJIT_ULP_ALL_ROUTES")
]


def harness_source(fn: str, route: str) -> str:
    """The kernel as the route emits it, followed by the sweep over all inputs."""
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
        pytest.skip("no libmvec: a float64 reference over 2^32 inputs would take minutes")
    return dataclasses.replace(found, cflags=(*found.cflags, "-mprefer-vector-width=512"))


@pytest.mark.parametrize(("fn", "route"), CASES)
def test_max_ulp_over_every_f32_input(
    fn: str, route: str, toolchain: Toolchain, tmp_path: Path
) -> None:
    if route == "libmvec" and not detect_target().isa.vector_bytes:
        pytest.skip("no vector ISA: the default pipeline leaves math to gcc and libm")
    c_path, so_path = tmp_path / f"ulp_{fn}.c", tmp_path / f"ulp_{fn}.so"
    c_path.write_text(harness_source(fn, route))
    compile_shared(toolchain, c_path, so_path)
    ffi = cffi.FFI()
    ffi.cdef("void ulp_sweep(uint64_t, uint64_t, int64_t *, uint32_t *);")
    library = ffi.dlopen(str(so_path))
    worst, where = ffi.new("int64_t *"), ffi.new("uint32_t *")
    library.ulp_sweep(0, 1 << 32, worst, where)
    x = ffi.cast("float *", ffi.new("uint32_t *", where[0]))[0]
    print(f"{route} {fn}: max {worst[0]} ulp, first at x = {x!r} (bits {where[0]:#010x})")
    bound = MAX_ULP[(route, fn)]
    assert worst[0] <= bound, f"{route} {fn}: {worst[0]} ulp at x = {x!r} ({where[0]:#010x})"
