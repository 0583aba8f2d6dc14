"""`pymm replay` through the CLI runner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pymm.cli import app

runner = CliRunner()


def test_replay_json_is_one_object(data_dir):
    path = data_dir / "binance_hftbacktest_btc_2024-08-08" / "usdm_btcusdt_20240808.gz"
    r = runner.invoke(app, ["replay", str(path), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["checked_by_kind"]["bookTicker_after_diff"] == 126
    assert s["mismatched_states"] == 0
    assert s["instruments"]["BTCUSDT"]["bid_price"]


def test_replay_human_summary(data_dir):
    path = (
        data_dir / "binance_cryptofeed_2021" / "usdm_2021-07-22_sushiusdt_akrousdt_keepusdt_ctkusdt.ws.txt.gz"
    )
    r = runner.invoke(app, ["replay", str(path)])
    assert r.exit_code == 0, r.output
    assert "sequence errors" in r.output
    assert "SUSHIUSDT" in r.output


def test_unbuilt_formats_exit_2():
    for fmt in ("dbn", "lobster", "itch"):
        r = runner.invoke(app, ["replay", "x", "--format", fmt])
        assert r.exit_code == 2
        assert f"format {fmt} is not built yet" in r.output


def test_missing_file_is_one_line(tmp_path):
    r = runner.invoke(app, ["replay", str(tmp_path / "absent.gz")])
    assert r.exit_code == 2
    assert "cannot read" in r.output


def test_replay_several_files_as_one_session(data_dir):
    d = data_dir / "binance_hftbacktest_btc_2024-08-08"
    files = [str(d / "coinm_btcusd_perp_20240808.gz"), str(d / "coinm_btcusd_perp_20240809.gz")]
    r = runner.invoke(app, ["replay", *files, "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["applied_updates"] == 44772  # data README §1: the reference replay's COIN-M diff count
    assert s["instruments"]["BTCUSD_PERP"]["synced"]
