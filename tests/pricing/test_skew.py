import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.pricing.glft import glft_approximation
from pymm.pricing.skew import InventorySkew


def test_from_models():
    s = InventorySkew.from_avellaneda_stoikov(gamma=0.1, sigma=2.0, tau=1.0, max_inventory=10)
    assert s.price_shift(5) == pytest.approx(-2.0)  # A-S: r = 100 - 2.0 at q = 5 (notes row 3)
    g = InventorySkew.from_glft(glft_approximation(0.3, 0.9, 0.3, 0.01), max_inventory=10)
    assert g.price_shift(-1) == pytest.approx(0.0679, abs=1e-4)


def test_cap_and_bound():
    s = InventorySkew(per_unit=1.0, max_inventory=4, max_shift=2.5)
    assert s.price_shift(10) == -2.5
    assert s.price_shift(-10) == 2.5
    assert s.sizes(4, 10) == (0, 8)  # selling 10 from +4 would end at -6, past the bound
    assert s.sizes(-4, 10) == (8, 0)
    assert s.sizes(3, 10) == (1, 7)  # bid: taper 2.5 -> 2 but room to +4 is 1; ask: room to -4 is 7
    assert s.sizes(0, 10) == (4, 4)  # flat: full taper, but one fill may not pass the bound
    assert s.sizes(0, 3) == (3, 3)


def test_bad_parameters():
    with pytest.raises(ValueError):
        InventorySkew(per_unit=-1.0, max_inventory=1)
    with pytest.raises(ValueError):
        InventorySkew(per_unit=1.0, max_inventory=0)


skews = st.builds(
    InventorySkew,
    per_unit=st.floats(0, 10),
    max_inventory=st.floats(0.5, 1000),
    max_shift=st.one_of(st.just(math.inf), st.floats(0, 100)),
)
qs = st.floats(-2000, 2000)


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(skews, qs, st.floats(0, 100))
def test_skew_is_monotone_in_inventory(skew, q, dq):
    assert skew.price_shift(q + dq) <= skew.price_shift(q)
    b0, a0 = skew.sizes(q, 100)
    b1, a1 = skew.sizes(q + dq, 100)
    assert b1 <= b0 and a1 >= a0


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(skews, qs, st.integers(0, 1000))
def test_a_full_fill_never_breaks_the_bound(skew, q, base):
    bid, ask = skew.sizes(q, base)
    assert bid >= 0 and ask >= 0
    if bid:
        assert q + bid <= skew.max_inventory + 1e-6
    if ask:
        assert q - ask >= -skew.max_inventory - 1e-6
    assert abs(skew.price_shift(q)) <= skew.max_shift
