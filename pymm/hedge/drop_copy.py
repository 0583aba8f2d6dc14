"""The drop copy: the venues' user-data streams as an independent record of our fills and positions.

A :class:`DropCopyCollector` takes user-stream events that a venue connector has already decoded into
mappings (the JSON objects of binance_protocol.md §1.13 and §3.7; this module parses no text) and keeps

- every execution they report, as :class:`~pymm.hedge.delta_bus.Fill` s: spot ``executionReport`` with
  ``x == "TRADE"``; USD-M ``ORDER_TRADE_UPDATE`` with ``o.x`` ``TRADE`` or ``CALCULATED`` (a
  liquidation, which we never sent and must still see);
- the venue's own position of each key: USD-M ``ACCOUNT_UPDATE`` ``a.P[].pa`` for ``ps == "BOTH"``, at the
  event's transaction time ``T``; spot ``outboundAccountPosition`` free + locked of the base asset, at
  its ``u``.

:meth:`DropCopyCollector.snapshot` turns that into a
:class:`~pymm.hedge.position_book.DropCopySnapshot` for :meth:`PositionBook.reconcile
<pymm.hedge.position_book.PositionBook.reconcile>`, each position compared at its own venue time. Numbers
stay exact (``Decimal`` from the venue's text); venue milliseconds become nanoseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pymm.hedge.delta_bus import Fill, Market, Side
from pymm.hedge.position_book import DropCopySnapshot, PositionKey

__all__ = ["DropCopyCollector", "fill_from_execution_report", "fill_from_order_trade_update"]

NS_PER_MS = 1_000_000


def fill_from_execution_report(
    event: Mapping[str, Any], *, venue: str, base_asset: str, ts_recv: int
) -> Fill | None:
    """A spot ``executionReport`` → a fill (``None`` unless ``x == "TRADE"``).

    The commission ``n`` counts as ``fee_base`` when its asset ``N`` is the base asset.
    """
    if event.get("e") != "executionReport" or event.get("x") != "TRADE":
        return None
    fee = Decimal(str(event.get("n") or "0")) if event.get("N") == base_asset else Decimal(0)
    return Fill(
        venue=venue,
        market=Market.SPOT,
        symbol=str(event["s"]),
        base_asset=base_asset,
        side=Side(event["S"]),
        qty=Decimal(str(event["l"])),
        price=Decimal(str(event["L"])),
        trade_id=str(event["t"]),
        ts_event=int(event["T"]) * NS_PER_MS,
        ts_recv=ts_recv,
        client_order_id=str(event["c"]) if event.get("c") else None,
        fee_base=fee,
    )


def fill_from_order_trade_update(
    event: Mapping[str, Any], *, venue: str, base_asset: str, ts_recv: int
) -> Fill | None:
    """A USD-M ``ORDER_TRADE_UPDATE`` → a fill (``None`` unless ``o.x`` is ``TRADE`` or ``CALCULATED``)."""
    if event.get("e") != "ORDER_TRADE_UPDATE":
        return None
    o = event["o"]
    if o.get("x") not in ("TRADE", "CALCULATED"):
        return None
    return Fill(
        venue=venue,
        market=Market.USDM,
        symbol=str(o["s"]),
        base_asset=base_asset,
        side=Side(o["S"]),
        qty=Decimal(str(o["l"])),
        price=Decimal(str(o["L"])),
        trade_id=str(o["t"]),
        ts_event=int(o["T"]) * NS_PER_MS,
        ts_recv=ts_recv,
        client_order_id=str(o["c"]) if o.get("c") else None,
    )


class DropCopyCollector:
    """Collects one route's drop copy from the spot and USD-M user streams."""

    def __init__(self, spot: PositionKey, perp: PositionKey, base_asset: str) -> None:
        """Watch ``spot`` (balance of ``base_asset``) and ``perp`` (one-way position)."""
        if spot.market is not Market.SPOT or perp.market is not Market.USDM:
            raise ValueError(f"need a spot and a usdm key, got {spot} and {perp}")
        self.spot = spot
        self.perp = perp
        self.base_asset = base_asset
        self.fills: list[Fill] = []
        self._positions: dict[PositionKey, Decimal] = {}
        self._position_ts: dict[PositionKey, int] = {}
        self.ignored = 0
        """Events of other kinds or symbols."""

    def on_spot_event(self, event: Mapping[str, Any], ts_recv: int) -> Fill | None:
        """One spot user-stream event; returns the fill it reported, if any."""
        kind = event.get("e")
        if kind == "executionReport" and event.get("s") == self.spot.symbol:
            f = fill_from_execution_report(
                event, venue=self.spot.venue, base_asset=self.base_asset, ts_recv=ts_recv
            )
            if f is not None:
                self.fills.append(f)
            return f
        if kind == "outboundAccountPosition":
            for bal in event.get("B", ()):
                if bal.get("a") == self.base_asset:
                    self._set(self.spot, Decimal(str(bal["f"])) + Decimal(str(bal["l"])), int(event["u"]))
            return None
        self.ignored += 1
        return None

    def on_usdm_event(self, event: Mapping[str, Any], ts_recv: int) -> Fill | None:
        """One USD-M user-stream event; returns the fill it reported, if any."""
        kind = event.get("e")
        if kind == "ORDER_TRADE_UPDATE" and event.get("o", {}).get("s") == self.perp.symbol:
            f = fill_from_order_trade_update(
                event, venue=self.perp.venue, base_asset=self.base_asset, ts_recv=ts_recv
            )
            if f is not None:
                self.fills.append(f)
            return f
        if kind == "ACCOUNT_UPDATE":
            for p in event.get("a", {}).get("P", ()):
                if p.get("s") == self.perp.symbol and p.get("ps", "BOTH") == "BOTH":
                    self._set(self.perp, Decimal(str(p["pa"])), int(event["T"]))
            return None
        self.ignored += 1
        return None

    def _set(self, key: PositionKey, qty: Decimal, ts_ms: int) -> None:
        ts = ts_ms * NS_PER_MS
        if ts >= self._position_ts.get(key, -1):  # within a connection events arrive in order
            self._positions[key] = qty
            self._position_ts[key] = ts

    def snapshot(self, *, clear_fills: bool = True) -> DropCopySnapshot:
        """The venue's view so far: the latest position per key (each at its own time) and the fills.

        Args:
            clear_fills: start the next snapshot's fill list empty (positions are kept: a user stream
                reports a position only when it changes).
        """
        ts = max(self._position_ts.values(), default=0)
        fills = list(self.fills)
        if clear_fills:
            self.fills = []
        return DropCopySnapshot(
            ts_event=ts,
            positions=dict(self._positions),
            fills=fills,
            position_ts=dict(self._position_ts),
        )
