"""The C emitter: the generated text, and the numbers once gcc has built it and cffi called it."""

import hashlib
import io
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cffi
import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

import aidjit
from aidjit import ops
from aidjit.errors import ShapeError, UnsupportedError, blamed
from aidjit.runtime.emit_c import (
    GLOBAL_STORAGE,
    NO_SLP_GUARD,
    CTarget,
    c_identifier,
    c_prototype,
    emit_c,
)
from aidjit.runtime.interpreter.loops import run_loops
from tests.runtime.loop_cases import (
    ALL_CASES,
    STRUCTURED_CASES,
    SUBVIEW_CASES,
    WORKSPACE_BYTES,
    WORKSPACE_SUBVIEW,
    LoopCase,
    elementwise_mlir,
    parse,
    workspace_subview_reference,
)

# The flags of the brief's reference build: vectorise (-O2 does, with gcc >= 12), honour
# `omp declare simd` without OpenMP threads (-fopenmp-simd), and link glibc's vector math.
CFLAGS = ["-O2", "-fPIC", "-shared", "-fopenmp-simd"]
LIBS = ["-lmvec", "-lm"]
C_TYPES = {
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
    np.dtype(np.int64): "int64_t",
    np.dtype(np.int8): "int8_t",
}

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def case_named(name: str) -> LoopCase:
    return next(case for case in STRUCTURED_CASES if case.id == name)


def functions(module: ModuleOp) -> list[func.FuncOp]:
    return [op for op in module.ops if isinstance(op, func.FuncOp)]


def build(source: str, directory: Path) -> Path:
    """Build `source` into a shared object named after its hash (dlopen caches by path)."""
    stem = hashlib.sha256(source.encode()).hexdigest()[:16]
    (directory / f"{stem}.c").write_text(source)
    library = directory / f"{stem}.so"
    command = ["gcc", *CFLAGS, f"{stem}.c", "-o", library.name, *LIBS]
    subprocess.run(command, cwd=directory, check=True, capture_output=True, text=True)
    return library


def run_compiled(
    module: ModuleOp, inputs: tuple[np.ndarray, ...], outputs: list[Any], directory: Path
) -> tuple[np.ndarray, ...]:
    """Emit, build and call the module's function `f`; return its freshly zeroed outputs."""
    (function,) = functions(module)
    ffi = cffi.FFI()
    ffi.cdef(c_prototype(function) + ";")
    library = ffi.dlopen(str(build(emit_c(module), directory)))
    results = tuple(np.zeros(shape, dtype) for shape, dtype in outputs)
    pointers = [
        ffi.from_buffer(f"{C_TYPES[array.dtype]}[]", np.ascontiguousarray(array))
        for array in (*inputs, *results)
    ]
    getattr(library, c_identifier(function.sym_name.data))(*pointers)
    return results


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.id)
def test_matches_numpy(case: LoopCase, tmp_path: Path) -> None:
    case.check(run_compiled(parse(case.mlir), case.inputs, case.output_specs(), tmp_path))


def test_agrees_bit_for_bit_with_the_interpreter(tmp_path: Path) -> None:
    """+, -, *, / and sqrt are exactly rounded in both, so compiled and interpreted agree."""
    case = case_named("matmul-ikj")
    module = parse(case.mlir)
    compiled = run_compiled(module, case.inputs, case.output_specs(), tmp_path)
    interpreted = run_loops(module, "f", case.inputs, case.output_specs())
    np.testing.assert_array_equal(compiled[0], interpreted[0])


def test_float_literals_round_trip(tmp_path: Path) -> None:
    """Every f32 and f64 constant reads back bit for bit: random bits, subnormals, extremes."""
    rng = np.random.default_rng(7)
    for dtype, bits in ((np.float32, np.uint32), (np.float64, np.uint64)):
        info = np.finfo(dtype)
        specials = [0.0, -0.0, np.inf, -np.inf, info.smallest_subnormal, info.tiny, info.max]
        random = rng.integers(0, np.iinfo(bits).max, 200, dtype=bits).view(dtype)
        finite = random[np.isfinite(random)]
        values = np.concatenate([finite, np.array(specials, dtype)])
        copied = run_compiled(
            parse(global_copy_mlir(values)), (), [(values.shape, values.dtype)], tmp_path
        )[0]
        np.testing.assert_array_equal(copied.view(bits), values.view(bits))


def global_copy_mlir(values: np.ndarray) -> str:
    """A function copying a constant global holding `values` into its output."""
    type_ = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}[values.dtype]
    memref = f"memref<{values.size}x{type_}>"
    hex_data = "0x" + values.tobytes().hex().upper()
    return f"""
builtin.module {{
  "memref.global"() <{{sym_name = "table", sym_visibility = "private", type = {memref},
    initial_value = dense<"{hex_data}"> : tensor<{values.size}x{type_}>, constant}}> : () -> ()
  func.func @f(%out : {memref}) {{
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %n = arith.constant {values.size} : index
    %g = memref.get_global @table : {memref}
    scf.for %i = %c0 to %n step %c1 {{
      %x = memref.load %g[%i] : {memref}
      memref.store %x, %out[%i] : {memref}
    }}
    func.return
  }}
}}
"""


# --- text -------------------------------------------------------------------------------------


def test_elementwise_text() -> None:
    module = parse(case_named("elementwise-broadcast").mlir)
    source = emit_c(module)
    assert c_prototype(functions(module)[0]) == (
        "void f(const float *restrict arg0, const float *restrict arg1, float *restrict arg2)"
    )
    for line in [
        "#include <math.h>",
        "#include <stdint.h>",
        "#include <stdlib.h>",
        "    for (int64_t i0 = 0; i0 < 4; i0++) {",
        "        for (int64_t i1 = 0; i1 < 3; i1++) {",
        "            const float v0 = arg0[i0 * 3 + i1];",
        "            const float v1 = arg1[i1];",
        "            const float v2 = v0 * 2.5f;",
        "            arg2[i0 * 3 + i1] = v4;",
    ]:
        assert line in source.splitlines()
    assert "#pragma omp declare simd notinbranch\n#endif\nextern float tanhf(float)" in source
    assert "#pragma omp simd" not in source


def test_reduction_declares_carried_variables_before_the_loop() -> None:
    source = emit_c(parse(case_named("row-sum-iter-args").mlir))
    assert (
        """
        double v0 = 0.0;
        for (int64_t i1 = 0; i1 < 7; i1++) {
            const double v1 = arg0[i0 * 7 + i1];
            const double v2 = v0 + v1;
            v0 = v2;
        }
        arg1[i0] = v0;
"""
        in source
    )


def test_swapping_yield_goes_through_temporaries() -> None:
    source = emit_c(parse(case_named("swap-iter-args").mlir))
    assert (
        """
    double v2 = v0;
    double v3 = v1;
    for (int64_t i0 = 0; i0 < 10; i0++) {
        const double v4 = v2 + v3;
        const double v5 = v3;
        const double v6 = v4;
        v2 = v5;
        v3 = v6;
    }
    arg1[0] = v2;
    arg1[1] = v3;
"""
        in source
    )


def test_scf_if_assigns_its_results_in_both_branches() -> None:
    source = emit_c(parse(case_named("scf-if").mlir))
    assert (
        """
        float v2;
        if (v1) {
            const float v3 = v0 * 2.0f;
            v2 = v3;
        } else {
            const float v4 = -v0;
            v2 = v4;
        }
        arg1[i0] = v2;
        if (v1) {
"""
        in source
    )


def test_constant_indices_are_folded() -> None:
    source = emit_c(parse(case_named("integer-i64").mlir))
    assert "arg2[i0] = v2;" in source
    assert "arg2[16 + i0] = v4;" in source
    assert "(int64_t)((uint64_t)v0 / (uint64_t)v1)" in source


def test_memory_text() -> None:
    """Globals are hidden arrays, rank 0 is element [0], allocations are 64-byte multiples."""
    global_source = emit_c(parse(case_named("global-constant").mlir))
    declaration = "float cst0[4] = {1.0f, -2.5f, 1e-45f, 3.4028235e+38f};"
    assert f"\n{GLOBAL_STORAGE} {declaration}" in global_source
    assert "const float *v0 = cst0;" in global_source
    rank0_source = emit_c(parse(case_named("rank0").mlir))
    assert "const float v0 = arg0[0];" in rank0_source
    assert "float *restrict v1 = aligned_alloc(64, 64);" in rank0_source
    assert "arg3[0] = v" in rank0_source
    assert "free(v1);" in rank0_source
    empty_source = emit_c(parse(case_named("empty").mlir))
    assert "aligned_alloc(64, 64);" in empty_source


def test_matmul_nest_keeps_the_ikj_order() -> None:
    lines = emit_c(parse(case_named("matmul-ikj").mlir)).splitlines()
    loops = [line.strip() for line in lines if line.strip().startswith("for")]
    assert loops[2:] == [
        "for (int64_t i2 = 0; i2 < 3; i2++) {",
        "for (int64_t i3 = 0; i3 < 4; i3++) {",
        "for (int64_t i4 = 0; i4 < 5; i4++) {",
    ]
    assert "const float v1 = arg1[i3 * 5 + i4];" in [line.strip() for line in lines]


def test_maximumf_helper_propagates_nan_branch_free() -> None:
    source = emit_c(parse(elementwise_mlir("arith.maximumf", "f64", 2, 4)))
    assert "static inline double aidjit_maximum_f64(double a, double b) {" in source
    assert "const double v2 = aidjit_maximum_f64(v0, v1);" in source
    assert "if (" not in source


def test_only_libmvec_functions_are_declared_simd() -> None:
    source = emit_c(parse(elementwise_mlir("math.sqrt", "f32", 1, 4)))
    assert "extern float sqrtf(float) __attribute__((const));" in source
    assert "#pragma omp declare simd" not in source
    pow_source = emit_c(parse(elementwise_mlir("math.powf", "f64", 2, 4)))
    assert "#pragma omp declare simd notinbranch\n#endif\nextern double pow(double, double)" in (
        pow_source
    )


def test_literals() -> None:
    source = emit_c(parse(elementwise_literals_mlir()))
    for literal in ["(-1.5f)", "0.1f", "INFINITY", "(-INFINITY)", "NAN", "(-0.0)", "1e+300"]:
        assert literal in source


def elementwise_literals_mlir() -> str:
    constants = [
        ("-1.5", "f32"),
        ("0.1", "f32"),
        ("0x7F800000", "f32"),
        ("0xFF800000", "f32"),
        ("0x7FC00000", "f32"),
        ("-0.0", "f64"),
        ("1.0e300", "f64"),
    ]
    body = "\n".join(
        f"    %k{index} = arith.constant {value} : {type_}\n"
        f"    %s{index} = arith.addf %k{index}, %k{index} : {type_}\n"
        f"    memref.store %s{index}, %out{type_}[] : memref<{type_}>"
        for index, (value, type_) in enumerate(constants)
    )
    return f"""
builtin.module {{
  func.func @f(%outf32 : memref<f32>, %outf64 : memref<f64>) {{
{body}
    func.return
  }}
}}
"""


@pytest.mark.skipif(
    platform.machine() != "x86_64" or shutil.which("objdump") is None,
    reason="libmvec's vector math is checked on x86-64 with objdump",
)
def test_elementwise_libm_loop_calls_libmvec(tmp_path: Path) -> None:
    """No `#pragma omp simd` on the loop and no -fno-math-errno: gcc still calls libmvec."""
    module = parse(elementwise_mlir("math.tanh", "f32", 1, 1024))
    library = build(emit_c(module), tmp_path)
    disassembly = subprocess.run(
        ["objdump", "-d", str(library)], check=True, capture_output=True, text=True
    ).stdout
    assert re.search(r"call.*<_ZGV\w+_tanhf", disassembly), "tanhf was not vectorised"


# --- names, prototypes, errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("f", "f"),
        ("mlp_forward", "mlp_forward"),
        ("exp", "aj_exp"),
        ("expf", "aj_expf"),
        ("free", "aj_free"),
        ("for", "aj_for"),
        ("int64_t", "aj_int64__t"),
        ("_start", "aj___start"),
        ("NAN", "aj_NAN"),
        ("v3", "aj_v3"),
        ("aj_x", "aj_aj__x"),
        ("my.fn", "aj_my_x2e_fn"),
        ("2d", "aj_2d"),
        ("", "aj_"),
        ("f();", "aj_f_x28__x29__x3b_"),
    ],
)
def test_c_identifier(symbol: str, expected: str) -> None:
    assert c_identifier(symbol) == expected
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", c_identifier(symbol))


def test_c_identifier_is_injective() -> None:
    symbols = ["a.b", "a_b", "a_x2e_b", "aj_a_x2e_b", "a__b", "_a", "__a", "a-b", "a b", "é"]
    assert len({c_identifier(symbol) for symbol in symbols}) == len(symbols)


def test_sanitised_symbols_compile_and_are_found(tmp_path: Path) -> None:
    text = elementwise_mlir("arith.negf", "f32", 1, 2).replace("@f(", '@"exp.v2"(')
    module = parse(text)
    (function,) = functions(module)
    assert c_prototype(function).startswith("void aj_exp_x2e_v2(const float *restrict arg0,")
    ffi = cffi.FFI()
    ffi.cdef(c_prototype(function) + ";")
    library = ffi.dlopen(str(build(emit_c(module), tmp_path)))
    x, out = np.array([1.0, -2.0], np.float32), np.zeros(2, np.float32)
    library.aj_exp_x2e_v2(ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", out))
    np.testing.assert_array_equal(out, -x)


# A two-dimensional scf.parallel, on the thread pool or serial: parallelize-outer-loops makes
# only one-dimensional ones, and the emitter says so rather than write half of it.
PARALLEL_2D = """builtin.module {
  func.func @f(%x: memref<4x4xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    "scf.parallel"(%c0, %c0, %c4, %c4, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
    ^bb0(%i: index, %j: index):
      %v = memref.load %x[%i, %j] : memref<4x4xf32>
      memref.store %v, %x[%j, %i] : memref<4x4xf32>
      scf.reduce
    }) THREADS : (index, index, index, index, index, index) -> ()
    func.return
  }
}"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (elementwise_mlir("math.atan", "f32", 1, 2), "'math.atan'"),
        (elementwise_mlir("arith.addf", "f16", 2, 2), "unsupported type f16"),
        ("builtin.module { %x = arith.constant 1 : i64 }", "'arith.constant' at module level"),
        *(
            (
                PARALLEL_2D.replace("THREADS", threads),
                "a multi-dimensional or reducing scf.parallel",
            )
            for threads in ("{aidjit.num_threads = 2 : i64}", "")
        ),
    ],
)
def test_unsupported_input_raises(text: str, message: str) -> None:
    with pytest.raises(UnsupportedError, match=re.escape(message)):
        emit_c(parse(text))


def test_unsupported_op_is_blamed_so_the_cli_reports_its_line() -> None:
    module = parse(elementwise_mlir("math.atan", "f32", 1, 2))
    with pytest.raises(UnsupportedError) as caught:
        emit_c(module)
    assert blamed(caught.value).name == "math.atan"


def test_c_target_writes_the_source() -> None:
    module = parse(case_named("rank0").mlir)
    output = io.StringIO()
    CTarget().emit(Context(), module, output)
    assert CTarget.name == "c"
    assert output.getvalue() == emit_c(module)


def test_only_functions_that_narrow_turn_slp_vectorisation_off() -> None:
    """gcc 12.2's SLP bug needs a float64 -> float32 conversion: those functions alone opt out."""
    x64 = np.ones((3, 4))
    narrowing = aidjit.compile(lambda x: ops.astype(x, np.float32) * 2.0, x64).ir("c")
    assert NO_SLP_GUARD in narrowing
    assert re.search(r"^AIDJIT_NO_SLP void lambda\(", narrowing, re.MULTILINE)
    widening = aidjit.compile(lambda x: ops.astype(x, np.float64), x64.astype(np.float32)).ir("c")
    assert "AIDJIT_NO_SLP" not in widening


# --- strided views: memref.subview ------------------------------------------------------------


def subview_case(name: str) -> LoopCase:
    return next(case for case in SUBVIEW_CASES if case.id == name)


def test_subview_is_its_sources_pointer_indexed_through_its_layout() -> None:
    """No pointer per subview: the layout's offset and strides fold into the index."""
    pad = emit_c(parse(subview_case("subview-pad-interior").mlir))
    assert "void f(const float *restrict arg0, float *restrict arg1) {" in pad
    assert "arg1[10 + i2 * 16 + i3 * 2] = v0;" in pad
    nested = emit_c(parse(subview_case("subview-of-subview-and-empty").mlir))
    assert "const double v0 = arg0[10 + i0 * 8 + i1 * 2];" in nested
    assert "const double v1 = arg0[18 + i0 * 2];" in nested
    assert "const double v3 = arg0[34 + i2 * 8 + i3 * 2];" in nested
    collapsed = emit_c(parse(subview_case("subview-collapse").mlir))
    assert "const float v0 = arg0[12 + i0];" in collapsed
    workspace = emit_c(parse(WORKSPACE_SUBVIEW))
    assert "float *v0 = (float *)(arg3 + 32);" in workspace
    # Each loop nest over the workspace is a static function taking the view as a `restrict`
    # parameter; the subview is the same pointer, indexed through its layout.
    # Not inlined into its caller: gcc allocates its registers apart.
    head = "void aidjit_f_nest1(float *restrict p0, float *restrict p1) {"
    assert f"__attribute__((noinline)) static {head}" in workspace
    assert "p0[7 + i0 * 12 + i1 * 2] = v1;" in workspace
    assert "    aidjit_f_nest1(v0, arg1);" in workspace


def test_subview_of_a_workspace_view_writes_through_to_it(tmp_path: Path) -> None:
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    expected = workspace_subview_reference(x)
    specs = [(want.shape, want.dtype) for want in expected] + [((WORKSPACE_BYTES,), np.int8)]
    *outputs, _ = run_compiled(parse(WORKSPACE_SUBVIEW), (x,), specs, tmp_path)
    for got, want in zip(outputs, expected, strict=True):
        np.testing.assert_array_equal(got, want, strict=True)


PAD_MLIR = subview_case("subview-pad-interior").mlir


@pytest.mark.parametrize(
    ("old", "new", "error", "message"),
    [
        (
            "%out[1, 2] [2, 3] [2, 2]",
            "%out[%c1, 2] [2, 3] [2, 2]",
            UnsupportedError,
            "'memref.subview' with dynamic offsets, sizes or strides",
        ),
        ("offset: 10>>", "offset: ?>>", UnsupportedError, "only static strides and offset"),
        ("offset: 10>>", "offset: 12>>", ShapeError, "offset 12, but its source"),
        ("[2, 3] [2, 2]", "[2, 3] [4, 2]", ShapeError, "dimension 0 of a (5, 8) source"),
    ],
    ids=["dynamic-offset", "dynamic-layout", "wrong-layout", "out-of-bounds"],
)
def test_subview_errors_are_blamed_on_the_subview(
    old: str, new: str, error: type[Exception], message: str
) -> None:
    """The C would silently index the wrong elements: the emitter refuses, naming the op."""
    module = parse(PAD_MLIR.replace(old, new))
    with pytest.raises(error, match=re.escape(message)) as caught:
        emit_c(module)
    assert blamed(caught.value).name in ("memref.subview", "memref.store")


def test_a_strided_buffer_argument_is_rejected() -> None:
    """An argument is a buffer of its own: the caller passes where its first element is."""
    text = """
builtin.module {
  func.func @f(%out : memref<5x8xf32, strided<[8, 1], offset: 4>>) {
    func.return
  }
}
"""
    with pytest.raises(UnsupportedError, match=re.escape("of a buffer (not row-major)")):
        emit_c(parse(text))
