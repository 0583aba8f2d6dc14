"""VPIN and BVC against models_and_tables.md §4 and §7 (rows 13-15), plus streaming == batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.monitor.toxicity import (
    TradeBarAggregator,
    VpinEstimator,
    VpinMonitor,
    bars_from_trades,
    bvc_buy_fraction,
    bvc_exceedance_probability,
    empirical_cdf_series,
    normal_cdf,
    vpin_from_bars,
    vpin_from_classified_bars,
)

# §7 row 13 / §4.3: P(|2Φ(x) - 1| > c) for x ~ N(0, r²);
# Andersen & Bondarenko print 50/10, 73.6/41.1, 89.3/74.2 %.
BVC_REFERENCE = [
    (0.5, 1.0, 0.5000),
    (0.5, 2.0, 0.7359),
    (0.5, 5.0, 0.8927),
    (0.9, 1.0, 0.1000),
    (0.9, 2.0, 0.4108),
    (0.9, 5.0, 0.7422),
]


@pytest.mark.parametrize(("c", "r", "expected"), BVC_REFERENCE)
def test_bvc_exceedance_matches_reference_table(c: float, r: float, expected: float) -> None:
    assert bvc_exceedance_probability(c, r) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("c", "r", "expected"), BVC_REFERENCE)
def test_bvc_buy_fraction_matches_reference_table(c: float, r: float, expected: float) -> None:
    # Through bvc_buy_fraction itself, not the closed form: find the standardised change x_c at which
    # BVC calls a bar |2·fraction - 1| = c one-sided (bisection), then P(|x| > x_c) for x ~ N(0, r²).
    lo, hi = 0.0, 10.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 2.0 * float(bvc_buy_fraction(mid, 1.0)) - 1.0 > c:
            hi = mid
        else:
            lo = mid
    prob = 2.0 * (1.0 - normal_cdf(hi / r))
    assert prob == pytest.approx(expected, abs=1e-4)
    # and by integrating the classification over the N(0, r²) density on a grid (coarser: 5e-4)
    x = np.linspace(-10.0 * r, 10.0 * r, 200_001)
    density = np.exp(-0.5 * (x / r) ** 2) / (r * math.sqrt(2.0 * math.pi))
    imbalance = np.abs(2.0 * bvc_buy_fraction(x, 1.0) - 1.0)
    assert np.trapezoid(np.where(imbalance > c, density, 0.0), x) == pytest.approx(expected, abs=5e-4)


def test_bvc_buy_fraction_hand_values() -> None:
    assert bvc_buy_fraction(0.0, 1.0) == pytest.approx(0.5)
    assert bvc_buy_fraction(1.0, 1.0) == pytest.approx(0.8413447460685429, abs=1e-15)
    assert bvc_buy_fraction(-2.0, 1.0) == pytest.approx(0.022750131948179195, abs=1e-15)
    assert bvc_buy_fraction(0.02, 0.01) == pytest.approx(normal_cdf(2.0))
    # undefined sigma splits 50/50
    np.testing.assert_array_equal(bvc_buy_fraction([3.0, -3.0], [0.0, np.nan]), [0.5, 0.5])


def test_exceedance_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="0 < c < 1"):
        bvc_exceedance_probability(1.0, 1.0)
    with pytest.raises(ValueError, match="r > 0"):
        bvc_exceedance_probability(0.5, 0.0)


def test_vpin_hand_computed_buckets() -> None:
    # V = 10, n = 2; classified bars (buy, total): (10, 10) | (0, 5) (2.5, 5) | (5, 20) -> two buckets
    # bucket 0 = 10 buy, 0 sell; bucket 1 = 0 + 2.5 buy, 5 + 2.5 sell; bucket 2 = 10 of the 20 at 1/4 buy
    res = vpin_from_classified_bars([10.0, 0.0, 2.5, 5.0], [10.0, 5.0, 5.0, 20.0], 10.0, sample_length=2)
    np.testing.assert_allclose(res.bucket_buy, [10.0, 2.5, 2.5, 2.5])
    np.testing.assert_allclose(res.bucket_sell, [0.0, 7.5, 7.5, 7.5])
    np.testing.assert_array_equal(res.bucket_bar, [0, 2, 3, 3])
    # |S-B| = 10, 5, 5, 5 -> VPIN over 2 buckets of 10: 15/20, 10/20, 10/20
    np.testing.assert_allclose(res.vpin, [0.75, 0.5, 0.5])
    # mid-rank CDF: 0.75 in {0.75} -> 1/2; 0.5 in {0.75, 0.5} -> (0 + 1)/4;
    # 0.5 in {0.75, 0.5, 0.5} -> (0 + 2)/6
    np.testing.assert_allclose(res.cdf, [0.5, 0.25, 1.0 / 3.0])


def test_streaming_hand_computed_matches_batch() -> None:
    est = VpinEstimator(10.0, sample_length=2)
    ups = []
    for i, (b, v) in enumerate([(10.0, 10.0), (0.0, 5.0), (2.5, 5.0), (5.0, 20.0)]):
        ups += est.on_classified_bar(b, v, ts_ns=i)
    assert [u.bucket for u in ups] == [1, 2, 3]
    assert [u.ts_ns for u in ups] == [2, 3, 3]
    np.testing.assert_allclose([u.vpin for u in ups], [0.75, 0.5, 0.5])
    np.testing.assert_allclose([u.cdf for u in ups], [0.5, 0.25, 1.0 / 3.0])
    assert [u.history for u in ups] == [1, 2, 3]
    assert est.buckets_completed == 4


def test_bvc_flat_price_is_balanced() -> None:
    res = vpin_from_bars(np.full(500, 100.0), np.full(500, 7.0), 35.0, sample_length=50)
    assert res.vpin.size > 0
    np.testing.assert_allclose(res.vpin, 0.0, atol=1e-12)


def test_one_sided_flow_gives_high_vpin() -> None:
    closes = 100.0 + np.arange(2000) * 0.01  # steady rally: every change is +1 sigma-ish and above
    res = vpin_from_bars(closes, np.full(2000, 10.0), 100.0, sigma=0.01)
    # every bar after the first is Φ(1) = 0.8413 buy -> |S - B| / V = 2·0.8413 - 1; the first bar has no
    # previous close and splits 50/50, which lowers only the first window
    np.testing.assert_allclose(res.vpin[1:], 2 * normal_cdf(1.0) - 1.0, rtol=1e-9)
    first_bucket = abs(100.0 - 2 * (5.0 + 90.0 * normal_cdf(1.0)))
    assert res.vpin[0] == pytest.approx((first_bucket + 49 * 100.0 * (2 * normal_cdf(1.0) - 1)) / 5000.0)


@pytest.mark.parametrize(("alpha", "mu_share"), [(0.2, 100), (0.5, 300), (0.8, 400)])
def test_vpin_on_pin_model_flow_estimates_alpha_mu_over_v(alpha: float, mu_share: float) -> None:
    # §7 row 14: PIN-model flow (daily information events with probability alpha, informed rate mu,
    # uninformed rate eps per side), V = (alpha·mu + 2·eps) / 50, n = 50: VPIN ≈ alpha·mu / (alpha·mu + 2·eps)
    # with bias < 0.004. Event days are drawn exactly (not Bernoulli) so day-count noise does not
    # swamp the bias; volumes are large so Poisson noise |B - S| stays well under the tolerance.
    scale = 100_000
    mu = mu_share * scale
    eps = (500 - alpha * mu_share) / 2 * scale
    days, bars = 200, 200
    rng = np.random.default_rng(20120501)
    kind = np.zeros(days, dtype=int)
    n_events = round(alpha * days)
    kind[: n_events // 2] = 1
    kind[n_events // 2 : n_events] = -1
    rng.shuffle(kind)
    buys = rng.poisson(np.repeat(eps + mu * (kind == 1), bars) / bars).astype(float)
    sells = rng.poisson(np.repeat(eps + mu * (kind == -1), bars) / bars).astype(float)
    v = (alpha * mu + 2 * eps) / 50
    res = vpin_from_classified_bars(buys, buys + sells, v, sample_length=50)
    assert abs(res.vpin.mean() - alpha * mu / (alpha * mu + 2 * eps)) < 0.004


def test_cdf_alert_level_on_es_like_distribution() -> None:
    # §7 row 15 (sanity only): a VPIN series with ES's mean 0.2251 and sd 0.0576 alerts (CDF > 0.9)
    # on about 10% of updates, and the 0.9 quantile sits near mean + 1.2816·sd.
    rng = np.random.default_rng(15)
    values = rng.normal(0.2251, 0.0576, 20_000)
    cdf = empirical_cdf_series(values)
    tail = cdf[2000:]
    assert np.mean(tail > 0.9) == pytest.approx(0.1, abs=0.01)
    assert np.quantile(values, 0.9) == pytest.approx(0.2251 + 1.2816 * 0.0576, abs=0.003)


def test_cdf_history_window() -> None:
    np.testing.assert_allclose(empirical_cdf_series([3, 1, 2, 5], history=2), [0.5, 0.25, 0.75, 0.75])
    np.testing.assert_allclose(empirical_cdf_series([7, 7, 7]), [0.5, 0.5, 0.5])
    est = VpinEstimator(1.0, sample_length=1, cdf_history=2)
    cdfs = [u.cdf for b in (1.0, 0.5, 0.0, 0.5) for u in est.on_classified_bar(b, 1.0)]
    # vpin = |1 - 2b|: 1, 0, 1, 0 -> windowed mid-ranks 1/2, 1/4, 3/4, 1/4
    np.testing.assert_allclose(cdfs, [0.5, 0.25, 0.75, 0.25])


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.integers(0, 9), min_size=1, max_size=80),
    history=st.one_of(st.none(), st.integers(1, 20)),
)
def test_cdf_series_matches_a_direct_count(values: list[int], history: int | None) -> None:
    v = np.array(values, dtype=float) / 10
    expected = []
    for t in range(v.size):
        window = v[0 if history is None else max(0, t + 1 - history) : t + 1]
        expected.append(0.5 * (np.sum(window < v[t]) + np.sum(window <= v[t])) / window.size)
    np.testing.assert_allclose(empirical_cdf_series(v, history), expected)


def test_seeded_cdf_history() -> None:
    est = VpinEstimator(1.0, sample_length=1)
    est.seed_cdf([0.1, 0.2, 0.3])
    (update,) = est.on_classified_bar(0.8, 1.0)  # VPIN |1 - 1.6| = 0.6, above all three seeds
    assert update.vpin == pytest.approx(0.6)
    assert update.history == 4
    assert update.cdf == pytest.approx(0.5 * (3 + 4) / 4)
    mon = VpinMonitor(1.0, bar_ns=None, sample_length=1)
    mon.estimator.seed_cdf(np.linspace(0.0, 1.0, 11))
    assert mon.estimator.buckets_completed == 0


bar_lists = st.lists(
    st.tuples(st.integers(-5, 5), st.integers(0, 40)),
    min_size=1,
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(
    bars=bar_lists,
    bucket=st.integers(1, 60),
    n=st.integers(1, 8),
    sigma_rule=st.sampled_from(["fixed", "expanding", "rolling"]),
)
def test_streaming_agrees_with_batch(
    bars: list[tuple[int, int]], bucket: int, n: int, sigma_rule: str
) -> None:
    closes = 100.0 + np.cumsum([d for d, _ in bars]) * 0.5
    volumes = np.array([v for _, v in bars], dtype=float)
    opts: dict[str, float | int | None] = {
        "fixed": {"sigma": 0.75},
        "expanding": {},
        "rolling": {"sigma_bars": 5},
    }[sigma_rule]
    res = vpin_from_bars(closes, volumes, float(bucket), sample_length=n, **opts)  # type: ignore[arg-type]
    est = VpinEstimator(float(bucket), sample_length=n, **opts)  # type: ignore[arg-type]
    ups = [u for i, (p, v) in enumerate(zip(closes, volumes, strict=True)) for u in est.on_bar(p, v, i)]
    assert est.buckets_completed == res.bucket_buy.size == int(volumes.sum() // bucket)
    assert len(ups) == res.vpin.size
    np.testing.assert_allclose([u.vpin for u in ups], res.vpin, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([u.cdf for u in ups], res.cdf)
    # a bucket's update carries the index of the bar that completed it
    np.testing.assert_array_equal([u.ts_ns for u in ups], res.bucket_bar[n - 1 :])
    np.testing.assert_allclose(res.bucket_buy + res.bucket_sell, bucket)
    assert np.all(res.bucket_buy >= -1e-9)
    assert np.all(res.bucket_sell >= -1e-9)
    assert np.all((res.vpin >= -1e-12) & (res.vpin <= 1 + 1e-12))


@settings(max_examples=40, deadline=None)
@given(
    trades=st.lists(
        st.tuples(st.integers(0, 3_000_000_000), st.integers(-3, 3), st.integers(1, 9)),
        min_size=1,
        max_size=200,
    )
)
def test_trade_monitor_agrees_with_batch_bars(trades: list[tuple[int, int, int]]) -> None:
    ts = np.cumsum([t for t, _, _ in trades])
    px = 1.0 + np.cumsum([d for _, d, _ in trades]) * 1e-4
    qty = np.array([q for _, _, q in trades], dtype=float)
    bar_ns = 1_000_000_000
    bts, closes, vols = bars_from_trades(ts, px, qty, bar_ns)
    mon = VpinMonitor(20.0, bar_ns=bar_ns, sample_length=3, sigma=1e-4)
    ups = [u for t, p, q in zip(ts, px, qty, strict=True) for u in mon.on_trade(int(t), float(p), float(q))]
    ups += mon.on_timer(int(ts[-1]) + bar_ns)
    res = vpin_from_bars(closes, vols, 20.0, sample_length=3, sigma=1e-4)
    np.testing.assert_allclose([u.vpin for u in ups], res.vpin, rtol=1e-9, atol=1e-12)
    assert vols.sum() == pytest.approx(qty.sum())
    assert np.all(np.diff(bts // bar_ns) > 0)


def test_aggregator_closes_bars_on_next_trade_and_timer() -> None:
    agg = TradeBarAggregator(10)
    assert agg.on_trade(1, 5.0, 1.0) is None
    assert agg.on_trade(9, 6.0, 2.0) is None
    bar = agg.on_trade(12, 7.0, 1.0)
    assert bar is not None
    assert (bar.ts_ns, bar.close, bar.volume) == (9, 6.0, 3.0)
    assert agg.close_through(19) is None
    bar = agg.close_through(20)
    assert bar is not None
    assert (bar.ts_ns, bar.close, bar.volume) == (12, 7.0, 1.0)
    assert agg.close_through(30) is None
    with pytest.raises(ValueError, match="before the open bar"):
        agg.on_trade(40, 1.0, 1.0)
        agg.on_trade(5, 1.0, 1.0)


def test_tick_mode_update_carries_trade_timestamp() -> None:
    mon = VpinMonitor(2.0, bar_ns=None, sample_length=1, sigma=1.0)
    assert mon.on_trade(100, 10.0, 1.0) == []
    (update,) = mon.on_trade(250, 11.0, 1.0)
    assert update.ts_ns == 250
    # bucket = 0.5 buy (flat first trade) + Φ(1) buy -> |V - 2B| / V
    assert update.vpin == pytest.approx(abs(2.0 - 2 * (0.5 + normal_cdf(1.0))) / 2.0)
    assert mon.on_timer(10**12) == []


def test_estimator_rejects_bad_config_and_input() -> None:
    with pytest.raises(ValueError, match="bucket_volume"):
        VpinEstimator(0.0)
    with pytest.raises(ValueError, match="sample_length"):
        VpinEstimator(1.0, sample_length=0)
    with pytest.raises(ValueError, match="sigma must"):
        VpinEstimator(1.0, sigma=0.0)
    with pytest.raises(ValueError, match="sigma_bars"):
        VpinEstimator(1.0, sigma_bars=1)
    with pytest.raises(ValueError, match="buy_volume"):
        VpinEstimator(1.0).on_classified_bar(2.0, 1.0)
