"""Run one of the benchmark's scripts in a new process and read the JSON line it prints last.

Compile time and memory are measured in fresh processes (bench/compile_time.py, bench/memory.py)
so that nothing this process has cached, allocated or faulted in colours the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROBE_TIMEOUT_S = 600


def run_probe(script: Path, args: list[str], env: Mapping[str, str] | None = None) -> Any:
    """The last stdout line of `python script *args`, parsed as JSON; a RuntimeError if the
    process fails or outlives `PROBE_TIMEOUT_S` (which run.py records as a failure of that
    figure and goes on: one hung process must not lose a 40-minute run)."""
    try:
        result = subprocess.run(
            [sys.executable, str(script), *args],
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        # TimeoutExpired holds bytes whatever `text` says
        stderr = (expired.stderr or b"").decode(errors="replace")
        raise RuntimeError(
            f"probe {script.name} {' '.join(args)} did not finish in {PROBE_TIMEOUT_S} s "
            f"(killed); its stderr so far:\n{stderr}"
        ) from expired
    if result.returncode != 0:
        raise RuntimeError(f"probe {script.name} {' '.join(args)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])
