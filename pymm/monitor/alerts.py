"""Toxicity alerts: rules evaluated in Python, delivered to the log, the metrics and a webhook.

Rules (edge-triggered per symbol: an alert fires when its condition becomes true and resolves when it
becomes false again, so a sustained condition is one alert, not one per update):

* :class:`VpinCdfRule` - ``CDF(VPIN) > threshold`` (0.9, as in Easley, López de Prado & O'Hara 2012);
* :class:`MarkoutRule` - the size-weighted mean markout of the last ``window`` fills at one horizon is
  below ``threshold_bps`` (we are being picked off), once at least ``min_fills`` are known.

Each alert goes, in this order, to the log (logger ``pymm.monitor.alerts``, level WARNING, one line;
this is the moment of emission), the metrics (``pymm_alerts_total``, ``pymm_alert_active``,
``pymm_alert_delay_seconds``) and, if a :class:`WebhookSender` is configured, a JSON POST made from a
background thread so a slow receiver never delays the monitor.

Delay. ``delay = emission time - ts of the triggering event``: for VPIN the trade (or bar close) whose
processing completed the bucket; for markouts the end of the horizon (``fill ts + horizon``), since
nothing can be known before it. Both must be realtime nanoseconds (``ts_recv`` is the honest choice: a
venue ``ts_event`` adds the venue-to-us clock offset). The emission time comes from ``clock``
(``time.time_ns`` unless injected). The histogram records ``max(delay, 0)``; the alert keeps the signed
value.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from pymm.monitor.markouts import Markout
from pymm.monitor.metrics import MonitorMetrics, format_horizon
from pymm.monitor.toxicity import VpinUpdate

__all__ = [
    "Alert",
    "AlertEngine",
    "MarkoutRule",
    "Severity",
    "VpinCdfRule",
    "WebhookSender",
]

log = logging.getLogger("pymm.monitor.alerts")


class Severity(StrEnum):
    """How urgent an alert is."""

    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Alert:
    """One emitted alert.

    Attributes:
        rule: Rule name (``vpin_cdf``, ``markout_1s``, ...).
        severity: Severity.
        symbol: Instrument.
        status: ``firing`` or ``resolved``.
        value: The value that crossed the threshold.
        threshold: The threshold.
        message: One human-readable line.
        ts_event_ns: Realtime timestamp of the triggering event.
        ts_emit_ns: Realtime timestamp of the emission.
    """

    rule: str
    severity: Severity
    symbol: str
    status: str
    value: float
    threshold: float
    message: str
    ts_event_ns: int
    ts_emit_ns: int

    @property
    def delay_seconds(self) -> float:
        """Emission time minus event time, in seconds (signed)."""
        return (self.ts_emit_ns - self.ts_event_ns) / 1e9

    def to_json(self) -> dict[str, Any]:
        """The webhook body (strict JSON: NaN becomes null); ``text`` suits Slack/Mattermost receivers."""
        body = asdict(self)
        for key in ("value", "threshold"):
            if not math.isfinite(body[key]):
                body[key] = None
        body["severity"] = str(self.severity)
        body["delay_seconds"] = self.delay_seconds
        body["text"] = f"[{self.status}] {self.message}"
        return body


@dataclass(frozen=True)
class _Condition:
    active: bool
    value: float
    ts_event_ns: int


@dataclass
class VpinCdfRule:
    """Fires while ``CDF(VPIN) > threshold``, once the CDF ranks against at least ``min_history`` values.

    Attributes:
        threshold: CDF level (the paper's 0.9).
        min_history: VPIN values needed before the CDF is trusted (the first value always has CDF 1).
        severity: Severity of the alert.
        name: Rule name.
    """

    threshold: float = 0.9
    min_history: int = 250
    severity: Severity = Severity.WARNING
    name: str = "vpin_cdf"

    def condition(self, update: VpinUpdate) -> _Condition:
        """Evaluate one update."""
        active = update.cdf > self.threshold and update.history >= self.min_history
        return _Condition(active, update.cdf, update.ts_ns)

    def describe(self, symbol: str, value: float) -> str:
        """The alert line."""
        return f"{symbol}: CDF(VPIN) {value:.4f} > {self.threshold:.4f} (toxic order flow)"


@dataclass
class MarkoutRule:
    """Fires while the mean markout of the last ``window`` fills at ``horizon_ns`` is below a threshold.

    Attributes:
        horizon_ns: The markout horizon this rule watches.
        threshold_bps: Alert below this size-weighted mean markout, in bps (e.g. -2.0).
        window: Number of most recent fills averaged.
        min_fills: Fills needed before the rule can fire.
        severity: Severity of the alert.
    """

    horizon_ns: int = 5_000_000_000
    threshold_bps: float = -2.0
    window: int = 50
    min_fills: int = 10
    severity: Severity = Severity.WARNING
    _recent: dict[str, deque[Markout]] = field(default_factory=dict, init=False, repr=False)

    @property
    def name(self) -> str:
        """``markout_<horizon>``."""
        return f"markout_{format_horizon(self.horizon_ns)}"

    def condition(self, symbol: str, markouts: Sequence[Markout]) -> _Condition | None:
        """Add markouts; evaluate if any at this rule's horizon arrived."""
        recent = self._recent.setdefault(symbol, deque(maxlen=self.window))
        mine = [m for m in markouts if m.horizon_ns == self.horizon_ns and math.isfinite(m.markout_bps)]
        if not mine:
            return None
        recent.extend(mine)
        qty = sum(m.qty for m in recent)
        mean = sum(m.qty * m.markout_bps for m in recent) / qty if qty > 0 else math.nan
        active = len(recent) >= self.min_fills and mean < self.threshold_bps
        return _Condition(active, mean, mine[-1].ts_ns + self.horizon_ns)

    def describe(self, symbol: str, value: float) -> str:
        """The alert line."""
        return (
            f"{symbol}: mean {format_horizon(self.horizon_ns)} markout {value:.2f} bps "
            f"< {self.threshold_bps:.2f} bps (adverse selection)"
        )


class WebhookSender:
    """POSTs alerts as JSON from a background thread (urllib; no retries, failures are counted).

    Args:
        url: The receiver.
        metrics: Where ``pymm_alert_webhook_requests_total{outcome}`` is counted.
        timeout_s: Per-request timeout.
        max_queue: Alerts waiting beyond this are dropped (counted as ``dropped``).
        clock: Realtime clock in nanoseconds, for ``pymm_alert_webhook_delivery_seconds``.
    """

    def __init__(
        self,
        url: str,
        *,
        metrics: MonitorMetrics | None = None,
        timeout_s: float = 2.0,
        max_queue: int = 1000,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s), got {url!r}")
        self.url = url
        self._metrics = metrics
        self._timeout = timeout_s
        self._clock = clock
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="pymm-alert-webhook", daemon=True)
        self._thread.start()

    def submit(self, alert: Alert) -> None:
        """Queue an alert for delivery (never blocks)."""
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self._count("dropped")
            log.error("alert webhook queue full, dropped %s", alert.rule)

    def flush(self) -> None:
        """Wait until every queued alert has been attempted."""
        self._queue.join()

    def close(self) -> None:
        """Deliver what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.webhook_requests.labels(outcome).inc()

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                if alert is None:
                    return
                self._post(alert)
            finally:
                self._queue.task_done()

    def _post(self, alert: Alert) -> None:
        body = json.dumps(alert.to_json(), allow_nan=False).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as resp:
                resp.read()
            self._count("ok")
            if self._metrics is not None:
                delivered = (self._clock() - alert.ts_emit_ns) / 1e9
                self._metrics.webhook_delivery.observe(max(delivered, 0.0))
        except (urllib.error.URLError, OSError) as e:
            self._count("error")
            log.error("alert webhook POST to %s failed: %s", self.url, e)


class AlertEngine:
    """Evaluates the rules on monitor outputs and emits alerts.

    Args:
        metrics: Metrics to update (alerts, active flags, delay histogram).
        vpin_rule: The VPIN rule (``None`` disables it).
        markout_rules: Markout rules, one per watched horizon.
        webhook: Optional webhook sender.
        clock: Realtime clock in nanoseconds.
    """

    def __init__(
        self,
        metrics: MonitorMetrics,
        *,
        vpin_rule: VpinCdfRule | None = None,
        markout_rules: Sequence[MarkoutRule] = (),
        webhook: WebhookSender | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.metrics = metrics
        self.vpin_rule = vpin_rule if vpin_rule is not None else VpinCdfRule()
        self.markout_rules = list(markout_rules)
        self.webhook = webhook
        self._clock = clock
        self._active: set[tuple[str, str]] = set()

    def on_vpin(self, symbol: str, updates: Sequence[VpinUpdate]) -> list[Alert]:
        """Evaluate VPIN updates (in order); return the alerts emitted."""
        out: list[Alert] = []
        for update in updates:
            cond = self.vpin_rule.condition(update)
            alert = self._transition(
                symbol, self.vpin_rule.name, self.vpin_rule.severity, cond, self.vpin_rule
            )
            if alert is not None:
                out.append(alert)
        return out

    def on_markouts(self, symbol: str, markouts: Sequence[Markout]) -> list[Alert]:
        """Evaluate newly resolved markouts; return the alerts emitted."""
        out: list[Alert] = []
        for rule in self.markout_rules:
            cond = rule.condition(symbol, markouts)
            if cond is None:
                continue
            alert = self._transition(symbol, rule.name, rule.severity, cond, rule)
            if alert is not None:
                out.append(alert)
        return out

    def on_event(
        self,
        rule: str,
        symbol: str,
        message: str,
        ts_event_ns: int,
        *,
        severity: Severity = Severity.CRITICAL,
        value: float = math.nan,
        threshold: float = math.nan,
    ) -> Alert:
        """Emit a one-shot alert for a discrete event, e.g. a risk event from the core.

        Risk decisions stay in the core (a limit is checked in one place); this only carries the core's
        risk alerts (kill latched, limit breached, reconciliation break) to the same log, metrics and
        webhook as the toxicity alerts, with the same delay measurement.

        Args:
            rule: Rule or event name, snake_case (``kill_latched``, ``position_limit``).
            symbol: Instrument, or ``*`` for firm-wide events.
            message: One line for humans.
            ts_event_ns: Realtime timestamp of the event.
            severity: Severity (critical unless told).
            value: The offending value, if any.
            threshold: The limit, if any.

        Returns:
            The emitted alert.
        """
        return self._emit(rule, symbol, severity, "firing", value, threshold, message, ts_event_ns)

    def _transition(
        self, symbol: str, name: str, severity: Severity, cond: _Condition, rule: VpinCdfRule | MarkoutRule
    ) -> Alert | None:
        key = (symbol, name)
        was = key in self._active
        if cond.active == was:
            return None
        threshold = rule.threshold if isinstance(rule, VpinCdfRule) else rule.threshold_bps
        message = rule.describe(symbol, cond.value)
        if cond.active:
            self._active.add(key)
        else:
            self._active.discard(key)
        status = "firing" if cond.active else "resolved"
        alert = self._emit(name, symbol, severity, status, cond.value, threshold, message, cond.ts_event_ns)
        self.metrics.alert_active.labels(name, symbol).set(1.0 if cond.active else 0.0)
        return alert

    def _emit(
        self,
        name: str,
        symbol: str,
        severity: Severity,
        status: str,
        value: float,
        threshold: float,
        message: str,
        ts_event_ns: int,
    ) -> Alert:
        firing = status == "firing"
        if firing:
            log.warning("ALERT %s %s (event ts %d)", name, message, ts_event_ns)
        else:
            log.info("resolved %s %s", name, message)
        # emitted = written to the log; the delay includes the decision and the log write
        alert = Alert(
            rule=name,
            severity=severity,
            symbol=symbol,
            status=status,
            value=value,
            threshold=threshold,
            message=message,
            ts_event_ns=ts_event_ns,
            ts_emit_ns=self._clock(),
        )
        if firing:
            self.metrics.alerts.labels(name, str(severity), symbol).inc()
            self.metrics.alert_delay.labels(name).observe(max(alert.delay_seconds, 0.0))
        if self.webhook is not None:
            self.webhook.submit(alert)
        return alert
