"""Fixtures for the hedge tests: the shipped DOGEUSDT instruments, fills, a fake sender and a fake account."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pymm._native import Instrument, InstrumentMaster
from pymm.hedge import Fill, HedgeOrder, Market, Side, UsdmApiError

REPO = Path(__file__).resolve().parents[2]
SPOT_VENUE = "binance-spot"
PERP_VENUE = "binance-usdm"
MS = 1_000_000
S = 1_000_000_000

_trade_ids = itertools.count(1)


@pytest.fixture(scope="session")
def perp() -> Instrument:
    """DOGEUSDT USD-M perpetual: tick 0.00001, lot 1, min notional 5, percent price ±5%."""
    return InstrumentMaster.from_toml(REPO / "config/instruments/DOGEUSDT.usdm.toml").get("DOGEUSDT", "usdm")


@pytest.fixture(scope="session")
def spot() -> Instrument:
    """DOGEUSDT spot."""
    return InstrumentMaster.from_toml(REPO / "config/instruments/DOGEUSDT.spot.toml").get("DOGEUSDT", "spot")


def fill(
    side: Side | str,
    qty: str | int | Decimal,
    price: str | Decimal = "0.16",
    *,
    ts: int = 0,
    market: Market = Market.SPOT,
    trade_id: str | None = None,
    client_order_id: str | None = None,
) -> Fill:
    """A DOGEUSDT fill on the spot venue (or the perp venue for ``market=Market.USDM``)."""
    return Fill(
        venue=SPOT_VENUE if market is Market.SPOT else PERP_VENUE,
        market=market,
        symbol="DOGEUSDT",
        base_asset="DOGE",
        side=Side(side),
        qty=Decimal(qty),
        price=Decimal(price),
        trade_id=trade_id if trade_id is not None else str(next(_trade_ids)),
        ts_event=ts,
        ts_recv=ts,
        client_order_id=client_order_id,
    )


class FakeSender:
    """Records submits and cancels (the OrderSender protocol)."""

    def __init__(self) -> None:
        self.submitted: list[HedgeOrder] = []
        self.cancelled: list[str] = []

    def submit(self, order: HedgeOrder) -> None:
        self.submitted.append(order)

    def cancel(self, client_order_id: str) -> None:
        self.cancelled.append(client_order_id)


class FakeClock:
    """An injected clock: returns ``now``, set by the test."""

    def __init__(self, now: int = 0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class FakeUsdmAccount:
    """An in-memory USD-M account behaving as binance_protocol.md §3.3/§3.6 describes."""

    def __init__(
        self,
        *,
        dual: bool = False,
        leverage: int = 20,
        margin: str = "cross",
        position: str = "0",
        open_orders: int = 0,
        lie_leverage: bool = False,
    ) -> None:
        self.dual = dual
        self.leverage = leverage
        self.margin = margin
        self.position = Decimal(position)
        self.open_orders = open_orders
        self.lie_leverage = lie_leverage
        self.calls: list[str] = []

    def get_position_side_dual(self) -> Mapping[str, Any]:
        self.calls.append("GET dual")
        return {"dualSidePosition": self.dual}

    def set_position_side_dual(self, dual: bool) -> Mapping[str, Any]:
        self.calls.append(f"POST dual {dual}")
        if dual == self.dual:
            raise UsdmApiError(-4059, "No need to change position side.")
        if self.open_orders:
            raise UsdmApiError(-4067, "Position side cannot be changed if there exists open orders.")
        if self.position:
            raise UsdmApiError(-4068, "Position side cannot be changed if there exists position.")
        self.dual = dual
        return {"code": 200, "msg": "success"}

    def get_position_risk(self, symbol: str) -> Sequence[Mapping[str, Any]]:
        self.calls.append("GET positionRisk")
        row = {
            "symbol": symbol,
            "leverage": str(self.leverage),
            "marginType": self.margin,
            "positionAmt": str(self.position),
        }
        if self.dual:
            return [{**row, "positionSide": "LONG"}, {**row, "positionSide": "SHORT", "positionAmt": "0"}]
        return [{**row, "positionSide": "BOTH"}]

    def set_leverage(self, symbol: str, leverage: int) -> Mapping[str, Any]:
        self.calls.append(f"POST leverage {leverage}")
        if not self.lie_leverage:
            self.leverage = leverage
        return {"leverage": leverage, "maxNotionalValue": "1000000", "symbol": symbol}

    def set_margin_type(self, symbol: str, margin_type: str) -> Mapping[str, Any]:
        self.calls.append(f"POST marginType {margin_type}")
        want = "cross" if margin_type == "CROSSED" else "isolated"
        if want == self.margin:
            raise UsdmApiError(-4046, "No need to change margin type.")
        self.margin = want
        return {"code": 200, "msg": "success"}
