from decimal import Decimal as D  # noqa: N817
from fractions import Fraction as F  # noqa: N817

from hypothesis import given
from hypothesis import strategies as st

from pymm.runtime.portfolio import Portfolio


def test_round_trip_realizes_the_spread_less_fees():
    p = Portfolio("DOGE", "USDT")
    p.on_fill(True, D("0.10000"), D("100"), D("0.1"), "DOGE")  # fee in base on a buy
    p.on_fill(False, D("0.10010"), D("100"), D("0.001001"), "USDT")
    assert p.position == 0
    assert p.realized == F(D("0.0100"))
    assert p.fees_quote == D("0.0100") + D("0.001001")
    assert p.deltas == {"DOGE": D("-0.1"), "USDT": D("0.008999")}


def test_flip_through_zero_opens_at_the_fill_price():
    p = Portfolio("DOGE", "USDT")
    p.on_fill(True, D("1"), D("2"), D(0), "USDT")
    p.on_fill(False, D("3"), D("5"), D(0), "USDT")
    assert p.position == D("-3")
    assert p.realized == 4
    assert p.avg_price == 3


fills = st.lists(
    st.tuples(
        st.booleans(),
        st.integers(1, 10_000).map(lambda t: D(t) / 1000),
        st.integers(1, 500).map(D),
        st.integers(0, 50).map(lambda f: D(f) / 10_000),
        st.sampled_from(["DOGE", "USDT"]),
    ),
    max_size=60,
)


@given(fills, st.integers(1, 10_000).map(lambda t: D(t) / 1000))
def test_pnl_equals_the_marked_balance_change(seq, mid):
    p = Portfolio("DOGE", "USDT")
    for buy, price, qty, fee_rate, fee_asset in seq:
        fee = (qty if fee_asset == "DOGE" else price * qty) * fee_rate
        p.on_fill(buy, price, qty, fee, fee_asset)
        # Position is the base delta before base-asset fees.
    base_fee_total = sum(
        (qty * r for b, pr, qty, r, a in seq if a == "DOGE"),
        D(0),
    )
    assert p.position == p.deltas.get("DOGE", D(0)) + base_fee_total
    # Base fees were valued at their fill price; mark them there to compare exactly.
    base_fees_at_fill = sum((pr * qty * r for b, pr, qty, r, a in seq if a == "DOGE"), D(0))
    marked = p.deltas.get("USDT", D(0)) + p.position * mid - base_fees_at_fill
    assert p.total(mid) == F(marked)
