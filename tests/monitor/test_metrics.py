"""The exporter, scraped over HTTP on 127.0.0.1 and parsed with prometheus_client's parser."""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest
from hdrh.histogram import HdrHistogram
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pymm.monitor.markouts import Markout
from pymm.monitor.metrics import (
    CoreCollector,
    CoreStatsSource,
    Exporter,
    LatencySnapshot,
    MonitorMetrics,
    format_horizon,
    start_exporter,
)
from pymm.monitor.quality import compute_quality
from pymm.monitor.toxicity import VpinUpdate

from .test_quality import EVENTS, FAIR, MARKET, OURS, S


@dataclass
class StatsTable:
    """A CoreStatsSource over plain tables, filled by the test with real values."""

    counter_values: dict[str, int] = field(default_factory=dict)
    histograms: dict[str, HdrHistogram] = field(default_factory=dict)

    def counters(self) -> Mapping[str, int]:
        return self.counter_values

    def latencies(self) -> Mapping[str, LatencySnapshot]:
        return {name: LatencySnapshot.from_hdr(h) for name, h in self.histograms.items()}


@pytest.fixture
def served() -> Iterator[tuple[MonitorMetrics, Exporter]]:
    metrics = MonitorMetrics()
    exporter = start_exporter(metrics.registry, port=0)
    try:
        yield metrics, exporter
    finally:
        exporter.close()


def scrape(exporter: Exporter) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(exporter.url, timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_exporter_binds_loopback_by_default(served: tuple[MonitorMetrics, Exporter]) -> None:
    _, exporter = served
    assert exporter.host == "127.0.0.1"
    assert exporter.port > 0
    assert exporter.url.startswith("http://127.0.0.1:")


def test_vpin_markouts_and_quality_are_scraped(served: tuple[MonitorMetrics, Exporter]) -> None:
    metrics, exporter = served
    metrics.observe_vpin("DOGEUSDT", VpinUpdate(bucket=60, vpin=0.31, cdf=0.93, ts_ns=1, history=11))
    metrics.observe_vpin("DOGEUSDT", VpinUpdate(bucket=61, vpin=0.32, cdf=0.95, ts_ns=2, history=12))
    mk = [
        Markout(1, S, 2.0, 1, 100.0, 100.02, 0.01, 0.03, -0.02),
        Markout(2, S, 1.0, -1, 100.0, 100.02, 0.01, -0.01, 0.02),
        Markout(1, 5 * S, 2.0, 1, 100.0, math.nan, 0.01, math.nan, math.nan),
    ]
    metrics.observe_markouts("DOGEUSDT", mk)
    metrics.observe_quality("DOGEUSDT", compute_quality(0, 10 * S, MARKET, OURS, EVENTS, fair_value=FAIR))
    got = scrape(exporter)
    sym = (("symbol", "DOGEUSDT"),)
    assert got["pymm_toxicity_vpin_ratio"][sym] == 0.32
    assert got["pymm_toxicity_vpin_cdf_ratio"][sym] == 0.95
    assert got["pymm_toxicity_vpin_buckets_total"][sym] == 2.0
    one_s = (("horizon", "1s"), ("symbol", "DOGEUSDT"))
    # size-weighted: (2·0.03 + 1·(-0.01)) / 3 / 100
    assert got["pymm_fill_markout_ratio"][one_s] == pytest.approx((2 * 0.03 - 0.01) / 3 / 100)
    assert got["pymm_fill_adverse_selection_ratio"][one_s] == pytest.approx((2 * -0.02 + 0.02) / 3 / 100)
    assert got["pymm_fill_markouts_total"][one_s] == 2.0
    assert got["pymm_fill_markouts_total"][(("horizon", "5s"), ("symbol", "DOGEUSDT"))] == 1.0
    assert got["pymm_quality_score"][sym] == pytest.approx(70.0)
    assert got["pymm_quality_quote_uptime_ratio"][sym] == pytest.approx(0.8)
    assert got["pymm_quality_time_at_touch_ratio"][
        (("side", "bid"), ("symbol", "DOGEUSDT"))
    ] == pytest.approx(0.4)
    assert got["pymm_quality_order_to_trade_ratio"][(("basis", "number"), ("symbol", "DOGEUSDT"))] == 2.5
    assert got["pymm_quality_maker_ratio"][sym] == pytest.approx(4 / 9)
    subscores = got["pymm_quality_subscore_ratio"]
    assert subscores[(("indicator", "maker_ratio"), ("symbol", "DOGEUSDT"))] == 0.0
    assert got["pymm_venue_rule_ratio"][
        (("rule", "invalid_cancel"), ("symbol", "DOGEUSDT"))
    ] == pytest.approx(1 / 3)


def test_core_counters_and_hdr_histograms_are_scraped(served: tuple[MonitorMetrics, Exporter]) -> None:
    metrics, exporter = served
    hist = HdrHistogram(1, 10_000_000_000, 3)
    for ns in range(1_000, 101_000, 1_000):  # 1 µs .. 100 µs, 100 values
        hist.record_value(ns)
    table = StatsTable({"orders_sent": 1234, "feed_packets_dropped": 0}, {"tick_to_trade": hist})
    assert isinstance(table, CoreStatsSource)
    metrics.registry.register(CoreCollector(table))
    got = scrape(exporter)
    assert got["pymm_core_orders_sent_total"][()] == 1234
    assert got["pymm_core_feed_packets_dropped_total"][()] == 0
    summary = got["pymm_core_tick_to_trade_latency_seconds"]
    assert got["pymm_core_tick_to_trade_latency_seconds_count"][()] == 100
    assert got["pymm_core_tick_to_trade_latency_seconds_sum"][()] == pytest.approx(5.05e-3, rel=1e-3)
    # HDR with 3 significant digits: p50 = 50 µs, p99 = 99 µs, max = 100 µs, within 0.1 %
    assert summary[(("quantile", "0.5"),)] == pytest.approx(50e-6, rel=1e-3)
    assert summary[(("quantile", "0.99"),)] == pytest.approx(99e-6, rel=1e-3)
    assert summary[(("quantile", "1.0"),)] == pytest.approx(100e-6, rel=1e-3)
    # the collector reads the core at each scrape
    table.counter_values["orders_sent"] = 1300
    assert scrape(exporter)["pymm_core_orders_sent_total"][()] == 1300


def test_markout_gauges_average_a_rolling_window_of_fills() -> None:
    metrics = MonitorMetrics(markout_window=2)
    fills = [
        Markout(i, S, 1.0, 1, 100.0, 100.0, 0.0, bps / 100, 0.0) for i, bps in enumerate((3.0, 1.0, -5.0))
    ]
    metrics.observe_markouts("X", fills[:1])
    metrics.observe_markouts("X", fills[1:])
    value = metrics.registry.get_sample_value("pymm_fill_markout_ratio", {"symbol": "X", "horizon": "1s"})
    # last two fills: (1 + (-5)) / 2 bps
    assert value == pytest.approx(-2e-4)
    assert (
        metrics.registry.get_sample_value("pymm_fill_markouts_total", {"symbol": "X", "horizon": "1s"}) == 3
    )
    with pytest.raises(ValueError, match="markout_window"):
        MonitorMetrics(markout_window=0)


def test_core_names_are_checked() -> None:
    registry = CollectorRegistry()
    registry.register(CoreCollector(StatsTable({"OrdersSent": 1})))
    with pytest.raises(ValueError, match="snake_case"):
        registry.collect().__next__()
    with pytest.raises(ValueError, match="snake_case"):
        list(CoreCollector(StatsTable({"orders_total": 1})).collect())


def test_metric_names_follow_conventions() -> None:
    metrics = MonitorMetrics()
    metrics.registry.register(
        CoreCollector(StatsTable({"orders_sent": 1}, {"rtt": HdrHistogram(1, 1000, 2)}))
    )
    for family in metrics.registry.collect():
        assert family.name.startswith("pymm_"), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type in ("histogram", "summary"):
            assert family.name.endswith("_seconds"), family.name
        if family.type == "gauge":
            assert family.name.endswith(("_ratio", "_score", "_notional", "_active")), family.name


def test_format_horizon() -> None:
    assert [format_horizon(h) for h in (S, 30 * S, 100_000_000, 1500)] == ["1s", "30s", "100ms", "1500ns"]
