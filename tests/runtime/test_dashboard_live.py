"""Issue #8's checks during a real `pymm start` run: the dashboard on the control API fills every chart in
headless Chromium, and the exporter on 127.0.0.1 shows the order, fill, position, PnL, VPIN and latency
series."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.monitor.chromium import chromium_or_skip, open_page
from tests.runtime.conftest import Running

CHARTS = ("book", "inventory", "pnl", "vpin", "markouts", "latency")
READY_POINTS = 20


def test_dashboard_and_metrics_during_pymm_start(pymm_instance: Running, tmp_path: Path) -> None:
    r = pymm_instance
    r.wait_until("fills", lambda s: s["instruments"][0]["fills"] > 0, 60.0)
    info = r.run_info()
    assert info["metrics_url"].startswith("http://127.0.0.1:"), info
    with urllib.request.urlopen(info["metrics_url"], timeout=10) as resp:
        text = resp.read().decode()
    for series in (
        "pymm_orders_total",
        "pymm_fills_total",
        "pymm_position",
        "pymm_pnl",
        "pymm_toxicity_vpin_ratio",
        "pymm_core_tick_to_trade_latency_seconds",
    ):
        assert series in text, series

    chromium_or_skip()
    shot = tmp_path / "dashboard.png"

    async def drive() -> dict[str, Any]:
        async with open_page(f"{info['control_url']}/?ready={READY_POINTS}") as page:
            ready = await page.wait_for("document.body && document.body.dataset.ready === 'true'", 120)
            points = await page.evaluate(
                "Object.fromEntries([...document.querySelectorAll('[data-points]')]"
                ".map(e => [e.id, Number(e.dataset.points)]))"
            )
            return {
                "ready": ready,
                "points": points,
                "errors": list(page.errors),
                "png": await page.screenshot(shot, width=1400),
            }

    out = asyncio.run(drive())
    assert out["ready"], json.dumps([out["points"], out["errors"]])
    for chart in CHARTS:
        assert out["points"][f"chart-{chart}"] >= READY_POINTS, out["points"]
    assert not [e for e in out["errors"] if not e.endswith("/api/status")], out["errors"]
    assert shot.stat().st_size > 20_000
