"""aidjit: a JIT compiler for numpy computation graphs, built the MLIR way on xDSL."""

from aidjit.errors import (
    AidjitError,
    CompilationError,
    CompilerNotFoundError,
    DTypeError,
    PipelineError,
    ShapeError,
    UnsupportedError,
)
from aidjit.autodiff import GradientTape, Tensor, ops, stop_gradient, value_and_grad

__all__ = [
    "AidjitError",
    "CompilationError",
    "CompilerNotFoundError",
    "DTypeError",
    "GradientTape",
    "PipelineError",
    "ShapeError",
    "Tensor",
    "UnsupportedError",
    "ops",
    "stop_gradient",
    "value_and_grad",
]
