"""Containers: layers made of layers. `Sequential` chains them; `Residual` adds a block's result
to its input; `Add` and `Concat` run parallel branches on the same input and merge the results.

A container's params and state are dicts keyed by its children's names (nested containers give
nested dicts; a child without parameters has an empty dict). Names are made unique per
container: a child named explicitly keeps its name (two equal ones are an error), a child left
unnamed gets its default (`dense`), then `dense_1`, `dense_2`, ... for the next ones, in order.
`init` spawns one numpy stream per child in the children's order; `apply` splits its `key` into
one key per child (`aidjit.random.split(key, len(children))`, child i getting the i-th), so
adding a layer at the end changes neither the parameters nor the dropout masks of the others.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from aidjit import random as aidjit_random
from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.errors import ArgumentValueError, ShapeError
from aidjit.nn.module import Layer, Params, Shape, State, SummaryRow


def _unique_names(layers: Sequence[Layer], owner: str) -> None:
    """Give each layer a name unique among `layers` (see the module docstring)."""
    explicit = [layer.name for layer in layers if layer.named]
    duplicated = sorted({name for name in explicit if explicit.count(name) > 1})
    if duplicated:
        raise ArgumentValueError(f"{owner}: two children are named {duplicated[0]!r}")
    used = set(explicit)
    for layer in layers:
        if layer.named:
            continue
        base, suffix = layer.name, 0
        while layer.name in used:
            suffix += 1
            layer.name = f"{base}_{suffix}"
        used.add(layer.name)


class Container(Layer):
    """Base class of layers made of child layers; subclasses define `child_input_shapes`,
    `output_shape` and `forward` (with `apply_children` for the parallel case)."""

    def __init__(self, *layers: Layer, name: str | None = None) -> None:
        super().__init__(name)
        for layer in layers:
            if not isinstance(layer, Layer):
                raise self.error(
                    ArgumentValueError, f"children must be aidjit.nn layers, got {layer!r}"
                )
        if len({id(layer) for layer in layers}) != len(layers):
            raise self.error(
                ArgumentValueError,
                "the same layer object appears twice; each child needs its "
                "own parameters, so create one layer per position",
            )
        _unique_names(layers, self.describe())
        self.layers: list[Layer] = list(layers)

    def child_input_shapes(self, input_shape: Shape) -> list[Shape]:
        """The input shape of each child, in order, for an input of `input_shape`."""
        raise NotImplementedError(f"{type(self).__name__}.child_input_shapes")

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        params: Params = {}
        state: State = {}
        shapes = self.child_input_shapes(input_shape)
        for layer, stream, shape in zip(
            self.layers, rng.spawn(len(self.layers)), shapes, strict=True
        ):
            params[layer.name], state[layer.name] = layer.init(stream, shape, dtype)
        return params, state

    def child_keys(self, key: Any) -> list[Any]:
        """One key per child, split from `key` (None stays None: nothing draws)."""
        if key is None:
            return [None] * len(self.layers)
        return list(aidjit_random.split(key, len(self.layers)))

    def children(self, params: Params, state: State, key: Any) -> list[tuple[Layer, Any, Any, Any]]:
        """(layer, params, state, key) of each child, in order; a params or state tree that
        lacks a child's entry (from another model, or not from `init`) is an error naming it."""
        for tree, what in ((params, "params"), (state, "state")):
            missing = [layer.name for layer in self.layers if layer.name not in tree]
            if missing:
                raise self.error(
                    ArgumentValueError,
                    f"{what} has no entry for child {missing[0]!r} (it has "
                    f"{sorted(tree)}); pass the {what} that init made for this model",
                )
        keys = self.child_keys(key)
        return [
            (layer, params[layer.name], state[layer.name], child_key)
            for layer, child_key in zip(self.layers, keys, strict=True)
        ]

    def apply_children(
        self, params: Params, state: State, x: Any, training: bool, key: Any
    ) -> tuple[list[Any], State]:
        """Every child applied to the same `x`: their results and the new state."""
        results, new_state = [], {}
        for layer, child_params, child_state, child_key in self.children(params, state, key):
            y, new_state[layer.name] = layer.apply(
                child_params, child_state, x, training, child_key
            )
            results.append(y)
        return results, new_state

    def summary_rows(
        self, input_shape: Shape, params: Params, state: State, depth: int
    ) -> list[SummaryRow]:
        rows = super().summary_rows(input_shape, params, state, depth)
        for layer, shape in zip(self.layers, self.child_input_shapes(input_shape), strict=True):
            rows += layer.summary_rows(shape, params[layer.name], state[layer.name], depth + 1)
        return rows


class Sequential(Container):
    """`Sequential(*layers)`: each layer applied to the previous one's result, in order."""

    def child_input_shapes(self, input_shape: Shape) -> list[Shape]:
        shapes = []
        for layer in self.layers:
            shapes.append(input_shape)
            input_shape = layer.output_shape(input_shape)
        return shapes

    def output_shape(self, input_shape: Shape) -> Shape:
        for layer in self.layers:
            input_shape = layer.output_shape(input_shape)
        return input_shape

    def forward(
        self, params: Params, state: State, x: Any, training: bool, key: Any
    ) -> tuple[Any, State]:
        new_state: State = {}
        for layer, child_params, child_state, child_key in self.children(params, state, key):
            x, new_state[layer.name] = layer.apply(
                child_params, child_state, x, training, child_key
            )
        return x, new_state


class _Parallel(Container):
    """Children applied to the same input (Residual, Add, Concat)."""

    def __init__(self, *layers: Layer, name: str | None = None) -> None:
        super().__init__(*layers, name=name)
        if not layers:
            raise self.error(ArgumentValueError, "needs at least one branch")

    def child_input_shapes(self, input_shape: Shape) -> list[Shape]:
        return [input_shape] * len(self.layers)


class Residual(_Parallel):
    """`Residual(block)`: `x + block(x)`; the block must keep the input's shape."""

    def __init__(self, block: Layer, name: str | None = None) -> None:
        super().__init__(block, name=name)

    def output_shape(self, input_shape: Shape) -> Shape:
        block_shape = self.layers[0].output_shape(input_shape)
        if block_shape != input_shape:
            raise self.error(
                ShapeError,
                f"x + block(x) needs a block that keeps the shape; "
                f"{self.layers[0].describe()} maps {input_shape} to {block_shape}",
            )
        return input_shape

    def forward(
        self, params: Params, state: State, x: Any, training: bool, key: Any
    ) -> tuple[Any, State]:
        (y,), new_state = self.apply_children(params, state, x, training, key)
        return ops.add(x, y), new_state


class Add(_Parallel):
    """`Add(*branches)`: the sum of the branches' results, which must have one shape."""

    def output_shape(self, input_shape: Shape) -> Shape:
        shapes = [layer.output_shape(input_shape) for layer in self.layers]
        if len(set(shapes)) > 1:
            listed = ", ".join(
                f"{layer.name} {shape}" for layer, shape in zip(self.layers, shapes, strict=True)
            )
            raise self.error(ShapeError, f"branches must give one shape, got {listed}")
        return shapes[0]

    def forward(
        self, params: Params, state: State, x: Any, training: bool, key: Any
    ) -> tuple[Any, State]:
        results, new_state = self.apply_children(params, state, x, training, key)
        total = results[0]
        for y in results[1:]:
            total = ops.add(total, y)
        return total, new_state


class Concat(_Parallel):
    """`Concat(*branches, axis=1)`: the branches' results joined along `axis` (channels in
    NCHW), equal on every other axis."""

    def __init__(self, *branches: Layer, axis: int = 1, name: str | None = None) -> None:
        super().__init__(*branches, name=name)
        self.axis = axis

    def output_shape(self, input_shape: Shape) -> Shape:
        shapes = [layer.output_shape(input_shape) for layer in self.layers]
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise self.error(ShapeError, f"axis {self.axis} is out of range for rank {rank}")
        axis = self.axis % rank
        others = {
            shape[:axis] + shape[axis + 1 :] if len(shape) == rank else None for shape in shapes
        }
        if len(others) > 1:
            listed = ", ".join(
                f"{layer.name} {shape}" for layer, shape in zip(self.layers, shapes, strict=True)
            )
            raise self.error(
                ShapeError, f"branches must agree on every axis but {axis}, got {listed}"
            )
        return shapes[0][:axis] + (sum(shape[axis] for shape in shapes),) + shapes[0][axis + 1 :]

    def forward(
        self, params: Params, state: State, x: Any, training: bool, key: Any
    ) -> tuple[Any, State]:
        results, new_state = self.apply_children(params, state, x, training, key)
        return ops.concat(results, axis=self.axis), new_state
