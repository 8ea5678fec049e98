"""The loop level is upstream MLIR: `mlir-opt` parses and verifies what aidjit prints.

Runs wherever an upstream `mlir-opt` is installed (Debian: `apt-get install mlir-19-tools`);
elsewhere it is skipped, saying so.
"""

import shutil
import subprocess

import numpy as np
import pytest

import aidjit
from tests.op_cases import CASE_IDS, CASES, Case

MLIR_OPT = next(
    (path for name in ("mlir-opt", "mlir-opt-19", "mlir-opt-20") if (path := shutil.which(name))),
    None,
)

pytestmark = pytest.mark.skipif(
    MLIR_OPT is None, reason="no upstream mlir-opt (apt-get install mlir-19-tools)"
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_mlir_opt_parses_and_verifies_the_loop_level(case: Case, dtype: type) -> None:
    inputs = case.inputs(dtype)
    loops = aidjit.compile(case.fn, *inputs, backend="interpreter").ir("loops")
    result = subprocess.run(
        [MLIR_OPT, "--verify-each"], input=loops, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "func.func @" in result.stdout
