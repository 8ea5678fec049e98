"""The layer framework: `Layer`, the base class of every layer and container.

A layer is a description (hyper-parameters and a name) plus two pure functions:

    params, state = layer.init(seed, input_shape, dtype=np.float32)
    y, new_state = layer.apply(params, state, x, training=False, key=None)

`params` (trained) and `state` (updated by the forward pass, such as batch-norm running
statistics) are pytrees: dicts of numpy arrays with str keys, nested for containers. `apply` uses
only `aidjit.ops` on its inputs, so the same call runs eagerly on numpy arrays and Tensors, on a
`GradientTape`, and traced under `aidjit.jit` (with `static_argnames="training"`: the flag picks
a different graph). `init` also keeps what it made on the layer (`.params`, `.state`), for the
convenience call `layer(x)`: inference on the layer's own parameters.

Writing a layer: subclass `Layer`, call `super().__init__(name)` from `__init__`, and override

- `output_shape(input_shape)`: the result's shape, raising `ShapeError` through `self.expect_rank`,
  `self.expect_size` or `raise self.error(ShapeError, ...)` (each names the layer) for an input
  the layer cannot take. `apply` calls it on every input, so it
  is the one place where a layer's shape rules live (and `summary` and containers use it too);
- `build(rng, input_shape, dtype) -> (params, state)` when the layer has parameters or state:
  draw from `rng` (a numpy Generator) with `aidjit.nn.initializers`, in a fixed, documented order;
- `call(params, x) -> y` for a layer without state or randomness, or `forward(params, state, x,
  training, key) -> (y, new_state)` for one with either.

A layer of several inputs (GraphConv's features and adjacency, attention's query, key and value)
takes them as one tuple or dict of arrays, `x = (features, adjacency)`: its input shape, in
`init` and in `output_shape`, is then the same tuple or dict of shapes (`shape_of`), and such a
layer can open a `Sequential`.

Seeds: `init(seed)` makes `np.random.default_rng(np.random.SeedSequence(seed))`; a container
spawns one child stream per child (`Generator.spawn`, in the children's order), so a child's
numbers depend on its position and the seed, not on what its siblings drew.
"""

import re
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from aidjit import tree_util
from aidjit.errors import AidjitError, ArgumentValueError, DTypeError, ShapeError

Shape = tuple[int, ...]
InputShape = Any
"""A `Shape`, or for a layer of several inputs a tuple or dict of them (see `shape_of`)."""
ErrorT = TypeVar("ErrorT", bound=AidjitError)
Params = dict[str, Any]
State = dict[str, Any]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
"""The dtypes a layer's parameters may have."""

_ATTRIBUTED = "_aidjit_layer"
"""Set on an error once a layer's name has been put in its message (see `Layer.apply`)."""


class NotInitializedError(AidjitError, RuntimeError):
    """A layer was called (`layer(x)`, `summary()`) before `init` gave it parameters."""


def snake_case(class_name: str) -> str:
    """`BatchNorm2d` -> `batch_norm2d`: a layer's default name from its class name."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name).lower()


def as_generator(seed_or_rng: int | np.random.Generator) -> np.random.Generator:
    """The numpy Generator for `init`: an int seed makes `default_rng(SeedSequence(seed))`
    (the same seed, the same parameters); a Generator is used as it is (and advances)."""
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    if isinstance(seed_or_rng, (int, np.integer)) and not isinstance(seed_or_rng, bool):
        return np.random.default_rng(np.random.SeedSequence(int(seed_or_rng)))
    raise ArgumentValueError(
        f"init: expected an int seed or a numpy Generator, got {type(seed_or_rng).__name__}"
    )


def shape_of(x: Any) -> InputShape:
    """The shape of a layer's input: an array's shape; for several inputs, a tuple or dict of
    arrays, the same tuple or dict of their shapes (`((5, 3), (2, 8))` for features and an
    edge list)."""
    if isinstance(x, tuple):
        return tuple(shape_of(item) for item in x)
    if isinstance(x, dict):
        return {name: shape_of(item) for name, item in x.items()}
    return tuple(np.shape(x))


def count_values(tree: Any) -> int:
    """The number of scalars in a pytree of arrays (a parameter count)."""
    return sum(int(np.size(leaf)) for leaf in tree_util.tree_leaves(tree))


@dataclass(frozen=True)
class SummaryRow:
    """One line of `Layer.summary()`."""

    depth: int
    name: str
    kind: str
    output_shape: Shape
    params: int
    state: int


class Layer:
    """Base class of layers and containers; see the module docstring for the protocol."""

    default_name: str | None = None
    """The name a layer gets when none is given; None: the class name in snake case."""

    def __init__(self, name: str | None = None) -> None:
        if name is not None and not (isinstance(name, str) and name):
            raise ArgumentValueError(f"{type(self).__name__}: name must be a non-empty str")
        self.name: str = name or self.default_name or snake_case(type(self).__name__)
        self.named = name is not None
        """Whether the name was given: a container makes only defaulted names unique
        (`dense` -> `dense_1`), so a layer belongs to one container."""
        self.params: Params | None = None
        self.state: State | None = None
        self.input_shape: InputShape | None = None
        self.dtype: np.dtype | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def describe(self) -> str:
        """How messages name the layer: `Conv2d 'conv2d_1'`."""
        return f"{type(self).__name__} {self.name!r}"

    # ----- to override ------------------------------------------------------------------------

    def output_shape(self, input_shape: Shape) -> Shape:
        """The shape of `apply`'s result for an input of `input_shape` (batch axis included);
        raises `ShapeError` naming the layer for an input it cannot take."""
        raise NotImplementedError(f"{type(self).__name__}.output_shape")

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        """New parameters and state for `input_shape`; none by default."""
        return {}, {}

    def forward(
        self, params: Params, state: State, x: Any, training: bool, key: Any
    ) -> tuple[Any, State]:
        """`apply` after the input check; by default `call` with the state passed on."""
        return self.call(params, x), state

    def call(self, params: Params, x: Any) -> Any:
        """The layer's function of its parameters and input (stateless, deterministic layers)."""
        raise NotImplementedError(f"{type(self).__name__} defines neither call nor forward")

    # ----- helpers for subclasses -----------------------------------------------------------

    def error(self, kind: type[ErrorT], message: str) -> ErrorT:
        """An error of class `kind` whose message starts with this layer (`Conv2d 'conv2d':
        ...`), marked so the containers around it pass it on unchanged: `raise self.error(...)`."""
        error = kind(f"{self.describe()}: {message}")
        setattr(error, _ATTRIBUTED, True)
        return error

    def expect_rank(self, shape: Shape, ranks: int | tuple[int, ...], layout: str) -> None:
        """ShapeError unless `shape` has one of `ranks` ; `layout` names its axes."""
        allowed = (ranks,) if isinstance(ranks, int) else ranks
        if len(shape) not in allowed:
            ranks_text = " or ".join(str(r) for r in allowed)
            raise self.error(
                ShapeError,
                f"expected an input of rank {ranks_text} {layout}, got shape {tuple(shape)}",
            )

    def expect_min_rank(self, shape: Shape, rank: int, layout: str) -> None:
        """ShapeError unless `shape` has at least `rank` axes."""
        if len(shape) < rank:
            raise self.error(
                ShapeError,
                f"expected an input of rank {rank} or more {layout}, got shape {tuple(shape)}",
            )

    def expect_size(self, shape: Shape, axis: int, size: int, what: str) -> None:
        """ShapeError unless `shape[axis] == size` (`what` names it: `input channels`)."""
        if shape[axis] != size:
            raise self.error(
                ShapeError, f"expected {size} {what} (axis {axis}), got shape {tuple(shape)}"
            )

    # ----- the public protocol --------------------------------------------------------------

    def init(
        self,
        seed_or_rng: int | np.random.Generator,
        input_shape: InputShape,
        dtype: Any = np.float32,
    ) -> tuple[Params, State]:
        """Parameters and state for inputs of `input_shape` (batch axis included, any size),
        created in `dtype` (float32 or float64) from `seed_or_rng`; also kept on the layer as
        `.params` and `.state`. The input shape is checked as `apply` checks it."""
        dtype = self._float_dtype(dtype)
        input_shape = self._shape(input_shape)
        self.output_shape(input_shape)  # an input the layer cannot take fails here, named
        params, state = self.build(as_generator(seed_or_rng), input_shape, dtype)
        self.params, self.state = params, state
        self.input_shape, self.dtype = input_shape, dtype
        return params, state

    def apply(
        self, params: Params, state: State, x: Any, training: bool = False, key: Any = None
    ) -> tuple[Any, State]:
        """Pure forward pass: `(y, new_state)`. `training` selects batch statistics in norms and
        active dropout; `key` (an `aidjit.random.key`) feeds the layers that draw random numbers.
        An error raised inside names the innermost layer that failed."""
        self.output_shape(shape_of(x))
        try:
            return self.forward(params, state, x, training, key)
        except AidjitError as error:
            if getattr(error, _ATTRIBUTED, False):
                raise  # named already, by this layer or one inside it
            raise self._attributed(error) from error

    def __call__(self, x: Any) -> Any:
        """Inference on the layer's own parameters (those `init` made, or assigned to `.params`
        and `.state` since): `apply(self.params, self.state, x)[0]`."""
        params, state = self._own()
        return self.apply(params, state, x)[0]

    def summary(self) -> str:
        """Print and return a table of the layers (nested ones indented): name, type, output
        shape, parameter and state counts, with totals, for the input shape given to `init`."""
        params, state = self._own()
        assert self.input_shape is not None and self.dtype is not None
        rows = self.summary_rows(self.input_shape, params, state, 0)
        text = _format_summary(rows, self.input_shape, self.dtype)
        print(text)
        return text

    def summary_rows(
        self, input_shape: Shape, params: Params, state: State, depth: int
    ) -> list[SummaryRow]:
        """This layer's line of the summary (containers add their children's after it)."""
        return [
            SummaryRow(
                depth,
                self.name,
                type(self).__name__,
                self.output_shape(input_shape),
                count_values(params),
                count_values(state),
            )
        ]

    # ----- internals --------------------------------------------------------------------------

    def _own(self) -> tuple[Params, State]:
        if self.params is None or self.state is None:
            raise NotInitializedError(
                f"{self.describe()} has no parameters yet: call "
                f"{self.name}.init(seed, input_shape) first, or use apply(params, state, x)"
            )
        return self.params, self.state

    def _float_dtype(self, dtype: Any) -> np.dtype:
        try:
            resolved = np.dtype(dtype)
        except TypeError:
            resolved = None
        if resolved not in FLOAT_DTYPES:
            raise self.error(DTypeError, f"parameters are float32 or float64, got {dtype!r}")
        return resolved

    def _shape(self, input_shape: Any) -> InputShape:
        if isinstance(input_shape, dict):
            return {name: self._shape(shape) for name, shape in input_shape.items()}
        if isinstance(input_shape, tuple | list) and any(
            isinstance(shape, tuple | list | dict) for shape in input_shape
        ):
            return tuple(self._shape(shape) for shape in input_shape)
        try:
            shape = tuple(int(size) for size in input_shape)
        except (TypeError, ValueError):
            shape = None
        if shape is None or any(size < 0 for size in shape):
            raise self.error(
                ShapeError,
                f"input_shape must be a tuple of sizes, batch axis included "
                f"(such as (1, 3, 32, 32)), got {input_shape!r}",
            )
        return shape

    def _attributed(self, error: AidjitError) -> AidjitError:
        """An error raised by an op inside this layer, with the layer named in front of its
        message (the innermost layer names itself; the containers around it pass it on)."""
        try:
            return self.error(type(error), str(error))
        except TypeError:  # an error class with another constructor: keep it as it is
            setattr(error, _ATTRIBUTED, True)
            return error


def _format_summary(rows: list[SummaryRow], input_shape: Shape, dtype: np.dtype) -> str:
    header = ("Layer (type)", "Output shape", "Params", "State")
    cells = [
        (
            "  " * row.depth + f"{row.name} ({row.kind})",
            str(row.output_shape),
            f"{row.params:,}",
            f"{row.state:,}",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def line(values: tuple[str, ...]) -> str:
        left = [values[i].ljust(widths[i]) for i in range(2)]
        right = [values[i].rjust(widths[i]) for i in range(2, len(values))]
        return "  ".join(left + right).rstrip()

    rule = "-" * len(line(header))
    top = rows[0]
    size = top.params * dtype.itemsize
    return "\n".join(
        [
            line(header),
            rule,
            *(line(values) for values in cells),
            rule,
            f"Input shape: {input_shape}, dtype {dtype.name}",
            f"Parameters: {top.params:,} ({size:,} bytes)",
            f"State values: {top.state:,}",
        ]
    )
