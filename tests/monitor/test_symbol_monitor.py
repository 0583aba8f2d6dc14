"""SymbolMonitor wires trades, mids and fills through the models into metrics and alerts."""

from __future__ import annotations

import pytest

from pymm.monitor.alerts import AlertEngine, MarkoutRule, VpinCdfRule
from pymm.monitor.markouts import Fill
from pymm.monitor.metrics import MonitorMetrics
from pymm.monitor.symbol_monitor import SymbolMonitor

S = 1_000_000_000
MS = 1_000_000


def make(clock_ns: list[int]) -> tuple[SymbolMonitor, MonitorMetrics]:
    metrics = MonitorMetrics()
    engine = AlertEngine(
        metrics,
        vpin_rule=VpinCdfRule(min_history=10),
        markout_rules=[MarkoutRule(horizon_ns=1 * S, threshold_bps=-1.0, window=3, min_fills=2)],
        clock=lambda: clock_ns[0],
    )
    mon = SymbolMonitor(
        "DOGEUSDT",
        metrics=metrics,
        alerts=engine,
        bucket_volume=10.0,
        bar_ns=None,
        sample_length=2,
        sigma=1.0,
        horizons_ns=[1 * S],
    )
    return mon, metrics


def test_trades_drive_vpin_metrics_and_alert() -> None:
    now = [0]
    mon, metrics = make(now)
    alerts = []
    t = 0
    for price in [100.0] * 40 + [100.0 + 3 * k for k in range(1, 10)]:
        t += 100 * MS
        now[0] = t + 7 * MS  # the alert is emitted 7 ms after the trade
        alerts += mon.on_trade(t, price, 5.0)
    (alert,) = alerts
    assert alert.rule == "vpin_cdf"
    assert alert.delay_seconds == pytest.approx(0.007)
    assert mon.last_vpin is not None
    got = metrics.registry.get_sample_value("pymm_toxicity_vpin_ratio", {"symbol": "DOGEUSDT"})
    assert got == mon.last_vpin.vpin
    assert metrics.registry.get_sample_value(
        "pymm_alert_delay_seconds_sum", {"rule": "vpin_cdf"}
    ) == pytest.approx(0.007)


def test_fills_and_mids_drive_markouts_and_alert() -> None:
    now = [0]
    mon, metrics = make(now)
    assert mon.on_mid(0, 1.0000) == []
    mon.on_fill(Fill(100 * MS, 1.0000, 1000.0, 1, fill_id=1))  # bought at the mid
    mon.on_fill(Fill(200 * MS, 1.0000, 1000.0, 1, fill_id=2))
    assert mon.on_mid(500 * MS, 0.9998) == []  # mid drops 2 bps
    now[0] = 1_300 * MS
    alerts = mon.on_timer(1_250 * MS)  # both 1 s horizons (1.1 s, 1.2 s) have passed
    (alert,) = alerts
    assert alert.rule == "markout_1s"
    assert alert.value == pytest.approx(-2.0)
    assert alert.ts_event_ns == 1_200 * MS  # the last fill's horizon end
    assert alert.delay_seconds == pytest.approx(0.1)
    assert metrics.registry.get_sample_value(
        "pymm_fill_markout_ratio", {"symbol": "DOGEUSDT", "horizon": "1s"}
    ) == pytest.approx(-2e-4)
    assert mon.on_timer(2 * S) == []
