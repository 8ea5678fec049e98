"""Loop-level test modules with their numpy references, shared by the C-emitter and the loop
interpreter tests, so both back ends are held to the same oracle on the same IR.

Each case is loop-level MLIR text (what `convert-graph-to-loops` produces: memref arguments,
inputs first, then outputs), its inputs, and a numpy function computing the expected outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from aidjit.context import make_context


def parse(text: str) -> ModuleOp:
    return Parser(make_context(), text).parse_module()


@dataclass(frozen=True)
class LoopCase:
    id: str
    mlir: str
    inputs: tuple[np.ndarray, ...]
    reference: Callable[..., tuple[np.ndarray, ...]]
    rtol: float = 0.0  # 0: the results must be bit-identical (NaN equal to NaN)
    atol: float = 0.0

    def expected(self) -> tuple[np.ndarray, ...]:
        with np.errstate(all="ignore"):
            return tuple(np.asarray(out) for out in self.reference(*self.inputs))

    def output_specs(self) -> list[tuple[tuple[int, ...], np.dtype[Any]]]:
        return [(out.shape, out.dtype) for out in self.expected()]

    def check(self, actual: tuple[np.ndarray, ...]) -> None:
        expected = self.expected()
        assert len(actual) == len(expected)
        for got, want in zip(actual, expected, strict=True):
            assert got.shape == want.shape and got.dtype == want.dtype
            if self.rtol == 0.0 and self.atol == 0.0:
                np.testing.assert_array_equal(got, want)
                zeros = want == 0
                assert (np.signbit(got[zeros]) == np.signbit(want[zeros])).all(), "-0.0 vs +0.0"
            else:
                np.testing.assert_allclose(got, want, rtol=self.rtol, atol=self.atol)


_RNG = np.random.default_rng(20240611)
_SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0])
_MLIR_TYPES = {np.float32: "f32", np.float64: "f64"}


def _normal(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    return _RNG.standard_normal(shape).astype(dtype)


def _sample(dtype: Any, domain: str, arity: int, size: int = 64) -> tuple[np.ndarray, ...]:
    """`arity` random operands; in the "any" domain followed by every pair of special values
    (0 against -0, NaN against a number, ...), so each operand meets each special."""
    low = 0.05 if domain == "positive" else -4.0
    operands = [_RNG.uniform(low, 4.0, size) for _ in range(arity)]
    if domain == "any":
        grids = np.meshgrid(*[_SPECIALS] * arity, indexing="ij")
        pairs = zip(operands, grids, strict=True)
        operands = [np.concatenate([values, grid.ravel()]) for values, grid in pairs]
    return tuple(values.astype(dtype) for values in operands)


# --- one row per elementwise op, in f32 and f64 ----------------------------------------------


def elementwise_mlir(op_text: str, type_: str, arity: int, size: int) -> str:
    """`out[i] = op(in0[i], ...)` over 1-d memrefs of `size` elements."""
    memref_type = f"memref<{size}x{type_}>"
    arguments = ", ".join(f"%in{k} : {memref_type}" for k in range(arity))
    loads = "\n".join(f"      %a{k} = memref.load %in{k}[%i] : {memref_type}" for k in range(arity))
    operands = ", ".join(f"%a{k}" for k in range(arity))
    return f"""
builtin.module {{
  func.func @f({arguments}, %out : {memref_type}) {{
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %cn = arith.constant {size} : index
    scf.for %i = %c0 to %cn step %c1 {{
{loads}
      %r = {op_text} {operands} : {type_}
      memref.store %r, %out[%i] : {memref_type}
    }}
    func.return
  }}
}}
"""


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64)).astype(x.dtype)


def _rsqrt(x: np.ndarray) -> np.ndarray:
    return (1 / np.sqrt(x)).astype(x.dtype)


def _fma(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    exact = a.astype(np.longdouble) * b + c
    return exact.astype(a.dtype)


def _maximumf(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.maximum, with MLIR's -0.0 < +0.0 (numpy returns either zero)."""
    both_zero = (a == 0) & (b == 0)
    return np.where(both_zero, np.where(np.signbit(a), b, a), np.maximum(a, b))


def _minimumf(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both_zero = (a == 0) & (b == 0)
    return np.where(both_zero, np.where(np.signbit(a), a, b), np.minimum(a, b))


# op text, arity, numpy reference, domain, exact
_ELEMENTWISE_OPS: list[tuple[str, int, Callable[..., np.ndarray], str, bool]] = [
    ("arith.addf", 2, np.add, "any", True),
    ("arith.subf", 2, np.subtract, "any", True),
    ("arith.mulf", 2, np.multiply, "any", True),
    ("arith.divf", 2, np.divide, "any", True),
    ("arith.negf", 1, np.negative, "any", True),
    ("arith.maximumf", 2, _maximumf, "any", True),
    ("arith.minimumf", 2, _minimumf, "any", True),
    ("math.exp", 1, np.exp, "any", False),
    ("math.log", 1, np.log, "any", False),
    ("math.sqrt", 1, np.sqrt, "any", True),
    ("math.tanh", 1, np.tanh, "any", False),
    ("math.absf", 1, np.abs, "any", True),
    ("math.powf", 2, np.power, "positive", False),
    ("math.sin", 1, np.sin, "any", False),
    ("math.cos", 1, np.cos, "any", False),
    ("math.log1p", 1, np.log1p, "any", False),
    ("math.expm1", 1, np.expm1, "any", False),
    ("math.erf", 1, _erf, "any", False),
    ("math.floor", 1, np.floor, "any", True),
    ("math.ceil", 1, np.ceil, "any", True),
    ("math.rsqrt", 1, _rsqrt, "positive", False),
    ("math.fma", 3, _fma, "positive", False),
    ("math.copysign", 2, np.copysign, "any", True),
]


def _elementwise_case(
    op_text: str,
    arity: int,
    reference: Callable[..., np.ndarray],
    domain: str,
    exact: bool,
    dtype: Any,
) -> LoopCase:
    inputs = _sample(dtype, domain, arity)
    tolerance = {np.float32: (2e-6, 1e-6), np.float64: (1e-13, 1e-15)}[dtype]
    rtol, atol = (0.0, 0.0) if exact else tolerance
    return LoopCase(
        id=f"{op_text}-{_MLIR_TYPES[dtype]}",
        mlir=elementwise_mlir(op_text, _MLIR_TYPES[dtype], arity, inputs[0].size),
        inputs=inputs,
        reference=lambda *args: (reference(*args).astype(dtype),),
        rtol=rtol,
        atol=atol,
    )


ELEMENTWISE_CASES = [
    _elementwise_case(*row, dtype) for row in _ELEMENTWISE_OPS for dtype in _MLIR_TYPES
]


# --- structured cases --------------------------------------------------------------------------

_ELEMENTWISE_BROADCAST = """
builtin.module {
  func.func @f(%arg0 : memref<4x3xf32>, %arg1 : memref<3xf32>, %arg2 : memref<4x3xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %c3 = arith.constant 3 : index
    %scale = arith.constant 2.5 : f32
    scf.for %i = %c0 to %c4 step %c1 {
      scf.for %j = %c0 to %c3 step %c1 {
        %a = memref.load %arg0[%i, %j] : memref<4x3xf32>
        %b = memref.load %arg1[%j] : memref<3xf32>
        %m = arith.mulf %a, %scale : f32
        %s = arith.addf %m, %b : f32
        %t = math.tanh %s : f32
        memref.store %t, %arg2[%i, %j] : memref<4x3xf32>
      }
    }
    func.return
  }
}
"""

_ROW_SUM = """
builtin.module {
  func.func @f(%arg0 : memref<5x7xf64>, %arg1 : memref<5xf64>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c5 = arith.constant 5 : index
    %c7 = arith.constant 7 : index
    %zero = arith.constant 0.0 : f64
    scf.for %i = %c0 to %c5 step %c1 {
      %sum = scf.for %j = %c0 to %c7 step %c1 iter_args(%acc = %zero) -> (f64) {
        %x = memref.load %arg0[%i, %j] : memref<5x7xf64>
        %next = arith.addf %acc, %x : f64
        scf.yield %next : f64
      }
      memref.store %sum, %arg1[%i] : memref<5xf64>
    }
    func.return
  }
}
"""

# (a, b) <- (b, a + b): the yield swaps, so it must not overwrite one carried value early.
_SWAP = """
builtin.module {
  func.func @f(%arg0 : memref<2xf64>, %arg1 : memref<2xf64>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c10 = arith.constant 10 : index
    %a0 = memref.load %arg0[%c0] : memref<2xf64>
    %b0 = memref.load %arg0[%c1] : memref<2xf64>
    %r:2 = scf.for %k = %c0 to %c10 step %c1 iter_args(%a = %a0, %b = %b0) -> (f64, f64) {
      %sum = arith.addf %a, %b : f64
      scf.yield %b, %sum : f64, f64
    }
    memref.store %r#0, %arg1[%c0] : memref<2xf64>
    memref.store %r#1, %arg1[%c1] : memref<2xf64>
    func.return
  }
}
"""


def _swap_reference(pair: np.ndarray) -> tuple[np.ndarray]:
    a, b = pair
    for _ in range(10):
        a, b = b, a + b
    return (np.array([a, b]),)


_MATMUL_IKJ = """
builtin.module {
  func.func @f(%arg0 : memref<3x4xf32>, %arg1 : memref<4x5xf32>, %arg2 : memref<3x5xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    %c5 = arith.constant 5 : index
    %zero = arith.constant 0.0 : f32
    scf.for %i = %c0 to %c3 step %c1 {
      scf.for %j = %c0 to %c5 step %c1 {
        memref.store %zero, %arg2[%i, %j] : memref<3x5xf32>
      }
    }
    scf.for %i = %c0 to %c3 step %c1 {
      scf.for %k = %c0 to %c4 step %c1 {
        %a = memref.load %arg0[%i, %k] : memref<3x4xf32>
        scf.for %j = %c0 to %c5 step %c1 {
          %b = memref.load %arg1[%k, %j] : memref<4x5xf32>
          %c = memref.load %arg2[%i, %j] : memref<3x5xf32>
          %p = arith.mulf %a, %b : f32
          %s = arith.addf %c, %p : f32
          memref.store %s, %arg2[%i, %j] : memref<3x5xf32>
        }
      }
    }
    func.return
  }
}
"""

_GLOBAL_VALUES = np.array([[1.0, -2.5], [1e-45, 3.4028235e38]], dtype=np.float32)

_GLOBAL_CONSTANT = """
builtin.module {
  "memref.global"() <{sym_name = "cst0", sym_visibility = "private", type = memref<2x2xf32>,
    initial_value = dense<[[1.0, -2.5], [1.0e-45, 3.4028235e38]]> : tensor<2x2xf32>,
    constant}> : () -> ()
  func.func @f(%arg0 : memref<2x2xf32>, %arg1 : memref<2x2xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %g = memref.get_global @cst0 : memref<2x2xf32>
    scf.for %i = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c2 step %c1 {
        %x = memref.load %arg0[%i, %j] : memref<2x2xf32>
        %y = memref.load %g[%i, %j] : memref<2x2xf32>
        %s = arith.mulf %x, %y : f32
        memref.store %s, %arg1[%i, %j] : memref<2x2xf32>
      }
    }
    func.return
  }
}
"""

# A rank-0 input scales a vector (through a temporary buffer) and a rank-0 output gets its sum.
_RANK0 = """
builtin.module {
  func.func @f(%arg0 : memref<f32>, %arg1 : memref<3xf32>, %arg2 : memref<3xf32>,
               %arg3 : memref<f32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c3 = arith.constant 3 : index
    %zero = arith.constant 0.0 : f32
    %s = memref.load %arg0[] : memref<f32>
    %tmp = memref.alloc() {alignment = 64 : i64} : memref<3xf32>
    scf.for %i = %c0 to %c3 step %c1 {
      %x = memref.load %arg1[%i] : memref<3xf32>
      %y = arith.mulf %x, %s : f32
      memref.store %y, %tmp[%i] : memref<3xf32>
    }
    %total = scf.for %i = %c0 to %c3 step %c1 iter_args(%acc = %zero) -> (f32) {
      %y = memref.load %tmp[%i] : memref<3xf32>
      memref.store %y, %arg2[%i] : memref<3xf32>
      %next = arith.addf %acc, %y : f32
      scf.yield %next : f32
    }
    memref.store %total, %arg3[] : memref<f32>
    memref.dealloc %tmp : memref<3xf32>
    func.return
  }
}
"""


def _rank0_reference(scale: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scaled = x * scale
    total = np.float32(0)
    for value in scaled:
        total = np.float32(total + value)
    return scaled, np.array(total, dtype=np.float32)


# --- comparisons: every cmpf predicate, NaN included --------------------------------------------

CMPF_PREDICATES = "false oeq ogt oge olt ole one ord ueq ugt uge ult ule une uno true".split()


def _cmpf_reference(predicate: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    unordered = np.isnan(x) | np.isnan(y)
    ordered_results = {
        "eq": x == y,
        "gt": x > y,
        "ge": x >= y,
        "lt": x < y,
        "le": x <= y,
        "ne": (x < y) | (x > y),
    }
    if predicate in ("false", "true"):
        return np.full(x.shape, predicate == "true")
    if predicate == "ord":
        return ~unordered
    if predicate == "uno":
        return unordered
    if predicate == "une":
        return x != y
    result = ordered_results[predicate[1:]]
    return result | unordered if predicate[0] == "u" else result & ~unordered


_CMP_VALUES_X = np.array([1.0, 2.0, 3.0, np.nan, 1.0, np.nan, -0.0, np.inf], dtype=np.float32)
_CMP_VALUES_Y = np.array([2.0, 2.0, 1.0, 1.0, np.nan, np.nan, 0.0, np.inf], dtype=np.float32)


def cmpf_mlir() -> str:
    """One loop per predicate, storing select(cmpf p, 1, 0) into row p of an i64 matrix."""
    loops = "\n".join(
        f"""    %p{index} = arith.constant {index} : index
    scf.for %i{index} = %c0 to %c8 step %c1 {{
      %x{index} = memref.load %arg0[%i{index}] : memref<8xf32>
      %y{index} = memref.load %arg1[%i{index}] : memref<8xf32>
      %b{index} = arith.cmpf {predicate}, %x{index}, %y{index} : f32
      %v{index} = arith.select %b{index}, %one, %zero : i64
      memref.store %v{index}, %arg2[%p{index}, %i{index}] : memref<16x8xi64>
    }}"""
        for index, predicate in enumerate(CMPF_PREDICATES)
    )
    return f"""
builtin.module {{
  func.func @f(%arg0 : memref<8xf32>, %arg1 : memref<8xf32>, %arg2 : memref<16x8xi64>) {{
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %one = arith.constant 1 : i64
    %zero = arith.constant 0 : i64
{loops}
    func.return
  }}
}}
"""


def _cmpf_table(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
    rows = [_cmpf_reference(predicate, x, y) for predicate in CMPF_PREDICATES]
    return (np.array(rows).astype(np.int64),)


# --- integers, casts, scf.if, empty shapes -----------------------------------------------------

_INTEGER_OPS = [
    "arith.addi",
    "arith.subi",
    "arith.muli",
    "arith.divsi",
    "arith.remsi",
    "arith.floordivsi",
    "arith.divui",
    "arith.remui",
    "arith.andi",
    "arith.ori",
    "arith.xori",
]


def integer_mlir() -> str:
    """Row k of the output holds op k of `_INTEGER_OPS`, then cmpi slt and ult as 0/1."""
    body = "\n".join(
        f"""      %r{index} = {op} %x, %y : i64
      %k{index} = arith.constant {index} : index
      memref.store %r{index}, %arg2[%k{index}, %i] : memref<13x8xi64>"""
        for index, op in enumerate(_INTEGER_OPS)
    )
    return f"""
builtin.module {{
  func.func @f(%arg0 : memref<8xi64>, %arg1 : memref<8xi64>, %arg2 : memref<13x8xi64>) {{
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %c11 = arith.constant 11 : index
    %c12 = arith.constant 12 : index
    %one = arith.constant 1 : i64
    %zero = arith.constant 0 : i64
    scf.for %i = %c0 to %c8 step %c1 {{
      %x = memref.load %arg0[%i] : memref<8xi64>
      %y = memref.load %arg1[%i] : memref<8xi64>
{body}
      %slt = arith.cmpi slt, %x, %y : i64
      %s = arith.select %slt, %one, %zero : i64
      memref.store %s, %arg2[%c11, %i] : memref<13x8xi64>
      %ult = arith.cmpi ult, %x, %y : i64
      %u = arith.select %ult, %one, %zero : i64
      memref.store %u, %arg2[%c12, %i] : memref<13x8xi64>
    }}
    func.return
  }}
}}
"""


def _integer_reference(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
    ux, uy = x.view(np.uint64), y.view(np.uint64)
    truncated = np.trunc(x / y).astype(np.int64)
    rows = [
        x + y,
        x - y,
        x * y,
        truncated,
        x - truncated * y,
        np.floor_divide(x, y),
        (ux // uy).view(np.int64),
        (ux % uy).view(np.int64),
        x & y,
        x | y,
        x ^ y,
        (x < y).astype(np.int64),
        (ux < uy).astype(np.int64),
    ]
    return (np.array(rows, dtype=np.int64),)


_INT_X = np.array([7, -7, 7, -7, 0, 123456789, -1, 2**40], dtype=np.int64)
_INT_Y = np.array([2, 2, -2, -2, 5, -1000, 3, 7], dtype=np.int64)

# sitofp/uitofp to f32 and f64, fptosi, extf, truncf and an index_cast used as a gather index.
_CASTS = """
builtin.module {
  func.func @f(%arg0 : memref<6xi64>, %arg1 : memref<6xf64>, %arg2 : memref<6xf32>,
               %arg3 : memref<6xf32>, %arg4 : memref<6xf64>, %arg5 : memref<6xi64>,
               %arg6 : memref<6xf32>, %arg7 : memref<6xf64>, %arg8 : memref<6xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c6 = arith.constant 6 : index
    %c3 = arith.constant 3 : i64
    scf.for %i = %c0 to %c6 step %c1 {
      %n = memref.load %arg0[%i] : memref<6xi64>
      %d = memref.load %arg1[%i] : memref<6xf64>
      %f = memref.load %arg2[%i] : memref<6xf32>
      %s32 = arith.sitofp %n : i64 to f32
      memref.store %s32, %arg3[%i] : memref<6xf32>
      %s64 = arith.sitofp %n : i64 to f64
      memref.store %s64, %arg4[%i] : memref<6xf64>
      %t = arith.fptosi %d : f64 to i64
      memref.store %t, %arg5[%i] : memref<6xi64>
      %u = arith.uitofp %n : i64 to f32
      memref.store %u, %arg6[%i] : memref<6xf32>
      %e = arith.extf %f : f32 to f64
      memref.store %e, %arg7[%i] : memref<6xf64>
      %r = arith.andi %n, %c3 : i64
      %k = arith.index_cast %r : i64 to index
      %g = memref.load %arg2[%k] : memref<6xf32>
      %dg = arith.extf %g : f32 to f64
      %sum = arith.addf %dg, %d : f64
      %narrow = arith.truncf %sum : f64 to f32
      memref.store %narrow, %arg8[%i] : memref<6xf32>
    }
    func.return
  }
}
"""

_CAST_INTS = np.array([3, -4, 2**53 + 1, 0, -(2**62) - 1, 5], dtype=np.int64)
_CAST_DOUBLES = np.array([2.7, -2.7, 1e15 + 0.5, -0.0, 0.1, 123.999], dtype=np.float64)
_CAST_FLOATS = np.array([0.1, 0.2, 0.3, -1.5, 2.5, 1e-3], dtype=np.float32)


def _casts_reference(n: np.ndarray, d: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, ...]:
    gathered = f[n & 3].astype(np.float64)
    return (
        n.astype(np.float32),
        n.astype(np.float64),
        np.trunc(d).astype(np.int64),
        n.view(np.uint64).astype(np.float32),
        f.astype(np.float64),
        (gathered + d).astype(np.float32),
    )


# scf.if with results (|x| * 2 or -x) and scf.if without else (count the positives).
_IF = """
builtin.module {
  func.func @f(%arg0 : memref<6xf32>, %arg1 : memref<6xf32>, %arg2 : memref<i64>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c6 = arith.constant 6 : index
    %zero = arith.constant 0.0 : f32
    %two = arith.constant 2.0 : f32
    %i0 = arith.constant 0 : i64
    %i1 = arith.constant 1 : i64
    memref.store %i0, %arg2[] : memref<i64>
    scf.for %i = %c0 to %c6 step %c1 {
      %x = memref.load %arg0[%i] : memref<6xf32>
      %positive = arith.cmpf ogt, %x, %zero : f32
      %y = scf.if %positive -> (f32) {
        %d = arith.mulf %x, %two : f32
        scf.yield %d : f32
      } else {
        %n = arith.negf %x : f32
        scf.yield %n : f32
      }
      memref.store %y, %arg1[%i] : memref<6xf32>
      scf.if %positive {
        %count = memref.load %arg2[] : memref<i64>
        %more = arith.addi %count, %i1 : i64
        memref.store %more, %arg2[] : memref<i64>
      }
    }
    func.return
  }
}
"""


def _if_reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.where(x > 0, x * 2, -x), np.array((x > 0).sum(), dtype=np.int64)


_EMPTY = """
builtin.module {
  func.func @f(%arg0 : memref<0x3xf32>, %arg1 : memref<0x3xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c3 = arith.constant 3 : index
    %tmp = memref.alloc() {alignment = 64 : i64} : memref<0x3xf32>
    scf.for %i = %c0 to %c0 step %c1 {
      scf.for %j = %c0 to %c3 step %c1 {
        %x = memref.load %arg0[%i, %j] : memref<0x3xf32>
        memref.store %x, %tmp[%i, %j] : memref<0x3xf32>
        memref.store %x, %arg1[%i, %j] : memref<0x3xf32>
      }
    }
    memref.dealloc %tmp : memref<0x3xf32>
    func.return
  }
}
"""

STRUCTURED_CASES = [
    LoopCase(
        "elementwise-broadcast",
        _ELEMENTWISE_BROADCAST,
        (
            _RNG.standard_normal((4, 3)).astype(np.float32),
            _RNG.standard_normal(3).astype(np.float32),
        ),
        lambda x, b: (np.tanh(x * np.float32(2.5) + b),),
        rtol=2e-6,
        atol=1e-6,
    ),
    LoopCase(
        "row-sum-iter-args",
        _ROW_SUM,
        (_normal((5, 7), np.float64),),
        lambda x: (x.sum(axis=1),),
        rtol=1e-14,
    ),
    LoopCase("swap-iter-args", _SWAP, (np.array([1.0, 0.5]),), _swap_reference),
    LoopCase(
        "matmul-ikj",
        _MATMUL_IKJ,
        (
            _RNG.standard_normal((3, 4)).astype(np.float32),
            _RNG.standard_normal((4, 5)).astype(np.float32),
        ),
        lambda a, b: (a @ b,),
        rtol=1e-5,
        atol=1e-6,
    ),
    LoopCase(
        "global-constant",
        _GLOBAL_CONSTANT,
        (np.array([[2.0, 4.0], [0.5, 0.25]], dtype=np.float32),),
        lambda x: (x * _GLOBAL_VALUES,),
    ),
    LoopCase(
        "rank0",
        _RANK0,
        (np.array(1.5, dtype=np.float32), np.array([0.1, 0.2, 0.3], dtype=np.float32)),
        _rank0_reference,
    ),
    LoopCase("cmpf-predicates", cmpf_mlir(), (_CMP_VALUES_X, _CMP_VALUES_Y), _cmpf_table),
    LoopCase("integer-i64", integer_mlir(), (_INT_X, _INT_Y), _integer_reference),
    LoopCase("casts", _CASTS, (_CAST_INTS, _CAST_DOUBLES, _CAST_FLOATS), _casts_reference),
    LoopCase(
        "scf-if",
        _IF,
        (np.array([1.5, -2.0, 0.0, -0.0, 3.0, np.nan], dtype=np.float32),),
        _if_reference,
    ),
    LoopCase(
        "empty",
        _EMPTY,
        (np.zeros((0, 3), dtype=np.float32),),
        lambda x: (x.copy(),),
    ),
]

# --- strided views: memref.subview, as bufferize makes of slices and pads ------------------------

# A pad with interior padding: the fill, then the input copied through a strided subview of the
# output (strides = interior + 1), whose layout's offset 10 is 1 * 8 + 2 from the output's start.
_SUBVIEW_PAD = """
builtin.module {
  func.func @f(%x : memref<2x3xf32>, %out : memref<5x8xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c5 = arith.constant 5 : index
    %c8 = arith.constant 8 : index
    %pad = arith.constant -1.5 : f32
    scf.for %i = %c0 to %c5 step %c1 {
      scf.for %j = %c0 to %c8 step %c1 {
        memref.store %pad, %out[%i, %j] : memref<5x8xf32>
      }
    }
    %inner = memref.subview %out[1, 2] [2, 3] [2, 2]
        : memref<5x8xf32> to memref<2x3xf32, strided<[16, 2], offset: 10>>
    scf.for %i = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c3 step %c1 {
        %v = memref.load %x[%i, %j] : memref<2x3xf32>
        memref.store %v, %inner[%i, %j] : memref<2x3xf32, strided<[16, 2], offset: 10>>
      }
    }
    func.return
  }
}
"""


def _pad_reference(x: np.ndarray) -> tuple[np.ndarray]:
    padded = np.full((5, 8), -1.5, np.float32)
    padded[1:4:2, 2:7:2] = x
    return (padded,)


# A slice with offsets and strides, a rank-reduced subview of it (row 1), and an empty slice
# (a size-0 dimension) whose offset is the source's extent.
_SUBVIEW_NESTED = """
builtin.module {
  func.func @f(%x : memref<4x8xf64>, %out0 : memref<3x3xf64>, %out1 : memref<3xf64>,
               %out2 : memref<0x3xf64>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c3 = arith.constant 3 : index
    %two = arith.constant 2.0 : f64
    %s = memref.subview %x[1, 2] [3, 3] [1, 2]
        : memref<4x8xf64> to memref<3x3xf64, strided<[8, 2], offset: 10>>
    %row = memref.subview %s[1, 0] [1, 3] [1, 1]
        : memref<3x3xf64, strided<[8, 2], offset: 10>> to memref<3xf64, strided<[2], offset: 18>>
    %none = memref.subview %x[4, 2] [0, 3] [1, 2]
        : memref<4x8xf64> to memref<0x3xf64, strided<[8, 2], offset: 34>>
    scf.for %i = %c0 to %c3 step %c1 {
      scf.for %j = %c0 to %c3 step %c1 {
        %v = memref.load %s[%i, %j] : memref<3x3xf64, strided<[8, 2], offset: 10>>
        memref.store %v, %out0[%i, %j] : memref<3x3xf64>
      }
      %r = memref.load %row[%i] : memref<3xf64, strided<[2], offset: 18>>
      %d = arith.mulf %r, %two : f64
      memref.store %d, %out1[%i] : memref<3xf64>
    }
    scf.for %i = %c0 to %c0 step %c1 {
      scf.for %j = %c0 to %c3 step %c1 {
        %v = memref.load %none[%i, %j] : memref<0x3xf64, strided<[8, 2], offset: 34>>
        memref.store %v, %out2[%i, %j] : memref<0x3xf64>
      }
    }
    func.return
  }
}
"""


def _nested_reference(x: np.ndarray) -> tuple[np.ndarray, ...]:
    sliced = x[1:4, 2:7:2]
    return sliced.copy(), sliced[1] * 2, x[4:4, 2:7:2].copy()


# A reshape of a subview (one row) keeps its pointer: the collapsed type keeps offset 12.
SUBVIEW_COLLAPSE = """
builtin.module {
  func.func @f(%x : memref<4x6xf32>, %out : memref<6xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c6 = arith.constant 6 : index
    %row = memref.subview %x[2, 0] [1, 6] [1, 1]
        : memref<4x6xf32> to memref<1x6xf32, strided<[6, 1], offset: 12>>
    %flat = memref.collapse_shape %row [[0, 1]]
        : memref<1x6xf32, strided<[6, 1], offset: 12>> into memref<6xf32, strided<[1], offset: 12>>
    scf.for %i = %c0 to %c6 step %c1 {
      %v = memref.load %flat[%i] : memref<6xf32, strided<[1], offset: 12>>
      memref.store %v, %out[%i] : memref<6xf32>
    }
    func.return
  }
}
"""

SUBVIEW_CASES = [
    LoopCase("subview-pad-interior", _SUBVIEW_PAD, (_normal((2, 3)),), _pad_reference),
    LoopCase(
        "subview-of-subview-and-empty",
        _SUBVIEW_NESTED,
        (_normal((4, 8), np.float64),),
        _nested_reference,
    ),
    LoopCase("subview-collapse", SUBVIEW_COLLAPSE, (_normal((4, 6)),), lambda x: (x[2].copy(),)),
]

# A subview of a workspace view (memref.view at byte 32): doubled in place through the subview,
# which the whole view then shows. The function takes the workspace as its last argument.
WORKSPACE_SUBVIEW = """
builtin.module {
  func.func @f(%x : memref<4x6xf32>, %out : memref<2x3xf32>, %whole : memref<4x6xf32>,
               %ws : memref<128xi8>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    %c6 = arith.constant 6 : index
    %c32 = arith.constant 32 : index
    %two = arith.constant 2.0 : f32
    %t = memref.view %ws[%c32][] : memref<128xi8> to memref<4x6xf32>
    scf.for %i = %c0 to %c4 step %c1 {
      scf.for %j = %c0 to %c6 step %c1 {
        %v = memref.load %x[%i, %j] : memref<4x6xf32>
        memref.store %v, %t[%i, %j] : memref<4x6xf32>
      }
    }
    %s = memref.subview %t[1, 1] [2, 3] [2, 2]
        : memref<4x6xf32> to memref<2x3xf32, strided<[12, 2], offset: 7>>
    scf.for %i = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c3 step %c1 {
        %v = memref.load %s[%i, %j] : memref<2x3xf32, strided<[12, 2], offset: 7>>
        %d = arith.mulf %v, %two : f32
        memref.store %d, %s[%i, %j] : memref<2x3xf32, strided<[12, 2], offset: 7>>
        memref.store %d, %out[%i, %j] : memref<2x3xf32>
      }
    }
    scf.for %i = %c0 to %c4 step %c1 {
      scf.for %j = %c0 to %c6 step %c1 {
        %v = memref.load %t[%i, %j] : memref<4x6xf32>
        memref.store %v, %whole[%i, %j] : memref<4x6xf32>
      }
    }
    func.return
  }
}
"""
WORKSPACE_BYTES = 128


def workspace_subview_reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    whole = x.copy()
    whole[1:4:2, 1:6:2] *= 2
    return whole[1:4:2, 1:6:2].copy(), whole


ALL_CASES = STRUCTURED_CASES + SUBVIEW_CASES + ELEMENTWISE_CASES
