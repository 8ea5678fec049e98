"""aidjit.Trainer: fit, evaluate and predict an `aidjit.nn` model, one compiled function each.

    trainer = aidjit.Trainer(model, aidjit.losses.cross_entropy, aidjit.optim.Adam(1e-3))
    history = trainer.fit(x, y, epochs=5, batch_size=64, validation_data=(x_val, y_val))
    scores = trainer.evaluate(x_test, y_test)            # {"loss": ..., "accuracy": ...}
    logits = trainer.predict(x_test)

Written on aidjit's public API only (`aidjit.jit`, `aidjit.value_and_grad`, `aidjit.ops`,
`aidjit.random`, `aidjit.tree_util`), as a user's training loop would be.

- The training step, `step(params, state, opt_state, x, y, key) -> (loss, metric sums, params,
  state, opt_state)`, is one function: forward pass in training mode, loss, backward pass,
  optimiser update and the new batch-norm statistics; under `jit=True` it is one `aidjit.jit`
  function, so one native call per batch. Evaluation and prediction are two more
  (`training=False`).
- Partial batches. A training step sees every batch as it is: the last, smaller batch of an
  epoch compiles a second version of the step once (its shape is the same every epoch), so the
  step has at most two versions however many epochs run. Padding instead would be wrong for
  batch norm, whose batch statistics would include the padded rows. Inference is per example
  (running statistics, no dropout), so `evaluate` and `predict` pad the last batch to the batch
  size with copies of real rows (valid inputs and labels, so no NaN and no out-of-range label
  can arise) and drop the padded rows' results: one version each.
- Fallback. When calling a compiled function raises an `aidjit.AidjitError` (the compiler
  failed, an op cannot be lowered, the model reads a traced value in Python), the same call is
  run eagerly. If that works, the compiler was at fault: the trainer logs why once (a warning
  on the logger "aidjit") and runs that function eagerly from then on; `trainer.compiled` says
  which path each function ran. If the eager call fails too, the error is the model's or the
  data's, and it is raised as eager code raises it.
- Randomness is explicit and deterministic: `seed` fixes the shuffles (a numpy Generator) and
  the dropout keys (`aidjit.random.split` of `aidjit.random.key(seed)`: one key per epoch, split
  into one key per step), so the same seed gives the same run, compiled or eager.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import aidjit
from aidjit import ops, random, tree_util
from aidjit.errors import AidjitError, ArgumentValueError, DTypeError, ShapeError
from aidjit.nn import Layer, NotInitializedError

__all__ = ["METRICS", "Trainer", "accuracy"]

logger = logging.getLogger("aidjit")

Tree = Any
Metric = Callable[[Any, Any], Any]
"""A metric: `(outputs, targets) -> per-example values` (shape [N]), written with `aidjit.ops`."""

DEFAULT_BATCH_SIZE = 32
"""The batch size of `evaluate` and `predict` before any `fit` (then: the last fit's)."""


def per_example(values: Any) -> Any:
    """Values of shape [N, ...] as one value per example: the mean over the other axes."""
    ndim = len(np.shape(values))
    return values if ndim <= 1 else ops.mean(values, axis=tuple(range(1, ndim)))


def accuracy(outputs: Any, targets: Any) -> Any:
    """1.0 where the class with the largest output is the label, else 0.0, per example.

    `targets` are integer class indices (shape `outputs.shape[:-1]`) or class probabilities
    shaped like `outputs` (one-hot: their argmax is the label). Sequence outputs ([N, T, C])
    give each example its fraction of correct positions."""
    dtype = outputs.dtype
    predicted = ops.astype(ops.argmax(outputs, axis=-1), dtype)
    if np.shape(targets) == np.shape(outputs):
        targets = ops.argmax(targets, axis=-1)
    # Comparisons take float operands: class indices are exact in float32 below 2**24.
    return per_example(ops.equal(predicted, ops.astype(targets, dtype)))


METRICS: dict[str, Metric] = {"accuracy": accuracy}
"""The metrics `Trainer(metrics=...)` knows by name; add a row to add one (or pass a callable)."""


class _Function:
    """One of the trainer's functions, run compiled when it can be and eagerly otherwise.

    `ran_compiled` is None before the first call, then whether the last call ran compiled."""

    def __init__(self, name: str, fn: Callable[..., Any], jit_options: Mapping[str, Any] | None):
        self.name = name
        self.fn = fn
        self.jitted = None if jit_options is None else aidjit.jit(fn, **jit_options)
        self.ran_compiled: bool | None = None

    def __call__(self, *args: Any) -> Any:
        if self.jitted is None:
            self.ran_compiled = False
            return self._eager(args)
        try:
            result = self.jitted(*args)
        except AidjitError as error:
            return self._fall_back(error, args)
        self.ran_compiled = True
        return result

    def _eager(self, args: tuple[Any, ...]) -> Any:
        """`fn` run eagerly, with numpy arrays out as a compiled call returns them."""
        return tree_util.tree_map(np.asarray, self.fn(*args))

    def _fall_back(self, error: AidjitError, args: tuple[Any, ...]) -> Any:
        # Eagerly first: an error here is the model's or the data's (raised as eager code
        # raises it), and the compiled path stays; only a call that works eagerly blames the
        # compiler.
        result = self._eager(args)
        logger.warning(
            "Trainer: the %s function could not be compiled, so it runs eagerly from now on "
            "(trainer.compiled[%r] is False): %s: %s",
            self.name,
            self.name,
            type(error).__name__,
            error,
        )
        self.jitted = None
        self.ran_compiled = False
        return result


class Trainer:
    """Trains an `aidjit.nn` model with a loss and an `aidjit.optim` optimiser (see the module
    docstring for the compiled functions, the partial-batch rule and the fallback rule).

    - `loss`: a function `(outputs, targets, reduction=...)` taking `reduction="none"`, as every
      `aidjit.losses` function does, or the name of one (`"cross_entropy"`). The trainer asks
      for the unreduced loss and averages it per example (over the axes after the batch), then
      over the examples: for aidjit's losses that is their `"mean"` reduction, and it lets
      a partial batch be weighted by its size in the epoch's mean.
    - `metrics`: names in `METRICS` or callables `(outputs, targets) -> per-example values`.
    - `jit`: compile the step, evaluation and prediction (`jit_options` are passed to
      `aidjit.jit`, such as `threads=1`); `jit=False` runs the same functions eagerly.

    Parameters and state live on the model (`model.params`, `model.state`, as `model.init`
    left them, so `model(x)` uses the trained values); the optimiser's state is
    `trainer.opt_state`, made at the first `fit` (or read by `load`).
    """

    def __init__(
        self,
        model: Layer,
        loss: Callable[..., Any] | str,
        optimizer: Any,
        jit: bool = True,
        metrics: Sequence[str | Metric] = ("accuracy",),
        *,
        jit_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, Layer):
            raise ArgumentValueError(f"Trainer: model must be an aidjit.nn layer, got {model!r}")
        if not (callable(getattr(optimizer, "init", None)) and callable(optimizer.update)):
            raise ArgumentValueError(
                f"Trainer: optimizer must have init(params) and update(grads, opt_state, "
                f"params), as aidjit.optim's do; got {optimizer!r}"
            )
        if jit_options and not jit:
            raise ArgumentValueError("Trainer: jit_options given with jit=False")
        self.model = model
        self.loss = _resolve_loss(loss)
        self.optimizer = optimizer
        self.metrics: dict[str, Metric] = dict(_resolve_metric(metric) for metric in metrics)
        self.opt_state: Tree | None = None
        self.history: dict[str, list[float]] = {}
        self._batch_size = DEFAULT_BATCH_SIZE
        options = dict(jit_options or {}) if jit else None
        self._functions = {
            name: _Function(name, fn, options)
            for name, fn in (
                ("step", self._step),
                ("evaluate", self._evaluate_batch),
                ("predict", self._predict_batch),
            )
        }

    # ----- what ran -------------------------------------------------------------------------

    @property
    def compiled(self) -> dict[str, bool | None]:
        """For "step", "evaluate" and "predict": True if its last call ran compiled, False if
        eagerly (`jit=False`, or after a fallback), None if it has not run yet."""
        return {name: function.ran_compiled for name, function in self._functions.items()}

    @property
    def jitted(self) -> dict[str, Any]:
        """The `aidjit.jit` functions still in use, by name (none with `jit=False`): their
        `versions()` list what was compiled."""
        return {
            name: function.jitted
            for name, function in self._functions.items()
            if function.jitted is not None
        }

    # ----- the compiled functions -----------------------------------------------------------

    def _scores(self, outputs: Any, targets: Any) -> tuple[Any, dict[str, Any]]:
        """Per-example loss and metric values, each of shape [N]."""
        losses = per_example(self.loss(outputs, targets, reduction="none"))
        return losses, {name: metric(outputs, targets) for name, metric in self.metrics.items()}

    def _step(
        self, params: Tree, state: Tree, opt_state: Tree, x: Any, y: Any, key: Any
    ) -> tuple[Any, dict[str, Any], Tree, Tree, Tree]:
        """One training step: `(mean loss, metric sums over the batch, params, state,
        opt_state)` after the optimiser's update."""

        def objective(params: Tree) -> tuple[Any, tuple[Tree, dict[str, Any]]]:
            outputs, new_state = self.model.apply(params, state, x, training=True, key=key)
            losses, metrics = self._scores(outputs, y)
            sums = {name: ops.sum(values) for name, values in metrics.items()}
            return ops.mean(losses), (new_state, sums)

        (loss, (new_state, sums)), grads = aidjit.value_and_grad(objective, has_aux=True)(params)
        new_params, new_opt_state = self.optimizer.update(grads, opt_state, params)
        return loss, sums, new_params, new_state, new_opt_state

    def _evaluate_batch(
        self, params: Tree, state: Tree, x: Any, y: Any
    ) -> tuple[Any, dict[str, Any]]:
        """Per-example loss and metrics in inference mode (the caller drops padded rows)."""
        outputs, _ = self.model.apply(params, state, x)
        return self._scores(outputs, y)

    def _predict_batch(self, params: Tree, state: Tree, x: Any) -> Any:
        return self.model.apply(params, state, x)[0]

    # ----- fit, evaluate, predict -----------------------------------------------------------

    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
        validation_data: tuple[Any, Any] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        verbose: bool = True,
    ) -> dict[str, list[float]]:
        """Train for `epochs` passes over `(x, y)` in batches of `batch_size`; returns the
        history, a dict of lists with one value per epoch: "loss" and each metric over the
        epoch's training batches (training mode: dropout on), then "val_loss" and "val_<metric>"
        on `validation_data` (an `(x, y)` pair, evaluated after each epoch). It is also kept as
        `trainer.history` (this fit's only).

        A model not initialised yet is initialised from `seed`, for `x`'s sample shape and
        dtype (float32 for integer inputs). `verbose` shows a progress bar per epoch with tqdm
        when it is installed (the `train` extra), else prints one line per epoch."""
        x, y = _dataset("fit", x, y)
        _check_count("fit", "epochs", epochs, minimum=0)
        _check_count("fit", "batch_size", batch_size, minimum=1)
        if validation_data is not None:
            if not (isinstance(validation_data, tuple | list) and len(validation_data) == 2):
                raise ArgumentValueError("fit: validation_data must be a pair (x, y)")
            validation_data = _dataset("fit: validation_data", *validation_data)
        self._initialize(x, seed)
        self._batch_size = batch_size
        self.history = {
            name: [] for name in _log_names(self.metrics, validation=validation_data is not None)
        }
        shuffles = np.random.default_rng(seed)
        root_key = random.key(seed)
        batches = math.ceil(len(x) / batch_size)
        for epoch in range(epochs):
            order = shuffles.permutation(len(x)) if shuffle else np.arange(len(x))
            root_key, epoch_key = random.split(root_key)
            keys = random.split(epoch_key, batches)
            started = time.perf_counter()
            with _Progress(verbose, epoch, epochs, batches) as progress:
                logs = self._epoch(x, y, order, batch_size, keys, progress)
                if validation_data is not None:
                    scores = self.evaluate(*validation_data, batch_size=batch_size)
                    logs.update({f"val_{name}": value for name, value in scores.items()})
                progress.finish(logs, time.perf_counter() - started)
            for name, value in logs.items():
                self.history[name].append(value)
        return self.history

    def _epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        batch_size: int,
        keys: Sequence[Any],
        progress: _Progress,
    ) -> dict[str, float]:
        """One pass over the data in `order`; the mean loss and metrics over its examples."""
        totals = dict.fromkeys(["loss", *self.metrics], 0.0)
        params, state, opt_state = self.model.params, self.model.state, self.opt_state
        for index, start in enumerate(range(0, len(x), batch_size)):
            rows = order[start : start + batch_size]
            loss, sums, params, state, opt_state = self._functions["step"](
                params, state, opt_state, x[rows], y[rows], np.asarray(keys[index])
            )
            # Written back at once: an interrupted fit keeps the last finished step.
            self.model.params, self.model.state, self.opt_state = params, state, opt_state
            totals["loss"] += float(loss) * len(rows)
            for name, value in sums.items():
                totals[name] += float(value)
            progress.step(totals["loss"] / min(start + batch_size, len(x)))
        return {name: total / len(x) for name, total in totals.items()}

    def evaluate(self, x: Any, y: Any, batch_size: int | None = None) -> dict[str, float]:
        """The mean loss and metrics over `(x, y)` in inference mode: `{"loss": ..., metric:
        ...}`. `batch_size` defaults to the last `fit`'s (one compiled version for both)."""
        x, y = _dataset("evaluate", x, y)
        params, state = self._trained("evaluate")
        totals = dict.fromkeys(["loss", *self.metrics], 0.0)
        for rows, count in _padded_batches(len(x), self._batch_size_for("evaluate", batch_size)):
            losses, metrics = self._functions["evaluate"](params, state, x[rows], y[rows])
            totals["loss"] += float(np.sum(losses[:count], dtype=np.float64))
            for name, values in metrics.items():
                totals[name] += float(np.sum(values[:count], dtype=np.float64))
        return {name: total / len(x) for name, total in totals.items()}

    def predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """The model's outputs on `x` in inference mode, as one numpy array; `batch_size`
        defaults to the last `fit`'s."""
        x = _array("predict", "x", x)
        params, state = self._trained("predict")
        outputs = [
            self._functions["predict"](params, state, x[rows])[:count]
            for rows, count in _padded_batches(len(x), self._batch_size_for("predict", batch_size))
        ]
        return np.concatenate(outputs)

    # ----- checkpoints ----------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the parameters, model state and optimiser state to one `.npz` file (numpy adds
        the suffix if missing); returns the path written. Each array is named by its key path,
        `params['dense']['weight']`, `state[...]`, `opt_state['step']`, and keeps its dtype."""
        names, leaves, _ = _named_leaves(self._checkpoint_tree())
        arrays = {name: np.asarray(leaf) for name, leaf in zip(names, leaves, strict=True)}
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        np.savez(path, **arrays)
        return path

    def load(self, path: str | Path) -> None:
        """Read what `save` wrote: the parameters and state go to the model, the optimiser state
        to the trainer, exactly as saved. The model must be initialised (its parameters give the
        expected names, shapes and dtypes); a file for another model or optimiser raises
        `ArgumentValueError` (names missing or unexpected), `ShapeError` or `DTypeError`,
        naming the array, and changes nothing."""
        names, leaves, treedef = _named_leaves(self._checkpoint_tree())
        with np.load(path, allow_pickle=False) as data:
            loaded = {name: data[name] for name in data.files}
        expected = set(names)
        missing = [name for name in names if name not in loaded]
        unexpected = [name for name in loaded if name not in expected]
        if missing or unexpected:
            raise ArgumentValueError(
                f"Trainer.load: {path} does not match {self.model.describe()} and "
                f"{type(self.optimizer).__name__}: {_listing('missing', missing)}"
                f"{'; ' if missing and unexpected else ''}{_listing('unexpected', unexpected)}"
            )
        for name, leaf in sorted(zip(names, leaves, strict=True), key=lambda p: _group(p[0])):
            _check_like(path, name, loaded[name], np.asarray(leaf))
        restored = tree_util.tree_unflatten(treedef, [loaded[name] for name in names])
        self.model.params, self.model.state = restored["params"], restored["state"]
        self.opt_state = restored["opt_state"]

    def _checkpoint_tree(self) -> dict[str, Tree]:
        """What a checkpoint holds; before the first fit, the optimiser's initial state."""
        params, state = self._trained("save/load")
        opt_state = self.optimizer.init(params) if self.opt_state is None else self.opt_state
        return dict(zip(CHECKPOINT_GROUPS, (params, state, opt_state), strict=True))

    # ----- internals ------------------------------------------------------------------------

    def _initialize(self, x: np.ndarray, seed: int) -> None:
        if self.model.params is None or self.model.state is None:
            dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
            self.model.init(seed, (1, *x.shape[1:]), dtype)
        if self.opt_state is None:
            self.opt_state = self.optimizer.init(self.model.params)

    def _trained(self, what: str) -> tuple[Tree, Tree]:
        if self.model.params is None or self.model.state is None:
            raise NotInitializedError(
                f"Trainer.{what}: {self.model.describe()} has no parameters yet: call "
                f"trainer.fit(...) or model.init(seed, input_shape) first"
            )
        return self.model.params, self.model.state

    def _batch_size_for(self, where: str, batch_size: int | None) -> int:
        if batch_size is None:
            return self._batch_size
        _check_count(where, "batch_size", batch_size, minimum=1)
        return batch_size


# ----- helpers ---------------------------------------------------------------------------------


def _resolve_loss(loss: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(loss):
        return loss
    import aidjit.losses as losses

    if isinstance(loss, str) and loss in losses.__all__:
        return getattr(losses, loss)
    raise ArgumentValueError(
        f"Trainer: loss must be a function (outputs, targets, reduction=...) or the name of "
        f"one of aidjit.losses ({', '.join(losses.__all__)}); got {loss!r}"
    )


def _resolve_metric(metric: str | Metric) -> tuple[str, Metric]:
    if isinstance(metric, str) and metric in METRICS:
        return metric, METRICS[metric]
    if callable(metric) and not isinstance(metric, str):
        return getattr(metric, "__name__", type(metric).__name__), metric
    raise ArgumentValueError(
        f"Trainer: unknown metric {metric!r}: use one of {', '.join(map(repr, METRICS))} or a "
        f"function (outputs, targets) -> one value per example"
    )


def _log_names(metrics: Mapping[str, Metric], validation: bool) -> list[str]:
    names = ["loss", *metrics]
    return names + [f"val_{name}" for name in names] if validation else names


def _check_count(where: str, name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ArgumentValueError(f"{where}: {name} must be an int >= {minimum}, got {value!r}")


def _array(where: str, name: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim == 0 or len(array) == 0:
        raise ShapeError(
            f"{where}: {name} must have a batch axis with at least one example, got shape "
            f"{array.shape}"
        )
    return array


def _dataset(where: str, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """`x` and `y` as numpy arrays with the same number of examples; integer labels as int64
    (the losses' label dtype)."""
    x, y = _array(where, "x", x), _array(where, "y", y)
    if len(x) != len(y):
        raise ShapeError(
            f"{where}: x has {len(x)} examples (shape {x.shape}) but y has {len(y)} "
            f"(shape {y.shape})"
        )
    if y.dtype.kind in "iu" and y.dtype != np.int64:
        y = y.astype(np.int64)
    return x, y


def _padded_batches(count: int, batch_size: int) -> Iterator[tuple[np.ndarray, int]]:
    """Row indices of each batch, the last one padded to `batch_size` by repeating its own rows
    (real inputs and labels), with the number of real rows: every batch has one shape."""
    for start in range(0, count, batch_size):
        rows = np.arange(start, min(start + batch_size, count))
        yield np.resize(rows, batch_size), len(rows)


def _named_leaves(tree: dict[str, Tree]) -> tuple[list[str], list[Any], Any]:
    """The leaves of a checkpoint's tree, each named by its key path under its group
    (`params['dense']['weight']`, `opt_state['step']`), and the tree's structure."""
    pairs, treedef = tree_util.tree_flatten_with_path(tree)
    names = [f"{path[0].key}{tree_util.keystr(path[1:])}" for path, _ in pairs]
    return names, [leaf for _, leaf in pairs], treedef


CHECKPOINT_GROUPS = ("params", "state", "opt_state")
"""The trees a checkpoint holds, in the order messages list their arrays."""


def _group(name: str) -> int:
    """Where a checkpoint array's group comes in `CHECKPOINT_GROUPS`: messages name the
    parameters first, the optimiser's buffers last."""
    return CHECKPOINT_GROUPS.index(name.split("[")[0])


def _listing(what: str, names: list[str], shown: int = 5) -> str:
    """`missing a, b, c and 2 more`, in `_group` order."""
    if not names:
        return ""
    names = sorted(names, key=_group)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{what} {', '.join(names[:shown])}{more}"


def _check_like(path: str | Path, name: str, value: np.ndarray, expected: np.ndarray) -> None:
    if value.shape != expected.shape:
        raise ShapeError(
            f"Trainer.load: {path}: {name} has shape {value.shape}, the model's {expected.shape}"
        )
    if value.dtype != expected.dtype:
        raise DTypeError(
            f"Trainer.load: {path}: {name} is {value.dtype}, the model's {expected.dtype}"
        )


class _Progress:
    """An epoch's progress: a tqdm bar when tqdm is installed and `verbose`, else one line
    printed at the end of the epoch (or nothing, without `verbose`)."""

    def __init__(self, verbose: bool, epoch: int, epochs: int, batches: int) -> None:
        self.verbose = verbose
        self.title = f"epoch {epoch + 1}/{epochs}"
        self.bar: Any = None
        if verbose:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=batches, desc=self.title, unit="batch", leave=True)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def step(self, mean_loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
            self.bar.update(1)

    def finish(self, logs: Mapping[str, float], seconds: float) -> None:
        if not self.verbose:
            return
        if self.bar is not None:
            self.bar.set_postfix({name: f"{value:.4f}" for name, value in logs.items()})
            return
        values = " - ".join(f"{name} {value:.4f}" for name, value in logs.items())
        print(f"{self.title}: {values} ({seconds:.2f} s)")
