"""The Grafana dashboard and the alert rules use only metric names that pymm.monitor.metrics defines."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pymm.monitor.metrics import CORE_PREFIX, MonitorMetrics, TradingMetrics
from tests.monitor.test_trading_metrics import STATUS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "monitoring"
NAME = re.compile(r"\bpymm_[a-z0-9_]+")


def referenced(text: str) -> set[str]:
    return set(NAME.findall(text))


def trading_names() -> set[str]:
    """The engine's status-derived series (``TradingMetrics``) for a full status."""
    m = TradingMetrics()
    m.update_from_status(STATUS)
    return {s.name for f in m.registry.collect() for s in f.samples}


def undefined(names: set[str]) -> set[str]:
    defined = MonitorMetrics().exposed_names() | trading_names()
    # the core's names are dynamic (one per core counter / histogram) and live under their own prefix
    return {n for n in names if n not in defined and not n.startswith(CORE_PREFIX + "_")}


def test_name_check_catches_a_typo() -> None:
    assert undefined({"pymm_toxicity_vpin_ratio", "pymm_toxicity_vpin"}) == {"pymm_toxicity_vpin"}


def test_grafana_dashboard_is_valid_and_uses_defined_names() -> None:
    dash = json.loads((DOCS / "grafana-dashboard.json").read_text())
    assert dash["uid"] == "pymm-monitor"
    assert isinstance(dash["schemaVersion"], int)
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    exprs = [t["expr"] for p in panels if p["type"] != "row" for t in p["targets"]]
    assert exprs, "dashboard has no queries"
    for p in panels:
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["targets"], p["title"]
            assert p["datasource"]["uid"] == "${datasource}"
    names = referenced("\n".join(exprs))
    assert names
    assert undefined(names) == set()
    # every monitor family (not the alert plumbing only) shows up somewhere on the dashboard
    families = {n.removesuffix("_total").removesuffix("_bucket") for n in names}
    for needed in (
        "pymm_toxicity_vpin_ratio",
        "pymm_fill_markout_ratio",
        "pymm_quality_score",
        "pymm_alert_delay_seconds",
    ):
        assert needed in families


def test_alert_rules_use_defined_names() -> None:
    text = (DOCS / "alerts.rules.yml").read_text()
    names = referenced(text)
    assert "pymm_toxicity_vpin_cdf_ratio" in names
    assert undefined(names) == set()


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        reason = "promtool not installed (Debian package 'prometheus'); rules not validated"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: scripts/install-system-packages should have installed it")
        pytest.skip(reason)
    check = subprocess.run(
        [promtool, "check", "rules", "alerts.rules.yml"],
        cwd=DOCS,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        [promtool, "test", "rules", "alerts.rules.test.yml"],
        cwd=DOCS,
        capture_output=True,
        text=True,
        check=False,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
