"""The one registry of pass names, shared by `aidjit-opt -p` and the Python pipeline.

xDSL's own passes (canonicalize, cse, dce, convert-linalg-to-loops, ...) are reused as they are;
aidjit's are added here, imported lazily like xDSL's so that naming a pipeline costs nothing
until it runs.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass
from xdsl.transforms import get_all_passes as get_xdsl_passes


def _convert_graph_to_linalg() -> type[ModulePass]:
    from aidjit.lowering.convert_graph_to_linalg import ConvertGraphToLinalgPass

    return ConvertGraphToLinalgPass


def _linalg_fuse_elementwise() -> type[ModulePass]:
    from aidjit.transforms.fuse_elementwise import LinalgFuseElementwisePass

    return LinalgFuseElementwisePass


def _linalg_fuse_siblings() -> type[ModulePass]:
    from aidjit.transforms.fuse_siblings import LinalgFuseSiblingsPass

    return LinalgFuseSiblingsPass


def _linalg_split_reduction() -> type[ModulePass]:
    from aidjit.transforms.split_reduction import LinalgSplitReductionPass

    return LinalgSplitReductionPass


def _linalg_fuse_rows() -> type[ModulePass]:
    from aidjit.transforms.fuse_rows import LinalgFuseRowsPass

    return LinalgFuseRowsPass


def _convert_linalg_to_fused_loops() -> type[ModulePass]:
    from aidjit.lowering.convert_linalg_to_loops import ConvertLinalgToFusedLoopsPass

    return ConvertLinalgToFusedLoopsPass


def _bufferize() -> type[ModulePass]:
    from aidjit.transforms.bufferize import BufferizePass

    return BufferizePass


AIDJIT_PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "convert-graph-to-linalg": _convert_graph_to_linalg,
    "linalg-fuse-elementwise": _linalg_fuse_elementwise,
    "linalg-fuse-siblings": _linalg_fuse_siblings,
    "linalg-split-reduction": _linalg_split_reduction,
    "linalg-fuse-rows": _linalg_fuse_rows,
    "bufferize": _bufferize,
    "convert-linalg-to-fused-loops": _convert_linalg_to_fused_loops,
}


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return get_xdsl_passes() | AIDJIT_PASSES
