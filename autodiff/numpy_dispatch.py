"""numpy's dispatch protocols for Tensor: a numpy function applied to a Tensor runs the aidjit op.

Without `__array_ufunc__` and `__array_function__`, numpy converts a Tensor to an ndarray
through `__array__` and computes on that: the result is detached from every tape (a silently
zero gradient) and cannot be traced. With them numpy hands the call to aidjit instead.
`NUMPY_TO_OPS` says which aidjit op means the same as a numpy function; calling it records the
result on tapes and in traces like any aidjit op. Every other numpy function raises
`UnsupportedError` naming it, so nothing is detached silently.

`np.asarray(t)` is the deliberate way out: on a concrete tensor it returns the tensor's array
and records nothing on any tape (the value is then plain data); on a traced tensor it raises
`ConcretizationError`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from aidjit.autodiff import ops
from aidjit.autodiff.tensor import Tensor
from aidjit.errors import UnsupportedError

NUMPY_TO_OPS: Mapping[str, str] = MappingProxyType(
    {
        # ufuncs (numpy aliases such as np.abs, np.true_divide and np.pow are the same objects)
        "negative": "negate",
        "absolute": "abs",
        "sign": "sign",
        "exp": "exp",
        "log": "log",
        "sqrt": "sqrt",
        "tanh": "tanh",
        "sin": "sin",
        "cos": "cos",
        "square": "square",
        "reciprocal": "reciprocal",
        "floor": "floor",
        "add": "add",
        "subtract": "subtract",
        "multiply": "multiply",
        "divide": "divide",
        "power": "power",
        "maximum": "maximum",
        "minimum": "minimum",
        "greater": "greater",
        "greater_equal": "greater_equal",
        "less": "less",
        "less_equal": "less_equal",
        "equal": "equal",
        "not_equal": "not_equal",
        "matmul": "matmul",
        # array functions
        "sum": "sum",
        "mean": "mean",
        "max": "reduce_max",
        "amax": "reduce_max",
        "min": "reduce_min",
        "amin": "reduce_min",
        "argmax": "argmax",
        "argmin": "argmin",
        "var": "variance",
        "std": "std",
        "cumsum": "cumsum",
        "transpose": "transpose",
        "permute_dims": "transpose",
        "reshape": "reshape",
        "broadcast_to": "broadcast_to",
        "concatenate": "concat",
        "concat": "concat",
        "stack": "stack",
        "split": "split",
        "squeeze": "squeeze",
        "expand_dims": "expand_dims",
        "flip": "flip",
        "tile": "tile",
        "repeat": "repeat",
        "where": "where",
        "clip": "clip",
        "astype": "astype",
    }
)
"""numpy name -> aidjit.ops name: the one table of numpy entry points Tensors accept.

Both sides are resolved lazily (`getattr(np, ...)`, `getattr(ops, ...)`), so a row whose aidjit op
does not exist yet raises the same UnsupportedError as a numpy function with no row, and starts
working as soon as the op is added to aidjit.ops."""

METADATA_FUNCTIONS = ("shape", "ndim", "size")
"""numpy functions that only read `.shape`/`.ndim`/`.size`: numpy's own implementation serves
tensors, traced ones included, and nothing needs recording."""

_KEYWORD_RENAMES: Mapping[str, str] = MappingProxyType({"axes": "perm"})
"""numpy keyword -> aidjit.ops keyword, where the two spell the same parameter differently."""

_UFUNC_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"where": True, "casting": "same_kind", "order": "K", "dtype": None, "subok": True}
)
"""ufunc keywords accepted at their default values; any other keyword (out=, axes=, ...) raises."""

_signature = functools.cache(inspect.signature)


@functools.cache
def _numpy_names() -> dict[Any, str]:
    """numpy callable -> its name in the tables; by identity, so aliases share one row."""
    names: dict[Any, str] = {}
    for name in (*NUMPY_TO_OPS, *METADATA_FUNCTIONS):
        function = getattr(np, name, None)
        if function is not None:
            names.setdefault(function, name)
    return names


def supported_functions() -> list[str]:
    """The numpy functions Tensors accept now: rows of NUMPY_TO_OPS whose aidjit op exists."""
    return [
        f"np.{name}"
        for name, op in NUMPY_TO_OPS.items()
        if hasattr(np, name) and getattr(ops, op, None) is not None
    ]


def _display_name(function: Any) -> str:
    """How the user spelled it: np.exp, np.linalg.norm, np.add.reduce."""
    module = getattr(function, "__module__", None) or "numpy"
    if module == "numpy" or module.startswith("numpy."):
        module = "np" + module[len("numpy") :]
    return f"{module}.{function.__name__}"


def _unsupported(display: str) -> UnsupportedError:
    supported = ", ".join(supported_functions())
    return UnsupportedError(
        f"{display} is not supported on aidjit Tensors: aidjit.ops has no equivalent, and "
        "computing it on a converted copy would silently detach the result from gradient tapes "
        "and from aidjit.jit. Use the aidjit.ops functions, or np.asarray(t) to compute on the "
        "value of a concrete tensor outside differentiation. Supported numpy functions: "
        + supported
    )


def _resolve(function: Any, display: str) -> Callable[..., Tensor]:
    name = _numpy_names().get(function)
    op = getattr(ops, NUMPY_TO_OPS[name], None) if name in NUMPY_TO_OPS else None
    if op is None:
        raise _unsupported(display)
    return op


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    return isinstance(default, str | bool) and type(value) is type(default) and value == default


def _handles(values: Any) -> bool:
    """Whether every operand is something aidjit converts; else another library may claim it."""
    return all(
        isinstance(v, Tensor | np.ndarray) or not hasattr(type(v), "__array_ufunc__")
        for v in values
    )


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict) -> Any:
    """`Tensor.__array_ufunc__`: `np.exp(t)`, `ndarray + t`, `np.maximum(t, 0)` run aidjit ops."""
    if not _handles((*inputs, *kwargs.get("out", ()))):
        return NotImplemented
    display = f"np.{ufunc.__name__}"
    if method != "__call__":
        raise UnsupportedError(
            f"{display}.{method} is not supported on aidjit Tensors; only calls such as "
            f"{display}(...) are (for reductions use np.sum, np.max or aidjit.ops)"
        )
    op = _resolve(ufunc, display)
    for key, value in kwargs.items():
        if key == "out":
            raise UnsupportedError(
                f"{display}(..., out=...) is not supported on aidjit Tensors: they are immutable "
                "and an ndarray cannot hold a recorded result; write `a = a + t`, not `a += t`"
            )
        if key not in _UFUNC_DEFAULTS or not _is_default(value, _UFUNC_DEFAULTS[key]):
            raise UnsupportedError(
                f"{display}(..., {key}={value!r}) is not supported on aidjit Tensors"
            )
    return op(*inputs)


def array_function(
    function: Any, types: tuple[type, ...], args: tuple[Any, ...], kwargs: dict
) -> Any:
    """`Tensor.__array_function__`: `np.sum(t, axis=0)`, `np.reshape(t, s)` run aidjit ops.

    numpy's arguments are bound to numpy's own signature. Its positional-only and required
    parameters become the op's positional operands; every other keyword is dropped when left at
    numpy's default (np.mean's `dtype=None`, `out=None`, `keepdims=np._NoValue`) and passed on
    when the aidjit op takes it (`axis`, `keepdims`); any other keyword raises.
    """
    if not all(issubclass(t, Tensor | np.ndarray) for t in types):
        return NotImplemented
    display = _display_name(function)
    if _numpy_names().get(function) in METADATA_FUNCTIONS:
        return function._implementation(*args, **kwargs)
    op = _resolve(function, display)
    parameters = _signature(function).parameters
    bound = _signature(function).bind(*args, **kwargs).arguments
    accepted = _signature(op).parameters
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for name, parameter in parameters.items():
        operand = parameter.kind is inspect.Parameter.POSITIONAL_ONLY
        if name not in bound:
            if operand:
                raise UnsupportedError(
                    f"{display} without its {name!r} argument is not supported on aidjit "
                    f"Tensors: aidjit.ops.{op.__name__} needs it"
                )
            continue
        value = bound[name]
        if operand or parameter.default is inspect.Parameter.empty:
            positional.append(value)
            continue
        if _is_default(value, parameter.default):
            continue
        keyword = _KEYWORD_RENAMES.get(name, name)
        if keyword not in accepted:
            raise UnsupportedError(
                f"{display}(..., {name}={value!r}) is not supported on aidjit Tensors: "
                f"aidjit.ops.{op.__name__} has no {keyword!r} parameter"
            )
        keywords[keyword] = value
    return op(*positional, **keywords)
