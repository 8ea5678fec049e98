"""A spatial transformer that learns to find and zoom in on a small glyph, on synthetic images.

    python examples/spatial_transformer.py [--epochs 8]

Each 16x16 image holds one of four 5x5 glyphs (a plus, a cross, a square outline, a corner) at a
random place, with noise. The model first warps the image with an `nn.SpatialTransformer`
(Jaderberg et al. 2015): a small localization network predicts an affine map theta per image,
and the image is resampled by it (`affine_grid` + `grid_sample`, bilinear) onto an 8x8 grid; a
small classifier reads only those 8x8 pixels. Sampled at the identity, 8x8 of a 16x16 image is
every other pixel of the whole image (the glyphs' thin strokes alias); the transformer may
learn to move and zoom onto the glyph (theta's scale below 1), as far as the loss asks. Trained with
`aidjit.Trainer(jit=True)`: forward, backward through the bilinear sampling, and Adam in one
compiled step. Prints the loss and accuracies per epoch, and theta's mean scale before and after.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import aidjit
import aidjit.optim as optim
from aidjit import nn

SIDE, GLYPH, OUTPUT = 16, 5, (8, 8)
GLYPHS = {
    "plus": lambda i, j: (i == 2) | (j == 2),
    "cross": lambda i, j: (i == j) | (i + j == 4),
    "square": lambda i, j: (i % 4 == 0) | (j % 4 == 0),
    "corner": lambda i, j: (i == 4) | (j == 0),
}
NOISE = 0.2


def images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` images [count, 1, SIDE, SIDE] float32 and their int64 glyph labels."""
    rng = np.random.default_rng(seed)
    i, j = np.indices((GLYPH, GLYPH))
    stamps = np.stack([shape(i, j) for shape in GLYPHS.values()]).astype(np.float32)
    labels = rng.integers(0, len(GLYPHS), count)
    x = NOISE * rng.standard_normal((count, 1, SIDE, SIDE)).astype(np.float32)
    rows, columns = rng.integers(0, SIDE - GLYPH + 1, (2, count))
    for n in range(count):
        x[n, 0, rows[n] : rows[n] + GLYPH, columns[n] : columns[n] + GLYPH] += stamps[labels[n]]
    return x, labels.astype(np.int64)


def build() -> nn.Sequential:
    localization = nn.Sequential(
        nn.Conv2d(1, 8, 3),  # 16x16 -> 14x14
        nn.ReLU(),
        nn.MaxPool2d(2),  # -> 7x7
        nn.Flatten(),
        nn.Dense(8 * 7 * 7, 32),
        nn.ReLU(),
    )
    return nn.Sequential(
        nn.SpatialTransformer(localization, output_size=OUTPUT),
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Flatten(),
        nn.Dense(16 * 4 * 4, len(GLYPHS)),
    )


def theta_scale(model: nn.Sequential, x: np.ndarray) -> float:
    """The mean |determinant| of theta's 2x2 linear part over `x`: 1 at the identity, below 1
    when the transformer zooms in (samples a smaller area)."""
    transformer = model.layers[0]
    params = model.params[transformer.name]
    features, _ = transformer.localization.apply(
        params[transformer.localization.name],
        model.state[transformer.name][transformer.localization.name],
        x,
    )
    head = params["theta"]
    theta = (np.asarray(features) @ head["weight"] + head["bias"]).reshape(-1, 2, 3)
    return float(np.mean(np.abs(np.linalg.det(theta[:, :, :2]))))


def main(argv: Sequence[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train", type=int, default=2048, help="training images")
    args = parser.parse_args(argv)
    x, y = images(args.train, seed=0)
    x_test, y_test = images(512, seed=1)
    model = build()
    model.init(0, (1, 1, SIDE, SIDE))
    trainer = aidjit.Trainer(
        model, "cross_entropy", optim.Adam(lr=3e-3), jit_options={"tier": "optimized"}
    )
    print(f"spatial transformer: {len(x)} training, {len(x_test)} test images of {SIDE}x{SIDE}")
    print(f"theta's mean scale before training: {theta_scale(model, x_test):.3f}")
    history = trainer.fit(
        x, y, epochs=args.epochs, batch_size=64, validation_data=(x_test, y_test), verbose=False
    )
    for epoch in range(args.epochs):
        print(f"epoch {epoch + 1}: " + "  ".join(f"{k} {v[epoch]:.4f}" for k, v in history.items()))
    print(f"theta's mean scale after training: {theta_scale(model, x_test):.3f}")
    print(f"compiled: {trainer.compiled}")
    return history


if __name__ == "__main__":
    main()
