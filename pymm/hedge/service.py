"""The hedge service: delta events in, hedge order intents out, one route (DOGE spot → USD-M perp).

Wiring: the service subscribes to the :class:`~pymm.hedge.delta_bus.DeltaBus`, books each fill in the
:class:`~pymm.hedge.position_book.PositionBook`, asks the
:class:`~pymm.hedge.mode_controller.ModeController` for a mode, plans with the passive or active
planner, passes the plan to the :class:`~pymm.hedge.governor.HedgeGovernor` and hands approved orders
to an :class:`OrderSender` (the engine's gateway or a venue connector; not part of this package).

Exposure is counted worst-case. Every hedge order in flight counts as if its remaining quantity filled:

- *committed* — sent and not yet acknowledged, IOC orders, and **UNKNOWN** orders (a timeout after
  send: the order may be live or filled). Counted in the delta the mode controller sees and in the
  quantity still to hedge. An UNKNOWN order is never resent; only a venue answer (user stream or
  query, reported through :meth:`HedgeService.on_order_update`) releases it;
- *resting* — acknowledged post-only orders. Counted in the quantity still to hedge (no double hedging)
  but not in the mode's delta (a resting order has hedged nothing yet, so the delta ages toward active).

Order updates carry the venue's cumulative filled quantity; a terminal order whose fills have not
reached the bus yet keeps counting the difference, so a FILLED status racing ahead of its fill never
opens a gap. Resting passive orders are cancelled (and keep counting until the venue confirms) when the
delta is back in band, when the mode leaves PASSIVE, or when their side is wrong.

Latency: each intent carries ``ts_trigger``, the ``ts_event`` of the fill that prompted the evaluation
(or, for an evaluation prompted by a timer, market data or an order update, of the latest fill that
changed the exposure), and ``ts_intent`` from the injected clock; :attr:`HedgeService.latencies_ns`
keeps every ``ts_intent - ts_trigger``. Decisions use event time only; the clock is read for the stamp.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from pymm.hedge.delta_bus import DeltaBus, DeltaEvent, Side
from pymm.hedge.governor import FundingState, GovernorLimits, HedgeGovernor
from pymm.hedge.mode_controller import HedgeBands, HedgeMode, ModeController, ModeDecision
from pymm.hedge.planner import ActivePlanner, HedgePlan, PassivePlanner, PerpMarket, PlanRefused
from pymm.hedge.position_book import DropCopySnapshot, PositionBook, ReconciliationReport
from pymm.hedge.router import HedgeRoute
from pymm.hedge.usdm_connector import VerifiedUsdmAccount

if TYPE_CHECKING:
    from pymm.config import HedgeConfig

__all__ = ["HedgeOrder", "HedgeService", "InFlightOrder", "OrderSender", "OrderStatus", "OrderUpdate"]

ZERO = Decimal(0)


class OrderStatus(StrEnum):
    """A hedge order's state as the service knows it."""

    SENT = "sent"
    ACCEPTED = "accepted"
    UNKNOWN = "unknown"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        """True for a final state."""
        return self in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class HedgeOrder:
    """A hedge order intent: submit this LIMIT order (GTX or IOC) on the hedge venue.

    Attributes:
        client_order_id: unique for the service's life (prefix + counter); never reused.
        venue: configured venue name.
        symbol: the perp.
        side: buy or sell.
        order_type: always ``"LIMIT"``.
        time_in_force: ``"GTX"`` or ``"IOC"``.
        price: limit price, on the tick grid.
        qty: quantity in base units, on the lot grid.
        price_text: the venue text of ``price``.
        qty_text: the venue text of ``qty``.
        reduce_only: send ``reduceOnly=true``.
        mode: the mode it was planned in.
        ts_trigger: ``ts_event`` of the fill behind it, ns.
        ts_intent: the clock when the intent was made, ns.
    """

    client_order_id: str
    venue: str
    symbol: str
    side: Side
    order_type: str
    time_in_force: str
    price: Decimal
    qty: Decimal
    price_text: str
    qty_text: str
    reduce_only: bool
    mode: HedgeMode
    ts_trigger: int
    ts_intent: int

    @property
    def signed_qty(self) -> Decimal:
        """``+qty`` for a buy, ``-qty`` for a sell."""
        return self.qty if self.side is Side.BUY else -self.qty

    @property
    def latency_ns(self) -> int:
        """``ts_intent - ts_trigger``."""
        return self.ts_intent - self.ts_trigger


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """What the venue said about a hedge order (user stream ``ORDER_TRADE_UPDATE`` or a query).

    Attributes:
        client_order_id: ours.
        status: the new state (``UNKNOWN`` after a send timeout).
        cum_filled: the venue's cumulative filled quantity (``z``); ignored for UNKNOWN.
        ts_event: venue time, ns (for UNKNOWN: the time the timeout was declared).
    """

    client_order_id: str
    status: OrderStatus
    cum_filled: Decimal
    ts_event: int


class OrderSender(Protocol):
    """Where approved hedge orders go (the gateway or a venue connector)."""

    def submit(self, order: HedgeOrder) -> None:
        """Send a new order."""
        ...

    def cancel(self, client_order_id: str) -> None:
        """Ask the venue to cancel an order."""
        ...


@dataclass(slots=True)
class InFlightOrder:
    """A hedge order not yet fully accounted for."""

    order: HedgeOrder
    status: OrderStatus = OrderStatus.SENT
    filled_seen: Decimal = ZERO
    cum_reported: Decimal = ZERO
    cancel_requested: bool = False

    @property
    def remaining(self) -> Decimal:
        """Quantity that may still fill (live) or has filled but not yet reached the bus (terminal)."""
        if self.status.terminal:
            return max(self.cum_reported - self.filled_seen, ZERO)
        return max(self.order.qty - self.filled_seen, ZERO)

    @property
    def pending(self) -> Decimal:
        """Signed :attr:`remaining`."""
        return self.remaining if self.order.side is Side.BUY else -self.remaining

    @property
    def resting(self) -> bool:
        """An acknowledged post-only order (counts for sizing, not for the mode's delta)."""
        return self.status is OrderStatus.ACCEPTED and self.order.time_in_force == "GTX"


@dataclass(slots=True)
class _Stats:
    evaluations: int = 0
    intents: int = 0
    cancels: int = 0
    plan_refusals: dict[str, int] = field(default_factory=dict)
    governor_refusals: int = 0


class HedgeService:
    """Keeps one route's net delta inside its bands with hedge orders on the perp."""

    def __init__(
        self,
        *,
        route: HedgeRoute,
        account: VerifiedUsdmAccount,
        bus: DeltaBus,
        book: PositionBook,
        mode_controller: ModeController,
        passive: PassivePlanner,
        active: ActivePlanner,
        governor: HedgeGovernor,
        sender: OrderSender,
        clock: Callable[[], int],
        emergency_collar_bps: Decimal,
        stale_after_ns: int,
        id_prefix: str = "pymmh",
        history: int = 100_000,
        requote_ticks: int | None = None,
    ) -> None:
        """Wire the components; refuses an account that was not verified for the route's perp.

        ``history`` bounds the kept intents, latencies and finished orders (the newest are kept).
        ``requote_ticks``: cancel a resting passive order once the market has moved more than this many
        ticks away from it (it is re-planned at the new touch when the cancel is confirmed); ``None``
        leaves it to the passive timeout.

        Raises:
            ValueError: the verified account is for another symbol or not at 1x.
        """
        perp = route.hedge_instrument.symbol
        if not isinstance(account, VerifiedUsdmAccount) or account.symbol != perp or account.leverage != 1:
            raise ValueError(f"hedge service needs a verified 1x one-way account for {perp}, got {account!r}")
        self.route = route
        self.account = account
        self.book = book
        self.mode_controller = mode_controller
        self.passive = passive
        self.active = active
        self.governor = governor
        self.sender = sender
        self.clock = clock
        self.emergency_collar_bps = emergency_collar_bps
        self.stale_after_ns = stale_after_ns
        self.requote_ticks = requote_ticks
        self._ids = (f"{id_prefix}-{n}" for n in itertools.count(1))
        self.in_flight: dict[str, InFlightOrder] = {}
        self.done: deque[InFlightOrder] = deque(maxlen=history)
        self.intents: deque[HedgeOrder] = deque(maxlen=history)
        self.latencies_ns: deque[int] = deque(maxlen=history)
        self.market: PerpMarket | None = None
        self.last_decision: ModeDecision | None = None
        self.last_refusal = ""
        self.stats = _Stats()
        self._last_fill_ts: int | None = None
        self.halted: str | None = None
        self._unsubscribe = bus.subscribe(self.on_delta)

    @classmethod
    def from_config(
        cls,
        cfg: HedgeConfig,
        *,
        route: HedgeRoute,
        account: VerifiedUsdmAccount,
        bus: DeltaBus,
        book: PositionBook,
        sender: OrderSender,
        clock: Callable[[], int],
    ) -> HedgeService:
        """Build the components from a config's ``[hedge]`` section and wire them.

        Raises:
            ValueError: the verified account's margin type is not the configured one.
        """
        if account.margin_type.value != cfg.margin_type:
            raise ValueError(f"account verified as {account.margin_type}, config asks {cfg.margin_type}")
        ms = 1_000_000
        perp = route.hedge_instrument
        bands = HedgeBands(cfg.no_trade_band, cfg.active_band, cfg.hard_band, cfg.passive_timeout_ms * ms)
        limits = GovernorLimits(
            max_order_qty=cfg.max_order_qty,
            max_position_qty=cfg.max_position_qty,
            rate_per_s=cfg.max_orders_per_s,
            burst=cfg.burst,
            funding_window_ns=cfg.funding_window_s * 1_000 * ms,
        )
        return cls(
            route=route,
            account=account,
            bus=bus,
            book=book,
            mode_controller=ModeController(bands),
            passive=PassivePlanner(perp, cfg.improve_ticks),
            active=ActivePlanner(perp, cfg.collar_bps),
            governor=HedgeGovernor(limits),
            sender=sender,
            clock=clock,
            emergency_collar_bps=cfg.emergency_collar_bps,
            stale_after_ns=cfg.stale_after_ms * ms,
            requote_ticks=cfg.requote_ticks,
        )

    # -- exposure ----------------------------------------------------------------------------------

    def position_delta(self) -> Decimal:
        """Net delta of the route's positions (spot and perp), base units, from booked fills."""
        return self.book.net_delta(self.route.base_asset, self.route.delta_keys)

    def committed(self) -> Decimal:
        """Signed remaining of in-flight orders that count as filled for the mode (all but resting)."""
        return sum((o.pending for o in self.in_flight.values() if not o.resting), ZERO)

    def resting(self) -> Decimal:
        """Signed remaining of acknowledged post-only orders."""
        return sum((o.pending for o in self.in_flight.values() if o.resting), ZERO)

    def exposure(self) -> Decimal:
        """Worst-case delta: positions plus every hedge order in flight (UNKNOWN included) as filled."""
        return self.position_delta() + self.committed() + self.resting()

    def perp_position_worst(self) -> Decimal:
        """The perp position if every in-flight hedge order filled."""
        return self.book.position(self.route.hedge_key) + self.committed() + self.resting()

    # -- inputs ------------------------------------------------------------------------------------

    def on_delta(self, event: DeltaEvent) -> None:
        """Delta-bus subscriber: book the fill, match it to a hedge order, re-evaluate."""
        fill = event.fill
        self.book.apply(fill)
        ours = fill.venue == self.route.hedge_venue and fill.client_order_id is not None
        if ours and (o := self.in_flight.get(fill.client_order_id or "")) is not None:
            o.filled_seen += fill.qty
            self._retire(o)
        self._last_fill_ts = fill.ts_event
        self.evaluate(fill.ts_event, trigger_ts=fill.ts_event)

    def on_market(self, market: PerpMarket) -> None:
        """The perp's top of book and mark changed."""
        self.market = market
        self.evaluate(market.ts_event)

    def on_funding(self, funding: FundingState) -> None:
        """The perp's funding rate or next funding time changed."""
        self.governor.on_funding(funding)

    def on_timer(self, ts_ns: int) -> None:
        """A periodic tick (event time): lets the passive timeout and staleness take effect."""
        self.evaluate(ts_ns)

    def on_order_update(self, update: OrderUpdate) -> None:
        """A venue answer (or a send timeout: UNKNOWN) for one of our hedge orders."""
        o = self.in_flight.get(update.client_order_id)
        if o is None:
            return
        o.status = update.status
        if update.status is not OrderStatus.UNKNOWN:
            o.cum_reported = max(o.cum_reported, update.cum_filled)
        self._retire(o)
        self.evaluate(update.ts_event)

    def reconcile(self, snapshot: DropCopySnapshot) -> ReconciliationReport:
        """Reconcile the position book with a drop copy; a break puts the service in emergency."""
        report = self.book.reconcile(snapshot)
        self.evaluate(snapshot.ts_event)
        return report

    def halt(self, reason: str) -> None:
        """The kill switch: no new hedge order from now on, and every resting one is cancelled.

        Orders already sent stay counted (an UNKNOWN one stays reserved until resolved); the delta
        left unhedged is the operator's to see in the status. Idempotent."""
        self.halted = reason
        for o in list(self.in_flight.values()):
            if o.resting:
                self._cancel(o)

    def resume(self) -> None:
        """The kill latch was lifted (two operators): hedging decides again at the next event."""
        self.halted = None

    # -- the decision ------------------------------------------------------------------------------

    def _retire(self, o: InFlightOrder) -> None:
        if o.status.terminal and o.filled_seen >= o.cum_reported:
            self.in_flight.pop(o.order.client_order_id, None)
            self.done.append(o)

    def _cancel(self, o: InFlightOrder) -> None:
        if not o.cancel_requested:
            o.cancel_requested = True
            self.stats.cancels += 1
            self.sender.cancel(o.order.client_order_id)

    def _left_behind(self, o: InFlightOrder, market: PerpMarket | None) -> bool:
        """A resting order more than ``requote_ticks`` behind where a passive order belongs now."""
        if market is None or self.requote_ticks is None:
            return False
        now = self.passive.price_ticks(o.order.side, market)
        mine = int(o.order.price / self.passive.tick)
        behind = now - mine if o.order.side is Side.BUY else mine - now
        return behind > self.requote_ticks

    def _data_fresh(self, ts_ns: int) -> bool:
        return self.market is not None and ts_ns - self.market.ts_event <= self.stale_after_ns

    def evaluate(self, ts_ns: int, trigger_ts: int | None = None) -> ModeDecision:
        """Decide at event time ``ts_ns``; send at most one new hedge order.

        Returns:
            The mode decision taken.
        """
        self.stats.evaluations += 1
        market = self.market
        fresh = self._data_fresh(ts_ns)
        mode_delta = self.position_delta() + self.committed()
        reference = market.mid if market is not None else ZERO
        decision = self.mode_controller.update(
            ts_ns,
            mode_delta * reference,
            reconciliation_ok=not self.book.hedging_blocked,
            data_fresh=fresh,
        )
        self.last_decision = decision
        want_side = Side.SELL if mode_delta > 0 else Side.BUY
        for o in list(self.in_flight.values()):
            if o.resting and (
                self.halted is not None
                or decision.in_band
                or decision.mode is not HedgeMode.PASSIVE
                or o.order.side is not want_side
                or self._left_behind(o, market)
            ):
                self._cancel(o)
        if self.halted is not None or decision.in_band or not decision.hedge_allowed or market is None:
            return decision
        if decision.mode is not HedgeMode.PASSIVE and any(o.resting for o in self.in_flight.values()):
            return decision  # wait for the cancels: the resting orders may still fill
        need = -self.exposure()
        if need == 0 or (need > 0) != (want_side is Side.BUY):
            return decision
        perp_now = self.perp_position_worst()
        max_qty = self.governor.limits.max_order_qty
        plan: HedgePlan | PlanRefused
        if decision.mode is HedgeMode.PASSIVE:
            plan = self.passive.plan(need, market, perp_position=perp_now, max_qty=max_qty)
        else:
            collar = self.emergency_collar_bps if decision.mode is HedgeMode.EMERGENCY else None
            plan = self.active.plan(
                need, market, perp_position=perp_now, max_qty=max_qty, mode=decision.mode, collar_bps=collar
            )
        if isinstance(plan, PlanRefused):
            key = plan.reason.split(":", 1)[0]
            self.stats.plan_refusals[key] = self.stats.plan_refusals.get(key, 0) + 1
            self.last_refusal = plan.reason
            return decision
        verdict = self.governor.check(plan, ts_ns, perp_now)
        if not verdict.approved:
            self.stats.governor_refusals += 1
            self.last_refusal = verdict.reason
            return decision
        self._send(plan, trigger_ts if trigger_ts is not None else (self._last_fill_ts or ts_ns))
        return decision

    def _send(self, plan: HedgePlan, trigger_ts: int) -> None:
        inst = self.route.hedge_instrument
        order = HedgeOrder(
            client_order_id=next(self._ids),
            venue=self.route.hedge_venue,
            symbol=plan.symbol,
            side=plan.side,
            order_type=plan.order_type,
            time_in_force=plan.time_in_force,
            price=plan.price,
            qty=plan.qty,
            price_text=inst.price_to_str(plan.price_ticks),
            qty_text=inst.qty_to_str(plan.qty_lots),
            reduce_only=plan.reduce_only,
            mode=plan.mode,
            ts_trigger=trigger_ts,
            ts_intent=self.clock(),
        )
        # Counted before the send: an exception or a timeout inside submit leaves it reserved.
        self.in_flight[order.client_order_id] = InFlightOrder(order)
        self.intents.append(order)
        self.latencies_ns.append(order.latency_ns)
        self.stats.intents += 1
        self.sender.submit(order)

    def close(self) -> None:
        """Stop listening to the delta bus."""
        self._unsubscribe()
