"""aidjit: a JIT compiler for numpy computation graphs, built the MLIR way on xDSL."""

from aidjit import random, tree_util
from aidjit.api import CompiledFunction, JitFunction, compile, jit
from aidjit.autodiff import GradientTape, Tensor, grad, ops, stop_gradient, value_and_grad
from aidjit.errors import (
    AidjitError,
    ArgumentCountError,
    ArgumentValueError,
    CacheError,
    CompilationError,
    CompilerNotFoundError,
    ConcretizationError,
    DTypeError,
    GradientError,
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
    "CacheError",
    "CompilationError",
    "CompiledFunction",
    "CompilerNotFoundError",
    "ConcretizationError",
    "DEFAULT_PIPELINE",
    "DTypeError",
    "GradientError",
    "GradientTape",
    "JitFunction",
    "LibraryLoadError",
    "PipelineError",
    "ShapeError",
    "Tensor",
    "UnsupportedError",
    "compile",
    "grad",
    "jit",
    "ops",
    "random",
    "stop_gradient",
    "tree_util",
    "value_and_grad",
]
