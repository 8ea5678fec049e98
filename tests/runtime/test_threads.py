"""Threads: parallel loops give bitwise the results of one thread, and the option that sets them.

parallelize-outer-loops only turns loops with independent iterations into scf.parallel, and the
C emitter cuts them into aligned chunks that are the same whichever thread runs them; so a
kernel compiled for 1, 2 or 3 threads must return the same bits, on every reference workload
and on reductions of odd sizes (tails in every vector loop). The numbers are also checked
against numpy.
"""

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import aidjit
from aidjit import ops
from aidjit.pipeline import DEFAULT_PIPELINE

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH not in sys.path:
    sys.path.append(BENCH)

from workloads import WORKLOADS, Workload, flatten  # noqa: E402

POOL_CALL = "aidjit_parallel("


def _bits(outputs: object) -> list[bytes]:
    return [np.ascontiguousarray(leaf).tobytes() for leaf in flatten(outputs)]


def _compiled(fn: Callable[..., object], inputs: tuple[np.ndarray, ...], threads: int):
    return aidjit.compile(fn, *inputs, threads=threads)


@pytest.mark.parametrize("workload", WORKLOADS, ids=[w.id for w in WORKLOADS])
def test_every_workload_gives_the_same_bits_on_one_and_two_threads(workload: Workload) -> None:
    inputs = workload.inputs()
    one, two = (_compiled(workload.aidjit_fn, inputs, threads) for threads in (1, 2))
    assert POOL_CALL not in one.ir("c")
    if workload.id != "W2a":  # batch 1: every loop is below the minimum work
        assert f"{POOL_CALL}aidjit_" in two.ir("c")
    assert _bits(one(*inputs)) == _bits(two(*inputs))
    for got, want in zip(flatten(two(*inputs)), workload.reference(inputs), strict=True):
        np.testing.assert_allclose(got, want, rtol=workload.rtol, atol=workload.atol)


def _column_sums(x: aidjit.Tensor) -> aidjit.Tensor:
    return ops.sum(x, axis=0)


def _row_statistics(x: aidjit.Tensor) -> tuple[aidjit.Tensor, ...]:
    mean = ops.mean(x, axis=1)
    return mean, ops.reduce_max(x, axis=1), ops.softmax(x), ops.sum(ops.exp(x) * x, axis=1)


def _elementwise(x: aidjit.Tensor) -> aidjit.Tensor:
    return ops.tanh(x) * ops.exp(-ops.abs(x)) + 0.5 * x


CASES = {
    "column-sums": (_column_sums, (1031, 1537), lambda x: x.sum(axis=0)),
    "row-statistics": (
        _row_statistics,
        (1031, 1537),
        lambda x: (
            x.mean(axis=1),
            x.max(axis=1),
            np.exp(x - x.max(axis=1, keepdims=True))
            / np.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True),
            (np.exp(x) * x).sum(axis=1),
        ),
    ),
    "elementwise-odd": (
        _elementwise,
        (1_048_576 + 13,),
        lambda x: np.tanh(x) * np.exp(-np.abs(x)) + 0.5 * x,
    ),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_reductions_and_odd_sizes_give_the_same_bits_on_any_thread_count(
    case: str, dtype: type
) -> None:
    fn, shape, reference = CASES[case]
    x = np.random.default_rng(7).standard_normal(shape).astype(dtype)
    results = {threads: _compiled(fn, (x,), threads)(x) for threads in (1, 2, 3)}
    assert _bits(results[1]) == _bits(results[2]) == _bits(results[3])
    tolerance = 2e-4 if dtype == np.float32 else 1e-10
    want = flatten(reference(x.astype(np.float64)))
    for got, expected in zip(flatten(results[2]), want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_a_reduced_outer_dim_stays_serial_and_a_row_loop_runs_on_threads() -> None:
    x = np.ones((1031, 1537), np.float32)
    assert "scf.parallel" not in _compiled(_column_sums, (x,), 2).ir("loops")
    row_loops = _compiled(_row_statistics, (x,), 2)
    assert "scf.parallel" in row_loops.ir("loops")
    assert re.search(r"aidjit_parallel\(\w+, &aidjit_context, \d+, 2\);", row_loops.ir("c"))


def test_the_loop_interpreter_runs_scf_parallel() -> None:
    pipeline = DEFAULT_PIPELINE.replace(
        "parallelize-outer-loops", "parallelize-outer-loops{threads=2 min-work=1}"
    )
    x = np.random.default_rng(3).standard_normal((5, 7)).astype(np.float32)
    compiled = aidjit.compile(_row_statistics, x, pipeline=pipeline, backend="interpreter")
    assert "scf.parallel" in compiled.ir("loops")
    native = aidjit.compile(_row_statistics, x, pipeline=pipeline)
    assert _bits(compiled(x)) == _bits(native(x))


MLIR_OPT = next(
    (path for name in ("mlir-opt", "mlir-opt-19", "mlir-opt-20") if (path := shutil.which(name))),
    None,
)


@pytest.mark.skipif(MLIR_OPT is None, reason="no upstream mlir-opt (apt-get install mlir-19-tools)")
def test_mlir_opt_parses_and_verifies_parallel_loops() -> None:
    x = np.ones((1031, 1537), np.float32)
    loops = _compiled(_row_statistics, (x,), 2).ir("loops")
    assert "scf.parallel" in loops
    assert MLIR_OPT is not None
    result = subprocess.run(
        [MLIR_OPT, "--verify-each"], input=loops, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "scf.parallel" in result.stdout


def test_threads_default_to_the_environment_then_the_usable_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIDJIT_NUM_THREADS", raising=False)
    cores = len(__import__("os").sched_getaffinity(0))
    assert aidjit.api.Options.make().threads == cores
    monkeypatch.setenv("AIDJIT_NUM_THREADS", "3")
    made = aidjit.api.Options.make()
    assert made.threads == 3
    assert "parallelize-outer-loops{threads=3}" in made.pipeline
    assert aidjit.api.Options.make(threads=1).pipeline == DEFAULT_PIPELINE


@pytest.mark.parametrize(
    ("given", "environment", "message"),
    [
        (0, None, "threads must be a positive integer, got 0"),
        (True, None, "got True"),
        (None, "two", r"got 'two' \(from \$AIDJIT_NUM_THREADS\)"),
        (None, "0", r"got 0 \(from \$AIDJIT_NUM_THREADS\)"),
    ],
)
def test_a_bad_thread_count_names_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, given: object, environment: str | None, message: str
) -> None:
    if environment is None:
        monkeypatch.delenv("AIDJIT_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("AIDJIT_NUM_THREADS", environment)
    with pytest.raises(ValueError, match=message):
        aidjit.jit(lambda x: x, threads=given)
