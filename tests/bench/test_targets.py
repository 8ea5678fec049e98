"""bench/targets.py: issue 7's targets judged on hand-made benchmark reports."""

from typing import Any

import pytest

from targets import NOT_MEASURED, TARGETS, Target, evaluate, paired_ratio, speedup
from timing import COMPILED, JIT, NUMPY, SGEMM


def test_paired_ratio_is_the_median_of_per_process_ratios() -> None:
    # Per process: 2, 4, (not measured), 3 -> median 3; a ratio of medians would give 4 / 2 = 2.
    assert paired_ratio([2.0, 4.0, None, 9.0], [1.0, 1.0, 3.0, 3.0]) == 3.0
    assert paired_ratio([None, 1.0], [1.0, None]) is None
    assert paired_ratio([], []) is None


def _columns(**per_process: list[float | None]) -> dict[str, Any]:
    names = {"numpy": NUMPY, "compiled": COMPILED, "jit": JIT, "sgemm": SGEMM, "jax": "jax.jit"}
    return {names[k]: {"per_process_ms": v} for k, v in per_process.items()}


def _report(**workloads: dict[str, Any]) -> dict[str, Any]:
    return {"workloads": workloads}


def _by_name(report: dict[str, Any]) -> dict[str, tuple[float | None, str]]:
    return {v.name: (v.measured, v.verdict) for v in evaluate(report)}


def test_speed_targets_are_judged_per_setting_and_baseline() -> None:
    report = _report(
        W2b={
            "settings": {
                "all": {
                    "columns": _columns(numpy=[1.0, 1.2], compiled=[0.5, 0.6], jax=[0.4, 0.48])
                },
                "1T": {
                    "columns": _columns(numpy=[2.0, 2.0], compiled=[2.0, 2.0], sgemm=[1.5, 1.5])
                },
            }
        }
    )
    verdicts = _by_name(report)
    assert verdicts["W2b all threads: aidjit compiled faster than numpy eager"] == (2.0, "PASS")
    measured, verdict = verdicts["W2b all threads: aidjit compiled faster than jax.jit"]
    assert measured == pytest.approx(0.8) and verdict == "FAIL"
    # "faster than" is strict: equal times fail.
    assert verdicts["W2b 1 thread: aidjit compiled faster than numpy eager"] == (1.0, "FAIL")
    # torch.compile not installed: not measured, never PASS.
    assert verdicts["W2b 1 thread: aidjit compiled faster than torch.compile"] == (
        None,
        NOT_MEASURED,
    )
    # GFLOP/s share = sgemm time / aidjit time; 75% is enough.
    share = verdicts["W2b 1 thread: aidjit GFLOP/s / numpy sgemm GFLOP/s, same matmuls"]
    assert share == (0.75, "PASS")


def test_targets_of_workloads_not_run_are_left_out() -> None:
    report = _report(W2b={"settings": {}})
    names = [v.name for v in evaluate(report)]
    assert not any(name.startswith(("W1 ", "W3 ", "W2a ")) for name in names)
    assert any(name.startswith("W2b ") for name in names)
    # Run-wide targets stay, not measured when their figures are absent.
    assert _by_name(report)["import aidjit"] == (None, NOT_MEASURED)
    assert _by_name(report)["dispatch above the kernel, 3 arrays"] == (None, NOT_MEASURED)


def test_jit_dispatch_and_startup_targets() -> None:
    report = _report(
        W2a={
            "settings": {"all": {"columns": _columns(numpy=[0.03], jit=[0.014])}},
            "startup": {"import_ms": 140.0, "warm_start_ms": 25.0, "cold_first_call_ms": 0.2e3},
        },
        W3={"settings": {}, "startup": "not available (No module named 'startup')"},
    )
    report["dispatch"] = {"dispatch_us": 2.5}
    verdicts = _by_name(report)
    measured, verdict = verdicts["W2a all threads: aidjit.jit faster than numpy eager"]
    assert measured == pytest.approx(0.03 / 0.014) and verdict == "PASS"
    assert verdicts["dispatch above the kernel, 3 arrays"] == (2.5, "FAIL")
    assert verdicts["W2a warm start"] == (25.0, "FAIL")
    assert verdicts["W3 warm start"] == (None, NOT_MEASURED)
    assert verdicts["W2a cold first call"] == (200.0, "PASS")
    assert verdicts["import aidjit"] == (140.0, "PASS")


def test_speedup_reads_any_pair_of_columns() -> None:
    report = _report(W4={"settings": {"1T": {"columns": _columns(numpy=[3.0], jax=[1.0])}}})
    assert speedup(report, "W4", "1T", NUMPY, "jax.jit") == 3.0
    assert speedup(report, "W4", "all", NUMPY) is None
    assert speedup(report, "W6", "1T", NUMPY) is None


def test_every_target_of_issues_7_and_8_is_listed_once() -> None:
    names = [t.name for t in TARGETS]
    assert len(names) == len(set(names))
    speed = [t for t in TARGETS if "faster than" in t.name and "aidjit compiled" in t.name]
    w5 = [t for t in speed if t.workloads[0] in ("W5i", "W5t")]
    assert len(speed) - len(w5) == 5 * 2 * 3  # W1, W2b, W3, W4, W6 x 1T, all threads x 3
    # W5i, W5t x (numpy, torch eager, torch.compile at all threads; torch eager not at 1T)
    assert len(w5) == 2 * (3 + 2)
    assert all(isinstance(t, Target) and t.compare in (">", ">=", "<=") for t in TARGETS)


def test_w5_targets_judge_torch_eager_only_where_it_is_measured() -> None:
    columns = {NUMPY: [4.0], COMPILED: [1.0], "torch eager": [8.0], "torch.compile": [0.5]}
    report = _report(
        W5t={
            "settings": {"all": {"columns": {k: {"per_process_ms": v} for k, v in columns.items()}}}
        }
    )
    verdicts = _by_name(report)
    assert verdicts["W5t all threads: aidjit compiled faster than torch eager"] == (8.0, "PASS")
    assert verdicts["W5t all threads: aidjit compiled faster than torch.compile"] == (0.5, "FAIL")
    assert verdicts["W5t 1 thread: aidjit compiled faster than numpy eager"] == (None, NOT_MEASURED)
    assert "W5t 1 thread: aidjit compiled faster than torch eager" not in verdicts
    assert not any(name.startswith("W5i ") for name in verdicts)
