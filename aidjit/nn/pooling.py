"""Pooling layers on [N, C, H, W]: MaxPool2d, AvgPool2d, GlobalAvgPool2d (no parameters)."""

from typing import Any

from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.errors import ArgumentValueError, ShapeError
from aidjit.nn.module import Layer, Params, Shape
from aidjit.nn.shapes import Pair, pair, window_output_size


class _Pool2d(Layer):
    """A sliding window over H and W; subclasses pass their extra options to the op."""

    dilation: Pair = (1, 1)

    def __init__(
        self,
        kernel_size: int | Pair,
        stride: int | Pair | None,
        padding: int | Pair,
        ceil_mode: bool,
        name: str | None,
    ) -> None:
        super().__init__(name)
        what = self.describe()
        self.kernel_size = pair(kernel_size, f"{what}: kernel_size")
        self.stride = self.kernel_size if stride is None else pair(stride, f"{what}: stride")
        self.padding = pair(padding, f"{what}: padding")
        self.ceil_mode = ceil_mode
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise self.error(
                ArgumentValueError,
                f"padding {self.padding} must be at most half the kernel {self.kernel_size}",
            )

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_rank(input_shape, 4, "[N, C, H, W]")
        spatial = tuple(
            window_output_size(size, k, s, p, d, self.ceil_mode)
            for size, k, s, p, d in zip(
                input_shape[2:],
                self.kernel_size,
                self.stride,
                self.padding,
                self.dilation,
                strict=True,
            )
        )
        if min(spatial) < 1:
            raise self.error(
                ShapeError, f"input {input_shape} is smaller than the window {self.kernel_size}"
            )
        return (*input_shape[:2], *spatial)


class MaxPool2d(_Pool2d):
    """`MaxPool2d(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)`:
    torch.nn.MaxPool2d (stride defaults to the kernel size; padding counts as -inf)."""

    def __init__(
        self,
        kernel_size: int | Pair,
        stride: int | Pair | None = None,
        padding: int | Pair = 0,
        dilation: int | Pair = 1,
        ceil_mode: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, name)
        self.dilation = pair(dilation, f"{self.describe()}: dilation")

    def call(self, params: Params, x: Any) -> Any:
        return ops.max_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode
        )


class AvgPool2d(_Pool2d):
    """`AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True, divisor_override=None)`: torch.nn.AvgPool2d."""

    def __init__(
        self,
        kernel_size: int | Pair,
        stride: int | Pair | None = None,
        padding: int | Pair = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, name)
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def call(self, params: Params, x: Any) -> Any:
        return ops.avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )


class GlobalAvgPool2d(Layer):
    """`GlobalAvgPool2d(keepdims=True)`: the mean over H and W, [N, C, 1, 1] (torch's
    AdaptiveAvgPool2d(1)); [N, C] with keepdims=False (Keras' GlobalAveragePooling2D)."""

    def __init__(self, keepdims: bool = True, name: str | None = None) -> None:
        super().__init__(name)
        self.keepdims = keepdims

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_rank(input_shape, 4, "[N, C, H, W]")
        return (*input_shape[:2], 1, 1) if self.keepdims else input_shape[:2]

    def call(self, params: Params, x: Any) -> Any:
        if self.keepdims:
            return ops.global_avg_pool2d(x)
        return ops.mean(x, axis=(2, 3))
