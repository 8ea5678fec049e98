"""Tests of the benchmark's modules.

bench/ is a folder of scripts that import each other by bare name (`from timing import NUMPY`),
as `python bench/run.py` runs them; the tests import them the same way, with bench/ appended to
sys.path (appended: nothing of the project's or the standard library's is shadowed).
"""

import sys
from pathlib import Path

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH not in sys.path:
    sys.path.append(BENCH)
