"""`aidjit.jit(fn, warmup=N)` runs N calls eagerly before compiling; `aidjit.cache_info()` and
`aidjit.cache_clear()` count and forget compiled functions (memory and disk hits, compiles)."""

import logging
from pathlib import Path

import numpy as np
import pytest

import aidjit
from aidjit import ops

F32 = np.float32


def scaled(x, params, scale, mode="relu"):
    """A pytree argument, a weak scalar, a static argument, a value-dependent where."""
    y = ops.where(x > 0.5, x * scale, -x) @ params["w"]
    y = ops.relu(y) if mode == "relu" else ops.tanh(y)
    return {"y": y, "total": ops.sum(y)}


def test_warmup_runs_eagerly_then_compiles(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aidjit")
    jitted = aidjit.jit(scaled, warmup=2, static_argnames="mode")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4)).astype(F32)
    params = {"w": rng.standard_normal((4, 2)).astype(F32)}
    eager = [jitted(x, params, 2.0, mode="tanh") for _ in range(2)]
    assert jitted.stats == aidjit.api.JitStats(2, 2, 0, 0)
    assert jitted.versions() == []  # nothing compiled
    compiled = [jitted(x, params, 2.0, mode="tanh") for _ in range(2)]
    assert jitted.stats == aidjit.api.JitStats(2, 2, 2, 1)
    assert jitted.versions()[0].reason == "first call after 2 eager warm-up calls"
    for result in [*eager, *compiled]:
        assert type(result["y"]) is np.ndarray and result["y"].dtype == F32  # 2.0 stays weak
        assert result["total"].shape == ()
        np.testing.assert_allclose(result["y"], compiled[0]["y"], rtol=1e-6)
        np.testing.assert_allclose(result["total"], compiled[0]["total"], rtol=1e-6)
    reference = np.tanh(np.where(x > 0.5, x * 2.0, -x) @ params["w"])
    np.testing.assert_allclose(eager[0]["y"], reference, rtol=1e-6)
    assert eager[0]["y"] is not eager[1]["y"]

    class Model:
        def __init__(self, w: np.ndarray) -> None:
            self.w = w

        @aidjit.jit(warmup=1)
        def __call__(self, x):
            return x @ self.w

    model = Model(params["w"])
    watched = aidjit.Tensor(x)
    with aidjit.GradientTape() as tape:
        tape.watch(watched)
        inlined = model(watched)  # run as Python, so that the tape sees its ops
        total = ops.sum(inlined)
    results = [model(x), model(x), inlined.numpy()]
    assert Model.__call__.stats == aidjit.api.JitStats(1, 1, 1, 1)  # the inlined call: neither
    for result in results:
        np.testing.assert_allclose(result, x @ params["w"], rtol=1e-6)
    np.testing.assert_allclose(
        tape.gradient(total, watched),
        np.tile(params["w"].sum(axis=1), (3, 1)),
        rtol=1e-6,
    )


@pytest.mark.parametrize("warmup", [-1, 1.5, True, "3", None])
def test_warmup_must_be_a_non_negative_integer(warmup: object) -> None:
    with pytest.raises(ValueError, match=f"warmup must be a non-negative integer.*{warmup!r}"):
        aidjit.jit(scaled, warmup=warmup)


def test_compile_takes_no_warmup_and_plain_jit_counts_no_calls() -> None:
    with pytest.raises(ValueError, match="warmup= is an option of aidjit.jit"):
        aidjit.compile(lambda x: x, np.ones(2, F32), warmup=1)
    assert aidjit.jit(scaled).stats == aidjit.api.JitStats(0, 0, None, 0)


def test_cache_info_counts_compiles_memory_and_disk_hits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIDJIT_CACHE_DIR", str(tmp_path))  # cold: this test's kernel is new
    aidjit.cache_clear()
    assert aidjit.cache_info() == aidjit.CacheInfo(0, 0, 0, 0.0, 0, 0, 0, 0, 0, 0)

    def affine(x, w):
        return ops.tanh(x @ w + 0.25)

    x, w = np.ones((2, 3), F32), np.full((3, 2), 0.5, F32)
    jitted = aidjit.jit(affine)
    expected = jitted(x, w)
    jitted(x, w)  # the same version: calls are not counted
    info = aidjit.cache_info()
    assert (info.misses, info.compiles, info.hits) == (1, 1, 0)
    assert info.compile_ms > 0

    held = aidjit.compile(affine, x, w)  # the same trace: found in this process
    info = aidjit.cache_info()
    assert (info.hits, info.memory_hits, info.disk_hits, info.compiles) == (1, 1, 0, 1)
    assert held.stats.cache == "memory"

    aidjit.cache_clear()
    assert aidjit.cache_info().hits == 0 and jitted.versions() == []
    np.testing.assert_array_equal(held(x, w), expected)  # a held function keeps working
    np.testing.assert_array_equal(jitted(x, w), expected)  # compiled again: from disk
    info = aidjit.cache_info()
    assert (info.hits, info.memory_hits, info.disk_hits, info.misses) == (1, 0, 1, 0)
    assert len(list(tmp_path.rglob("*.kernel.json"))) == 1  # the disk cache was not touched
