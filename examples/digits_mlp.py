"""An MLP on scikit-learn's digits, trained with aidjit.Trainer compiled and eagerly.

    python examples/digits_mlp.py [--epochs 15] [--png digits_mlp.png] [--no-png]

64 standardised pixels -> Dense 256 -> BatchNorm -> ReLU -> Dropout 0.3 -> Dense 10, Adam
(lr 1e-3), batch 32, fixed seeds. Prints per epoch the loss, accuracy, test accuracy and time of
the compiled and the eager run, the test accuracies, the median epoch times and their ratio, and
saves the loss and accuracy curves as a PNG. See examples/digits.py for what is measured.
Needs `pip install -e '.[examples]'`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # digits.py, run as a script or imported

import digits  # noqa: E402

import aidjit.optim as optim  # noqa: E402
from aidjit import nn  # noqa: E402

EPOCHS = 15
SAMPLE_SHAPE = (64,)


def build() -> nn.Sequential:
    # No bias before batch norm: the norm cancels it, so its gradient is rounding noise that
    # Adam would scale up to lr-sized steps, different compiled and eager.
    return nn.Sequential(
        nn.Dense(64, 256, bias=False),
        nn.BatchNorm1d(256),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Dense(256, 10),
    )


def optimizer() -> optim.Adam:
    return optim.Adam(lr=1e-3)


def main(argv: Sequence[str] | None = None) -> tuple[digits.Run, digits.Run]:
    return digits.main("digits_mlp", "digits MLP", build, optimizer, SAMPLE_SHAPE, EPOCHS, argv)


if __name__ == "__main__":
    main()
