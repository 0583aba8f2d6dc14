import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.pricing.queue_position import (
    Log2ProbQueue,
    LogProbQueue,
    PlacementAction,
    PlacementPolicy,
    Power2ProbQueue,
    Power3ProbQueue,
    PowerProbQueue,
    QueuePosition,
    RiskAverseQueue,
    decide_placement,
)
from pymm.pricing.ticks import QuoteSide

# Research notes (models_and_tables.md) section 5.1 table / section 7 row 16:
# front 30, back 70, non-trade decrease 10; exact to 1e-6.


@pytest.mark.parametrize(
    ("model", "p", "front"),
    [
        (PowerProbQueue(2.0), 0.844828, 28.448276),
        (Power2ProbQueue(2.0), 0.490000, 24.900000),
        (Power3ProbQueue(3.0), 0.973000, 29.730000),
        (LogProbQueue(), 0.553835, 25.538345),
        (Log2ProbQueue(), 0.923633, 29.236335),
        (PowerProbQueue(1.0), 0.700000, 27.000000),
    ],
)
def test_probability_models_match_the_notes(model, p, front):
    assert model.prob_behind(30.0, 70.0) == pytest.approx(p, abs=1e-6)
    pos = QueuePosition(level_size=100.0, qty=5.0, model=model)
    pos.front = 30.0  # as if we had advanced to 30 in a level of 100 others
    pos.on_level(90.0)
    assert pos.front == pytest.approx(front, abs=1e-6)


def test_feed_that_shows_our_order_is_handled():
    pos = QueuePosition(level_size=105.0, qty=5.0, model=PowerProbQueue(2.0), feed_includes_own=True)
    assert pos.front == 100.0
    pos.front = 30.0
    pos.on_level(95.0)  # 90 others + our 5
    assert pos.front == pytest.approx(28.448276, abs=1e-6)


def test_trades_eat_the_front_and_are_not_counted_twice():
    pos = QueuePosition(level_size=50.0, qty=10.0, model=PowerProbQueue(1.0))
    assert pos.on_trade(20.0) == 0.0
    assert pos.front == 30.0
    pos.on_level(30.0)  # the 20 traded disappears from the level: no extra cancel to attribute
    assert pos.front == 30.0
    assert pos.on_trade(35.0) == 5.0  # 30 ahead, then 5 of ours
    assert pos.front == 0.0


def test_risk_averse_model_only_moves_with_trades_or_a_shrinking_level():
    pos = QueuePosition(level_size=100.0, qty=1.0, model=RiskAverseQueue())
    pos.on_level(60.0)
    assert pos.front == 60.0  # front = min(front, level)
    pos.on_level(80.0)
    assert pos.front == 60.0
    pos.on_level(70.0)
    assert pos.front == 60.0  # the 10 cancelled were behind us


def test_increase_never_moves_the_front():
    pos = QueuePosition(level_size=10.0, qty=1.0)
    pos.on_level(500.0)
    assert pos.front == 10.0
    assert pos.ahead_fraction == pytest.approx(10 / 500)


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(
    st.floats(1, 1e4),
    st.lists(
        st.tuples(st.sampled_from(["trade", "level"]), st.floats(0, 1e4)),
        max_size=30,
    ),
)
def test_front_stays_within_the_level(level, events):
    pos = QueuePosition(level_size=level, qty=3.0)
    for kind, x in events:
        if kind == "trade":
            pos.on_trade(x)
        else:
            pos.on_level(x)
            assert pos.front <= x + 1e-9
        assert pos.front >= 0.0
        assert 0.0 <= pos.ahead_fraction <= 1.0


def test_placement_basics():
    pol = PlacementPolicy(max_keep_ticks=1, keep_ahead_fraction=0.5)
    bid = QuoteSide.BID
    assert decide_placement(bid, 100, None, 0.0, policy=pol).action is PlacementAction.PLACE
    assert decide_placement(bid, 100, 100, 0.9, policy=pol).action is PlacementAction.KEEP
    kept = decide_placement(bid, 100, 99, 0.1, policy=pol)  # model moved up a tick; we are near the head
    assert kept.action is PlacementAction.KEEP and kept.price_ticks == 99
    assert decide_placement(bid, 100, 99, 0.9, policy=pol).action is PlacementAction.REPLACE
    assert decide_placement(bid, 100, 98, 0.0, policy=pol).action is PlacementAction.REPLACE
    # Never keep a bid that now crosses the ask or quotes at/through fair value.
    assert decide_placement(bid, 100, 101, 0.0, best_opposite_ticks=101, policy=pol).price_ticks == 100
    assert decide_placement(bid, 100, 101, 0.0, fair_ticks=100.7, policy=pol).price_ticks == 100
    ask = QuoteSide.ASK
    assert decide_placement(ask, 105, 104, 0.0, best_opposite_ticks=104, policy=pol).price_ticks == 105
    assert decide_placement(ask, 105, 106, 0.2, policy=pol).action is PlacementAction.KEEP


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(
    st.sampled_from(list(QuoteSide)),
    st.integers(-5, 5),
    st.floats(0, 1),
    st.floats(0, 1),
    st.integers(0, 3),
)
def test_better_priority_never_loses_a_kept_order(side, offset, f_better, f_worse, max_keep):
    lo, hi = sorted((f_better, f_worse))
    pol = PlacementPolicy(max_keep_ticks=max_keep)
    worse = decide_placement(side, 100, 100 + offset, hi, policy=pol)
    better = decide_placement(side, 100, 100 + offset, lo, policy=pol)
    if worse.action is PlacementAction.KEEP:
        assert better.action is PlacementAction.KEEP
    assert abs(better.price_ticks - 100) <= max_keep
