"""aidjit-opt: aidjit's `mlir-opt`: the graph dialect, aidjit's passes and the C target.

    aidjit-opt input.mlir -p canonicalize,cse,convert-graph-to-linalg -o linalg.mlir
    aidjit-opt input.mlir --stage loops        # the default pipeline up to a named stop point
    aidjit-opt invalid.mlir --split-input-file --verify-diagnostics

It speaks like `mlir-opt`: every failure in the input (a parse error, invalid IR, a pass or the
target failing on an op) is a diagnostic `file:line:col: error: message` on stderr at the op at
fault, followed by the source line and the op as it is now (see `aidjit.diagnostics`). With
`--split-input-file` every chunk runs, and the exit status is 1 if any failed. Command-line
mistakes are `aidjit-opt: error: ...`. A bug in aidjit is reported in one line (exit status 2);
`AIDJIT_DEBUG=1` shows its traceback.

Built on xDSL's `xDSLOptMain` for its registries, its argument set and its MLIR printer; the
driver loop (`run`) is aidjit's own, since xDSL's stops at the first failing chunk and reports
errors without locations.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from typing import IO, ClassVar

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.dialects.func import FuncOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.targets.mlir import MLIRTarget
from xdsl.universe import Universe
from xdsl.utils.arg_spec import parse_pipeline as parse_pipeline_spec
from xdsl.utils.arg_spec import parse_spec
from xdsl.utils.exceptions import (
    ArgSpecParseError,
    DiagnosticException,
    ParseError,
    VerifyException,
)
from xdsl.utils.lexer import Location
from xdsl.xdsl_opt_main import xDSLOptMain

from aidjit.debug import debug_level
from aidjit.diagnostics import (
    Diagnostic,
    LocatingParser,
    SourceText,
    blamed_op,
    check_expectations,
    find_verify_error,
    op_diagnostic,
    parse_error_diagnostic,
    parse_expectations,
)
from aidjit.dialects.graph import Graph
from aidjit.dialects.xdsl_fixes import ARITH
from aidjit.errors import AidjitError, PipelineError, UnsupportedError
from aidjit.passes import AIDJIT_PASSES
from aidjit.pipeline import DEFAULT_PIPELINE, STAGES, parse_pipeline, pipeline_to_stage

UPSTREAM_PASSES: dict[str, str] = {
    "canonicalize": "Fold and canonicalize to a fixpoint, erasing dead pure ops",
    "cse": "Merge identical side-effect-free ops",
    "dce": "Erase unused side-effect-free ops",
    "licm": "Hoist loop-invariant ops out of scf.for",
    "constant-fold-interp": "Fold ops on integer constants by interpreting them",
    "convert-linalg-to-loops": "Lower linalg ops on memrefs to scf.for nests",
    "linalg-generalize-named-ops": "Turn named linalg ops into linalg.generic",
    "loop-hoist-memref": "Hoist loads and stores of one address out of scf.for",
    "lower-affine": "Lower affine ops to scf and arith",
    "scf-for-loop-flatten": "Merge perfectly nested scf.for loops with static ranges",
    "scf-for-loop-range-folding": "Fold adds and multiplies of the induction variable into bounds",
    "scf-for-loop-unroll": "Fully unroll scf.for loops with constant bounds",
    "convert-scf-to-cf": "Lower scf to cf branches (MLIR output only: the C target needs scf)",
    "arith-add-fastmath": "Add fastmath flags to float arith ops (option flags=fast|nnan,...)",
    "reconcile-unrealized-casts": "Fold away pairs of unrealized conversion casts",
}
"""xDSL's passes that do something useful on aidjit's IR (graph, or func/scf/memref/arith/math),
each checked to keep the loop-level output valid: the ones `--help` lists. Every other xDSL pass
stays runnable by name, so that a pipeline string means the same in `aidjit-opt -p` and in
`aidjit.compile(pipeline=...)`; most are for dialects aidjit never produces (riscv, snitch, csl,
stencil, ...) and would do nothing here."""

SPLIT_MARKER = "// -----"

_EXIT_FAILED = 1
_EXIT_INTERNAL = 2

_PASS_ERRORS = (AidjitError, DiagnosticException, ValueError, NotImplementedError)
"""What a pass or a target raises for input it cannot handle; anything else is a bug in it."""


def _c_target() -> type:
    from aidjit.runtime.emit_c import CTarget

    return CTarget


class _ChunkFailed(Exception):
    """Processing one input chunk stopped at a diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic


def did_you_mean(name: str, preferred: Sequence[str], others: Sequence[str] = ()) -> str:
    """`; did you mean 'cse'?`, from the closest name in `preferred`, else in `others`, or ''."""
    for candidates in (preferred, others):
        if close := difflib.get_close_matches(name, candidates, n=1):
            return f"; did you mean '{close[0]}'?"
    return ""


def split_input(text: str, name: str, split: bool) -> list[SourceText]:
    """The chunks between `// -----` lines, each numbered by its lines in the whole file."""
    if not split:
        return [SourceText(text, name)]
    chunks: list[SourceText] = []
    lines: list[str] = []
    first_line = 1
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.strip() != SPLIT_MARKER:
            lines.append(line)
            continue
        chunks.append(SourceText("".join(lines), name, first_line))
        lines, first_line = [], number + 1
    chunks.append(SourceText("".join(lines), name, first_line))
    return chunks


def _is_blank(text: str) -> bool:
    """Only whitespace and `//` comments: an empty module (xDSL's parser rejects it)."""
    return all(not line.strip() or line.strip().startswith("//") for line in text.splitlines())


def _above_loop_level(module: ModuleOp) -> Operation | None:
    """The first graph op, else the first linalg op, else the first op on tensors: IR still
    above the loop level."""
    ops = list(module.walk())
    for dialect in ("graph", "linalg"):
        op = next((op for op in ops if op.dialect_name() == dialect), None)
        if op is not None:
            return op
    return next((op for op in ops if _on_tensors(op)), None)


def _on_tensors(op: Operation) -> bool:
    types = [*op.operand_types, *op.result_types]
    if isinstance(op, FuncOp):
        types += [*op.function_type.inputs.data, *op.function_type.outputs.data]
    return any(isinstance(t, TensorType) for t in types)


def _passes_help() -> str:
    """The pass list `--help` ends with: aidjit's passes and the upstream ones for its IR."""
    aidjit = {name: _summary(factory()) for name, factory in AIDJIT_PASSES.items()}
    sections = [("aidjit's passes", aidjit), ("upstream passes for aidjit's IR", UPSTREAM_PASSES)]
    width = max(len(name) for _, passes in sections for name in passes) + 2
    lines = []
    for title, passes in sections:
        lines.append(f"{title} (-p):")
        lines += [f"  {name:<{width}}{summary}" for name, summary in passes.items()]
    lines.append("any other xDSL pass is accepted by name too, as in aidjit.compile(pipeline=...)")
    return "\n".join(lines)


def _summary(pass_: type[ModulePass]) -> str:
    """A pass's summary: the first line of its docstring, without the full stop."""
    return (pass_.__doc__ or "").strip().splitlines()[0].rstrip(".")


class _HelpParser(argparse.ArgumentParser):
    """Builds the pass list only for --help: it imports every listed pass."""

    def format_help(self) -> str:
        self.epilog = _passes_help()
        return super().format_help()


class AidjitOptMain(xDSLOptMain):
    """xDSL's opt driver with aidjit's dialect, passes, targets and an MLIR-style driver loop."""

    version_format: ClassVar[str] = f"aidjit-opt {version('aidjit')} (xDSL {{xdsl_version}})"

    passes: list[ModulePass]

    def __init__(self, args: Sequence[str] | None = None) -> None:
        # Not xDSLOptMain.__init__: it validates -t against every xDSL target before --stage can
        # choose one, and its --disable-verify patches Attribute globally, which would leak into
        # the library when main() runs in-process.
        self.available_frontends = {}
        self.available_passes = {}
        self.available_targets = {}
        self.ctx = Context()
        self.register_all_dialects()
        self.register_all_frontends()
        self.register_all_passes()
        self.register_all_targets()
        arg_parser = _HelpParser(
            prog="aidjit-opt",
            description="aidjit's pass-pipeline tool: parse MLIR, run passes, print MLIR or C",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.register_all_arguments(arg_parser)
        self.timings: list[tuple[str, float]] = []
        self.args = arg_parser.parse_args(args=args)
        self.ctx.allow_unregistered = self.args.allow_unregistered_dialect
        self.args.target = self._choose_target(arg_parser)
        self.setup_pipeline()

    # ----- registries -------------------------------------------------------------------------

    def register_all_dialects(self) -> None:
        # xDSL's dialects, with its arith replaced by the one whose comparisons and select take
        # vectors (aidjit.dialects.xdsl_fixes), and aidjit's graph dialect.
        factories = dict(Universe.get_multiverse().all_dialects)
        factories["arith"] = lambda: ARITH
        factories["graph"] = lambda: Graph
        for name, factory in factories.items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        for name, factory in AIDJIT_PASSES.items():
            self.register_pass(name, factory)

    def register_all_targets(self) -> None:
        # Only the targets that can print aidjit's IR: xDSL's others need dialects aidjit never
        # produces (riscv, x86, csl, wgsl) or packages it does not install (llvm: llvmlite).
        self.available_targets = {"mlir": lambda: MLIRTarget, "c": _c_target}

    @property
    def listed_passes(self) -> tuple[str, ...]:
        """The passes `--help` shows and suggestions come from first."""
        return (*AIDJIT_PASSES, *UPSTREAM_PASSES)

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        actions = {action.dest: action for action in arg_parser._actions}
        actions["passes"].help = (
            "comma-separated pass pipeline, options as name{option=value}; the passes for "
            "aidjit's IR are listed below"
        )
        actions["target"].help = (
            "output format: mlir (the default), or c: the C source aidjit compiles, "
            "from loop-level IR"
        )
        actions["target"].default = None  # so that --stage c can tell an explicit -t mlir
        actions["version"].help = "print aidjit-opt's and xDSL's versions"
        actions["time_passes"].help = "print each pass's wall time to stderr"
        actions["print_between_passes"].help = "print the IR after each pass but the last to stderr"
        actions["verify_diagnostics"].help = (
            "check the diagnostics against the input's `// expected-error {{...}}` "
            "annotations (also @+N, @-N, @above, @below, @unknown); exit 0 if they all match"
        )
        actions["parsing_diagnostics"].help = "print parse errors to stdout and exit 0 (xDSL's)"
        actions["shrink"].help = argparse.SUPPRESS  # for xDSL's passes under shrinkray only
        arg_parser.add_argument(
            "--view-op-graph",
            metavar="PATH",
            nargs="?",
            const="-",
            help="also draw the output as a Graphviz graph (graph or structured level): to "
            "stderr as dot text, or to PATH (SVG when Graphviz's dot is installed)",
        )
        arg_parser.add_argument(
            "--stage",
            choices=STAGES,
            help="run the default pipeline up to this stop point (c also selects -t c); "
            "the same stages as CompiledFunction.ir(stage)",
        )

    # ----- command line -----------------------------------------------------------------------

    def _choose_target(self, arg_parser: argparse.ArgumentParser) -> str:
        target = self.args.target
        if self.args.stage == "c":
            if target is not None and parse_spec(target).name != "c":
                raise PipelineError(
                    f"--stage c prints C, not -t {target}; for loop-level MLIR use --stage loops"
                )
            return target or "c"
        target = target or "mlir"
        name = parse_spec(target).name
        if name not in self.available_targets:
            arg_parser.error(
                f"argument -t/--target: unknown target '{name}'"
                f"{did_you_mean(name, list(self.available_targets))} "
                f"(choose from {', '.join(self.available_targets)})"
            )
        return target

    def setup_pipeline(self) -> None:
        spec = self.args.passes
        if self.args.stage is not None:
            if spec:
                raise PipelineError("give either -p or --stage, not both")
            spec = pipeline_to_stage(self.args.stage)
        for name in self._pass_names(spec):
            if name not in self.available_passes:
                hint = did_you_mean(name, self.listed_passes, list(self.available_passes))
                raise PipelineError(f"unknown pass '{name}'{hint} (see aidjit-opt --help)")
        self.passes = parse_pipeline(spec)

    @staticmethod
    def _pass_names(spec: str) -> list[str]:
        try:
            return [pass_spec.name for pass_spec in parse_pipeline_spec(spec)]
        except ArgSpecParseError:  # malformed: parse_pipeline reports it with its position
            return []

    # ----- the driver ---------------------------------------------------------------------------

    def run(self) -> int:  # type: ignore[override]  # xDSL's returns None and may exit()
        """Process every chunk; return the exit status (0, 1 if any chunk failed, 2 on a bug)."""
        text, name = self._read_input()
        status = 0
        output = self.prepare_output()
        try:
            for index, chunk in enumerate(split_input(text, name, self.args.split_input_file)):
                if index:
                    output.write(f"{SPLIT_MARKER}\n")
                status = max(status, self._run_chunk(chunk, output))
        finally:
            if output is not sys.stdout:
                output.close()
        return status

    def _read_input(self) -> tuple[str, str]:
        if self.args.input_file is None:
            return sys.stdin.read(), "<stdin>"
        with open(self.args.input_file, encoding="utf-8") as file:
            return file.read(), self.args.input_file

    def _run_chunk(self, chunk: SourceText, output: IO[str]) -> int:
        status = 0
        produced: list[Diagnostic] = []
        try:
            output.write(self._process(chunk))
        except ParseError as error:
            diagnostic = parse_error_diagnostic(error, chunk)
            if self.args.parsing_diagnostics:  # xDSL's flag: the error on stdout, as a success
                print(diagnostic)
                return 0
            produced.append(diagnostic)
        except _ChunkFailed as failure:
            produced.append(failure.diagnostic)
        except Exception as error:  # a bug in a pass or a target: still no traceback by default
            if debug_level() >= 1:
                raise
            status = _EXIT_INTERNAL
            message = (
                f"internal error ({type(error).__name__}): {error}; "
                "run with AIDJIT_DEBUG=1 for the traceback"
            )
            produced.append(Diagnostic(Location(chunk.name, 0, 0), message))
        output.flush()  # the chunk's output before its diagnostics, also through 2>&1
        if self.args.verify_diagnostics:
            produced = check_expectations(parse_expectations(chunk), produced)
        for diagnostic in produced:
            print(diagnostic, file=sys.stderr)
        return max(status, _EXIT_FAILED if produced else 0)

    def _process(self, chunk: SourceText) -> str:
        """Parse, verify, run the passes (verifying after each), print: the chunk's output."""
        if _is_blank(chunk.text):
            module = ModuleOp([])
        else:
            module = LocatingParser(self.ctx, chunk).parse_module(not self.args.no_implicit_module)
        self._verify(module, chunk)
        self.timings = []
        for pass_ in self.passes:
            self._apply(pass_, module, chunk)
            if self.args.print_between_passes and pass_ is not self.passes[-1]:
                print(
                    f"// -----// IR Dump After {pass_.name} //----- //\n{module}", file=sys.stderr
                )
        if self.args.time_passes:
            self._report_timings()
        if self.args.view_op_graph is not None:
            self._view_op_graph(module, chunk)
        if parse_spec(self.args.target).name == "c" and (op := _above_loop_level(module)):
            raise _ChunkFailed(op_diagnostic(op, self._not_loop_level(op), chunk))
        try:
            return self.output_resulting_program(module)
        except _PASS_ERRORS as error:
            raise _ChunkFailed(op_diagnostic(blamed_op(error), str(error), chunk)) from None

    def _view_op_graph(self, module: ModuleOp, chunk: SourceText) -> None:
        from aidjit.visualize import module_to_dot, render

        try:
            text = module_to_dot(module)
        except UnsupportedError as error:
            raise _ChunkFailed(op_diagnostic(blamed_op(error), str(error), chunk)) from None
        if self.args.view_op_graph == "-":
            print(text, file=sys.stderr)
        else:
            render(text, self.args.view_op_graph)

    def _apply(self, pass_: ModulePass, module: ModuleOp, chunk: SourceText) -> None:
        start = time.perf_counter()
        try:
            pass_.apply(self.ctx, module)
        except _PASS_ERRORS as error:
            message = str(error)
            if not message.startswith(pass_.name):
                message = f"{pass_.name}: {message}"
            raise _ChunkFailed(op_diagnostic(blamed_op(error), message, chunk)) from None
        self.timings.append((pass_.name, time.perf_counter() - start))
        self._verify(module, chunk, after=pass_.name)

    def _verify(self, module: ModuleOp, chunk: SourceText, after: str | None = None) -> None:
        if self.args.disable_verify:
            return
        try:
            module.verify()
        except VerifyException as error:
            op, message = find_verify_error(module, error)
            if after is not None:
                message = f"{message} (invalid IR after pass {after})"
            raise _ChunkFailed(op_diagnostic(op, message, chunk)) from None

    def _not_loop_level(self, op: Operation) -> str:
        level = {"graph": "graph", "linalg": "structured (linalg)"}.get(op.dialect_name(), "tensor")
        return (
            f"the C target needs loop-level IR (func, scf, memref, arith, math), but '{op.name}' "
            f"is still at the {level} level; run with --stage c, or add the lowering passes: "
            f"-p {DEFAULT_PIPELINE}"
        )

    def _report_timings(self) -> None:
        total = sum(seconds for _, seconds in self.timings)
        lines = [f"aidjit-opt: pass timings (total {total * 1e3:.3f} ms)"]
        lines += [f"  {seconds * 1e3:10.3f} ms  {name}" for name, seconds in self.timings]
        print("\n".join(lines), file=sys.stderr)


def main(args: Sequence[str] | None = None) -> int:
    """Run aidjit-opt with `args` (default: the command line); return the exit status."""
    try:
        return AidjitOptMain(args).run()
    except SystemExit as exit_:  # argparse: --help, --version, a malformed command line
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        return _EXIT_FAILED
    except (AidjitError, ValueError, OSError, ArgSpecParseError) as error:
        print(f"aidjit-opt: error: {error}", file=sys.stderr)
        return _EXIT_FAILED
    except Exception as error:  # a bug: still no traceback by default
        if debug_level() >= 1:
            raise
        print(
            f"aidjit-opt: internal error ({type(error).__name__}): {error}\n"
            "run with AIDJIT_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return _EXIT_INTERNAL


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
