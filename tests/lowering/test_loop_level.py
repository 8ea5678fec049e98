"""The loop level from Python: it is upstream-only, and gcc vectorises its inner loops."""

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.parser import Parser

import aidjit
from aidjit import ops
from aidjit.context import make_context
from aidjit.runtime.target import detect_target
from aidjit.runtime.toolchain import find_toolchain

UPSTREAM = {"builtin", "func", "scf", "memref", "vector", "arith", "math"}


def not_upstream(module: ModuleOp) -> list[str]:
    """What keeps a loop-level module from being upstream MLIR on buffers: dialects other than
    `UPSTREAM`, tensor types. tests/api/test_compiled_ops.py checks every op case's loops."""
    problems = []
    dialects = {op.dialect_name() for op in module.walk()} - UPSTREAM
    if dialects:
        problems.append(f"the loop level holds ops of {sorted(dialects)}")
    types = [t for op in module.walk() for t in (*op.operand_types, *op.result_types)]
    if any(isinstance(t, TensorType) for t in types):
        problems.append("the loop level holds tensors")
    return problems


def test_loop_level_uses_only_upstream_dialects() -> None:
    """Printed and parsed again, a loop level verifies and is upstream-only; the check names
    what is not."""
    x = np.ones((3, 5), np.float32)
    loops = aidjit.compile(ops.softmax, x, backend="interpreter").ir("loops")
    module = Parser(make_context(), loops).parse_module()
    module.verify()
    assert not_upstream(module) == []
    graph = aidjit.compile(ops.softmax, x, backend="interpreter", pipeline="").ir("graph")
    graph_module = Parser(make_context(), graph).parse_module()
    assert not_upstream(graph_module) == [
        "the loop level holds ops of ['graph']",
        "the loop level holds tensors",
    ]


def vectorised_loops(c_source: str, tmp_path: Path) -> str:
    toolchain = find_toolchain()
    source = tmp_path / "kernel.c"
    source.write_text(c_source)
    command = [toolchain.cc, *toolchain.cflags, "-fopt-info-vec-optimized", "-c", str(source)]
    command += ["-o", str(tmp_path / "kernel.o")]
    return subprocess.run(command, capture_output=True, text=True, check=True).stderr


def test_matmul_is_a_register_tiled_vector_kernel(tmp_path: Path) -> None:
    """tile-contractions: the k loop carries C's tile in vector registers, one broadcast and
    one FMA intrinsic per accumulator per k, and nothing in it is a scalar fma."""
    a, b = np.ones((8, 64), np.float32), np.ones((64, 48), np.float32)
    compiled = aidjit.compile(ops.matmul, a, b)
    if detect_target().isa.vector_bytes == 0:
        pytest.skip("no vector ISA detected: the scalar nest is kept")
    loops = compiled.ir("loops")
    assert "vector.fma" in loops and "math.fma" not in loops
    assert re.search(r"iter_args\(.*\) -> \(vector<", loops)
    c_source = compiled.ir("c")
    assert re.search(r"_mm(256|512)?_fmadd_ps\(", c_source)
    assert "fmaf(" not in c_source


def test_elementwise_math_is_vectorised(tmp_path: Path) -> None:
    """exp is a polynomial (expand-math) and tanh libmvec's variant of the vector width on
    AVX-512, a polynomial elsewhere, in explicit vectors (vectorize-loops): no scalar call in
    the vector loop."""
    x = np.ones(1024, np.float32)
    c_source = aidjit.compile(lambda v: ops.tanh(v) * ops.exp(v), x).ir("c")
    assert "expf(" not in c_source
    isa = detect_target().isa
    if isa.name == "avx512":
        assert re.search(r"_ZGVeN16v_tanhf", c_source)
    else:
        assert "tanhf" not in c_source


def test_math_left_to_libm_is_vectorised_with_libmvec(tmp_path: Path) -> None:
    """pow stays a libm call (expand-math leaves it): libmvec's `vv` variant on vectors."""
    x = np.ones(1024, np.float32)
    c_source = aidjit.compile(lambda v: ops.power(v, v), x).ir("c")
    if detect_target().isa.vector_bytes:
        assert re.search(r"_ZGV[bde]N\d+vv_powf", c_source)
    else:
        assert "loop vectorized" in vectorised_loops(c_source, tmp_path)
