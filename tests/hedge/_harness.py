"""A hedge service wired to fakes, and a scripted perp venue for end-to-end runs."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from decimal import Decimal

from pymm._native import Instrument
from pymm.config import HedgeConfig
from pymm.hedge import (
    DeltaBus,
    DropCopySnapshot,
    Fill,
    HedgeOrder,
    HedgeRouter,
    HedgeService,
    MarginType,
    Market,
    OrderStatus,
    OrderUpdate,
    PerpMarket,
    PositionBook,
    PositionKey,
    Side,
    verify_usdm_account,
)
from tests.hedge.conftest import PERP_VENUE, SPOT_VENUE, FakeClock, FakeSender, FakeUsdmAccount, fill

SPOT_KEY = PositionKey(SPOT_VENUE, Market.SPOT, "DOGEUSDT")
PERP_KEY = PositionKey(PERP_VENUE, Market.USDM, "DOGEUSDT")
TICK = Decimal("0.00001")


@dataclass
class Rig:
    """The service and everything around it."""

    svc: HedgeService
    bus: DeltaBus
    book: PositionBook
    sender: FakeSender
    clock: FakeClock


def make_rig(
    spot: Instrument,
    perp: Instrument,
    *,
    opening_spot: int = 0,
    opening_perp: int = 0,
    sender: FakeSender | None = None,
    **cfg: object,
) -> Rig:
    """A service for DOGEUSDT spot → perp with ``HedgeConfig`` defaults plus ``cfg``."""
    settings: dict[str, object] = {"max_order_qty": Decimal(50_000), "max_position_qty": Decimal(1_000_000)}
    settings.update(cfg)
    hc = HedgeConfig.model_validate(settings)
    api = FakeUsdmAccount(leverage=1, margin="cross", position=str(opening_perp))
    account = verify_usdm_account(api, "DOGEUSDT", MarginType(hc.margin_type))
    bus = DeltaBus()
    book = PositionBook()
    book.set_opening(SPOT_KEY, Decimal(opening_spot), "DOGE")
    book.set_opening(PERP_KEY, account.position_amt, "DOGE")
    route = HedgeRouter.spot_to_perp(spot, SPOT_VENUE, perp, PERP_VENUE).route("DOGE")
    sender = sender or FakeSender()
    clock = FakeClock()
    svc = HedgeService.from_config(
        hc, route=route, account=account, bus=bus, book=book, sender=sender, clock=clock
    )
    return Rig(svc, bus, book, sender, clock)


def market(mid_ticks: int, ts: int, half_spread_ticks: int = 1) -> PerpMarket:
    """A perp book around ``mid_ticks``."""
    return PerpMarket(
        (mid_ticks - half_spread_ticks) * TICK, (mid_ticks + half_spread_ticks) * TICK, mid_ticks * TICK, ts
    )


@dataclass
class ScriptedPerp:
    """A perp venue driven by the test: IOC orders fill against the touch, GTX orders rest and fill by chance.

    It is also the sender (queues orders and cancels; :meth:`step` answers them) and the drop copy (its
    own position, from its own fills).
    """

    rng: random.Random
    status_first: float = 0.3  # chance a terminal status overtakes its fill
    gtx_fill_chance: float = 0.3
    submitted: list[HedgeOrder] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    position: Decimal = Decimal(0)
    _queue: list[tuple[str, object]] = field(default_factory=list)
    _resting: dict[str, HedgeOrder] = field(default_factory=dict)
    _trade_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def submit(self, order: HedgeOrder) -> None:
        assert order.order_type == "LIMIT" and order.time_in_force in ("GTX", "IOC")
        self.submitted.append(order)
        self._queue.append(("new", order))

    def cancel(self, client_order_id: str) -> None:
        self.cancelled.append(client_order_id)
        self._queue.append(("cancel", client_order_id))

    def _fill(self, rig: Rig, order: HedgeOrder, price: Decimal, ts: int, status: OrderStatus) -> None:
        f = Fill(
            PERP_VENUE, Market.USDM, "DOGEUSDT", "DOGE", order.side, order.qty, price,
            f"p{next(self._trade_ids)}", ts, ts, order.client_order_id,
        )  # fmt: skip
        self.position += f.signed_qty
        upd = OrderUpdate(order.client_order_id, status, order.qty, ts)
        if self.rng.random() < self.status_first:
            rig.svc.on_order_update(upd)
            rig.bus.publish(f)
        else:
            rig.bus.publish(f)
            rig.svc.on_order_update(upd)

    def step(self, rig: Rig, mkt: PerpMarket, ts: int) -> None:
        """Answer queued orders and cancels, then let resting GTX orders fill by chance."""
        while self._queue:
            kind, item = self._queue.pop(0)
            if kind == "cancel":
                assert isinstance(item, str)
                if self._resting.pop(item, None) is not None:
                    rig.svc.on_order_update(OrderUpdate(item, OrderStatus.CANCELED, Decimal(0), ts))
                continue
            assert isinstance(item, HedgeOrder)
            o = item
            if o.time_in_force == "IOC":
                crosses = o.price >= mkt.best_ask if o.side is Side.BUY else o.price <= mkt.best_bid
                if crosses:
                    touch = mkt.best_ask if o.side is Side.BUY else mkt.best_bid
                    self._fill(rig, o, touch, ts, OrderStatus.FILLED)
                else:
                    rig.svc.on_order_update(
                        OrderUpdate(o.client_order_id, OrderStatus.EXPIRED, Decimal(0), ts)
                    )
            else:
                would_take = o.price >= mkt.best_ask if o.side is Side.BUY else o.price <= mkt.best_bid
                if would_take:  # -5022: a post-only order that would cross is rejected
                    rig.svc.on_order_update(
                        OrderUpdate(o.client_order_id, OrderStatus.REJECTED, Decimal(0), ts)
                    )
                else:
                    self._resting[o.client_order_id] = o
                    rig.svc.on_order_update(
                        OrderUpdate(o.client_order_id, OrderStatus.ACCEPTED, Decimal(0), ts)
                    )
        for cid, o in list(self._resting.items()):
            if self.rng.random() < self.gtx_fill_chance:
                del self._resting[cid]
                self._fill(rig, o, o.price, ts, OrderStatus.FILLED)

    def idle(self) -> bool:
        """No order waiting for an answer."""
        return not self._queue

    def snapshot(self, ts: int, opening: Decimal) -> DropCopySnapshot:
        """The venue's view of our perp position."""
        return DropCopySnapshot(ts, {PERP_KEY: opening + self.position})


def spot_fill(rng: random.Random, mid_ticks: int, ts: int) -> Fill:
    """A spot quote of ours filled: random side and size, at the mid ± a tick."""
    side = rng.choice(["BUY", "SELL"])
    qty = rng.choice([100, 250, 500, 1000, 2500])
    price = (mid_ticks + rng.choice([-1, 1])) * TICK
    return fill(side, qty, price, ts=ts)
