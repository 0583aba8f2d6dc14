"""Float model prices onto the integer tick grid, through a named rounding side.

Pricing models produce floats; the engine quotes whole ticks. A bid is rounded *down* (floor) and an ask
*up* (ceil), so rounding only ever makes a quote less aggressive than the model asked for and never
crosses the model's own bid/ask pair. Everything here is local to :mod:`pymm.pricing` and works in
integer ticks; it does not depend on the native fixed-point model.

A float that lies within :data:`SNAP_TICKS` of a whole tick is taken to *be* that tick (``100.1 / 0.1`` is
``1000.9999999999999`` in binary floating point, and a bid there means tick 1001, not 1000).
"""

from __future__ import annotations

import math
from decimal import Decimal
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = [
    "SNAP_TICKS",
    "QuoteSide",
    "ceil_to_tick",
    "floor_to_tick",
    "price_to_ticks",
    "ticks_to_price",
    "to_ticks_array",
]

SNAP_TICKS = 1e-6
"""A model price this close (in ticks) to a whole tick is snapped to it before flooring/ceiling."""


class QuoteSide(StrEnum):
    """Which side of the book a quote rests on; it names the rounding direction."""

    BID = "bid"
    ASK = "ask"


def _tick_as_float(tick: Decimal | int) -> float:
    if isinstance(tick, bool) or not isinstance(tick, Decimal | int):
        raise TypeError(f"tick must be a Decimal or an int, got {type(tick).__name__}")
    if tick <= 0:
        raise ValueError(f"tick must be positive, got {tick}")
    return float(tick)


def _in_ticks(price: float, tick: Decimal | int) -> float:
    if not math.isfinite(price):
        raise ValueError(f"price must be finite, got {price}")
    x = price / _tick_as_float(tick)
    nearest = round(x)
    return float(nearest) if abs(x - nearest) <= SNAP_TICKS else x


def floor_to_tick(price: float, tick: Decimal | int) -> int:
    """The highest whole tick at or below ``price`` (the bid rounding).

    Args:
        price: a model price in price units.
        tick: the tick size in the same units, a ``Decimal`` (``Decimal("0.00001")``) or an int
            (``1`` when ``price`` is already in ticks).

    Returns:
        The price in whole ticks.
    """
    return math.floor(_in_ticks(price, tick))


def ceil_to_tick(price: float, tick: Decimal | int) -> int:
    """The lowest whole tick at or above ``price`` (the ask rounding); arguments as :func:`floor_to_tick`."""
    return math.ceil(_in_ticks(price, tick))


def price_to_ticks(price: float, tick: Decimal | int, side: QuoteSide) -> int:
    """Round a model price to whole ticks on the side's passive direction: bids floor, asks ceil."""
    if side is QuoteSide.BID:
        return floor_to_tick(price, tick)
    return ceil_to_tick(price, tick)


def ticks_to_price(ticks: int, tick: Decimal | int) -> Decimal:
    """The exact decimal price of a whole number of ticks."""
    _tick_as_float(tick)
    return Decimal(ticks) * Decimal(tick)


def to_ticks_array(prices: npt.ArrayLike, tick: Decimal | int, side: QuoteSide) -> npt.NDArray[np.int64]:
    """Vectorised :func:`price_to_ticks` with the same snapping rule."""
    x = np.asarray(prices, dtype=np.float64) / _tick_as_float(tick)
    if not np.all(np.isfinite(x)):
        raise ValueError("prices must be finite")
    nearest = np.round(x)
    x = np.where(np.abs(x - nearest) <= SNAP_TICKS, nearest, x)
    out = np.floor(x) if side is QuoteSide.BID else np.ceil(x)
    return out.astype(np.int64)
