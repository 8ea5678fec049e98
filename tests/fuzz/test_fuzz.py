"""Differential fuzzing: random programs over every op, eager vs every compiled level.

Each failure prints the seed, every disagreement and the program as Python source (see
harness.reproduction); `python -m tests.fuzz.harness SEED` reruns one outside pytest.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import aidjit
from aidjit.autodiff.primitives import all_primitives
from tests.fuzz import harness
from tests.fuzz.graphs import OP_TABLE, Program, generate

QUICK_SEEDS = range(64)
"""The quick profile: about a minute on two cores with `pytest -n 2`."""

COMPOSITES = ("softmax", "log_softmax", "layer_norm", "cross_entropy")


def _check(seed: int) -> None:
    program = generate(seed)
    mismatches = harness.check_program(program)
    if mismatches:
        pytest.fail(harness.reproduction(program, mismatches), pytrace=False)


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_quick_profile(seed: int) -> None:
    _check(seed)


@pytest.mark.fuzz
def test_long_run(fuzz_seed: int) -> None:
    _check(fuzz_seed)


def test_op_table_covers_every_primitive_and_composite() -> None:
    missing = set(all_primitives()) - set(OP_TABLE)
    assert not missing, f"add a row to tests/fuzz/graphs.py OP_TABLE for {sorted(missing)}"
    assert set(COMPOSITES) <= set(OP_TABLE)


def test_quick_profile_uses_every_op() -> None:
    used = {op for seed in QUICK_SEEDS for op in generate(seed).ops_used}
    assert used == set(OP_TABLE), f"never generated: {sorted(set(OP_TABLE) - used)}"


def test_programs_are_reproducible() -> None:
    assert generate(7).source == generate(7).source
    assert generate(7).source != generate(8).source


def test_harness_reports_a_wrong_compiled_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oracle can fail: a compiled function off by 1e-3 is caught, with a reproduction."""
    real_compile = aidjit.compile

    def off_by_a_little(fn: Callable[..., Any], *args: Any, **options: Any) -> Callable[..., Any]:
        compiled = real_compile(fn, *args, **options)
        return lambda *a: [np.asarray(leaf) + 1e-3 for leaf in harness._flatten(compiled(*a))]

    monkeypatch.setattr(aidjit, "compile", off_by_a_little)
    program = generate(1)
    mismatches = harness.check_program(program, levels=("optimized",))
    assert mismatches and all(m.check == "forward" and m.level == "optimized" for m in mismatches)
    report = harness.reproduction(program, mismatches)
    assert "python -m tests.fuzz.harness 1" in report and "def f(" in report


HAND_WRITTEN = """
import numpy as np
from aidjit import ops

DTYPE = np.float64


def f(x0):
    return (ops.tanh(x0) * x0,)


def inputs():
    return [np.linspace(-1.0, 1.0, 5).astype(DTYPE)]


def loss(x0):
    return ops.sum(f(x0)[0])
"""


def test_finite_differences_catch_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    program = Program(0, "float64", HAND_WRITTEN, True, True, (0,), ("tanh", "multiply"))
    assert harness.check_program(program, levels=()) == []
    real_value_and_grad = aidjit.value_and_grad

    def doubled(fn: Callable[..., Any], argnums: tuple[int, ...]) -> Callable[..., Any]:
        def wrapped(*args: Any) -> tuple[Any, tuple[np.ndarray, ...]]:
            value, grads = real_value_and_grad(fn, argnums)(*args)
            return value, tuple(np.asarray(g) * 2 for g in grads)

        return wrapped

    monkeypatch.setattr(aidjit, "value_and_grad", doubled)
    (mismatch,) = harness.check_program(program, levels=())
    assert mismatch.check == "finite differences"
