"""Run one generated program every way aidjit can and report each disagreement.

For a program (see graphs.py) the harness builds `checked(*args)`, which returns f's outputs
and, when the program has a loss, `value_and_grad(loss)` over every float argument. It runs:

- eagerly, in the program's dtype and in its float32 and float64 twins (the oracle);
- compiled at every level of `BACKENDS` (graph interpreter, after the graph passes, the
  structured level after fusion on tensors and after bufferization on memrefs, loop
  interpreter, C), forward and gradients in one function, each compared with eager execution;
- the float64 eager gradients against central finite differences along random directions.

Tolerances follow the dtype and the program's own conditioning: the difference between the
float32 and float64 eager runs measures how sensitive each element is to rounding, so an
ill-conditioned element (a catastrophic cancellation, a comparison of nearly equal values) gets
a tolerance to match and a well-conditioned one is held to a few ulps.

`python -m tests.fuzz.harness SEED [SEED...]` or `--count N [--start S]` runs programs outside
pytest and prints one line per program and a reproduction per failure.
"""

from __future__ import annotations

import argparse
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import aidjit
from tests.fuzz.graphs import BACKENDS, Program, generate

TOLERANCE = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13)}
"""Per dtype: (rtol, atol) a well-conditioned element must meet."""
SENSITIVITY_FACTOR = 16.0
"""How many times the measured rounding sensitivity an element may differ by."""
FD_STEPS = (1e-4, 1e-5)
FD_DIRECTIONS = 3
FD_TOLERANCE = 2e-5


@dataclass(frozen=True)
class Mismatch:
    """One disagreement: which check, at which level, on which result leaf, and how."""

    check: str  # "forward", "error" or "finite differences"
    level: str  # a BACKENDS name, or "eager"
    leaf: str
    detail: str

    def __str__(self) -> str:
        leaf = f" {self.leaf}" if self.leaf else ""
        return f"[{self.check}] {self.level}{leaf}: {self.detail}"


def _checked(scope: dict[str, Any], program: Program) -> Callable[..., Any]:
    """f's outputs, then (loss, gradients) when there is a loss: one function to compile."""
    f = scope["f"]
    if not program.has_loss:
        return lambda *args: f(*args)
    value_and_grad = aidjit.value_and_grad(scope["loss"], argnums=program.float_args)

    def checked(*args: Any) -> Any:
        value, grads = value_and_grad(*args)
        sources = [args[i] for i in program.float_args]
        # An argument the loss does not reach may come back as None: compare it as zeros.
        grads = tuple(
            np.zeros(a.shape, a.dtype) if g is None else g
            for g, a in zip(grads, sources, strict=True)
        )
        return f(*args), value, grads

    return checked


def _leaf_names(scope: dict[str, Any], program: Program, result: Any) -> list[str]:
    outputs = result[0] if program.has_loss else result
    names = [f"out[{i}]" for i in range(len(outputs))]
    if program.has_loss:
        params = scope["f"].__code__.co_varnames
        names += ["loss"] + [f"grad[{params[i]}]" for i in program.float_args]
    return names


def _flatten(tree: Any) -> list[np.ndarray]:
    if isinstance(tree, tuple | list):
        return [leaf for item in tree for leaf in _flatten(item)]
    return [np.asarray(tree)]


def _cast(args: Sequence[np.ndarray], dtype: str) -> list[np.ndarray]:
    return [a.astype(dtype) if a.dtype.kind == "f" else a for a in args]


def _eager(scope: dict[str, Any], program: Program, args: Sequence[np.ndarray]) -> Any:
    return _checked(scope, program)(*[aidjit.Tensor(a) for a in args])


def _compare(got: np.ndarray, want: np.ndarray, sensitivity: np.ndarray, dtype: str) -> str | None:
    """None if `got` matches `want`, else what differs."""
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"got {got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}"
    if want.dtype.kind != "f":
        bad = got != want
    else:
        rtol, atol = TOLERANCE[dtype]
        with np.errstate(all="ignore"):
            tol = SENSITIVITY_FACTOR * sensitivity + rtol * np.abs(want) + atol
            close = (got == want) | (np.abs(got - want) <= tol) | ~np.isfinite(sensitivity)
        bad = ~(close | (np.isnan(got) & np.isnan(want)))
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return (
        f"{int(bad.sum())} of {bad.size} elements differ; at {list(index)} got "
        f"{got[index]!r}, expected {want[index]!r}"
    )


def _sensitivity(e32: np.ndarray, e64: np.ndarray, dtype: str) -> np.ndarray:
    """Per element, the rounding error expected in `dtype`, from float32 vs float64 eager runs."""
    if e64.dtype.kind != "f":
        return np.zeros(e64.shape)
    with np.errstate(all="ignore"):
        spread = np.abs(e32.astype(np.float64) - e64)
        spread = np.where(np.isnan(e32) & np.isnan(e64), 0.0, spread)
    return spread * (np.finfo(dtype).eps / np.finfo(np.float32).eps)


def _error(level: str, error: BaseException) -> Mismatch:
    frame = traceback.extract_tb(error.__traceback__)[-1]
    where = f" (at {frame.filename.rsplit('/', 2)[-1]}:{frame.lineno})"
    message = str(error).splitlines()[0] if str(error) else ""
    return Mismatch("error", level, "", f"{type(error).__name__}: {message[:300]}{where}")


def check_program(program: Program, levels: Sequence[str] = tuple(BACKENDS)) -> list[Mismatch]:
    """Every disagreement between eager execution, the compiled levels and finite differences."""
    scope = program.namespace()
    scopes = {dtype: program.namespace(dtype) for dtype in ("float32", "float64")}
    args = scope["inputs"]()
    try:
        expected = _eager(scope, program, args)
        twins = {d: _flatten(_eager(scopes[d], program, _cast(args, d))) for d in scopes}
    except Exception as error:  # a generated program must run eagerly
        return [_error("eager", error)]
    names = _leaf_names(scope, program, expected)
    want = _flatten(expected)
    sensitivity = [_sensitivity(a, b, program.dtype) for a, b in zip(*twins.values(), strict=True)]
    mismatches = []
    for level in levels:
        try:
            compiled = aidjit.compile(_checked(scope, program), *args, **BACKENDS[level])
            got = _flatten(compiled(*args))
        except Exception as error:  # every failure is a finding: keep going
            mismatches.append(_error(level, error))
            continue
        for name, g, w, s in zip(names, got, want, sensitivity, strict=True):
            detail = _compare(g, w, s, program.dtype)
            if detail is not None:
                mismatches.append(Mismatch("forward", level, name, detail))
    if program.has_loss and program.fd_checkable:
        mismatches += _finite_differences(scopes["float64"], program, _cast(args, "float64"))
    return mismatches


def _finite_differences(
    scope: dict[str, Any], program: Program, args: list[np.ndarray]
) -> list[Mismatch]:
    """Tape gradients (float64, eager) against central differences along random directions.

    A direction whose two step sizes disagree crosses a kink or a jump (relu at 0, a flipping
    comparison) within a step: it says nothing about the gradient and is skipped.
    """
    value_and_grad = aidjit.value_and_grad(scope["loss"], argnums=program.float_args)
    _, grads = value_and_grad(*[aidjit.Tensor(a) for a in args])
    rng = np.random.default_rng(program.seed)

    def loss_along(direction: list[np.ndarray], step: float) -> float:
        moved = list(args)
        for i, d in zip(program.float_args, direction, strict=True):
            moved[i] = args[i] + step * d
        return float(np.asarray(scope["loss"](*[aidjit.Tensor(a) for a in moved])))

    for attempt in range(FD_DIRECTIONS * 3):
        direction = [rng.standard_normal(args[i].shape) for i in program.float_args]
        analytic = sum(
            float(np.sum(np.asarray(g) * d)) for g, d in zip(grads, direction, strict=True)
        )
        scale = 1.0 + sum(
            float(np.sum(np.abs(np.asarray(g) * d))) for g, d in zip(grads, direction, strict=True)
        )
        with np.errstate(all="ignore"):
            numeric = [
                (loss_along(direction, h) - loss_along(direction, -h)) / (2 * h) for h in FD_STEPS
            ]
        if not np.isfinite(numeric).all() or abs(numeric[0] - numeric[1]) > FD_TOLERANCE * scale:
            continue  # not smooth along this direction
        if abs(numeric[1] - analytic) > FD_TOLERANCE * scale:
            detail = (
                f"direction {attempt}: tape gives {analytic!r}, "
                f"central differences give {numeric[1]!r}"
            )
            return [Mismatch("finite differences", "eager", "loss", detail)]
    return []


def reproduction(program: Program, mismatches: Sequence[Mismatch]) -> str:
    """What a failure prints: the mismatches, how to rerun, and the program as Python source."""
    lines = [
        f"fuzz program {program.seed} ({program.dtype}) disagrees {len(mismatches)} time(s):",
        *(f"  {m}" for m in mismatches),
        f"rerun: python -m tests.fuzz.harness {program.seed}",
        "the program (python <file> runs it eagerly and at every level):",
        "-" * 78,
        program.source,
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="*", type=int)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="one line per failure, no sources")
    options = parser.parse_args(argv)
    seeds = options.seeds or range(options.start, options.start + options.count)
    failed = 0
    begin = time.perf_counter()
    for seed in seeds:
        program = generate(seed)
        start = time.perf_counter()
        mismatches = check_program(program)
        elapsed = time.perf_counter() - start
        status = "ok" if not mismatches else f"FAIL {len(mismatches)}"
        print(f"seed {seed} {program.dtype} {len(program.ops_used)} ops {elapsed:.2f}s {status}")
        if mismatches:
            failed += 1
            print(
                "\n".join(f"  {m}" for m in mismatches)
                if options.quiet
                else reproduction(program, mismatches)
            )
        print(end="", flush=True)
    total = len(seeds)
    each = (time.perf_counter() - begin) / max(total, 1)
    print(f"{total} programs, {failed} failed, {each:.2f}s each")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
