"""bench/compare_kernels.py: two builds of a kernel loaded from their folders, timed in turn."""

from pathlib import Path

import compare_kernels
import pytest


def test_two_builds_are_compared_and_a_missing_one_is_named(tmp_path: Path) -> None:
    for name in ("before", "after"):
        compare_kernels.build("W2a", 1, tmp_path / name)
    figures = compare_kernels.compare("W2a", 1, tmp_path / "before", tmp_path / "after", 3, 2)
    assert set(figures) == {"before_ms", "after_ms", "ratio", "ratio_min", "ratio_max"}
    assert all(value > 0 for value in figures.values())
    assert figures["ratio_min"] <= figures["ratio"] <= figures["ratio_max"]
    with pytest.raises(SystemExit, match="W2a-2T: expected one kernel record, found 0"):
        compare_kernels.compare("W2a", 2, tmp_path / "before", tmp_path / "after", 1, 1)
