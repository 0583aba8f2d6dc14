"""Hedge service: wiring, in-flight and UNKNOWN orders, blocks, latency, and an end-to-end run."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm._native import Instrument
from pymm.hedge import (
    DropCopySnapshot,
    FundingState,
    HedgeMode,
    HedgeOrder,
    HedgeRouter,
    HedgeService,
    Market,
    OrderStatus,
    OrderUpdate,
    Side,
    VerifiedUsdmAccount,
)
from pymm.hedge.usdm_connector import MarginType
from tests.hedge._harness import PERP_KEY, SPOT_KEY, Rig, ScriptedPerp, make_rig, market, spot_fill
from tests.hedge.conftest import MS, PERP_VENUE, SPOT_VENUE, S, fill

D = Decimal
MID = 16_000  # 0.16000 USDT


@pytest.fixture
def rig(spot: Instrument, perp: Instrument) -> Rig:
    r = make_rig(spot, perp)
    r.svc.on_market(market(MID, 0))
    return r


def _spot(r: Rig, side: str, qty: int, ts: int, latency: int = 300_000) -> None:
    r.clock.now = ts + latency
    r.bus.publish(fill(side, qty, ts=ts))


def test_small_delta_is_hedged_passively_with_latency(rig: Rig) -> None:
    _spot(rig, "BUY", 500, ts=10 * MS)  # 80 USDT: outside no-trade (10), inside active (150)
    (o,) = rig.sender.submitted
    assert (o.side, o.time_in_force, o.qty, o.price, o.mode) == (
        Side.SELL,
        "GTX",
        D(500),
        D("0.16001"),
        HedgeMode.PASSIVE,
    )
    assert (o.price_text, o.qty_text, o.venue) == ("0.16001", "500", PERP_VENUE)
    assert (o.ts_trigger, o.latency_ns) == (10 * MS, 300_000) and list(rig.svc.latencies_ns) == [300_000]
    assert rig.svc.exposure() == 0 and rig.svc.position_delta() == D(500)


def test_history_is_bounded(spot: Instrument, perp: Instrument) -> None:
    r = make_rig(spot, perp)
    r2 = HedgeService(
        route=r.svc.route,
        account=r.svc.account,
        bus=r.bus,
        book=r.book,
        mode_controller=r.svc.mode_controller,
        passive=r.svc.passive,
        active=r.svc.active,
        governor=r.svc.governor,
        sender=r.sender,
        clock=r.clock,
        emergency_collar_bps=D(50),
        stale_after_ns=10 * S,
        history=2,
    )
    r.svc.close()
    r2.on_market(market(MID, 0))
    for i in range(4):  # each fill moves the delta past the active band; IOCs in flight count as filled
        _spot(r, "SELL", 5000, ts=i + 1)
    assert r2.stats.intents == 4 and len(r2.intents) == 2 and len(r2.latencies_ns) == 2
    assert [o.client_order_id for o in r2.intents] == ["pymmh-3", "pymmh-4"]


def test_in_band_fill_sends_nothing(rig: Rig) -> None:
    _spot(rig, "BUY", 50, ts=1)  # 8 USDT
    assert rig.sender.submitted == [] and rig.svc.last_decision is not None and rig.svc.last_decision.in_band


def test_large_delta_goes_straight_to_a_collared_ioc(rig: Rig) -> None:
    _spot(rig, "SELL", 5000, ts=1)  # 800 USDT > active band
    (o,) = rig.sender.submitted
    # mid 0.16000 * (1 + 20 bps) = 0.16032: a buy at most there.
    assert (o.side, o.time_in_force, o.price, o.qty, o.mode) == (
        Side.BUY,
        "IOC",
        D("0.16032"),
        D(5000),
        HedgeMode.ACTIVE,
    )


def test_unknown_counts_as_filled_and_is_never_resent(rig: Rig) -> None:
    _spot(rig, "SELL", 5000, ts=1)
    (o,) = rig.sender.submitted
    rig.svc.on_order_update(OrderUpdate(o.client_order_id, OrderStatus.UNKNOWN, D(0), 2 * MS))
    for t in range(1, 50):  # timers, fresh market data: nothing new is sent
        rig.svc.on_market(market(MID, t * 100 * MS))
        rig.svc.on_timer(t * 100 * MS)
    assert rig.sender.submitted == [o] and rig.svc.exposure() == 0
    assert rig.svc.in_flight[o.client_order_id].status is OrderStatus.UNKNOWN
    # The query answers: it never reached the book. Now (and only now) a new order, with a new id.
    rig.svc.on_order_update(OrderUpdate(o.client_order_id, OrderStatus.CANCELED, D(0), 5 * S))
    assert len(rig.sender.submitted) == 2 and rig.sender.submitted[1].client_order_id != o.client_order_id


def test_unknown_that_did_fill_is_not_hedged_twice(rig: Rig) -> None:
    _spot(rig, "SELL", 5000, ts=1)
    (o,) = rig.sender.submitted
    rig.svc.on_order_update(OrderUpdate(o.client_order_id, OrderStatus.UNKNOWN, D(0), 2))
    rig.bus.publish(fill("BUY", 5000, ts=3, market=Market.USDM, client_order_id=o.client_order_id))
    rig.svc.on_order_update(OrderUpdate(o.client_order_id, OrderStatus.FILLED, D(5000), 4))
    assert rig.sender.submitted == [o] and rig.svc.in_flight == {} and rig.svc.position_delta() == 0


def test_status_overtaking_its_fill_keeps_the_exposure(rig: Rig) -> None:
    _spot(rig, "SELL", 5000, ts=1)
    (o,) = rig.sender.submitted
    rig.svc.on_order_update(OrderUpdate(o.client_order_id, OrderStatus.FILLED, D(5000), 2))
    rig.svc.on_timer(3)
    assert rig.sender.submitted == [o] and rig.svc.exposure() == 0  # the fill is still on its way
    rig.bus.publish(fill("BUY", 5000, ts=4, market=Market.USDM, client_order_id=o.client_order_id))
    assert rig.svc.in_flight == {} and rig.svc.exposure() == 0


def test_partial_ioc_then_the_rest(rig: Rig) -> None:
    _spot(rig, "SELL", 5000, ts=1)
    (o,) = rig.sender.submitted
    rig.bus.publish(fill("BUY", 2000, ts=2, market=Market.USDM, client_order_id=o.client_order_id))
    assert len(rig.sender.submitted) == 1  # the remaining 3000 may still fill
    rig.svc.on_order_update(OrderUpdate(o.client_order_id, OrderStatus.EXPIRED, D(2000), 3))
    second = rig.sender.submitted[1]
    assert (second.side, second.qty, second.time_in_force) == (Side.BUY, D(3000), "IOC")


def test_resting_passive_order_is_cancelled_before_going_active(rig: Rig) -> None:
    _spot(rig, "BUY", 500, ts=0)
    (p,) = rig.sender.submitted
    rig.svc.on_order_update(OrderUpdate(p.client_order_id, OrderStatus.ACCEPTED, D(0), 1))
    assert rig.svc.resting() == D(-500) and rig.svc.committed() == 0
    rig.svc.on_market(market(MID, 1999 * MS))
    assert rig.sender.cancelled == []
    rig.svc.on_market(market(MID, 2000 * MS))  # the passive timeout
    assert rig.svc.last_decision is not None and rig.svc.last_decision.mode is HedgeMode.ACTIVE
    assert rig.sender.cancelled == [p.client_order_id] and len(rig.sender.submitted) == 1  # waits for it
    rig.svc.on_timer(2001 * MS)
    assert rig.sender.cancelled == [p.client_order_id]  # asked once
    rig.svc.on_order_update(OrderUpdate(p.client_order_id, OrderStatus.CANCELED, D(0), 2002 * MS))
    a = rig.sender.submitted[1]
    assert (a.side, a.time_in_force, a.qty, a.mode) == (Side.SELL, "IOC", D(500), HedgeMode.ACTIVE)


def test_delta_back_in_band_cancels_resting_orders(rig: Rig) -> None:
    _spot(rig, "BUY", 500, ts=0)
    (p,) = rig.sender.submitted
    rig.svc.on_order_update(OrderUpdate(p.client_order_id, OrderStatus.ACCEPTED, D(0), 1))
    _spot(rig, "SELL", 480, ts=2)  # our quotes sold it back: 20 DOGE = 3.2 USDT, in band
    assert rig.sender.cancelled == [p.client_order_id] and len(rig.sender.submitted) == 1


def test_reconciliation_break_blocks_hedging_until_it_agrees(rig: Rig) -> None:
    report = rig.svc.reconcile(DropCopySnapshot(5, {PERP_KEY: D(-777)}))
    assert not report.ok and rig.book.hedging_blocked
    _spot(rig, "SELL", 5000, ts=6)
    d = rig.svc.last_decision
    assert d is not None and d.mode is HedgeMode.EMERGENCY and not d.hedge_allowed
    assert rig.sender.submitted == [] and "reconciliation" in d.reasons[0]
    rig.book.accept_venue_value(PERP_KEY, D(-777), operator="ana", reason="test")
    rig.svc.on_market(market(MID, 7))
    assert rig.sender.submitted[0].qty == D(5777)  # 5000 spot sold and 777 short perp: buy 5777


def test_kill_cancels_resting_hedges_and_blocks_new_ones_until_lifted(rig: Rig) -> None:
    """Fault-matrix row 21 on the hedge venue: the kill switch cancels every resting hedge order and
    sends nothing new, whatever the delta, until the latch is lifted."""
    _spot(rig, "BUY", 500, ts=0)
    (p,) = rig.sender.submitted
    rig.svc.on_order_update(OrderUpdate(p.client_order_id, OrderStatus.ACCEPTED, D(0), 1))
    rig.svc.halt("operator kill")
    assert rig.sender.cancelled == [p.client_order_id]
    rig.svc.on_order_update(OrderUpdate(p.client_order_id, OrderStatus.CANCELED, D(0), 2))
    _spot(rig, "BUY", 5000, ts=3)  # far outside every band: emergency, yet nothing is sent
    rig.svc.on_timer(5000 * MS)
    assert len(rig.sender.submitted) == 1 and rig.svc.halted == "operator kill"
    rig.svc.resume()
    rig.svc.on_market(market(MID, 5001 * MS))
    h = rig.sender.submitted[1]
    assert (h.side, h.qty) == (Side.SELL, D(5500))


def test_stale_market_blocks_hedging(rig: Rig) -> None:
    _spot(rig, "SELL", 5000, ts=1001 * MS)  # the book is from t=0: older than 1000 ms
    d = rig.svc.last_decision
    assert d is not None and not d.hedge_allowed and "stale" in d.reasons[0] and rig.sender.submitted == []
    rig.svc.on_market(market(MID, 1002 * MS))
    assert len(rig.sender.submitted) == 1


def test_emergency_uses_the_wider_collar(rig: Rig) -> None:
    _spot(rig, "SELL", 20_000, ts=1)  # 3200 USDT > hard band 1500
    (o,) = rig.sender.submitted
    assert o.mode is HedgeMode.EMERGENCY and o.price == D("0.16080")  # 0.16 * 1.005


def test_governor_caps_the_order_and_the_rest_follows(spot: Instrument, perp: Instrument) -> None:
    r = make_rig(spot, perp, max_order_qty=D(3000))
    r.svc.on_market(market(MID, 0))
    _spot(r, "SELL", 5000, ts=1)
    (o,) = r.sender.submitted
    assert o.qty == D(3000)
    r.bus.publish(fill("BUY", 3000, ts=2, market=Market.USDM, client_order_id=o.client_order_id))
    r.svc.on_order_update(OrderUpdate(o.client_order_id, OrderStatus.FILLED, D(3000), 3))
    assert r.sender.submitted[1].qty == D(2000)


def test_funding_rule_defers_a_growing_hedge(spot: Instrument, perp: Instrument) -> None:
    r = make_rig(spot, perp)
    r.svc.on_market(market(MID, 0))
    r.svc.on_funding(FundingState(D("-0.0005"), next_funding_ns=30 * S))  # shorts pay
    _spot(r, "BUY", 500, ts=1)  # hedge: sell the perp, growing a short 30 s before funding
    assert r.sender.submitted == [] and r.svc.last_refusal.startswith("funding:")
    r.svc.on_market(market(MID, 30 * S + 1))  # paid: allowed now
    assert len(r.sender.submitted) == 1


def test_refuses_an_unverified_or_foreign_account(spot: Instrument, perp: Instrument) -> None:
    r = make_rig(spot, perp)
    other = VerifiedUsdmAccount("BTCUSDT", 1, MarginType.CROSSED, D(0))
    kwargs = {
        name: getattr(r.svc, name) for name in ("book", "passive", "active", "governor", "sender", "clock")
    }
    with pytest.raises(ValueError, match="verified"):
        HedgeService(
            route=r.svc.route,
            account=other,
            bus=r.bus,
            mode_controller=r.svc.mode_controller,
            emergency_collar_bps=D(50),
            stale_after_ns=1,
            **kwargs,  # type: ignore[arg-type]
        )


def test_config_margin_type_must_match_the_account(spot: Instrument, perp: Instrument) -> None:
    with pytest.raises(ValueError, match="config asks ISOLATED"):
        r = make_rig(spot, perp)
        from pymm.config import HedgeConfig

        HedgeService.from_config(
            HedgeConfig(max_order_qty=D(1), max_position_qty=D(1), margin_type="ISOLATED"),
            route=HedgeRouter.spot_to_perp(spot, SPOT_VENUE, perp, PERP_VENUE).route("DOGE"),
            account=r.svc.account,
            bus=r.bus,
            book=r.book,
            sender=r.sender,
            clock=r.clock,
        )


def run_scripted_session(
    spot: Instrument, perp: Instrument, seed: int, steps: int = 400
) -> dict[str, object]:
    """Spot fills around a 200k DOGE inventory hedged on the perp; hedges fill on a scripted venue."""
    rng = random.Random(seed)
    venue = ScriptedPerp(random.Random(seed + 1))
    opening = 200_000
    r = make_rig(spot, perp, opening_spot=opening, opening_perp=-opening, sender=venue)  # type: ignore[arg-type]
    mid, ts = MID, 0
    r.svc.on_market(market(mid, ts))
    worst, reconciliations, breaks = D(0), 0, 0
    spot_venue = D(opening)
    spot_fill_ts: set[int] = set()
    for i in range(steps):
        ts += 100 * MS
        mid += rng.choice([-2, -1, 0, 0, 1, 2])
        r.clock.now = ts
        r.svc.on_market(market(mid, ts))
        for _ in range(rng.choice([0, 0, 1])):
            ts += 1 * MS
            r.clock.now = ts + 250_000  # 250 µs from fill to intent on the fake clock
            f = spot_fill(rng, mid, ts)
            spot_fill_ts.add(ts)
            spot_venue += f.signed_qty  # the spot venue's own count of our balance
            r.bus.publish(f)
        venue.step(r, market(mid, ts), ts)
        r.svc.on_timer(ts)
        venue.step(r, market(mid, ts), ts)
        # After this step's hedges had their chance: delta vs the spot inventory's notional.
        price = mid * D("0.00001")
        spot_notional = r.book.position(SPOT_KEY) * price
        ratio = abs(r.svc.position_delta() * price) / spot_notional
        worst = max(worst, ratio)
        if i % 25 == 24 and venue.idle():
            reconciliations += 1
            snap = venue.snapshot(ts, D(-opening))
            snap = DropCopySnapshot(ts, {**snap.positions, SPOT_KEY: spot_venue})
            breaks += len(r.svc.reconcile(snap).breaks)
    # The book's perp position is the venue's, to the unit.
    assert r.book.position(PERP_KEY) == D(-opening) + venue.position
    assert r.book.position(SPOT_KEY) == spot_venue
    return {
        "worst_ratio": worst,
        "reconciliations": reconciliations,
        "breaks": breaks,
        "orders": venue.submitted,
        "latencies": r.svc.latencies_ns,
        "spot_fill_ts": spot_fill_ts,
        "svc": r.svc,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_end_to_end_delta_stays_within_one_percent(spot: Instrument, perp: Instrument, seed: int) -> None:
    out = run_scripted_session(spot, perp, seed)
    worst = out["worst_ratio"]
    assert isinstance(worst, Decimal) and worst <= D("0.01"), f"worst |delta|/notional {worst}"
    assert out["breaks"] == 0 and out["reconciliations"] >= 10  # positions agree with the venue every time
    orders = out["orders"]
    assert isinstance(orders, list) and orders, "the session must have hedged"
    assert all(o.order_type == "LIMIT" and o.time_in_force in ("GTX", "IOC") for o in orders)
    modes = {o.mode for o in orders}
    assert HedgeMode.PASSIVE in modes and HedgeMode.ACTIVE in modes
    ids = [o.client_order_id for o in orders]
    assert len(ids) == len(set(ids))  # never resent under the same id
    # Intents prompted by a spot fill are stamped with that fill's time.
    spot_ts = out["spot_fill_ts"]
    assert isinstance(spot_ts, set) and any(o.ts_trigger in spot_ts for o in orders)


_TERMINAL = [OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.FILLED, OrderStatus.REJECTED]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_property_in_flight_orders_count_as_filled(
    spot: Instrument, perp: Instrument, data: st.DataObject
) -> None:
    """Random spot fills, venue statuses (UNKNOWN among them) and hedge fills, in any order.

    The service's exposure always equals positions plus every order's worst-case remainder (computed
    here independently), an UNKNOWN order stays reserved until a venue answer, and no id is sent twice.
    """
    r = make_rig(spot, perp)
    r.svc.on_market(market(MID, 0))
    model: dict[str, dict[str, object]] = {}  # id -> side, qty, filled (published), status, cum
    ts = 0
    for _ in range(data.draw(st.integers(1, 25), label="steps")):
        ts += 10 * MS
        r.svc.on_market(market(MID, ts))
        for o in r.sender.submitted:
            model.setdefault(
                o.client_order_id, {"o": o, "filled": D(0), "status": OrderStatus.SENT, "cum": D(0)}
            )
        live = [k for k, m in model.items() if not m["status"].terminal]  # type: ignore[attr-defined]
        fillable = [
            k for k, m in model.items()
            if (m["cum"] if m["status"].terminal else m["o"].qty) > m["filled"]  # type: ignore[attr-defined,operator]
        ]  # fmt: skip
        action = data.draw(st.sampled_from(["spot", "status", "fill"]), label="action")
        if action == "spot" or (action == "status" and not live) or (action == "fill" and not fillable):
            side = data.draw(st.sampled_from(["BUY", "SELL"]), label="side")
            _spot(r, side, data.draw(st.sampled_from([100, 700, 3000, 12_000])), ts)
        elif action == "status":
            k = data.draw(st.sampled_from(live), label="order")
            m = model[k]
            status = data.draw(st.sampled_from([OrderStatus.UNKNOWN, OrderStatus.ACCEPTED, *_TERMINAL]))
            o = m["o"]
            assert isinstance(o, HedgeOrder)
            lo = int(m["filled"])  # type: ignore[call-overload]
            cum = o.qty if status is OrderStatus.FILLED else D(data.draw(st.integers(lo, int(o.qty))))
            if status in (OrderStatus.UNKNOWN, OrderStatus.ACCEPTED):
                cum = D(0)
            m["status"], m["cum"] = status, (cum if status.terminal else m["cum"])
            r.svc.on_order_update(OrderUpdate(k, status, cum, ts))
        else:
            k = data.draw(st.sampled_from(fillable), label="order")
            m = model[k]
            o = m["o"]
            assert isinstance(o, HedgeOrder)
            cap = (m["cum"] if m["status"].terminal else o.qty) - m["filled"]  # type: ignore[attr-defined,operator]
            q = D(data.draw(st.integers(1, int(cap))))
            m["filled"] = m["filled"] + q  # type: ignore[operator]
            r.bus.publish(fill(o.side.value, q, o.price, ts=ts, market=Market.USDM, client_order_id=k))
        for o in r.sender.submitted:
            model.setdefault(
                o.client_order_id, {"o": o, "filled": D(0), "status": OrderStatus.SENT, "cum": D(0)}
            )
        worst = D(0)
        for m in model.values():
            o = m["o"]
            assert isinstance(o, HedgeOrder)
            total = m["cum"] if m["status"].terminal else o.qty  # type: ignore[attr-defined]
            rem = total - m["filled"]  # type: ignore[operator]
            worst += rem if o.side is Side.BUY else -rem
            if m["status"] is OrderStatus.UNKNOWN:
                assert o.client_order_id in r.svc.in_flight
        assert r.svc.exposure() == r.svc.position_delta() + worst
        ids = [o.client_order_id for o in r.sender.submitted]
        assert len(ids) == len(set(ids))


def test_a_spot_fill_with_a_hedge_id_is_not_taken_for_the_hedge(rig: Rig) -> None:
    _spot(rig, "SELL", 5000, ts=1)
    (o,) = rig.sender.submitted
    rig.bus.publish(fill("BUY", 100, ts=2, client_order_id=o.client_order_id))  # spot venue, same text
    assert rig.svc.in_flight[o.client_order_id].filled_seen == 0


def test_rate_limited_hedges_net_the_backlog(spot: Instrument, perp: Instrument) -> None:
    """A burst of fills beyond the hedge rate: later hedges cover the accumulated delta, not fill by fill."""
    venue = ScriptedPerp(random.Random(7), gtx_fill_chance=0.0)
    opening = 200_000
    r = make_rig(
        spot, perp, opening_spot=opening, opening_perp=-opening, sender=venue,  # type: ignore[arg-type]
        max_orders_per_s=D(2), burst=1,
    )  # fmt: skip
    r.svc.on_market(market(MID, 0))
    for i in range(6):  # 6 x 2,500 DOGE sold in 6 ms: 2,400 USDT, past the hard band
        r.bus.publish(fill("SELL", 2500, ts=(i + 1) * MS))
    assert len(venue.submitted) == 1 and r.svc.governor.refused.get("rate", 0) >= 1
    ts = 6 * MS
    while ts < 2 * S:
        ts += 100 * MS
        r.svc.on_market(market(MID, ts))
        venue.step(r, market(MID, ts), ts)
    sizes = [o.qty for o in venue.submitted]
    assert sizes == [D(2500), D(12_500)]  # the second, at the next token, nets the other five fills
    assert r.svc.position_delta() == 0 and r.book.position(PERP_KEY) == D(-opening + 15_000)


def test_passive_order_left_behind_is_replaced_at_the_touch(rig: Rig) -> None:
    _spot(rig, "BUY", 500, ts=0)  # sell 500 GTX at the ask 0.16001
    (p,) = rig.sender.submitted
    rig.svc.on_order_update(OrderUpdate(p.client_order_id, OrderStatus.ACCEPTED, D(0), 1))
    rig.svc.on_market(market(MID - 3, 2))  # ask 0.15998: 3 ticks behind, within requote_ticks = 3
    assert rig.sender.cancelled == []
    rig.svc.on_market(market(MID + 5, 3))  # the market moved toward us: never a reason to cancel
    assert rig.sender.cancelled == []
    rig.svc.on_market(market(MID - 10, 4))  # ask 0.15991: 10 ticks behind
    assert rig.sender.cancelled == [p.client_order_id] and len(rig.sender.submitted) == 1
    rig.svc.on_order_update(OrderUpdate(p.client_order_id, OrderStatus.CANCELED, D(0), 5))
    q = rig.sender.submitted[1]
    assert (q.side, q.time_in_force, q.price, q.qty) == (Side.SELL, "GTX", D("0.15991"), D(500))
