"""Planners: post-only at the touch, collared IOC, lot and tick grids, the venue's own filters."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymm._native import Instrument
from pymm.hedge import ActivePlanner, HedgeMode, HedgePlan, PassivePlanner, PerpMarket, PlanRefused, Side
from pymm.hedge.planner import collar_bound_ticks, qty_to_lots

D = Decimal
MKT = PerpMarket(best_bid=D("0.16000"), best_ask=D("0.16003"), mark_price=D("0.16001"), ts_event=0)


def _plan(p: HedgePlan | PlanRefused) -> HedgePlan:
    assert isinstance(p, HedgePlan), p
    return p


def test_passive_joins_the_touch(perp: Instrument) -> None:
    buy = _plan(PassivePlanner(perp).plan(D(100), MKT))
    assert (buy.side, buy.time_in_force, buy.order_type) == (Side.BUY, "GTX", "LIMIT")
    assert (buy.price, buy.price_ticks, buy.qty, buy.qty_lots) == (D("0.16000"), 16000, D(100), 100)
    assert buy.mode is HedgeMode.PASSIVE and not buy.reduce_only and buy.collar_bps is None
    sell = _plan(PassivePlanner(perp).plan(D(-100), MKT))
    assert (sell.side, sell.price) == (Side.SELL, D("0.16003"))
    assert sell.signed_qty == D(-100)


@pytest.mark.parametrize(("improve", "bid", "ask"), [(1, "0.16001", "0.16002"), (5, "0.16002", "0.16001")])
def test_passive_improves_inside_but_never_crosses(
    perp: Instrument, improve: int, bid: str, ask: str
) -> None:
    p = PassivePlanner(perp, improve_ticks=improve)
    assert _plan(p.plan(D(100), MKT)).price == D(bid)
    assert _plan(p.plan(D(-100), MKT)).price == D(ask)


def test_passive_one_tick_spread_joins(perp: Instrument) -> None:
    tight = PerpMarket(D("0.16000"), D("0.16001"), D("0.16"), 0)
    assert _plan(PassivePlanner(perp, improve_ticks=3).plan(D(100), tight)).price == D("0.16000")


def test_active_prices_at_the_collar_bound(perp: Instrument) -> None:
    # mid 0.160015; buy bound 0.160015 * 1.002 = 0.16033503 -> floor 0.16033;
    # sell bound 0.160015 * 0.998 = 0.15969497 -> ceil 0.15970.
    a = ActivePlanner(perp, D(20))
    buy = _plan(a.plan(D(1000), MKT))
    assert (buy.time_in_force, buy.price, buy.reference_price, buy.collar_bps) == (
        "IOC",
        D("0.16033"),
        D("0.160015"),
        D(20),
    )
    sell = _plan(a.plan(D(-1000), MKT, mode=HedgeMode.EMERGENCY, collar_bps=D(50)))
    # 0.160015 * 0.995 = 0.159214925 -> ceil 0.15922
    assert (sell.price, sell.mode, sell.collar_bps) == (D("0.15922"), HedgeMode.EMERGENCY, D(50))


def test_collar_bound_exact_on_a_tick(perp: Instrument) -> None:
    assert collar_bound_ticks(D("0.1"), D(100), Side.BUY, D("0.00001")) == 10100
    assert collar_bound_ticks(D("0.1"), D(100), Side.SELL, D("0.00001")) == 9900
    with pytest.raises(ValueError):
        collar_bound_ticks(D("0.1"), D(-1), Side.BUY, D("0.00001"))


@pytest.mark.parametrize(
    ("need", "lots"), [("0.5", 0), ("0.51", 1), ("1.5", 1), ("2.5", 2), ("2.51", 3), ("-7.2", 7)]
)
def test_qty_to_lots_nearest_ties_down(need: str, lots: int) -> None:
    assert qty_to_lots(D(need), D(1)) == lots


def test_refusals(perp: Instrument) -> None:
    a = ActivePlanner(perp, D(20))
    assert a.plan(D(0), MKT) == PlanRefused("nothing to hedge")
    assert "half a lot" in _refused(a.plan(D("0.5"), MKT)).reason
    small = _refused(a.plan(D("31.5"), MKT))  # 31 lots at 0.16033 = 4.97 USDT < 5
    assert small.venue_code == -4164 and "-4164" in small.reason
    assert _plan(a.plan(D(32), MKT)).qty == D(32)
    wide = _refused(ActivePlanner(perp, D(600)).plan(D(1000), MKT))  # beyond the +5% mark band
    assert wide.venue_code == -4016


def _refused(p: HedgePlan | PlanRefused) -> PlanRefused:
    assert isinstance(p, PlanRefused), p
    return p


def test_reduce_only_waives_min_notional(perp: Instrument) -> None:
    a = ActivePlanner(perp, D(20))
    p = _plan(a.plan(D(3), MKT, perp_position=D(-10)))  # buying back 3 of a 10 short
    assert p.reduce_only and p.qty == D(3)
    assert _plan(a.plan(D(100), MKT, perp_position=D(-10_000))).reduce_only
    assert not _plan(a.plan(D(100), MKT, perp_position=D(50))).reduce_only  # same side: grows


def test_max_qty_floors_to_a_lot(perp: Instrument) -> None:
    assert _plan(ActivePlanner(perp, D(20)).plan(D(1000), MKT, max_qty=D("300.7"))).qty == D(300)


def test_planners_refuse_a_spot_instrument_and_bad_settings(spot: Instrument, perp: Instrument) -> None:
    with pytest.raises(ValueError, match="USD-M"):
        PassivePlanner(spot)
    with pytest.raises(ValueError):
        PassivePlanner(perp, improve_ticks=-1)
    with pytest.raises(ValueError):
        ActivePlanner(perp, D(0))


def test_market_refuses_floats_and_crossed_books() -> None:
    with pytest.raises(ValueError):
        PerpMarket(0.16, D("0.17"), D("0.16"), 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="crossed"):
        PerpMarket(D("0.17"), D("0.17"), D("0.17"), 0)


_mid_ticks = st.integers(10_000, 30_000)  # 0.1 .. 0.3 USDT
_needs = st.decimals(min_value=D(-200_000), max_value=D(200_000), places=2)


@given(_mid_ticks, st.integers(1, 20), st.integers(1, 400), _needs)
def test_property_active_plans_stay_inside_the_collar(
    perp: Instrument, bid: int, spread: int, bps: int, need: Decimal
) -> None:
    tick = D("0.00001")
    mkt = PerpMarket(bid * tick, (bid + spread) * tick, (bid * tick + (bid + spread) * tick) / 2, 0)
    plan = ActivePlanner(perp, D(bps)).plan(need, mkt)
    if isinstance(plan, PlanRefused):
        return
    assert plan.price == plan.price_ticks * tick and plan.time_in_force == "IOC"
    c = D(bps) / 10_000
    if plan.side is Side.BUY:
        assert plan.price <= mkt.mid * (1 + c)
    else:
        assert plan.price >= mkt.mid * (1 - c)


@given(_mid_ticks, st.booleans(), _needs, st.decimals(min_value=D(-200_000), max_value=D(200_000), places=0))
def test_property_a_full_fill_moves_delta_to_zero_without_overshoot(
    perp: Instrument, bid: int, active: bool, delta: Decimal, perp_pos: Decimal
) -> None:
    tick, lot = D("0.00001"), D(1)
    mkt = PerpMarket(bid * tick, (bid + 3) * tick, (bid + 1) * tick, 0)
    planner = ActivePlanner(perp, D(20)) if active else PassivePlanner(perp)
    plan = planner.plan(-delta, mkt, perp_position=perp_pos)
    if isinstance(plan, PlanRefused):
        assert abs(delta) * mkt.best_ask < 6 or abs(delta) <= lot / 2  # only dust is left unhedged
        return
    after = delta + plan.signed_qty
    assert abs(after) <= abs(delta)
    assert abs(after) <= lot / 2  # nearest lot: at most half a lot either way
    assert plan.qty_lots * lot == plan.qty and plan.qty > 0
