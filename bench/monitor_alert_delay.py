"""Measure the delay from a triggering trade to its toxicity alert, through the real monitor path.

Each trade is stamped with ``time.time_ns()`` as it "arrives", goes through ``VpinMonitor`` (tick-level
BVC) and ``AlertEngine``; the alert's delay is emission time minus that stamp, the quantity the
``pymm_alert_delay_seconds`` histogram records. Regimes alternate between balanced flow and one-way
rallies so the VPIN CDF rule fires and resolves many times.

    python bench/monitor_alert_delay.py [--alerts 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pymm.monitor.alerts import AlertEngine, VpinCdfRule
from pymm.monitor.metrics import MonitorMetrics
from pymm.monitor.toxicity import VpinMonitor


def run(n_alerts: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    metrics = MonitorMetrics()
    monitor = VpinMonitor(50.0, bar_ns=None, sample_length=50, sigma=1.0)
    engine = AlertEngine(metrics, vpin_rule=VpinCdfRule(min_history=250))
    delays: list[float] = []
    price = 1000.0
    trades = 0
    while len(delays) < n_alerts and trades < 50_000_000:
        # balanced regime, then a rally or a sell-off
        for regime_len, drift in ((int(rng.integers(2000, 6000)), 0.0), (int(rng.integers(300, 900)), 1.5)):
            sign = 1.0 if rng.random() < 0.5 else -1.0
            for _ in range(regime_len):
                price += sign * drift + rng.normal(0.0, 1.0)
                qty = float(rng.integers(1, 10))
                ts = time.time_ns()
                alerts = engine.on_vpin("BENCH", monitor.on_trade(ts, price, qty))
                trades += 1
                delays += [a.delay_seconds for a in alerts if a.status == "firing"]
    d = np.array(delays)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return {
        "bench": "monitor_alert_delay",
        "commit": commit.stdout.strip(),
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "trades": trades,
        "count": int(d.size),
        "p50_us": float(np.percentile(d, 50) * 1e6),
        "p99_us": float(np.percentile(d, 99) * 1e6),
        "p99_9_us": float(np.percentile(d, 99.9) * 1e6),
        "max_us": float(d.max() * 1e6),
        "histogram_count": metrics.registry.get_sample_value(
            "pymm_alert_delay_seconds_count", {"rule": "vpin_cdf"}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200, help="firing alerts to measure")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    # alerts are emitted when written to the log: keep the handler real (stderr; redirect it to a file)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    result = run(args.alerts, args.seed)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
