"""The one registry of pass names, shared by `aidjit-opt -p` and the Python pipeline.

xDSL's own passes (canonicalize, cse, dce, ...) are reused as they are; aidjit's are added
here, imported lazily like xDSL's so that naming a pipeline costs nothing until it runs.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass
from xdsl.transforms import get_all_passes as get_xdsl_passes


def _convert_graph_to_loops() -> type[ModulePass]:
    from aidjit.lowering.convert_graph_to_loops import ConvertGraphToLoopsPass

    return ConvertGraphToLoopsPass


AIDJIT_PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "convert-graph-to-loops": _convert_graph_to_loops,
}

LOWERING_TO_LOOPS = "convert-graph-to-loops"
"""The pass that ends the graph level: what runs before it is the `optimized` stage."""


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return get_xdsl_passes() | AIDJIT_PASSES
