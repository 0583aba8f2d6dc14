"""Mode controller: bands, the passive timeout, hysteresis, forced emergencies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymm.hedge import HedgeBands, HedgeMode, ModeController
from tests.hedge.conftest import MS

BANDS = HedgeBands(Decimal(10), Decimal(150), Decimal(1500), passive_timeout_ns=2000 * MS)


D = Decimal


def test_in_band_is_passive_with_nothing_to_do() -> None:
    d = ModeController(BANDS).update(0, D(-10))
    assert d.mode is HedgeMode.PASSIVE and d.in_band and d.hedge_allowed and d.outside_since_ns is None


def test_outside_no_trade_is_passive_then_active_after_the_timeout() -> None:
    mc = ModeController(BANDS)
    assert mc.update(1000 * MS, D(50)).mode is HedgeMode.PASSIVE
    d = mc.update(2999 * MS, D(-60))  # the sign may change; still outside since t=1000 ms
    assert d.mode is HedgeMode.PASSIVE and d.outside_since_ns == 1000 * MS
    d = mc.update(3000 * MS, D(60))
    assert d.mode is HedgeMode.ACTIVE and "outside no-trade band for 2000 ms" in d.reasons[0]


def test_above_active_band_is_active_at_once_and_hysteresis_holds_it() -> None:
    mc = ModeController(BANDS)
    assert mc.update(0, D("150.01")).mode is HedgeMode.ACTIVE
    assert mc.update(1, D(100)).mode is HedgeMode.ACTIVE  # below active, not yet in band
    d = mc.update(2, D(10))
    assert d.mode is HedgeMode.PASSIVE and d.in_band
    assert mc.update(3, D(100)).mode is HedgeMode.PASSIVE  # back out: passive again, timer restarted


def test_hard_band_emergency_and_its_exit() -> None:
    mc = ModeController(BANDS)
    assert mc.update(0, D(1501)).mode is HedgeMode.EMERGENCY
    assert mc.update(1, D(1000)).mode is HedgeMode.EMERGENCY  # still above active
    assert mc.update(2, D(150)).mode is HedgeMode.ACTIVE
    assert mc.update(3, D(5)).mode is HedgeMode.PASSIVE


@pytest.mark.parametrize(("ok", "fresh", "reason"), [(False, True, "reconciliation"), (True, False, "stale")])
def test_break_or_stale_data_forces_emergency_without_hedging(ok: bool, fresh: bool, reason: str) -> None:
    mc = ModeController(BANDS)
    d = mc.update(0, D(0), reconciliation_ok=ok, data_fresh=fresh)
    assert d.mode is HedgeMode.EMERGENCY and not d.hedge_allowed and reason in d.reasons[0]
    d = mc.update(1, D(0))
    assert d.mode is HedgeMode.PASSIVE and d.hedge_allowed


def test_bands_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="no_trade < active < hard"):
        HedgeBands(D(10), D(10), D(20), 0)
    with pytest.raises(ValueError, match="passive_timeout"):
        HedgeBands(D(1), D(2), D(3), -1)


@given(st.lists(st.tuples(st.integers(0, 10_000 * MS), st.integers(-3000, 3000)), max_size=40))
def test_property_mode_never_weaker_than_the_band(steps: list[tuple[int, int]]) -> None:
    mc = ModeController(BANDS)
    ts = 0
    for dt, delta in steps:
        ts += dt
        d = mc.update(ts, D(delta))
        size = abs(delta)
        if size > BANDS.hard:
            assert d.mode is HedgeMode.EMERGENCY
        elif size > BANDS.active:
            assert d.mode in (HedgeMode.ACTIVE, HedgeMode.EMERGENCY)
        if size <= BANDS.no_trade:
            assert d.in_band and d.mode is HedgeMode.PASSIVE
