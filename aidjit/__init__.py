"""aidjit: a JIT compiler for numpy computation graphs, built the MLIR way on xDSL."""

from aidjit.api import CompiledFunction, JitFunction, compile, jit
from aidjit.autodiff import GradientTape, Tensor, ops, stop_gradient, value_and_grad
from aidjit.errors import (
    AidjitError,
    ArgumentCountError,
    ArgumentValueError,
    CompilationError,
    CompilerNotFoundError,
    DTypeError,
    LibraryLoadError,
    PipelineError,
    ShapeError,
    UnsupportedError,
)
from aidjit.pipeline import DEFAULT_PIPELINE

__all__ = [
    "AidjitError",
    "ArgumentCountError",
    "ArgumentValueError",
    "CompilationError",
    "CompiledFunction",
    "CompilerNotFoundError",
    "DEFAULT_PIPELINE",
    "DTypeError",
    "GradientTape",
    "JitFunction",
    "LibraryLoadError",
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
