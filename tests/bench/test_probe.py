"""bench/probe.py: a measuring process that fails or hangs is an error the run can record."""

from pathlib import Path

import pytest

import probe


def test_a_hung_probe_is_killed_and_reported_as_a_runtime_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "hangs.py"
    script.write_text(
        "import sys, time\nprint('started', file=sys.stderr, flush=True)\ntime.sleep(60)\n"
    )
    monkeypatch.setattr(probe, "PROBE_TIMEOUT_S", 1)
    with pytest.raises(RuntimeError, match=r"(?s)hangs.py x did not finish in 1 s .*\nstarted"):
        probe.run_probe(script, ["x"])


def test_a_probe_reads_the_last_json_line_and_reports_a_crash(tmp_path: Path) -> None:
    script = tmp_path / "reports.py"
    script.write_text("print('noise')\nprint('{\"ms\": 1.5}')\n")
    assert probe.run_probe(script, []) == {"ms": 1.5}
    crash = tmp_path / "crashes.py"
    crash.write_text("raise SystemExit('broken input')\n")
    with pytest.raises(RuntimeError, match="crashes.py  failed:\nbroken input"):
        probe.run_probe(crash, [])
