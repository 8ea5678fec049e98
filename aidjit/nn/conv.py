"""Convolution layers (NCHW input, OIHW weights)."""

from typing import Any

import numpy as np

from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.errors import ArgumentValueError, ShapeError
from aidjit.nn import initializers
from aidjit.nn.module import Layer, Params, Shape, State
from aidjit.nn.shapes import Pair, pair, window_output_size


class Conv2d(Layer):
    """`Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True)`: torch.nn.Conv2d on [N, C, H, W] (`padding`: an int, a pair,
    "valid" or "same", the last at stride 1 only).

    Parameters: `weight` [out_channels, in_channels / groups, kH, kW], `bias` [out_channels].
    Initialised as torch's Conv2d, in this order, with fan_in = in_channels / groups * kH * kW:
    weight kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)); bias the same
    interval.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Pair,
        stride: int | Pair = 1,
        padding: str | int | Pair = 0,
        dilation: int | Pair = 1,
        groups: int = 1,
        bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        what = self.describe()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, f"{what}: kernel_size")
        self.stride = pair(stride, f"{what}: stride")
        self.dilation = pair(dilation, f"{what}: dilation")
        self.padding = padding if isinstance(padding, str) else pair(padding, f"{what}: padding")
        self.use_bias = bias
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise self.error(
                ArgumentValueError,
                f"groups={groups} must divide in_channels={in_channels} and "
                f"out_channels={out_channels}",
            )
        if padding not in ("valid", "same") and isinstance(padding, str):
            raise self.error(
                ArgumentValueError,
                f"padding must be 'valid', 'same', an int or a pair, got {padding!r}",
            )
        if padding == "same" and self.stride != (1, 1):
            raise self.error(
                ArgumentValueError, f"padding='same' needs stride 1, got {self.stride}"
            )

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_rank(input_shape, 4, "[N, C, H, W]")
        self.expect_size(input_shape, 1, self.in_channels, "input channels")
        if self.padding == "same":
            return (input_shape[0], self.out_channels, *input_shape[2:])
        padding = (0, 0) if self.padding == "valid" else self.padding
        spatial = tuple(
            window_output_size(*args)
            for args in zip(
                input_shape[2:], self.kernel_size, self.stride, padding, self.dilation, strict=True
            )
        )
        if min(spatial) < 1:
            raise self.error(
                ShapeError,
                f"input {input_shape} is smaller than the (dilated, padded) "
                f"kernel {self.kernel_size}",
            )
        return (input_shape[0], self.out_channels, *spatial)

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        per_group = self.in_channels // self.groups
        fan_in = per_group * self.kernel_size[0] * self.kernel_size[1]
        shape = (self.out_channels, per_group, *self.kernel_size)
        params = {"weight": initializers.kaiming_uniform(rng, shape, fan_in, dtype)}
        if self.use_bias:
            params["bias"] = initializers.bias_uniform(rng, (self.out_channels,), fan_in, dtype)
        return params, {}

    def call(self, params: Params, x: Any) -> Any:
        return ops.conv2d(
            x,
            params["weight"],
            params.get("bias"),
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )
