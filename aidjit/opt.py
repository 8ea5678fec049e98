"""aidjit-opt: xDSL's opt driver with the graph dialect, aidjit's passes and the C target.

    aidjit-opt input.mlir -p canonicalize,cse,convert-graph-to-loops -t c -o out.c
    aidjit-opt input.mlir --stage loops        # the default pipeline up to a named stop point

Every failure — unparsable input, invalid IR, an unknown pass, an op the C emitter cannot
handle — ends as a one-line diagnostic on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from aidjit.debug import debug_level
from aidjit.dialects.graph import Graph
from aidjit.errors import AidjitError, PipelineError
from aidjit.passes import AIDJIT_PASSES
from aidjit.pipeline import STAGES, pipeline_to_stage


def _c_target() -> type:
    from aidjit.runtime.emit_c import CTarget

    return CTarget


class AidjitOptMain(xDSLOptMain):
    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        self.ctx.register_dialect("graph", lambda: Graph)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        for name, factory in AIDJIT_PASSES.items():
            self.register_pass(name, factory)

    def register_all_targets(self) -> None:
        super().register_all_targets()
        self.available_targets["c"] = _c_target

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--stage",
            choices=STAGES,
            help="run the default pipeline up to this stop point (c also selects -t c); "
            "the same stages as CompiledFunction.ir(stage)",
        )

    def setup_pipeline(self) -> None:
        if self.args.stage is not None:
            if self.args.passes:
                raise PipelineError("give either -p or --stage, not both")
            self.args.passes = pipeline_to_stage(self.args.stage)
            if self.args.stage == "c":
                self.args.target = "c"
        super().setup_pipeline()


def main(args: Sequence[str] | None = None) -> int:
    try:
        AidjitOptMain(description="aidjit's pass-pipeline tool", args=args).run()
    except (ParseError, DiagnosticException, ArgSpecParseError) as error:
        print(error, file=sys.stderr)
        for note in getattr(error, "__notes__", ()):
            print(note, file=sys.stderr)
        return 1
    except (AidjitError, ValueError, KeyError, NotImplementedError, OSError) as error:
        print(f"aidjit-opt: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # a bug in a pass or the emitter: still no traceback by default
        if debug_level() >= 1:
            raise
        print(
            f"aidjit-opt: internal error ({type(error).__name__}): {error}\n"
            "run with AIDJIT_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return 2
    return 0


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
