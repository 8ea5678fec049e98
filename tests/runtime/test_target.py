"""runtime/target.py: the detected CPU, and the schedules built for a narrower one.

`AIDJIT_TARGET` narrows the ISA below what the CPU has, so the AVX2 and scalar code paths
(6 x 2 tiles of 8 lanes, libmvec's AVX2 variants; no explicit vectors at all) run and are
checked here on an AVX-512 machine, in a subprocess each: the target is detected once per
process, when the default pipeline is built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aidjit.errors import AidjitError
from aidjit.runtime import target
from aidjit.runtime.target import ISAS, Target, detect_target

HOST = detect_target()


def test_lanes_follow_the_vector_width() -> None:
    avx2 = next(isa for isa in ISAS if isa.name == "avx2")
    assert Target(avx2).lanes(4) == 8 and Target(avx2).lanes(8) == 4
    scalar = next(isa for isa in ISAS if isa.name == "scalar")
    assert Target(scalar).lanes(4) == 1


def test_cache_sizes_are_read_from_sysfs(tmp_path: Path) -> None:
    for index, (level, kind, size) in enumerate(
        [
            (1, "Data", "48K"),
            (1, "Instruction", "32K"),
            (2, "Unified", "2048K"),
            (3, "Unified", "105M"),
        ]
    ):
        entry = tmp_path / f"index{index}"
        entry.mkdir()
        (entry / "level").write_text(f"{level}\n")
        (entry / "type").write_text(f"{kind}\n")
        (entry / "size").write_text(f"{size}\n")
    assert target._cache_sizes(tmp_path) == {1: 48 * 1024, 2: 2048 * 1024, 3: 105 * 1024**2}


def test_a_requested_isa_must_exist_and_not_exceed_the_cpu() -> None:
    flags = frozenset({"sse2", "avx2", "fma"})
    assert target._isa(flags, None).name == "avx2"
    assert target._isa(flags, "scalar").name == "scalar"
    with pytest.raises(AidjitError, match="has no avx512"):
        target._isa(flags, "avx512")
    with pytest.raises(AidjitError, match="not an ISA aidjit knows"):
        target._isa(flags, "neon")


def test_the_fingerprint_names_the_isa_and_caches() -> None:
    fingerprint = HOST.fingerprint()
    assert f"isa={HOST.isa.name}" in fingerprint and f"l1d={HOST.l1d_bytes}" in fingerprint


PROGRAM = textwrap.dedent(
    """
    import json, numpy as np, aidjit
    from aidjit import ops

    def f(x, w, b):
        h = ops.relu(x @ w + b)
        return ops.softmax(ops.tanh(h) * 2.0)

    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((37, 53), (53, 45), (45,)))
    compiled = aidjit.compile(f, x, w, b, tier="optimized", threads=1)
    z = np.tanh(np.maximum(x.astype(np.float64) @ w + b, 0)) * 2.0
    expected = np.exp(z - z.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    print(json.dumps({
        "pipeline": compiled.pipeline,
        "c": compiled.ir("c"),
        "error": float(np.abs(compiled(x, w, b) - expected).max()),
    }))
    """
)


def _run_for(isa: str, tmp_path: Path) -> dict[str, object]:
    env = {**os.environ, "AIDJIT_TARGET": isa, "AIDJIT_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(HOST.isa.name not in ("avx512", "avx2"), reason="needs a CPU with AVX2 and FMA")
def test_an_avx2_target_builds_8_lane_kernels(tmp_path: Path) -> None:
    result = _run_for("avx2", tmp_path)
    assert "vector-bytes=32 registers=16" in str(result["pipeline"])
    source = str(result["c"])
    assert "_mm256_fmadd_ps" in source and "_mm512" not in source
    assert "aidjit_v8f32" in source and "aidjit_v16f32" not in source
    assert float(result["error"]) < 1e-5  # type: ignore[arg-type]


def test_a_scalar_target_builds_no_explicit_vectors(tmp_path: Path) -> None:
    result = _run_for("scalar", tmp_path)
    assert "vector-bytes=0" in str(result["pipeline"])
    assert "aidjit_v" not in str(result["c"])
    assert float(result["error"]) < 1e-5  # type: ignore[arg-type]
