"""Hedge planners: turn a signed base quantity to hedge into one perp order the venue would accept.

- :class:`PassivePlanner` — a post-only ``LIMIT``/``GTX`` order at the touch (or ``improve_ticks``
  inside it, never crossing), sized to the delta.
- :class:`ActivePlanner` — an ``IOC`` ``LIMIT`` order whose price is the collar bound: at most
  ``collar_bps`` above the reference price for a buy, at least ``collar_bps`` below it for a sell.
  Never a ``MARKET`` order: what does not fill inside the collar expires.

Quantities are rounded to the instrument's lot to the *nearest* lot (a tie goes to the smaller
quantity), so a fully filled plan leaves at most half a lot of the need unhedged and never overshoots
by more than that. Collar prices round *inside* the collar (a buy's bound floors to the tick, a sell's
ceils), exactly, in :class:`~decimal.Decimal` — the float helpers of :mod:`pymm.pricing.ticks` are for
float model prices and could land 1e-6 tick outside a bound. Every plan is checked with the instrument
master's :func:`pymm._native.validate_order` (tick, lot, min notional, percent-price band against
the mark price), so a plan that would be refused by the venue is refused here, with the venue's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_DOWN, Decimal
from typing import TYPE_CHECKING

from pymm.hedge.delta_bus import Side
from pymm.hedge.mode_controller import HedgeMode
from pymm.pricing.ticks import QuoteSide, ticks_to_price

if TYPE_CHECKING:
    from pymm._native import Instrument

__all__ = [
    "ActivePlanner",
    "HedgePlan",
    "PassivePlanner",
    "PerpMarket",
    "PlanRefused",
    "collar_bound_ticks",
    "qty_to_lots",
]

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class PerpMarket:
    """What the planners know of the hedge instrument's market.

    Attributes:
        best_bid: best bid price.
        best_ask: best ask price.
        mark_price: the venue's mark price (the percent-price reference on USD-M).
        ts_event: venue time of the newest of these values, ns.
    """

    best_bid: Decimal
    best_ask: Decimal
    mark_price: Decimal
    ts_event: int

    def __post_init__(self) -> None:
        """Refuse floats, non-positive prices and a crossed or locked book."""
        for name in ("best_bid", "best_ask", "mark_price"):
            v = getattr(self, name)
            if not isinstance(v, Decimal) or not v.is_finite() or v <= 0:
                raise ValueError(f"PerpMarket.{name} must be a positive Decimal, got {v!r}")
        if self.best_bid >= self.best_ask:
            raise ValueError(f"crossed or locked book: bid {self.best_bid} >= ask {self.best_ask}")

    @property
    def mid(self) -> Decimal:
        """``(bid + ask) / 2``, the collar's reference price."""
        return (self.best_bid + self.best_ask) / 2


@dataclass(frozen=True, slots=True)
class HedgePlan:
    """One planned perp order, already on the instrument's grids and accepted by the validator.

    Attributes:
        symbol: the perp's symbol.
        side: buy or sell.
        time_in_force: ``"GTX"`` (passive) or ``"IOC"`` (active).
        price_ticks: limit price in whole ticks.
        qty_lots: quantity in whole lots (> 0).
        price: the same price as a Decimal.
        qty: the same quantity in base units.
        reduce_only: the order only reduces the current perp position.
        mode: the mode it was planned for.
        reference_price: the collar's reference (active) or the touch it joined (passive).
        collar_bps: the collar applied (active plans only).
    """

    symbol: str
    side: Side
    time_in_force: str
    price_ticks: int
    qty_lots: int
    price: Decimal
    qty: Decimal
    reduce_only: bool
    mode: HedgeMode
    reference_price: Decimal
    collar_bps: Decimal | None = None
    order_type: str = "LIMIT"

    @property
    def signed_qty(self) -> Decimal:
        """``+qty`` for a buy, ``-qty`` for a sell."""
        return self.qty if self.side is Side.BUY else -self.qty


@dataclass(frozen=True, slots=True)
class PlanRefused:
    """No order: why (below one lot, below the venue's minimum notional, the validator's answer...)."""

    reason: str
    venue_code: int | None = None


def _dec(text: str) -> Decimal:
    return Decimal(text)


def qty_to_lots(qty: Decimal, step: Decimal) -> int:
    """``|qty|`` in whole lots of ``step``, to the nearest lot (ties to the smaller)."""
    return int((abs(qty) / step).to_integral_value(ROUND_HALF_DOWN))


def collar_bound_ticks(reference: Decimal, collar_bps: Decimal, side: Side, tick: Decimal) -> int:
    """The most aggressive price in whole ticks that stays within the collar.

    A buy may pay at most ``reference * (1 + collar_bps / 10_000)`` (floored to the tick); a sell may
    receive no less than ``reference * (1 - collar_bps / 10_000)`` (ceiled to the tick).
    """
    if collar_bps < 0:
        raise ValueError(f"collar_bps must be >= 0, got {collar_bps}")
    if side is Side.BUY:
        bound = reference * (1 + collar_bps / BPS)
        return int((bound / tick).to_integral_value(ROUND_FLOOR))
    bound = reference * (1 - collar_bps / BPS)
    return int((bound / tick).to_integral_value(ROUND_CEILING))


def _touch_ticks(price: Decimal, tick: Decimal, side: QuoteSide) -> int:
    # A book price is on the grid; rounding passively covers a venue that sends extra digits.
    rounding = ROUND_FLOOR if side is QuoteSide.BID else ROUND_CEILING
    return int((price / tick).to_integral_value(rounding))


class _Planner:
    def __init__(self, instrument: Instrument) -> None:
        if instrument.market != "usdm":
            raise ValueError(
                f"hedge planners trade the USD-M perpetual, got {instrument.market} {instrument.symbol}"
            )
        self.instrument = instrument
        self.tick = _dec(instrument.tick_size)
        self.step = _dec(instrument.step_size)

    def _size(
        self, need: Decimal, perp_position: Decimal, max_qty: Decimal | None
    ) -> tuple[Side, int, bool] | PlanRefused:
        if need == 0:
            return PlanRefused("nothing to hedge")
        side = Side.BUY if need > 0 else Side.SELL
        wanted = abs(need) if max_qty is None else min(abs(need), max_qty)
        if max_qty is not None and wanted < abs(need):
            lots = int((wanted / self.step).to_integral_value(ROUND_FLOOR))  # a cap never rounds up
        else:
            lots = qty_to_lots(wanted, self.step)
        if lots <= 0:
            return PlanRefused(f"{abs(need)} is less than half a lot ({self.step})")
        qty = lots * self.step
        reduce_only = (
            perp_position != 0 and (perp_position > 0) != (side is Side.BUY) and qty <= abs(perp_position)
        )
        return side, lots, reduce_only

    def _finish(
        self,
        side: Side,
        lots: int,
        price_ticks: int,
        tif: str,
        reduce_only: bool,
        market: PerpMarket,
        mode: HedgeMode,
        reference: Decimal,
        collar_bps: Decimal | None,
    ) -> HedgePlan | PlanRefused:
        from pymm._native import Side as NativeSide
        from pymm._native import validate_order
        from pymm.errors import VenueRejectError

        if price_ticks <= 0:
            return PlanRefused(f"price {price_ticks} ticks is not positive")
        native_side = NativeSide.BUY if side is Side.BUY else NativeSide.SELL
        try:
            validate_order(
                self.instrument,
                native_side,
                "LIMIT",
                price_ticks,
                lots,
                time_in_force=tif,
                reduce_only=reduce_only,
                reference_price=format(market.mark_price, "f"),
            )
        except VenueRejectError as e:
            return PlanRefused(f"the venue would reject it: {e.code} {e.msg}", venue_code=e.code)
        return HedgePlan(
            symbol=self.instrument.symbol,
            side=side,
            time_in_force=tif,
            price_ticks=price_ticks,
            qty_lots=lots,
            price=ticks_to_price(price_ticks, self.tick),
            qty=lots * self.step,
            reduce_only=reduce_only,
            mode=mode,
            reference_price=reference,
            collar_bps=collar_bps,
        )


class PassivePlanner(_Planner):
    """Post-only (GTX) limit orders at or inside the touch of the perp."""

    def __init__(self, instrument: Instrument, improve_ticks: int = 0) -> None:
        """Plan for ``instrument`` (a USD-M perp); ``improve_ticks`` steps inside the touch when room."""
        super().__init__(instrument)
        if improve_ticks < 0:
            raise ValueError(f"improve_ticks must be >= 0, got {improve_ticks}")
        self.improve_ticks = improve_ticks

    def plan(
        self,
        need: Decimal,
        market: PerpMarket,
        *,
        perp_position: Decimal = Decimal(0),
        max_qty: Decimal | None = None,
    ) -> HedgePlan | PlanRefused:
        """Plan a GTX order trading ``need`` base units (positive: buy the perp).

        The price joins our side's touch, or improves it by ``improve_ticks`` while staying at least one
        tick away from the other side, so the order rests rather than being rejected as a taker.
        """
        sized = self._size(need, perp_position, max_qty)
        if isinstance(sized, PlanRefused):
            return sized
        side, lots, reduce_only = sized
        price = self.price_ticks(side, market)
        touch = market.best_bid if side is Side.BUY else market.best_ask
        return self._finish(side, lots, price, "GTX", reduce_only, market, HedgeMode.PASSIVE, touch, None)

    def price_ticks(self, side: Side, market: PerpMarket) -> int:
        """Where a passive ``side`` order belongs now: the touch or ``improve_ticks`` inside, not crossing."""
        bid = _touch_ticks(market.best_bid, self.tick, QuoteSide.BID)
        ask = _touch_ticks(market.best_ask, self.tick, QuoteSide.ASK)
        if side is Side.BUY:
            return min(bid + self.improve_ticks, ask - 1)
        return max(ask - self.improve_ticks, bid + 1)


class ActivePlanner(_Planner):
    """IOC limit orders priced at the collar bound around the perp's mid — never MARKET."""

    def __init__(self, instrument: Instrument, collar_bps: Decimal) -> None:
        """Plan for ``instrument`` with a collar of ``collar_bps`` basis points around the mid."""
        super().__init__(instrument)
        if not isinstance(collar_bps, Decimal) or collar_bps <= 0:
            raise ValueError(f"collar_bps must be a positive Decimal, got {collar_bps!r}")
        self.collar_bps = collar_bps

    def plan(
        self,
        need: Decimal,
        market: PerpMarket,
        *,
        perp_position: Decimal = Decimal(0),
        max_qty: Decimal | None = None,
        mode: HedgeMode = HedgeMode.ACTIVE,
        collar_bps: Decimal | None = None,
    ) -> HedgePlan | PlanRefused:
        """Plan an IOC order trading ``need`` base units (positive: buy the perp).

        Args:
            need: signed base quantity.
            market: the perp's top of book and mark.
            perp_position: current perp position, to mark risk-reducing orders reduce-only.
            max_qty: a cap from the governor (the quantity floors to a lot under it).
            mode: ACTIVE or EMERGENCY (recorded on the plan).
            collar_bps: override for this plan (the emergency collar); default the planner's.
        """
        sized = self._size(need, perp_position, max_qty)
        if isinstance(sized, PlanRefused):
            return sized
        side, lots, reduce_only = sized
        collar = self.collar_bps if collar_bps is None else collar_bps
        reference = market.mid
        price = collar_bound_ticks(reference, collar, side, self.tick)
        return self._finish(side, lots, price, "IOC", reduce_only, market, mode, reference, collar)
