"""One instrument's live monitor: the glue between the engine's events, the models, metrics and alerts.

Market trades feed VPIN; our fills and the mid feed markouts; every update lands in the metrics and
passes the alert rules. The engine's event reader calls these methods in event order; a timer calls
:meth:`SymbolMonitor.on_timer` so a bar or a markout horizon closes even when the market is quiet.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymm.monitor.alerts import Alert, AlertEngine
from pymm.monitor.markouts import DEFAULT_HORIZONS_NS, Fill, Markout, MarkoutTracker
from pymm.monitor.metrics import MonitorMetrics
from pymm.monitor.toxicity import VpinMonitor, VpinUpdate

__all__ = ["SymbolMonitor"]


class SymbolMonitor:
    """VPIN and markouts of one symbol, reported to metrics and alert rules.

    Args:
        symbol: Instrument name (the ``symbol`` label).
        metrics: Metrics to update.
        alerts: Alert engine (shares ``metrics``).
        bucket_volume: VPIN bucket size ``V``.
        bar_ns: BVC bar length (``None``: every trade is a bar).
        sample_length: VPIN window ``n``.
        sigma: Fixed sigma for BVC (``None``: estimated from past changes).
        horizons_ns: Markout horizons.
    """

    def __init__(
        self,
        symbol: str,
        *,
        metrics: MonitorMetrics,
        alerts: AlertEngine,
        bucket_volume: float,
        bar_ns: int | None = 60_000_000_000,
        sample_length: int = 50,
        sigma: float | None = None,
        horizons_ns: Sequence[int] = DEFAULT_HORIZONS_NS,
    ) -> None:
        self.symbol = symbol
        self.metrics = metrics
        self.alerts = alerts
        self.vpin = VpinMonitor(bucket_volume, bar_ns=bar_ns, sample_length=sample_length, sigma=sigma)
        self.markouts = MarkoutTracker(horizons_ns)
        self.last_vpin: VpinUpdate | None = None

    def on_trade(self, ts_ns: int, price: float, qty: float) -> list[Alert]:
        """A market trade (``ts_ns`` = our receive time, realtime ns)."""
        return self._vpin(self.vpin.on_trade(ts_ns, price, qty))

    def on_mid(self, ts_ns: int, mid: float) -> list[Alert]:
        """A new mid from the top of book."""
        return self._markouts(self.markouts.on_mid(ts_ns, mid))

    def on_fill(self, fill: Fill) -> None:
        """One of our fills."""
        self.markouts.on_fill(fill)

    def on_timer(self, now_ns: int) -> list[Alert]:
        """Close a finished bar and resolve markout horizons that ended before ``now_ns``."""
        return self._vpin(self.vpin.on_timer(now_ns)) + self._markouts(self.markouts.advance(now_ns))

    def _vpin(self, updates: list[VpinUpdate]) -> list[Alert]:
        if not updates:
            return []
        for update in updates:
            self.metrics.observe_vpin(self.symbol, update)
        self.last_vpin = updates[-1]
        return self.alerts.on_vpin(self.symbol, updates)

    def _markouts(self, markouts: list[Markout]) -> list[Alert]:
        if not markouts:
            return []
        self.metrics.observe_markouts(self.symbol, markouts)
        return self.alerts.on_markouts(self.symbol, markouts)
