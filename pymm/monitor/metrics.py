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
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, runtime_checkable
from wsgiref.simple_server import WSGIServer

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from pymm.events import EventKind
from pymm.monitor.markouts import Markout
from pymm.monitor.quality import QualityReport
from pymm.monitor.toxicity import VpinUpdate

__all__ = [
    "ALERT_DELAY_BUCKETS_SECONDS",
    "CORE_PREFIX",
    "DEFAULT_BIND",
    "DEFAULT_PORT",
    "DENY_REASONS",
    "CoreCollector",
    "CoreStatsSource",
    "Exporter",
    "InstrumentScale",
    "LatencySnapshot",
    "MonitorMetrics",
    "TradingMetrics",
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


# ------------------------------------------------------------------------------------- trading engine

#: ``DenyReason`` codes of the Rust risk layer (``native/src/risk/deny.rs``, ``DenyReason::as_str``).
DENY_REASONS: Mapping[int, str] = {
    1: "killed",
    2: "execution_throttle",
    3: "not_allowed",
    4: "no_reference",
    5: "stale_reference",
    6: "price_collar",
    7: "invalid_order",
    8: "max_order_qty",
    9: "max_order_notional",
    10: "max_long",
    11: "max_short",
    12: "max_position_notional",
    13: "max_open_orders",
    14: "duplicate",
    15: "self_trade",
    16: "venue_order_rate",
    17: "message_rate",
    18: "overflow",
    19: "duplicate_client_id",
}
_ORDER_COUNTERS = ("sent", "filled", "canceled", "rejected", "denied")
_ORDER_GAUGES = ("working", "unknown")
_PNL_PARTS = ("realized", "unrealized", "fees", "total")


@dataclass(frozen=True)
class InstrumentScale:
    """How to read one instrument's event records: its symbol and the size of a tick and a lot."""

    symbol: str
    tick: float
    lot: float


def _number(value: Any) -> float | None:
    """A status value (decimal string, int, float, None) as a float; None when absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str | Decimal):
        try:
            return float(Decimal(value))
        except (InvalidOperation, ValueError):
            return None
    return None


class TradingMetrics(Collector):
    """The trading engine's series: orders, fills, position, PnL, risk headroom, book, latency, rejects.

    Two inputs, both called by the supervisor's slow loop:

    - :meth:`update_from_status` with the status dict (ADR 0005's ``GET /api/status`` schema). The
      engine's own cumulative counters and latency percentiles are exposed as they are at scrape time:
      ``pymm_orders_total{symbol,state}`` (sent, filled, canceled, rejected, denied),
      ``pymm_orders_open{symbol,state}`` (working, unknown), ``pymm_position{symbol}`` (base units),
      ``pymm_position_avg_price{symbol}``, ``pymm_pnl{symbol,component}`` (quote currency: realized,
      unrealized, fees, total), ``pymm_risk_position_limit``, ``pymm_risk_headroom{symbol,side}``,
      ``pymm_risk_open_orders``, ``pymm_risk_max_open_orders``, ``pymm_book_price{symbol,side}``,
      ``pymm_toxicity_vpin_ratio{symbol}`` when the status carries VPIN and no
      :class:`SymbolMonitor` sets it, ``pymm_fill_markout_bps{symbol,horizon}``,
      ``pymm_core_<name>_latency_seconds{quantile}`` summaries (0.5, 0.99, 0.999 and 1 = max, with
      ``_count``; ``_sum`` when the histogram reports its ``mean``), ``pymm_kill_latched``,
      ``pymm_hedge_halted`` (with a hedge leg), ``pymm_journal_halted`` and ``pymm_journal_seq``
      (from the engine's ``journal`` block) and ``pymm_status_timestamp_seconds``.
    - :meth:`observe_events` with drained engine events (``pymm.events.EVENT_DTYPE``):
      ``pymm_fills_total{symbol,side}``, ``pymm_fill_quantity_total{symbol,side}`` (base units),
      ``pymm_order_rejects_total{symbol,source,reason}`` with ``source`` ``venue`` (reason = the venue's
      error code) or ``risk`` (reason = the ``DenyReason`` name).

    Args:
        registry: Where to register (a fresh one by default); share :class:`MonitorMetrics`'s so one
            exporter serves both.
        set_vpin: Also expose ``pymm_toxicity_vpin_ratio`` from the status. ``None`` (default): only
            when ``registry`` has no such series yet (a :class:`MonitorMetrics` there sets it from trades).
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, set_vpin: bool | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._status: Mapping[str, Any] | None = None
        self._lock = threading.Lock()
        if set_vpin is None:
            set_vpin = "pymm_toxicity_vpin_ratio" not in exposed_names(self.registry)
        self._set_vpin = set_vpin
        r = self.registry
        self.fills = Counter(
            "pymm_fills", "Our fills, from the engine's events.", ["symbol", "side"], registry=r
        )
        self.fill_quantity = Counter(
            "pymm_fill_quantity", "Our filled quantity, base units.", ["symbol", "side"], registry=r
        )
        self.rejects = Counter(
            "pymm_order_rejects",
            "Orders refused, by source (venue or our pre-trade risk) and reason.",
            ["symbol", "source", "reason"],
            registry=r,
        )
        r.register(self)

    def update_from_status(self, status: Mapping[str, Any]) -> None:
        """Keep ``status`` (the control API's status dict) for the next scrape."""
        with self._lock:
            self._status = status

    def observe_events(self, events: np.ndarray, instruments: Mapping[int, InstrumentScale]) -> None:
        """Count fills and refusals in drained engine events.

        Args:
            events: A structured array of ``pymm.events.EVENT_DTYPE``.
            instruments: The engine's instrument ids to their symbol, tick and lot sizes; events of an
                unknown id count under ``symbol="unknown"``.
        """
        for ev in events:
            kind = int(ev["kind"])
            if kind not in (EventKind.ORDER_FILLED, EventKind.ORDER_REJECTED, EventKind.ORDER_DENIED):
                continue
            inst = instruments.get(int(ev["instrument"]))
            symbol = inst.symbol if inst is not None else "unknown"
            if kind == EventKind.ORDER_FILLED:
                side = {0: "buy", 1: "sell"}.get(int(ev["side"]), "unknown")
                self.fills.labels(symbol, side).inc()
                if inst is not None:
                    self.fill_quantity.labels(symbol, side).inc(int(ev["qty"]) * inst.lot)
            elif kind == EventKind.ORDER_REJECTED:
                self.rejects.labels(symbol, "venue", str(int(ev["aux"]))).inc()
            else:
                code = int(ev["aux"])
                self.rejects.labels(symbol, "risk", DENY_REASONS.get(code, f"code_{code}")).inc()

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the series depend on the status read at scrape time."""
        return []

    def collect(self) -> Iterable[Metric]:
        """The status-derived families (the event counters are collected as ordinary metrics)."""
        with self._lock:
            status = self._status
        if status is None:
            return
        yield from _status_families(status, set_vpin=self._set_vpin)


def _status_families(status: Mapping[str, Any], *, set_vpin: bool) -> Iterable[Metric]:
    orders = CounterMetricFamily(
        "pymm_orders", "Orders by outcome, engine counters.", labels=["symbol", "state"]
    )
    open_orders = GaugeMetricFamily(
        "pymm_orders_open", "Orders working or of unknown fate.", labels=["symbol", "state"]
    )
    position = GaugeMetricFamily("pymm_position", "Position, base units.", labels=["symbol"])
    avg_price = GaugeMetricFamily("pymm_position_avg_price", "Average entry price.", labels=["symbol"])
    pnl = GaugeMetricFamily("pymm_pnl", "PnL in quote currency.", labels=["symbol", "component"])
    limit = GaugeMetricFamily("pymm_risk_position_limit", "Position limit, base units.", labels=["symbol"])
    headroom = GaugeMetricFamily(
        "pymm_risk_headroom",
        "Quantity that may still be bought or sold, base units.",
        labels=["symbol", "side"],
    )
    n_open = GaugeMetricFamily("pymm_risk_open_orders", "Open orders counted by risk.", labels=["symbol"])
    max_open = GaugeMetricFamily("pymm_risk_max_open_orders", "Open-order limit.", labels=["symbol"])
    book = GaugeMetricFamily("pymm_book_price", "Book top.", labels=["symbol", "side"])
    vpin = GaugeMetricFamily(
        "pymm_toxicity_vpin_ratio", "VPIN over the last n volume buckets.", labels=["symbol"]
    )
    markout = GaugeMetricFamily(
        "pymm_fill_markout_bps", "Mean markout of recent fills, basis points.", labels=["symbol", "horizon"]
    )
    instruments = [i for i in status.get("instruments") or [] if isinstance(i, Mapping)]
    for inst in instruments:
        sym = str(inst.get("symbol", "unknown"))

        def put(family: GaugeMetricFamily | CounterMetricFamily, labels: list[str], value: Any) -> None:
            v = _number(value)
            if v is not None:
                family.add_metric(labels, v)

        o = inst.get("orders") or {}
        for state in _ORDER_COUNTERS:
            put(orders, [sym, state], o.get(state))
        for state in _ORDER_GAUGES:
            put(open_orders, [sym, state], o.get(state))
        put(position, [sym], inst.get("position"))
        put(avg_price, [sym], inst.get("avg_price"))
        p = inst.get("pnl") or {}
        for part in _PNL_PARTS:
            put(pnl, [sym, part], p.get(part))
        risk = inst.get("risk") or {}
        put(limit, [sym], risk.get("position_limit"))
        put(headroom, [sym, "buy"], risk.get("headroom_buy"))
        put(headroom, [sym, "sell"], risk.get("headroom_sell"))
        put(n_open, [sym], risk.get("open_orders"))
        put(max_open, [sym], risk.get("max_open_orders"))
        b = inst.get("book") or {}
        for side in ("bid", "ask", "mid"):
            put(book, [sym, side], b.get(side))
        # toxicity is per run in ADR 0005's schema; an instrument may carry its own
        tox = inst.get("toxicity") or (status.get("toxicity") if len(instruments) == 1 else None) or {}
        if set_vpin:
            put(vpin, [sym], tox.get("vpin"))
        for horizon, value in (tox.get("markouts_bps") or {}).items():
            put(markout, [sym, str(horizon)], value)
    families: list[Metric] = [
        orders,
        open_orders,
        position,
        avg_price,
        pnl,
        limit,
        headroom,
        n_open,
        max_open,
    ]
    families += [book, markout] + ([vpin] if set_vpin else [])
    kill = status.get("kill") or {}
    families.append(
        GaugeMetricFamily(
            "pymm_kill_latched", "1 while the kill switch is latched.", value=float(bool(kill.get("latched")))
        )
    )
    hedge = status.get("hedge")
    if isinstance(hedge, Mapping) and "halted" in hedge:
        families.append(
            GaugeMetricFamily(
                "pymm_hedge_halted",
                "1 while the hedge leg is halted by the kill latch (no new hedge orders).",
                value=float(hedge.get("halted") is not None),
            )
        )
    journal = (status.get("engine") or {}).get("journal")
    if isinstance(journal, Mapping):
        families.append(
            GaugeMetricFamily(
                "pymm_journal_halted",
                "1 while the engine is halted because its journal refused an input (fail closed).",
                value=float(bool(journal.get("halted"))),
            )
        )
        seq = _number(journal.get("seq"))
        if seq is not None:
            families.append(
                GaugeMetricFamily(
                    "pymm_journal_seq", "Sequence number of the last journalled input.", value=seq
                )
            )
    ts = _number(status.get("ts"))
    if ts is not None:
        families.append(
            GaugeMetricFamily("pymm_status_timestamp_seconds", "Engine status snapshot time.", value=ts / 1e9)
        )
    for name, h in sorted((status.get("latency_ns") or {}).items()):
        if not isinstance(h, Mapping) or not _NAME.match(str(name)):
            continue
        count = _number(h.get("count"))
        family = Metric(
            f"{CORE_PREFIX}_{name}_latency_seconds", f"Core latency {name} (HDR histogram).", "summary"
        )
        for q, key in ((0.5, "p50"), (0.99, "p99"), (0.999, "p999"), (1.0, "max")):
            v = _number(h.get(key))
            if v is not None and count:
                family.add_sample(family.name, {"quantile": _format_quantile(q)}, v * 1e-9)
        if count is not None:
            family.add_sample(family.name + "_count", {}, count)
            mean = _number(h.get("mean"))
            if mean is not None:
                family.add_sample(family.name + "_sum", {}, mean * count * 1e-9)
        families.append(family)
    yield from families


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
