"""Every stage from `linalg` down is upstream MLIR: `mlir-opt` parses and verifies it.

`mlir_opt_failures` runs it on the stages of one pipeline run (tests/staged.py):
tests/api/test_compiled_ops.py checks every op case's forward pass, f32 and f64, on the run it
interprets. Runs wherever an upstream `mlir-opt` is installed (Debian: `apt-get install
mlir-19-tools`); elsewhere the test below is skipped, saying so, and the op cases' check is
empty.
"""

import shutil
import subprocess

import numpy as np
import pytest

from aidjit import ops
from tests.staged import Staged, staged

MLIR_OPT = next(
    (path for name in ("mlir-opt", "mlir-opt-19", "mlir-opt-20") if (path := shutil.which(name))),
    None,
)

UPSTREAM_STAGES = ["linalg", "fused", "bufferized", "loops"]


def mlir_opt_failures(stages: Staged) -> list[str]:
    """What `mlir-opt --verify-each` rejects of each of `UPSTREAM_STAGES` (nothing without it)."""
    if MLIR_OPT is None:
        return []
    failures = []
    for stage in UPSTREAM_STAGES:
        result = subprocess.run(
            [MLIR_OPT, "--verify-each"], input=stages.text(stage), capture_output=True, text=True
        )
        if result.returncode != 0 or "func.func @" not in result.stdout:
            failures.append(f"mlir-opt rejects stage {stage}:\n{result.stderr}")
    return failures


@pytest.mark.skipif(MLIR_OPT is None, reason="no upstream mlir-opt (apt-get install mlir-19-tools)")
def test_mlir_opt_parses_and_verifies_every_stage_from_linalg_down() -> None:
    """A dense layer with a softmax passes; the graph level, which is aidjit's own dialect,
    does not, at each stage it stands in for."""
    x, w = np.ones((3, 5), np.float32), np.ones((5, 7), np.float32)
    stages = staged(lambda a, b: ops.softmax(a @ b), x, w)
    assert mlir_opt_failures(stages) == []
    graph_only = Staged({stage: stages.modules["graph"] for stage in UPSTREAM_STAGES}, ())
    assert [f.splitlines()[0] for f in mlir_opt_failures(graph_only)] == [
        f"mlir-opt rejects stage {stage}:" for stage in UPSTREAM_STAGES
    ]
