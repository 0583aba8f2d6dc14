import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.pricing.microprice import (
    MOVES_TICKS,
    fit_micro_price,
    imbalance,
    micro_price_series,
    weighted_mid,
)

from ._lob_synth import synthetic_top_of_book

# Checks from the research notes (models_and_tables.md) section 3.3 and section 7 row 17.


def test_bac_first_row():
    # BAC 2011-03-01, first snapshot: bid 14.33 x 20, ask 14.34 x 471.
    assert imbalance(20, 471) == pytest.approx(0.040733, abs=5e-7)
    assert weighted_mid(14.33, 14.34, 20, 471) == pytest.approx(14.330407, abs=5e-7)


def test_one_state_chain_by_hand():
    # Q = 0.6; R1 = (0.10, 0.05, 0.15, 0.10) over K = (-1, -1/2, 1/2, 1); R2 = 0.4.
    # g1 = (-0.10 - 0.025 + 0.075 + 0.10) / (1 - 0.6) = 0.125; B = 0.4 / 0.4 = 1; G6 = 6 * 0.125.
    g = micro_price_series(np.array([[0.6]]), np.array([[0.10, 0.05, 0.15, 0.10]]), np.array([[0.4]]))
    assert g[0] == pytest.approx(0.75, abs=1e-12)


def test_three_state_chain_against_neumann_series():
    q = np.array([[0.5, 0.2, 0.0], [0.1, 0.4, 0.1], [0.0, 0.2, 0.5]])
    r1 = np.array([[0.15, 0.05, 0.05, 0.05], [0.05, 0.15, 0.15, 0.05], [0.05, 0.05, 0.05, 0.15]])
    r2 = np.array([[0.2, 0.05, 0.05], [0.1, 0.2, 0.1], [0.05, 0.05, 0.2]])
    assert np.allclose(q.sum(1) + r1.sum(1), 1.0) and np.allclose(r1.sum(1), r2.sum(1))
    n_inv = sum(np.linalg.matrix_power(q, i) for i in range(400))  # (1 - Q)^-1 as a series
    g1 = n_inv @ r1 @ MOVES_TICKS
    b = n_inv @ r2
    expected = sum(np.linalg.matrix_power(b, j) @ g1 for j in range(6))
    np.testing.assert_allclose(micro_price_series(q, r1, r2), expected, atol=1e-12)
    # Mirror-symmetric chain: antisymmetric adjustment, zero in the middle.
    g = micro_price_series(q, r1, r2)
    assert g[0] == pytest.approx(-g[2], abs=1e-12)
    assert g[1] == pytest.approx(0.0, abs=1e-12)


@pytest.fixture(scope="module")
def synthetic_model():
    bid, ask, qb, qa = synthetic_top_of_book(np.random.default_rng(5), 100_000)
    return fit_micro_price(bid, ask, qb, qa, tick=0.01, n_imb=6, n_spread=2)


def test_adjustment_is_antisymmetric_after_symmetrisation(synthetic_model):
    g = synthetic_model.adjustment_ticks
    np.testing.assert_allclose(g, -g[:, ::-1], atol=1e-12)
    np.testing.assert_allclose(
        synthetic_model.inner_edges, 1.0 - synthetic_model.inner_edges[::-1], atol=1e-15
    )


def test_adjustment_increases_with_imbalance(synthetic_model):
    g = synthetic_model.adjustment_ticks
    assert np.all(np.diff(g, axis=1) > 0)
    assert abs(g.mean()) < 1e-12


def test_micro_price_lies_between_bid_and_ask(synthetic_model):
    # The notes warn the estimate can sit slightly outside in small-spread states on real data; on this
    # toy chain it must stay inside.
    for spread in (1, 2):
        for qb, qa in ((1, 99), (50, 50), (99, 1), (10, 30)):
            bid, ask = 100.0, 100.0 + spread * 0.01
            p = synthetic_model.micro_price(bid, ask, qb, qa)
            assert bid < p < ask


def test_micro_price_predicts_the_mid_six_moves_ahead(synthetic_model):
    # By construction P_micro estimates the mid after the 6th mid change; on fresh data it should do so
    # with a smaller mean squared error than the current mid.
    bid, ask, qb, qa = synthetic_top_of_book(np.random.default_rng(6), 40_000)
    mid = (bid + ask) / 2
    changes = np.flatnonzero(np.diff(mid) != 0) + 1  # snapshot indices where a new mid appears
    nth = np.searchsorted(changes, np.arange(mid.size), side="right") + 5
    ok = nth < changes.size
    target = mid[changes[nth[ok]]]
    micro = np.array([synthetic_model.micro_price(*row) for row in zip(bid, ask, qb, qa, strict=True)])[ok]
    assert np.mean((target - micro) ** 2) < 0.97 * np.mean((target - mid[ok]) ** 2)


def test_fit_refuses_bad_input():
    with pytest.raises(ValueError, match="1-d arrays"):
        fit_micro_price([1.0, 2.0], [1.01, 2.01], [1, 1], [1, 1], tick=0.01)


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(st.floats(0, 1e6), st.floats(0, 1e6))
def test_imbalance_bounds(qb, qa):
    i = imbalance(qb, qa)
    assert 0.0 <= i <= 1.0
    assert imbalance(qa, qb) == pytest.approx(1.0 - i) or qb + qa == 0
