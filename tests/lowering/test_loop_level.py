"""The loop level from Python: it is upstream-only, and gcc vectorises its inner loops."""

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects.builtin import TensorType
from xdsl.parser import Parser

import aidjit
from aidjit import ops
from aidjit.context import make_context
from aidjit.runtime.toolchain import find_toolchain
from tests.op_cases import CASE_IDS, CASES, Case

UPSTREAM = {"builtin", "func", "scf", "memref", "arith", "math"}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_loop_level_uses_only_upstream_dialects(case: Case) -> None:
    inputs = case.inputs(np.float32)
    loops = aidjit.compile(case.fn, *inputs, backend="interpreter").ir("loops")
    module = Parser(make_context(), loops).parse_module()
    module.verify()
    assert {op.dialect_name() for op in module.walk()} <= UPSTREAM
    types = [t for op in module.walk() for t in (*op.operand_types, *op.result_types)]
    assert not any(isinstance(t, TensorType) for t in types)


def vectorised_loops(c_source: str, tmp_path: Path) -> str:
    toolchain = find_toolchain()
    source = tmp_path / "kernel.c"
    source.write_text(c_source)
    command = [toolchain.cc, *toolchain.cflags, "-fopt-info-vec-optimized", "-c", str(source)]
    command += ["-o", str(tmp_path / "kernel.o")]
    return subprocess.run(command, capture_output=True, text=True, check=True).stderr


def test_matmul_inner_loop_is_vectorised(tmp_path: Path) -> None:
    a, b = np.ones((8, 64), np.float32), np.ones((64, 48), np.float32)
    c_source = aidjit.compile(ops.matmul, a, b).ir("c")
    lines = c_source.splitlines()
    # The accumulating store closes the innermost (j) loop's body: the nearest `for` above it.
    store = next(i for i, line in enumerate(lines) if re.match(r"\s+arg2\[.*\] = v\d+;", line))
    header = max(i for i in range(store) if lines[i].lstrip().startswith("for ("))
    assert all("for (" not in line and "}" not in line for line in lines[header + 1 : store])
    j_loop = header + 1  # 1-based line number of that loop's `for (...)` header
    report = vectorised_loops(c_source, tmp_path)
    assert re.search(rf"kernel\.c:{j_loop}:\d+: optimized: loop vectorized", report), report


def test_elementwise_math_is_vectorised_with_libmvec(tmp_path: Path) -> None:
    x = np.ones(1024, np.float32)
    c_source = aidjit.compile(lambda v: ops.tanh(v) * ops.exp(v), x).ir("c")
    assert "loop vectorized" in vectorised_loops(c_source, tmp_path)
    assert "#pragma omp declare simd" in c_source
