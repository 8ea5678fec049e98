"""Convolution layers on [N, C, H, W]: Conv2d, DepthwiseConv2d, ConvTranspose2d (shared
weights, torch's layouts and initialisation) and LocallyConnected2d (a weight per position)."""

import math
from typing import Any

import numpy as np

from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.errors import ArgumentValueError, ShapeError
from aidjit.nn import initializers
from aidjit.nn.module import Layer, Params, Shape, State
from aidjit.nn.shapes import Pair, pair, window_output_size


class _Convolution(Layer):
    """What Conv2d and ConvTranspose2d share: channels and groups, the kernel, stride and
    dilation pairs, and torch's initialisation, in this order: `weight` of
    `weight_shape()` kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), then
    `bias` [out_channels] in the same interval, with fan_in as torch computes it from the
    weight: its axis 1 times kH * kW."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Pair,
        stride: int | Pair,
        dilation: int | Pair,
        groups: int,
        bias: bool,
        name: str | None,
    ) -> None:
        super().__init__(name)
        what = self.describe()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, f"{what}: kernel_size")
        self.stride = pair(stride, f"{what}: stride")
        self.dilation = pair(dilation, f"{what}: dilation")
        self.use_bias = bias
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise self.error(
                ArgumentValueError,
                f"groups={groups} must divide in_channels={in_channels} and "
                f"out_channels={out_channels}",
            )

    def weight_shape(self) -> Shape:
        raise NotImplementedError(f"{type(self).__name__}.weight_shape")

    def check_input(self, input_shape: Shape) -> None:
        self.expect_rank(input_shape, 4, "[N, C, H, W]")
        self.expect_size(input_shape, 1, self.in_channels, "input channels")

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        shape = self.weight_shape()
        fan_in = math.prod(shape[1:])
        params = {"weight": initializers.kaiming_uniform(rng, shape, fan_in, dtype)}
        if self.use_bias:
            params["bias"] = initializers.bias_uniform(rng, (self.out_channels,), fan_in, dtype)
        return params, {}


class Conv2d(_Convolution):
    """`Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True)`: torch.nn.Conv2d on [N, C, H, W] (`padding`: an int, a pair,
    "valid" or "same", the last at stride 1 only).

    Parameters: `weight` [out_channels, in_channels / groups, kH, kW], `bias` [out_channels].
    Initialised as torch's Conv2d (see `_Convolution`), fan_in = in_channels / groups * kH * kW.
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
        super().__init__(
            in_channels, out_channels, kernel_size, stride, dilation, groups, bias, name
        )
        what = self.describe()
        self.padding = padding if isinstance(padding, str) else pair(padding, f"{what}: padding")
        if padding not in ("valid", "same") and isinstance(padding, str):
            raise self.error(
                ArgumentValueError,
                f"padding must be 'valid', 'same', an int or a pair, got {padding!r}",
            )
        if padding == "same" and self.stride != (1, 1):
            raise self.error(
                ArgumentValueError, f"padding='same' needs stride 1, got {self.stride}"
            )

    def weight_shape(self) -> Shape:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    def output_shape(self, input_shape: Shape) -> Shape:
        self.check_input(input_shape)
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


class DepthwiseConv2d(Conv2d):
    """`DepthwiseConv2d(in_channels, kernel_size, depth_multiplier=1, stride=1, padding=0,
    dilation=1, bias=True)`: each input channel convolved with its own `depth_multiplier`
    filters, `Conv2d(in_channels, in_channels * depth_multiplier, groups=in_channels)` as
    torch writes it (Keras' DepthwiseConv2D in NCHW). Output channel c * depth_multiplier + m
    comes from input channel c.

    Parameters: `weight` [in_channels * depth_multiplier, 1, kH, kW], `bias`
    [in_channels * depth_multiplier]; fan_in = kH * kW (torch's Conv2d init)."""

    def __init__(
        self,
        in_channels: int,
        kernel_size: int | Pair,
        depth_multiplier: int = 1,
        stride: int | Pair = 1,
        padding: str | int | Pair = 0,
        dilation: int | Pair = 1,
        bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            in_channels * depth_multiplier,
            kernel_size,
            stride,
            padding,
            dilation,
            groups=in_channels,
            bias=bias,
            name=name,
        )
        if depth_multiplier < 1:
            raise self.error(
                ArgumentValueError, f"depth_multiplier must be positive, got {depth_multiplier}"
            )
        self.depth_multiplier = depth_multiplier


class ConvTranspose2d(_Convolution):
    """`ConvTranspose2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1)`: torch.nn.ConvTranspose2d on
    [N, C, H, W] (the input gradient of a Conv2d with these arguments; a learned upsampling).
    Output size per axis: (H - 1) * stride - 2 * padding + dilation * (kH - 1) +
    output_padding + 1; output_padding (extra rows and columns on the high side, to pick
    among the input sizes a strided Conv2d maps to one size) must be smaller than the stride
    or the dilation.

    Parameters: `weight` [in_channels, out_channels / groups, kH, kW] (torch's layout),
    `bias` [out_channels]. Initialised as torch's ConvTranspose2d (see `_Convolution`), with
    torch's fan_in from the weight's axis 1: out_channels / groups * kH * kW.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Pair,
        stride: int | Pair = 1,
        padding: int | Pair = 0,
        output_padding: int | Pair = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | Pair = 1,
        name: str | None = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, dilation, groups, bias, name
        )
        what = self.describe()
        self.padding = pair(padding, f"{what}: padding")
        self.output_padding = pair(output_padding, f"{what}: output_padding")
        if min(self.padding) < 0:
            raise self.error(ArgumentValueError, f"padding {self.padding} must be non-negative")
        for extra, stride_, dilation_ in zip(
            self.output_padding, self.stride, self.dilation, strict=True
        ):
            if not 0 <= extra < max(stride_, dilation_):
                raise self.error(
                    ArgumentValueError,
                    f"output_padding {self.output_padding} must be smaller than either the "
                    f"stride {self.stride} or the dilation {self.dilation}",
                )

    def weight_shape(self) -> Shape:
        return (self.in_channels, self.out_channels // self.groups, *self.kernel_size)

    def output_shape(self, input_shape: Shape) -> Shape:
        self.check_input(input_shape)
        spatial = tuple(
            (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + extra + 1
            for size, kernel, stride, padding, dilation, extra in zip(
                input_shape[2:],
                self.kernel_size,
                self.stride,
                self.padding,
                self.dilation,
                self.output_padding,
                strict=True,
            )
        )
        if min(spatial) < 1:
            raise self.error(
                ShapeError,
                f"input {input_shape} gives an empty output {spatial}: padding {self.padding} "
                "crops more than the transposed convolution makes",
            )
        return (input_shape[0], self.out_channels, *spatial)

    def call(self, params: Params, x: Any) -> Any:
        return ops.conv_transpose2d(
            x,
            params["weight"],
            params.get("bias"),
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )


class LocallyConnected2d(Layer):
    """`LocallyConnected2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    bias=True)`: a Conv2d whose filters differ at every output position (Keras'
    LocallyConnected2D, in NCHW; torch has none), for inputs where position matters, such as
    aligned faces or digits.

    The weights depend on the input's height and width, so `init`'s input shape fixes them
    (another size is an error naming the layer). Parameters: `weight` [OH, OW, out_channels,
    in_channels, kH, kW], `bias` [out_channels, OH, OW]. Initialised as a Conv2d at each
    position (torch's default, fan_in = in_channels * kH * kW): weight kaiming_uniform(a=√5),
    bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Pair,
        stride: int | Pair = 1,
        padding: int | Pair = 0,
        bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        what = self.describe()
        self.in_channels, self.out_channels, self.use_bias = in_channels, out_channels, bias
        self.kernel_size = pair(kernel_size, f"{what}: kernel_size")
        self.stride = pair(stride, f"{what}: stride")
        self.padding = pair(padding, f"{what}: padding")

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_rank(input_shape, 4, "[N, C, H, W]")
        self.expect_size(input_shape, 1, self.in_channels, "input channels")
        spatial = tuple(
            window_output_size(*args)
            for args in zip(
                input_shape[2:], self.kernel_size, self.stride, self.padding, strict=True
            )
        )
        if min(spatial) < 1:
            raise self.error(
                ShapeError, f"input {input_shape} is smaller than the kernel {self.kernel_size}"
            )
        return (input_shape[0], self.out_channels, *spatial)

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        _, _, oh, ow = self.output_shape(input_shape)
        fan_in = self.in_channels * math.prod(self.kernel_size)
        shape = (oh, ow, self.out_channels, self.in_channels, *self.kernel_size)
        params = {"weight": initializers.kaiming_uniform(rng, shape, fan_in, dtype)}
        if self.use_bias:
            params["bias"] = initializers.bias_uniform(
                rng, (self.out_channels, oh, ow), fan_in, dtype
            )
        return params, {}

    def call(self, params: Params, x: Any) -> Any:
        positions = tuple(np.shape(params["weight"])[:2])
        spatial = self.output_shape(tuple(np.shape(x)))[2:]
        if positions != spatial:
            raise self.error(
                ShapeError,
                f"the weights were made for a {positions[0]}x{positions[1]} output, input "
                f"{tuple(np.shape(x))} gives {spatial[0]}x{spatial[1]}: a locally connected "
                "layer takes the height and width given to init",
            )
        return ops.locally_connected2d(
            x, params["weight"], params.get("bias"), self.stride, self.padding
        )
