"""Issues 7's and 8's "Done when" targets, judged on one benchmark report: figure, bound, verdict.

Every target is read from the JSON report bench/run.py writes (`evaluate(report)`), so a saved
report can be judged again and the logic is testable on small hand-made reports.

Speed targets are ratios taken side by side: for each fresh process, the baseline's median time
divided by aidjit's median time *in that process*; the figure is the median of those per-process
ratios (`paired_ratio`), so a process that ran while the other core was busy slows both columns
and cancels out. A ratio above 1 means aidjit is that many times faster. "W2b at 1 thread >= 75%
of numpy's single-thread sgemm GFLOP/s for the same matmuls" is the same kind of ratio: with the
FLOPs equal, GFLOP/s(aidjit) / GFLOP/s(sgemm) = time(sgemm) / time(aidjit). aidjit's time there is
the whole call (bias, relu, softmax too), so the ratio understates its matmuls' own rate.

Issue 8 adds W5's (the small CNN, inference W5i and training step W5t): aidjit compiled faster
than numpy eager, PyTorch eager and torch.compile, at each thread setting where the baseline is
measured (torch eager is not measured at one thread: bench/columns.py).

Dispatch and start-up targets are absolute figures from bench/dispatch.py and bench/startup.py
(`DISPATCH_KEY`, `STARTUP_KEYS`). A figure that was not measured (a peer not installed, a helper
module absent, a column that was wrong) gives the verdict "not measured", never PASS.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import product
from typing import Any

from timing import COMPILED, JIT, NUMPY, SGEMM

Report = Mapping[str, Any]

# bench/columns.py's thread settings, with the words the targets use for them.
SETTING_LABELS = {"all": "all threads", "1T": "1 thread"}
# Speed targets: workloads -> the baselines aidjit compiled must beat at each setting.
SPEED_WORKLOADS = ("W1", "W2b", "W3", "W4", "W6")
SPEED_BASELINES = (NUMPY, "jax.jit", "torch.compile")
W5_WORKLOADS = ("W5i", "W5t")
W5_BASELINES = {"all": (NUMPY, "torch eager", "torch.compile"), "1T": (NUMPY, "torch.compile")}
SPEED_TARGETS: tuple[tuple[tuple[str, ...], Mapping[str, tuple[str, ...]]], ...] = (
    (SPEED_WORKLOADS, dict.fromkeys(SETTING_LABELS, SPEED_BASELINES)),  # issue 7
    (W5_WORKLOADS, W5_BASELINES),  # issue 8
)
DISPATCH_KEY = "dispatch_us"
STARTUP_KEYS = {"import": "import_ms", "warm": "warm_start_ms", "cold": "cold_first_call_ms"}
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<=": operator.le,
}
NOT_MEASURED = "not measured"


def paired_ratio(
    numerators: Sequence[float | None], denominators: Sequence[float | None]
) -> float | None:
    """Median over processes of numerator / denominator, over the processes that measured both."""
    ratios = [
        n / d
        for n, d in zip(numerators, denominators, strict=True)
        if n is not None and d is not None and d > 0
    ]
    return statistics.median(ratios) if ratios else None


def speedup(
    report: Report, workload: str, setting: str, baseline: str, column: str = COMPILED
) -> float | None:
    """How many times faster `column` ran than `baseline` (>1 = faster), process by process."""
    measured = report["workloads"].get(workload, {}).get("settings", {}).get(setting, {})
    columns = measured.get("columns", {})
    if baseline not in columns or column not in columns:
        return None
    return paired_ratio(columns[baseline]["per_process_ms"], columns[column]["per_process_ms"])


def dispatch_us(report: Report) -> float | None:
    dispatch = report.get("dispatch")
    return dispatch.get(DISPATCH_KEY) if isinstance(dispatch, Mapping) else None


def startup_ms(report: Report, figure: str, workloads: Sequence[str] | None = None) -> float | None:
    """The median over `workloads` (default: all in the report) of one start-up figure
    (`STARTUP_KEYS`), over those where it was measured."""
    values = []
    for workload in report["workloads"] if workloads is None else workloads:
        startup = report["workloads"].get(workload, {}).get("startup")
        if isinstance(startup, Mapping) and startup.get(STARTUP_KEYS[figure]) is not None:
            values.append(startup[STARTUP_KEYS[figure]])
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Target:
    """One target: what it says, how the figure is read from a report, and the bound.
    `workloads` are those it needs: a run without them (`--only`) does not list it."""

    name: str
    compare: str
    bound: float
    unit: str
    measure: Callable[[Report], float | None]
    workloads: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    name: str
    measured: float | None
    compare: str
    bound: float
    unit: str

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return NOT_MEASURED
        return "PASS" if COMPARISONS[self.compare](self.measured, self.bound) else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "measured": self.measured,
            "needed": f"{self.compare} {self.bound:g}{self.unit}",
            "unit": self.unit,
            "verdict": self.verdict,
        }


def _speed_targets() -> Iterator[Target]:
    for workloads, baselines in SPEED_TARGETS:
        for workload, (setting, label) in product(workloads, SETTING_LABELS.items()):
            for baseline in baselines[setting]:
                yield Target(
                    f"{workload} {label}: aidjit compiled faster than {baseline}",
                    ">",
                    1.0,
                    "x",
                    partial(speedup, workload=workload, setting=setting, baseline=baseline),
                    (workload,),
                )


TARGETS: tuple[Target, ...] = (
    *_speed_targets(),
    Target(
        "W2b 1 thread: aidjit GFLOP/s / numpy sgemm GFLOP/s, same matmuls",
        ">=",
        0.75,
        "x",
        partial(speedup, workload="W2b", setting="1T", baseline=SGEMM),
        ("W2b",),
    ),
    Target(
        "W2a all threads: aidjit.jit faster than numpy eager",
        ">=",
        2.0,
        "x",
        partial(speedup, workload="W2a", setting="all", baseline=NUMPY, column=JIT),
        ("W2a",),
    ),
    Target("dispatch above the kernel, 3 arrays", "<=", 2.0, " us", dispatch_us),
    *(
        Target(
            f"{w} warm start",
            "<=",
            20.0,
            " ms",
            partial(startup_ms, figure="warm", workloads=(w,)),
            (w,),
        )
        for w in ("W2a", "W3")
    ),
    Target(
        "W2a cold first call",
        "<=",
        300.0,
        " ms",
        partial(startup_ms, figure="cold", workloads=("W2a",)),
        ("W2a",),
    ),
    Target("import aidjit", "<=", 150.0, " ms", partial(startup_ms, figure="import")),
)


def evaluate(report: Report, targets: Sequence[Target] = TARGETS) -> list[Verdict]:
    """The measured figure and verdict of every target whose workloads the report has."""
    present = report["workloads"]
    return [
        Verdict(t.name, t.measure(report), t.compare, t.bound, t.unit)
        for t in targets
        if all(w in present for w in t.workloads)
    ]
