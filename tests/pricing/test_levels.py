import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.pricing.levels import LadderSpec, build_ladder


def test_three_levels_with_growth():
    spec = LadderSpec(n_levels=3, spacing_ticks=2, spacing_growth=1.5, size_growth=2.0)
    assert spec.offsets() == [0, 2, 5]
    ladder = build_ladder(100, 103, 5, 4, spec)
    assert [(lv.price_ticks, lv.size) for lv in ladder.bids] == [(100, 5), (98, 10), (95, 20)]
    assert [(lv.price_ticks, lv.size) for lv in ladder.asks] == [(103, 4), (105, 8), (108, 16)]


def test_room_and_cap_limit_cumulative_size():
    spec = LadderSpec(n_levels=4, max_side_size=12)
    ladder = build_ladder(100, 101, 5, 5, spec, bid_room=7)
    assert [lv.size for lv in ladder.bids] == [5, 2]
    assert [lv.size for lv in ladder.asks] == [5, 5, 2]


def test_refuses_crossed_top():
    with pytest.raises(ValueError, match="crossed"):
        build_ladder(101, 101, 1, 1)


specs = st.builds(
    LadderSpec,
    n_levels=st.integers(1, 10),
    spacing_ticks=st.integers(1, 5),
    spacing_growth=st.floats(1.0, 3.0),
    size_growth=st.floats(0.1, 3.0),
    max_side_size=st.one_of(st.none(), st.integers(0, 500)),
)


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(
    st.integers(-1000, 1000),
    st.integers(1, 50),
    st.integers(0, 100),
    st.integers(0, 100),
    specs,
    st.one_of(st.none(), st.integers(0, 300)),
    st.one_of(st.none(), st.integers(0, 300)),
)
def test_ladder_invariants(bid, width, bsz, asz, spec, bid_room, ask_room):
    ladder = build_ladder(bid, bid + width, bsz, asz, spec, bid_room=bid_room, ask_room=ask_room)
    bids = [lv.price_ticks for lv in ladder.bids]
    asks = [lv.price_ticks for lv in ladder.asks]
    assert bids == sorted(set(bids), reverse=True)
    assert asks == sorted(set(asks))
    if bids and asks:
        assert max(bids) < min(asks)
    assert all(lv.size > 0 for lv in ladder.bids + ladder.asks)
    for room, total in ((bid_room, ladder.bid_size), (ask_room, ladder.ask_size)):
        if room is not None:
            assert total <= room
        if spec.max_side_size is not None:
            assert total <= spec.max_side_size
    assert len(ladder.bids) <= spec.n_levels
