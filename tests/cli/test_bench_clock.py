"""`pymm bench clock` through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pymm.cli import app

runner = CliRunner()


def test_bench_group_lists_clock():
    r = runner.invoke(app, ["bench", "clock", "--help"])
    assert r.exit_code == 0
    assert "--quick" in r.output
    assert "--seconds" in r.output


@pytest.mark.slow
def test_bench_clock_quick_json(tmp_path: Path):
    # A subprocess: the cargo child writes to the real stdout, which CliRunner does not capture.
    cli = [sys.executable, "-c", "from pymm.cli import main; main()"]
    r = subprocess.run(
        [*cli, "bench", "clock", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["bench"] == "clock"
    calls = report["read_cost"]["calls"]
    assert calls["clock_gettime_monotonic"]["ratio_to_clock_gettime_monotonic"] == 1.0
    assert {"clock_now_realtime", "rdtsc", "latency_recorder_record"} <= set(calls)
    series = report["calibration_error"]["series"]
    assert series["recal_vs_monotonic"]["samples"] > 0
    assert (tmp_path / "clock.json").is_file()
    assert "Tag=recal_vs_monotonic," in (tmp_path / "clock.hlog").read_text()
