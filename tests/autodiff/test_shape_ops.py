"""Shape ops beyond the op table: torch's interpolation against values worked out by hand, numpy's
pad in every mode and width, and the error each misuse raises (naming the op and the shapes)."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from aidjit import Tensor, ops
from aidjit.errors import AidjitError
from tests.op_cases import _interpolate_ref

SQUARE = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
THIRDS = np.array([[3, 4, 5, 6], [5, 6, 7, 8], [7, 8, 9, 10], [9, 10, 11, 12]]) / 3

HAND_COMPUTED = [
    # torch.nn.functional.interpolate(SQUARE, scale_factor=2, mode="bilinear"): source rows
    # and columns at (dst + 0.5) / 2 - 0.5, clamped at 0: 0, 0.25, 0.75, 1.
    (
        dict(scale_factor=2, mode="bilinear"),
        (4, 4),
        np.array(
            [
                [1.0, 1.25, 1.75, 2.0],
                [1.5, 1.75, 2.25, 2.5],
                [2.5, 2.75, 3.25, 3.5],
                [3.0, 3.25, 3.75, 4.0],
            ]
        ),
    ),
    # align_corners: sources at dst / 3, so the corners are the input's corners.
    (dict(size=4, mode="bilinear", align_corners=True), (4, 4), THIRDS),
    # nearest to 3: source floor(dst * 2/3) = 0, 0, 1.
    (dict(size=3), (3, 3), np.array([[1.0, 1, 2], [1, 1, 2], [3, 3, 4]])),
    (dict(scale_factor=2), (4, 4), np.kron(SQUARE[0, 0], np.ones((2, 2)))),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("options", "size", "expected"), HAND_COMPUTED)
def test_upsample_and_its_reference_match_hand_computed_values(
    options: dict[str, Any], size: tuple[int, int], expected: np.ndarray, dtype: type
) -> None:
    x = SQUARE.astype(dtype)
    result = ops.upsample(Tensor(x), **options).numpy()
    assert result.dtype == dtype
    np.testing.assert_allclose(result[0, 0], expected, rtol=1e-6)
    mode = options.get("mode", "nearest")
    factor = options.get("scale_factor")
    reference = _interpolate_ref(
        x,
        size,
        mode,
        options.get("align_corners", False),
        None if factor is None else float(factor),
    )
    np.testing.assert_allclose(reference[0, 0], expected, rtol=1e-6)


def test_nearest_downsampling_picks_torch_indices() -> None:
    """7 -> 3: sources floor(dst * 7/3) = 0, 2, 4; 5 -> 2 by scale_factor 0.5: floor(dst * 2)."""
    line = np.arange(7.0).reshape(1, 1, 7)
    np.testing.assert_array_equal(ops.upsample(Tensor(line), size=3).numpy()[0, 0], [0, 2, 4])
    short = Tensor(line[..., :5])
    np.testing.assert_array_equal(ops.upsample(short, scale_factor=0.5).numpy()[0, 0], [0, 2])


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
def test_pad_matches_numpy_for_every_width(mode: str) -> None:
    for shape in [(1,), (3,), (4, 2)]:
        x = np.arange(float(np.prod(shape))).reshape(shape) + 1
        for widths in [0, 1, (0, 3), (2, 0), ((5, 1),), 7]:
            if mode == "reflect" and shape == (1,) and widths:
                continue  # numpy reflects an axis of one element as edge: covered by edge
            result = ops.pad(Tensor(x), widths, mode=mode).numpy()
            np.testing.assert_array_equal(result, np.pad(x, widths, mode=mode), f"{shape} {widths}")


X = Tensor(np.zeros((4, 3)))
IMAGE = Tensor(np.zeros((1, 3, 2, 2)))

ERRORS: list[tuple[Callable[[], Any], str]] = [
    (
        lambda: ops.concat([X, Tensor(np.zeros((3, 3)))], axis=1),
        r"concat: tensor<4x3xf64> and tensor<3x3xf64> differ off axis 1",
    ),
    (lambda: ops.concat([]), r"concat: needs at least one tensor"),
    (lambda: ops.concat([X, X], axis=2), r"concat: axis 2 is out of range for a tensor of rank 2"),
    (lambda: ops.concat([Tensor(1.0), Tensor(2.0)]), r"concat: zero-dimensional tensors"),
    (
        lambda: ops.stack([X, X[1:]]),
        r"stack: all tensors must have the same shape, got tensor<4x3xf64>, tensor<3x3xf64>",
    ),
    (lambda: ops.split(X, 3), r"split: axis 0 of tensor<4x3xf64> does not split into 3 equal"),
    (lambda: ops.pad(X, -1), r"pad: pad_width -1 must be non-negative \(tensor tensor<4x3xf64>\)"),
    (
        lambda: ops.pad(X, ((1, 2, 3),)),
        r"pad: pad_width \(\(1, 2, 3\),\) does not give \(before, "
        r"after\) for each axis of tensor<4x3xf64>",
    ),
    (lambda: ops.pad(X, 1.5), r"pad: pad_width must hold integers, got 1.5"),
    (lambda: ops.pad(X, 1, mode="mean"), r"pad: mode 'mean' is not supported; use one of"),
    (
        lambda: ops.pad(X[:0], 1, mode="reflect"),
        r"pad: cannot pad the empty axis 0 of tensor<0x3xf64> in mode 'reflect'",
    ),
    (lambda: ops.squeeze(X, 0), r"squeeze: axis 0 of tensor<4x3xf64> has size 4, not 1"),
    (lambda: ops.expand_dims(X, 3), r"expand_dims: axis 3 is out of range for a tensor of rank 3"),
    (lambda: ops.flip(X, -3), r"flip: axis -3 is out of range for a tensor of rank 2"),
    (lambda: ops.tile(X, (2, -1)), r"tile: reps must be non-negative, got \(2, -1\)"),
    (
        lambda: ops.repeat(X, [1, 2], axis=0),
        r"repeat: 2 repeats for axis 0 of tensor<4x3xf64> \(size 4\)",
    ),
    (lambda: ops.slice_axis(X, 0, 2, 0), r"slice_axis: step must not be zero"),
    (
        lambda: ops.crop(Tensor(np.zeros(3)), 0, 0, 1, 1),
        r"crop: expected a tensor of rank at least 2 \(..., H, W\), got tensor<3xf64>",
    ),
    (
        lambda: ops.pixel_shuffle(IMAGE, 2),
        r"pixel_shuffle: channels 3 of tensor<1x3x2x2xf64> are "
        r"not divisible by upscale_factor\*\*2 = 4",
    ),
    (
        lambda: ops.pixel_unshuffle(IMAGE, 3),
        r"pixel_unshuffle: height 2 and width 2 of "
        r"tensor<1x3x2x2xf64> are not divisible by downscale_factor 3",
    ),
    (
        lambda: ops.upsample(IMAGE, size=4, scale_factor=2),
        r"upsample: give exactly one of size and scale_factor \(input tensor<1x3x2x2xf64>\)",
    ),
    (
        lambda: ops.upsample(X, size=4, mode="bilinear"),
        r"upsample: mode 'bilinear' needs a tensor of rank 4, got tensor<4x3xf64>",
    ),
    (
        lambda: ops.upsample(IMAGE, size=4, align_corners=True),
        r"upsample: align_corners can only be set with the linear modes",
    ),
    (
        lambda: ops.upsample(IMAGE, size=4, mode="bicubic"),
        r"upsample: mode 'bicubic' is not supported",
    ),
    (
        lambda: ops.upsample(IMAGE, scale_factor=0.3),
        r"upsample: input and output sizes must be positive, got tensor<1x3x2x2xf64> to \(0, 0\)",
    ),
]


@pytest.mark.parametrize(("call", "message"), ERRORS, ids=[m.split(":")[0] for _, m in ERRORS])
def test_errors_name_the_op_and_the_shapes(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(AidjitError, match=message):
        call()
