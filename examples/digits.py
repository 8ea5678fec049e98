"""The digits examples' common part: data, a training run compiled and eager, the report, the PNG.

examples/digits_mlp.py and examples/digits_cnn.py each define a model and an optimiser and call
`main`. The data set is scikit-learn's bundled digits (1,797 8x8 grey images of 0-9, values 0-16,
read from inside the package: no download). Everything is fixed: the split (`SPLIT_SEED`), the
initial parameters, the shuffles and the dropout masks (`SEED`), so a run prints the same
accuracies every time.

Each example trains the same model twice from the same initial parameters, with
`aidjit.Trainer(jit=True)` (the whole training step is one native function) and with
`jit=False` (the same functions run eagerly, numpy op by op on aidjit's tape), and prints per
epoch the training loss and accuracy, the test accuracy and the epoch's time for both. The first
compiled epoch includes compiling the step (`tier="optimized"`: it returns once the native kernel
is built, so later epochs time the kernel, not the instant tier that the default `tier="auto"`
answers with while a cold build runs); the speed-up is the ratio of the medians of the later
epochs. Then how far the two runs' losses are apart, and the PNG of the curves (matplotlib).

Needs the `examples` extra: `pip install -e '.[examples]'` (scikit-learn, matplotlib, tqdm).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import aidjit
from aidjit import nn

SEED = 0
"""Initial parameters, shuffles (one seed per epoch: `SEED + epoch`) and dropout masks."""
SPLIT_SEED = 0
TRAIN_SIZE = 1344
"""42 batches of 32: the step compiles one version (a smaller last batch would compile a second
one, once; see docs/models.md, "The partial-batch rule"). The other 453 images are the test set."""
BATCH_SIZE = 32
PIXEL_STD_FLOOR = 1.0
"""Standardising divides each pixel by its training standard deviation, at least this (pixel
values are 0-16): border pixels that are almost always 0 in the training set would otherwise
turn a rare nonzero test value into an outlier of hundreds of standard deviations."""


@dataclass
class Digits:
    """The fixed split, standardised with the training set's per-pixel mean and deviation."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load(sample_shape: tuple[int, ...], train_examples: int | None = None) -> Digits:
    """The digits as float32 samples of `sample_shape` ((64,) for an MLP, (1, 8, 8) for a CNN)
    and int64 labels; `train_examples` keeps the first ones of the training set (a quick run)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data,
        digits.target.astype(np.int64),
        train_size=TRAIN_SIZE,
        random_state=SPLIT_SEED,
        stratify=digits.target,
    )
    mean = x_train.mean(axis=0)
    std = np.maximum(x_train.std(axis=0), PIXEL_STD_FLOOR)

    def prepared(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32).reshape(len(x), *sample_shape)

    keep = slice(None, train_examples)
    return Digits(prepared(x_train[keep]), y_train[keep], prepared(x_test), y_test)


@dataclass
class Run:
    """One training run: per epoch, the training loss and accuracy (training mode, as the
    trainer reports them), the test loss and accuracy (inference mode) and the seconds `fit`
    took."""

    history: dict[str, list[float]] = field(
        default_factory=lambda: {key: [] for key in ("loss", "accuracy", "test_loss", "test_acc")}
    )
    epoch_s: list[float] = field(default_factory=list)

    @property
    def test_accuracy(self) -> float:
        return self.history["test_acc"][-1]

    def median_epoch_s(self) -> float:
        """The median epoch after the first (which compiles, or warms numpy up)."""
        return statistics.median(self.epoch_s[1:] or self.epoch_s)


def train(
    build: Callable[[], nn.Layer],
    optimizer: Any,
    data: Digits,
    epochs: int,
    jit: bool,
) -> Run:
    """Train a fresh `build()` from `SEED` for `epochs` epochs; evaluate after each."""
    model = build()
    model.init(SEED, (1, *data.x_train.shape[1:]))
    trainer = aidjit.Trainer(
        model,
        "cross_entropy",
        optimizer,
        jit=jit,
        jit_options={"tier": "optimized"} if jit else None,
    )
    run = Run()
    for epoch in range(epochs):
        # One fit per epoch, so the epoch alone is timed (not the test-set evaluation); each
        # fit shuffles with its own seed and keeps the parameters and optimiser state.
        started = time.perf_counter()
        logs = trainer.fit(
            data.x_train,
            data.y_train,
            epochs=1,
            batch_size=BATCH_SIZE,
            seed=SEED + epoch,
            verbose=False,
        )
        run.epoch_s.append(time.perf_counter() - started)
        scores = trainer.evaluate(data.x_test, data.y_test)
        for key, value in (
            ("loss", logs["loss"][0]),
            ("accuracy", logs["accuracy"][0]),
            ("test_loss", scores["loss"]),
            ("test_acc", scores["accuracy"]),
        ):
            run.history[key].append(value)
    if jit and False in trainer.compiled.values():  # the trainer fell back to eager (logged)
        raise RuntimeError(f"not every function ran compiled: {trainer.compiled}")
    return run


def loss_difference(compiled: Run, eager: Run) -> float:
    """The largest relative difference between the two runs' losses (training and test, every
    epoch): float32 rounding in another order (C loops vs numpy/BLAS), carried through training."""
    pairs = [
        (a, b)
        for key in ("loss", "test_loss")
        for a, b in zip(compiled.history[key], eager.history[key], strict=True)
    ]
    return max(abs(a - b) / abs(b) for a, b in pairs)


def report(compiled: Run, eager: Run) -> None:
    print(f"{'':6}{'compiled':^38}{'eager':^38}")
    columns = f"{'loss':>8}{'acc':>8}{'test acc':>10}{'ms':>10}  "
    print(f"{'epoch':<6}{columns}{columns}")
    for epoch in range(len(compiled.epoch_s)):
        cells = ""
        for run in (compiled, eager):
            history = run.history
            cells += (
                f"{history['loss'][epoch]:8.4f}{history['accuracy'][epoch]:8.4f}"
                f"{history['test_acc'][epoch]:10.4f}{run.epoch_s[epoch] * 1e3:10.1f}  "
            )
        print(f"{epoch + 1:<6}{cells}")
    compiled_s, eager_s = compiled.median_epoch_s(), eager.median_epoch_s()
    later = f"epochs 2-{len(compiled.epoch_s)}" if len(compiled.epoch_s) > 1 else "epoch 1"
    print(
        f"test accuracy: compiled {compiled.test_accuracy:.2%}, eager {eager.test_accuracy:.2%}\n"
        f"time per epoch (median of {later}): compiled {compiled_s * 1e3:.1f} ms, "
        f"eager {eager_s * 1e3:.1f} ms: compiled {eager_s / compiled_s:.1f}x faster\n"
        f"first epoch (compiled: includes compiling the step): compiled "
        f"{compiled.epoch_s[0]:.2f} s, eager {eager.epoch_s[0]:.2f} s\n"
        f"compiled vs eager: largest relative difference of the losses "
        f"{loss_difference(compiled, eager):.1e}"
    )


def plot(title: str, compiled: Run, eager: Run, path: Path) -> None:
    """Loss and accuracy per epoch, training and test, compiled (solid) and eager (dashed)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(compiled.epoch_s) + 1)
    for run, style, label in ((compiled, "-", "compiled"), (eager, "--", "eager")):
        for key, axes, what in (
            ("loss", loss_axes, "training"),
            ("test_loss", loss_axes, "test"),
            ("accuracy", accuracy_axes, "training"),
            ("test_acc", accuracy_axes, "test"),
        ):
            axes.plot(epochs, run.history[key], style, label=f"{what}, {label}")
    for axes, name in ((loss_axes, "cross-entropy loss"), (accuracy_axes, "accuracy")):
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(
    name: str,
    title: str,
    build: Callable[[], nn.Layer],
    optimizer: Callable[[], Any],
    sample_shape: tuple[int, ...],
    epochs: int,
    argv: Sequence[str] | None = None,
) -> tuple[Run, Run]:
    """Parse the command line, train compiled then eager, print the report, save the PNG;
    returns the two runs (compiled, eager)."""
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument(
        "--train-examples", type=int, default=None, help="train on the first N only (quick run)"
    )
    parser.add_argument("--png", type=Path, default=Path(f"{name}.png"))
    parser.add_argument("--no-png", action="store_true")
    args = parser.parse_args(argv)
    data = load(sample_shape, args.train_examples)
    print(
        f"{title}: {len(data.x_train)} training and {len(data.x_test)} test images, batch "
        f"{BATCH_SIZE}, {args.epochs} epochs, {optimizer()!r}"
    )
    model = build()
    model.init(SEED, (1, *sample_shape))
    model.summary()
    compiled = train(build, optimizer(), data, args.epochs, jit=True)
    eager = train(build, optimizer(), data, args.epochs, jit=False)
    report(compiled, eager)
    if not args.no_png:
        plot(title, compiled, eager, args.png)
        print(f"curves: {args.png}")
    return compiled, eager
