"""Recompilation is visible: each compile is logged with its reason, too many versions warn,
`versions()` lists them, and a large captured array warns that it is baked in."""

import logging

import numpy as np
import pytest

import aidjit
from aidjit import ops


def compile_messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aidjit" and r.levelno == level]


def test_each_compile_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aidjit")

    @aidjit.jit(static_argnames="k")
    def scale(x, k=1):
        return x * float(k)

    scale(np.ones(2, np.float32))
    scale(np.ones(2, np.float32))  # cached: no log
    scale(np.ones(3, np.float32))
    scale(np.ones(3))
    scale(np.ones(3), k=2)
    messages = compile_messages(caplog, logging.INFO)
    assert len(messages) == 4
    assert messages[0].startswith("compiling scale version 1: first call [x: tensor<2xf32>, k=1")
    assert "argument 'x' changed: tensor<2xf32> -> tensor<3xf32>" in messages[1]
    assert "argument 'x' changed: tensor<3xf32> -> tensor<3xf64>" in messages[2]
    assert "static argument 'k' changed: 1 -> 2" in messages[3]
    versions = scale.versions()
    assert [v.reason for v in versions][0] == "first call"
    assert versions[3].signature == "x: tensor<3xf64>, k=2 (static)"
    assert isinstance(versions[3].compiled, aidjit.CompiledFunction)


def test_warning_after_max_versions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aidjit")
    jitted = aidjit.jit(lambda x: x + 1.0, max_versions=2, backend="interpreter")
    for size in (1, 2):
        jitted(np.ones(size))
    assert not compile_messages(caplog, logging.WARNING)
    jitted(np.ones(3))
    (warning,) = compile_messages(caplog, logging.WARNING)
    assert "compiled 3 times (max_versions=2)" in warning
    assert "argument 'x' changed: tensor<2xf64> -> tensor<3xf64>" in warning
    assert len(jitted.versions()) == 3


def test_default_max_versions_is_eight() -> None:
    assert aidjit.jit(lambda x: x).options.max_versions == 8


def test_large_captured_array_warns(caplog: pytest.LogCaptureFixture) -> None:
    big = np.ones((512, 257), np.float64)  # just above 1 MiB
    small = np.ones((512, 256), np.float64)  # exactly 1 MiB: fine
    aidjit.compile(lambda x: ops.sum(x @ small), np.ones((1, 512)), backend="interpreter")
    assert not compile_messages(caplog, logging.WARNING)
    aidjit.compile(lambda x: ops.sum(x @ big), np.ones((1, 512)), backend="interpreter")
    (warning,) = compile_messages(caplog, logging.WARNING)
    assert "tensor<512x257xf64> (1.0 MiB) is baked into the compiled code" in warning
    assert "pass it as an argument" in warning
