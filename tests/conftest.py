"""Session set-up: compiled kernels go to one cache directory shared by every test worker.

The test command (README, .ci/run) makes a fresh directory for the run and exports it as
AIDJIT_CACHE_DIR; run by hand without it, tests use `.pytest_cache/aidjit-kernels` in the
repository rather than the user's ~/.cache. Content-addressed entries make sharing safe.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault(
    "AIDJIT_CACHE_DIR",
    str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "aidjit-kernels"),
)


# Verify the IR after every pass, not only at the end of each stage (aidjit.pipeline).
os.environ.setdefault("AIDJIT_VERIFY_EACH_PASS", "1")

# Build before returning (aidjit.api.Options.tier): a compile error is raised by the compile that
# caused it, where the tests expect it. tests/api/test_startup.py asks for tier="auto" itself.
os.environ.setdefault("AIDJIT_TIER", "optimized")

# One thread per compiled kernel: the suite runs one pytest worker per core already, and OpenMP
# workers spinning next to them would oversubscribe the cores. tests/runtime/test_threads.py
# passes `threads=` itself and checks the results are bitwise the same at 1, 2 and 3.
os.environ.setdefault("AIDJIT_NUM_THREADS", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options of the long differential-fuzzing run (tests/fuzz), read by tests/fuzz/conftest.py."""
    group = parser.getgroup("aidjit fuzz")
    group.addoption(
        "--fuzz-count",
        type=int,
        default=200,
        help="number of random programs in the long fuzz run (selected with -m fuzz)",
    )
    group.addoption(
        "--fuzz-start",
        type=int,
        default=100_000,
        help="first seed of the long fuzz run; the quick profile uses seeds from 0",
    )


OPT_IN_MARKERS = {
    "fuzz": "the long differential-fuzzing run; only with -m fuzz [--fuzz-count N]",
    "exhaustive": "sweeps and levels too slow for every run (the default run checks a sample, "
    "or the same code another way); only with -m exhaustive",
}
"""Markers of tests that run only when `-m` selects them, as a `slow` marker in most projects."""


def pytest_configure(config: pytest.Config) -> None:
    for name, description in OPT_IN_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("markexpr"):
        return  # an explicit -m decides: `-m fuzz` keeps the long run, `-m "not fuzz"` drops it
    kept, opt_in = [], []
    for item in items:
        (opt_in if any(map(item.get_closest_marker, OPT_IN_MARKERS)) else kept).append(item)
    if opt_in:
        config.hook.pytest_deselected(items=opt_in)
        items[:] = kept
