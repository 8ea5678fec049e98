"""aidjit benchmark: the reference workloads, compiled vs numpy eager vs peers, in fresh processes.

    python bench/run.py [--only W1,W3] [--quick] [--processes N] [--json PATH]

For each workload (bench/workloads.py; all float32, fixed seeds) every column runs on the same
inputs, side by side in one process (bench/columns.py):

    numpy eager        a hand-written numpy implementation
    aidjit eager tape  the aidjit function called on Tensors (numpy per op + tape bookkeeping);
                       for W3 and W5t, `value_and_grad(loss)(...)` called eagerly
    aidjit compiled    `aidjit.compile(fn, *inputs, tier="optimized")` called with numpy arrays
    aidjit.jit         `aidjit.jit(fn, tier="optimized")` called with numpy arrays (signature
                       lookup per call)
    torch eager, torch.compile, jax.jit   when importable (bench/peer_torch.py, peer_jax.py)

Each workload is measured in `--processes N` fresh processes (default 4; 1 under `--quick`) at
two thread settings: "all" (the libraries' default threads, wall time) and "1T" (the process
pinned to one core, every library told to use one thread before it loads, CPU time); see
bench/columns.py. A column's figure is the median over processes of its per-process median, and
a ratio is the median over processes of the per-process ratio (bench/targets.py).

Correctness first: in every process each column's outputs are compared with the numpy
implementation run in float64 (`np.allclose`, float32 tolerances, exact shapes and float32
dtype). A wrong column is not timed, shows as WRONG, and makes the run exit 1. Then timing
(bench/timing.py): warm-up, calls batched per sample, samples interleaved across columns, median
per call. Each time is also given relative to numpy eager's (0.25x = a quarter of numpy's time).

Contractions (bench/flops.py): the FLOPs of the workload's matmuls and convolutions, counted on
its optimized graph (2*M*N*K per `graph.matmul`, a `graph.conv2d` as its im2col GEMM), divided by
the time per call gives GFLOP/s; "numpy sgemm" runs numpy's matmul on the same shapes in the same
process, the BLAS reference.

Dispatch and start-up: `measure_dispatch(settings)` (bench/dispatch.py, in this process) and
`measure_startup(id, processes)` (bench/startup.py, fresh processes), each imported lazily:
when absent or failing, the tables say why ("not available", "failed: ...") and the run goes on.

Targets (bench/targets.py): issue 7's "Done when" list and issue 8's W5 targets, each with the
measured ratio or figure and PASS / FAIL / not measured.

Compile time (bench/compile_time.py): aidjit cold (empty cache) and warm (disk cache) in new
processes, asserted to be a cache "miss" and a "disk" hit. torch.compile and jax.jit first calls
are those of the first "all threads" process; torch.compile gets a fresh Inductor cache directory
for the run, so its first figure is cold (the first workload also pays Inductor's start-up).
`--quick` (the smoke test) takes fewer samples, one process, and skips torch.compile, whose first
call alone costs seconds.

Memory and structure (JSON keys in parentheses, per workload):
- bench/memory.py, numpy eager and aidjit compiled each in a new process ("memory" -> column ->
  first_call_faults, faults_per_call, first_call_rss_growth_mib, peak_rss_growth_mib,
  later_calls): minor page faults of the first call and per later call, and peak RSS growth;
- bench/c_structure.py, the compiled function's C ("c_structure" -> function, loop_nests,
  heap_allocations, nests_reading {parameter: loop nests reading it},
  read_only_parameters): what the emitted code does per call;
- "kernels" (top level): the same structure for softmax, log_softmax and layer_norm compiled
  alone on a 256x1024 float32 input (each should be one or two loop nests).
docs/performance.md explains the columns ("Reading the benchmark").
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import aidjit
from aidjit import ops
from aidjit.runtime.emit_c import c_identifier

from c_structure import FunctionStructure, function_structure
from columns import COLUMNS, COMPILE_OPTIONS, SETTINGS, measure_columns
from compile_time import CompileRun, CompileTimes, measure_compile
from flops import Contraction, gflops, parse_contractions, total_flops
from machine import machine_info
from memory import PROBED_COLUMNS, MemoryUse, measure_memory
from targets import SETTING_LABELS, Verdict, evaluate, paired_ratio
from timing import COMPILED, FULL, NUMPY, QUICK, SGEMM, Settings, Timing
from workloads import BY_ID, SKIPPED, WORKLOADS, Workload

DEFAULT_PROCESSES = 4
BREAKDOWN_NOTE = (
    "compile breakdown from CompiledFunction.stats (build = gcc on a miss, cache check on a hit); "
    "other = wall time of the compile call in no stats field (e.g. IR verification, lazy imports)"
)
# Optional measurements written by other modules: (module, function), imported when used.
DISPATCH = ("dispatch", "measure_dispatch")
STARTUP = ("startup", "measure_startup")


def optional_measurement(source: tuple[str, str], *args: Any) -> dict[str, Any] | str:
    """`module.function(*args)`, or why it is not available: a missing or failing module must
    not stop the run (bench/dispatch.py and bench/startup.py land separately)."""
    module_name, function_name = source
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        return f"not available ({error})"
    try:
        return function(*args)
    except Exception as error:  # reported in the tables; the rest of the run goes on
        return f"failed: {type(error).__name__}: {error}"


@dataclass
class SettingRuns:
    """One workload at one thread setting: the report of every fresh process (columns.py)."""

    processes: list[dict[str, Any]] = field(default_factory=list)

    def per_process_ms(self, column: str) -> list[float | None]:
        """The column's median ms in each process, None where it was not timed."""
        medians = []
        for process in self.processes:
            timing = process["timings"].get(column)
            medians.append(None if timing is None else Timing(**timing).median_ms)
        return medians

    def columns(self) -> list[str]:
        timed = {name for process in self.processes for name in process["timings"]}
        return [name for name in (*COLUMNS, SGEMM) if name in timed]

    def median_ms(self, column: str) -> float | None:
        values = [v for v in self.per_process_ms(column) if v is not None]
        return statistics.median(values) if values else None

    def unavailable(self) -> dict[str, str]:
        """Why columns were not timed, the first reason seen for each."""
        reasons: dict[str, str] = {}
        for process in self.processes:
            for column, reason in process["unavailable"].items():
                reasons.setdefault(column, reason)
        return reasons

    def max_abs_error(self, column: str) -> float | None:
        errors = [
            p["max_abs_error"][column] for p in self.processes if column in p["max_abs_error"]
        ]
        return max(errors) if errors else None


@dataclass
class WorkloadResult:
    """Everything measured for one workload."""

    workload: Workload
    settings: dict[str, SettingRuns] = field(
        default_factory=lambda: {key: SettingRuns() for key in SETTINGS}
    )
    contractions: list[Contraction] = field(default_factory=list)
    compile: CompileTimes | None = None
    memory: dict[str, MemoryUse] = field(default_factory=dict)
    structure: FunctionStructure | None = None
    startup: dict[str, Any] | str = "not measured"

    @property
    def first_call_ms(self) -> dict[str, float]:
        """Peers' first calls in the first all-threads process (torch.compile's is cold there)."""
        processes = self.settings["all"].processes
        return processes[0]["first_call_ms"] if processes else {}


class Run:
    """State of one benchmark run: settings, failures and the run-wide measurements."""

    def __init__(self, quick: bool, processes: int, selected_skips: list[str]) -> None:
        self.settings: Settings = QUICK if quick else FULL
        self.quick = quick
        self.processes = processes
        self.selected_skips = selected_skips
        self.failures: list[str] = []
        self.kernels: dict[str, FunctionStructure] = {}
        self.dispatch: dict[str, Any] | str = "not measured"

    def fail(self, failure: str) -> None:
        if failure not in self.failures:
            self.failures.append(failure)


# ----- one workload --------------------------------------------------------------------------


def measure_processes(run: Run, result: WorkloadResult) -> None:
    """`run.processes` fresh processes per thread setting, all-threads first in each round (so
    the first one meets torch.compile's cache cold)."""
    workload_id = result.workload.id
    for index in range(run.processes):
        for key, runs in result.settings.items():
            print(f"    {key} process {index + 1}/{run.processes}", file=sys.stderr, flush=True)
            try:
                report = measure_columns(workload_id, key, run.quick)
            except RuntimeError as error:  # a crashed process is a failure of the run
                run.fail(f"{workload_id} {key}: {error}")
                continue
            runs.processes.append(report)
            for failure in report["failures"]:
                run.fail(f"{SETTING_LABELS[key]}: {failure}")


def run_workload(run: Run, workload: Workload) -> WorkloadResult:
    print(f"  {workload.id}: {workload.title} ...", file=sys.stderr, flush=True)
    result = WorkloadResult(workload)
    # Compiling here first fills the disk cache the measuring processes then load from.
    compiled = aidjit.compile(workload.aidjit_fn, *workload.inputs(), **COMPILE_OPTIONS)
    result.structure = function_structure(compiled.ir("c"), c_identifier(compiled.__name__))
    result.contractions = parse_contractions(compiled.ir("optimized"))
    measure_processes(run, result)
    timed = result.settings["all"].columns()
    for column in PROBED_COLUMNS:
        if column in timed:  # a wrong column is not measured further
            result.memory[column] = measure_memory(workload.id, column)
    result.compile = measure_compile(workload.id)
    expected = (("cold", result.compile.cold, "miss"), ("warm", result.compile.warm, "disk"))
    for label, compile_run, cache in expected:
        if compile_run.cache != cache:
            run.fail(
                f"{workload.id} {label} compile: cache {compile_run.cache!r}, expected {cache!r}"
            )
    result.startup = optional_measurement(STARTUP, workload.id, run.processes)
    return result


# ----- tables --------------------------------------------------------------------------------


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns: the first left-aligned, the rest right-aligned; a rule under the header."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([row[0].ljust(widths[0]), *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def ms(value: float) -> str:
    return f"{value:.4g}" if value < 1000 else f"{value:.0f}"


def setting_label(key: str, machine: dict[str, Any]) -> str:
    """ "1T", or "2T" on a 2-core machine for the all-threads setting: the issue's column names."""
    return key if key == "1T" else f"{machine['usable_cores']}T"


def table_columns(key: str) -> list[str]:
    return [c for c in COLUMNS if c not in SETTINGS[key].skipped]


def runtime_cell(runs: SettingRuns, column: str) -> str:
    median = runs.median_ms(column)
    if median is None:
        return "WRONG" if runs.unavailable().get(column, "").startswith("WRONG") else "—"
    ratio = paired_ratio(runs.per_process_ms(column), runs.per_process_ms(NUMPY))
    return f"{ms(median)} ({'—' if ratio is None else f'{ratio:.2f}'}x)"


def runtime_table(results: list[WorkloadResult], skipped: list[str], key: str) -> str:
    columns = table_columns(key)
    header = ["workload", *columns, "max err (compiled)"]
    rows = []
    for result in results:
        runs = result.settings[key]
        error = runs.max_abs_error(COMPILED)
        error_cell = "—" if error is None else f"{error:.1e}"
        cells = [runtime_cell(runs, c) for c in columns]
        rows.append([f"{result.workload.id} {result.workload.title}", *cells, error_cell])
    for workload_id in skipped:
        title, _ = SKIPPED[workload_id]
        rows.append([f"{workload_id} {title}", *["skipped"] * len(columns), "—"])
    return format_table(header, rows)


def runtime_title(key: str, machine: dict[str, Any], processes: int) -> str:
    setting = SETTINGS[key]
    return (
        f"Run time, {setting_label(key, machine)} ({SETTING_LABELS[key]}, "
        f"{setting.clock_name}): median ms per call over {processes} process(es) "
        "(time relative to numpy eager; <1x = faster)"
    )


CONTRACTION_HEADER = (
    "Contractions: GFLOP/s = FLOPs of the workload's matmuls and convolutions (as im2col GEMMs) "
    "per call / time per call; numpy sgemm = numpy's matmul on the same shapes, same process"
)


def gflops_cell(runs: SettingRuns, flops: int, column: str) -> str:
    median = runs.median_ms(column)
    return "—" if median is None else f"{gflops(flops, median):.1f}"


def share_cell(runs: SettingRuns) -> str:
    """aidjit's GFLOP/s as a share of sgemm's, process by process (= sgemm time / aidjit's)."""
    share = paired_ratio(runs.per_process_ms(SGEMM), runs.per_process_ms(COMPILED))
    return "—" if share is None else f"{share:.0%}"


def contraction_table(results: list[WorkloadResult], machine: dict[str, Any]) -> str:
    header = ["workload", "contractions", "MFLOP/call"]
    for key in SETTINGS:
        label = setting_label(key, machine)
        header += [f"sgemm {label}", f"aidjit {label}", f"aidjit/sgemm {label}"]
    rows = []
    for result in results:
        if not result.contractions:
            continue
        flops = total_flops(result.contractions)
        row = [result.workload.id, str(len(result.contractions)), f"{flops / 1e6:.1f}"]
        for runs in result.settings.values():
            row += [gflops_cell(runs, flops, SGEMM), gflops_cell(runs, flops, COMPILED)]
            row.append(share_cell(runs))
        rows.append(row)
    return format_table(header, rows)


def figure_cell(value: Any) -> str:
    return (
        ms(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
    )


def is_figure(value: Any) -> bool:
    """A value short enough for a table cell: a number, a string, or a list of such (nested
    records, such as per-process samples, stay in the JSON)."""
    if isinstance(value, list):
        return all(is_figure(item) for item in value)
    return isinstance(value, int | float | str | bool)


def startup_table(results: list[WorkloadResult]) -> str:
    """Whatever figures bench/startup.py returns, a row per figure and a column per workload,
    or why there are none."""
    measured = [r for r in results if isinstance(r.startup, dict)]
    figures = dict.fromkeys(
        key
        for r in measured
        for key, value in r.startup.items()
        if key != "workload" and is_figure(value)
    )
    rows = [
        [figure, *(figure_cell(r.startup.get(figure, "—")) for r in measured)] for figure in figures
    ]
    table = format_table(["figure", *(r.workload.id for r in measured)], rows) if measured else ""
    reasons = [f"{r.workload.id}: {r.startup}" for r in results if isinstance(r.startup, str)]
    return "\n".join(filter(None, [table, *reasons]))


def dispatch_lines(dispatch: dict[str, Any] | str) -> list[str]:
    if isinstance(dispatch, str):
        return [f"dispatch: {dispatch}"]
    return [f"dispatch: {key} = {figure_cell(value)}" for key, value in dispatch.items()]


def verdict_cell(verdict: Verdict) -> str:
    if verdict.measured is None:
        return "—"
    return (
        f"{verdict.measured:.2f}x"
        if verdict.unit == "x"
        else f"{verdict.measured:.3g}{verdict.unit}"
    )


def target_table(verdicts: list[Verdict]) -> str:
    rows = [
        [v.name, verdict_cell(v), f"{v.compare} {v.bound:g}{v.unit}", v.verdict] for v in verdicts
    ]
    return format_table(["target", "measured", "needed", "verdict"], rows)


def short_number(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def breakdown_cell(compile_run: CompileRun) -> str:
    return "/".join(short_number(v) for v in compile_run.breakdown().values())


def compile_table(results: list[WorkloadResult]) -> str:
    header = [
        "workload",
        "aidjit cold",
        "aidjit warm",
        "cold: trace/passes/verify/emit/build/load/other",
        "warm: trace/passes/verify/emit/build/load/other",
        "torch.compile 1st call",
        "jax.jit 1st call",
    ]
    rows = []
    for result in results:
        cold, warm = result.compile.cold, result.compile.warm
        firsts = [result.first_call_ms.get(name) for name in ("torch.compile", "jax.jit")]
        rows.append(
            [
                result.workload.id,
                f"{ms(cold.wall_ms)} ({cold.cache})",
                f"{ms(warm.wall_ms)} ({warm.cache})",
                breakdown_cell(cold),
                breakdown_cell(warm),
                *("—" if first is None else ms(first) for first in firsts),
            ]
        )
    return format_table(header, rows)


MEMORY_HEADER = (
    "Memory and emitted C: minor page faults and peak RSS growth per column in a new process "
    "(aidjit compiled / numpy eager), structure of the compiled function's C"
)
# (column header, MemoryUse field) of the memory figures, each shown as "aidjit / numpy".
MEMORY_FIGURES = (
    ("faults/call", "faults_per_call"),
    ("1st-call faults", "first_call_faults"),
    ("peak RSS +MiB, 1st call", "first_call_rss_growth_mib"),
    ("peak RSS +MiB, all calls", "peak_rss_growth_mib"),
)
STRUCTURE_NOTE = (
    "C structure of the compiled function (bench/c_structure.py): loop nests = outermost loops; "
    "heap allocs = malloc/aligned_alloc call sites; input passes = loop nests reading each "
    "read-only argument, in argument order"
)


def memory_cell(result: WorkloadResult, figure: str) -> str:
    uses = (result.memory.get(column) for column in (COMPILED, NUMPY))
    return " / ".join("—" if use is None else short_number(getattr(use, figure)) for use in uses)


def structure_cells(structure: FunctionStructure) -> list[str]:
    passes = "/".join(str(count) for count in structure.input_passes) or "—"
    return [str(structure.loop_nests), str(structure.heap_allocations), passes]


def memory_table(results: list[WorkloadResult]) -> str:
    header = ["workload", *(title for title, _ in MEMORY_FIGURES)]
    header += ["loop nests", "heap allocs", "input passes"]
    rows = [
        [
            result.workload.id,
            *(memory_cell(result, figure) for _, figure in MEMORY_FIGURES),
            *structure_cells(result.structure),
        ]
        for result in results
    ]
    return format_table(header, rows)


def memory_note(results: list[WorkloadResult]) -> str:
    calls = sorted({use.later_calls for r in results for use in r.memory.values()})
    counts = "/".join(map(str, calls)) or "no"
    return (
        f"memory (bench/memory.py): faults/call over {counts} calls after the first; peak RSS "
        "growth = /proc VmHWM (reset before the first call) minus the RSS before it, after the "
        f"first call and after all 1 + {counts} calls"
    )


def timing_note(run: Run, results: list[WorkloadResult]) -> str:
    processes = [p for r in results for runs in r.settings.values() for p in runs.processes]
    timings = [t for p in processes for t in p["timings"].values()]
    counts = [t["number"] for t in timings] or [0]
    samples = [len(t["samples_ms"]) for t in timings] or [0]
    return (
        f"timing: {run.processes} fresh process(es) per thread setting; in each, "
        f"{min(samples)}-{max(samples)} samples per column, {min(counts)}-{max(counts)} calls per "
        f"sample (>= {run.settings.min_sample_s * 1e3:g} ms per sample), interleaved across "
        "columns; a figure is the median over processes of per-process medians, a ratio the "
        "median of per-process ratios"
    )


def thread_notes(results: list[WorkloadResult]) -> list[str]:
    """The thread counts in force at each setting, as its first process reported them."""
    lines = []
    for key, label in SETTING_LABELS.items():
        reports = [r.settings[key].processes[0] for r in results if r.settings[key].processes]
        if reports:
            threads = "; ".join(f"{name}: {value}" for name, value in reports[0]["threads"].items())
            lines.append(f"threads at {label}: {threads}")
    return lines


def unavailable_notes(results: list[WorkloadResult]) -> list[str]:
    """Why columns show "—" or WRONG, one line per distinct reason."""
    reasons: dict[tuple[str, str], list[str]] = {}
    for result in results:
        for runs in result.settings.values():
            for column, reason in runs.unavailable().items():
                ids = reasons.setdefault((column, reason), [])
                if result.workload.id not in ids:
                    ids.append(result.workload.id)
    return [f"{column} — {reason} [{', '.join(ids)}]" for (column, reason), ids in reasons.items()]


def report_notes(run: Run, results: list[WorkloadResult]) -> list[str]:
    return [
        *thread_notes(results),
        timing_note(run, results),
        memory_note(results),
        STRUCTURE_NOTE,
        *unavailable_notes(results),
        *(f"{i} skipped: {SKIPPED[i][1]}" for i in run.selected_skips),
        BREAKDOWN_NOTE,
    ]


# Row-wise kernels inside the workloads whose structure issue 6 fixes: at most 2 loop nests each.
KERNEL_SHAPE = (256, 1024)
KERNELS: dict[str, Callable[[Any], Any]] = {
    "softmax": ops.softmax,
    "log_softmax": ops.log_softmax,
    "layer_norm": ops.layer_norm,
}


def kernel_structures() -> dict[str, FunctionStructure]:
    """The C structure of each of `KERNELS` compiled alone on a float32 `KERNEL_SHAPE`."""
    x = np.random.default_rng(0).standard_normal(KERNEL_SHAPE).astype(np.float32)
    structures = {}
    for name, kernel in KERNELS.items():
        compiled = aidjit.compile(kernel, x, **COMPILE_OPTIONS)
        structures[name] = function_structure(compiled.ir("c"), c_identifier(compiled.__name__))
    return structures


def kernel_table(structures: dict[str, FunctionStructure]) -> str:
    rows = [
        [f"{name} {'x'.join(map(str, KERNEL_SHAPE))}", *structure_cells(structure)]
        for name, structure in structures.items()
    ]
    return format_table(["kernel", "loop nests", "heap allocs", "input passes"], rows)


def print_report(
    run: Run, results: list[WorkloadResult], machine: dict[str, Any], verdicts: list[Verdict]
) -> None:
    print(
        f"\nmachine: {machine['cpu']}, {machine['cores']} cores; python {machine['python']}, "
        f"numpy {machine['numpy']}, torch {machine['torch'] or '—'}, jax {machine['jax'] or '—'}; "
        f"{machine['cc_version']}"
    )
    for key in SETTINGS:
        print(f"\n{runtime_title(key, machine, run.processes)}\n")
        print(runtime_table(results, run.selected_skips, key))
    print(f"\n{CONTRACTION_HEADER}\n")
    print(contraction_table(results, machine))
    print("\nStart-up, ms unless named otherwise (bench/startup.py; medians of new processes)\n")
    print(startup_table(results))
    print()
    print("\n".join(dispatch_lines(run.dispatch)))
    print("\nCompile time, ms (aidjit: new process, cold = empty cache, warm = disk cache)\n")
    print(compile_table(results))
    print(f"\n{MEMORY_HEADER}\n")
    print(memory_table(results))
    print("\nRow-wise kernels compiled alone, float32: structure of their C\n")
    print(kernel_table(run.kernels))
    print(
        "\nTargets of issue 7 and, for W5i and W5t, issue 8 (ratios: >1x = aidjit faster; "
        "median of per-process ratios)\n"
    )
    print(target_table(verdicts))
    print("\nNotes:")
    for line in report_notes(run, results):
        print(f"  - {line}")
    for failure in run.failures:
        print(f"  !! FAILURE: {failure}")


# ----- JSON ----------------------------------------------------------------------------------


def column_json(runs: SettingRuns, column: str, flops: int) -> dict[str, Any]:
    per_process = runs.per_process_ms(column)
    measured = [v for v in per_process if v is not None]
    median = statistics.median(measured)
    entry = {
        "median_ms": median,
        "per_process_ms": per_process,
        "ratio_to_numpy": paired_ratio(per_process, runs.per_process_ms(NUMPY)),
        "min_process_ms": min(measured),
        "max_process_ms": max(measured),
        "max_abs_error": runs.max_abs_error(column),
    }
    if flops:
        entry["gflops"] = gflops(flops, median)
    return entry


def setting_json(key: str, runs: SettingRuns, flops: int) -> dict[str, Any]:
    setting = SETTINGS[key]
    return {
        "clock": setting.clock_name,
        "environment": setting.environment,
        "pinned_to_one_core": setting.one_core,
        "columns": {c: column_json(runs, c, flops) for c in runs.columns()},
        "unavailable": runs.unavailable(),
        "threads": runs.processes[0]["threads"] if runs.processes else None,
        "processes": [process["timings"] for process in runs.processes],
    }


def compile_json(times: CompileTimes) -> dict[str, Any]:
    return {
        label: {"wall_ms": r.wall_ms, "breakdown_ms": r.breakdown(), "stats": r.stats}
        for label, r in (("cold", times.cold), ("warm", times.warm))
    }


def workload_json(result: WorkloadResult) -> dict[str, Any]:
    workload = result.workload
    flops = total_flops(result.contractions)
    return {
        "title": workload.title,
        "tolerance": {"rtol": workload.rtol, "atol": workload.atol},
        "contractions": [c.as_dict() for c in result.contractions],
        "matmul_flops": flops,
        "settings": {key: setting_json(key, runs, flops) for key, runs in result.settings.items()},
        "compile_ms": compile_json(result.compile),
        "first_call_ms": result.first_call_ms,
        "startup": result.startup,
        "memory": {column: asdict(use) for column, use in result.memory.items()},
        "c_structure": result.structure.as_dict(),
    }


def build_report(run: Run, results: list[WorkloadResult], machine: dict) -> dict[str, Any]:
    """Every figure of the run, as written by --json; the targets are judged on it."""
    workloads: dict[str, Any] = {r.workload.id: workload_json(r) for r in results}
    for workload_id in run.selected_skips:
        title, reason = SKIPPED[workload_id]
        workloads[workload_id] = {"title": title, "skipped": reason}
    return {
        "machine": machine,
        "settings": {**asdict(run.settings), "quick": run.quick, "processes": run.processes},
        "ratio": "median over processes of (time / numpy eager time) in the same process",
        "workloads": workloads,
        "dispatch": run.dispatch,
        "kernels": {name: structure.as_dict() for name, structure in run.kernels.items()},
        "notes": report_notes(run, results),
        "failures": run.failures,
    }


# ----- command line --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated workload ids, e.g. W1,W3")
    parser.add_argument(
        "--quick", action="store_true", help="few samples, one process, no torch.compile"
    )
    parser.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help=f"fresh processes per workload and thread setting (default {DEFAULT_PROCESSES}, "
        "1 with --quick)",
    )
    parser.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    args = parser.parse_args(argv)
    if args.processes is None:
        args.processes = 1 if args.quick else DEFAULT_PROCESSES
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")
    return args


def select(only: str | None) -> tuple[list[Workload], list[str]]:
    """The workloads to run and the skipped ids to list, validating `--only`."""
    if only is None:
        return list(WORKLOADS), list(SKIPPED)
    ids = [i.strip() for i in only.split(",") if i.strip()]
    unknown = [i for i in ids if i not in BY_ID and i not in SKIPPED]
    if unknown:
        known = ", ".join([*BY_ID, *SKIPPED])
        raise SystemExit(f"unknown workload(s) {', '.join(unknown)}; choose from {known}")
    return [BY_ID[i] for i in ids if i in BY_ID], [i for i in ids if i in SKIPPED]


def with_fresh_inductor_cache(body: Callable[[], int]) -> int:
    """Run `body` with torch.compile's on-disk cache in a new directory, removed afterwards
    (the measuring processes inherit the variable)."""
    with tempfile.TemporaryDirectory(prefix="bench-inductor-") as directory:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = directory
        return body()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workloads, skipped = select(args.only)
    run = Run(args.quick, args.processes, skipped)
    machine = machine_info()
    print(f"aidjit benchmark: {len(workloads)} workload(s)", file=sys.stderr)
    results = [run_workload(run, workload) for workload in workloads]
    run.dispatch = optional_measurement(DISPATCH, run.settings)
    run.kernels = kernel_structures()
    report = build_report(run, results, machine)
    verdicts = evaluate(report)
    report["targets"] = [verdict.as_dict() for verdict in verdicts]
    print_report(run, results, machine, verdicts)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2, default=str)
            handle.write("\n")
        print(f"\nwrote {args.json}")
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(with_fresh_inductor_cache(main))
