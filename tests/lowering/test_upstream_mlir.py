"""Every stage from `linalg` down is upstream MLIR: `mlir-opt` parses and verifies it.

Runs wherever an upstream `mlir-opt` is installed (Debian: `apt-get install mlir-19-tools`);
elsewhere it is skipped, saying so.
"""

import shutil
import subprocess

import numpy as np
import pytest

import aidjit
from tests.op_cases import COMPILED, COMPILED_IDS, Case

MLIR_OPT = next(
    (path for name in ("mlir-opt", "mlir-opt-19", "mlir-opt-20") if (path := shutil.which(name))),
    None,
)

pytestmark = pytest.mark.skipif(
    MLIR_OPT is None, reason="no upstream mlir-opt (apt-get install mlir-19-tools)"
)

UPSTREAM_STAGES = ["linalg", "fused", "bufferized", "loops"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", COMPILED, ids=COMPILED_IDS)
def test_mlir_opt_parses_and_verifies_every_stage_from_linalg_down(case: Case, dtype: type) -> None:
    inputs = case.inputs(dtype)
    compiled = aidjit.compile(case.fn, *inputs, backend="interpreter")
    for stage in UPSTREAM_STAGES:
        result = subprocess.run(
            [MLIR_OPT, "--verify-each"], input=compiled.ir(stage), capture_output=True, text=True
        )
        assert result.returncode == 0, f"stage {stage}:\n{result.stderr}"
        assert "func.func @" in result.stdout
