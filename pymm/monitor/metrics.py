"""Prometheus metrics of the monitor, the Rust core's counters and latency histograms, and the exporter.

Names follow the Prometheus conventions: the ``pymm_`` namespace, a subsystem (``toxicity``, ``fill``,
``quality``, ``venue``, ``alert``, ``core``), base units in the name (``_seconds``, ``_ratio`` for
fractions), ``_total`` on counters (added by prometheus-client). Labels never carry order ids, keys or
anything unbounded: ``symbol``, ``horizon``, ``side``, ``rule``, ``indicator``, ``severity``.

The exporter binds to 127.0.0.1 by default (metrics are read-only and local; put a reverse proxy
with TLS and authentication in front if they must leave the host).

The core is read through :class:`CoreStatsSource`, a two-method protocol (counters and latency
snapshots), and exposed by :class:`CoreCollector` at scrape time: counters as
``pymm_core_<name>_total`` and each HDR histogram as a summary ``pymm_core_<name>_latency_seconds``
with quantiles 0.5/0.9/0.99/0.999 and 1 (max). The binding that adapts ``pymm._native`` to the
protocol belongs with the engine facade.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics_core import CounterMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from pymm.monitor.markouts import Markout
from pymm.monitor.quality import QualityReport
from pymm.monitor.toxicity import VpinUpdate

__all__ = [
    "ALERT_DELAY_BUCKETS_SECONDS",
    "CORE_PREFIX",
    "DEFAULT_BIND",
    "DEFAULT_PORT",
    "CoreCollector",
    "CoreStatsSource",
    "Exporter",
    "LatencySnapshot",
    "MonitorMetrics",
    "exposed_names",
    "format_horizon",
    "start_exporter",
]

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 9464
#: From 100 µs to 10 s: RTS 6 Art 16(5) wants alerts within 5 s, the product plan within 100 ms.
ALERT_DELAY_BUCKETS_SECONDS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
CORE_PREFIX = "pymm_core"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def format_horizon(horizon_ns: int) -> str:
    """Label value for a markout horizon: ``100ms``, ``1s``, ``30s``."""
    if horizon_ns % 1_000_000_000 == 0:
        return f"{horizon_ns // 1_000_000_000}s"
    if horizon_ns % 1_000_000 == 0:
        return f"{horizon_ns // 1_000_000}ms"
    return f"{horizon_ns}ns"


class MonitorMetrics:
    """The monitor's metrics, registered in one registry (a fresh one unless given).

    Args:
        registry: Where to register; a new :class:`CollectorRegistry` by default (never the global one,
            so tests and several engines in one process do not collide).
        markout_window: The markout gauges average the last this many fills per symbol and horizon.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, markout_window: int = 200) -> None:
        if markout_window < 1:
            raise ValueError(f"markout_window must be >= 1, got {markout_window}")
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._recent: dict[tuple[str, int], deque[Markout]] = {}
        self._markout_window = markout_window
        r = self.registry
        self.vpin = Gauge(
            "pymm_toxicity_vpin_ratio", "VPIN over the last n volume buckets.", ["symbol"], registry=r
        )
        self.vpin_cdf = Gauge(
            "pymm_toxicity_vpin_cdf_ratio",
            "Empirical CDF of the current VPIN in its history.",
            ["symbol"],
            registry=r,
        )
        self.vpin_buckets = Counter(
            "pymm_toxicity_vpin_buckets",
            "Volume buckets completed by the VPIN estimator.",
            ["symbol"],
            registry=r,
        )
        self.markout = Gauge(
            "pymm_fill_markout_ratio",
            "Size-weighted mean markout of recent fills, fraction of the pre-fill mid (positive = good).",
            ["symbol", "horizon"],
            registry=r,
        )
        self.adverse_selection = Gauge(
            "pymm_fill_adverse_selection_ratio",
            "Size-weighted mean adverse selection of recent fills, as a fraction of the pre-fill mid.",
            ["symbol", "horizon"],
            registry=r,
        )
        self.markouts = Counter(
            "pymm_fill_markouts", "Fill markouts resolved.", ["symbol", "horizon"], registry=r
        )
        self.quality_score = Gauge(
            "pymm_quality_score", "Quote quality score, 0-100.", ["symbol"], registry=r
        )
        self.quality_subscore = Gauge(
            "pymm_quality_subscore_ratio",
            "Sub-score of each quality indicator, 0-1.",
            ["symbol", "indicator"],
            registry=r,
        )
        self.micro_price_deviation = Gauge(
            "pymm_quality_micro_price_deviation_ratio",
            "Mean |quote centre - micro-price| / micro-price.",
            ["symbol"],
            registry=r,
        )
        self.fair_value_deviation = Gauge(
            "pymm_quality_fair_value_deviation_ratio",
            "Mean |quote centre - fair value| / fair value.",
            ["symbol"],
            registry=r,
        )
        self.cancel_to_fill = Gauge(
            "pymm_quality_cancel_to_fill_ratio", "Cancels per fill in the window.", ["symbol"], registry=r
        )
        self.order_to_trade = Gauge(
            "pymm_quality_order_to_trade_ratio",
            "MiFID II RTS 9 order-to-trade ratio (orders / transactions - 1).",
            ["symbol", "basis"],
            registry=r,
        )
        self.fill_ratio = Gauge(
            "pymm_quality_fill_ratio", "Filled quantity / submitted quantity.", ["symbol"], registry=r
        )
        self.maker_ratio = Gauge(
            "pymm_quality_maker_ratio", "Maker quantity / filled quantity.", ["symbol"], registry=r
        )
        self.quote_uptime = Gauge(
            "pymm_quality_quote_uptime_ratio",
            "Share of time with two-sided quotes within the spread and depth obligations.",
            ["symbol"],
            registry=r,
        )
        self.time_at_touch = Gauge(
            "pymm_quality_time_at_touch_ratio",
            "Share of time our quote is at the touch.",
            ["symbol", "side"],
            registry=r,
        )
        self.quoted_spread = Gauge(
            "pymm_quality_quoted_spread_ratio", "Mean quoted spread / market mid.", ["symbol"], registry=r
        )
        self.quoted_depth = Gauge(
            "pymm_quality_quoted_depth_notional",
            "Mean quoted notional at our best price, in quote currency.",
            ["symbol", "side"],
            registry=r,
        )
        self.venue_ratio = Gauge(
            "pymm_venue_rule_ratio",
            "The venue's quantitative-rule ratios (UFR, ICR, IFER, DR).",
            ["symbol", "rule"],
            registry=r,
        )
        self.venue_utilisation = Gauge(
            "pymm_venue_rule_utilisation_ratio",
            "Venue rule ratio / its limit (>= 1 is a breach).",
            ["symbol", "rule"],
            registry=r,
        )
        self.alerts = Counter("pymm_alerts", "Alerts emitted.", ["rule", "severity", "symbol"], registry=r)
        self.alert_active = Gauge(
            "pymm_alert_active", "1 while an alert rule is firing.", ["rule", "symbol"], registry=r
        )
        self.alert_delay = Histogram(
            "pymm_alert_delay_seconds",
            "Delay from the triggering event's timestamp to the alert's emission.",
            ["rule"],
            buckets=ALERT_DELAY_BUCKETS_SECONDS,
            registry=r,
        )
        self.webhook_delivery = Histogram(
            "pymm_alert_webhook_delivery_seconds",
            "Delay from an alert's emission to its webhook receiver's 2xx answer.",
            buckets=ALERT_DELAY_BUCKETS_SECONDS,
            registry=r,
        )
        self.webhook_requests = Counter(
            "pymm_alert_webhook_requests", "Alert webhook POSTs, by outcome.", ["outcome"], registry=r
        )

    def exposed_names(self) -> set[str]:
        """Every sample name these metrics can expose (``_total``, ``_bucket``, ... included)."""
        return exposed_names(self.registry)

    def observe_vpin(self, symbol: str, update: VpinUpdate) -> None:
        """Record a VPIN update."""
        self.vpin.labels(symbol).set(update.vpin)
        self.vpin_cdf.labels(symbol).set(update.cdf)
        self.vpin_buckets.labels(symbol).inc()

    def observe_markouts(self, symbol: str, markouts: Sequence[Markout]) -> None:
        """Count resolved markouts; set the size-weighted means over the last ``markout_window`` fills."""
        touched: set[int] = set()
        for m in markouts:
            self.markouts.labels(symbol, format_horizon(m.horizon_ns)).inc()
            if math.isfinite(m.markout) and m.mid_at_fill > 0:
                key = (symbol, m.horizon_ns)
                self._recent.setdefault(key, deque(maxlen=self._markout_window)).append(m)
                touched.add(m.horizon_ns)
        for horizon_ns in touched:
            label = format_horizon(horizon_ns)
            usable = self._recent[(symbol, horizon_ns)]
            qty = sum(m.qty for m in usable)
            if qty > 0:
                self.markout.labels(symbol, label).set(
                    sum(m.qty * m.markout / m.mid_at_fill for m in usable) / qty
                )
                self.adverse_selection.labels(symbol, label).set(
                    sum(m.qty * m.adverse_selection / m.mid_at_fill for m in usable) / qty
                )

    def observe_quality(self, symbol: str, report: QualityReport) -> None:
        """Set the quality gauges from a window's report (NaN stays NaN: "no data", not zero)."""
        self.quality_score.labels(symbol).set(report.score)
        for name, value in report.subscores.items():
            self.quality_subscore.labels(symbol, name).set(value)
        self.micro_price_deviation.labels(symbol).set(report.micro_price_deviation)
        self.fair_value_deviation.labels(symbol).set(report.fair_value_deviation)
        self.cancel_to_fill.labels(symbol).set(report.ratios.cancel_to_fill)
        self.order_to_trade.labels(symbol, "number").set(report.ratios.order_to_trade_number)
        self.order_to_trade.labels(symbol, "volume").set(report.ratios.order_to_trade_volume)
        self.fill_ratio.labels(symbol).set(report.ratios.fill_ratio)
        self.maker_ratio.labels(symbol).set(report.ratios.maker_ratio)
        self.quote_uptime.labels(symbol).set(report.quote_uptime)
        self.time_at_touch.labels(symbol, "bid").set(report.time_at_touch_bid)
        self.time_at_touch.labels(symbol, "ask").set(report.time_at_touch_ask)
        self.quoted_spread.labels(symbol).set(report.quoted_spread)
        self.quoted_depth.labels(symbol, "bid").set(report.quoted_depth_bid)
        self.quoted_depth.labels(symbol, "ask").set(report.quoted_depth_ask)
        v = report.venue
        for rule, value in (
            ("unfilled", v.unfilled),
            ("invalid_cancel", v.invalid_cancel),
            ("ioc_expire", v.ioc_expire),
            ("dust", v.dust),
        ):
            self.venue_ratio.labels(symbol, rule).set(value)
            self.venue_utilisation.labels(symbol, rule).set(v.utilisation[rule])


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """Sample names a registry can expose, from its metric families' names and types."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


# ------------------------------------------------------------------------------------------------ core


@dataclass(frozen=True)
class LatencySnapshot:
    """One latency histogram read from the core.

    Attributes:
        count: Number of recorded values.
        sum_seconds: Sum of the values (HDR keeps the mean; ``mean * count`` is good enough for rates).
        quantiles_seconds: Quantile (0-1, with 1.0 the max) to value in seconds.
    """

    count: int
    sum_seconds: float
    quantiles_seconds: Mapping[float, float]

    @classmethod
    def from_hdr(
        cls,
        hist: HdrLike,
        *,
        unit_seconds: float = 1e-9,
        quantiles: Sequence[float] = (0.5, 0.9, 0.99, 0.999, 1.0),
    ) -> LatencySnapshot:
        """Read an HDR histogram (values in ``unit_seconds``, nanoseconds by default)."""
        count = int(hist.get_total_count())
        values = {
            q: (hist.get_max_value() if q >= 1.0 else hist.get_value_at_percentile(q * 100.0)) * unit_seconds
            for q in quantiles
        }
        return cls(
            count=count,
            sum_seconds=float(hist.get_mean_value()) * count * unit_seconds,
            quantiles_seconds=values,
        )


class HdrLike(Protocol):
    """The part of an HDR histogram (``hdrh.histogram.HdrHistogram``) that snapshots read."""

    def get_total_count(self) -> int: ...
    def get_mean_value(self) -> float: ...
    def get_max_value(self) -> int: ...
    def get_value_at_percentile(self, percentile: float) -> int: ...


@runtime_checkable
class CoreStatsSource(Protocol):
    """What the metrics need from the Rust core (implemented by the engine facade over ``pymm._native``).

    Names are snake_case without unit or ``_total`` suffix (``orders_sent``, ``tick_to_trade``).
    """

    def counters(self) -> Mapping[str, int]:
        """Monotonic counters since the core started."""
        ...

    def latencies(self) -> Mapping[str, LatencySnapshot]:
        """Latency histograms since the core started."""
        ...


class CoreCollector(Collector):
    """Exposes a :class:`CoreStatsSource` at scrape time.

    Args:
        source: The core's stats.
        prefix: Metric name prefix.
    """

    def __init__(self, source: CoreStatsSource, prefix: str = CORE_PREFIX) -> None:
        self._source = source
        self._prefix = prefix

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the core's metric set is only known when it is read."""
        return []

    def collect(self) -> Iterable[Metric]:
        """Read the core and yield one family per counter and per histogram."""
        for name, value in sorted(self._source.counters().items()):
            _check_name(name)
            yield CounterMetricFamily(f"{self._prefix}_{name}", f"Core counter {name}.", value=value)
        for name, snap in sorted(self._source.latencies().items()):
            _check_name(name)
            family = SummaryMetricFamily(
                f"{self._prefix}_{name}_latency_seconds",
                f"Core latency {name} (HDR histogram).",
                count_value=snap.count,
                sum_value=snap.sum_seconds,
            )
            for q, v in sorted(snap.quantiles_seconds.items()):
                family.add_sample(family.name, {"quantile": _format_quantile(q)}, v)
            yield family


def _check_name(name: str) -> None:
    if not _NAME.match(name) or name.endswith(("_total", "_seconds")):
        raise ValueError(f"core metric name {name!r} must be snake_case without unit or _total suffix")


def _format_quantile(q: float) -> str:
    return repr(float(q))


# -------------------------------------------------------------------------------------------- exporter


@dataclass
class Exporter:
    """A running exporter: the address it listens on and how to stop it."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """The scrape URL."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def start_exporter(
    registry: CollectorRegistry, *, port: int = DEFAULT_PORT, bind: str = DEFAULT_BIND
) -> Exporter:
    """Serve ``registry`` over HTTP on ``bind:port`` (127.0.0.1 unless told otherwise; port 0 = any free).

    Returns:
        The running exporter; call :meth:`Exporter.close` to stop it.
    """
    server, thread = start_http_server(port, addr=bind, registry=registry)
    return Exporter(host=bind, port=int(server.server_port), _server=server, _thread=thread)
