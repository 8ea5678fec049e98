"""FLOPs of a compiled function's contractions (matmuls and convolutions), read from its traced
graph, and numpy's GEMM on them.

The benchmark reports each contraction's rate as GFLOP/s (FLOPs per call / time per call), and
judges aidjit's against numpy's BLAS on the *same* matmuls measured in the same process. Both
come from the graph aidjit optimized (`CompiledFunction.ir("optimized")`), not from a list
written per workload: every `graph.matmul` and `graph.conv2d` is one contraction, whatever the
workload or its autodiff (W3's backward matmuls, W5t's gradient convolutions included).

A matmul whose result has shape (..., M, N) and whose left operand has K columns does
2*M*N*K FLOPs per batch entry (a multiply and an add per term), i.e. 2 * size(result) * K:
the same count for 2-D, batched 3-D and 3-D @ 2-D products. A convolution is counted as the
GEMM aidjit lowers it to (lowering/conv.py): per image and group, the weights [F, K]
times the patches [K, OH*OW] (K = C/groups * kH * kW), i.e. `(G, F, K) @ (N, G, K, OH*OW)` in
np.matmul's broadcasting; a numpy user's im2col convolution does the same GEMM.

`GemmReplay` replays the contractions with `np.matmul` on arrays of the same shapes and dtype
(written into preallocated outputs, so no allocation is timed): the "numpy sgemm" column, whose
GFLOP/s is the BLAS reference for the rate aidjit reaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.parser import Parser

from aidjit.context import make_context
from aidjit.dialects.graph import Conv2dOp, MatmulOp, numpy_dtype

GEMM_SEED = 7


@dataclass(frozen=True)
class Contraction:
    """One matmul of the graph: operand and result shapes and the element type."""

    lhs: tuple[int, ...]
    rhs: tuple[int, ...]
    result: tuple[int, ...]
    dtype: str

    @property
    def flops(self) -> int:
        """2 * size(result) * K: a multiply and an add per term of every result element."""
        return 2 * math.prod(self.result) * self.lhs[-1]

    def as_dict(self) -> dict[str, object]:
        return {
            "lhs": list(self.lhs),
            "rhs": list(self.rhs),
            "result": list(self.result),
            "dtype": self.dtype,
            "flops": self.flops,
        }


def _shape(type_: object, what: str) -> tuple[int, ...]:
    if not isinstance(type_, TensorType):
        raise TypeError(f"contraction {what} is {type_}, expected a ranked tensor")
    return tuple(type_.get_shape())


def _gemm_shapes(op: MatmulOp | Conv2dOp) -> tuple[tuple[int, ...], ...]:
    """(lhs, rhs, result) of the matmul, or of the GEMM a convolution is (see above)."""
    lhs, rhs = (_shape(operand.type, f"operand {i}") for i, operand in enumerate(op.operands))
    result = _shape(op.results[0].type, "result")
    if isinstance(op, MatmulOp):
        return lhs, rhs, result
    groups = op.params()["groups"]
    n, channels, oh, ow = result
    f, k = channels // groups, math.prod(rhs[1:])
    return (groups, f, k), (n, groups, k, oh * ow), (n, groups, f, oh * ow)


def contractions(module: ModuleOp) -> list[Contraction]:
    """Every `graph.matmul` and `graph.conv2d` of a graph-level module, in program order."""
    found = []
    for op in module.walk():
        if not isinstance(op, MatmulOp | Conv2dOp):
            continue
        dtype = numpy_dtype(op.results[0].type.get_element_type()).name
        found.append(Contraction(*_gemm_shapes(op), dtype))
    return found


def parse_contractions(graph_ir: str) -> list[Contraction]:
    """`contractions` of a module printed at the graph level (e.g. `ir("optimized")`)."""
    return contractions(Parser(make_context(), graph_ir).parse_module())


def total_flops(found: list[Contraction]) -> int:
    return sum(c.flops for c in found)


def gflops(flops: int, ms_per_call: float) -> float:
    """GFLOP/s of `flops` done every `ms_per_call` milliseconds."""
    return flops / (ms_per_call * 1e6)


class GemmReplay:
    """Calling it runs every contraction with `np.matmul` into preallocated outputs."""

    def __init__(self, found: list[Contraction]) -> None:
        rng = np.random.default_rng(GEMM_SEED)
        self.operands = [
            (
                rng.standard_normal(c.lhs).astype(c.dtype),
                rng.standard_normal(c.rhs).astype(c.dtype),
                np.empty(c.result, c.dtype),
            )
            for c in found
        ]

    def __call__(self) -> None:
        for lhs, rhs, out in self.operands:
            np.matmul(lhs, rhs, out=out)
