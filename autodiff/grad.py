"""grad and value_and_grad: function transforms over GradientTape, eager or under aidjit.jit alike.

As in JAX: the function must return a scalar (or `(scalar, aux)` with `has_aux=True`); `argnums`
picks positional arguments, negative ones counting from the end, each a whole pytree whose
gradient comes back in the same structure; an argument the value does not depend on gets zeros.
Eagerly the results are numpy arrays; under `aidjit.jit` they are traced and compiled.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aidjit.autodiff.tape import GradientTape
from aidjit.autodiff.tensor import Tensor, constant, weak_scalar_dtype
from aidjit.autodiff.trace import PositionalNames, quote_path
from aidjit.autodiff.tree_util import keystr, tree_flatten_with_path, tree_map
from aidjit.errors import GradientError

Argnums = int | Sequence[int]


def value_and_grad(
    fn: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """Return a function computing `(fn(*args), d fn / d args[argnums])`.

    With an int `argnums` the gradient has the structure of that argument; with a sequence it is
    a tuple of such. With `has_aux=True`, `fn` returns `(value, aux)` and the result is
    `((value, aux), grads)`.
    """
    single = isinstance(argnums, int)
    requested = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    name = getattr(fn, "__name__", "fn")

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        args, kwargs = _bind(fn, args, kwargs)
        names = PositionalNames.of(fn)
        positions = [_position(index, len(args), name) for index in requested]
        args = list(args)
        structures = []
        sources: list[Tensor] = []
        for position in positions:
            pairs, structure = tree_flatten_with_path(args[position])
            leaves = [
                _as_source(leaf, f"{names.label(position)}{keystr(p)}", name) for p, leaf in pairs
            ]
            args[position] = structure.unflatten(leaves)
            structures.append(structure)
            sources.extend(leaves)
        with GradientTape() as tape:
            tape.watch(*sources)
            result = fn(*args, **kwargs)
        value, aux = _split_aux(result, has_aux, name)
        grads = iter(tape.gradient(value, sources, unconnected_gradients="zero") if sources else [])
        per_argument = tuple(
            structure.unflatten([next(grads) for _ in range(structure.num_leaves)])
            for structure in structures
        )
        gradient = per_argument[0] if single else per_argument
        exported = _export(value)
        if has_aux:
            return (exported, tree_map(_export, aux)), gradient
        return exported, gradient

    return wrapped


def grad(fn: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """Return a function computing `d fn / d args[argnums]` (and `aux`, with `has_aux=True`).

    The arguments are those of `value_and_grad`; the result drops the value: `grads`, or
    `(grads, aux)` with `has_aux=True`.
    """
    both = value_and_grad(fn, argnums, has_aux)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        value, gradient = both(*args, **kwargs)
        return (gradient, value[1]) if has_aux else gradient

    return wrapped


def _bind(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Keyword arguments that name positional parameters become positional, as argnums count."""
    if not kwargs:
        return args, kwargs
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return args, kwargs
    return bound.args, bound.kwargs


def _position(index: int, count: int, name: str) -> int:
    if not isinstance(index, int | np.integer) or isinstance(index, bool):
        raise TypeError(f"{name}: argnums must be ints, got {index!r}")
    if not -count <= index < count:
        raise IndexError(
            f"{name}: argnums {index} is out of range for {count} positional arguments"
        )
    return int(index) % count


def _as_source(leaf: Any, where: str, name: str) -> Tensor:
    """A tensor to differentiate with respect to; integer and non-array leaves are errors."""
    if isinstance(leaf, Tensor):
        tensor = leaf
    elif isinstance(leaf, np.ndarray):
        tensor = Tensor(leaf)
    elif not isinstance(leaf, bool) and (scalar := weak_scalar_dtype(leaf)) is not None:
        # A scalar is weak as an operand and as a jit argument: it is weak as a source too, so
        # `grad(f)(w32, 0.5)` works eagerly as under jit (its cast to float32 is recorded).
        tensor = constant(leaf, scalar, weak=True)
    else:
        kind = type(leaf).__name__
        raise GradientError(
            f"{name}: cannot differentiate with respect to argument {quote_path(where)} of type "
            f"{kind}; "
            "gradients are taken with respect to float arrays (leave it out of argnums)"
        )
    if tensor.dtype.kind != "f":
        raise GradientError(
            f"{name}: cannot differentiate with respect to argument {quote_path(where)} of dtype "
            f"{tensor.dtype}; gradients are taken with respect to float arrays "
            "(leave it out of argnums)"
        )
    return tensor


def _split_aux(result: Any, has_aux: bool, name: str) -> tuple[Tensor, Any]:
    """The scalar value to differentiate and the auxiliary data carried along."""
    aux = None
    if has_aux:
        if not isinstance(result, tuple | list) or len(result) != 2:
            raise GradientError(
                f"{name}: has_aux=True requires the function to return a (value, aux) pair, "
                f"got {_describe(result)}"
            )
        result, aux = result
    if isinstance(result, tuple | list | dict):
        hint = "" if has_aux else "; to return auxiliary data, use has_aux=True and (value, aux)"
        raise GradientError(f"grad requires a scalar output, got {_describe(result)}{hint}")
    value = result if isinstance(result, Tensor) else Tensor(result)
    if value.shape != () or value.dtype.kind != "f":
        raise GradientError(
            f"grad requires a scalar output, got {value.spec}; reduce it to a float scalar "
            "first (ops.sum, ops.mean), or use a GradientTape for vector-Jacobian products"
        )
    return value, aux


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return str(value.spec)
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


def _export(leaf: Any) -> Any:
    """Concrete tensors leave as numpy arrays; traced ones stay tensors for the compiler."""
    if isinstance(leaf, Tensor) and not leaf.is_symbolic:
        return leaf.numpy()
    return leaf
