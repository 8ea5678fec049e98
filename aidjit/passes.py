"""The one registry of pass names, shared by `aidjit-opt -p` and the Python pipeline.

xDSL's own passes (canonicalize, cse, dce, convert-linalg-to-loops, ...) are reused as they are;
aidjit's are added here, imported lazily like xDSL's so that naming a pipeline costs nothing
until it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from xdsl.passes import ModulePass
from xdsl.transforms import get_all_passes as get_xdsl_passes

_AIDJIT_PASS_CLASSES: dict[str, tuple[str, str]] = {
    "convert-graph-to-linalg": ("lowering.convert_graph_to_linalg", "ConvertGraphToLinalgPass"),
    "linalg-fuse-elementwise": ("transforms.fuse_elementwise", "LinalgFuseElementwisePass"),
    "linalg-fuse-siblings": ("transforms.fuse_siblings", "LinalgFuseSiblingsPass"),
    "linalg-split-reduction": ("transforms.split_reduction", "LinalgSplitReductionPass"),
    "linalg-fuse-rows": ("transforms.fuse_rows", "LinalgFuseRowsPass"),
    "bufferize": ("transforms.bufferize", "BufferizePass"),
    "convert-linalg-to-fused-loops": (
        "lowering.convert_linalg_to_loops",
        "ConvertLinalgToFusedLoopsPass",
    ),
    "tile-contractions": ("transforms.tile_contractions", "TileContractionsPass"),
    "vectorize-transposes": ("transforms.vectorize_transposes", "VectorizeTransposesPass"),
    "vectorize-loops": ("transforms.vectorize_loops", "VectorizeLoopsPass"),
    "expand-math": ("transforms.expand_math", "ExpandMathPass"),
    "parallelize-outer-loops": (
        "transforms.parallelize_outer_loops",
        "ParallelizeOuterLoopsPass",
    ),
}
"""Pass name -> (module under `aidjit.`, class name)."""


def _lazy(module: str, name: str) -> Callable[[], type[ModulePass]]:
    return lambda: getattr(importlib.import_module(f"aidjit.{module}"), name)


AIDJIT_PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    pass_name: _lazy(*where) for pass_name, where in _AIDJIT_PASS_CLASSES.items()
}


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return get_xdsl_passes() | AIDJIT_PASSES
