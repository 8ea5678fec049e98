"""bench/contention.py measures every figure, each a positive time per call."""

import contention
import pytest


def test_every_figure_is_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"SAMPLES": 2, "WINDOW_S": 0.002, "PAUSE_S": 0.0, "BLAS_CALLS": 1}.items():
        monkeypatch.setattr(contention, name, value)
    figures = contention.measure("W2a")
    assert set(figures) == set(contention.FIGURES)
    assert all(0 < value < 1e3 for value in figures.values())
