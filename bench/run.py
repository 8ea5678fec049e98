"""aidjit benchmark: the reference workloads, compiled vs numpy eager vs peers, in one process.

    python bench/run.py [--only W1,W3] [--quick] [--json PATH]

For each workload (bench/workloads.py; all float32, fixed seeds) every column runs on the same
inputs in this process:

    numpy eager        a hand-written numpy implementation
    aidjit eager tape  the aidjit function called on Tensors (numpy per op + tape bookkeeping);
                       for W3, `value_and_grad(loss)(...)` called eagerly
    aidjit compiled    `aidjit.compile(fn, *inputs)` called with numpy arrays
    torch eager, torch.compile, jax.jit   when importable (bench/peer_torch.py, peer_jax.py)

Correctness first: each column's outputs are compared with the numpy implementation run in
float64 (`np.allclose`, float32 tolerances, exact shapes and float32 dtype). A wrong column is
not timed, shows as WRONG, and makes the run exit 1. Then timing (bench/timing.py): warm-up,
calls batched per sample, samples interleaved across columns, median per call. Each time is also
given relative to numpy eager's (0.25x = a quarter of numpy's time, i.e. 4x faster).

Compile time (bench/compile_time.py): aidjit cold (empty cache) and warm (disk cache) in new
processes, asserted to be a cache "miss" and a "disk" hit. torch.compile and jax.jit first calls
are timed in this process; torch.compile gets a fresh Inductor cache directory for the run, so
its first figures are cold too (the first workload also pays Inductor's one-off start-up).
`--quick` (the smoke test) takes fewer samples and skips torch.compile, whose first call alone
costs seconds. Threads stay at library defaults and are printed.

Memory and structure (the third table; JSON keys in parentheses, per workload):
- bench/memory.py, numpy eager and aidjit compiled each in a new process ("memory" -> column ->
  first_call_faults, faults_per_call, first_call_rss_growth_mib, peak_rss_growth_mib,
  later_calls): minor page faults of the first call and per later call, and peak RSS growth;
- bench/c_structure.py, the compiled function's C ("c_structure" -> function, loop_nests,
  heap_allocations, nests_reading {parameter: loop nests reading it},
  read_only_parameters): what the emitted code does per call;
- "kernels" (top level): the same structure for softmax, log_softmax and layer_norm compiled
  alone on a 256x1024 float32 input (each should be one or two loop nests).
docs/performance.md explains the columns.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

import aidjit
from aidjit import Tensor, ops
from aidjit.runtime.emit_c import c_identifier

from c_structure import FunctionStructure, function_structure
from compile_time import CompileRun, CompileTimes, measure_compile
from machine import machine_info
from memory import PROBED_COLUMNS, MemoryUse, measure_memory
from timing import COMPILED, EAGER, FULL, NUMPY, QUICK, Column, Settings, Timing, measure
from workloads import BY_ID, SKIPPED, WORKLOADS, Workload, flatten


@dataclass(frozen=True)
class PeerColumn:
    """A column provided by an optional framework: module and factory, imported lazily."""

    name: str
    module: str
    factory: str
    slow_first_call: bool = False


PEERS = (
    PeerColumn("torch eager", "peer_torch", "eager_column"),
    PeerColumn("torch.compile", "peer_torch", "compiled_column", slow_first_call=True),
    PeerColumn("jax.jit", "peer_jax", "jit_column"),
)
COLUMNS = (NUMPY, EAGER, COMPILED, *(p.name for p in PEERS))
BREAKDOWN_NOTE = (
    "compile breakdown from CompiledFunction.stats (build = gcc on a miss, cache check on a hit); "
    "other = wall time of the compile call in no stats field (e.g. IR verification, lazy imports)"
)
TABLE_HEADER = "Run time: median ms per call (time relative to numpy eager; <1x = faster)"


@dataclass
class WorkloadResult:
    """Everything measured for one workload."""

    workload: Workload
    timings: dict[str, Timing] = field(default_factory=dict)
    max_abs_error: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    first_call_ms: dict[str, float] = field(default_factory=dict)
    compile: CompileTimes | None = None
    memory: dict[str, MemoryUse] = field(default_factory=dict)
    structure: FunctionStructure | None = None


class Run:
    """State of one benchmark run: settings, lazily imported peers and failures."""

    def __init__(self, settings: Settings, quick: bool, selected_skips: list[str]) -> None:
        self.settings = settings
        self.quick = quick
        self.selected_skips = selected_skips
        self.modules: dict[str, ModuleType | str] = {}
        self.failures: list[str] = []
        self.kernels: dict[str, FunctionStructure] = {}

    def peer_module(self, name: str) -> ModuleType | str:
        """The imported peer module, or why it could not be imported."""
        if name not in self.modules:
            try:
                self.modules[name] = importlib.import_module(name)
            except ImportError as error:
                self.modules[name] = f"not importable ({error})"
        return self.modules[name]


# ----- columns -------------------------------------------------------------------------------


def aidjit_columns(
    workload: Workload, inputs: tuple[np.ndarray, ...], compiled: aidjit.CompiledFunction
) -> list[Column]:
    tensors = [Tensor(a) for a in inputs]
    return [
        Column(NUMPY, lambda: workload.numpy_fn(*inputs)),
        Column(EAGER, lambda: workload.aidjit_fn(*tensors)),
        Column(COMPILED, lambda: compiled(*inputs)),
    ]


def peer_columns(
    run: Run, workload: Workload, inputs: tuple[np.ndarray, ...], result: WorkloadResult
) -> list[Column]:
    columns = []
    for peer in PEERS:
        if run.quick and peer.slow_first_call:
            result.unavailable[peer.name] = "skipped under --quick (first call costs seconds)"
            continue
        module = run.peer_module(peer.module)
        if isinstance(module, str):
            result.unavailable[peer.name] = module
            continue
        try:
            column = getattr(module, peer.factory)(workload.id, inputs)
        except Exception as error:  # a peer failing, however it fails, must not stop the suite
            result.unavailable[peer.name] = f"failed: {type(error).__name__}: {error}"
            continue
        if column.first_call_ms is not None:
            result.first_call_ms[peer.name] = column.first_call_ms
        columns.append(column)
    return columns


# ----- correctness -----------------------------------------------------------------------------


def check_column(
    column: Column, workload: Workload, reference: list[np.ndarray]
) -> tuple[float, str | None]:
    """(max abs error, None) if the column's outputs match the reference, else (.., why not)."""
    outputs = flatten(column.call(), column.to_numpy)
    if len(outputs) != len(reference):
        return math.inf, f"{len(outputs)} outputs, expected {len(reference)}"
    worst = 0.0
    for index, (output, expected) in enumerate(zip(outputs, reference, strict=True)):
        if output.shape != expected.shape or output.dtype != np.float32:
            found = f"{output.dtype}{list(output.shape)}"
            return math.inf, f"output {index} is {found}, expected float32{list(expected.shape)}"
        worst = max(worst, float(np.max(np.abs(output - expected), initial=0.0)))
        if not np.allclose(output, expected, rtol=workload.rtol, atol=workload.atol):
            return worst, f"output {index} differs from the reference: max abs error {worst:.3g}"
    return worst, None


def checked(
    run: Run,
    columns: list[Column],
    workload: Workload,
    inputs: tuple[np.ndarray, ...],
    result: WorkloadResult,
) -> list[Column]:
    """The columns whose results are right; wrong ones are recorded as failures."""
    reference = workload.reference(inputs)
    good = []
    for column in columns:
        error, problem = check_column(column, workload, reference)
        result.max_abs_error[column.name] = error
        if problem is None:
            good.append(column)
            continue
        result.unavailable[column.name] = f"WRONG: {problem}"
        run.failures.append(f"{workload.id} {column.name}: {problem}")
    return good


# ----- one workload --------------------------------------------------------------------------


def run_workload(run: Run, workload: Workload) -> WorkloadResult:
    print(f"  {workload.id}: {workload.title} ...", file=sys.stderr, flush=True)
    result = WorkloadResult(workload)
    inputs = workload.inputs()
    compiled = aidjit.compile(workload.aidjit_fn, *inputs)
    result.structure = function_structure(compiled.ir("c"), c_identifier(compiled.__name__))
    columns = aidjit_columns(workload, inputs, compiled)
    columns += peer_columns(run, workload, inputs, result)
    result.timings = measure(checked(run, columns, workload, inputs, result), run.settings)
    for column in PROBED_COLUMNS:
        if column in result.timings:  # a wrong column is not measured further
            result.memory[column] = measure_memory(workload.id, column)
    result.compile = measure_compile(workload.id)
    expected = (("cold", result.compile.cold, "miss"), ("warm", result.compile.warm, "disk"))
    for label, compile_run, cache in expected:
        if compile_run.cache != cache:
            run.failures.append(
                f"{workload.id} {label} compile: cache {compile_run.cache!r}, expected {cache!r}"
            )
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


def runtime_cell(result: WorkloadResult, column: str) -> str:
    timing = result.timings.get(column)
    if timing is None:
        return "WRONG" if result.unavailable.get(column, "").startswith("WRONG") else "—"
    numpy_ms = result.timings[NUMPY].median_ms if NUMPY in result.timings else math.nan
    return f"{ms(timing.median_ms)} ({timing.median_ms / numpy_ms:.2f}x)"


def runtime_table(results: list[WorkloadResult], skipped: list[str]) -> str:
    header = ["workload", *COLUMNS, "max err (compiled)"]
    rows = []
    for result in results:
        error = result.max_abs_error.get(COMPILED)
        error_cell = "—" if error is None else f"{error:.1e}"
        cells = [runtime_cell(result, c) for c in COLUMNS]
        rows.append([f"{result.workload.id} {result.workload.title}", *cells, error_cell])
    for workload_id in skipped:
        title, _ = SKIPPED[workload_id]
        rows.append([f"{workload_id} {title}", *["skipped"] * len(COLUMNS), "—"])
    return format_table(header, rows)


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


def timing_note(settings: Settings, results: list[WorkloadResult]) -> str:
    counts = [t.number for r in results for t in r.timings.values()]
    samples = [len(t.samples_ms) for r in results for t in r.timings.values()]
    return (
        f"timing: {min(samples)}-{max(samples)} samples per column, "
        f"{min(counts)}-{max(counts)} calls per sample (>= {settings.min_sample_s * 1e3:g} ms "
        "per sample), interleaved across columns, median of per-call times"
    )


def thread_notes(run: Run, machine: dict[str, Any]) -> list[str]:
    threads = machine["threads"]
    lines = [
        f"threads: numpy BLAS ({machine['blas']['name']}): {threads['numpy_blas']}; "
        f"aidjit compiled: {threads['aidjit_compiled']}"
    ]
    for name in ("peer_torch", "peer_jax"):
        module = run.modules.get(name)
        if isinstance(module, ModuleType):
            text = module.threads()
            threads[name.removeprefix("peer_")] = text
            lines.append(f"threads: {text}")
    return lines


def unavailable_notes(results: list[WorkloadResult]) -> list[str]:
    """Why columns show "—" or WRONG, one line per distinct reason."""
    reasons: dict[tuple[str, str], list[str]] = {}
    for result in results:
        for column, reason in result.unavailable.items():
            reasons.setdefault((column, reason), []).append(result.workload.id)
    return [f"{column} — {reason} [{', '.join(ids)}]" for (column, reason), ids in reasons.items()]


def report_notes(run: Run, results: list[WorkloadResult], machine: dict[str, Any]) -> list[str]:
    return [
        *thread_notes(run, machine),
        timing_note(run.settings, results),
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
        compiled = aidjit.compile(kernel, x)
        structures[name] = function_structure(compiled.ir("c"), c_identifier(compiled.__name__))
    return structures


def kernel_table(structures: dict[str, FunctionStructure]) -> str:
    rows = [
        [f"{name} {'x'.join(map(str, KERNEL_SHAPE))}", *structure_cells(structure)]
        for name, structure in structures.items()
    ]
    return format_table(["kernel", "loop nests", "heap allocs", "input passes"], rows)


def print_report(run: Run, results: list[WorkloadResult], machine: dict[str, Any]) -> None:
    print(
        f"\nmachine: {machine['cpu']}, {machine['cores']} cores; python {machine['python']}, "
        f"numpy {machine['numpy']}, torch {machine['torch'] or '—'}, jax {machine['jax'] or '—'}; "
        f"{machine['cc_version']}"
    )
    print(f"\n{TABLE_HEADER}\n")
    print(runtime_table(results, run.selected_skips))
    print("\nCompile time, ms (aidjit: new process, cold = empty cache, warm = disk cache)\n")
    print(compile_table(results))
    print(f"\n{MEMORY_HEADER}\n")
    print(memory_table(results))
    print("\nRow-wise kernels compiled alone, float32: structure of their C\n")
    print(kernel_table(run.kernels))
    print("\nNotes:")
    for line in report_notes(run, results, machine):
        print(f"  - {line}")
    for failure in run.failures:
        print(f"  !! FAILURE: {failure}")


# ----- JSON ----------------------------------------------------------------------------------


def column_json(result: WorkloadResult, column: str) -> dict[str, Any]:
    timing = result.timings[column]
    numpy_ms = result.timings[NUMPY].median_ms if NUMPY in result.timings else math.nan
    return {
        "median_ms": timing.median_ms,
        "ratio_to_numpy": timing.median_ms / numpy_ms,
        "min_ms": min(timing.samples_ms),
        "max_ms": max(timing.samples_ms),
        "samples": len(timing.samples_ms),
        "calls_per_sample": timing.number,
        "max_abs_error": result.max_abs_error[column],
    }


def compile_json(times: CompileTimes) -> dict[str, Any]:
    return {
        label: {"wall_ms": r.wall_ms, "breakdown_ms": r.breakdown(), "stats": r.stats}
        for label, r in (("cold", times.cold), ("warm", times.warm))
    }


def workload_json(result: WorkloadResult) -> dict[str, Any]:
    workload = result.workload
    return {
        "title": workload.title,
        "tolerance": {"rtol": workload.rtol, "atol": workload.atol},
        "columns": {c: column_json(result, c) for c in COLUMNS if c in result.timings},
        "unavailable": result.unavailable,
        "max_abs_error": result.max_abs_error,
        "compile_ms": compile_json(result.compile),
        "first_call_ms": result.first_call_ms,
        "memory": {column: asdict(use) for column, use in result.memory.items()},
        "c_structure": result.structure.as_dict(),
    }


def write_json(path: str, run: Run, results: list[WorkloadResult], machine: dict) -> None:
    workloads: dict[str, Any] = {r.workload.id: workload_json(r) for r in results}
    for workload_id in run.selected_skips:
        title, reason = SKIPPED[workload_id]
        workloads[workload_id] = {"title": title, "skipped": reason}
    report = {
        "machine": machine,
        "settings": {**asdict(run.settings), "quick": run.quick},
        "ratio": "median time / numpy eager median time (lower is faster)",
        "workloads": workloads,
        "kernels": {name: structure.as_dict() for name, structure in run.kernels.items()},
        "notes": report_notes(run, results, machine),
        "failures": run.failures,
    }
    with open(path, "w") as handle:
        json.dump(report, handle, indent=2, default=str)
        handle.write("\n")


# ----- command line --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated workload ids, e.g. W1,W3")
    parser.add_argument("--quick", action="store_true", help="few samples (smoke test)")
    parser.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    return parser.parse_args(argv)


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
    """Run `body` with torch.compile's on-disk cache in a new directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-inductor-") as directory:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = directory
        return body()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workloads, skipped = select(args.only)
    run = Run(QUICK if args.quick else FULL, args.quick, skipped)
    machine = machine_info()
    print(f"aidjit benchmark: {len(workloads)} workload(s)", file=sys.stderr)
    results = [run_workload(run, workload) for workload in workloads]
    run.kernels = kernel_structures()
    print_report(run, results, machine)
    if args.json:
        write_json(args.json, run, results, machine)
        print(f"\nwrote {args.json}")
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(with_fresh_inductor_cache(main))
