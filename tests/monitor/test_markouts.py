"""Markouts, realised spread and adverse selection on hand-computed cases; streaming == batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.monitor.markouts import (
    DEFAULT_HORIZONS_NS,
    Fill,
    MarkoutTracker,
    compute_markouts,
    weighted_mean,
)

S = 1_000_000_000

# mid path: 100.00 until t=1 s, 100.02 from 1 s, 99.96 from 5.5 s, 99.90 from 40 s
MID_TS = [0, 1 * S, int(5.5 * S), 40 * S]
MID = [100.00, 100.02, 99.96, 99.90]


def test_hand_computed_buy_and_sell() -> None:
    # we bought 2 @ 99.99 at t=0.5 s (mid 100.00: effective half-spread +0.01)
    # we sold 1 @ 100.03 at t=2 s (mid 100.02: effective half-spread +0.01)
    table = compute_markouts([S // 2, 2 * S], [99.99, 100.03], [2.0, 1.0], [1, -1], MID_TS, MID)
    np.testing.assert_array_equal(table.horizons_ns, DEFAULT_HORIZONS_NS)
    np.testing.assert_allclose(table.mid_at_fill, [100.00, 100.02])
    np.testing.assert_allclose(table.effective_half_spread, [0.01, 0.01], atol=1e-12)
    # buy: mids at 1.5 s / 5.5 s / 30.5 s = 100.02 / 99.96 / 99.96 -> markout +0.03 / -0.03 / -0.03
    # sell: mids at 3 s / 7 s / 32 s = 100.02 / 99.96 / 99.96 -> markout +0.01 / +0.07 / +0.07
    np.testing.assert_allclose(table.markout, [[0.03, -0.03, -0.03], [0.01, 0.07, 0.07]], atol=1e-12)
    # adverse selection = effective - markout
    np.testing.assert_allclose(
        table.adverse_selection, [[-0.02, 0.04, 0.04], [0.0, -0.06, -0.06]], atol=1e-12
    )
    np.testing.assert_allclose(table.realized_spread, 2 * table.markout)
    np.testing.assert_allclose(table.markout_bps[0], [3.0, -3.0, -3.0], atol=1e-9)
    np.testing.assert_allclose(table.markout_bps[1, 1], 0.07 / 100.02 * 1e4)
    # size-weighted mean at 5 s: (2·(-3 bps) + 1·(0.07/100.02 bps)) / 3
    expected = (2 * -3.0 + 0.07 / 100.02 * 1e4) / 3
    assert table.mean_markout_bps()[1] == pytest.approx(expected)


def test_mid_at_fill_excludes_update_at_fill_time_and_horizon_includes_it() -> None:
    # a mid update stamped exactly at the fill is not "before" it; one stamped at t+h counts at h
    table = compute_markouts([1 * S], [100.01], [1.0], [-1], MID_TS, MID, horizons_ns=[int(4.5 * S)])
    assert table.mid_at_fill[0] == 100.00
    assert table.markout[0, 0] == pytest.approx(-(99.96 - 100.01))


def test_unknown_horizons_are_nan() -> None:
    table = compute_markouts([39 * S, 41 * S], [100.0, 100.0], [1.0, 1.0], [1, 1], MID_TS, MID)
    # 39 s + 1 s = 40 s is the last sample's own time: a later sample could still land there -> unknown
    assert np.isnan(table.markout).all()
    assert math.isnan(table.mean_markout_bps()[0])
    # no mid before the fill -> NaN effective spread
    early = compute_markouts([0], [100.0], [1.0], [1], MID_TS, MID)
    assert math.isnan(early.mid_at_fill[0])


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="side"):
        compute_markouts([0], [1.0], [1.0], [0], MID_TS, MID)
    with pytest.raises(ValueError, match="time order"):
        compute_markouts([0], [1.0], [1.0], [1], [2, 1], [1.0, 1.0])
    with pytest.raises(ValueError, match="side"):
        MarkoutTracker().on_fill(Fill(0, 1.0, 1.0, 2))
    with pytest.raises(ValueError, match="horizon"):
        MarkoutTracker([])


def test_weighted_mean() -> None:
    assert weighted_mean([1.0, np.nan, 4.0], [1.0, 5.0, 3.0]) == pytest.approx(13.0 / 4.0)
    assert math.isnan(weighted_mean([np.nan], [1.0]))


def test_tracker_hand_computed() -> None:
    tr = MarkoutTracker([1 * S, 5 * S])
    out = tr.on_mid(0, 100.00)
    tr.on_fill(Fill(S // 2, 99.99, 2.0, 1, fill_id=7))
    assert tr.pending == 2
    out += tr.on_mid(1 * S, 100.02)
    assert out == []
    out += tr.on_mid(int(5.5 * S), 99.96)  # resolves the 1 s horizon (1.5 s < 5.5 s) at mid 100.02
    (m1,) = out
    assert (m1.fill_id, m1.horizon_ns, m1.mid_at_horizon, m1.ts_ns) == (7, 1 * S, 100.02, S // 2)
    assert m1.markout == pytest.approx(0.03)
    assert m1.markout_bps == pytest.approx(3.0)
    assert m1.adverse_selection_bps == pytest.approx(-2.0)
    assert m1.realized_spread == pytest.approx(0.06)
    assert m1.effective_half_spread == pytest.approx(0.01)
    (m5,) = tr.advance(6 * S)  # 5.5 s < 6 s: the 5 s horizon sees 99.96
    assert m5.markout == pytest.approx(-0.03)
    assert m5.adverse_selection == pytest.approx(0.04)
    assert tr.pending == 0


events = st.lists(
    st.one_of(
        st.tuples(st.just("mid"), st.integers(0, 3 * S), st.integers(-5, 5)),
        st.tuples(st.just("fill"), st.integers(0, 3 * S), st.integers(-3, 3), st.sampled_from([-1, 1])),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(evs=events, horizons=st.lists(st.integers(0, 4 * S), min_size=1, max_size=3))
def test_tracker_agrees_with_batch(evs: list[tuple], horizons: list[int]) -> None:
    horizons = sorted(set(horizons))
    # build a time-ordered stream: timestamps are cumulative gaps (gaps may be 0 -> equal stamps)
    t = 0
    mid = 100.0
    mid_ts, mids, fills = [], [], []
    tracker = MarkoutTracker(horizons)
    got = []
    for i, ev in enumerate(evs):
        t += ev[1] // 4
        if ev[0] == "mid":
            mid += ev[2] * 0.01
            mid_ts.append(t)
            mids.append(mid)
            got += tracker.on_mid(t, mid)
        else:
            f = Fill(t, mid + ev[2] * 0.01, 1.0 + i, ev[3], fill_id=i)
            fills.append(f)
            tracker.on_fill(f)
    if not fills:
        return
    table = compute_markouts(
        [f.ts_ns for f in fills],
        [f.price for f in fills],
        [f.qty for f in fills],
        [f.side for f in fills],
        mid_ts,
        mids,
        horizons,
    )
    index = {f.fill_id: k for k, f in enumerate(fills)}
    cells = {(index[m.fill_id], horizons.index(m.horizon_ns)) for m in got}
    # the tracker resolved exactly the cells the batch knows, with the same numbers
    assert cells == set(zip(*np.nonzero(table.resolved), strict=True))
    assert tracker.pending + len(got) == len(fills) * len(horizons)
    for m in got:
        k, col = index[m.fill_id], horizons.index(m.horizon_ns)
        np.testing.assert_allclose(m.mid_at_fill, table.mid_at_fill[k])
        np.testing.assert_allclose(m.mid_at_horizon, table.mid_at_horizon[k, col])
        np.testing.assert_allclose(m.markout, table.markout[k, col], atol=1e-12)
        np.testing.assert_allclose(m.adverse_selection, table.adverse_selection[k, col], atol=1e-12)
