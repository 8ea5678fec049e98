"""aidjit: a JIT compiler for numpy computation graphs, built the MLIR way on xDSL.

The libraries written on the compiler (`aidjit.nn`, `aidjit.optim`, `aidjit.losses`,
`aidjit.Trainer`) are imported on first use of the attribute, as `from aidjit import nn` or
`aidjit.nn.Dense`: a program that only compiles functions does not pay for them in
`import aidjit`.
"""

import importlib
from typing import Any

from aidjit import random, tree_util
from aidjit.api import CompiledFunction, JitFunction, compile, jit
from aidjit.autodiff import GradientTape, Tensor, grad, ops, stop_gradient, value_and_grad
from aidjit.cache_stats import CacheInfo, cache_clear, cache_info
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
from aidjit.tape_jit import compile_tape

__all__ = [
    "AidjitError",
    "ArgumentCountError",
    "ArgumentValueError",
    "CacheError",
    "CacheInfo",
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
    "Trainer",
    "UnsupportedError",
    "cache_clear",
    "cache_info",
    "compile",
    "compile_tape",
    "grad",
    "jit",
    "losses",
    "nn",
    "ops",
    "optim",
    "random",
    "stop_gradient",
    "tree_util",
    "value_and_grad",
]

_LAZY: dict[str, tuple[str, str | None]] = {
    "nn": ("aidjit.nn", None),
    "optim": ("aidjit.optim", None),
    "losses": ("aidjit.losses", None),
    "Trainer": ("aidjit.training", "Trainer"),
}
"""The libraries on the compiler: name -> (module, attribute of it, or None for the module)."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        loaded = importlib.import_module(module)
        return loaded if attribute is None else getattr(loaded, attribute)
    raise AttributeError(f"module 'aidjit' has no attribute {name!r}")
