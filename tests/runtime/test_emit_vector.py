"""Vector ops in C (runtime/emit_vector.py): every lane as numpy says, special values included.

Each case is one loop over 16 elements in vectors of 8 lanes (so two iterations), built by
gcc with the default flags' semantics (no fast-math, no contraction), called through cffi and
compared with numpy bit for bit: NaN, infinities and signed zeros are where these spellings
could differ from the scalar C (a blend that forgets NaN, an `a + b` that loses -0.0).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from aidjit.runtime import emit_vector
from aidjit.runtime.emit_c import emit_c
from aidjit.runtime.target import detect_target
from tests.runtime import test_emit_c
from tests.runtime.loop_cases import CMPF_PREDICATES, _cmpf_reference, _maximumf, _minimumf, parse
from tests.runtime.test_emit_c import run_compiled

pytestmark = pytest.mark.skipif(
    detect_target().isa.vector_bytes < 32, reason="needs AVX2 or AVX-512 (FMA intrinsics)"
)

LANES = 8


@pytest.fixture(autouse=True)
def _build_for_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vector FMA and sqrt are intrinsics of the host's ISA, as the default flags build."""
    monkeypatch.setattr(test_emit_c, "CFLAGS", [*test_emit_c.CFLAGS, "-march=native"])


SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.5, -2.5, 1e-40, 3.0, -0.0, 0.0, 7.0]
TYPES = {np.float32: "f32", np.float64: "f64"}


def _inputs(dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = np.array(SPECIALS + [0.5, -3.0], dtype=dtype)
    y = np.array(list(reversed(SPECIALS)) + [np.nan, -0.0], dtype=dtype)
    z = rng.standard_normal(16).astype(dtype)
    return x, y, z


_ARGUMENTS = "%x: memref<16x{t}>, %y: memref<16x{t}>, %z: memref<16x{t}>"


def _module(body: str, type_: str, result_type: str | None = None, lanes: int = LANES) -> str:
    """f(x, y, z, out): out[i:i+lanes] = body(x[i:i+lanes], y[..], z[..]) over 16 elements."""
    vector = f"vector<{lanes}x{type_}>"
    result_type = result_type or type_
    return f"""
func.func @f({_ARGUMENTS.format(t=type_)}, %out: memref<16x{result_type}>) {{
  %c0 = arith.constant 0 : index
  %step = arith.constant {lanes} : index
  %c16 = arith.constant 16 : index
  scf.for %i = %c0 to %c16 step %step {{
    %a = vector.load %x[%i] : memref<16x{type_}>, {vector}
    %b = vector.load %y[%i] : memref<16x{type_}>, {vector}
    %c = vector.load %z[%i] : memref<16x{type_}>, {vector}
{body.replace("VEC", vector)}
    vector.store %r, %out[%i] : memref<16x{result_type}>, vector<{lanes}x{result_type}>
  }}
  func.return
}}
"""


def _run(text: str, dtype: type, tmp_path: Path, out_dtype: type | None = None) -> np.ndarray:
    inputs = _inputs(dtype)
    (result,) = run_compiled(parse(text), inputs, [((16,), out_dtype or dtype)], tmp_path)
    return result


BINARY = {
    "arith.maximumf": _maximumf,
    "arith.minimumf": _minimumf,
    "arith.addf": np.add,
    "arith.subf": np.subtract,
    "arith.mulf": np.multiply,
    "arith.divf": np.divide,
}


@pytest.mark.parametrize("dtype", list(TYPES))
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_ops_match_numpy_on_special_values(op: str, dtype: type, tmp_path: Path) -> None:
    text = _module(f"    %r = {op} %a, %b : VEC", TYPES[dtype])
    x, y, _ = _inputs(dtype)
    with np.errstate(all="ignore"):
        expected = BINARY[op](x, y)
    np.testing.assert_array_equal(_run(text, dtype, tmp_path), expected)
    assert np.array_equal(np.signbit(_run(text, dtype, tmp_path)), np.signbit(expected))


@pytest.mark.parametrize("dtype", list(TYPES))
def test_unary_ops_fma_and_sqrt(dtype: type, tmp_path: Path) -> None:
    """FMA and square root are intrinsics of one vector width: as many lanes as the host's
    vectors hold (4 f64 on AVX2), where the other ops are GCC's operators at any width."""
    x, y, z = _inputs(dtype)
    lanes = min(LANES, detect_target().isa.vector_bytes // np.dtype(dtype).itemsize)
    cases = {
        "%r = math.absf %a : VEC": np.abs(x),
        "%r = math.sqrt %c : VEC": np.sqrt(np.abs(z)).astype(dtype),
        "%r = vector.fma %a, %b, %c : VEC": None,
        "%r = arith.negf %a : VEC": -x,
        "%r = math.floor %a : VEC": np.floor(x),
    }
    for body, expected in cases.items():
        if "sqrt" in body:
            body = "    %n = math.absf %c : VEC\n    " + body.replace("%c", "%n")
        text = _module(f"    {body}", TYPES[dtype], lanes=lanes)
        got = _run(text, dtype, tmp_path)
        if expected is None:  # one rounding: exact in float64 for float32, longdouble else
            wide = np.longdouble if dtype == np.float64 else np.float64
            with np.errstate(all="ignore"):
                expected = (x.astype(wide) * y.astype(wide) + z.astype(wide)).astype(dtype)
        np.testing.assert_array_equal(got, expected, err_msg=body)
        assert np.array_equal(np.signbit(got), np.signbit(expected)), body


@pytest.mark.parametrize("dtype", list(TYPES))
def test_comparisons_and_select_follow_every_predicate(dtype: type, tmp_path: Path) -> None:
    """select(cmpf p, a, b) for all 16 predicates: NaN ordered/unordered as MLIR says."""
    x, y, _ = _inputs(dtype)
    for predicate in CMPF_PREDICATES:
        body = f"    %m = arith.cmpf {predicate}, %a, %b : VEC\n"
        body += "    %r = arith.select %m, %a, %c : vector<8xi1>, VEC"
        got = _run(_module(body, TYPES[dtype]), dtype, tmp_path)
        _, _, z = _inputs(dtype)
        expected = np.where(_cmpf_reference(predicate, x, y), x, z)
        np.testing.assert_array_equal(got, expected, err_msg=predicate)


@pytest.mark.parametrize("dtype", list(TYPES))
@pytest.mark.parametrize("predicate", ["olt", "ogt"])
@pytest.mark.parametrize("swapped", [False, True], ids=["a_b", "b_a"])
def test_selects_that_are_a_min_or_max_keep_nan_and_signed_zeros(
    predicate: str, swapped: bool, dtype: type, tmp_path: Path
) -> None:
    """`a < b ? a : b` and its three mirror images become minps/maxps (emit_vector.
    select_as_min_max): the same lanes as the blend, NaN (either side) and -0.0/+0.0 pairs,
    which SPECIALS has, included."""
    x, y, _ = _inputs(dtype)
    picked, other = ("%b", "%a") if swapped else ("%a", "%b")
    lanes = min(LANES, detect_target().isa.vector_bytes // np.dtype(dtype).itemsize)
    body = f"    %m = arith.cmpf {predicate}, %a, %b : VEC\n"
    body += f"    %r = arith.select %m, {picked}, {other} : vector<{lanes}xi1>, VEC"
    text = _module(body, TYPES[dtype], lanes=lanes)
    kind = "min" if (predicate == "olt") != swapped else "max"
    bits = 8 * lanes * np.dtype(dtype).itemsize
    name = emit_vector.intrinsic(kind, bits, "float" if dtype == np.float32 else "double")
    source = emit_c(parse(text))
    assert f"{name}({'v1, v0' if swapped else 'v0, v1'})" in source
    got = _run(text, dtype, tmp_path)
    taken, rest = (y, x) if swapped else (x, y)
    expected = np.where(_cmpf_reference(predicate, x, y), taken, rest)
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))


@pytest.mark.parametrize("kind", ["add", "mul", "maximumf", "minimumf"])
@pytest.mark.parametrize("dtype", list(TYPES))
def test_reductions_fold_lanes_in_order(kind: str, dtype: type, tmp_path: Path) -> None:
    """vector.reduction folds lane 0 first into the accumulator: the scalar loop's result."""
    type_ = TYPES[dtype]
    text = f"""
func.func @f({_ARGUMENTS.format(t=type_)}, %out: memref<16x{type_}>) {{
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %a = vector.load %z[%c0] : memref<16x{type_}>, vector<8x{type_}>
  %b = vector.load %z[%c8] : memref<16x{type_}>, vector<8x{type_}>
  %first = vector.reduction <{kind}>, %a : vector<8x{type_}> into {type_}
  %both = vector.reduction <{kind}>, %b, %first : vector<8x{type_}> into {type_}
  memref.store %both, %out[%c0] : memref<16x{type_}>
  func.return
}}
"""
    _, _, z = _inputs(dtype)
    step = {"add": np.add, "mul": np.multiply, "maximumf": _maximumf, "minimumf": _minimumf}[kind]
    expected = z[0]
    for value in z[1:]:
        expected = step(expected, value)
    assert _run(text, dtype, tmp_path)[0] == expected


def test_intrinsics_need_their_instruction_set(tmp_path: Path) -> None:
    """Flags that do not enable the vectors' ISA fail with a message that says so."""
    source = emit_c(parse(_module("    %r = vector.fma %a, %b, %c : VEC", "f32")))
    assert "#ifndef __FMA__" in source
    (tmp_path / "k.c").write_text(source)
    build = subprocess.run(
        ["gcc", "-O2", "-c", "k.c", "-o", "k.o"], cwd=tmp_path, capture_output=True, text=True
    )
    assert build.returncode != 0
    assert "uses 256-bit vectors: build it with -march=native" in build.stderr


def test_vector_types_are_typedefs_with_mask_twins() -> None:
    source = emit_c(parse(_module("    %r = arith.maximumf %a, %b : VEC", "f32")))
    assert "typedef float aidjit_v8f32 __attribute__((vector_size(32)));" in source
    assert "typedef int32_t aidjit_v8i32 __attribute__((vector_size(32)));" in source
    assert "aidjit_maximum_v8f32(" in source


MASKED_WIDTHS = [(16, "f32"), (8, "f64"), (8, "f32"), (4, "f64"), (4, "f32")]
"""512-bit (AVX-512 k-masks), 256-bit (AVX's sign-bit masks) and 128-bit (lane by lane)."""


@pytest.mark.parametrize(("lanes", "type_"), MASKED_WIDTHS, ids=lambda v: str(v))
def test_masked_loads_and_stores_touch_only_their_lanes(
    lanes: int, type_: str, tmp_path: Path
) -> None:
    """out[0:lanes] = z where the mask is clear, x where it is set; then y is stored masked at
    out[lanes:], so out's lanes past the mask keep their zeros: nothing else is read or written
    (x's last selected lane is its last element: a full-width load would read past it)."""
    if lanes * int(type_[1:]) > 8 * detect_target().isa.vector_bytes:
        pytest.skip(f"{lanes * int(type_[1:])}-bit vectors exceed the host's")
    count = 3
    dtype = np.float32 if type_ == "f32" else np.float64
    vector, mask = f"vector<{lanes}x{type_}>", f"vector<{lanes}xi1>"
    row, out = f"memref<{lanes}x{type_}>", f"memref<{2 * lanes}x{type_}>"
    source = f"memref<{count}x{type_}>"
    text = f"""
func.func @f(%x: {source}, %y: {row}, %z: {row}, %out: {out}) {{
  %c0 = arith.constant 0 : index
  %n = arith.constant {count} : index
  %at = arith.constant {lanes} : index
  %mask = vector.create_mask %n : {mask}
  %pass = vector.load %z[%c0] : {row}, {vector}
  %loaded = vector.maskedload %x[%c0], %mask, %pass : {source}, {mask}, {vector} into {vector}
  vector.store %loaded, %out[%c0] : {out}, {vector}
  %value = vector.load %y[%c0] : {row}, {vector}
  vector.maskedstore %out[%at], %mask, %value : {out}, {mask}, {vector}
  func.return
}}
"""
    x = np.array([np.nan, -0.0, 2.5], dtype)
    y = np.arange(1, lanes + 1, dtype=dtype)
    z = -np.arange(1, lanes + 1, dtype=dtype)
    (out,) = run_compiled(parse(text), (x, y, z), [((2 * lanes,), dtype)], tmp_path)
    expected = np.concatenate([x, z[count:], y[:count], np.zeros(lanes - count, dtype)])
    np.testing.assert_array_equal(out, expected)
    assert np.signbit(out[1])
