"""The exceptions aidjit raises: one base class, one subclass per kind of failure.

Every error names what is at fault (the op, the argument, the shape or dtype, the file), so a
user can act on the message without reading a traceback.
"""

from typing import Any, TypeVar

ErrorT = TypeVar("ErrorT", bound=BaseException)

_BLAMED_OP = "aidjit_op"
"""The attribute :func:`blame` sets on an exception."""


def blame(error: ErrorT, op: Any) -> ErrorT:
    """Record the IR op at fault for `error`, so `aidjit-opt` reports the error at its location.

    Used by passes and the C emitter as `raise blame(UnsupportedError(...), op)`: the message
    stays the same everywhere; only the CLI's diagnostics read the op (`aidjit.diagnostics`).
    """
    setattr(error, _BLAMED_OP, op)
    return error


def blamed(error: BaseException) -> Any:
    """The op :func:`blame` recorded on `error`, or None."""
    return getattr(error, _BLAMED_OP, None)


class AidjitError(Exception):
    """Base class of every error aidjit raises on purpose."""


class ShapeError(AidjitError, ValueError):
    """Shapes that do not fit an operation or a compiled function's signature."""


class DTypeError(AidjitError, TypeError):
    """A dtype that an operation or a compiled function does not accept."""


class ArgumentCountError(AidjitError, TypeError):
    """A compiled function was called with the wrong number of arrays."""


class ArgumentValueError(AidjitError, ValueError):
    """An argument's values are outside what the compiled code can handle (labels out of range)."""


class UnsupportedError(AidjitError, NotImplementedError):
    """Something aidjit cannot (yet) trace, lower or compile."""


class ConcretizationError(UnsupportedError):
    """A traced tensor's value was needed in Python (`if t:`, `float(t)`, `t.item()`).

    Under `aidjit.jit` a tensor is symbolic: only its shape and dtype are known until the compiled
    code runs. The message names the operation and suggests `ops.where` or `static_argnums`.
    """


class GradientError(AidjitError, ValueError):
    """A gradient that cannot be taken as asked: an unwatched source, a non-scalar output."""


class CacheError(AidjitError, OSError):
    """Neither the configured kernel cache directory nor a private temporary one is usable."""


class CompilerNotFoundError(AidjitError, RuntimeError):
    """No C compiler was found on this machine."""


class CompilationError(AidjitError, RuntimeError):
    """The C compiler rejected generated code; the message holds its output and the C path."""


class LibraryLoadError(AidjitError, OSError):
    """A shared object could not be loaded, or lacks the function it should export."""


class PipelineError(AidjitError, ValueError):
    """A pass-pipeline string names an unknown pass or option, or a pass failed."""


class RenderError(AidjitError, RuntimeError):
    """Graphviz's `dot` program failed to draw a picture; the message holds its output."""
