"""Queue position of a resting order, estimated from book changes and trades, and where to quote given it.

Estimation (market-by-price feeds, where only the level's total size is seen):

- Rigtorp (2013), "Estimating order queue position": the order starts behind everything resting at its
  price; trades at the price eat the front one for one; other decreases are cancels, attributed to the
  part of the queue in front with some probability.
- hftbacktest's ``ProbQueueModel`` (``hftbacktest/src/backtest/models/queue.rs``): on a decrease not
  explained by trades already counted, ``chg``, with ``back`` the size behind us and ``p = f(front, back)``
  the share of the decrease that happened behind us,
  ``front <- min(front - (1 - p)*chg + min(back - p*chg, 0), new_level_size)``; an increase never moves the
  front (new orders join the back). ``RiskAverseQueueModel``: only trades move the front.

Placement (a design choice; Moallemi & Yuan, "A model for queue position valuation", SSRN 2996221, for
why): priority is worth of the order of the spread for a large-tick instrument, and it is lost by any
price change. So a resting order whose price is within ``max_keep_ticks`` of the model's target is kept
when it sits in the front part of its queue, unless keeping it would cross the opposite touch or quote
through the fair value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from pymm.pricing.ticks import QuoteSide

__all__ = [
    "Log2ProbQueue",
    "LogProbQueue",
    "PlacementAction",
    "PlacementDecision",
    "PlacementPolicy",
    "Power2ProbQueue",
    "Power3ProbQueue",
    "PowerProbQueue",
    "QueueModel",
    "QueuePosition",
    "RiskAverseQueue",
    "decide_placement",
]


class QueueModel(Protocol):
    """The share of a non-trade decrease that happened behind our order."""

    def prob_behind(self, front: float, back: float) -> float:
        """``p`` in [0, 1] given the size in front of and behind our order."""
        ...


@dataclass(frozen=True, slots=True)
class RiskAverseQueue:
    """Cancels never happen in front of us (only trades and the level shrinking below us move us up)."""

    def prob_behind(self, front: float, back: float) -> float:
        """Always 1."""
        return 1.0


@dataclass(frozen=True, slots=True)
class PowerProbQueue:
    """``p = b**n / (b**n + f**n)`` (hftbacktest ``PowerProbQueueFunc``; ``n = 1`` is linear)."""

    n: float = 2.0

    def prob_behind(self, front: float, back: float) -> float:
        """See class docstring."""
        bn, fn = max(back, 0.0) ** self.n, max(front, 0.0) ** self.n
        return 0.5 if bn + fn == 0 else bn / (bn + fn)


@dataclass(frozen=True, slots=True)
class Power2ProbQueue:
    """``p = b**n / (b + f)**n`` (``PowerProbQueueFunc2``)."""

    n: float = 2.0

    def prob_behind(self, front: float, back: float) -> float:
        """See class docstring."""
        b, f = max(back, 0.0), max(front, 0.0)
        return 0.5 if b + f == 0 else b**self.n / (b + f) ** self.n


@dataclass(frozen=True, slots=True)
class Power3ProbQueue:
    """``p = 1 - (f / (f + b))**n`` (``PowerProbQueueFunc3``)."""

    n: float = 3.0

    def prob_behind(self, front: float, back: float) -> float:
        """See class docstring."""
        b, f = max(back, 0.0), max(front, 0.0)
        return 0.5 if b + f == 0 else 1.0 - (f / (f + b)) ** self.n


@dataclass(frozen=True, slots=True)
class LogProbQueue:
    """``p = ln(1 + b) / (ln(1 + b) + ln(1 + f))`` (``LogProbQueueFunc``)."""

    def prob_behind(self, front: float, back: float) -> float:
        """See class docstring."""
        lb, lf = math.log1p(max(back, 0.0)), math.log1p(max(front, 0.0))
        return 0.5 if lb + lf == 0 else lb / (lb + lf)


@dataclass(frozen=True, slots=True)
class Log2ProbQueue:
    """``p = ln(1 + b) / ln(1 + b + f)`` (``LogProbQueueFunc2``)."""

    def prob_behind(self, front: float, back: float) -> float:
        """See class docstring."""
        b, f = max(back, 0.0), max(front, 0.0)
        return 0.5 if b + f == 0 else math.log1p(b) / math.log1p(b + f)


class QueuePosition:
    """Estimated size ahead of one resting order at one price level.

    Sizes are in lots (floats: the estimate is fractional). ``level_size`` is the displayed size of the
    level; set ``feed_includes_own`` when the feed shows our own order in it (a live venue), so that our
    remaining quantity is taken out before the queue arithmetic.
    """

    def __init__(
        self,
        level_size: float,
        qty: float,
        model: QueueModel | None = None,
        *,
        feed_includes_own: bool = False,
    ) -> None:
        """Start behind everything displayed at the price (Rigtorp's initial estimate)."""
        if qty <= 0:
            raise ValueError(f"order quantity must be > 0, got {qty}")
        self.model: QueueModel = model or PowerProbQueue(2.0)
        self.qty = qty
        self.feed_includes_own = feed_includes_own
        self._market = self._others(level_size)
        self.front = self._market
        self._traded_since_update = 0.0

    def _others(self, level_size: float) -> float:
        return max(level_size - (self.qty if self.feed_includes_own else 0.0), 0.0)

    @property
    def back(self) -> float:
        """Estimated size behind us."""
        return max(self._market - self.front, 0.0)

    @property
    def ahead_fraction(self) -> float:
        """``front / (front + back)``: 0 at the head of the queue, 1 at its tail."""
        total = self.front + self.back
        return 0.0 if total <= 0 else min(max(self.front, 0.0) / total, 1.0)

    def on_trade(self, size: float) -> float:
        """A trade of ``size`` at our price. Returns the part estimated to have filled us."""
        self._traded_since_update += size
        self.front -= size
        if self.front >= 0:
            return 0.0
        filled = min(-self.front, self.qty)
        self.front = 0.0
        return filled

    def on_fill(self, size: float) -> None:
        """Our order was (partly) filled for ``size`` (from the venue): shrink our quantity."""
        self.qty = max(self.qty - size, 0.0)
        self.front = 0.0

    def on_level(self, level_size: float) -> None:
        """The displayed size of our level changed to ``level_size``."""
        new = self._others(level_size)
        chg = self._market - new
        if chg > 0:
            explained = min(chg, self._traded_since_update)
            chg -= explained
            self._market -= explained
            front = min(max(self.front, 0.0), self._market)
            back = self._market - front
            p = self.model.prob_behind(front, back)
            self.front = min(front - (1.0 - p) * chg + min(back - p * chg, 0.0), new)
        else:
            self.front = min(self.front, new)
        self.front = max(self.front, 0.0)
        self._market = new
        self._traded_since_update = 0.0


class PlacementAction(StrEnum):
    """What to do with one side's quote."""

    PLACE = "place"
    KEEP = "keep"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class PlacementDecision:
    """The action and the price (in ticks) the side's order should rest at afterwards."""

    action: PlacementAction
    price_ticks: int


@dataclass(frozen=True, slots=True)
class PlacementPolicy:
    """When a resting order is worth more than the model's small price change."""

    max_keep_ticks: int = 1
    """Largest difference between resting and target price that may be kept."""
    keep_ahead_fraction: float = 0.5
    """Keep only when at most this share of the level is in front of us."""


def decide_placement(
    side: QuoteSide,
    target_ticks: int,
    resting_ticks: int | None,
    ahead_fraction: float,
    *,
    best_opposite_ticks: int | None = None,
    fair_ticks: float | None = None,
    policy: PlacementPolicy | None = None,
) -> PlacementDecision:
    """Keep a resting order with good priority over a small move to the model's target price.

    Args:
        side: the order's side.
        target_ticks: where the model wants the quote (already rounded passively).
        resting_ticks: where our order rests now, ``None`` if there is none.
        ahead_fraction: :attr:`QueuePosition.ahead_fraction` of the resting order.
        best_opposite_ticks: the opposite touch; a resting order that would now cross it is replaced.
        fair_ticks: the fair value; a resting order at or through it is replaced (no negative edge).
        policy: thresholds.

    Returns:
        ``PLACE`` at the target (nothing rests), ``KEEP`` at the resting price, or ``REPLACE`` at the target.
    """
    pol = policy or PlacementPolicy()
    if resting_ticks is None:
        return PlacementDecision(PlacementAction.PLACE, target_ticks)
    if resting_ticks == target_ticks:
        return PlacementDecision(PlacementAction.KEEP, resting_ticks)
    sign = 1 if side is QuoteSide.BID else -1
    crosses = best_opposite_ticks is not None and sign * (resting_ticks - best_opposite_ticks) >= 0
    through_fair = fair_ticks is not None and sign * (resting_ticks - fair_ticks) >= 0
    small = abs(resting_ticks - target_ticks) <= pol.max_keep_ticks
    good_priority = ahead_fraction <= pol.keep_ahead_fraction
    if small and good_priority and not crosses and not through_fair:
        return PlacementDecision(PlacementAction.KEEP, resting_ticks)
    return PlacementDecision(PlacementAction.REPLACE, target_ticks)
