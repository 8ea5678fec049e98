"""aidjit-opt end to end: pipelines, targets, output files, errors without tracebacks."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GRAPH = """
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = graph.constant dense<2.0> : tensor<f32>
  %0 = graph.multiply %x, %c : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
  %1 = graph.exp %0 : tensor<4xf32>
  func.return %1 : tensor<4xf32>
}
"""

INVALID = """
func.func @f(%x: tensor<4xf32>, %y: tensor<3xf32>) -> tensor<4xf32> {
  %0 = graph.add %x, %y : tensor<4xf32>, tensor<3xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
"""

FOLDABLE = """
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = graph.constant dense<2.0> : tensor<4xf32>
  %0 = graph.multiply %c, %c : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %1 = graph.add %x, %0 : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  func.return %1 : tensor<4xf32>
}
"""

DYNAMIC = """
func.func @f(%x: tensor<?xf32>) -> tensor<?xf32> {
  func.return %x : tensor<?xf32>
}
"""

LOWER = ("-p", "convert-graph-to-loops")


def aidjit_opt(*args: str, input: str = GRAPH) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("aidjit-opt", path=str(Path(sys.executable).parent))
    assert executable is not None, "aidjit-opt is not installed beside this Python"
    return subprocess.run([executable, *args], input=input, capture_output=True, text=True)


def test_reads_stdin_and_runs_a_pipeline() -> None:
    result = aidjit_opt("-p", "canonicalize,convert-graph-to-loops")
    assert result.returncode == 0, result.stderr
    assert "scf.for" in result.stdout and "math.exp" in result.stdout


def test_emits_c_into_an_output_file(tmp_path: Path) -> None:
    out = tmp_path / "f.c"
    result = aidjit_opt("-p", "convert-graph-to-loops", "-t", "c", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "void f(const float *restrict arg0, float *restrict arg1)" in out.read_text()


def test_reads_a_file_and_prints_generic_form(tmp_path: Path) -> None:
    source = tmp_path / "in.mlir"
    source.write_text(GRAPH)
    result = aidjit_opt(str(source), "--print-op-generic")
    assert result.returncode == 0, result.stderr
    assert '"graph.multiply"' in result.stdout


@pytest.mark.parametrize(
    ("stage", "present", "absent"),
    [
        ("graph", "graph.multiply", "scf.for"),
        ("optimized", "graph.constant dense<4.000000e+00>", "graph.multiply"),
        ("loops", "scf.for", "graph."),
        ("c", "void f(", "scf.for"),
    ],
)
def test_stage_runs_the_default_pipeline_up_to_a_stop_point(stage, present, absent) -> None:
    result = aidjit_opt("--stage", stage, input=FOLDABLE)
    assert result.returncode == 0, result.stderr
    assert present in result.stdout and absent not in result.stdout


def test_stage_and_passes_together_are_an_error() -> None:
    result = aidjit_opt("--stage", "loops", "-p", "cse")
    assert result.returncode == 1 and "either -p or --stage" in result.stderr


def test_pass_options_parse() -> None:
    result = aidjit_opt("-p", "canonicalize{max-iterations=2},cse")
    assert result.returncode in (0, 1)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "source", "message"),
    [
        (("-p", "no-such-pass"), GRAPH, "no-such-pass"),
        ((), "func.func @f( {", "Expected"),
        ((), INVALID, "graph.add: operands tensor<4xf32> and tensor<3xf32> cannot be broadcast"),
        (("-t", "c"), GRAPH, "does not support 'graph."),
        (("-t", "no-such-target"), GRAPH, "no-such-target"),
        (("/nonexistent/input.mlir",), "", "/nonexistent/input.mlir"),
        (LOWER, DYNAMIC, "dynamic shape in tensor<?xf32>"),
        (LOWER, DYNAMIC.replace("?x", "4x").replace("f32", "f16"), "element type of tensor<4xf16>"),
        (LOWER, GRAPH.replace("graph.exp", "math.exp"), "no lowering for math.exp"),
        (("-p", "cse{"), GRAPH, "Expected argument name here"),
        (("-p", "canonicalize{bogus=1}"), GRAPH, '["bogus"] not found'),
    ],
    ids=[
        "unknown-pass",
        "syntax",
        "invalid-ir",
        "c-from-graph-level",
        "unknown-target",
        "missing",
        "dynamic-shape",
        "f16",
        "non-graph-op",
        "malformed-pipeline",
        "unknown-pass-option",
    ],
)
def test_errors_are_diagnostics_not_tracebacks(args, source, message) -> None:
    result = aidjit_opt(*args, input=source)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
