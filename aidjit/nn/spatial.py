"""Layers that move pixels: Upsample, PixelShuffle, PixelUnshuffle (no parameters) and
SpatialTransformer (a learned affine warp)."""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.errors import ArgumentValueError, ShapeError
from aidjit.nn.containers import Container
from aidjit.nn.module import Layer, Params, Shape, State
from aidjit.nn.shapes import Pair, pair

UPSAMPLE_RANKS = {"nearest": (3, 4, 5), "linear": (3,), "bilinear": (4,), "trilinear": (5,)}
"""Upsample's modes and the input ranks (N, C, *spatial) each takes: torch's interpolate."""


class Upsample(Layer):
    """`Upsample(size=None, scale_factor=None, mode="nearest", align_corners=None)`:
    torch.nn.Upsample on [N, C, *spatial] (1 to 3 spatial axes), to `size` or by
    `scale_factor` (per spatial axis, or one for all), the output size floor(size * factor).

    `mode`: "nearest" (torch's rule: source index floor(dst / factor), copies), or "linear",
    "bilinear", "trilinear" for 1, 2, 3 spatial axes (the two neighbours per axis weighed
    by distance; `align_corners` as torch, False by default). No parameters.
    """

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if (size is None) == (scale_factor is None):
            raise self.error(
                ArgumentValueError,
                f"give exactly one of size and scale_factor, got size={size!r}, "
                f"scale_factor={scale_factor!r}",
            )
        if mode not in UPSAMPLE_RANKS:
            raise self.error(
                ArgumentValueError,
                f"mode must be one of {', '.join(UPSAMPLE_RANKS)}, got {mode!r}",
            )
        if mode == "nearest" and align_corners is not None:
            raise self.error(
                ArgumentValueError, "align_corners can only be set with the linear modes"
            )
        self.size, self.scale_factor = size, scale_factor
        self.mode, self.align_corners = mode, align_corners

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_rank(input_shape, UPSAMPLE_RANKS[self.mode], "[N, C, *spatial]")
        spatial = input_shape[2:]
        given = self.size if self.size is not None else self.scale_factor
        per_axis = tuple(given) if isinstance(given, Sequence) else (given,) * len(spatial)
        if len(per_axis) != len(spatial):
            raise self.error(
                ShapeError,
                f"{len(per_axis)} sizes or factors for {len(spatial)} spatial axes of shape "
                f"{input_shape}",
            )
        if self.size is not None:
            sizes = tuple(int(size) for size in per_axis)
        else:
            sizes = tuple(math.floor(n * float(f)) for n, f in zip(spatial, per_axis, strict=True))
        if min(sizes, default=1) < 1:
            raise self.error(ShapeError, f"input {input_shape} gives an empty output {sizes}")
        return (*input_shape[:2], *sizes)

    def call(self, params: Params, x: Any) -> Any:
        return ops.upsample(x, self.size, self.scale_factor, self.mode, self.align_corners)


class PixelShuffle(Layer):
    """`PixelShuffle(upscale_factor)`: torch.nn.PixelShuffle, [*, C * r * r, H, W] ->
    [*, C, H * r, W * r], out[c, h * r + i, w * r + j] = in[c * r * r + i * r + j, h, w]
    (sub-pixel convolution's upsampling, Shi et al. 2016). No parameters."""

    def __init__(self, upscale_factor: int, name: str | None = None) -> None:
        super().__init__(name)
        if not isinstance(upscale_factor, int) or upscale_factor < 1:
            raise self.error(
                ArgumentValueError, f"upscale_factor must be a positive int, got {upscale_factor!r}"
            )
        self.upscale_factor = upscale_factor

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_min_rank(input_shape, 3, "[*, C, H, W]")
        r = self.upscale_factor
        *batch, channels, height, width = input_shape
        if channels % (r * r):
            raise self.error(
                ShapeError,
                f"channels (axis {len(batch)}) must be divisible by upscale_factor² = {r * r}, "
                f"got shape {input_shape}",
            )
        return (*batch, channels // (r * r), height * r, width * r)

    def call(self, params: Params, x: Any) -> Any:
        return ops.pixel_shuffle(x, self.upscale_factor)


class PixelUnshuffle(Layer):
    """`PixelUnshuffle(downscale_factor)`: torch.nn.PixelUnshuffle, PixelShuffle's inverse,
    [*, C, H * r, W * r] -> [*, C * r * r, H, W]. No parameters."""

    def __init__(self, downscale_factor: int, name: str | None = None) -> None:
        super().__init__(name)
        if not isinstance(downscale_factor, int) or downscale_factor < 1:
            raise self.error(
                ArgumentValueError,
                f"downscale_factor must be a positive int, got {downscale_factor!r}",
            )
        self.downscale_factor = downscale_factor

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_min_rank(input_shape, 3, "[*, C, H, W]")
        r = self.downscale_factor
        *batch, channels, height, width = input_shape
        if height % r or width % r:
            raise self.error(
                ShapeError,
                f"height and width must be divisible by downscale_factor = {r}, got shape "
                f"{input_shape}",
            )
        return (*batch, channels * r * r, height // r, width // r)

    def call(self, params: Params, x: Any) -> Any:
        return ops.pixel_unshuffle(x, self.downscale_factor)


IDENTITY_THETA = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
"""The affine map [[1, 0, 0], [0, 1, 0]], row-major: the output samples the input in place."""


class SpatialTransformer(Container):
    """`SpatialTransformer(localization, output_size=None, mode="bilinear",
    padding_mode="zeros", align_corners=False)`: Jaderberg et al.'s spatial transformer
    (2015), as PyTorch's tutorial builds it, on [N, C, H, W].

    The `localization` layer (any layer, such as convolutions ending in `Flatten` and a
    `Dense`) maps the input to features [N, ...]; a last dense layer of this layer's own,
    `theta`, maps the flattened features (F of them) to the 6 numbers of an affine map
    theta [N, 2, 3]; the output samples the input at `ops.affine_grid(theta, (N, C,
    *output_size))` with `ops.grid_sample(mode, padding_mode, align_corners)`. `output_size`
    (H_out, W_out) defaults to the input's H and W.

    Parameters: `{localization.name: ..., "theta": {"weight": [F, 6], "bias": [6]}}`;
    `theta` starts as the identity transform (weight zeros, bias [1, 0, 0, 0, 1, 0]: the STN
    paper's and the tutorial's initialisation), so training starts from an untouched image and
    learns only the warp that helps. State: the localization's.
    """

    def __init__(
        self,
        localization: Layer,
        output_size: int | Pair | None = None,
        mode: str = "bilinear",
        padding_mode: str = "zeros",
        align_corners: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(localization, name=name)
        if localization.name == "theta":
            raise self.error(
                ArgumentValueError,
                "the localization layer may not be named 'theta', the name of the affine head",
            )
        for option, value, choices in (
            ("mode", mode, ops.spatial.SAMPLING_MODES),
            ("padding_mode", padding_mode, ops.spatial.PADDING_MODES),
        ):
            if value not in choices:
                raise self.error(
                    ArgumentValueError,
                    f"{option} must be one of {', '.join(choices)}, got {value!r}",
                )
        what = self.describe()
        self.output_size = (
            None if output_size is None else pair(output_size, f"{what}: output_size")
        )
        self.mode, self.padding_mode, self.align_corners = mode, padding_mode, align_corners

    @property
    def localization(self) -> Layer:
        return self.layers[0]

    def child_input_shapes(self, input_shape: Shape) -> list[Shape]:
        return [input_shape]

    def features(self, input_shape: Shape) -> int:
        """F: the number of features the localization gives per sample."""
        shape = self.localization.output_shape(input_shape)
        if len(shape) < 1 or shape[0] != input_shape[0]:
            raise self.error(
                ShapeError,
                f"{self.localization.describe()} maps {input_shape} to {shape}: the "
                "localization must keep the batch axis",
            )
        return math.prod(shape[1:])

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_rank(input_shape, 4, "[N, C, H, W]")
        self.features(input_shape)
        return (*input_shape[:2], *(self.output_size or input_shape[2:]))

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        params, state = super().build(rng, input_shape, dtype)
        features = self.features(input_shape)
        params["theta"] = {
            "weight": np.zeros((features, 6), dtype),
            "bias": np.array(IDENTITY_THETA, dtype),
        }
        return params, state

    def forward(
        self, params: Params, state: State, x: Any, training: bool, key: Any
    ) -> tuple[Any, State]:
        (features,), new_state = self.apply_children(params, state, x, training, key)
        input_shape = tuple(np.shape(x))
        flat = ops.reshape(features, (input_shape[0], self.features(input_shape)))
        head = params["theta"]
        theta = ops.add(ops.matmul(flat, head["weight"]), head["bias"])
        output_shape = self.output_shape(input_shape)
        grid = ops.affine_grid(
            ops.reshape(theta, (input_shape[0], 2, 3)), output_shape, self.align_corners
        )
        y = ops.grid_sample(x, grid, self.mode, self.padding_mode, self.align_corners)
        return y, new_state
