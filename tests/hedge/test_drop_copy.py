"""Drop copy: Binance user-stream events (decoded mappings) → fills and venue positions → reconciliation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pymm.hedge import (
    BreakKind,
    DropCopyCollector,
    Market,
    PositionBook,
    PositionKey,
    Side,
    fill_from_execution_report,
    fill_from_order_trade_update,
)
from tests.hedge.conftest import PERP_VENUE, SPOT_VENUE

D = Decimal
SPOT = PositionKey(SPOT_VENUE, Market.SPOT, "DOGEUSDT")
PERP = PositionKey(PERP_VENUE, Market.USDM, "DOGEUSDT")
MS = 1_000_000


def execution_report(
    x: str, side: str, qty: str, price: str, t: int, ts_ms: int, fee_asset: str = "USDT", fee: str = "0"
) -> dict[str, Any]:
    return {
        "e": "executionReport", "E": ts_ms + 1, "s": "DOGEUSDT", "c": "q-1", "S": side, "o": "LIMIT",
        "f": "GTC", "q": "5000", "p": price, "x": x, "X": "PARTIALLY_FILLED", "i": 42, "l": qty, "z": qty,
        "L": price, "n": fee, "N": fee_asset, "T": ts_ms, "t": t,
    }  # fmt: skip


def order_trade_update(
    x: str, side: str, qty: str, price: str, t: int, ts_ms: int, c: str = "pymmh-1", s: str = "DOGEUSDT"
) -> dict[str, Any]:
    return {
        "e": "ORDER_TRADE_UPDATE", "E": ts_ms + 1, "T": ts_ms,
        "o": {
            "s": s, "c": c, "S": side, "o": "LIMIT", "f": "IOC", "q": qty, "p": price, "ap": price, "x": x,
            "X": "FILLED", "i": 7, "l": qty, "z": qty, "L": price, "N": "USDT", "n": "0.01", "T": ts_ms,
            "t": t, "ps": "BOTH",
        },
    }  # fmt: skip


def account_update(ts_ms: int, *positions: tuple[str, str, str]) -> dict[str, Any]:
    rows = [{"s": s, "pa": pa, "ep": "0.16", "ps": ps} for s, pa, ps in positions]
    return {"e": "ACCOUNT_UPDATE", "E": ts_ms + 1, "T": ts_ms, "a": {"m": "ORDER", "B": [], "P": rows}}


def account_position(u: int, free: str, locked: str) -> dict[str, Any]:
    return {"e": "outboundAccountPosition", "E": u + 1, "u": u, "B": [{"a": "DOGE", "f": free, "l": locked}]}


def test_spot_trade_with_a_base_fee() -> None:
    f = fill_from_execution_report(
        execution_report("TRADE", "BUY", "1000", "0.16", 9, 1_700_000_000_000, fee_asset="DOGE", fee="1"),
        venue=SPOT_VENUE, base_asset="DOGE", ts_recv=5,
    )  # fmt: skip
    assert f is not None
    assert (f.side, f.qty, f.price, f.trade_id, f.client_order_id) == (
        Side.BUY,
        D(1000),
        D("0.16"),
        "9",
        "q-1",
    )
    assert (f.fee_base, f.position_change, f.ts_event, f.ts_recv) == (D(1), D(999), 1_700_000_000_000 * MS, 5)
    new = execution_report("NEW", "BUY", "0", "0.16", -1, 1)
    assert fill_from_execution_report(new, venue=SPOT_VENUE, base_asset="DOGE", ts_recv=0) is None


@pytest.mark.parametrize(
    ("x", "is_fill"), [("TRADE", True), ("CALCULATED", True), ("NEW", False), ("EXPIRED", False)]
)
def test_usdm_executions(x: str, is_fill: bool) -> None:
    f = fill_from_order_trade_update(
        order_trade_update(x, "SELL", "300", "0.15990", 77, 10),
        venue=PERP_VENUE,
        base_asset="DOGE",
        ts_recv=0,
    )
    assert (f is not None) == is_fill
    if f is not None:
        assert (f.market, f.side, f.qty, f.fee_base, f.client_order_id) == (
            Market.USDM,
            Side.SELL,
            D(300),
            0,
            "pymmh-1",
        )


def test_collector_positions_and_fills() -> None:
    dc = DropCopyCollector(SPOT, PERP, "DOGE")
    dc.on_usdm_event(account_update(20, ("DOGEUSDT", "-1000", "BOTH"), ("BTCUSDT", "1", "BOTH")), 0)
    dc.on_usdm_event(account_update(10, ("DOGEUSDT", "-5", "BOTH")), 0)  # older: ignored
    dc.on_usdm_event(account_update(30, ("DOGEUSDT", "-9", "LONG")), 0)  # hedge-mode row: not ours
    dc.on_spot_event(account_position(15, "900.5", "99.5"), 0)
    dc.on_usdm_event(order_trade_update("TRADE", "SELL", "1000", "0.16", 1, 20), 0)
    dc.on_usdm_event(order_trade_update("TRADE", "SELL", "1", "0.16", 2, 20, s="BTCUSDT"), 0)
    dc.on_spot_event({"e": "balanceUpdate"}, 0)
    snap = dc.snapshot()
    assert snap.positions == {PERP: D(-1000), SPOT: D(1000)}
    assert snap.position_ts == {PERP: 20 * MS, SPOT: 15 * MS} and snap.ts_event == 20 * MS
    assert [f.trade_id for f in snap.fills] == ["1"] and dc.ignored == 2
    assert dc.snapshot().fills == [] and dc.snapshot().positions == snap.positions  # positions persist


def test_collector_refuses_swapped_keys() -> None:
    with pytest.raises(ValueError):
        DropCopyCollector(PERP, SPOT, "DOGE")


def test_reconcile_from_user_streams() -> None:
    """The engine's fills against the user streams: they agree, then a liquidation we never sent."""
    book = PositionBook({SPOT: D(10_000), PERP: D(-10_000)})
    dc = DropCopyCollector(SPOT, PERP, "DOGE")
    buy = execution_report("TRADE", "BUY", "1000", "0.16", 1, 100, fee_asset="DOGE", fee="1")
    hedge = order_trade_update("TRADE", "SELL", "999", "0.15999", 2, 110)
    for f in (dc.on_spot_event(buy, 0), dc.on_usdm_event(hedge, 0)):
        assert f is not None
        book.apply(f)  # the engine reported the same executions
    dc.on_spot_event(account_position(100, "10999", "0"), 0)  # the 1 DOGE fee is gone from the balance
    dc.on_usdm_event(account_update(110, ("DOGEUSDT", "-10999", "BOTH")), 0)
    later = execution_report("TRADE", "SELL", "50", "0.16", 3, 120)  # booked after the venue's position time
    lf = fill_from_execution_report(later, venue=SPOT_VENUE, base_asset="DOGE", ts_recv=0)
    assert lf is not None
    book.apply(lf)
    assert book.reconcile(dc.snapshot()).ok
    # A liquidation fill appears only on the drop copy.
    dc.on_usdm_event(order_trade_update("CALCULATED", "BUY", "400", "0.2", 4, 130, c="autoclose-1"), 0)
    dc.on_usdm_event(account_update(130, ("DOGEUSDT", "-10599", "BOTH")), 0)
    report = book.reconcile(dc.snapshot())
    assert {b.kind for b in report.breaks} == {BreakKind.FILL_MISSING, BreakKind.POSITION}
    assert book.hedging_blocked
