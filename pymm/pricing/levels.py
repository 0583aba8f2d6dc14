"""Multi-level quote generation: a ladder of bids and asks behind the top quotes.

The top of each side comes from the model (A-S, GLFT, the spread optimizer), already on the tick grid.
Deeper levels sit ``spacing_ticks`` apart (gaps may grow geometrically), sizes may grow geometrically with
depth, and each side's cumulative size is capped by a per-side maximum and by the inventory room left to
the hard bound, so that even a sweep of the whole ladder cannot carry inventory past it. Level shapes are
a design choice (the papers quote one level); they exist to rest liquidity that keeps queue priority
deeper in the book.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pymm.pricing.ticks import QuoteSide

__all__ = ["LadderSpec", "QuoteLadder", "QuoteLevel", "build_ladder"]


@dataclass(frozen=True, slots=True)
class LadderSpec:
    """Shape of a ladder."""

    n_levels: int = 1
    spacing_ticks: int = 1
    """Gap between the first and second level, in ticks (>= 1)."""
    spacing_growth: float = 1.0
    """Each further gap is the previous one times this (>= 1), rounded up to whole ticks."""
    size_growth: float = 1.0
    """Level ``i`` has ``top_size * size_growth**i`` lots, rounded down (> 0)."""
    max_side_size: int | None = None
    """Cap on a side's cumulative size in lots."""

    def __post_init__(self) -> None:
        """Refuse nonsense shapes."""
        if self.n_levels < 1 or self.spacing_ticks < 1 or self.spacing_growth < 1 or not self.size_growth > 0:
            raise ValueError(
                "need n_levels >= 1, spacing_ticks >= 1, spacing_growth >= 1, size_growth > 0; got "
                f"{self.n_levels}, {self.spacing_ticks}, {self.spacing_growth}, {self.size_growth}"
            )
        if self.max_side_size is not None and self.max_side_size < 0:
            raise ValueError(f"max_side_size must be >= 0, got {self.max_side_size}")

    def offsets(self) -> list[int]:
        """Distance of each level from the top, in ticks (0 for the top)."""
        out = [0]
        gap = float(self.spacing_ticks)
        for _ in range(self.n_levels - 1):
            out.append(out[-1] + max(math.ceil(gap - 1e-9), 1))
            gap *= self.spacing_growth
        return out


@dataclass(frozen=True, slots=True)
class QuoteLevel:
    """One order of the ladder."""

    side: QuoteSide
    price_ticks: int
    size: int


@dataclass(frozen=True, slots=True)
class QuoteLadder:
    """Bids best (highest) first, asks best (lowest) first."""

    bids: tuple[QuoteLevel, ...]
    asks: tuple[QuoteLevel, ...]

    @property
    def bid_size(self) -> int:
        """Total bid size in lots."""
        return sum(level.size for level in self.bids)

    @property
    def ask_size(self) -> int:
        """Total ask size in lots."""
        return sum(level.size for level in self.asks)


def _side(
    side: QuoteSide, top: int, top_size: int, spec: LadderSpec, room: int | None
) -> tuple[QuoteLevel, ...]:
    cap = min(c for c in (room, spec.max_side_size, math.inf) if c is not None)
    sign = -1 if side is QuoteSide.BID else 1
    levels: list[QuoteLevel] = []
    total = 0
    for i, offset in enumerate(spec.offsets()):
        size = min(math.floor(top_size * spec.size_growth**i + 1e-9), cap - total)
        if size <= 0:
            break
        levels.append(QuoteLevel(side, top + sign * offset, int(size)))
        total += int(size)
    return tuple(levels)


def build_ladder(
    bid_ticks: int,
    ask_ticks: int,
    bid_size: int,
    ask_size: int,
    spec: LadderSpec | None = None,
    *,
    bid_room: int | None = None,
    ask_room: int | None = None,
) -> QuoteLadder:
    """Lay out the ladder behind the top quotes.

    Args:
        bid_ticks: top bid price in ticks.
        ask_ticks: top ask price in ticks; must be above the bid.
        bid_size: top bid size in lots (0: no bids).
        ask_size: top ask size in lots (0: no asks).
        spec: the ladder's shape (one level by default).
        bid_room: most lots the bids may buy in total (inventory room to the bound), ``None``: no limit.
        ask_room: the same for the asks.
    """
    if bid_ticks >= ask_ticks:
        raise ValueError(f"crossed or locked top quotes: bid {bid_ticks} >= ask {ask_ticks}")
    if bid_size < 0 or ask_size < 0:
        raise ValueError(f"sizes must be >= 0, got {bid_size}, {ask_size}")
    s = spec or LadderSpec()
    return QuoteLadder(
        bids=_side(QuoteSide.BID, bid_ticks, bid_size, s, bid_room),
        asks=_side(QuoteSide.ASK, ask_ticks, ask_size, s, ask_room),
    )
