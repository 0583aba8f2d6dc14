"""The hedge governor: the last check before a hedge order leaves — size, rate, position, funding.

A plan passes only if

1. its quantity is at most ``max_order_qty`` (the planner is told the cap first, so this is a
   backstop; a missing cap is a configuration error, not "unbounded");
2. the perp position after it fully fills stays within ``max_position_qty``;
3. a token is available in the order-rate bucket (capacity ``burst``, refilled at ``rate_per_s`` on
   *event* time, so replay gives the same answers);
4. the funding rule allows it: within ``funding_window_ns`` before a funding timestamp, an order that
   *opens or increases* the perp position on the side that would pay that funding is refused (longs pay
   when the rate is positive, shorts when it is negative — models_and_tables.md §6), unless the mode is
   EMERGENCY, where risk outranks one funding payment. Reducing orders are always allowed.

Every refusal says which rule and with which numbers. Only an approved plan takes a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pymm.hedge.delta_bus import Side
from pymm.hedge.mode_controller import HedgeMode
from pymm.hedge.planner import HedgePlan

__all__ = ["FundingState", "GovernorDecision", "GovernorLimits", "HedgeGovernor", "TokenBucket"]

NS_PER_S = 1_000_000_000


class TokenBucket:
    """A token bucket on event time (ns). Exact: tokens are Decimals, time is integer ns."""

    def __init__(self, rate_per_s: Decimal, burst: int) -> None:
        """Start full: ``burst`` tokens, refilled at ``rate_per_s``."""
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(f"need rate_per_s > 0 and burst >= 1, got {rate_per_s}, {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = Decimal(burst)
        self._last_ns: int | None = None

    def _refill(self, ts_ns: int) -> None:
        if self._last_ns is None:
            self._last_ns = ts_ns
            return
        if ts_ns > self._last_ns:  # time never runs backwards here: an older stamp adds nothing
            gained = self.rate_per_s * (ts_ns - self._last_ns) / NS_PER_S
            self._tokens = min(Decimal(self.burst), self._tokens + gained)
            self._last_ns = ts_ns

    def available(self, ts_ns: int) -> Decimal:
        """Tokens available at ``ts_ns``."""
        self._refill(ts_ns)
        return self._tokens

    def try_take(self, ts_ns: int) -> bool:
        """Take one token at ``ts_ns`` if there is one."""
        self._refill(ts_ns)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@dataclass(frozen=True, slots=True)
class FundingState:
    """The perp's funding as last published (``markPriceUpdate`` ``r`` and ``T``).

    Attributes:
        rate: the funding rate to be applied at ``next_funding_ns`` (0.0001 = 0.01%).
        next_funding_ns: the next funding timestamp, ns.
    """

    rate: Decimal
    next_funding_ns: int


@dataclass(frozen=True, slots=True)
class GovernorLimits:
    """The governor's limits (all required: a missing limit is never "unbounded").

    Attributes:
        max_order_qty: largest hedge order, base units.
        max_position_qty: largest |perp position| after a hedge fills, base units.
        rate_per_s: hedge orders per second, sustained.
        burst: hedge orders allowed back to back.
        funding_window_ns: how long before a funding timestamp the funding rule applies.
    """

    max_order_qty: Decimal
    max_position_qty: Decimal
    rate_per_s: Decimal
    burst: int
    funding_window_ns: int


@dataclass(frozen=True, slots=True)
class GovernorDecision:
    """Approved, or refused with the rule and numbers."""

    approved: bool
    reason: str = ""


class HedgeGovernor:
    """Approves or refuses hedge plans; owns the order-rate bucket."""

    def __init__(self, limits: GovernorLimits) -> None:
        """A governor with a full bucket."""
        if limits.max_order_qty <= 0 or limits.max_position_qty <= 0 or limits.funding_window_ns < 0:
            raise ValueError(f"governor limits must be positive: {limits}")
        self.limits = limits
        self.bucket = TokenBucket(limits.rate_per_s, limits.burst)
        self.funding: FundingState | None = None
        self.approved = 0
        self.refused: dict[str, int] = {}

    def on_funding(self, funding: FundingState) -> None:
        """Take the latest funding rate and timestamp."""
        self.funding = funding

    def funding_cost_ahead(
        self, ts_ns: int, side: Side, position_after: Decimal, position_before: Decimal
    ) -> str:
        """Why the funding rule refuses the order, or ``""`` when it does not."""
        f = self.funding
        if f is None or abs(position_after) <= abs(position_before):
            return ""
        to_go = f.next_funding_ns - ts_ns
        if not (0 <= to_go <= self.limits.funding_window_ns):
            return ""
        # Long pays when F > 0, short pays when F < 0 (Binance USD-M; models_and_tables.md §6).
        we_pay = (position_after > 0 and f.rate > 0) or (position_after < 0 and f.rate < 0)
        if not we_pay:
            return ""
        return (
            f"funding: {side.lower()} would grow the perp position {position_before} -> {position_after} "
            f"{to_go / NS_PER_S:g} s before a funding of {f.rate} that this side pays"
        )

    def check(self, plan: HedgePlan, ts_ns: int, perp_position: Decimal) -> GovernorDecision:
        """Approve ``plan`` at event time ``ts_ns`` given the current (worst-case) perp position.

        Args:
            plan: the planned order.
            ts_ns: event time.
            perp_position: the perp position counting hedge orders in flight (and UNKNOWN) as filled.
        """
        lim = self.limits
        after = perp_position + plan.signed_qty
        reason = ""
        if plan.order_type != "LIMIT" or plan.time_in_force not in ("GTX", "IOC"):
            reason = f"order type: {plan.order_type}/{plan.time_in_force} is not a post-only or IOC limit"
        elif plan.qty > lim.max_order_qty:
            reason = f"size: {plan.qty} > max_order_qty {lim.max_order_qty}"
        elif abs(after) > lim.max_position_qty and abs(after) >= abs(perp_position):
            reason = f"position: |{after}| > max_position_qty {lim.max_position_qty}"
        elif plan.mode is not HedgeMode.EMERGENCY and (
            why := self.funding_cost_ahead(ts_ns, plan.side, after, perp_position)
        ):
            reason = why
        elif not self.bucket.try_take(ts_ns):
            reason = f"rate: no token ({lim.rate_per_s}/s, burst {lim.burst})"
        if reason:
            rule = reason.split(":", 1)[0]
            self.refused[rule] = self.refused.get(rule, 0) + 1
            return GovernorDecision(False, reason)
        self.approved += 1
        return GovernorDecision(True)
