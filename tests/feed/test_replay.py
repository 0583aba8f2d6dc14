"""`pymm._native.replay` and `L2Book` on the recorded Binance captures."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from pymm import _native
from pymm.errors import PymmError

HFT = "binance_hftbacktest_btc_2024-08-08"


def test_usdm_replay_matches_book_ticker_oracle(data_dir):
    seen: list[tuple[int, int]] = []
    s = _native.replay(data_dir / HFT / "usdm_btcusdt_20240808.gz", progress=lambda d, t: seen.append((d, t)))
    assert s["format"] == "binance"
    assert s["messages_by_type"]["depthUpdate"] == 6551
    assert s["sequence_errors"] == s["crossed_events"] == s["integrity_errors"] == 0
    assert s["checked_by_kind"]["bookTicker_after_diff"] == 126
    assert s["mismatched_states"] == 0
    btc = s["instruments"]["BTCUSDT"]
    assert btc["synced"] and btc["price_increment"] == "0.1" and btc["qty_increment"] == "0.001"
    assert seen and seen[-1][0] == seen[-1][1]


def test_cryptofeed_pair_is_merged(data_dir):
    s = _native.replay(
        data_dir / "binance_cryptofeed_2021" / "spot_2021-10-12_nknusdt_blzeth_lrcbtc_runeeur.ws.txt.gz"
    )
    assert len(s["inputs"]) == 2
    assert set(s["instruments"]) == {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"}
    assert all(i["synced"] for i in s["instruments"].values())
    assert s["sequence_errors"] == s["crossed_events"] == 0


def test_lobster_without_its_book_and_missing_file():
    with pytest.raises(PymmError, match="expect-book"):
        _native.replay("x", format="lobster")
    with pytest.raises(OSError):
        _native.replay("/nonexistent/file.gz")


def test_l2book_fed_line_by_line(data_dir):
    book = _native.L2Book("0.1", "0.001", rule="futures")
    assert book.stale
    events = []
    with gzip.open(data_dir / HFT / "usdm_btcusdt_20240808.gz", "rb") as f:
        for n, line in enumerate(f):
            events.append(book.feed(line.split(b" ", 1)[1]))
            if n > 2000:
                break
    assert "snapshot_loaded" in events and "applied" in events
    assert "sequence_break" not in events
    assert not book.stale
    bids, asks = book.top(5)
    assert len(bids) == len(asks) == 5
    assert float(bids[0][0]) < float(asks[0][0])
    arr = book.to_numpy(5)
    assert arr.shape == (5,)
    assert arr.dtype.names == ("bid_price", "bid_qty", "ask_price", "ask_qty")
    assert arr["bid_price"][0] == round(float(bids[0][0]) * 10)
    assert np.all(np.diff(arr["bid_price"]) < 0)
    assert book.counters()["sequence_breaks"] == 0


def test_l2book_refuses_garbage():
    book = _native.L2Book("0.01", "0.001")
    with pytest.raises(ValueError, match="malformed"):
        book.feed(b"{not json")
    with pytest.raises(ValueError):
        _native.L2Book("0.01", "0.001", rule="options")


def test_split_session_replays_as_one(data_dir):
    d = data_dir / HFT
    alone = _native.replay(d / "spot_btcusdt_20240809.gz")
    assert not alone["instruments"]["BTCUSDT"]["synced"]
    assert alone["instruments"]["BTCUSDT"]["pending_updates"] > 0
    both = _native.replay([d / "spot_btcusdt_20240808.gz", d / "spot_btcusdt_20240809.gz"])
    assert both["instruments"]["BTCUSDT"]["synced"]
    assert both["applied_updates"] == 6493  # data README §1: the reference replay's spot diff count
    assert both["sequence_errors"] == both["crossed_events"] == 0


def test_progress_exception_stops_the_replay(data_dir):
    def stop(done: int, total: int) -> None:
        raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        _native.replay(data_dir / HFT / "usdm_btcusdt_20240808.gz", progress=stop)
