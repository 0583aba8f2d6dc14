"""Choose the bid and ask *on the tick grid* that maximise each side's expected utility rate.

Per side, a quote at price ``p`` fills at rate ``lambda(delta) = A*exp(-k*delta)`` with ``delta`` its
distance from the mid, and a fill is worth ``edge = r - p - c`` for a bid (``p - r - c`` for an ask): the
distance from the reservation price ``r`` (which carries the inventory skew) net of a per-unit cost ``c``
(fees minus rebates, expected adverse selection). The myopic CARA objective of A-S (eqs. 18-19) is

    ``V(p) = lambda(delta(p)) * (1 - exp(-gamma*edge(p))) / gamma``  (``lambda*edge`` as ``gamma -> 0``),

maximised in continuous prices by ``edge* = (1/gamma)*ln(1 + gamma/k)`` (``1/k`` risk-neutral), which with
``c = 0`` is exactly A-S's arrival term per side. ``ln V`` is concave in ``p``, so on the tick grid the best
quote is one of the two ticks around the continuous optimum, or the nearest allowed tick when a
constraint binds (post-only: a bid below the best ask, an ask above the best bid; a minimum spread). The
optimizer therefore does not round the continuous answer blindly: it compares the candidates' values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from pymm.pricing.avellaneda_stoikov import arrival_half_term

__all__ = ["OptimizedQuotes", "SpreadOptimizer", "optimal_edge", "side_value"]


def optimal_edge(k: float, gamma: float) -> float:
    """``(1/gamma)*ln(1 + gamma/k)``, or ``1/k`` for ``gamma = 0``: the best edge per side, net of cost."""
    return arrival_half_term(gamma, k)


def side_value(distance: float, edge: float, a: float, k: float, gamma: float) -> float:
    """``V = A*exp(-k*distance) * (1 - exp(-gamma*edge))/gamma``; ``A*exp(-k*distance)*edge`` at gamma 0."""
    rate = a * math.exp(-k * distance)
    y = gamma * edge
    # (1 - exp(-y))/gamma = edge * (1 - exp(-y))/y; the series keeps tiny gamma exact (no 0/0).
    return rate * edge * (1.0 - y / 2.0 + y * y / 6.0) if abs(y) < 1e-5 else rate * -math.expm1(-y) / gamma


@dataclass(frozen=True, slots=True)
class OptimizedQuotes:
    """Best bid and ask in whole ticks, their values, and the continuous optimum they came from."""

    bid_ticks: int
    ask_ticks: int
    bid_value: float
    ask_value: float
    continuous_bid: float
    continuous_ask: float


@dataclass(frozen=True, slots=True)
class SpreadOptimizer:
    """Grid search around the continuous optimum; all prices in the units of ``tick``."""

    a: float
    k: float
    gamma: float
    cost: float = 0.0
    min_spread_ticks: int = 1

    def __post_init__(self) -> None:
        """Refuse nonsense parameters."""
        optimal_edge(self.k, self.gamma)
        if not self.a > 0 or self.min_spread_ticks < 1:
            raise ValueError(f"need A > 0 and min_spread_ticks >= 1, got {self.a}, {self.min_spread_ticks}")

    def _bid_value(self, p: float, mid: float, r: float) -> float:
        return side_value(mid - p, r - p - self.cost, self.a, self.k, self.gamma)

    def _ask_value(self, p: float, mid: float, r: float) -> float:
        return side_value(p - mid, p - r - self.cost, self.a, self.k, self.gamma)

    def optimize(
        self,
        mid: float,
        reservation: float,
        tick: Decimal | int,
        *,
        best_bid_ticks: int | None = None,
        best_ask_ticks: int | None = None,
    ) -> OptimizedQuotes:
        """The best bid and ask ticks.

        Args:
            mid: the mid price the fill intensity is measured from.
            reservation: the reservation price (mid or micro-price plus inventory skew).
            tick: the tick size (``Decimal``, or ``1`` when prices are already in ticks).
            best_bid_ticks: the current best bid; an ask must stay above it (post-only).
            best_ask_ticks: the current best ask; a bid must stay below it (post-only).
        """
        t = float(tick)
        e = optimal_edge(self.k, self.gamma)
        cont_bid = reservation - self.cost - e
        cont_ask = reservation + self.cost + e

        def bid_val(i: int) -> float:
            return self._bid_value(i * t, mid, reservation)

        def ask_val(i: int) -> float:
            return self._ask_value(i * t, mid, reservation)

        bid_cands = [math.floor(cont_bid / t), math.ceil(cont_bid / t)]
        ask_cands = [math.floor(cont_ask / t), math.ceil(cont_ask / t)]
        if best_ask_ticks is not None:
            bid_cands = [min(c, best_ask_ticks - 1) for c in bid_cands]
        if best_bid_ticks is not None:
            ask_cands = [max(c, best_bid_ticks + 1) for c in ask_cands]
        # The edge must stay positive: a bid strictly below r - c, an ask strictly above r + c.
        bid_cands = [c for c in bid_cands if c * t < reservation - self.cost] or [
            math.ceil((reservation - self.cost) / t) - 1
        ]
        ask_cands = [c for c in ask_cands if c * t > reservation + self.cost] or [
            math.floor((reservation + self.cost) / t) + 1
        ]
        bid = max(bid_cands, key=bid_val)
        ask = min(ask_cands, key=lambda i: -ask_val(i))
        while ask - bid < self.min_spread_ticks:
            # Widen the side whose next tick out loses less value.
            if bid_val(bid) - bid_val(bid - 1) <= ask_val(ask) - ask_val(ask + 1):
                bid -= 1
            else:
                ask += 1
        return OptimizedQuotes(bid, ask, bid_val(bid), ask_val(ask), cont_bid, cont_ask)
