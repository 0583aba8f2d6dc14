"""Pricing models: the slow parameters behind the quoter (fair value, half spread, skew, sizes, levels).

Pure Python + numpy, engine-independent. Float model prices reach the tick grid only through
:mod:`pymm.pricing.ticks` (bids floor, asks ceil).
"""

from __future__ import annotations

from pymm.pricing.as2008 import As2008Result, format_table, run_as2008
from pymm.pricing.avellaneda_stoikov import (
    AsQuote,
    average_spread,
    fill_intensity,
    optimal_quotes,
    optimal_spread,
    reservation_price,
)
from pymm.pricing.ticks import QuoteSide, ceil_to_tick, floor_to_tick, price_to_ticks, ticks_to_price

__all__ = [
    "As2008Result",
    "AsQuote",
    "QuoteSide",
    "average_spread",
    "ceil_to_tick",
    "fill_intensity",
    "floor_to_tick",
    "format_table",
    "optimal_quotes",
    "optimal_spread",
    "price_to_ticks",
    "reservation_price",
    "run_as2008",
    "ticks_to_price",
]
