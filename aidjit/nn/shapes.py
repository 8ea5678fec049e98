"""Shape arithmetic shared by the windowed layers (convolutions, pooling): torch's formulas."""

from collections.abc import Sequence

from aidjit.errors import ArgumentValueError

Pair = tuple[int, int]


def pair(value: int | Sequence[int], what: str) -> Pair:
    """`3 -> (3, 3)`, `(3, 5) -> (3, 5)`: a per-axis (height, width) argument."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int) for v in values):
        raise ArgumentValueError(f"{what}: expected an int or a pair of ints, got {value!r}")
    return values[0], values[1]


def window_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of a sliding window (torch.nn.Conv2d's and MaxPool2d's formula):
    floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1, rounded up with
    `ceil_mode`, where a last window starting in the right padding is dropped."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out
