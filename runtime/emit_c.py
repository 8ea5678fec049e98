"""Emit C99 from loop-level IR: the last step before the system C compiler.

The loop level (func + scf + memref + arith + math, every memref static: row-major, or a
strided subview of a row-major buffer) maps almost one to one onto C, so the emitter is a
table (STYLE convention 8): each arith/math op is a C expression template, each structural op
(loops, loads, allocations) a small statement handler. Adding an op is one line in
`_EXPRESSIONS`.

Why the C looks the way it does:
- one `const` declaration per SSA value with readable, deterministic names (`arg0`, `v3`,
  `i0`): gcc folds them away, and a test or a human can read the result;
- `restrict` pointers and 64-bit indices, so gcc may vectorise without alias checks;
- loads and stores index with strides folded from the static shape (`arg0[i0 * 3 + i1]`), or
  from a subview's static layout (`arg0[5 + i0 * 8 + i1 * 2]`): a subview is no new pointer;
- libm functions are declared `#pragma omp declare simd` where glibc's libmvec has vector
  variants, so `-O3 -fopenmp-simd` turns an elementwise loop over `expf` into calls of
  `_ZGVeN16v_expf` (see PERF-NOTES "Vectorised math"); gcc does that without a
  `#pragma omp simd` on the loop (checked with objdump), so none is emitted;
- `arith.maximumf`/`minimumf` and `arith.floordivsi` are branch-free `static inline`
  helpers with MLIR's semantics (NaN propagates, -0.0 < +0.0);
- every symbol from the IR goes through `c_identifier`, so no user string reaches the C
  source unsanitised.

Layout of the output: includes, libm (and aligned_alloc) declarations, helpers, globals,
functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from string import Template
from typing import IO, Any, ClassVar

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, func, math, memref, scf, vector
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    NoneAttr,
    StridedLayoutAttr,
    VectorType,
    i1,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, Region, SSAValue
from xdsl.traits import SymbolTable
from xdsl.utils.target import Target

from aidjit.dialects.xdsl_fixes import VECTOR_AWARE_OPS
from aidjit.dtypes import INDEX, LOOP_DTYPES
from aidjit.errors import UnsupportedError, blame
from aidjit.lowering.structured import constant_int
from aidjit.runtime import emit_vector, thread_pool
from aidjit.runtime.emit_vector import mask_short, touches_vectors, vector_name
from aidjit.runtime.strided import StridedLayout, row_major, static_layout, subview_layout
from aidjit.transforms.parallelize_outer_loops import NUM_THREADS, trip_count

# --- types -----------------------------------------------------------------------------------

# Derived from aidjit.dtypes (the loop-level rows, `index` as int64); keyed by C type below xDSL.
_C_TYPES: dict[Attribute, str] = {row.element: row.c_type for row in LOOP_DTYPES}
_C_TYPES[IndexType()] = INDEX.c_type
_UNSIGNED = {row.c_type: row.c_unsigned for row in LOOP_DTYPES if row.c_unsigned}
_SHORT_NAMES = {row.c_type: row.short for row in LOOP_DTYPES}
_C_SIZES = {row.c_type: row.size for row in LOOP_DTYPES}
_LIBM_SUFFIX = {row.c_type: row.libm_suffix for row in LOOP_DTYPES if row.is_float}


def _unsupported(op: Operation, what: str) -> UnsupportedError:
    """The error for an op the emitter cannot write; `aidjit-opt` reports it at the op's line."""
    return blame(UnsupportedError(f"C emitter: {what} in '{op.name}'"), op)


def _c_type(type_: Attribute, op: Operation) -> str:
    if isinstance(type_, VectorType):
        return _vector_c_type(type_, op)
    if type_ not in _C_TYPES:
        raise _unsupported(op, f"unsupported type {type_}")
    return _C_TYPES[type_]


def _vector_c_type(type_: VectorType, op: Operation) -> str:
    """`aidjit_v16f32` for `vector<16xf32>` (see runtime/emit_vector.py). An `i1` vector is a
    mask whose lanes are as wide as the lanes it compared: `_FunctionEmitter.c_type` knows
    which, this function only the 32-bit default (masks of f32/i32 comparisons)."""
    element = _c_type(type_.get_element_type(), op)
    lanes = type_.get_shape()
    if len(lanes) != 1 or lanes[0] < 1 or lanes[0] & (lanes[0] - 1):
        raise _unsupported(op, f"vector type {type_} (one dimension, a power-of-two length)")
    if element == "bool":
        return vector_name(lanes[0], mask_short(4))
    return vector_name(lanes[0], _SHORT_NAMES[element])


def _memref_type(type_: Attribute, op: Operation) -> MemRefType:
    """The type of a memref value, checked to be static: its shape, and the strides and offset
    of its layout if it has one (a subview's `strided<[8, 2], offset: 5>`)."""
    if not isinstance(type_, MemRefType):
        raise _unsupported(op, f"expected a memref, got {type_}")
    if not isinstance(type_.layout, NoneAttr | StridedLayoutAttr) or static_layout(type_) is None:
        raise _unsupported(
            op, f"memref layout {type_.layout} (only static strides and offset are supported)"
        )
    if any(dim < 0 for dim in type_.get_shape()):
        raise _unsupported(op, f"dynamic shape {type_}")
    return type_


def _layout(type_: Attribute, op: Operation) -> StridedLayout:
    """The static layout of a memref value: where its elements lie from its pointer."""
    layout = static_layout(_memref_type(type_, op))
    assert layout is not None
    return layout


def _buffer_type(type_: Attribute, op: Operation) -> MemRefType:
    """The type of a memref that is a buffer of its own (an argument, allocation, global or
    workspace view): its pointer is where its elements start, contiguous and row-major."""
    memref_type = _memref_type(type_, op)
    if _layout(memref_type, op) != row_major(memref_type.get_shape()):
        raise _unsupported(op, f"memref layout {memref_type.layout} of a buffer (not row-major)")
    return memref_type


# --- identifiers ------------------------------------------------------------------------------

_C_KEYWORDS = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef
    union unsigned void volatile while bool true false asm typeof main linux unix""".split()
)
# Functions that math.h declares as `name`, `namef` and `namel` (glibc).
_LIBM_ROOTS = """acos acosh asin asinh atan atan2 atanh cbrt ceil copysign cos cosh drem erf erfc
    exp exp10 exp2 expm1 fabs fdim finite floor fma fmax fmin fmod frexp gamma hypot ilogb isinf
    isnan j0 j1 jn ldexp lgamma llrint llround log log10 log1p log2 logb lrint lround modf nan
    nearbyint nextafter nexttoward pow remainder remquo rint round scalb scalbln scalbn
    significand sin sincos sinh sqrt tan tanh tgamma trunc y0 y1 yn""".split()
# Other names math.h, stdint.h, stdlib.h and stdbool.h declare (glibc, default feature macros).
_HEADER_NAMES = """a64l abort abs aligned_alloc alloca arc4random arc4random_buf
    arc4random_uniform at_quick_exit atexit atof atoi atol atoll be16toh be32toh be64toh bsearch
    calloc clearenv div drand48 drand48_r ecvt ecvt_r erand48 erand48_r exit fcvt fcvt_r
    fpclassify free gcvt getenv getloadavg getsubopt htobe16 htobe32 htobe64 htole16 htole32
    htole64 initstate initstate_r isfinite isgreater isgreaterequal isless islessequal
    islessgreater isnormal isunordered jrand48 jrand48_r l64a labs lcong48 lcong48_r ldiv
    le16toh le32toh le64toh lgamma_r lgammaf_r lgammal_r llabs lldiv lrand48 lrand48_r malloc
    math_errhandling mblen mbstowcs mbtowc mkdtemp mkstemp mkstemps mktemp mrand48 mrand48_r
    nrand48 nrand48_r on_exit posix_memalign pselect putenv qecvt qecvt_r qfcvt qfcvt_r qgcvt
    qsort quick_exit rand rand_r random random_r realloc reallocarray realpath rpmatch seed48
    seed48_r select setenv setstate setstate_r signbit signgam srand srand48 srand48_r srandom
    srandom_r strtod strtof strtol strtold strtoll strtoq strtoul strtoull strtouq system
    u_char u_int u_long u_short uint ulong unsetenv ushort valloc wcstombs wctomb""".split()
_TAKEN_NAMES = (
    _C_KEYWORDS
    | frozenset(_HEADER_NAMES)
    | frozenset(root + suffix for root in _LIBM_ROOTS for suffix in ("", "f", "l"))
)
# Names that would be invalid, reserved by C or POSIX (leading underscore, `_t` suffix), macros
# by convention (no lower-case letter), aidjit's own helpers (`aidjit_`, `aj_`) or locals.
_PLAIN_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RESERVED_PATTERN = re.compile(r"[^a-z]*|.*_t|aidjit_.*|aj_.*|(arg|v|i)[0-9]+")
_ESCAPE_PREFIX = "aj_"


def c_identifier(symbol: str) -> str:
    """The C name for an IR symbol (function or global): safe, injective, deterministic.

    A plain identifier that C, the included headers and the generated code leave free is kept
    as is (`f` stays `f`), so compiled functions are found under their IR names. Anything else
    becomes `aj_` + an escape in which `_` is doubled and every other character that is not an
    ASCII letter or digit is `_x<hex>_` (`my.fn` -> `aj_my_x2e_fn`, `exp` -> `aj_exp`). Kept
    names never start with `aj_`, and the escape decodes uniquely, so two symbols never meet.
    """
    if (
        _PLAIN_IDENTIFIER.fullmatch(symbol)
        and symbol not in _TAKEN_NAMES
        and not _RESERVED_PATTERN.fullmatch(symbol)
    ):
        return symbol
    return _ESCAPE_PREFIX + "".join(_escape_char(char) for char in symbol)


def _escape_char(char: str) -> str:
    if char == "_":
        return "__"
    if char.isascii() and char.isalnum():
        return char
    return f"_x{ord(char):x}_"


# --- literals ---------------------------------------------------------------------------------


def _float_literal(value: float, c_type: str) -> str:
    """A C literal that reads back exactly: the shortest decimal that round-trips."""
    with np.errstate(over="ignore"):  # beyond float32's range is infinity, as in C
        number = np.float32(value) if c_type == "float" else np.float64(value)
    if np.isnan(number):
        return "NAN"
    if np.isinf(number):
        return "INFINITY" if number > 0 else "-INFINITY"
    # numpy's str of a float32 is its shortest round-trip form; repr is that of a float64.
    return str(number) + "f" if c_type == "float" else repr(float(number))


def _int_literal(value: int, c_type: str) -> str:
    if c_type == "bool":
        return "true" if value else "false"
    if c_type == "int64_t" and value == -(2**63):
        return "INT64_MIN"
    if -(2**31) <= value < 2**31:
        return str(value)
    return f"INT64_C({value})"


def _literal(value: int | float, c_type: str) -> str:
    if c_type in _LIBM_SUFFIX:
        return _float_literal(float(value), c_type)
    return _int_literal(int(value), c_type)


# --- the op table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CExpr:
    """How an op becomes one C expression.

    `template` is a `str.format` pattern over the operands `{0}`, `{1}`, ... and `{t}` (the
    result's C type), `{u}` (the unsigned twin of operand 0's C type), `{f}` (the libm suffix
    of operand 0's type: `f` for float, nothing for double) and `{ty}` (its short name, `f32`);
    a comparison has a tuple of templates, indexed by its `predicate` (MLIR's enum order).
    `libm` lists the libm functions the template calls (root names, `exp` for `expf`/`exp`);
    `helper` names a `static inline` function from `_HELPERS` it calls.
    """

    template: str | tuple[str, ...]
    libm: tuple[str, ...] = ()
    helper: str | None = None

    def template_for(self, op: Operation) -> str:
        if isinstance(self.template, str):
            return self.template
        assert isinstance(op, arith.CmpfOp | arith.CmpiOp)
        return self.template[op.predicate.value.data]


_LIBM_ARITY = {"pow": 2, "copysign": 2, "fma": 3}


def _libm(root: str) -> CExpr:
    """A libm call, `exp{f}({0})`: `expf` on float, `exp` on double."""
    operands = ", ".join(f"{{{index}}}" for index in range(_LIBM_ARITY.get(root, 1)))
    return CExpr(f"{root}{{f}}({operands})", libm=(root,))


# Ordered and unordered predicates: C's `<`, `<=`, `>`, `>=`, `==` are false on NaN (ordered),
# `!=` is true on NaN (unordered); the <math.h> macros cover the rest without raising FE_INVALID.
_CMPF_TEMPLATES = (
    "false",  # false
    "{0} == {1}",  # oeq
    "{0} > {1}",  # ogt
    "{0} >= {1}",  # oge
    "{0} < {1}",  # olt
    "{0} <= {1}",  # ole
    "islessgreater({0}, {1})",  # one
    "!isunordered({0}, {1})",  # ord
    "!islessgreater({0}, {1})",  # ueq
    "!({0} <= {1})",  # ugt
    "!({0} < {1})",  # uge
    "!({0} >= {1})",  # ult
    "!({0} > {1})",  # ule
    "{0} != {1}",  # une
    "isunordered({0}, {1})",  # uno
    "true",  # true
)
_CMPI_TEMPLATES = (
    "{0} == {1}",  # eq
    "{0} != {1}",  # ne
    "{0} < {1}",  # slt
    "{0} <= {1}",  # sle
    "{0} > {1}",  # sgt
    "{0} >= {1}",  # sge
    "({u}){0} < ({u}){1}",  # ult
    "({u}){0} <= ({u}){1}",  # ule
    "({u}){0} > ({u}){1}",  # ugt
    "({u}){0} >= ({u}){1}",  # uge
)

_EXPRESSIONS: dict[type[Operation], CExpr] = {
    arith.AddfOp: CExpr("{0} + {1}"),
    arith.SubfOp: CExpr("{0} - {1}"),
    arith.MulfOp: CExpr("{0} * {1}"),
    arith.DivfOp: CExpr("{0} / {1}"),
    arith.NegfOp: CExpr("-{0}"),
    arith.MaximumfOp: CExpr("aidjit_maximum_{ty}({0}, {1})", helper="maximum"),
    arith.MinimumfOp: CExpr("aidjit_minimum_{ty}({0}, {1})", helper="minimum"),
    arith.CmpfOp: CExpr(_CMPF_TEMPLATES),
    arith.SelectOp: CExpr("{0} ? {1} : {2}"),
    # Integer arithmetic uses C's signed operators; build with -fwrapv for MLIR's wrapping.
    arith.AddiOp: CExpr("{0} + {1}"),
    arith.SubiOp: CExpr("{0} - {1}"),
    arith.MuliOp: CExpr("{0} * {1}"),
    arith.DivSIOp: CExpr("{0} / {1}"),
    arith.RemSIOp: CExpr("{0} % {1}"),
    arith.DivUIOp: CExpr("({t})(({u}){0} / ({u}){1})"),
    arith.RemUIOp: CExpr("({t})(({u}){0} % ({u}){1})"),
    arith.FloorDivSIOp: CExpr("aidjit_floordiv_{ty}({0}, {1})", helper="floordiv"),
    arith.CmpiOp: CExpr(_CMPI_TEMPLATES),
    arith.AndIOp: CExpr("{0} & {1}"),
    arith.OrIOp: CExpr("{0} | {1}"),
    arith.XOrIOp: CExpr("{0} ^ {1}"),
    # Shifting left in the unsigned twin wraps, as MLIR's shli does, where a signed shift of a
    # negative value is undefined in C; `>>` of a signed value is arithmetic in gcc and clang.
    arith.ShLIOp: CExpr("({t})(({u}){0} << {1})"),
    arith.ShRSIOp: CExpr("{0} >> {1}"),
    # The same bits as another type, through a union (C99 defines that reading): for a float
    # operand `{u}` is its own type (floats have no unsigned twin). gcc compiles it to no code.
    arith.BitcastOp: CExpr("((union {{ {u} from; {t} to; }}){{ {0} }}).to"),
    arith.IndexCastOp: CExpr("({t}){0}"),
    arith.SIToFPOp: CExpr("({t}){0}"),
    arith.UIToFPOp: CExpr("({t})({u}){0}"),
    arith.FPToSIOp: CExpr("({t}){0}"),
    arith.ExtFOp: CExpr("({t}){0}"),
    arith.TruncFOp: CExpr("({t}){0}"),
    math.ExpOp: _libm("exp"),
    math.LogOp: _libm("log"),
    math.SqrtOp: _libm("sqrt"),
    math.TanhOp: _libm("tanh"),
    math.AbsFOp: _libm("fabs"),
    math.PowFOp: _libm("pow"),
    math.SinOp: _libm("sin"),
    math.CosOp: _libm("cos"),
    math.Log1pOp: _libm("log1p"),
    math.ExpM1Op: _libm("expm1"),
    math.ErfOp: _libm("erf"),
    math.FloorOp: _libm("floor"),
    math.CeilOp: _libm("ceil"),
    math.RsqrtOp: CExpr("1 / sqrt{f}({0})", libm=("sqrt",)),
    math.FmaOp: _libm("fma"),
    math.CopySignOp: _libm("copysign"),
}

# The vector-aware comparisons and select that aidjit's parser builds are written as xDSL's.
_EXPRESSIONS.update({op: _EXPRESSIONS[op.__base__] for op in VECTOR_AWARE_OPS})

# libm functions with vector variants in glibc's libmvec (x86-64, glibc >= 2.35). Declaring
# another one `declare simd` would make gcc call a `_ZGV...` symbol that does not exist; sqrt,
# fabs, floor, ceil, fma and copysign need none, gcc vectorises them to instructions.
_LIBMVEC = frozenset(emit_vector.LIBMVEC_OPS.values())

_LIBMVEC_GUARD = """\
/* glibc's libmvec has vector variants of the functions declared `omp declare simd` below (on
   x86-64 from glibc 2.35), and gcc calls them when building with -fopenmp-simd (link -lmvec).
   Elsewhere, or built with -DAIDJIT_NO_LIBMVEC (no libmvec to link), the pragma is left out,
   so no missing vector symbol is ever referenced. The `const` attribute is true for this code
   (it never reads errno) and lets gcc vectorise the calls even without -fno-math-errno. */
#if !defined(AIDJIT_NO_LIBMVEC) && defined(__x86_64__) && defined(__GLIBC__) && \\
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define AIDJIT_LIBMVEC 1
#endif"""

# Helpers are written once over `$T` (the C type), `$ty` (its short name) and `$I` (the
# integer type as wide as `$T`). They are branch-free, and gcc -O3 vectorises them in loops.
#
# maximumf/minimumf test no sign bit (`signbit`, `copysign`): gcc 12.2 (Debian 12.2.0-14) at
# -O3 with AVX-512VL (-march=native on Rocket Lake, -march=skylake-avx512, -mavx512f) crashes
# with "internal compiler error: in eliminate_stmt, at tree-ssa-sccvn.cc:6459" when it
# vectorises `signbit(a)` for an `a` it knows is non-negative. Reproducer (`gcc -O3 -mavx512f
# -c`), the shape of `ops.relu(ops.abs(x))` on 16 floats:
#     #include <math.h>
#     void f(const float *restrict x, float *restrict y) {
#         float t[16];
#         for (int i = 0; i < 16; i++) t[i] = fabsf(x[i]);
#         for (int i = 0; i < 16; i++) {
#             float a = t[i], b = 0.0f;
#             float larger = (a > b || (a == b && !signbit(a))) ? a : b;
#             y[i] = (isnan(a) || isnan(b)) ? a + b : larger; } }
# Instead the two zeros are told apart by arithmetic: of +0 and -0, `a + b` is -0 only when
# both are -0 (the maximum) and `-(-a - b)` is +0 only when both are +0 (the minimum).
# runtime/toolchain.py compiles and runs these helpers on that shape once per compiler.
# Their selects are masks on the bits, not `?:`: gcc compiled the conditional form to branches
# wherever it did not vectorise the loop (a relu recomputed in a strided loop, as W3's backward
# has), which data of random sign mispredicts: such a loop over 256 x 64 floats took 129 us with
# `?:` and 39 us with the masks (C alone, gcc 12.2 -O3); gcc still vectorises the masks.
_HELPERS: dict[str, Template] = {
    "maximum": Template("""\
/* arith.maximumf: NaN if either operand is NaN (like np.maximum); -0.0 < +0.0. */
static inline $T aidjit_maximum_$ty($T a, $T b) {
    const $T sum = a + b;
    const $I greater = -($I)(a > b), zeros = -($I)((a == 0) & (b == 0));
    const $I nan = -($I)((a != a) | (b != b));
    $I x, y, s, bits;
    __builtin_memcpy(&x, &a, sizeof x);
    __builtin_memcpy(&y, &b, sizeof y);
    __builtin_memcpy(&s, &sum, sizeof s);
    bits = (((x & greater) | (y & ~greater)) & ~zeros) | (s & zeros);
    bits = (s & nan) | (bits & ~nan);
    $T result;
    __builtin_memcpy(&result, &bits, sizeof result);
    return result;
}"""),
    "minimum": Template("""\
/* arith.minimumf: NaN if either operand is NaN (like np.minimum); -0.0 < +0.0. */
static inline $T aidjit_minimum_$ty($T a, $T b) {
    const $T sum = a + b, zero = -(-a - b);
    const $I less = -($I)(a < b), zeros = -($I)((a == 0) & (b == 0));
    const $I nan = -($I)((a != a) | (b != b));
    $I x, y, s, z, bits;
    __builtin_memcpy(&x, &a, sizeof x);
    __builtin_memcpy(&y, &b, sizeof y);
    __builtin_memcpy(&s, &sum, sizeof s);
    __builtin_memcpy(&z, &zero, sizeof z);
    bits = (((x & less) | (y & ~less)) & ~zeros) | (z & zeros);
    bits = (s & nan) | (bits & ~nan);
    $T result;
    __builtin_memcpy(&result, &bits, sizeof result);
    return result;
}"""),
    "floordiv": Template("""\
/* arith.floordivsi: division rounding towards negative infinity. */
static inline $T aidjit_floordiv_$ty($T a, $T b) {
    const $T quotient = a / b;
    return quotient - (($T)(a % b != 0) & (($T)(a < 0) ^ ($T)(b < 0)));
}"""),
}


def helper_definition(helper: str, c_type: str) -> str:
    """The C definition of `_HELPERS[helper]` for `c_type` (also compiled by the self-test)."""
    bits = emit_vector.mask_c_type(_C_SIZES[c_type])
    return _HELPERS[helper].substitute(T=c_type, ty=_SHORT_NAMES[c_type], I=bits)


# --- emission ---------------------------------------------------------------------------------


@dataclass
class _ModuleNeeds:
    """What the functions use that the prologue must declare, in order of first use."""

    libm: dict[tuple[str, str], None] = field(default_factory=dict)
    helpers: dict[tuple[str, str], None] = field(default_factory=dict)
    vector_helpers: dict[tuple[str, VectorType], None] = field(default_factory=dict)
    """`emit_vector.HELPERS` (load, store, maximum, ...) by the vector type they take."""
    reductions: dict[tuple[str, VectorType], None] = field(default_factory=dict)
    vector_libm: dict[tuple[str, VectorType], None] = field(default_factory=dict)
    """libm functions called on whole vectors (emit_vector.libmvec_helper)."""
    intrinsic_bits: set[int] = field(default_factory=set)
    """Widths of the vector FMA and square root intrinsics (<immintrin.h>) used."""
    allocates: bool = False
    threads: bool = False
    """A loop runs on the thread pool: see THREAD_POOL_PROLOGUE."""
    narrows: bool = False
    """A function converts float64 to float32: see NO_SLP_GUARD."""


@dataclass
class _FunctionEmitter:
    """Emits one func.func: names values, writes statements, tracks where yields go."""

    needs: _ModuleNeeds
    lines: list[str] = field(default_factory=list)
    names: dict[SSAValue, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    depth: int = 0
    yield_targets: list[list[str]] = field(default_factory=list)
    symbol: str = ""
    """The C name of the function being emitted (its loop nests are named after it)."""
    workspace_views: set[str] = field(default_factory=set)
    """C names of the pointers into the workspace (see `_emit_view`)."""
    nests: list[list[str]] = field(default_factory=list)
    """The static functions its top-level loop nests became (see `_emit_top_level_for`)."""
    mask_types: dict[SSAValue, str] = field(default_factory=dict)
    """C types of `i1` vectors whose lanes are not 32 bits wide (see `_vector_c_type`)."""

    def fresh(self, prefix: str) -> str:
        number = self.counters.get(prefix, 0)
        self.counters[prefix] = number + 1
        return f"{prefix}{number}"

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def expr(self, value: SSAValue) -> str:
        return self.names[value]

    def temporary(self, c_type: str, init: str, *, const: bool = True) -> str:
        """Declare a fresh `v<n>` initialised to `init` and return its name."""
        name = self.fresh("v")
        space = "" if c_type.endswith("*") else " "
        self.line(f"{'const ' if const else ''}{c_type}{space}{name} = {init};")
        return name

    def declare(self, value: SSAValue, c_type: str, init: str, *, const: bool = True) -> str:
        """Declare a fresh variable holding `value`."""
        self.names[value] = self.temporary(c_type, init, const=const)
        return self.names[value]

    def block(self, block: Block, yield_targets: list[str]) -> None:
        self.yield_targets.append(yield_targets)
        self.depth += 1
        for op in block.ops:
            self.op(op)
        self.depth -= 1
        self.yield_targets.pop()

    def op(self, op: Operation) -> None:
        if isinstance(op, scf.ForOp | scf.ParallelOp) and self.depth == 1:
            _emit_top_level_for(self, op)
            return
        if type(op) in _STATEMENTS:
            _STATEMENTS[type(op)](self, op)
            return
        if type(op) in _EXPRESSIONS:
            self.expression(op, _EXPRESSIONS[type(op)])
            return
        raise blame(UnsupportedError(f"C emitter does not support '{op.name}'"), op)

    def c_type(self, value: SSAValue, op: Operation) -> str:
        return self.mask_types.get(value) or _c_type(value.type, op)

    def expression(self, op: Operation, entry: CExpr) -> None:
        if touches_vectors(op):
            self.vector_expression(op, entry)
            return
        (result,) = op.results
        result_type = _c_type(result.type, op)
        operand_type = _c_type(op.operands[0].type, op)
        fields = {
            "t": result_type,
            "u": _UNSIGNED.get(operand_type, operand_type),
            "f": _LIBM_SUFFIX.get(operand_type, ""),
            "ty": _SHORT_NAMES[operand_type],
        }
        for root in entry.libm:
            if operand_type not in _LIBM_SUFFIX:
                raise _unsupported(op, f"libm function on type {op.operands[0].type}")
            self.needs.libm[(root, operand_type)] = None
        if entry.helper is not None:
            self.needs.helpers[(entry.helper, operand_type)] = None
        operands = [self.expr(operand) for operand in op.operands]
        self.declare(result, result_type, entry.template_for(op).format(*operands, **fields))

    def vector_expression(self, op: Operation, entry: CExpr) -> None:
        """An arith or math op on vectors: GCC's operators where they mean the same as on
        scalars, otherwise the spelling of runtime/emit_vector.py."""
        (result,) = op.results
        source = op.operands[0]
        if not (
            isinstance(source.type, VectorType)
            and isinstance(result.type, VectorType)
            and source.type.get_shape() == result.type.get_shape()
        ):
            raise _unsupported(op, f"mixing vectors and scalars ({source.type} -> {result.type})")
        operands = [self.expr(operand) for operand in op.operands]
        source_c = self.c_type(source, op)
        result_c = _c_type(result.type, op)
        kind = type(op).__base__ if type(op) in VECTOR_AWARE_OPS else type(op)
        if isinstance(op, arith.CmpfOp | arith.CmpiOp):
            table = emit_vector.CMPF if isinstance(op, arith.CmpfOp) else emit_vector.CMPI_SIGNED
            template = table[op.predicate.value.data]
            if template is None:
                raise _unsupported(op, f"unsigned comparison of {source.type}")
            result_c = self.mask_of(source.type, op)
            init = template.format(*operands)
        elif isinstance(op, arith.SelectOp) and (min_max := emit_vector.select_as_min_max(op)):
            name, a, b = min_max
            init = f"{self.intrinsic(op, name, result.type)}({self.expr(a)}, {self.expr(b)})"
        elif isinstance(op, arith.SelectOp):
            mask = self.mask_of(result.type, op)
            condition = operands[0]
            if self.c_type(op.operands[0], op) != mask:
                condition = f"__builtin_convertvector({condition}, {mask})"
            init = (
                f"({result_c})((({mask}){operands[1]} & {condition}) | "
                f"(({mask}){operands[2]} & ~{condition}))"
            )
        elif kind in emit_vector.NATIVE:
            if result.type.get_element_type() == i1:
                # A mask combined with a mask keeps the first one's lane width; a mask of
                # other lanes (f32 compared, then and-ed with an i64 comparison: numpy's
                # first-NaN rule in argmin over int64 indices) is converted to it: -1 stays
                # -1, 0 stays 0.
                result_c = source_c
                operands = [
                    operand_c
                    if self.c_type(value, op) == source_c
                    else f"__builtin_convertvector({operand_c}, {source_c})"
                    for value, operand_c in zip(op.operands, operands, strict=True)
                ]
            # {t}/{u}: shli's cast to the unsigned twin (no UB in scalar C); GCC defines `<<`
            # on signed vector lanes, so the vector type itself stands for both.
            init = entry.template_for(op).format(*operands, t=result_c, u=result_c)
        elif kind in emit_vector.CONVERSIONS:
            init = f"__builtin_convertvector({operands[0]}, {result_c})"
        elif isinstance(op, arith.BitcastOp):
            init = f"({result_c}){operands[0]}"
        elif kind in emit_vector.HELPER_CALLS:
            helper = emit_vector.HELPER_CALLS[kind]
            self.needs.vector_helpers[(helper, source.type)] = None
            init = f"aidjit_{helper}_{_vector_short(source.type, op)}({', '.join(operands)})"
        elif isinstance(op, math.FmaOp | math.SqrtOp):
            name = "sqrt" if isinstance(op, math.SqrtOp) else "fmadd"
            init = f"{self.intrinsic(op, name, source.type)}({', '.join(operands)})"
        elif kind in emit_vector.LIBMVEC_OPS:
            root = emit_vector.LIBMVEC_OPS[kind]
            element = _c_type(source.type.get_element_type(), op)
            self.needs.libm[(root, element)] = None  # the lane-by-lane fallback's
            self.needs.vector_libm[(root, source.type)] = None
            init = f"aidjit_{root}_{_vector_short(source.type, op)}({', '.join(operands)})"
        else:
            raise _unsupported(op, f"'{op.name}' on vectors ({source.type})")
        self.declare(result, result_c, init)
        if result_c != _c_type(result.type, op):
            self.mask_types[result] = result_c

    def mask_of(self, type_: VectorType, op: Operation) -> str:
        """The integer vector a comparison of (or a blend of) `type_` lanes yields."""
        lanes = type_.get_shape()[0]
        element_bytes = _C_SIZES[_c_type(type_.get_element_type(), op)]
        return vector_name(lanes, mask_short(element_bytes))

    def needs_masked(self, type_: VectorType, op: Operation) -> None:
        """Define the masked load and store helpers of `type_` (and their ISA guard)."""
        self.needs.vector_helpers[("masked", type_)] = None
        element_bytes = _C_SIZES[_c_type(type_.get_element_type(), op)]
        bits = 8 * element_bytes * type_.get_shape()[0]
        if emit_vector.uses_intrinsics(bits, element_bytes):
            self.needs.intrinsic_bits.add(bits)

    def intrinsic(self, op: Operation, operation: str, type_: VectorType) -> str:
        """The x86 intrinsic of `operation` on `type_` (emit_vector.intrinsic), whose header
        and ISA guard the file then includes."""
        element = _c_type(type_.get_element_type(), op)
        bits = 8 * _C_SIZES[element] * type_.get_shape()[0]
        name = emit_vector.intrinsic(operation, bits, element)
        if name is None:
            raise _unsupported(op, f"'{op.name}' on {type_} (no {bits}-bit intrinsic)")
        self.needs.intrinsic_bits.add(bits)
        return name

    def element_address(self, op: Operation, ref: SSAValue, indices: Iterable[SSAValue]) -> str:
        """`arg0[i0 * 3 + i1]`: an element of a memref, at its layout's offset and strides
        (`arg0[5 + i0 * 8 + i1 * 2]` through a subview; row-major without a layout)."""
        layout = _layout(ref.type, op)
        terms = [str(layout.offset)] + [
            _index_term(self.expr(index), stride)
            for index, stride in zip(indices, layout.strides, strict=True)
        ]
        return f"{self.expr(ref)}[{' + '.join(term for term in terms if term != '0') or '0'}]"


def _vector_short(type_: VectorType, op: Operation) -> str:
    """`v16f32`: a vector type's name without the `aidjit_` prefix, for helper names."""
    return _vector_c_type(type_, op).removeprefix("aidjit_")


def _index_term(index: str, stride: int) -> str:
    """`i0 * 3`; a constant index is folded (`2 * 3` is `6`) and a unit stride left out."""
    if index.isdigit():
        return str(int(index) * stride)
    return index if stride == 1 else f"{index} * {stride}"


# --- statement handlers -----------------------------------------------------------------------


def _emit_constant(emitter: _FunctionEmitter, op: arith.ConstantOp) -> None:
    """Constants are inlined as literals wherever they are used; negative ones in parentheses."""
    if isinstance(op.value, DenseIntOrFPElementsAttr) and isinstance(op.result.type, VectorType):
        element = _c_type(op.result.type.get_element_type(), op)
        values = [_literal(value, element) for value in op.value.get_values()]
        if len(values) == 1:  # a splat
            values *= op.result.type.get_shape()[0]
        emitter.names[op.result] = f"(({_c_type(op.result.type, op)}){{{', '.join(values)}}})"
        return
    if not isinstance(op.value, IntegerAttr | FloatAttr):
        raise _unsupported(op, f"constant {op.value}")
    literal = _literal(op.value.value.data, _c_type(op.result.type, op))
    emitter.names[op.result] = f"({literal})" if literal.startswith("-") else literal


def _emit_load(emitter: _FunctionEmitter, op: memref.LoadOp) -> None:
    element_type = _c_type(op.res.type, op)
    emitter.declare(op.res, element_type, emitter.element_address(op, op.memref, op.indices))


def _emit_store(emitter: _FunctionEmitter, op: memref.StoreOp) -> None:
    address = emitter.element_address(op, op.memref, op.indices)
    emitter.line(f"{address} = {emitter.expr(op.value)};")


def _emit_vector_load(emitter: _FunctionEmitter, op: vector.LoadOp) -> None:
    """Lanes from the element the indices name on: an unaligned load (emit_vector's helper)."""
    emitter.needs.vector_helpers[("load", op.result.type)] = None
    address = emitter.element_address(op, op.base, op.indices)
    name = _vector_short(op.result.type, op)
    emitter.declare(op.result, _c_type(op.result.type, op), f"aidjit_load_{name}(&{address})")


def _emit_vector_store(emitter: _FunctionEmitter, op: vector.StoreOp) -> None:
    emitter.needs.vector_helpers[("store", op.vector.type)] = None
    address = emitter.element_address(op, op.base, op.indices)
    name = _vector_short(op.vector.type, op)
    emitter.line(f"aidjit_store_{name}(&{address}, {emitter.expr(op.vector)});")


def _emit_shuffle(emitter: _FunctionEmitter, op: vector.ShuffleOp) -> None:
    """Lanes of two vectors picked by a constant mask: gcc's `__builtin_shuffle`, whose mask
    is a vector of integers as wide as the lanes (one `vpermt2ps` on AVX-512)."""
    type_ = op.result.type
    if not (op.v1.type == op.v2.type == type_):
        raise _unsupported(op, "a shuffle whose operands and result differ in type")
    lanes, element, _, vector_c = _vector_spelling(type_)
    mask_c = vector_name(lanes, mask_short(_C_SIZES[element]))
    mask = ", ".join(str(lane) for lane in op.mask.get_values())
    operands = f"{emitter.expr(op.v1)}, {emitter.expr(op.v2)}"
    emitter.declare(op.result, vector_c, f"__builtin_shuffle({operands}, ({mask_c}){{{mask}}})")


def _emit_create_mask(emitter: _FunctionEmitter, op: vector.CreateMaskOp) -> None:
    """The first n lanes set: lane indices compared with n, in the integer lanes of the vectors
    the mask selects (a mask of f64 lanes is 64-bit), which is what the masked helpers take."""
    users = {
        (
            use.operation.result
            if isinstance(use.operation, vector.MaskedLoadOp)
            else use.operation.value_to_store
        ).type
        for use in op.mask_vector.uses
        if isinstance(use.operation, vector.MaskedLoadOp | vector.MaskedStoreOp)
    }
    if len(users) != 1 or len(op.mask_dim_sizes) != 1:
        raise _unsupported(op, "a mask not used by masked loads and stores of one vector type")
    mask = emitter.mask_of(users.pop(), op)
    lanes = op.mask_vector.type.get_shape()[0]
    count = emitter.expr(op.mask_dim_sizes[0])
    iota = f"({mask}){{{', '.join(str(lane) for lane in range(lanes))}}}"
    emitter.declare(op.mask_vector, mask, f"{iota} < ({mask}){{{', '.join([count] * lanes)}}}")
    emitter.mask_types[op.mask_vector] = mask


def _emit_masked_load(emitter: _FunctionEmitter, op: vector.MaskedLoadOp) -> None:
    """The selected lanes from memory, the others from the pass-through (emit_vector)."""
    emitter.needs_masked(op.result.type, op)
    address = emitter.element_address(op, op.base, op.indices)
    name = _vector_short(op.result.type, op)
    call = (
        f"aidjit_maskload_{name}(&{address}, {emitter.expr(op.mask)}, {emitter.expr(op.pass_thru)})"
    )
    emitter.declare(op.result, _c_type(op.result.type, op), call)


def _emit_masked_store(emitter: _FunctionEmitter, op: vector.MaskedStoreOp) -> None:
    emitter.needs_masked(op.value_to_store.type, op)
    address = emitter.element_address(op, op.base, op.indices)
    name = _vector_short(op.value_to_store.type, op)
    mask, value = emitter.expr(op.mask), emitter.expr(op.value_to_store)
    emitter.line(f"aidjit_maskstore_{name}(&{address}, {mask}, {value});")


def _emit_broadcast(emitter: _FunctionEmitter, op: vector.BroadcastOp) -> None:
    """A scalar in every lane: a brace list, which gcc turns into one `vbroadcastss`."""
    result_type = op.vector.type
    if op.source.type == result_type:
        emitter.names[op.vector] = emitter.expr(op.source)
        return
    if isinstance(op.source.type, VectorType):
        raise _unsupported(op, f"broadcasting {op.source.type} (only scalars)")
    lanes = ", ".join([emitter.expr(op.source)] * result_type.get_shape()[0])
    c_type = _c_type(result_type, op)
    emitter.declare(op.vector, c_type, f"({c_type}){{{lanes}}}")


def _emit_vector_fma(emitter: _FunctionEmitter, op: vector.FMAOp) -> None:
    operands = ", ".join(emitter.expr(value) for value in (op.lhs, op.rhs, op.acc))
    init = f"{emitter.intrinsic(op, 'fmadd', op.lhs.type)}({operands})"
    emitter.declare(op.res, _c_type(op.res.type, op), init)


# The value that leaves every lane unchanged, for `vector.reduction` without an accumulator:
# -0.0 + x is x for every x (+0.0 + -0.0 would be +0.0), and maximum(-inf, x) is x, NaN too.
_REDUCTION_IDENTITY = {"add": "-0.0", "mul": "1", "maximumf": "-INFINITY", "minimumf": "INFINITY"}


def _emit_reduction(emitter: _FunctionEmitter, op: vector.ReductionOp) -> None:
    """The lanes folded in order, lane 0 first, into the accumulator (emit_vector)."""
    kind = op.kind.data.value
    if kind not in emit_vector.REDUCTION_KINDS:
        raise _unsupported(op, f"reduction kind {kind}")
    element = _c_type(op.dest.type, op)
    if kind in ("maximumf", "minimumf"):
        emitter.needs.helpers[(kind.removesuffix("f"), element)] = None
    emitter.needs.reductions[(kind, op.vector.type)] = None
    acc = emitter.expr(op.acc) if op.acc is not None else f"({element}){_REDUCTION_IDENTITY[kind]}"
    name = f"aidjit_reduce_{kind}_{_vector_short(op.vector.type, op)}"
    emitter.declare(op.dest, element, f"{name}({emitter.expr(op.vector)}, {acc})")


def _allocation_bytes(memref_type: MemRefType, element_bytes: int, alignment: int) -> int:
    """aligned_alloc wants a size that is a positive multiple of the alignment."""
    size = max(memref_type.element_count() * element_bytes, 1)
    return -(-size // alignment) * alignment


def _emit_alloc(emitter: _FunctionEmitter, op: memref.AllocOp) -> None:
    if op.dynamic_sizes or op.symbol_operands:
        raise _unsupported(op, "dynamic allocation")
    memref_type = _buffer_type(op.memref.type, op)
    element_type = _c_type(memref_type.get_element_type(), op)
    alignment = max(64, op.alignment.value.data if op.alignment is not None else 64)
    size = _allocation_bytes(memref_type, _C_SIZES[element_type], alignment)
    init = f"aligned_alloc({alignment}, {size})"
    emitter.needs.allocates = True
    emitter.declare(op.memref, f"{element_type} *restrict", init, const=False)


def _emit_alloca(emitter: _FunctionEmitter, op: memref.AllocaOp) -> None:
    """A stack array, 64-byte aligned: the packed panels of a micro-kernel (tile-contractions),
    private to the nest, and to each thread of a parallel loop."""
    if op.dynamic_sizes or op.symbol_operands:
        raise _unsupported(op, "dynamic allocation")
    memref_type = _buffer_type(op.memref.type, op)
    element_type = _c_type(memref_type.get_element_type(), op)
    name = emitter.fresh("v")
    size = max(memref_type.element_count(), 1)
    emitter.line(f"{element_type} {name}[{size}] __attribute__((aligned(64)));")
    emitter.names[op.memref] = name


def _emit_dealloc(emitter: _FunctionEmitter, op: memref.DeallocOp) -> None:
    emitter.line(f"free({emitter.expr(op.memref)});")


def _emit_get_global(emitter: _FunctionEmitter, op: memref.GetGlobalOp) -> None:
    global_op = SymbolTable.lookup_symbol(op, op.name_)
    if not isinstance(global_op, memref.GlobalOp):
        raise _unsupported(op, f"a reference to the unknown global {op.name_}")
    element_type = _c_type(_memref_type(op.memref.type, op).get_element_type(), op)
    qualifier = "const " if global_op.constant is not None else ""
    pointer_type = f"{qualifier}{element_type} *"
    emitter.declare(op.memref, pointer_type, c_identifier(global_op.sym_name.data), const=False)


def _emit_view(emitter: _FunctionEmitter, op: memref.ViewOp) -> None:
    """A typed pointer into the workspace at a byte offset. Not `restrict` at function scope:
    buffers whose lifetimes do not overlap share bytes, which C would call aliasing; each loop
    nest that uses it gets it as a `restrict` parameter instead (see `_emit_top_level_for`)."""
    if op.sizes:
        raise _unsupported(op, "a view with dynamic sizes")
    element_type = _c_type(_buffer_type(op.result.type, op).get_element_type(), op)
    source = emitter.expr(op.source)
    init = f"({element_type} *)({source} + {emitter.expr(op.byte_shift)})"
    emitter.declare(op.result, f"{element_type} *", init, const=False)
    emitter.workspace_views.add(emitter.names[op.result])


NEST_ATTRIBUTES = "__attribute__((noinline)) static"
"""How a nest function is declared: not inlined into the function that calls it, so gcc
allocates registers and schedules each nest on its own. Inlined (each is called once), a change
to one nest moved gcc 12's -fsched-pressure and register allocator to spill an accumulator of
another nest's micro-kernel (a load and store per k, with free registers left): W2b at one
thread took 1.17x the time for a change to its first and last layers only. Apart, the nests'
code no longer depends on their neighbours (W2b at one thread 0.94x, W3 0.99x, before any
other change, measured with bench/compare_kernels.py); a call per nest costs nanoseconds."""


def _emit_top_level_for(emitter: _FunctionEmitter, op: scf.ForOp | scf.ParallelOp) -> None:
    """A loop nest of the function body that touches the workspace becomes a static function
    called once, whose pointer
    parameters are `restrict`: gcc honours `restrict` on parameters (also once it inlines the
    call), while on local copies of workspace views it still versions loops for aliasing and
    leaves calls to vector math unvectorised (measured on W4 with gcc 12).

    Sound because the memory planner never gives two buffers used in one loop nest (one op,
    or one row group, whose buffers all live across the whole group) the same bytes, so inside
    the nest each object is reached through one pointer only, as C's `restrict` asks; views of
    one buffer (reshapes, subviews) are one parameter. At function scope, workspace views stay
    plain pointers: across nests the bytes are shared.

    A parallel loop on more than one thread always becomes such a function, over a range of
    its iterations, which the thread pool calls chunk by chunk (see `_emit_chunked`)."""
    inside = {v for nested in op.walk() for v in (*nested.results, *_block_args(nested))}
    parameters: dict[str, SSAValue] = {}
    for nested in op.walk():
        for value in nested.operands:
            if value in inside or isinstance(value.owner, arith.ConstantOp):
                continue
            parameters.setdefault(emitter.names[value], value)
    chunking = _chunking(op) if isinstance(op, scf.ParallelOp) else None
    if chunking is None and (op.results or not emitter.workspace_views.intersection(parameters)):
        # Values carried out of the loop stay in the caller; a nest over arguments only
        # already has `restrict` pointers.
        _STATEMENTS[type(op)](emitter, op)
        return
    stored = {
        emitter.names[target]
        for nested in op.walk()
        if (target := stored_memref(nested)) is not None and target not in inside
    }
    nest = _FunctionEmitter(emitter.needs, depth=1)
    declarations, renamed = [], {}
    for index, (name, value) in enumerate(parameters.items()):
        renamed[name] = parameter = f"p{index}"
        if isinstance(value.type, MemRefType):
            element_type = _c_type(value.type.get_element_type(), op)
            qualifier = "" if name in stored else "const "
            declarations.append(f"{qualifier}{element_type} *restrict {parameter}")
        else:
            declarations.append(f"{_c_type(value.type, op)} {parameter}")
    for value, name in emitter.names.items():
        if isinstance(value.owner, arith.ConstantOp):
            nest.names[value] = name  # a literal: no parameter
        elif name in renamed:
            nest.names[value] = renamed[name]  # every view of one buffer is one parameter
    symbol = f"aidjit_{emitter.symbol}_nest{len(emitter.nests)}"
    if chunking is None:
        _STATEMENTS[type(op)](nest, op)
    else:
        bounds = [f"p{len(declarations)}", f"p{len(declarations) + 1}"]
        declarations += [f"int64_t {bound}" for bound in bounds]
        _emit_parallel_loop(nest, op, *bounds)
    head = f"{NEST_ATTRIBUTES} void {symbol}({', '.join(declarations) or 'void'}) {{"
    if any(isinstance(nested, arith.TruncFOp) for nested in op.walk()):
        head = f"AIDJIT_NO_SLP {head}"
    emitter.nests.append([head, *nest.lines, "}"])
    if chunking is None:
        emitter.line(f"{symbol}({', '.join(parameters)});")
    else:
        _emit_chunked(emitter, symbol, declarations[: len(parameters)], list(parameters), chunking)


CHUNKS_PER_THREAD = 16
"""A parallel loop is cut into up to this many chunks per thread: enough that the threads end
within a small chunk of each other when one runs late or slow, few enough that taking a chunk
(one atomic compare-and-swap on a line both threads touch) costs nothing next to it."""

PARALLEL_ALIGNMENT = 1024
"""Iterations per chunk of an innermost parallel loop are a multiple of this."""


@dataclass(frozen=True)
class _Chunking:
    """How a parallel loop with constant bounds is cut: `chunks` ranges of `span` (iterations
    times step) from `lower`, the last one ending at `upper`, run on `threads` threads."""

    lower: int
    upper: int
    span: int
    chunks: int
    threads: int


def _chunking(op: scf.ParallelOp) -> _Chunking | None:
    """The chunks of a one-dimensional scf.parallel that runs on more than one thread (its
    `aidjit.num_threads`, recorded by parallelize-outer-loops: a compile-time constant, so part
    of the C source and of the cache key); None for one thread, or bounds that are not
    constants (the loop is then serial: scf.parallel allows any order, one thread included).

    Chunks are the same whichever thread runs them. An innermost loop (no loop inside) is the
    one gcc vectorises, and gcc treats a loop's last elements (an epilogue after the vector
    loop) with other code than the rest: narrower vectors, scalar libm calls, whose results
    differ from libmvec's vector variants in the last bit. So that the same elements take the
    epilogue whatever the thread count, an innermost loop's chunks are a multiple of
    `PARALLEL_ALIGNMENT` iterations (any vector length times unrolling): only the last chunk has
    an epilogue, at the loop's own end, as on one thread."""
    _check_emittable(op)
    threads = op.attributes.get(NUM_THREADS)
    count = threads.value.data if isinstance(threads, IntegerAttr) else 1
    trips = trip_count(op.lowerBound[0], op.upperBound[0], op.step[0])
    if count <= 1 or trips is None or trips < 2:
        return None
    quantum = 1 if any(isinstance(n, scf.ForOp) for n in op.body.walk()) else PARALLEL_ALIGNMENT
    per_chunk = min(
        _chunk_sizes(trips, count, quantum), key=lambda size: _finish(trips, count, size)
    )
    lower, upper, step = (
        constant_int(bound) for bound in (op.lowerBound[0], op.upperBound[0], op.step[0])
    )
    return _Chunking(lower, upper, per_chunk * step, -(-trips // per_chunk), count)


def _chunk_sizes(trips: int, threads: int, quantum: int) -> range:
    """Iterations per chunk worth trying: multiples of `quantum` from the smallest that keeps
    within `CHUNKS_PER_THREAD` chunks per thread, up to twice that."""
    smallest = -(-trips // (CHUNKS_PER_THREAD * threads))
    smallest = -(-smallest // quantum) * quantum
    return range(smallest, 2 * smallest + 1, quantum)


def _finish(trips: int, threads: int, per_chunk: int) -> int:
    """When the last thread ends, in iterations, if all run at one speed and take chunks in
    turn: an odd chunk out is work one thread does alone (42 iterations in 21 chunks of 2
    finish at 22 on two threads; in 14 chunks of 3, at 21, as a static split would)."""
    chunks = -(-trips // per_chunk)
    return min(-(-chunks // threads) * per_chunk, trips)


def _emit_chunked(
    emitter: _FunctionEmitter,
    nest: str,
    declarations: list[str],
    arguments: list[str],
    chunking: _Chunking,
) -> None:
    """Run the nest `nest` (its parameters, then the first and the end of its range of
    iterations) through the thread pool: a context struct holds the arguments, and a chunk
    function turns a chunk's number into its range."""
    emitter.needs.threads = True
    chunk = f"{nest}_chunk"
    fields = [declaration.replace("*restrict ", "*") for declaration in declarations]
    context_type = f"struct {nest}_context"
    names = [declaration.split()[-1] for declaration in declarations]
    body = [
        f"    const int64_t first = {chunking.lower} + chunk * {chunking.span};",
        f"    const int64_t end = first + {chunking.span} < {chunking.upper} ? "
        f"first + {chunking.span} : {chunking.upper};",
    ]
    if fields:
        emitter.nests.append([f"{context_type} {{", *(f"    {f};" for f in fields), "};"])
        body.insert(0, f"    const {context_type} *fields = context;")
    values = [f"fields->{name}" for name in names]
    emitter.nests.append(
        [
            f"static void {chunk}(void *context, int64_t chunk) {{",
            *body,
            f"    {nest}({', '.join([*values, 'first', 'end'])});",
            "}",
        ]
    )
    if not fields:
        emitter.line(f"aidjit_parallel({chunk}, 0, {chunking.chunks}, {chunking.threads});")
        return
    emitter.line("{")
    emitter.line(f"    {context_type} aidjit_context = {{{', '.join(arguments)}}};")
    emitter.line(
        f"    aidjit_parallel({chunk}, &aidjit_context, {chunking.chunks}, {chunking.threads});"
    )
    emitter.line("}")


def _block_args(op: Operation) -> list[SSAValue]:
    return [arg for region in op.regions for block in region.blocks for arg in block.args]


def _emit_reshape(
    emitter: _FunctionEmitter, op: memref.CollapseShapeOp | memref.ExpandShapeOp
) -> None:
    """A reshape of a contiguous memref is the same pointer: loads and stores index it with
    the strides of its own static type (row-major, or the layout MLIR gives a reshaped subview)."""
    _memref_type(op.results[0].type, op)
    emitter.names[op.results[0]] = emitter.expr(op.operands[0])


def _emit_subview(emitter: _FunctionEmitter, op: memref.SubviewOp) -> None:
    """A subview is its source's pointer: MLIR's strided layout counts the result's offset from
    the source's base pointer (aidjit.runtime.strided), so loads and stores index the source's
    name through the result's layout. A subview of a subview, of a workspace view or of a
    reshape is the pointer at the root of the chain, which the layouts are relative to."""
    source_type = _memref_type(op.source.type, op)
    _memref_type(op.result.type, op)
    subview_layout(op, source_type.get_shape(), _layout(source_type, op))
    emitter.names[op.result] = emitter.expr(op.source)


def _emit_for(emitter: _FunctionEmitter, op: scf.ForOp) -> None:
    """A C for loop; iter_args become variables declared before it and assigned at the yield."""
    carried = [
        emitter.declare(result, _c_type(result.type, op), emitter.expr(init), const=False)
        for init, result in zip(op.iter_args, op.results, strict=True)
    ]
    body = op.body.block
    induction = emitter.fresh("i")
    emitter.names[body.args[0]] = induction
    for block_arg, name in zip(body.args[1:], carried, strict=True):
        emitter.names[block_arg] = name
    index_type = _c_type(op.lb.type, op)
    step = emitter.expr(op.step)
    increment = f"{induction}++" if step == "1" else f"{induction} += {step}"
    emitter.line(
        f"for ({index_type} {induction} = {emitter.expr(op.lb)}; "
        f"{induction} < {emitter.expr(op.ub)}; {increment}) {{"
    )
    emitter.block(body, carried)
    emitter.line("}")


def _emit_parallel(emitter: _FunctionEmitter, op: scf.ParallelOp) -> None:
    """An scf.parallel that runs on one thread (see `_chunking`; a parallel loop nested in
    another loop is one too): a C for loop."""
    _check_emittable(op)
    _emit_parallel_loop(emitter, op, emitter.expr(op.lowerBound[0]), emitter.expr(op.upperBound[0]))


def _check_emittable(op: scf.ParallelOp) -> None:
    """Only the form parallelize-outer-loops makes: one dimension, no reductions."""
    if len(op.lowerBound) != 1 or op.initVals:
        raise _unsupported(op, "a multi-dimensional or reducing scf.parallel")


def _emit_parallel_loop(
    emitter: _FunctionEmitter, op: scf.ParallelOp, lower: str, upper: str
) -> None:
    """The C for loop of a one-dimensional scf.parallel, from `lower` to `upper`."""
    body = op.body.block
    induction = emitter.fresh("i")
    emitter.names[body.args[0]] = induction
    step = emitter.expr(op.step[0])
    increment = f"{induction}++" if step == "1" else f"{induction} += {step}"
    emitter.line(
        f"for ({_c_type(op.lowerBound[0].type, op)} {induction} = {lower}; "
        f"{induction} < {upper}; {increment}) {{"
    )
    emitter.block(body, [])
    emitter.line("}")


def _emit_reduce(emitter: _FunctionEmitter, op: scf.ReduceOp) -> None:
    """The terminator of an scf.parallel body; only the form without reductions is made."""
    if op.args:
        raise _unsupported(op, "reductions of an scf.parallel")


def _emit_if(emitter: _FunctionEmitter, op: scf.IfOp) -> None:
    """An if/else; results become variables declared before it and assigned at the yields."""
    targets = []
    for result in op.results:
        targets.append(emitter.fresh("v"))
        emitter.names[result] = targets[-1]
        emitter.line(f"{_c_type(result.type, op)} {targets[-1]};")
    emitter.line(f"if ({emitter.expr(op.cond)}) {{")
    emitter.block(_single_block(op.true_region, op), targets)
    if op.false_region.blocks and _has_work(op.false_region.block):
        emitter.line("} else {")
        emitter.block(op.false_region.block, targets)
    emitter.line("}")


def _has_work(block: Block) -> bool:
    return len(block.ops) > 1 or bool(block.last_op and block.last_op.operands)


def _emit_yield(emitter: _FunctionEmitter, op: scf.YieldOp) -> None:
    """Assign the yielded values to the loop's (or if's) variables, via temporaries when there
    are several, so `yield %b, %a` swaps instead of overwriting one with the other."""
    targets = emitter.yield_targets[-1]
    values = [emitter.expr(value) for value in op.arguments]
    if len(targets) > 1:
        values = [
            emitter.temporary(_c_type(value.type, op), expr)
            for value, expr in zip(op.arguments, values, strict=True)
        ]
    for target, value in zip(targets, values, strict=True):
        emitter.line(f"{target} = {value};")


def _emit_return(emitter: _FunctionEmitter, op: func.ReturnOp) -> None:
    if op.arguments:
        raise _unsupported(op, "returning values (results go to output buffers)")


_STATEMENTS: dict[type[Operation], Callable[[_FunctionEmitter, Any], None]] = {
    arith.ConstantOp: _emit_constant,
    memref.LoadOp: _emit_load,
    memref.StoreOp: _emit_store,
    memref.AllocOp: _emit_alloc,
    memref.AllocaOp: _emit_alloca,
    memref.DeallocOp: _emit_dealloc,
    memref.GetGlobalOp: _emit_get_global,
    memref.ViewOp: _emit_view,
    memref.CollapseShapeOp: _emit_reshape,
    memref.ExpandShapeOp: _emit_reshape,
    memref.SubviewOp: _emit_subview,
    vector.LoadOp: _emit_vector_load,
    vector.StoreOp: _emit_vector_store,
    vector.BroadcastOp: _emit_broadcast,
    vector.ShuffleOp: _emit_shuffle,
    vector.FMAOp: _emit_vector_fma,
    vector.CreateMaskOp: _emit_create_mask,
    vector.MaskedLoadOp: _emit_masked_load,
    vector.MaskedStoreOp: _emit_masked_store,
    vector.ReductionOp: _emit_reduction,
    scf.ForOp: _emit_for,
    scf.ParallelOp: _emit_parallel,
    scf.ReduceOp: _emit_reduce,
    scf.IfOp: _emit_if,
    scf.YieldOp: _emit_yield,
    func.ReturnOp: _emit_return,
}


# --- functions, globals, module ---------------------------------------------------------------


def _single_block(region: Region, op: Operation) -> Block:
    if len(region.blocks) != 1:
        raise _unsupported(op, f"a region with {len(region.blocks)} blocks")
    return region.block


_VIEWS = (memref.ViewOp, memref.CollapseShapeOp, memref.ExpandShapeOp, memref.SubviewOp)
"""Ops whose result is another memref over the same memory (the workspace, a reshape, a slice)."""


def view_source(value: SSAValue) -> SSAValue:
    """The memref `value` is a view of, through any chain of views (itself if none)."""
    while isinstance(value.owner, _VIEWS):
        value = value.owner.operands[0]
    return value


def stored_memref(op: Operation) -> SSAValue | None:
    """The memref a store (scalar or vector) writes to; None for any other op."""
    if isinstance(op, memref.StoreOp):
        return op.memref
    if isinstance(op, vector.StoreOp | vector.MaskedStoreOp):
        return op.base
    return None


def _stored_arguments(func_op: func.FuncOp) -> set[SSAValue]:
    """Arguments stored to, directly or through a view (so they are not `const`)."""
    return {
        source
        for op in func_op.walk()
        if (target := stored_memref(op)) is not None
        and isinstance(source := view_source(target), BlockArgument)
    }


def c_prototype(func_op: func.FuncOp) -> str:
    """`void f(const float *restrict arg0, float *restrict arg1)`: the C signature, without `;`.

    Arguments are memrefs; those the body never stores to are `const`.
    """
    if func_op.function_type.outputs.data:
        raise _unsupported(func_op, "function results (results go to output buffers)")
    block = _single_block(func_op.body, func_op)
    stored = _stored_arguments(func_op)
    parameters = []
    for index, arg in enumerate(block.args):
        element_type = _c_type(_buffer_type(arg.type, func_op).get_element_type(), func_op)
        qualifier = "" if arg in stored else "const "
        parameters.append(f"{qualifier}{element_type} *restrict arg{index}")
    return f"void {c_identifier(func_op.sym_name.data)}({', '.join(parameters) or 'void'})"


# gcc 12.2 (Debian 12.2.0-14) at -O3 with -mavx2 or -march=native: its basic-block (SLP)
# vectoriser drops the rounding of a float64 -> float32 -> float64 round trip through a buffer
# when the element count is not a multiple of the vector width (`astype(astype(x, f32), f64)` on
# a 3x4 array left the last row unrounded). Reproducer (`gcc -O3 -mavx2`; y[8..11] are wrong):
#     void f(const double *restrict x, double *restrict y) {
#         float t[12];
#         for (long i = 0; i < 3; i++) for (long j = 0; j < 4; j++) t[i*4+j] = (float)x[i*4+j];
#         for (long i = 0; i < 3; i++) for (long j = 0; j < 4; j++) y[i*4+j] = (double)t[i*4+j]; }
# Correct with -fno-tree-slp-vectorize, -O2, or without -m flags. Only a function that narrows
# (arith.truncf) can meet it, so only such a function turns SLP off, by attribute: the rest
# keep it (the W3 training step ran 5-10% slower with SLP off everywhere). Loop vectorisation
# is unaffected. runtime/toolchain.py re-checks this shape once per compiler.
NO_SLP_GUARD = """\
#if defined(__GNUC__) && !defined(__clang__)
#define AIDJIT_NO_SLP __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define AIDJIT_NO_SLP
#endif"""


def _emit_function(func_op: func.FuncOp, needs: _ModuleNeeds) -> list[str]:
    emitter = _FunctionEmitter(needs, symbol=c_identifier(func_op.sym_name.data))
    block = _single_block(func_op.body, func_op)
    for index, arg in enumerate(block.args):
        emitter.names[arg] = f"arg{index}"
    emitter.block(block, [])
    head = f"{c_prototype(func_op)} {{"
    if any(isinstance(op, arith.TruncFOp) for op in func_op.walk()):
        needs.narrows = True
        head = f"AIDJIT_NO_SLP {head}"
    nests = [line for nest in emitter.nests for line in (*nest, "")]
    return [*nests, head, *emitter.lines, "}"]


# Globals are neither `static` nor `const`, and hidden: gcc 12.2 (Debian 12.2.0-14) with
# -march=native on an AVX-512 machine (Rocket Lake; -march=skylake-avx512 too, or -mavx512f
# -mavx512vl -mtune=skylake-avx512) miscompiles a vectorised copy out of an array whose
# initializer it knows: it folds the loads into vector constants and emits the second one
# wrongly as a broadcast. Reproducer (`gcc -O3 -march=native`; y[6] comes back 1):
#     static const double c[9] = {1, 1, 0, 1, 1, 1, 0, 0, 1};
#     void copy(double *restrict y) { for (long i = 0; i < 9; i++) y[i] = c[i]; }
# Correct at -O3, -O3 -mavx512f, -mtune=generic, -fno-tree-loop-vectorize. Dropping only
# `const` is not enough (gcc still proves a `static` array read-only and folds it); a global
# with external linkage may be written by another translation unit, so gcc never folds loads
# from it. Hidden visibility keeps it out of the shared object's symbol table (no clash between
# loaded kernels, no GOT indirection). The data still arrives by plain loads, as a large
# constant always did. runtime/toolchain.py re-checks this shape once per compiler.
GLOBAL_STORAGE = '__attribute__((visibility("hidden")))'


def _emit_global(op: memref.GlobalOp) -> list[str]:
    """`<GLOBAL_STORAGE> float cst0[4] = {...};`; a rank-0 or empty global still gets one slot.

    A `constant` global is only ever read through a `const` pointer (see `_emit_get_global`).
    """
    if not isinstance(op.initial_value, DenseIntOrFPElementsAttr):
        raise _unsupported(op, "a global without a dense initial value")
    memref_type = _buffer_type(op.type, op)
    element_type = _c_type(memref_type.get_element_type(), op)
    values = [_literal(value, element_type) for value in op.initial_value.get_values()] or ["0"]
    name = c_identifier(op.sym_name.data)
    head = f"{GLOBAL_STORAGE} {element_type} {name}[{max(memref_type.element_count(), 1)}] = {{"
    per_line = 8
    if len(values) <= per_line:
        return [f"{head}{', '.join(values)}}};"]
    rows = [values[start : start + per_line] for start in range(0, len(values), per_line)]
    return [head, *(f"    {', '.join(row)}," for row in rows), "};"]


def _libm_declarations(needs: _ModuleNeeds) -> list[str]:
    if not needs.libm:
        return []
    lines = [_LIBMVEC_GUARD]
    for root, c_type in needs.libm:
        arity = _LIBM_ARITY.get(root, 1)
        name = root + _LIBM_SUFFIX[c_type]
        if root in _LIBMVEC:
            lines += ["#ifdef AIDJIT_LIBMVEC", "#pragma omp declare simd notinbranch", "#endif"]
        lines.append(
            f"extern {c_type} {name}({', '.join([c_type] * arity)}) __attribute__((const));"
        )
    return lines


_INCLUDES = """\
/* Generated by aidjit from loop-level IR. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>"""

_ALIGNED_ALLOC = """\
/* aligned_alloc is C11: declared here as well so the file also builds with -std=c99. */
void *aligned_alloc(size_t alignment, size_t size);"""

THREAD_POOL_PROLOGUE = f"""\
/* Parallel loops run on aidjit's thread pool (aidjit/runtime/thread_pool.py), which the loader
   puts here after loading this file. Left null (a C harness, no pool), they run chunk after
   chunk on the calling thread, with the same results. */
typedef void (*aidjit_chunk_fn)(void *context, int64_t chunk);
void (*{thread_pool.SLOT})(aidjit_chunk_fn, void *, int64_t, int32_t) = 0;
static void aidjit_parallel(aidjit_chunk_fn chunk, void *context, int64_t chunks,
                            int32_t threads) {{
    void (*pool)(aidjit_chunk_fn, void *, int64_t, int32_t) = {thread_pool.SLOT};
    if (pool) {{
        pool(chunk, context, chunks, threads);
        return;
    }}
    for (int64_t c = 0; c < chunks; c++) chunk(context, c);
}}"""

_TOP_LEVEL = (func.FuncOp, memref.GlobalOp)


# The instruction set each intrinsic width needs: the pipeline's `vector-bytes` comes from the
# CPU detected (aidjit.runtime.target) and the default flags build for it (-march=native), but
# flags chosen by hand may not, and gcc's own error ("target specific option mismatch") would
# not say why.
_INTRINSIC_ISA = {512: "__AVX512F__", 256: "__FMA__", 128: "__FMA__"}


def _intrinsics_prologue(needs: _ModuleNeeds) -> list[str]:
    if not needs.intrinsic_bits:
        return []
    lines = ["#include <immintrin.h>"]
    for bits in sorted(needs.intrinsic_bits):
        macro = _INTRINSIC_ISA[bits]
        lines += [
            f"#ifndef {macro}",
            f'#error "aidjit: this kernel uses {bits}-bit vectors: build it with -march=native '
            f"(or flags enabling {macro.strip('_')}), or compile with a pipeline whose "
            'vector-bytes these flags support"',
            "#endif",
        ]
    return lines


def _vector_typedefs(module: ModuleOp) -> list[str]:
    """A typedef per vector type the module uses, each with its mask twin (integer lanes of
    the same width, what comparing it yields)."""
    found: dict[tuple[int, str], None] = {}
    for op in module.walk():
        for value in (*op.results, *op.operands, *_block_args(op)):
            if isinstance(value.type, VectorType):
                lanes = value.type.get_shape()[0]
                element = _c_type(value.type.get_element_type(), op)
                element = "int32_t" if element == "bool" else element
                found[(lanes, element)] = None
                found[(lanes, emit_vector.mask_c_type(_C_SIZES[element]))] = None
    return [
        emit_vector.typedef(lanes, element, _SHORT_NAMES[element], _C_SIZES[element])
        for lanes, element in found
    ]


def _vector_spelling(type_: VectorType) -> tuple[int, str, str, str]:
    """(lanes, element C type, element short name, vector typedef) of a vector type:
    `(16, "float", "f32", "aidjit_v16f32")`."""
    lanes = type_.get_shape()[0]
    element = _C_TYPES[type_.get_element_type()]
    short = _SHORT_NAMES[element]
    return lanes, element, short, vector_name(lanes, short)


def _vector_helpers(needs: _ModuleNeeds) -> list[str]:
    definitions = []
    for helper, type_ in needs.vector_helpers:
        lanes, element, short, vector_c = _vector_spelling(type_)
        if helper == "masked":
            bits = 8 * _C_SIZES[element] * lanes
            templates = emit_vector.masked_helpers(bits, _C_SIZES[element])
        else:
            templates = (emit_vector.HELPERS[helper],)
        for template in templates:
            definitions.append(
                template.substitute(
                    V=vector_c,
                    E=element,
                    M=vector_name(lanes, mask_short(_C_SIZES[element])),
                    v=vector_c.removeprefix("aidjit_"),
                )
            )
    for root, type_ in needs.vector_libm:
        lanes, element, short, vector_c = _vector_spelling(type_)
        names = (vector_c, vector_c.removeprefix("aidjit_"), root + _LIBM_SUFFIX[element])
        bits = 8 * _C_SIZES[element] * lanes
        definitions.append(
            emit_vector.libmvec_helper(root, _LIBM_ARITY.get(root, 1), lanes, names, bits)
        )
    for kind, type_ in needs.reductions:
        lanes, element, short, vector_c = _vector_spelling(type_)
        definitions.append(emit_vector.reduction_helper(kind, lanes, vector_c, element, short))
    return definitions


def emit_c(module: ModuleOp) -> str:
    """The C source of a loop-level module: every func.func becomes an exported C function."""
    for op in module.ops:
        if not isinstance(op, _TOP_LEVEL):
            raise blame(
                UnsupportedError(f"C emitter does not support '{op.name}' at module level"), op
            )
    needs = _ModuleNeeds()
    globals_ = [_emit_global(op) for op in module.ops if isinstance(op, memref.GlobalOp)]
    functions = [_emit_function(op, needs) for op in module.ops if isinstance(op, func.FuncOp)]
    sections = [
        [_INCLUDES, *_intrinsics_prologue(needs)],
        _libm_declarations(needs),
        [_ALIGNED_ALLOC] if needs.allocates else [],
        [THREAD_POOL_PROLOGUE] if needs.threads else [],
        [NO_SLP_GUARD] if needs.narrows else [],
        _vector_typedefs(module),
        [helper_definition(helper, c_type) for helper, c_type in needs.helpers],
        _vector_helpers(needs),
        *globals_,
        *functions,
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


@dataclass(frozen=True)
class CTarget(Target):
    """`aidjit-opt -t c`: print the module as the C source aidjit compiles."""

    name: ClassVar[str] = "c"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        output.write(emit_c(module))
