"""A small CNN on scikit-learn's digits, trained with aidjit.Trainer compiled and eagerly.

    python examples/digits_cnn.py [--epochs 12] [--png digits_cnn.png] [--no-png]

[1, 8, 8] standardised images -> three 3x3 convolutions (16, 32, 64 channels), each with batch
norm and ReLU, max pooling 2x2 after the second and third -> Dropout 0.3 -> Dense 10; Adam
(lr 1e-3), batch 32, fixed seeds. Prints per epoch the loss, accuracy, test accuracy and time of
the compiled and the eager run, the test accuracies, the median epoch times and their ratio, and
saves the loss and accuracy curves as a PNG. See examples/digits.py for what is measured;
bench/train.py times the same model against PyTorch. Needs `pip install -e '.[examples]'`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # digits.py, run as a script or imported

import digits  # noqa: E402

import aidjit.optim as optim  # noqa: E402
from aidjit import nn  # noqa: E402

EPOCHS = 12
SAMPLE_SHAPE = (1, 8, 8)
CHANNELS = (16, 32, 64)
POOLED = (False, True, True)
"""Max pooling after each convolution or not: 8x8 -> 8x8 -> 4x4 -> 2x2."""


def conv_block(in_channels: int, out_channels: int, pool: bool) -> list[nn.Layer]:
    # No bias before batch norm (see digits_mlp.py).
    layers = [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]
    return [*layers, nn.MaxPool2d(2)] if pool else layers


def build() -> nn.Sequential:
    blocks = [
        layer
        for in_channels, out_channels, pool in zip((1, *CHANNELS), CHANNELS, POOLED, strict=False)
        for layer in conv_block(in_channels, out_channels, pool)
    ]
    side = SAMPLE_SHAPE[-1] // 2 ** sum(POOLED)
    return nn.Sequential(
        *blocks, nn.Flatten(), nn.Dropout(0.3), nn.Dense(CHANNELS[-1] * side * side, 10)
    )


def optimizer() -> optim.Adam:
    return optim.Adam(lr=1e-3)


def main(argv: Sequence[str] | None = None) -> tuple[digits.Run, digits.Run]:
    return digits.main("digits_cnn", "digits CNN", build, optimizer, SAMPLE_SHAPE, EPOCHS, argv)


if __name__ == "__main__":
    main()
