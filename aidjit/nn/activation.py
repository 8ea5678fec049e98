"""Activation layers: `Activation(activation, **options)` by name, and one class per common
activation, made from a table (`ACTIVATION_LAYERS`) rather than written out one by one.

Each is `ops.apply_activation(x, activation, **options)`, so the names and options are those of
aidjit.ops (torch.nn.functional's): `Activation("leaky_relu", negative_slope=0.2)` is
`LeakyReLU(0.2)`. Softmax and LogSoftmax take `axis` (default -1, the last). No parameters.
"""

import inspect
from typing import Any

import numpy as np

from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.errors import ArgumentValueError, ShapeError
from aidjit.nn.module import Layer, Params, Shape


class Activation(Layer):
    """`Activation(activation, **options)`: the activation function of aidjit.ops named
    `activation` ("relu", "gelu", "leaky_relu", ..., "linear"), with its keyword options.
    The layer's default name is the activation's."""

    def __init__(self, activation: str, *, name: str | None = None, **options: Any) -> None:
        self.activation, self.options = activation, options
        self.default_name = activation
        super().__init__(name)
        try:  # the one list of activation names is ops.apply_activation's: ask it
            ops.apply_activation(np.zeros(1, np.float32), activation)
        except ValueError as error:
            raise self.error(ArgumentValueError, f"{error}") from None
        accepted = _option_names(activation)
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise self.error(
                ArgumentValueError,
                f"{activation!r} takes {', '.join(accepted) or 'no options'}, "
                f"got {', '.join(unknown)}",
            )

    def output_shape(self, input_shape: Shape) -> Shape:
        axis = self.options.get("axis")
        if axis is not None and not -len(input_shape) <= axis < len(input_shape):
            raise self.error(
                ShapeError, f"axis {axis} is out of range for input shape {input_shape}"
            )
        return input_shape

    def call(self, params: Params, x: Any) -> Any:
        return ops.apply_activation(x, self.activation, **self.options)


def _option_names(activation: str) -> list[str]:
    """The keyword options of the ops function behind `activation` (none for "linear")."""
    function = getattr(ops, activation, None)
    return [] if function is None else list(inspect.signature(function).parameters)[1:]


ACTIVATION_LAYERS: list[type[Activation]] = []
"""Every class `_activation_class` made, in the table's order (for tests and docs)."""


def _activation_class(class_name: str, activation: str, torch_name: str = "") -> type[Activation]:
    """A subclass of Activation fixed to `activation`, whose constructor takes that function's
    options positionally or by keyword, as torch's class does (`LeakyReLU(0.2)`); torch_name is
    torch's class name where it differs."""
    option_names = _option_names(activation)

    def __init__(self: Activation, *args: Any, name: str | None = None, **options: Any) -> None:
        if len(args) > len(option_names):
            raise ArgumentValueError(
                f"{class_name}: takes {', '.join(option_names) or 'no options'}, got {args}"
            )
        options.update(zip(option_names, args, strict=False))
        Activation.__init__(self, activation, name=name, **options)

    options_text = ", ".join(option_names)
    doc = (
        f"`{class_name}({options_text})`: torch.nn.{torch_name or class_name}, `ops.{activation}` "
        f"elementwise{' along axis' if 'axis' in option_names else ''}; no parameters."
    )
    made = type(class_name, (Activation,), {"__init__": __init__, "__doc__": doc})
    ACTIVATION_LAYERS.append(made)
    return made


ReLU = _activation_class("ReLU", "relu")
LeakyReLU = _activation_class("LeakyReLU", "leaky_relu")
ELU = _activation_class("ELU", "elu")
SELU = _activation_class("SELU", "selu")
GELU = _activation_class("GELU", "gelu")
SiLU = _activation_class("SiLU", "silu")
Sigmoid = _activation_class("Sigmoid", "sigmoid")
Tanh = _activation_class("Tanh", "tanh")
Softplus = _activation_class("Softplus", "softplus")
Mish = _activation_class("Mish", "mish")
HardTanh = _activation_class("HardTanh", "hard_tanh", "Hardtanh")
HardSigmoid = _activation_class("HardSigmoid", "hard_sigmoid", "Hardsigmoid")
LogSoftmax = _activation_class("LogSoftmax", "log_softmax")
Softmax = _activation_class("Softmax", "softmax")
