"""The AIDJIT_DEBUG knob."""

import pytest

from aidjit.debug import debug_level, debug_log


@pytest.mark.parametrize(("value", "level"), [(None, 0), ("3", 3), (" 2 ", 2), ("yes", 0), ("", 0)])
def test_debug_level_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, level: int
) -> None:
    if value is None:
        monkeypatch.delenv("AIDJIT_DEBUG", raising=False)
    else:
        monkeypatch.setenv("AIDJIT_DEBUG", value)
    assert debug_level() == level


def test_debug_log_prints_at_or_below_the_level(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIDJIT_DEBUG", "2")
    debug_log(2, "shown")
    debug_log(3, "hidden")
    captured = capsys.readouterr()
    assert captured.err == "[aidjit] shown\n"
    assert captured.out == ""
