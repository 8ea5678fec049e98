"""aidjit-opt end to end: pipelines, targets, MLIR-style diagnostics, errors without tracebacks.

Most cases run `aidjit.opt.main` in-process (capsys, stdin patched), which is ~50x faster than a
subprocess; one case runs the installed console script.
"""

import io
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.dialects.func import FuncOp
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.lexer import Location

from aidjit.diagnostics import Diagnostic, SourceText, check_expectations, parse_expectations
from aidjit.dialects import graph
from aidjit.errors import UnsupportedError
from aidjit.opt import UPSTREAM_PASSES, main, split_input
from aidjit.passes import AIDJIT_PASSES
from aidjit.pipeline import DEFAULT_PIPELINE

GRAPH = """\
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = graph.constant dense<2.0> : tensor<f32>
  %0 = graph.multiply %x, %c : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
  %1 = graph.exp %0 : tensor<4xf32>
  func.return %1 : tensor<4xf32>
}
"""

INVALID = """\
func.func @f(%x: tensor<4xf32>, %y: tensor<3xf32>) -> tensor<4xf32> {
  %0 = graph.exp %x : tensor<4xf32>
  %1 = graph.add %0, %y : tensor<4xf32>, tensor<3xf32> -> tensor<4xf32>
  func.return %1 : tensor<4xf32>
}
"""

FOLDABLE = """\
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = graph.constant dense<2.0> : tensor<4xf32>
  %0 = graph.multiply %c, %c : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %1 = graph.add %x, %0 : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  func.return %1 : tensor<4xf32>
}
"""

DYNAMIC = """\
func.func @f(%x: tensor<?xf32>) -> tensor<?xf32> {
  func.return %x : tensor<?xf32>
}
"""

LOWER = ("--stage", "loops")


class Result(NamedTuple):
    status: int
    stdout: str
    stderr: str


OptRunner = Callable[..., Result]


@pytest.fixture
def opt(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> OptRunner:
    """`opt(*args, input=...)`: run aidjit-opt in-process on `input` as stdin."""

    def run(*args: str, input: str = GRAPH) -> Result:
        monkeypatch.setattr(sys, "stdin", io.StringIO(input))
        status = main(list(args))
        out, err = capsys.readouterr()
        return Result(status, out, err)

    return run


# ----- pipelines, stages, targets ---------------------------------------------------------------


def test_reads_stdin_and_runs_a_pipeline(opt: OptRunner) -> None:
    result = opt("--stage", "loops")
    assert result.status == 0, result.stderr
    # exp is expanded into arith polynomials at the loop level (expand-math)
    assert "scf.for" in result.stdout and "arith.shli" in result.stdout
    assert "math.exp" not in result.stdout


def test_emits_c_into_an_output_file(opt: OptRunner, tmp_path: Path) -> None:
    out = tmp_path / "f.c"
    result = opt("--stage", "c", "-o", str(out))
    assert result.status == 0, result.stderr
    assert "void f(const float *restrict arg0, float *restrict arg1)" in out.read_text()


def test_reads_a_file_and_prints_generic_form(opt: OptRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.mlir"
    source.write_text(GRAPH)
    result = opt(str(source), "--print-op-generic")
    assert result.status == 0, result.stderr
    assert '"graph.multiply"' in result.stdout


def test_print_debuginfo_shows_the_parsed_locations(opt: OptRunner) -> None:
    result = opt("--print-debuginfo")
    assert result.status == 0, result.stderr
    assert 'graph.exp %0 : tensor<4xf32> loc("<stdin>":4:3)' in result.stdout


@pytest.mark.parametrize(
    ("stage", "present", "absent"),
    [
        ("graph", "graph.multiply", "scf.for"),
        ("optimized", "graph.constant dense<4.000000e+00>", "graph.multiply"),
        ("loops", "scf.for", "graph."),
        ("c", "void f(", "scf.for"),
    ],
)
def test_stage_runs_the_default_pipeline_up_to_a_stop_point(
    opt: OptRunner, stage: str, present: str, absent: str
) -> None:
    result = opt("--stage", stage, input=FOLDABLE)
    assert result.status == 0, result.stderr
    assert present in result.stdout and absent not in result.stdout


def test_stage_c_with_target_c_is_fine_and_with_mlir_an_error(opt: OptRunner) -> None:
    assert opt("--stage", "c", "-t", "c").status == 0
    result = opt("--stage", "c", "-t", "mlir")
    assert result.status == 1 and result.stdout == ""
    assert "--stage c prints C, not -t mlir; for loop-level MLIR use --stage loops" in result.stderr


def test_stage_and_passes_together_are_an_error(opt: OptRunner) -> None:
    result = opt("--stage", "loops", "-p", "cse")
    assert result.status == 1 and "either -p or --stage" in result.stderr


def test_pass_options_reach_the_pass(opt: OptRunner) -> None:
    result = opt("-p", f"{DEFAULT_PIPELINE},arith-add-fastmath{{flags=nnan,ninf}}")
    assert result.status == 0, result.stderr
    assert "fastmath<nnan,ninf> : f32" in result.stdout


# ----- diagnostics: file:line:col at the op, the op alone ----------------------------------------


def test_verifier_error_is_located_at_the_op_and_prints_only_that_op(opt: OptRunner) -> None:
    result = opt(input=INVALID)
    assert result.status == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "<stdin>:3:3: error: graph.add: operands tensor<4xf32> and tensor<3xf32> "
        "cannot be broadcast together"
    )
    assert lines[1:3] == [INVALID.splitlines()[2], "  ^"]
    # The op is printed alone, numbered as in its function; it fails to verify, so in the
    # generic form, as mlir-opt prints an invalid op.
    assert lines[3] == (
        '<stdin>:3:3: note: see current operation: %1 = "graph.add"(%0, %y) : '
        "(tensor<4xf32>, tensor<3xf32>) -> tensor<4xf32>"
    )
    assert len(lines) == 4 and "builtin.module" not in result.stderr


def test_file_diagnostics_name_the_file(opt: OptRunner, tmp_path: Path) -> None:
    source = tmp_path / "bad.mlir"
    source.write_text(INVALID)
    result = opt(str(source))
    assert result.stderr.startswith(f"{source}:3:3: error: graph.add: ")


def test_missing_angle_bracket_is_reported_where_it_is_missing(opt: OptRunner) -> None:
    source = GRAPH.replace("%1 = graph.exp %0 : tensor<4xf32>", "%1 = graph.exp %0 : tensor<4xf32")
    result = opt(input=source)
    assert result.status == 1
    assert result.stderr.startswith("<stdin>:4:35: error: Expected '>' after builtin parameter")
    assert result.stderr.splitlines()[2] == " " * 34 + "^"


def test_unknown_op_is_reported_at_its_name(opt: OptRunner) -> None:
    result = opt(input=GRAPH.replace("graph.exp", "graph.expp"))
    assert result.stderr.startswith("<stdin>:4:8: error: operation 'graph.expp' is not registered")


def test_an_undefined_value_is_reported_at_its_first_use(opt: OptRunner) -> None:
    result = opt(input=GRAPH.replace("graph.exp %0", "graph.exp %9"))
    assert result.stderr.startswith("<stdin>:4:18: error: use of undefined value '%9'")


def test_an_empty_function_body_is_reported_at_the_function(opt: OptRunner) -> None:
    result = opt(input="func.func @f(%x: f32) {\n}\n")
    assert result.stderr.startswith("<stdin>:1:1: error: Operation func.func contains empty block")


def test_a_pass_failure_is_reported_at_the_op_in_its_custom_form(opt: OptRunner) -> None:
    result = opt(*LOWER, input=GRAPH.replace("graph.exp", "math.exp"))
    assert result.status == 1
    assert result.stderr.splitlines()[0] == (
        "<stdin>:4:3: error: bufferize: no bufferization for math.exp"
    )
    # The op as it is now, after the passes before bufferize renumbered its function.
    assert re.search(
        r"note: see current operation: %\d+ = math.exp %\d+ : tensor<4xf32>", result.stderr
    )


@dataclass(frozen=True)
class BreakAddPass(ModulePass):
    """Test pass: inserts a graph.add whose result type is wrong, before the function's return."""

    name = "test-break-add"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        function = next(o for o in op.walk() if isinstance(o, FuncOp))
        x = function.body.blocks[0].args[0]
        bad = graph.AddOp.create(operands=[x, x], result_types=[TensorType(f32, [7])])
        Rewriter.insert_op(bad, InsertPoint.before(function.body.blocks[0].last_op))


@dataclass(frozen=True)
class UnsupportedPass(ModulePass):
    name = "test-unsupported"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        raise UnsupportedError("this module is not supported")


@dataclass(frozen=True)
class BuggyPass(ModulePass):
    name = "test-buggy"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        raise TypeError("a bug")


@pytest.fixture
def test_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    for pass_ in (BreakAddPass, UnsupportedPass, BuggyPass):
        monkeypatch.setitem(AIDJIT_PASSES, pass_.name, lambda p=pass_: p)


@pytest.mark.usefixtures("test_passes")
def test_an_op_a_pass_created_is_reported_at_its_enclosing_function(opt: OptRunner) -> None:
    result = opt("-p", "test-break-add")
    first = result.stderr.splitlines()[0]
    assert first.startswith("<stdin>:1:1: error: graph.add: result type tensor<7xf32>")
    assert first.endswith("(invalid IR after pass test-break-add)")


@pytest.mark.usefixtures("test_passes")
def test_an_error_without_an_op_is_reported_at_file_0_0(opt: OptRunner) -> None:
    result = opt("-p", "test-unsupported")
    assert result.status == 1
    assert result.stderr == "<stdin>:0:0: error: test-unsupported: this module is not supported\n"


@pytest.mark.usefixtures("test_passes")
def test_a_bug_is_one_line_without_traceback_unless_debugging(
    opt: OptRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = opt("-p", "test-buggy")
    assert result.status == 2
    assert "internal error (TypeError): a bug; run with AIDJIT_DEBUG=1" in result.stderr
    assert "Traceback" not in result.stderr
    monkeypatch.setenv("AIDJIT_DEBUG", "1")
    with pytest.raises(TypeError, match="a bug"):
        opt("-p", "test-buggy")


# ----- --split-input-file and --verify-diagnostics --------------------------------------------


SPLIT = f"{INVALID}// -----\n{GRAPH}// -----\n{INVALID}"


def test_split_input_file_runs_every_chunk_and_fails_at_the_end(opt: OptRunner) -> None:
    result = opt("--split-input-file", input=SPLIT)
    assert result.status == 1
    outputs = result.stdout.split("// -----\n")
    assert len(outputs) == 3 and outputs[0] == outputs[2] == ""
    assert "graph.exp" in outputs[1]
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    # Line numbers count in the whole file: the third chunk starts on line 14.
    assert [e.split(": error:")[0] for e in errors] == ["<stdin>:3:3", "<stdin>:16:3"]


def test_split_input_keeps_whole_file_line_numbers() -> None:
    chunks = split_input("a\n// -----\nb\nc\n// -----\n", "f.mlir", split=True)
    assert [(c.text, c.line_offset) for c in chunks] == [("a\n", 0), ("b\nc\n", 2), ("", 5)]
    assert chunks[1].location(2) == ("f.mlir", 4, 1)


def test_an_empty_chunk_is_an_empty_module(opt: OptRunner) -> None:
    result = opt("--split-input-file", input=f"// -----\n// just a comment\n// -----\n{GRAPH}")
    assert result.status == 0, result.stderr
    assert result.stdout.count("builtin.module {\n}") == 2


EXPECTED = INVALID.replace(
    "  %1 = graph.add", "  // expected-error@+1 {{cannot be broadcast together}}\n  %1 = graph.add"
)


def test_verify_diagnostics_accepts_matching_annotations(opt: OptRunner) -> None:
    result = opt("--verify-diagnostics", "--split-input-file", input=f"{EXPECTED}// -----\n{GRAPH}")
    assert result.status == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("source", "messages"),
    [
        (INVALID, ["<stdin>:3:3: error: unexpected error: graph.add: operands"]),
        (EXPECTED.replace("@+1", "@+2"), ["unexpected error", 'expected error "cannot be']),
        (GRAPH.replace("{", "{ // expected-error {{never}}", 1), ['"never" was not produced']),
        (EXPECTED.replace("broadcast", "Broadcast"), ['"cannot be Broadcast together" was not']),
    ],
    ids=["unexpected", "wrong-line", "unmet", "wrong-text"],
)
def test_verify_diagnostics_rejects_mismatches(
    opt: OptRunner, source: str, messages: list[str]
) -> None:
    result = opt("--verify-diagnostics", input=source)
    assert result.status == 1
    for message in messages:
        assert message in result.stderr


@pytest.mark.parametrize(
    ("annotation", "line"),
    [("", 3), ("@+2", 5), ("@-1", 2), ("@above", 2), ("@below", 4), (" @+1", 4), ("@unknown", 0)],
)
def test_expectation_offsets(annotation: str, line: int) -> None:
    source = SourceText(f"a\nb\n// expected-error{annotation} {{{{some text}}}}\n", "f", 1)
    (expectation,) = parse_expectations(source)
    assert (expectation.line, expectation.severity, expectation.text) == (
        line,
        "error",
        "some text",
    )


def test_check_expectations_matches_line_severity_and_substring() -> None:
    (expectation,) = parse_expectations(SourceText("x // expected-error {{b c}}\n", "f"))
    produced = [Diagnostic(Location("f", 1, 3), "a b c d")]
    assert check_expectations([expectation], produced) == []
    assert len(check_expectations([expectation], [])) == 1
    warning = Diagnostic(Location("f", 1, 3), "a b c d", severity="warning")
    assert len(check_expectations([expectation], [warning])) == 2


# ----- the C target, pass names, --help, --version, --time-passes -----------------------------


def test_c_target_on_graph_level_ir_names_the_stage_it_needs(opt: OptRunner) -> None:
    result = opt("-t", "c")
    assert result.status == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("<stdin>:2:3: error: the C target needs loop-level IR")
    assert "'graph.constant' is still at the graph level" in first
    assert f"run with --stage c, or add the lowering passes: -p {DEFAULT_PIPELINE}" in first


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("canonicalise", "canonicalize"),
        ("convert-graph-to-linalgg", "convert-graph-to-linalg"),
        ("scf-for-loop-unrol", "scf-for-loop-unroll"),
    ],
)
def test_unknown_pass_suggests_the_closest_name(opt: OptRunner, name: str, suggestion: str) -> None:
    result = opt("-p", f"cse,{name}")
    assert result.status == 1
    assert f"unknown pass '{name}'; did you mean '{suggestion}'?" in result.stderr


def test_help_lists_aidjit_passes_and_only_upstream_ones_that_apply(opt: OptRunner) -> None:
    result = opt("--help")
    assert result.status == 0
    help_text = " ".join(result.stdout.split())  # argparse wraps lines
    assert (
        "convert-graph-to-linalg Lower graph-dialect ops to linalg, tensor and arith" in help_text
    )
    for name in (*AIDJIT_PASSES, *UPSTREAM_PASSES):
        assert f"  {name}  " in result.stdout
    for foreign in ("riscv", "snitch", "csl", "wgsl", "llvm", "x86", "stencil"):
        assert foreign not in help_text
    assert "or c: the C source aidjit compiles" in help_text


def test_only_working_targets_are_accepted(opt: OptRunner) -> None:
    result = opt("-t", "llvm")
    assert result.status == 2
    assert "unknown target 'llvm' (choose from mlir, c)" in result.stderr
    assert "ModuleNotFoundError" not in result.stderr


def test_version_names_aidjit_and_xdsl(opt: OptRunner) -> None:
    result = opt("--version")
    assert result.status == 0
    assert result.stdout == f"aidjit-opt {version('aidjit')} (xDSL {version('xdsl')})\n"


def test_time_passes_and_ir_dumps_go_to_stderr(opt: OptRunner) -> None:
    plain = opt("-p", "cse,canonicalize")
    timed = opt("-p", "cse,canonicalize", "--time-passes", "--print-between-passes")
    assert timed.status == 0 and timed.stdout == plain.stdout
    assert "pass timings" in timed.stderr and " ms  canonicalize" in timed.stderr
    assert "// -----// IR Dump After cse //----- //" in timed.stderr


@pytest.mark.parametrize(
    ("args", "source", "message"),
    [
        (("-p", "no-such-pass"), GRAPH, "unknown pass 'no-such-pass'"),
        ((), "func.func @f( {", "error: "),
        (("/nonexistent/input.mlir",), "", "/nonexistent/input.mlir"),
        (LOWER, DYNAMIC, "<stdin>:1:1: error: convert-graph-to-linalg: @f: dynamic shape"),
        (
            LOWER,
            DYNAMIC.replace("?x", "4x").replace("f32", "f16"),
            "<stdin>:1:1: error: convert-graph-to-linalg: @f: element type of tensor<4xf16>",
        ),
        (("-p", "cse{"), GRAPH, "Expected argument name here"),
        (("-p", "canonicalize{bogus=1}"), GRAPH, '["bogus"] not found'),
    ],
    ids=[
        "unknown-pass",
        "syntax",
        "missing",
        "dynamic-shape",
        "f16",
        "malformed-pipeline",
        "unknown-pass-option",
    ],
)
def test_errors_are_diagnostics_not_tracebacks(
    opt: OptRunner, args: tuple[str, ...], source: str, message: str
) -> None:
    result = opt(*args, input=source)
    assert result.status == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_the_console_script_runs() -> None:
    executable = shutil.which("aidjit-opt", path=str(Path(sys.executable).parent))
    assert executable is not None, "aidjit-opt is not installed beside this Python"
    result = subprocess.run(
        [executable, "-p", "no-such-pass"], input=GRAPH, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.startswith("aidjit-opt: error: unknown pass 'no-such-pass'")
