"""TradingMetrics: the engine's status dict and events as Prometheus series, scraped over HTTP."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pymm.events import EVENT_DTYPE, EventKind
from pymm.monitor.metrics import (
    DENY_REASONS,
    InstrumentScale,
    MonitorMetrics,
    TradingMetrics,
    exposed_names,
    start_exporter,
)

STATUS = {
    "ts": 1_764_686_400_000_000_000,
    "state": "quoting",
    "kill": {"latched": True, "latch_id": "k1", "reason": "test", "approvals": []},
    "instruments": [
        {
            "venue": "binance-spot",
            "symbol": "DOGEUSDT",
            "book": {"bid": "0.12345", "bid_qty": "100", "ask": "0.12347", "ask_qty": "50", "mid": "0.12346"},
            "quotes": [],
            "position": "-1500",
            "avg_price": "0.12350",
            "pnl": {"realized": "1.25", "unrealized": "-0.06", "fees": "0.01", "total": "1.18"},
            "orders": {
                "sent": 40,
                "working": 2,
                "unknown": 1,
                "filled": 7,
                "canceled": 30,
                "rejected": 3,
                "denied": 4,
            },
            "risk": {
                "position_limit": "20000",
                "headroom_buy": "21500",
                "headroom_sell": "18500",
                "open_orders": 2,
                "max_open_orders": 10,
            },
        }
    ],
    "latency_ns": {
        "tick_to_trade": {
            "count": 1000,
            "p50": 8_000,
            "p99": 25_000,
            "p999": 90_000,
            "max": 120_000,
            "mean": 9_000,
        }
    },
    "toxicity": {"vpin": 0.31, "markouts_bps": {"1s": 0.5, "5s": -1.5, "30s": None}},
    "hedge": {"halted": "operator kill", "in_flight": 0},
    "engine": {"journal": {"seq": 1234, "halted": "journal refused seq 1235: File too large"}},
    "alerts": [],
}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


@pytest.fixture
def served() -> Iterator[tuple[TradingMetrics, str]]:
    metrics = TradingMetrics()
    exporter = start_exporter(metrics.registry, port=0)
    yield metrics, exporter.url
    exporter.close()


def test_status_series(served: tuple[TradingMetrics, str]) -> None:
    metrics, url = served
    assert not any(name.startswith("pymm_orders") for name, _ in scrape(url))  # nothing before a status
    metrics.update_from_status(STATUS)
    s = scrape(url)
    sym = ("symbol", "DOGEUSDT")
    for state, n in {"sent": 40, "filled": 7, "canceled": 30, "rejected": 3, "denied": 4}.items():
        assert s[("pymm_orders_total", (("state", state), sym))] == n
    assert s[("pymm_orders_open", (("state", "working"), sym))] == 2
    assert s[("pymm_orders_open", (("state", "unknown"), sym))] == 1
    assert s[("pymm_position", (sym,))] == -1500
    assert s[("pymm_position_avg_price", (sym,))] == pytest.approx(0.1235)
    for part, v in {"realized": 1.25, "unrealized": -0.06, "fees": 0.01, "total": 1.18}.items():
        assert s[("pymm_pnl", (("component", part), sym))] == pytest.approx(v)
    assert s[("pymm_risk_position_limit", (sym,))] == 20000
    assert s[("pymm_risk_headroom", (("side", "buy"), sym))] == 21500
    assert s[("pymm_risk_headroom", (("side", "sell"), sym))] == 18500
    assert s[("pymm_risk_open_orders", (sym,))] == 2
    assert s[("pymm_risk_max_open_orders", (sym,))] == 10
    assert s[("pymm_book_price", (("side", "mid"), sym))] == pytest.approx(0.12346)
    assert s[("pymm_toxicity_vpin_ratio", (sym,))] == pytest.approx(0.31)
    assert s[("pymm_fill_markout_bps", (("horizon", "5s"), sym))] == -1.5
    assert ("pymm_fill_markout_bps", (("horizon", "30s"), sym)) not in s  # unknown stays absent
    assert s[("pymm_kill_latched", ())] == 1
    assert s[("pymm_hedge_halted", ())] == 1
    assert s[("pymm_journal_halted", ())] == 1
    assert s[("pymm_journal_seq", ())] == 1234
    assert s[("pymm_status_timestamp_seconds", ())] == pytest.approx(1_764_686_400.0)
    lat = "pymm_core_tick_to_trade_latency_seconds"
    assert s[(lat, (("quantile", "0.5"),))] == pytest.approx(8e-6)
    assert s[(lat, (("quantile", "0.99"),))] == pytest.approx(25e-6)
    assert s[(lat, (("quantile", "0.999"),))] == pytest.approx(90e-6)
    assert s[(lat, (("quantile", "1.0"),))] == pytest.approx(120e-6)
    assert s[(lat + "_count", ())] == 1000
    assert s[(lat + "_sum", ())] == pytest.approx(9e-3)


def test_events_fills_and_rejects_by_reason(served: tuple[TradingMetrics, str]) -> None:
    metrics, url = served
    ev = np.zeros(6, dtype=EVENT_DTYPE)
    ev["instrument"] = 7
    ev["kind"] = [
        EventKind.ORDER_FILLED,
        EventKind.ORDER_FILLED,
        EventKind.ORDER_REJECTED,
        EventKind.ORDER_DENIED,
        EventKind.ORDER_DENIED,
        EventKind.TOP_OF_BOOK,
    ]
    ev["side"] = [0, 1, 0, 0, 1, 255]
    ev["qty"] = [300, 200, 100, 100, 100, 9]
    ev["aux"] = [0, 0, -2010, 10, 6, 0]
    ev[4]["instrument"] = 99  # an id the supervisor did not name
    metrics.observe_events(ev, {7: InstrumentScale("DOGEUSDT", tick=0.00001, lot=1.0)})
    s = scrape(url)
    sym = ("symbol", "DOGEUSDT")
    assert s[("pymm_fills_total", (("side", "buy"), sym))] == 1
    assert s[("pymm_fills_total", (("side", "sell"), sym))] == 1
    assert s[("pymm_fill_quantity_total", (("side", "buy"), sym))] == 300
    assert s[("pymm_fill_quantity_total", (("side", "sell"), sym))] == 200
    assert s[("pymm_order_rejects_total", (("reason", "-2010"), ("source", "venue"), sym))] == 1
    assert s[("pymm_order_rejects_total", (("reason", "max_long"), ("source", "risk"), sym))] == 1
    assert (
        s[
            (
                "pymm_order_rejects_total",
                (("reason", "price_collar"), ("source", "risk"), ("symbol", "unknown")),
            )
        ]
        == 1
    )


def test_deny_reasons_match_the_core() -> None:
    """The names are the Rust core's DenyReason::as_str, code for code."""
    src = (Path(__file__).resolve().parents[2] / "native" / "src" / "risk" / "deny.rs").read_text()
    codes = {name: int(code) for name, code in re.findall(r"^\s+([A-Z]\w+) = (\d+),", src, re.M)}
    names = dict(re.findall(r"DenyReason::(\w+) => \"(\w+)\"", src))
    assert {codes[k]: v for k, v in names.items()} == dict(DENY_REASONS)


def test_vpin_left_to_the_monitor_when_it_shares_the_registry() -> None:
    """One registry, one VPIN family: the SymbolMonitor's (from trades), not a copy from the status."""
    monitor = MonitorMetrics()
    trading = TradingMetrics(monitor.registry)
    trading.update_from_status(STATUS)
    families = [f.name for f in monitor.registry.collect()]
    assert families.count("pymm_toxicity_vpin_ratio") == 1
    assert "pymm_orders_total" in exposed_names(monitor.registry)
