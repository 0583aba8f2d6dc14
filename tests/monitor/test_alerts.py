"""Alert rules, their log/metric/webhook delivery, and the measured trigger-to-alert delay."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pymm.monitor.alerts import AlertEngine, MarkoutRule, Severity, VpinCdfRule, WebhookSender
from pymm.monitor.markouts import Markout
from pymm.monitor.metrics import MonitorMetrics
from pymm.monitor.toxicity import VpinMonitor, VpinUpdate

S = 1_000_000_000


class Receiver:
    """A real HTTP server on 127.0.0.1 that records POSTed JSON bodies."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: queue.Queue[dict] = queue.Queue()
        bodies, code = self.bodies, status

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                assert self.headers["Content-Type"] == "application/json"
                bodies.put(json.loads(self.rfile.read(length)))
                self.send_response(code)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def sample(metrics: MonitorMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


class StepClock:
    """Deterministic realtime clock: returns the next value each call."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)

    def __call__(self) -> int:
        return self.values.pop(0)


def up(bucket: int, cdf: float, ts: int) -> VpinUpdate:
    return VpinUpdate(bucket=bucket, vpin=0.3, cdf=cdf, ts_ns=ts, history=1000)


def test_vpin_rule_is_edge_triggered_and_measures_delay(caplog: pytest.LogCaptureFixture) -> None:
    metrics = MonitorMetrics()
    clock = StepClock(1_000_250_000, 3_000_000_000)
    engine = AlertEngine(metrics, clock=clock)
    caplog.set_level(logging.INFO, logger="pymm.monitor.alerts")
    alerts = engine.on_vpin("DOGEUSDT", [up(1, 0.5, 10), up(2, 0.93, 1 * S), up(3, 0.97, 2 * S)])
    (alert,) = alerts  # 0.93 fires, 0.97 keeps firing without a second alert
    assert (alert.rule, alert.status, alert.value, alert.threshold) == ("vpin_cdf", "firing", 0.93, 0.9)
    assert alert.ts_event_ns == 1 * S
    assert alert.delay_seconds == pytest.approx(250e-6)
    assert sample(metrics, "pymm_alerts_total", rule="vpin_cdf", severity="warning", symbol="DOGEUSDT") == 1
    assert sample(metrics, "pymm_alert_active", rule="vpin_cdf", symbol="DOGEUSDT") == 1
    assert sample(metrics, "pymm_alert_delay_seconds_count", rule="vpin_cdf") == 1
    assert sample(metrics, "pymm_alert_delay_seconds_sum", rule="vpin_cdf") == pytest.approx(250e-6)
    assert sample(metrics, "pymm_alert_delay_seconds_bucket", rule="vpin_cdf", le="0.00025") == 1
    assert sample(metrics, "pymm_alert_delay_seconds_bucket", rule="vpin_cdf", le="0.0001") == 0
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    assert "CDF(VPIN) 0.9300 > 0.9000" in warning[0].getMessage()
    # falls back below: resolved, not counted as a new alert
    (resolved,) = engine.on_vpin("DOGEUSDT", [up(4, 0.4, 3 * S)])
    assert resolved.status == "resolved"
    assert sample(metrics, "pymm_alert_active", rule="vpin_cdf", symbol="DOGEUSDT") == 0
    assert sample(metrics, "pymm_alerts_total", rule="vpin_cdf", severity="warning", symbol="DOGEUSDT") == 1


def test_vpin_rule_waits_for_history() -> None:
    rule = VpinCdfRule(min_history=250)
    short = VpinUpdate(bucket=1, vpin=0.3, cdf=1.0, ts_ns=0, history=249)
    assert not rule.condition(short).active
    assert rule.condition(VpinUpdate(bucket=2, vpin=0.3, cdf=0.95, ts_ns=0, history=250)).active


def test_symbols_alert_independently() -> None:
    metrics = MonitorMetrics()
    engine = AlertEngine(metrics, vpin_rule=VpinCdfRule(threshold=0.8, severity=Severity.CRITICAL))
    assert len(engine.on_vpin("A", [up(1, 0.85, 0)])) == 1
    assert len(engine.on_vpin("B", [up(1, 0.85, 0)])) == 1
    assert len(engine.on_vpin("A", [up(2, 0.9, 0)])) == 0
    assert sample(metrics, "pymm_alerts_total", rule="vpin_cdf", severity="critical", symbol="B") == 1


def mk(fill_id: int, bps: float, ts: int, horizon: int = 5 * S, qty: float = 1.0) -> Markout:
    markout = bps / 1e4 * 100.0
    return Markout(fill_id, horizon, qty, 1, 100.0, 100.0 + markout, 0.0, markout, -markout, ts_ns=ts)


def test_markout_rule_fires_on_size_weighted_mean() -> None:
    metrics = MonitorMetrics()
    rule = MarkoutRule(horizon_ns=5 * S, threshold_bps=-2.0, window=4, min_fills=3)
    engine = AlertEngine(metrics, markout_rules=[rule], clock=StepClock(10 * S + 5_000_000, 99 * S))
    assert rule.name == "markout_5s"
    # two fills: below threshold but fewer than min_fills
    assert engine.on_markouts("X", [mk(1, -5.0, 0), mk(2, -5.0, 1 * S)]) == []
    # other horizons are ignored
    assert engine.on_markouts("X", [mk(3, -50.0, 2 * S, horizon=1 * S)]) == []
    # third fill: mean of (-5, -5, +1·qty 2) weighted = (-5 - 5 + 2) / 4 = -2.0 -> not below -2.0
    assert engine.on_markouts("X", [mk(4, 1.0, 3 * S, qty=2.0)]) == []
    # fourth fill at -6: (-5 - 5 + 2 - 6) / 5 = -2.8 -> fires; event time = fill ts + 5 s
    (alert,) = engine.on_markouts("X", [mk(5, -6.0, 5 * S)])
    assert alert.value == pytest.approx(-2.8)
    assert alert.ts_event_ns == 10 * S
    assert alert.delay_seconds == pytest.approx(0.005)
    # window of 4 drops fill 1: (-5 + 2 - 6 + 3·qty 4=12) / 8 = 0.375 -> resolves
    (resolved,) = engine.on_markouts("X", [mk(6, 3.0, 6 * S, qty=4.0)])
    assert resolved.status == "resolved"
    assert resolved.value == pytest.approx(0.375)


def test_webhook_posts_json_to_a_real_local_server(receiver: Receiver) -> None:
    metrics = MonitorMetrics()
    sender = WebhookSender(receiver.url, metrics=metrics)
    engine = AlertEngine(metrics, webhook=sender, clock=StepClock(2 * S + 1_000, 4 * S))
    engine.on_vpin("DOGEUSDT", [up(7, 0.95, 2 * S)])
    body = receiver.bodies.get(timeout=30)
    assert body["rule"] == "vpin_cdf"
    assert body["status"] == "firing"
    assert body["symbol"] == "DOGEUSDT"
    assert body["severity"] == "warning"
    assert body["value"] == 0.95
    assert body["ts_event_ns"] == 2 * S
    assert body["delay_seconds"] == pytest.approx(1e-6)
    assert body["text"].startswith("[firing] DOGEUSDT: CDF(VPIN)")
    engine.on_vpin("DOGEUSDT", [up(8, 0.2, 3 * S)])
    assert receiver.bodies.get(timeout=30)["status"] == "resolved"
    sender.close()
    assert sample(metrics, "pymm_alert_webhook_requests_total", outcome="ok") == 2
    assert sample(metrics, "pymm_alert_webhook_delivery_seconds_count") == 2


def test_webhook_failures_are_counted_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    metrics = MonitorMetrics()
    failing = Receiver(status=500)
    try:
        sender = WebhookSender(failing.url, metrics=metrics, timeout_s=5.0)
        engine = AlertEngine(metrics, webhook=sender)
        engine.on_vpin("X", [up(1, 0.99, 0)])
        sender.flush()
        assert failing.bodies.get(timeout=30)["rule"] == "vpin_cdf"
    finally:
        failing.close()
    # a closed port: connection refused
    engine.webhook = WebhookSender(failing.url, metrics=metrics, timeout_s=5.0)
    engine.on_vpin("X", [up(2, 0.1, 0)])
    engine.webhook.close()
    sender.close()
    assert sample(metrics, "pymm_alert_webhook_requests_total", outcome="error") == 2
    assert "alert webhook POST" in caplog.text


def test_risk_event_alert_reaches_log_metrics_and_webhook(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = MonitorMetrics()
    sender = WebhookSender(receiver.url, metrics=metrics)
    engine = AlertEngine(metrics, webhook=sender, clock=StepClock(7 * S + 3_000_000))
    alert = engine.on_event("kill_latched", "*", "kill switch latched by risk server", 7 * S, value=1.0)
    assert alert.severity is Severity.CRITICAL
    assert alert.delay_seconds == pytest.approx(0.003)
    assert sample(metrics, "pymm_alerts_total", rule="kill_latched", severity="critical", symbol="*") == 1
    assert sample(metrics, "pymm_alert_delay_seconds_sum", rule="kill_latched") == pytest.approx(0.003)
    body = receiver.bodies.get(timeout=30)
    assert (body["rule"], body["severity"], body["value"]) == ("kill_latched", "critical", 1.0)
    assert body["threshold"] is None  # strict JSON: no NaN on the wire
    assert "kill switch latched" in caplog.text
    sender.close()


def test_webhook_rejects_non_http_url() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookSender("file:///etc/passwd")


def test_delay_from_trade_to_alert_through_the_vpin_pipeline() -> None:
    # A trade stamped t completes the bucket whose VPIN CDF crosses 0.9; the alert's delay is the
    # injected clock minus t, exactly.
    metrics = MonitorMetrics()
    mon = VpinMonitor(10.0, bar_ns=None, sample_length=2, sigma=1.0)
    clock = StepClock(*(5 * S + k * 1_000 for k in range(100)))
    engine = AlertEngine(metrics, vpin_rule=VpinCdfRule(min_history=10), clock=clock)
    alerts = []
    t = 0
    # balanced flat flow for a while, then a one-way rally: VPIN rises to a new high -> CDF = 1
    prices = [100.0] * 40 + [100.0 + 3 * k for k in range(1, 20)]
    for price in prices:
        t += 100_000_000
        alerts += engine.on_vpin("X", mon.on_trade(t, price, 5.0))
    first = alerts[0]
    assert first.status == "firing"
    assert first.ts_event_ns > 40 * 100_000_000  # triggered by a rally trade
    assert first.delay_seconds == pytest.approx((5 * S - first.ts_event_ns) / 1e9)
