"""Every op compiled: C, and the interpreter at every level of the pipeline, against eager.

Core ops run one per case, other families one bundle per family (tests/op_cases.py). The
interpreter runs the graph, the structured level before and after fusion (tensors), after
bufferization (memrefs and the workspace) and the loops: forward and gradient, f32 and f64.
"""

import numpy as np
import pytest

from aidjit import Tensor, compile, value_and_grad
from aidjit.pipeline import pipeline_to_stage
from tests.op_cases import COMPILED, COMPILED_DIFFERENTIABLE, COMPILED_IDS, Case, results, total

INTERPRETED_LEVELS = ["optimized", "linalg", "fused", "bufferized", "loops"]
BUNDLE_LEVELS = ["optimized", "linalg", "bufferized"]
"""A family bundle is interpreted at fewer levels: its ops are the core ops' passes at work, the
C backend runs it through every pass, and the loop interpreter's support for what it emits is
checked by tests/runtime/test_supported_ops.py; interpreting a whole family at the loop level
cost the suite minutes."""


def _levels(case: Case, backends: list[str]) -> list[str]:
    return (
        backends
        if case.family == "core"
        else [b for b in backends if b in BUNDLE_LEVELS or b == "c"]
    )


def _with_levels(cases: list[Case], backends: list[str]) -> list[object]:
    return [
        pytest.param(case, level, id=f"{case.id}-{level}")
        for case in cases
        for level in _levels(case, backends)
    ]


BACKENDS = ["c", *INTERPRETED_LEVELS]


def interpreted_at(level: str) -> dict[str, str]:
    """Compile options running the default pipeline up to `level`, then the interpreter."""
    return {"backend": "interpreter", "pipeline": pipeline_to_stage(level)}


TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def eager(case: Case, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [r.numpy() for r in results(case.fn(*[Tensor(a) for a in inputs]))]


def assert_matches_eager(
    case: Case, compiled: object, expected: list[np.ndarray], dtype: type
) -> None:
    computed = results(compiled)
    assert len(computed) == len(expected)
    for index, (result, want) in enumerate(zip(computed, expected, strict=True)):
        where = case.rows[index].id if case.rows else case.id
        assert result.dtype == want.dtype and result.shape == want.shape, where
        np.testing.assert_allclose(result, want, err_msg=where, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", COMPILED, ids=COMPILED_IDS)
def test_compiled_c_matches_eager(case: Case, dtype: type) -> None:
    inputs = case.inputs(dtype)
    compiled = compile(case.fn, *inputs)
    assert_matches_eager(case, compiled(*inputs), eager(case, inputs), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("case", "level"), _with_levels(COMPILED, INTERPRETED_LEVELS))
def test_interpreter_matches_eager(case: Case, level: str, dtype: type) -> None:
    inputs = case.inputs(dtype)
    compiled = compile(case.fn, *inputs, **interpreted_at(level))
    assert_matches_eager(case, compiled(*inputs), eager(case, inputs), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("case", "backend"), _with_levels(COMPILED_DIFFERENTIABLE, BACKENDS))
def test_compiled_gradient_matches_eager(case: Case, backend: str, dtype: type) -> None:
    inputs = case.inputs(dtype)
    float_positions = tuple(i for i in range(len(inputs)) if i not in case.int_inputs)

    def loss(*args: Tensor) -> Tensor:
        return total(case.fn(*args))

    step = value_and_grad(loss, argnums=float_positions)
    options = {} if backend == "c" else interpreted_at(backend)
    value, grads = compile(step, *inputs, **options)(*inputs)
    expected_value, expected_grads = step(*inputs)
    np.testing.assert_allclose(value, expected_value, **TOLERANCE[dtype])
    for grad, expected in zip(grads, expected_grads, strict=True):
        assert grad.dtype == dtype
        np.testing.assert_allclose(grad, expected, **TOLERANCE[dtype])
