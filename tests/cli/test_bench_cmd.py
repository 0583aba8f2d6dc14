"""`pymm bench book` through the CLI runner."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from pymm.cli import app

runner = CliRunner()


def test_bench_group_lists_book():
    r = runner.invoke(app, ["bench", "--help"])
    assert r.exit_code == 0
    assert "book" in r.output


@pytest.mark.slow
def test_bench_book_quick_json(data_dir):
    # A subprocess: the cargo child writes to the real stdout, which CliRunner does not capture.
    r = subprocess.run(
        [sys.executable, "-c", "from pymm.cli import main; main()", "bench", "book", "--quick", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["bench"] == "book"
    assert {s["stream"] for s in report["streams"]} == {"usdm_btcusdt_20240808", "spot_btcusdt_20240808"}
