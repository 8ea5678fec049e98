"""Training benchmark: one epoch of the digits CNN, aidjit eager and compiled vs PyTorch.

    python bench/train.py [--processes 1] [--epochs 5]       (needs `pip install -e '.[examples]'`)

The model, data and batch size are examples/digits_cnn.py's (three 3x3 convolutions with batch
norm and ReLU, two max pools, dropout, a dense layer; scikit-learn's digits, 1,344 training
images in 42 batches of 32; Adam, lr 1e-3). An epoch is a shuffled pass over the training set,
each step being forward in training mode, cross-entropy, backward, the Adam update and the
batch-norm statistics. Columns, each from the same initial parameters (aidjit's `init`, copied
into torch's layers) and the same shuffles:

    aidjit eager      aidjit.Trainer(jit=False): the same functions run op by op on aidjit's tape
    aidjit compiled   aidjit.Trainer(jit=True, tier="optimized"): one native call per step
    torch eager       torch.nn layers, F.cross_entropy, loss.backward(), torch.optim.Adam
    torch.compile     the same, the loss function (model + cross-entropy) under torch.compile
                      (dynamic=False; AOTAutograd compiles its backward), Adam eager

torch's columns are skipped, saying why, when torch is not importable. As bench/run.py does,
each thread setting runs in fresh processes (bench/columns.py's SETTINGS: "all" = the
libraries' default threads, wall clock, settle pauses between columns; "1T" = the process
pinned to one core and every library told to use one thread, process CPU time; aidjit eager is
not measured at 1T, as in bench/run.py). In a process every column first runs warm-up epochs
(the first compiles: aidjit's step, torch.compile's graphs), then `--epochs` timed epochs,
interleaved across columns (bench/timing.py); a column's figure is the median epoch, and over
processes the median of the processes' medians.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import aidjit
import aidjit.optim as optim

from columns import SETTINGS, ThreadSetting, _pin_to_one_core
from probe import run_probe
from timing import COMPILED, Column, Settings, measure

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import digits  # noqa: E402
import digits_cnn  # noqa: E402

SCRIPT = Path(__file__).resolve()
EAGER = "aidjit eager"
TORCH_EAGER, TORCH_COMPILE = "torch eager", "torch.compile"
COLUMNS = (EAGER, COMPILED, TORCH_EAGER, TORCH_COMPILE)
SKIPPED_AT = {"1T": (EAGER,)}
"""Columns not measured at a setting: aidjit eager's seconds-long epochs at 1T, as run.py."""
WARMUP_EPOCHS = 2
"""bench/timing.py's MIN_WARMUP_CALLS would be 3 epochs; the first compiles, the second is warm."""


def epoch_settings(epochs: int, setting: ThreadSetting) -> Settings:
    """bench/timing.py's settings for calls lasting a whole epoch: one epoch per sample, no
    batching, `epochs` samples; at "all" threads a settle pause before each (timing.settled)."""
    return Settings(
        repeats=epochs,
        min_samples=epochs,
        min_sample_s=0.0,
        warmup_s=0.0,
        budget_s=0.0,
        settle_s=0.4 if setting.key == "all" else 0.0,
    )


# ----- the columns ---------------------------------------------------------------------------


def aidjit_column(name: str, data: digits.Digits, jit: bool) -> Column:
    model = digits_cnn.build()
    model.init(digits.SEED, (1, *digits_cnn.SAMPLE_SHAPE))
    trainer = aidjit.Trainer(
        model,
        "cross_entropy",
        optim.Adam(lr=1e-3),
        jit=jit,
        jit_options={"tier": "optimized"} if jit else None,
    )
    seeds = itertools.count()

    def epoch() -> float:
        logs = trainer.fit(
            data.x_train,
            data.y_train,
            batch_size=digits.BATCH_SIZE,
            seed=next(seeds),
            verbose=False,
        )
        return logs["loss"][0]

    return Column(name, epoch)


def torch_cnn(params: dict[str, Any]) -> Any:
    """digits_cnn.build() as torch layers, layer for layer, holding aidjit's initial
    parameters (a Dense weight is torch's Linear weight transposed)."""
    import torch
    from torch import nn as tnn

    def tensor(value: np.ndarray) -> Any:
        return tnn.Parameter(torch.from_numpy(np.ascontiguousarray(value)))

    def conv(layer: Any, values: dict[str, np.ndarray]) -> Any:
        made = tnn.Conv2d(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            padding=layer.padding,
            bias=False,
        )
        made.weight = tensor(values["weight"])
        return made

    def norm(layer: Any, values: dict[str, np.ndarray]) -> Any:
        made = tnn.BatchNorm2d(layer.num_features, eps=layer.eps, momentum=layer.momentum)
        made.weight, made.bias = tensor(values["weight"]), tensor(values["bias"])
        return made

    def dense(layer: Any, values: dict[str, np.ndarray]) -> Any:
        made = tnn.Linear(layer.in_features, layer.out_features)
        made.weight, made.bias = tensor(values["weight"].T), tensor(values["bias"])
        return made

    makers: dict[str, Callable[[Any, dict[str, np.ndarray]], Any]] = {
        "Conv2d": conv,
        "BatchNorm2d": norm,
        "Dense": dense,
        "ReLU": lambda layer, values: tnn.ReLU(),
        "MaxPool2d": lambda layer, values: tnn.MaxPool2d(layer.kernel_size, layer.stride),
        "Flatten": lambda layer, values: tnn.Flatten(),
        "Dropout": lambda layer, values: tnn.Dropout(layer.rate),
    }
    return tnn.Sequential(
        *(
            makers[type(layer).__name__](layer, params.get(layer.name, {}))
            for layer in digits_cnn.build().layers
        )
    )


def torch_column(name: str, data: digits.Digits, compiled: bool) -> Column:
    import torch
    import torch.nn.functional as F

    import peer_torch  # noqa: F401  (sets torch's two thread pools to 1 in a 1T process)

    model = digits_cnn.build()
    params, _ = model.init(digits.SEED, (1, *digits_cnn.SAMPLE_SHAPE))
    network = torch_cnn(params).train()

    def loss_of(x: Any, y: Any) -> Any:
        return F.cross_entropy(network(x), y)

    loss_fn = torch.compile(loss_of, dynamic=False) if compiled else loss_of
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    seeds = itertools.count()

    def epoch() -> float:
        # The order aidjit's Trainer.fit(seed=s) draws: np.random.default_rng(s).permutation.
        order = torch.from_numpy(np.random.default_rng(next(seeds)).permutation(len(x)))
        total = 0.0
        for start in range(0, len(x), digits.BATCH_SIZE):
            rows = order[start : start + digits.BATCH_SIZE]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(x[rows], y[rows])
            loss.backward()
            optimizer.step()
            total += float(loss) * len(rows)
        return total / len(x)

    return Column(name, epoch)


FACTORIES: dict[str, Callable[[digits.Digits], Column]] = {
    EAGER: lambda data: aidjit_column(EAGER, data, jit=False),
    COMPILED: lambda data: aidjit_column(COMPILED, data, jit=True),
    TORCH_EAGER: lambda data: torch_column(TORCH_EAGER, data, compiled=False),
    TORCH_COMPILE: lambda data: torch_column(TORCH_COMPILE, data, compiled=True),
}


# ----- one process ---------------------------------------------------------------------------


def measure_process(setting: ThreadSetting, epochs: int) -> dict[str, Any]:
    """This process's report: per column the timed epochs (ms), the warm-up epochs (ms) and
    the last warm-up epoch's mean loss; or why a column was not measured."""
    if setting.one_core:
        _pin_to_one_core()
    data = digits.load(digits_cnn.SAMPLE_SHAPE)
    columns, unavailable, warmup_ms, losses = [], {}, {}, {}
    for name in COLUMNS:
        if name in SKIPPED_AT.get(setting.key, ()):
            unavailable[name] = f"not measured at {setting.key}"
            continue
        try:
            column = FACTORIES[name](data)
        except ImportError as error:
            unavailable[name] = f"not importable ({error})"
            continue
        warmup_ms[name] = []
        for _ in range(WARMUP_EPOCHS):
            started = time.perf_counter()
            losses[name] = column.call()
            warmup_ms[name].append((time.perf_counter() - started) * 1e3)
        columns.append(column)
    timings = measure(columns, epoch_settings(epochs, setting), setting.clock)
    return {
        "epoch_ms": {name: timing.samples_ms for name, timing in timings.items()},
        "warmup_ms": warmup_ms,
        "warmup_loss": losses,
        "unavailable": unavailable,
    }


# ----- the run ---------------------------------------------------------------------------------


def summary(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Per column: the median over processes of each process's median epoch, and the first
    process's warm-up epochs; why columns were not measured."""
    medians: dict[str, list[float]] = {}
    for report in reports:
        for name, samples in report["epoch_ms"].items():
            medians.setdefault(name, []).append(statistics.median(samples))
    return {
        "median_epoch_ms": {name: statistics.median(values) for name, values in medians.items()},
        "per_process_ms": medians,
        "warmup_ms": reports[0]["warmup_ms"],
        "warmup_loss": reports[0]["warmup_loss"],
        "unavailable": reports[0]["unavailable"],
    }


def print_table(key: str, setting: ThreadSetting, result: dict[str, Any]) -> None:
    threads = "1 thread" if setting.one_core else "all threads"
    print(f"\nEpoch time, {key} ({threads}, {setting.clock_name}): median ms per epoch")
    print(f"{'column':<17}{'epoch ms':>10}{'vs compiled':>13}{'warm-up epochs ms':>24}  loss")
    compiled = result["median_epoch_ms"].get(COMPILED)
    for name in COLUMNS:
        if name in result["unavailable"]:
            print(f"{name:<17}{result['unavailable'][name]:>10}")
            continue
        ms = result["median_epoch_ms"][name]
        ratio = f"{ms / compiled:.2f}x" if compiled else "-"
        warmup = ", ".join(f"{value:.0f}" for value in result["warmup_ms"][name])
        loss = result["warmup_loss"][name]
        print(f"{name:<17}{ms:10.1f}{ratio:>13}{warmup:>24}  {loss:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="digits CNN epoch time: aidjit vs PyTorch")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per column")
    parser.add_argument("--only", choices=sorted(SETTINGS), help="one thread setting")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--measure", choices=sorted(SETTINGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # a measuring process, run by the lines below
        print(json.dumps(measure_process(SETTINGS[args.measure], args.epochs)))
        return
    print(
        f"digits CNN training epoch: {digits.TRAIN_SIZE} images, batch {digits.BATCH_SIZE}, "
        f"Adam; {args.epochs} timed epochs after {WARMUP_EPOCHS} warm-up, "
        f"{args.processes} process(es) per setting"
    )
    results = {}
    for key, setting in SETTINGS.items():
        if args.only and key != args.only:
            continue
        reports = [
            run_probe(SCRIPT, ["--measure", key, "--epochs", str(args.epochs)], setting.environment)
            for _ in range(args.processes)
        ]
        results[key] = summary(reports)
        print_table(key, setting, results[key])
    print(
        "\nloss: the mean training loss of the last warm-up epoch (epoch 2), all columns from "
        "the same initial parameters and shuffles (dropout masks differ between aidjit and torch)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
