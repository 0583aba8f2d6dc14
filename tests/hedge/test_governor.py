"""Governor: size, position, rate (token bucket on event time) and the funding rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymm.hedge import FundingState, GovernorLimits, HedgeGovernor, HedgeMode, HedgePlan, Side, TokenBucket
from tests.hedge.conftest import MS, S

D = Decimal
LIMITS = GovernorLimits(
    max_order_qty=D(10_000), max_position_qty=D(100_000), rate_per_s=D(2), burst=3, funding_window_ns=60 * S
)


def plan(side: Side, qty: int | Decimal, mode: HedgeMode = HedgeMode.ACTIVE, tif: str = "IOC") -> HedgePlan:
    q = D(qty)
    return HedgePlan("DOGEUSDT", side, tif, 16000, int(q), D("0.16"), q, False, mode, D("0.16"))


def test_token_bucket_by_hand() -> None:
    b = TokenBucket(D(2), 3)  # 2 per second, burst 3
    assert [b.try_take(0) for _ in range(4)] == [True, True, True, False]
    assert b.available(250 * MS) == D("0.5")
    assert not b.try_take(250 * MS)
    assert b.try_take(500 * MS) and not b.try_take(500 * MS)
    assert b.available(100 * S) == 3  # capped at the burst
    assert b.available(0) == 3  # an older stamp adds nothing and takes nothing
    with pytest.raises(ValueError):
        TokenBucket(D(0), 1)


def test_size_and_position_limits() -> None:
    g = HedgeGovernor(LIMITS)
    assert "max_order_qty" in g.check(plan(Side.SELL, 10_001), 0, D(0)).reason
    assert g.check(plan(Side.SELL, 10_000), 0, D(-90_000)).approved
    d = g.check(plan(Side.SELL, 1), 0, D(-100_000))
    assert not d.approved and "max_position_qty" in d.reason
    assert g.check(plan(Side.BUY, 1), 0, D(-200_000)).approved  # reducing is always allowed
    assert g.refused == {"size": 1, "position": 1}


def test_rate_limit_and_only_approvals_take_tokens() -> None:
    g = HedgeGovernor(LIMITS)
    assert not g.check(plan(Side.SELL, 20_000), 0, D(0)).approved  # refused on size: no token spent
    assert all(g.check(plan(Side.SELL, 1), 0, D(0)).approved for _ in range(3))
    d = g.check(plan(Side.SELL, 1), 0, D(0))
    assert not d.approved and d.reason.startswith("rate:")
    assert g.check(plan(Side.SELL, 1), 500 * MS, D(0)).approved


def test_refuses_anything_but_gtx_or_ioc_limits() -> None:
    g = HedgeGovernor(LIMITS)
    assert "order type" in g.check(plan(Side.BUY, 1, tif="GTC"), 0, D(0)).reason


@pytest.mark.parametrize(
    ("rate", "side", "before", "to_go_s", "refused"),
    [
        ("0.0001", Side.BUY, 0, 30, True),  # opening a long that pays positive funding
        ("0.0001", Side.SELL, 0, 30, False),  # a short receives it
        ("-0.0001", Side.SELL, 0, 30, True),  # a short pays negative funding
        ("-0.0001", Side.SELL, 500, 30, False),  # reducing a long
        ("0.0001", Side.BUY, 0, 61, False),  # outside the 60 s window
        ("0.0001", Side.BUY, 0, -1, False),  # the funding time has passed
        ("0", Side.BUY, 0, 30, False),  # nothing to pay
    ],
)
def test_funding_rule(rate: str, side: Side, before: int, to_go_s: int, refused: bool) -> None:
    g = HedgeGovernor(LIMITS)
    g.on_funding(FundingState(D(rate), next_funding_ns=100 * S))
    d = g.check(plan(side, 100), (100 - to_go_s) * S, D(before))
    assert d.approved is not refused
    if refused:
        assert d.reason.startswith("funding:") and "pays" in d.reason


def test_emergency_overrides_the_funding_rule() -> None:
    g = HedgeGovernor(LIMITS)
    g.on_funding(FundingState(D("0.0001"), next_funding_ns=100 * S))
    assert g.check(plan(Side.BUY, 100, HedgeMode.EMERGENCY), 99 * S, D(0)).approved


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        HedgeGovernor(GovernorLimits(D(0), D(1), D(1), 1, 0))


@given(
    st.lists(
        st.tuples(st.integers(0, 2 * S), st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 20_000)),
        max_size=60,
    )
)
def test_property_never_exceeds_rate_size_or_position(steps: list[tuple[int, Side, int]]) -> None:
    g = HedgeGovernor(LIMITS)
    ts, pos = 0, D(0)
    approved_at: list[int] = []
    for dt, side, qty in steps:
        ts += dt
        p = plan(side, qty)
        if g.check(p, ts, pos).approved:
            assert p.qty <= LIMITS.max_order_qty
            new = pos + p.signed_qty
            assert abs(new) <= LIMITS.max_position_qty or abs(new) < abs(pos)
            pos = new
            approved_at.append(ts)
    # In any window [t0, t0 + w], approvals <= burst + rate * w.
    for i, t0 in enumerate(approved_at):
        for j in range(i, len(approved_at)):
            w = D(approved_at[j] - t0) / S
            assert j - i + 1 <= LIMITS.burst + LIMITS.rate_per_s * w
