"""Vector types and ops in C: upstream `vector<Nxf32>` as GCC vector extensions.

The vector passes (`vectorize-loops`, `tile-contractions`) write the loop level with explicit
`vector<16xf32>` values; this module gives the C emitter their spelling:
- a vector type is a `typedef float aidjit_v16f32 __attribute__((vector_size(64)))`, so `+`,
  `*`, comparisons and casts are GCC's lane-wise operators, which compile to one instruction
  each (checked with objdump: `vaddps zmm`, `vcmpltps` into a mask register, `vpblendmd`);
- a comparison yields a signed integer vector of the compared lanes' width (GCC's rule), so an
  `i1` vector has the C type of its producer's lanes (`aidjit_v16i32` after comparing floats),
  and `arith.select` is a bit blend through that mask, or x86's min/max where the select is
  `a < b ? a : b` or `a > b ? a : b` (`select_as_min_max`);
- loads and stores go through `__builtin_memcpy`, i.e. unaligned `vmovups`: a row of a
  workspace buffer is 64-byte aligned but a column offset or a subview need not be;
- FMA and square root are intrinsics (`_mm512_fmadd_ps`): `-ffp-contract=off` (see
  runtime/toolchain.py) keeps `a * b + c` two roundings, and the lane loop a `fmaf` per lane
  would be is not vectorised by gcc 12 (checked); the vector ISAs of `aidjit.runtime.target`
  all have FMA;
- `maximumf`/`minimumf` are branch-free blends with MLIR's semantics (NaN propagates,
  -0.0 < +0.0), the scalar helpers' logic on whole vectors;
- `vector.reduction` combines the lanes in order, lane 0 first, into the accumulator: the same
  additions in the same order as the scalar loop it replaced, so vectorising it changes no bit.
"""

from __future__ import annotations

from string import Template

from xdsl.dialects import arith, math
from xdsl.dialects.builtin import VectorType
from xdsl.ir import Attribute, Operation, SSAValue

VECTOR_PREFIX = "aidjit_v"

# x86 intrinsics are `<register>_<operation>_<lanes>`: `_mm512_fmadd_ps`, `_mm256_min_pd`.
_REGISTER_PREFIX = {512: "_mm512", 256: "_mm256", 128: "_mm"}
_LANE_SUFFIX = {"float": "ps", "double": "pd"}
_MASK_LANES = {1: "int8_t", 2: "int16_t", 4: "int32_t", 8: "int64_t"}


def vector_name(lanes: int, short: str) -> str:
    """`aidjit_v16f32`: the typedef of `lanes` elements of `element_c_type`."""
    return f"{VECTOR_PREFIX}{lanes}{short}"


def typedef(lanes: int, element_c_type: str, short: str, element_bytes: int) -> str:
    size = lanes * element_bytes
    return (
        f"typedef {element_c_type} {vector_name(lanes, short)} "
        f"__attribute__((vector_size({size})));"
    )


def mask_short(element_bytes: int) -> str:
    """The short name of the integer lanes a comparison of `element_bytes` lanes gives."""
    return f"i{8 * element_bytes}"


def mask_c_type(element_bytes: int) -> str:
    return _MASK_LANES[element_bytes]


def is_vector(type_: Attribute) -> bool:
    return isinstance(type_, VectorType)


def touches_vectors(op: Operation) -> bool:
    """Whether an op computes on vectors (its result or an operand is a vector)."""
    return any(is_vector(value.type) for value in (*op.results, *op.operands))


def intrinsic(operation: str, bits: int, element_c_type: str) -> str | None:
    """The x86 intrinsic of `operation` ("fmadd", "sqrt", "min", "max") on vectors of this
    width, or None. FMA and square root are the two ops whose C operator form would be wrong
    (two roundings) or slow (a lane loop over sqrtf); min and max see `select_as_min_max`."""
    if bits not in _REGISTER_PREFIX or element_c_type not in _LANE_SUFFIX:
        return None
    return f"{_REGISTER_PREFIX[bits]}_{operation}_{_LANE_SUFFIX[element_c_type]}"


_OGT = arith.CMPF_COMPARISON_OPERATIONS.index("ogt")
_OLT = arith.CMPF_COMPARISON_OPERATIONS.index("olt")


def select_as_min_max(op: arith.SelectOp) -> tuple[str, SSAValue, SSAValue] | None:
    """("min" or "max", a, b) when `op` is `a < b ? a : b` or `a > b ? a : b` (a clamp of
    expand-math, NaN passing), the comparison's operands in either order; else None.

    x86's minps/maxps compute exactly that, `a < b ? a : b`, NaN and signed zeros included (b
    wherever the ordered comparison is false), in one instruction, where the blend is a compare
    and a `vpblendvb` (or three logic ops) that gcc does not turn back into a min: in W1 the
    four clamps of two tanh and one exp, each a blend, cost 20% of the loop on AVX2.
    """
    condition = op.cond.owner
    if not isinstance(condition, arith.CmpfOp):
        return None
    predicate = condition.predicate.value.data
    picked, other = op.lhs, op.rhs
    if predicate not in (_OGT, _OLT) or picked is other:
        return None
    if condition.lhs is picked and condition.rhs is other:
        less = predicate == _OLT
    elif condition.lhs is other and condition.rhs is picked:
        less = predicate == _OGT
    else:
        return None
    return ("min" if less else "max", picked, other)


# Templates over the operands {0}, {1}, ...: {t} is the result's C type, {v} the short name
# of operand 0's vector type (`v16f32`), {m} the integer vector operand 0 blends through.
# An op whose scalar template (emit_c._EXPRESSIONS) is also right on GCC vectors is listed in
# NATIVE; these are the ops that need another spelling, and anything else is not supported on
# vectors (the vector passes leave loops with such ops scalar).
NATIVE: frozenset[type[Operation]] = frozenset(
    {
        arith.AddfOp,
        arith.SubfOp,
        arith.MulfOp,
        arith.DivfOp,
        arith.NegfOp,
        arith.AddiOp,
        arith.SubiOp,
        arith.MuliOp,
        arith.AndIOp,
        arith.OrIOp,
        arith.XOrIOp,
        arith.ShLIOp,
        arith.ShRSIOp,
    }
)

# A comparison of GCC vectors gives -1 (all ones) or 0 per lane; ordered `<`, `<=`, `>`,
# `>=`, `==` are false on NaN and `!=` true, as in C, and the rest are composed from them.
CMPF: tuple[str, ...] = (
    "({0} != {0}) & ({0} == {0})",  # false
    "{0} == {1}",  # oeq
    "{0} > {1}",  # ogt
    "{0} >= {1}",  # oge
    "{0} < {1}",  # olt
    "{0} <= {1}",  # ole
    "({0} < {1}) | ({0} > {1})",  # one
    "({0} == {0}) & ({1} == {1})",  # ord
    "~(({0} < {1}) | ({0} > {1}))",  # ueq
    "~({0} <= {1})",  # ugt
    "~({0} < {1})",  # uge
    "~({0} >= {1})",  # ult
    "~({0} > {1})",  # ule
    "{0} != {1}",  # une
    "({0} != {0}) | ({1} != {1})",  # uno
    "({0} == {0}) | ({0} != {0})",  # true
)
CMPI_SIGNED: tuple[str | None, ...] = (
    "{0} == {1}",
    "{0} != {1}",
    "{0} < {1}",
    "{0} <= {1}",
    "{0} > {1}",
    "{0} >= {1}",
    None,
    None,
    None,
    None,
)

CONVERSIONS: frozenset[type[Operation]] = frozenset(
    {arith.SIToFPOp, arith.FPToSIOp, arith.ExtFOp, arith.TruncFOp, arith.IndexCastOp}
)
"""Value conversions: `__builtin_convertvector` (a C cast of a GCC vector reinterprets bits)."""

HELPER_CALLS: dict[type[Operation], str] = {
    arith.MaximumfOp: "maximum",
    arith.MinimumfOp: "minimum",
    math.AbsFOp: "fabs",
    math.CopySignOp: "copysign",
    math.FloorOp: "floor",
}
"""Ops that call a `static inline` vector helper of `HELPERS`: `aidjit_<helper>_{v}(...)`."""

LIBMVEC_OPS: dict[type[Operation], str] = {
    math.ExpOp: "exp",
    math.LogOp: "log",
    math.TanhOp: "tanh",
    math.PowFOp: "pow",
    math.SinOp: "sin",
    math.CosOp: "cos",
    math.Log1pOp: "log1p",
    math.ExpM1Op: "expm1",
    math.ErfOp: "erf",
}
"""libm functions glibc's libmvec has vector variants of (x86-64, glibc >= 2.35), by math op.
On vectors they call the variant of the vector's width directly (`libmvec_helper`): where
expand-math leaves a function to libm, a vector loop still computes it a vector at a time."""

_LIBMVEC_ISA = {128: "b", 256: "d", 512: "e"}
"""The x86-64 vector function ABI's ISA letter by vector width: SSE, AVX2, AVX-512."""


def libmvec_helper(
    root: str, arity: int, lanes: int, names: tuple[str, str, str], bits: int
) -> str:
    """`aidjit_tanh_v16f32(a)`: libmvec's `_ZGVeN16v_tanhf` where AIDJIT_LIBMVEC is defined
    (see emit_c's guard), else one scalar libm call per lane. `names` are the vector's C
    type, its short name (`v16f32`) and the scalar libm function (`tanhf`)."""
    vector_c, short, scalar = names
    letters = "abc"[:arity]
    mangled = f"_ZGV{_LIBMVEC_ISA[bits]}N{lanes}{'v' * arity}_{scalar}"
    parameters = ", ".join(f"{vector_c} {letter}" for letter in letters)
    per_lane = ", ".join(f"{letter}[lane]" for letter in letters)
    head = f"static inline {vector_c} aidjit_{root}_{short}({parameters})"
    return f"""\
/* math.{root} on vectors: glibc's vector variant of this width, else libm lane by lane. */
#ifdef AIDJIT_LIBMVEC
extern {vector_c} {mangled}({", ".join([vector_c] * arity)});
{head} {{ return {mangled}({", ".join(letters)}); }}
#else
{head} {{
    {vector_c} result;
    for (int lane = 0; lane < {lanes}; lane++) result[lane] = {scalar}({per_lane});
    return result;
}}
#endif"""


REDUCTION_KINDS: dict[str, str] = {
    "add": "{acc} + {lane}",
    "mul": "{acc} * {lane}",
    "maximumf": "aidjit_maximum_{ty}({acc}, {lane})",
    "minimumf": "aidjit_minimum_{ty}({acc}, {lane})",
}
"""How `vector.reduction <kind>` folds one lane into the accumulator (scalar templates; the
NaN-aware ones call the scalar helpers of emit_c, which the emitter then also defines)."""

# Over $V (the vector typedef), $E (its element C type), $M (the integer vector of the same
# lane width) and $v (the vector's short name).
HELPERS: dict[str, Template] = {
    "load": Template("""\
static inline $V aidjit_load_$v(const $E *p) {
    $V value;
    __builtin_memcpy(&value, p, sizeof value);
    return value;
}"""),
    "store": Template("""\
static inline void aidjit_store_$v($E *p, $V value) {
    __builtin_memcpy(p, &value, sizeof value);
}"""),
    "maximum": Template("""\
/* arith.maximumf on vectors: NaN if either lane is NaN; -0.0 < +0.0 (see the scalar helper). */
static inline $V aidjit_maximum_$v($V a, $V b) {
    const $M greater = a > b, zeros = (a == 0) & (b == 0), nan = (a != a) | (b != b);
    const $V sum = a + b;
    $V larger = ($V)((($M)a & greater) | (($M)b & ~greater));
    larger = ($V)((($M)sum & zeros) | (($M)larger & ~zeros));
    return ($V)((($M)sum & nan) | (($M)larger & ~nan));
}"""),
    "minimum": Template("""\
/* arith.minimumf on vectors: NaN if either lane is NaN; -0.0 < +0.0 (see the scalar helper). */
static inline $V aidjit_minimum_$v($V a, $V b) {
    const $M less = a < b, zeros = (a == 0) & (b == 0), nan = (a != a) | (b != b);
    const $V sum = a + b;
    $V smaller = ($V)((($M)a & less) | (($M)b & ~less));
    smaller = ($V)((($M)(-(-a - b)) & zeros) | (($M)smaller & ~zeros));
    return ($V)((($M)sum & nan) | (($M)smaller & ~nan));
}"""),
    "fabs": Template("""\
/* math.absf on vectors: clear the sign bits. */
static inline $V aidjit_fabs_$v($V a) {
    const $V minus_zero = -(($V){0});
    return ($V)(($M)a & ~($M)minus_zero);
}"""),
    "floor": Template("""\
/* math.floor on vectors: lane by lane (gcc 12 emits a scalar vrndscaless per lane, exact, NaN
   and signed zeros kept), so that the rest of a loop using floor stays vector code. */
static inline $V aidjit_floor_$v($V a) {
    $V result;
    for (int lane = 0; lane < (int)(sizeof a / sizeof a[0]); lane++)
        result[lane] = _Generic(a[lane], float: __builtin_floorf,
                                default: __builtin_floor)(a[lane]);
    return result;
}"""),
    "copysign": Template("""\
/* math.copysign on vectors: the magnitude bits of a, the sign bits of b (expand-math's tanh). */
static inline $V aidjit_copysign_$v($V a, $V b) {
    const $M sign = ($M)(-(($V){0}));
    return ($V)((($M)a & ~sign) | (($M)b & sign));
}"""),
}


# Masked loads and stores (`vector.maskedload` / `vector.maskedstore`), by (vector bits,
# element bytes): AVX-512 takes a k-mask (the lanes whose mask integer is negative, i.e. -1),
# AVX a vector whose lanes' sign bits select; both leave unselected lanes untouched in memory
# and never fault on them, which is what lets a tail column read a row's last elements without
# reading past the buffer. Other widths select lane by lane.
_MASKED_512 = {4: ("ps", "epi32"), 8: ("pd", "epi64")}
_MASKED_256 = {4: "ps", 8: "pd"}


def masked_helpers(bits: int, element_bytes: int) -> tuple[Template, Template]:
    """(`aidjit_maskload_$v(p, mask, pass_thru)`, `aidjit_maskstore_$v(p, mask, value)`) for
    vectors of `bits` bits of `element_bytes` lanes, over HELPERS' placeholders."""
    load_head = "static inline $V aidjit_maskload_$v(const $E *p, $M mask, $V pass_thru) {"
    store_head = "static inline void aidjit_maskstore_$v($E *p, $M mask, $V value) {"
    if bits == 512 and element_bytes in _MASKED_512:
        kind, lanes = _MASKED_512[element_bytes]
        register = f"__m512{'d' if kind == 'pd' else ''}"
        k_mask = f"_mm512_cmplt_{lanes}_mask((__m512i)mask, _mm512_setzero_si512())"
        load = f"return ($V)_mm512_mask_loadu_{kind}(({register})pass_thru, {k_mask}, p);"
        store = f"_mm512_mask_storeu_{kind}(p, {k_mask}, ({register})value);"
    elif bits == 256 and element_bytes in _MASKED_256:
        kind = _MASKED_256[element_bytes]
        register = f"__m256{'d' if kind == 'pd' else ''}"
        load = (
            f"const $V loaded = ($V)_mm256_maskload_{kind}(p, (__m256i)mask);\n"
            "    return ($V)((($M)loaded & mask) | (($M)pass_thru & ~mask));"
        )
        store = f"_mm256_maskstore_{kind}(p, (__m256i)mask, ({register})value);"
    else:
        lanes = bits // (8 * element_bytes)
        each_lane = f"for (int lane = 0; lane < {lanes}; lane++) if (mask[lane])"
        load = f"$V got = pass_thru;\n    {each_lane} got[lane] = p[lane];\n    return got;"
        store = f"{each_lane} p[lane] = value[lane];"
    return (
        Template(f"{load_head}\n    {load}\n}}"),
        Template(f"{store_head}\n    {store}\n}}"),
    )


def uses_intrinsics(bits: int, element_bytes: int) -> bool:
    """Whether `masked_helpers` spells this width with intrinsics (<immintrin.h>, ISA guard)."""
    return (bits, element_bytes) in {(512, 4), (512, 8), (256, 4), (256, 8)}


def reduction_helper(kind: str, lanes: int, vector_c: str, element_c: str, short: str) -> str:
    """`aidjit_reduce_add_v16f32(v, acc)`: the lanes folded into `acc` in order, lane 0 first."""
    step = REDUCTION_KINDS[kind].format(acc="acc", lane="v[lane]", ty=short)
    return (
        f"static inline {element_c} aidjit_reduce_{kind}_v{lanes}{short}"
        f"({vector_c} v, {element_c} acc) {{\n"
        f"    for (int lane = 0; lane < {lanes}; lane++) acc = {step};\n"
        "    return acc;\n}"
    )
