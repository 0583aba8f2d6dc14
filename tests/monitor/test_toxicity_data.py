"""VPIN on real Binance USD-M BTCUSDT trades (../shared/data): streaming == batch, BVC vs aggressor side."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from pymm.monitor.toxicity import (
    VpinEstimator,
    VpinMonitor,
    bars_from_trades,
    vpin_from_bars,
    vpin_from_classified_bars,
)

pytestmark = pytest.mark.data

S = 1_000_000_000


def load_trades(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(recv ts ns, price, qty, buyer_is_maker) of every @trade message."""
    path = data_dir / "binance_hftbacktest_btc_2024-08-08" / "usdm_btcusdt_20240808.gz"
    ts, px, qty, maker = [], [], [], []
    with gzip.open(path, "rt") as f:
        for line in f:
            if '@trade"' not in line:
                continue
            recv, payload = line.split(" ", 1)
            d = json.loads(payload)["data"]
            ts.append(int(recv))
            px.append(float(d["p"]))
            qty.append(float(d["q"]))
            maker.append(bool(d["m"]))
    return np.array(ts), np.array(px), np.array(qty), np.array(maker)


def test_vpin_on_recorded_trades(data_dir: Path) -> None:
    ts, px, qty, buyer_is_maker = load_trades(data_dir)
    assert ts.size == 21_313  # the data README's count
    assert np.all(np.diff(ts) >= 0)
    v = round(float(qty.sum()) / 250, 3)  # about 250 buckets over the ~343 s sample

    # BVC over 1 s bars: the live monitor, trade by trade, equals the batch computation
    _, closes, volumes = bars_from_trades(ts, px, qty, S)
    batch = vpin_from_bars(closes, volumes, v)
    mon = VpinMonitor(v, bar_ns=S)
    ups = [
        u
        for t, p, q in zip(ts.tolist(), px.tolist(), qty.tolist(), strict=True)
        for u in mon.on_trade(t, p, q)
    ]
    ups += mon.on_timer(int(ts[-1]) + S)
    assert len(ups) == batch.vpin.size > 150
    np.testing.assert_allclose([u.vpin for u in ups], batch.vpin, rtol=1e-9)
    np.testing.assert_allclose([u.cdf for u in ups], batch.cdf)

    # the venue's aggressor flag (m = buyer is maker -> a sell) instead of BVC
    buy = np.where(buyer_is_maker, 0.0, qty)
    true_side = vpin_from_classified_bars(buy, qty, v)
    est = VpinEstimator(v)
    streamed = [
        u.vpin for b, q in zip(buy.tolist(), qty.tolist(), strict=True) for u in est.on_classified_bar(b, q)
    ]
    np.testing.assert_allclose(streamed, true_side.vpin, rtol=1e-9)
    for series in (batch.vpin, true_side.vpin):
        assert np.all((series > 0.0) & (series < 1.0))

    # tick-level BVC calls every unchanged-price trade 50/50, so on a large-tick-like tape it reads far
    # lower than the aggressor-side VPIN (Andersen & Bondarenko's point: levels are method-specific)
    tick = vpin_from_bars(px, qty, v)
    assert tick.vpin.mean() < 0.5 * true_side.vpin.mean()
