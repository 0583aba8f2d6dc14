"""`pymm bench latency --quick`: the tick-to-trade harness runs and writes its JSON, .hlog and PNG.

This proves the harness works on every CI run; the numbers come from full runs (bench/README.md).
"""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from pymm.cli import app


@pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo (a source checkout)")
def test_quick_latency_run_writes_histograms_and_plot(tmp_path):
    r = CliRunner().invoke(app, ["bench", "latency", "--quick", "--json", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output.strip().splitlines()[-1])
    for feed in ("binance", "itch"):
        pipe, floor = report[feed]["pipeline"], report[feed]["reflector"]
        assert pipe["orders_sent"] > 0, feed
        assert pipe["wire_to_wire_ns"]["count"] > 1_000, feed
        assert floor["wire_to_wire_ns"]["count"] > 1_000, feed
        for stage in ("book", "quote", "risk", "encode", "send", "tick_to_trade", "internal_total"):
            h = pipe["internal_ns"][stage]
            assert 0 < h["p50"] <= h["p99"] <= h["max"], (feed, stage)
        assert report[feed]["ratio_w2w_p50_to_floor"] > 0
    hlog = (tmp_path / "tick_to_trade.hlog").read_text()
    assert "Tag=itch_pipeline_tick_to_trade" in hlog and "Tag=binance_reflector_internal_total" in hlog
    assert (tmp_path / "tick_to_trade.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
