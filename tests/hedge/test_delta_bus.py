"""Delta bus: sequencing, exactly-once delivery, exact quantities."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymm.hedge import DeltaBus, DeltaEvent, Fill, Market, Side
from tests.hedge.conftest import fill


def test_sequences_fills_and_keeps_net_delta() -> None:
    bus = DeltaBus()
    got: list[DeltaEvent] = []
    bus.subscribe(got.append)
    e1 = bus.publish(fill("BUY", 1000, trade_id="a"))
    e2 = bus.publish(fill("SELL", 400, market=Market.USDM, trade_id="a"))  # same id, other venue: distinct
    e3 = bus.publish(fill("SELL", "250.5", trade_id="b"))
    assert [e.seq for e in got] == [1, 2, 3] and got == [e1, e2, e3]
    assert [e.delta_change for e in got] == [Decimal(1000), Decimal(-400), Decimal("-250.5")]
    assert got[-1].net_delta == Decimal("349.5") == bus.net_delta("DOGE")
    assert bus.net_delta("BTC") == 0


def test_duplicate_trade_ids_are_dropped_and_counted() -> None:
    bus = DeltaBus()
    got: list[DeltaEvent] = []
    bus.subscribe(got.append)
    f = fill("BUY", 10, trade_id="t1")
    assert bus.publish(f) is not None
    assert bus.publish(f) is None
    assert bus.duplicates == 1 and len(got) == 1 and bus.seq == 1


def test_subscribers_called_in_order_and_can_unsubscribe() -> None:
    bus = DeltaBus()
    calls: list[str] = []
    bus.subscribe(lambda e: calls.append("first"))
    off = bus.subscribe(lambda e: calls.append("second"))
    bus.publish(fill("BUY", 1))
    off()
    off()  # idempotent
    bus.publish(fill("BUY", 1))
    assert calls == ["first", "second", "first"]


@pytest.mark.parametrize(
    ("qty", "exc"), [(1.5, TypeError), (Decimal(0), ValueError), (Decimal(-1), ValueError)]
)
def test_fill_refuses_floats_and_non_positive(qty: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        Fill("v", Market.SPOT, "DOGEUSDT", "DOGE", Side.BUY, qty, Decimal(1), "t", 0, 0)  # type: ignore[arg-type]


def test_side_helpers() -> None:
    assert Side.BUY.sign == 1 and Side.SELL.sign == -1
    assert Side.BUY.opposite is Side.SELL and Side.SELL.opposite is Side.BUY


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["BUY", "SELL"]),
            st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**6), places=3),
            st.integers(0, 20),
        ),
        max_size=40,
    )
)
def test_property_net_delta_is_sum_of_unique_fills(rows: list[tuple[str, Decimal, int]]) -> None:
    bus = DeltaBus()
    got: list[DeltaEvent] = []
    bus.subscribe(got.append)
    expected: dict[str, Decimal] = {}
    for side, qty, tid in rows:
        f = fill(side, qty, trade_id=str(tid))
        if str(tid) not in expected:
            expected[str(tid)] = f.signed_qty
        bus.publish(f)
    assert [e.seq for e in got] == list(range(1, len(expected) + 1))
    assert bus.net_delta("DOGE") == sum(expected.values(), Decimal(0))
    assert bus.duplicates == len(rows) - len(expected)


def test_a_base_asset_fee_lowers_the_delta() -> None:
    bus = DeltaBus()
    base = fill("BUY", 1000)
    f = Fill(**{**{n: getattr(base, n) for n in Fill.__dataclass_fields__}, "fee_base": Decimal(1)})
    event = bus.publish(f)
    assert event is not None and event.delta_change == Decimal(999) and f.signed_qty == Decimal(1000)
    with pytest.raises(ValueError, match="fee_base"):
        Fill(**{**{n: getattr(base, n) for n in Fill.__dataclass_fields__}, "fee_base": Decimal(-1)})
