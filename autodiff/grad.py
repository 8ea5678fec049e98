"""value_and_grad: a function transform over GradientTape, eager or under aidjit.jit alike."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aidjit.autodiff.tape import GradientTape
from aidjit.autodiff.tensor import Tensor


def value_and_grad(
    fn: Callable[..., Any], argnums: int | tuple[int, ...] = 0
) -> Callable[..., Any]:
    """Return a function computing `(fn(*args), d fn / d args[argnums])`.

    `fn` must return a single tensor; its gradient is that of its sum, as in JAX for scalars.
    With an int `argnums` the gradient is one array, with a tuple it is a tuple of arrays.
    Eagerly the results are numpy arrays; under `aidjit.jit` they are traced and compiled.
    """
    indices = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    @functools.wraps(fn)
    def wrapped(*args: Any) -> tuple[Any, Any]:
        for index in indices:
            if not -len(args) <= index < len(args):
                raise IndexError(f"argnums {index} is out of range for {len(args)} arguments")
        args = tuple(
            Tensor(a) if i in indices and not isinstance(a, Tensor) else a
            for i, a in enumerate(args)
        )
        sources = [args[i] for i in indices]
        with GradientTape() as tape:
            tape.watch(*sources)
            value = fn(*args)
        if not isinstance(value, Tensor):
            raise TypeError(
                f"value_and_grad: {fn.__name__} must return one Tensor, got {type(value)}"
            )
        grads = tape.gradient(value, sources)
        exported = value if value.is_symbolic else value.numpy()
        return exported, grads[0] if isinstance(argnums, int) else tuple(grads)

    return wrapped
