"""Tiny models and data sets the trainer tests share (seeded, float32)."""

import numpy as np

from aidjit import nn


def mlp() -> nn.Sequential:
    """[N, 6] -> [N, 3] with batch norm and dropout. The Dense before the norm has no bias, as
    in practice: batch norm cancels it, its gradient is rounding noise, and Adam would turn that
    noise into lr-sized steps of either sign, different eagerly and compiled."""
    return nn.Sequential(
        nn.Dense(6, 8, bias=False),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Dense(8, 3),
    )


def cnn() -> nn.Sequential:
    """[N, 1, 6, 6] -> [N, 3]: convolution, batch norm, pooling, dropout, dense."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Dense(4 * 3 * 3, 3),
    )


SAMPLE_SHAPES = {"mlp": (6,), "cnn": (1, 6, 6)}


def classification(sample_shape: tuple[int, ...], count: int, seed: int = 0) -> tuple:
    """`count` float32 inputs of `sample_shape` and int64 labels in [0, 3) that depend on them."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, *sample_shape)).astype(np.float32)
    flat = x.reshape(count, -1)
    y = (flat[:, 0] > 0).astype(np.int64) + (flat[:, 1] > 0.5).astype(np.int64)
    return x, y
