"""expand-math: rewrite math.exp, math.log and math.tanh into polynomials of arith ops.

A C compiler without `-ffast-math` vectorises a loop over `expf` only by calling a vector math
library (glibc's libmvec), at whatever vector width it prefers, and not at all where there is
none. As MLIR's math-polynomial-approximation does, this pass replaces each transcendental by
range reduction + polynomial + reconstruction, made of `arith` ops (`math.fma`, `math.absf`,
`math.copysign`, which gcc compiles to instructions): a loop over them vectorises like any
arithmetic, at any width, with no call. Each expansion is within 1 ulp (f64 tanh: 2, f32
tanh: 5) of the correctly rounded result, measured over every f32 input (docs/performance.md,
"Vector math"), and keeps IEEE special values, branch-free. The default pipeline expands all
three, except on AVX-512 (`functions=exp,log`), where libmvec's tanh is 1 ulp and as fast
(aidjit.pipeline).

    exp   x -> clamp x to [lo, hi] (NaN passes), k = round(x / ln 2) (by adding 1.5 * 2^p),
          r = x - k ln2 (two fma steps, Cody-Waite), exp(r) = 1 + r + r^2 P(r),
          times 2^(k//2) times 2^(k - k//2) (two exact powers of two built from bits, so
          the only rounding into overflow or the subnormals is the last multiply):
          exp(+inf) = inf, exp(-inf) = 0, overflow -> inf, underflow -> subnormals and 0.
    log   x -> subnormals scaled by 2^p, x = 2^k m with m in [sqrt(1/2), sqrt(2)) from bits,
          f = m - 1, s = f / (2 + f), log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))) (fdlibm),
          + k ln2: log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf, subnormals exact.
    tanh  f32: x P(x^2) / Q(x^2) on x clamped to +-9 (Eigen's rational, as MLIR's and XLA's
          tanh), x itself below 4e-4: tanh(+-inf) = +-1, -0 and subnormals map to themselves.
          f64: |x| < 0.625: x + x z P(z) / Q(z), z = x^2 (Cephes); otherwise
          1 - 2 / (exp(2 |x|) + 1) with |x| clamped where tanh rounds to 1, with x's sign.
    NaN in gives NaN out everywhere (a select keeps the input, or arithmetic propagates it).

f32 and f64 share the code; their constants and coefficients are the rows of `FORMATS`. The
coefficients are the published ones of Cephes (expf, tanh), Eigen (f32 tanh) and fdlibm/musl
(log, logf); f64 exp uses Taylor terms up to r^13/13! (|r| <= ln2/2: truncation below 0.1 ulp).

Works on scalars and on `vector<...xf32>` / `vector<...xf64>` alike: constants are splats
(`arith.constant dense<...> : vector<16xf32>`), bit tricks run on the same-shaped integer type
(`vector<16xi32>`), comparisons give `vector<16xi1>` masks for `arith.select`.

Left alone: other math ops. `math.sqrt` and `math.absf` are single instructions (sqrtf
vectorises as `vsqrtps` because aidjit builds with `-fno-math-errno`); `math.powf` keeps libm
(libmvec has vector variants; an accurate pow needs log in extended precision and some twenty
special cases), as do log1p, expm1, erf, sin and cos (the activations' bodies: libmvec has
vector variants of each, emit_vector.LIBMVEC_OPS).
Runs at the loop level, after `vectorize-loops`, so it expands vector and scalar ops alike.
"""

from __future__ import annotations

import math as pymath
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects import arith, math
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    VectorType,
    f32,
    f64,
    i32,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from aidjit.dialects.xdsl_fixes import CmpfOp, SelectOp, SIToFPOp
from aidjit.errors import PipelineError


@dataclass(frozen=True)
class FloatFormat:
    """One float type's bit layout and the constants of its expansions."""

    float_type: Attribute
    int_type: IntegerType
    """The integer type of the same width, which bit tricks run on."""
    mantissa_bits: int
    struct_code: str
    """`struct` codes of the float and the signed integer of its width: reads bit patterns."""
    exp_bounds: tuple[float, float]
    """Inputs of exp are clamped to these: below, exp rounds to 0; above, it overflows."""
    exp_coefficients: tuple[float, ...]
    """P in exp(r) = 1 + r + r^2 P(r), lowest degree first."""
    ln2: tuple[float, float]
    """ln 2 as hi + lo, hi with trailing zero bits, so k * hi is exact for every k used."""
    log_coefficients: tuple[float, ...]
    """R(z) = z (Lg1 + Lg2 z + ...), z = s^2, s = f / (2 + f) (fdlibm's Lg1, Lg2, ...)."""
    tanh_numerator: tuple[float, ...] = ()
    tanh_denominator: tuple[float, ...] = ()
    """P and Q of tanh(x) = x + x z P(z) / Q(z) for |x| < `TANH_SMALL` (the exp-based form,
    f64); an empty Q is 1."""
    tanh_saturation: float = 0.0
    """From here on tanh(x) rounds to 1: |x| is clamped to it before exp (exp-based form)."""
    tanh_rational: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    """(odd numerator, even denominator) of a rational tanh over the whole clamped range, in
    powers of x^2, lowest first (see `_rational_tanh`, f32); None: the exp-based form."""

    def bits(self, value: float) -> int:
        """The bit pattern of `value` in this format, as a signed integer."""
        float_code, int_code = self.struct_code
        return struct.unpack(int_code, struct.pack(float_code, value))[0]

    @property
    def exponent_bias(self) -> int:
        return (1 << (self.int_type.width.data - self.mantissa_bits - 2)) - 1


TANH_SMALL = 0.625
"""Below this |x|, tanh is the odd polynomial (Cephes' split for both precisions)."""

FORMATS: dict[Attribute, FloatFormat] = {
    f32: FloatFormat(
        float_type=f32,
        int_type=i32,
        mantissa_bits=23,
        struct_code="fi",
        exp_bounds=(-104.0, 88.8),
        exp_coefficients=(
            5.0000001201e-1,
            1.6666665459e-1,
            4.1665795894e-2,
            8.3334519073e-3,
            1.3981999507e-3,
            1.9875691500e-4,
        ),
        ln2=(0.693359375, -2.12194440e-4),
        log_coefficients=(0.66666662693, 0.40000972152, 0.28498786688, 0.24279078841),
        # Eigen's generic_fast_tanh_float, as MLIR's math-polynomial-approximation uses it.
        tanh_rational=(
            (
                4.89352455891786e-03,
                6.37261928875436e-04,
                1.48572235717979e-05,
                5.12229709037114e-08,
                -8.60467152213735e-11,
                2.00018790482477e-13,
                -2.76076847742355e-16,
            ),
            (
                4.89352518554385e-03,
                2.26843463243900e-03,
                1.18534705686654e-04,
                1.19825839466702e-06,
            ),
        ),
    ),
    f64: FloatFormat(
        float_type=f64,
        int_type=i64,
        mantissa_bits=52,
        struct_code="dq",
        exp_bounds=(-745.2, 709.8),
        exp_coefficients=tuple(1 / pymath.factorial(n) for n in range(2, 14)),
        ln2=(6.93147180369123816490e-01, 1.90821492927058770002e-10),
        log_coefficients=(
            6.666666666666735130e-01,
            3.999999999940941908e-01,
            2.857142874366239149e-01,
            2.222219843214978396e-01,
            1.818357216161805012e-01,
            1.531383769920937332e-01,
            1.479819860511658591e-01,
        ),
        tanh_numerator=(
            -1.61468768441708447952e3,
            -9.92877231001918586564e1,
            -9.64399179425052238628e-1,
        ),
        tanh_denominator=(
            4.84406305325125486048e3,
            2.23548839060100448583e3,
            1.12811678491632931402e2,
            1.0,
        ),
        tanh_saturation=20.0,
    ),
}


@dataclass
class _Expander:
    """Builds one expansion before `anchor`, on the anchor's (scalar or vector) float type."""

    anchor: Operation
    fmt: FloatFormat
    shape: tuple[int, ...] | None
    """The vector shape, or None for a scalar."""

    def __post_init__(self) -> None:
        self.builder = Builder(InsertPoint.before(self.anchor))
        self.constants: dict[tuple[Attribute, str], SSAValue] = {}

    def typed(self, element: Attribute) -> Attribute:
        return element if self.shape is None else VectorType(element, self.shape)

    def emit(self, op: Operation) -> SSAValue:
        self.builder.insert(op)
        return op.results[0]

    def constant(self, value: float | int, element: Attribute | None = None) -> SSAValue:
        """A splat of `value`, built once per expansion (`repr` tells -0.0 and NaN apart)."""
        element = element or self.fmt.float_type
        key = (element, repr(value))
        if key not in self.constants:
            self.constants[key] = self._new_constant(value, element)
        return self.constants[key]

    def _new_constant(self, value: float | int, element: Attribute) -> SSAValue:
        if isinstance(element, IntegerType):
            scalar: Attribute = IntegerAttr(int(value), element)
        else:
            scalar = FloatAttr(float(value), element)  # type: ignore[arg-type]
        if self.shape is None:
            return self.emit(arith.ConstantOp(scalar))
        vector = self.typed(element)
        splat = DenseIntOrFPElementsAttr.from_list(vector, [value] * pymath.prod(self.shape))  # type: ignore[arg-type]
        return self.emit(arith.ConstantOp(splat, vector))

    def iconstant(self, value: int) -> SSAValue:
        return self.constant(value, self.fmt.int_type)

    # float arithmetic
    def add(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(arith.AddfOp(a, b))

    def sub(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(arith.SubfOp(a, b))

    def mul(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(arith.MulfOp(a, b))

    def div(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(arith.DivfOp(a, b))

    def fma(self, a: SSAValue, b: SSAValue, c: SSAValue) -> SSAValue:
        """a * b + c, rounded once."""
        return self.emit(math.FmaOp(a, b, c))

    def polynomial(self, coefficients: Sequence[float], x: SSAValue) -> SSAValue:
        """c0 + c1 x + c2 x^2 + ..., by Horner's rule with fma."""
        result = self.constant(coefficients[-1])
        for coefficient in reversed(coefficients[:-1]):
            result = self.fma(result, x, self.constant(coefficient))
        return result

    # comparisons and selects
    def compare(self, predicate: str, a: SSAValue, b: SSAValue) -> SSAValue:
        """An arith.cmpf (a mask of the operands' shape: `i1` or `vector<16xi1>`)."""
        return self.emit(CmpfOp(a, b, predicate))

    def select(self, condition: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(SelectOp(condition, a, b))

    def pick(
        self, predicate: str, x: SSAValue, bound: float, then: SSAValue, otherwise: SSAValue
    ) -> SSAValue:
        """`then` where `x <predicate> bound`, else `otherwise`: clamps and special values."""
        return self.select(self.compare(predicate, x, self.constant(bound)), then, otherwise)

    def clamp(self, x: SSAValue, low: float, high: float) -> SSAValue:
        """x clamped to [low, high], NaN passing through: `x > high ? high : x`, then
        `y < low ? low : y`, the form of x86's minps/maxps (one instruction each in C,
        emit_vector.select_as_min_max), where arith.minimumf/maximumf would also tell -0 from
        +0 and test for NaN, which a clamp to nonzero bounds needs neither of."""
        below = self.pick("ogt", x, high, self.constant(high), x)
        return self.pick("olt", below, low, self.constant(low), below)

    # bits
    def to_bits(self, x: SSAValue) -> SSAValue:
        return self.emit(arith.BitcastOp(x, self.typed(self.fmt.int_type)))

    def from_bits(self, n: SSAValue) -> SSAValue:
        return self.emit(arith.BitcastOp(n, self.typed(self.fmt.float_type)))

    def power_of_two(self, k: SSAValue) -> SSAValue:
        """2^k for an integer k of the normal exponent range: (k + bias) << mantissa bits."""
        biased = self.emit(arith.AddiOp(k, self.iconstant(self.fmt.exponent_bias)))
        return self.from_bits(
            self.emit(arith.ShLIOp(biased, self.iconstant(self.fmt.mantissa_bits)))
        )


def _exp_of_reduced(e: _Expander, x: SSAValue) -> SSAValue:
    """exp(x) for x within `exp_bounds` or NaN (NaN propagates through the polynomial)."""
    fmt = e.fmt
    magic = 1.5 * 2.0**fmt.mantissa_bits
    # x / ln2 + 1.5 * 2^p rounds to an integer k: the bits of the sum are those of the magic
    # number plus k (one binade, ulp 1), and the sum minus the magic number is k as a float.
    shifted = e.fma(x, e.constant(1 / pymath.log(2)), e.constant(magic))
    k_float = e.sub(shifted, e.constant(magic))
    ln2_hi, ln2_lo = fmt.ln2
    r = e.fma(k_float, e.constant(-ln2_hi), x)
    r = e.fma(k_float, e.constant(-ln2_lo), r)
    p = e.polynomial(fmt.exp_coefficients, r)
    exp_r = e.add(e.fma(e.mul(r, r), p, r), e.constant(1.0))
    k = e.emit(arith.SubiOp(e.to_bits(shifted), e.iconstant(fmt.bits(magic))))
    # 2^k as two factors, each a normal number over the whole clamped range: the first
    # product is exact, the second rounds once, into overflow or the subnormals if it must.
    k_half = e.emit(arith.ShRSIOp(k, e.iconstant(1)))
    k_rest = e.emit(arith.SubiOp(k, k_half))
    return e.mul(e.mul(exp_r, e.power_of_two(k_half)), e.power_of_two(k_rest))


def expand_exp(e: _Expander, x: SSAValue) -> SSAValue:
    low, high = e.fmt.exp_bounds
    # +inf -> overflow to inf, -inf -> 0
    return _exp_of_reduced(e, e.clamp(x, low, high))


def expand_log(e: _Expander, x: SSAValue) -> SSAValue:
    fmt = e.fmt
    p = fmt.mantissa_bits
    # Subnormals (and zeros and negatives, replaced below) are scaled into the normal range.
    tiny = e.compare("olt", x, e.constant(2.0 ** (1 - fmt.exponent_bias)))
    scaled = e.select(tiny, e.mul(x, e.constant(2.0**p)), x)
    scale_exponent = e.select(tiny, e.constant(-p), e.constant(0.0))
    # x = 2^k m, m in [sqrt(1/2), sqrt(2)): offsetting the bits by those of sqrt(1/2) moves
    # the exponent boundary to sqrt(1/2); the mantissa bits, re-offset, give m.
    offset = e.iconstant(fmt.bits(pymath.sqrt(0.5)))
    bits = e.emit(arith.SubiOp(e.to_bits(scaled), offset))
    k_int = e.emit(arith.ShRSIOp(bits, e.iconstant(p)))
    mantissa = e.emit(arith.AndIOp(bits, e.iconstant((1 << p) - 1)))
    m = e.from_bits(e.emit(arith.AddiOp(mantissa, offset)))
    k = e.add(e.emit(SIToFPOp(k_int, e.typed(fmt.float_type))), scale_exponent)
    # fdlibm: log(1 + f) = f - (hfsq - s (hfsq + R)), hfsq = f^2 / 2, s = f / (2 + f).
    f = e.sub(m, e.constant(1.0))
    s = e.div(f, e.add(f, e.constant(2.0)))
    z = e.mul(s, s)
    r = e.mul(z, e.polynomial(fmt.log_coefficients, z))
    half_f_squared = e.mul(e.mul(f, f), e.constant(0.5))
    ln2_hi, ln2_lo = fmt.ln2
    low = e.fma(s, e.add(half_f_squared, r), e.mul(k, e.constant(ln2_lo)))
    log = e.fma(k, e.constant(ln2_hi), e.sub(f, e.sub(half_f_squared, low)))
    log = e.pick("oeq", x, pymath.inf, x, log)
    log = e.pick("oeq", x, 0.0, e.constant(-pymath.inf), log)
    log = e.pick("olt", x, 0.0, e.constant(pymath.nan), log)
    return e.select(e.compare("uno", x, x), x, log)


TANH_RATIONAL_CLAMP = 9.0
"""Beyond this |x| the f32 rational tanh is clamped: tanh rounds to +-1 in f32 from ~9.01 on,
and so does the rational at 9 (Eigen's bound; MLIR's 7.9053 left 1 - 2^-22 for +-inf)."""
TANH_RATIONAL_TINY = 0.0004
"""Below this |x|, tanh(x) rounds to x in f32 (and -0.0 and subnormals stay themselves)."""


def expand_tanh(e: _Expander, x: SSAValue) -> SSAValue:
    fmt = e.fmt
    if fmt.tanh_rational is not None:
        return _rational_tanh(e, x, *fmt.tanh_rational)
    z = e.mul(x, x)
    ratio = e.polynomial(fmt.tanh_numerator, z)
    if fmt.tanh_denominator:
        ratio = e.div(ratio, e.polynomial(fmt.tanh_denominator, z))
    small = e.fma(e.mul(x, z), ratio, x)
    magnitude = e.emit(math.AbsFOp(x))
    saturated = e.pick(
        "ogt", magnitude, fmt.tanh_saturation, e.constant(fmt.tanh_saturation), magnitude
    )
    exp_2x = _exp_of_reduced(e, e.add(saturated, saturated))
    one = e.constant(1.0)
    large = e.sub(one, e.div(e.constant(2.0), e.add(exp_2x, one)))
    # NaN fails the ordered test and takes the large branch, which propagates it. The sign is
    # x's, also for -0, where the polynomial's -0 + (+0) gives +0.
    either = e.pick("olt", magnitude, TANH_SMALL, small, large)
    return e.emit(math.CopySignOp(either, x))


def _rational_tanh(
    e: _Expander, x: SSAValue, numerator: Sequence[float], denominator: Sequence[float]
) -> SSAValue:
    """x P(x^2) / Q(x^2) on x clamped to +-`TANH_RATIONAL_CLAMP` (NaN passes the clamp, which
    propagates it; +-inf clamp to +-1), x itself below `TANH_RATIONAL_TINY`: one division and
    eleven fmas, where the exp-based form took an exp, a division and both branches (f32 W1,
    whose sigmoid is a tanh too, ran 1.5x faster)."""
    clamped = e.clamp(x, -TANH_RATIONAL_CLAMP, TANH_RATIONAL_CLAMP)
    z = e.mul(clamped, clamped)
    ratio = e.div(e.mul(clamped, e.polynomial(numerator, z)), e.polynomial(denominator, z))
    return e.pick("olt", e.emit(math.AbsFOp(x)), TANH_RATIONAL_TINY, x, ratio)


EXPANSIONS: dict[type[Operation], Callable[[_Expander, SSAValue], SSAValue]] = {
    math.ExpOp: expand_exp,
    math.LogOp: expand_log,
    math.TanhOp: expand_tanh,
}
"""The math ops this pass rewrites, each to the expansion that replaces it."""


def _float_format(type_: Attribute) -> tuple[FloatFormat, tuple[int, ...] | None] | None:
    """The format and vector shape (None: scalar) of an f32/f64 scalar or vector type."""
    if isinstance(type_, VectorType):
        element = type_.get_element_type()
        if element in FORMATS:
            return FORMATS[element], tuple(type_.get_shape())
        return None
    if type_ in FORMATS:
        return FORMATS[type_], None
    return None


@dataclass(frozen=True)
class ExpandMathPass(ModulePass):
    """Replace exp, log and tanh on f32 and f64, scalars or vectors, by polynomials of arith ops.

    Other math ops and other types are left alone (see the module docstring)."""

    name = "expand-math"
    functions: tuple[str, ...] = ("exp", "log", "tanh")
    """The functions to expand (by their math op's name); the others stay math ops, which the
    C emitter writes as libm calls (on vectors, libmvec's variant of the vector's width)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        unknown = set(self.functions) - {kind.name.removeprefix("math.") for kind in EXPANSIONS}
        if unknown:
            raise PipelineError(
                f"expand-math: no expansion of {', '.join(sorted(unknown))}; it expands "
                + ", ".join(kind.name.removeprefix("math.") for kind in EXPANSIONS)
            )
        for math_op in list(op.walk()):
            if math_op.name.removeprefix("math.") not in self.functions:
                continue
            expansion = EXPANSIONS.get(type(math_op))
            found = expansion and _float_format(math_op.results[0].type)
            if not expansion or not found:
                continue
            fmt, shape = found
            result = expansion(_Expander(math_op, fmt, shape), math_op.operands[0])
            math_op.results[0].replace_all_uses_with(result)
            Rewriter.erase_op(math_op)
