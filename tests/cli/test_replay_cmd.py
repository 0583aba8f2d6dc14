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


def test_lobster_needs_its_book_file_exit_2(tmp_path):
    msg = tmp_path / "m.csv"
    msg.write_text("34200.1,1,1,10,1000,1\n")
    r = runner.invoke(app, ["replay", str(msg), "--format", "lobster"])
    assert r.exit_code == 2
    assert "--expect-book" in r.output


def test_replay_lobster_and_dbn(data_dir):
    stem = data_dir / "lobster_2012-06-21_amzn_aapl" / "AMZN_2012-06-21_34200000_57600000"
    msg, book = f"{stem}_message_1.csv.gz", f"{stem}_orderbook_1.csv.gz"
    r = runner.invoke(app, ["replay", msg, "--format", "lobster", "--expect-book", book, "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["checked_states"] == 57_515
    assert s["mismatched_states"] == 0
    dbn = data_dir / "databento_glbx_mbo_esh4_2023-12-25" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
    r = runner.invoke(app, ["replay", str(dbn), "--format", "dbn", "--json"])
    assert r.exit_code == 0, r.output
    inst = json.loads(r.stdout)["instruments"]["17077"]
    assert (inst["bid_price"], inst["ask_price"]) == ("4810.00", "4810.25")


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
