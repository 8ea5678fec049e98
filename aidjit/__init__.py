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
from aidjit.api import CompiledFunction, JitFunction, compile, jit
from aidjit.pipeline import DEFAULT_PIPELINE

__all__ = [
    "AidjitError",
    "CompilationError",
    "CompiledFunction",
    "CompilerNotFoundError",
    "DEFAULT_PIPELINE",
    "DTypeError",
    "GradientTape",
    "JitFunction",
    "PipelineError",
    "ShapeError",
    "Tensor",
    "UnsupportedError",
    "compile",
    "jit",
    "ops",
    "stop_gradient",
    "value_and_grad",
]
