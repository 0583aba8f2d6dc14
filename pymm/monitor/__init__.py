"""Monitoring: order-flow toxicity (VPIN), markouts, quote quality, metrics and alerts.

Pure Python over numpy; it reads the engine's events and never sits on the hot path. Definitions and
formulas: ``docs/monitoring/README.md``.
"""

from __future__ import annotations

from pymm.monitor.alerts import Alert, AlertEngine, MarkoutRule, Severity, VpinCdfRule, WebhookSender
from pymm.monitor.markouts import Fill, Markout, MarkoutTable, MarkoutTracker, compute_markouts
from pymm.monitor.metrics import (
    CoreCollector,
    CoreStatsSource,
    Exporter,
    LatencySnapshot,
    MonitorMetrics,
    start_exporter,
)
from pymm.monitor.quality import QualityConfig, QualityReport, StepSeries, TopSeries, compute_quality
from pymm.monitor.symbol_monitor import SymbolMonitor
from pymm.monitor.toxicity import VpinEstimator, VpinMonitor, VpinResult, VpinUpdate, vpin_from_bars

__all__ = [
    "Alert",
    "AlertEngine",
    "CoreCollector",
    "CoreStatsSource",
    "Exporter",
    "Fill",
    "LatencySnapshot",
    "Markout",
    "MarkoutRule",
    "MarkoutTable",
    "MarkoutTracker",
    "MonitorMetrics",
    "QualityConfig",
    "QualityReport",
    "Severity",
    "StepSeries",
    "SymbolMonitor",
    "TopSeries",
    "VpinCdfRule",
    "VpinEstimator",
    "VpinMonitor",
    "VpinResult",
    "VpinUpdate",
    "WebhookSender",
    "compute_markouts",
    "compute_quality",
    "start_exporter",
    "vpin_from_bars",
]
