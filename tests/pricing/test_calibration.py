import math

import numpy as np
import pytest

from pymm.pricing.calibration import (
    IntensityEstimator,
    VolatilityEstimator,
    merge_aggressor_prints,
    trade_depth,
)

# Synthetic data with a seeded generator; tolerances are stated per test as multiples of the
# estimator's standard error, so a broken estimator fails and a correct one passes with margin.


def _abm_mids(rng, sigma, dt, n, s0=100.0):
    return s0 + np.concatenate([[0.0], np.cumsum(rng.normal(0.0, sigma * math.sqrt(dt), n))])


def test_volatility_recovers_sigma():
    rng = np.random.default_rng(11)
    sigma, dt, n = 2.0, 0.1, 6000
    est = VolatilityEstimator(window=1e9)
    for i, m in enumerate(_abm_mids(rng, sigma, dt, n)):
        est.on_mid(i * dt, m)
    # Relative SE of a realised-variance sigma with n increments: 1/sqrt(2n) = 0.91%; allow 4 SE.
    assert est.sigma() == pytest.approx(sigma, rel=4 / math.sqrt(2 * n))


def test_volatility_irregular_sampling():
    rng = np.random.default_rng(12)
    sigma, n = 0.7, 20_000
    ts = np.cumsum(rng.exponential(0.05, n))
    mids = 10.0 + np.cumsum(rng.normal(0.0, sigma * np.sqrt(np.diff(ts, prepend=0.0))))
    est = VolatilityEstimator(window=1e9)
    for t, m in zip(ts, mids, strict=True):
        est.on_mid(float(t), float(m))
    # Increments have random dt: sum(dm^2)/sum(dt) has relative SE about sqrt(2/n)/2 * sqrt(E dt^2)/E dt
    # = 0.5% * sqrt(2) for exponential gaps; 4 SE -> 2.9%.
    assert est.sigma() == pytest.approx(sigma, rel=0.029)


def test_volatility_window_follows_a_regime_change():
    rng = np.random.default_rng(13)
    est = VolatilityEstimator(window=300.0)
    steps = np.concatenate(
        [rng.normal(0.0, 1.0 * math.sqrt(0.1), 6000), rng.normal(0.0, 3.0 * math.sqrt(0.1), 6000)]
    )
    for i, m in enumerate(100.0 + np.cumsum(steps)):
        est.on_mid(i * 0.1, float(m))
    assert est.n_samples == 3000
    assert est.sigma() == pytest.approx(3.0, rel=4 / math.sqrt(2 * 3000))


def test_volatility_min_interval_subsamples():
    est = VolatilityEstimator(window=100.0, min_interval=1.0)
    for i in range(50):
        est.on_mid(i * 0.1, 100.0 + (i % 2))
    assert est.n_samples == 4  # samples at t=1.0, 2.0, 3.0, 4.0 only
    assert est.sigma() is not None


def test_volatility_refuses_time_going_backwards():
    est = VolatilityEstimator(window=10.0)
    est.on_mid(1.0, 1.0)
    with pytest.raises(ValueError, match="backwards"):
        est.on_mid(0.5, 1.0)


def _poisson_trades(rng, a, k, horizon):
    n = rng.poisson(a * horizon)
    return np.sort(rng.uniform(0.0, horizon, n)), rng.exponential(1.0 / k, n)


def test_intensity_recovers_a_and_k():
    rng = np.random.default_rng(21)
    a, k, horizon = 3.0, 0.8, 3600.0
    ts, depths = _poisson_trades(rng, a, k, horizon)
    est = IntensityEstimator(window=horizon * 2, level_step=0.25, n_levels=30)
    for t, d in zip(ts, depths, strict=True):
        est.on_trade(float(t), float(d))
    fit = est.fit(horizon)
    assert fit is not None
    n = fit.n_trades
    # With ~10,800 trades the SE of A-hat and k-hat is about 1/sqrt(n) = 1% relative; allow 5%.
    assert n == pytest.approx(a * horizon, rel=0.05)
    assert fit.a == pytest.approx(a, rel=0.05)
    assert fit.k == pytest.approx(k, rel=0.05)


def test_intensity_on_the_tick_grid():
    # Depths on a 1-tick grid seen from a mid between ticks: 0.5, 1.5, ... With levels on those points the
    # fit gives the true k and the true rate at each quotable distance.
    rng = np.random.default_rng(22)
    a, k, horizon = 2.0, 0.6, 7200.0
    ts, raw = _poisson_trades(rng, a, k, horizon)
    depths = 0.5 + np.floor(raw)  # P(depth >= 0.5 + j) = exp(-k j)
    est = IntensityEstimator(window=horizon, level_step=1.0, n_levels=12, level_offset=0.5)
    for t, d in zip(ts, depths, strict=True):
        est.on_trade(float(t), float(d))
    fit = est.fit(horizon)
    assert fit is not None
    assert fit.k == pytest.approx(k, rel=0.05)
    assert fit.intensity(0.5) == pytest.approx(a, rel=0.05)
    assert fit.intensity(2.5) == pytest.approx(a * math.exp(-2 * k), rel=0.05)


def test_intensity_window_forgets_old_trades():
    rng = np.random.default_rng(23)
    est = IntensityEstimator(window=1800.0, level_step=0.25, n_levels=30)
    ts1, d1 = _poisson_trades(rng, 5.0, 2.0, 1800.0)
    ts2, d2 = _poisson_trades(rng, 2.0, 0.5, 3600.0)
    for t, d in zip(np.concatenate([ts1, ts2 + 1800.0]), np.concatenate([d1, d2]), strict=True):
        est.on_trade(float(t), float(d))
    fit = est.fit(5400.0)
    assert fit is not None
    assert fit.elapsed == pytest.approx(1800.0)
    assert fit.k == pytest.approx(0.5, rel=0.08)  # ~3600 trades: SE 1.7%
    assert fit.a == pytest.approx(2.0, rel=0.08)


def test_intensity_needs_data():
    est = IntensityEstimator(window=60.0, level_step=1.0, n_levels=5)
    assert est.fit(0.0) is None
    est.on_trade(0.0, 1.0)
    assert est.fit(1.0) is None


def test_trade_depth_and_merging():
    assert trade_depth(100.5, 100.0, aggressor_is_buy=True) == 0.5
    assert trade_depth(99.0, 100.0, aggressor_is_buy=False) == 1.0
    prints = [(1.0, 100.5, True), (1.0, 101.5, True), (1.0, 99.5, False), (2.0, 100.5, True)]
    assert merge_aggressor_prints(prints, 100.0) == [(1.0, 1.5), (1.0, 0.5), (2.0, 0.5)]
