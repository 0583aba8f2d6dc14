"""Order-flow toxicity: VPIN over volume buckets with bulk volume classification (BVC).

Construction (Easley, López de Prado & O'Hara 2012, RFS 25(5), eqs. 7 and 9; see
``docs/monitoring/README.md``):

* Trades are aggregated into time bars (1 minute in the paper; ``bar_ns=None`` makes every trade its own
  bar). A bar has a closing price ``P_i`` and a volume ``V_i``.
* BVC splits each bar's volume: ``V^B_i = V_i · Φ((P_i - P_{i-1}) / sigma_dP)`` and ``V^S_i = V_i - V^B_i``,
  with Φ the standard normal CDF and sigma_dP the standard deviation of bar-to-bar price changes. No price
  change (or no sigma yet) splits a bar 50/50.
* Bars fill volume buckets of size ``V`` in sequence; a bar that overfills a bucket carries the excess,
  with the same buy fraction, into the next bucket.
* ``VPIN = Σ_{τ=1..n} |V^S_τ - V^B_τ| / (n·V)`` over the last ``n`` buckets (``n = 50``), updated after
  every bucket once ``n`` buckets exist.
* Alerting uses ``CDF(VPIN)``, the rank of the current VPIN in its own history (the paper alerts at
  ``CDF > 0.9``), not the raw level. The rank is the mid-rank (ties count half) so that a flat
  history, e.g. a quiet large-tick market where every bucket is split 50/50, does not sit at CDF 1.

Two APIs compute the same numbers: the streaming :class:`VpinEstimator` / :class:`VpinMonitor`
(one bar or trade at a time, for the live monitor) and the vectorised batch functions
(:func:`vpin_from_bars`, :func:`bars_from_trades`) for research and replays. Tests check they agree.

sigma_dP rules, identical in both APIs: a fixed ``sigma`` if given; otherwise the sample standard deviation
(ddof=1) of all bar-to-bar changes seen so far including the current one, or of the last
``sigma_bars`` changes. Using only the past keeps the live estimator free of look-ahead; the paper's
whole-sample sigma is the batch call with ``sigma=np.std(np.diff(closes), ddof=1)``.

The paper's BVC uses the normal CDF (eq. 7), which is what this module implements; no Student-t.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Bar",
    "TradeBarAggregator",
    "VolumeBucket",
    "VpinEstimator",
    "VpinMonitor",
    "VpinResult",
    "VpinUpdate",
    "bars_from_trades",
    "bvc_buy_fraction",
    "bvc_exceedance_probability",
    "empirical_cdf_series",
    "normal_cdf",
    "vpin_from_bars",
    "vpin_from_classified_bars",
]

_SQRT2 = math.sqrt(2.0)
# VPIN values are ranked at this many decimals, so values equal up to floating-point noise tie in
# both the streaming and the batch CDF.
_CDF_DECIMALS = 12
_STD_NORMAL = NormalDist()


def normal_cdf(x: float) -> float:
    """Standard normal CDF Φ(x), accurate in the tails (via ``erfc``)."""
    return 0.5 * math.erfc(-x / _SQRT2)


_normal_cdf_ufunc = np.frompyfunc(normal_cdf, 1, 1)


def _normal_cdf_array(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(_normal_cdf_ufunc(x), dtype=np.float64)


def bvc_buy_fraction(price_change: ArrayLike, sigma: ArrayLike) -> NDArray[np.float64]:
    """Share of a bar's volume that BVC classifies as buyer-initiated: ``Φ(ΔP / sigma)``.

    Args:
        price_change: Bar-to-bar price change(s) ``P_i - P_{i-1}``.
        sigma: Standard deviation of price changes; a non-positive or NaN sigma gives 0.5.

    Returns:
        The buy fraction(s) in [0, 1], broadcast over the inputs.
    """
    dp = np.asarray(price_change, dtype=np.float64)
    sd = np.asarray(sigma, dtype=np.float64)
    dp, sd = np.broadcast_arrays(dp, sd)
    ok = np.isfinite(sd) & (sd > 0.0)
    x = np.zeros(dp.shape, dtype=np.float64)
    np.divide(dp, sd, out=x, where=ok)
    return _normal_cdf_array(x)


def bvc_exceedance_probability(c: float, r: float) -> float:
    """``P(|2·Φ(x) - 1| > c)`` for ``x ~ N(0, r²)``: how often BVC calls a bar more than ``c`` one-sided.

    Andersen & Bondarenko's check of BVC: with bar changes ``r`` times more volatile than the sigma used to
    standardise them, ``P = 2·(1 - Φ(Φ⁻¹((1 + c)/2) / r))``.

    Args:
        c: Imbalance level in (0, 1).
        r: Ratio of the true standard deviation of price changes to the standardising sigma (> 0).

    Returns:
        The probability.
    """
    if not 0.0 < c < 1.0 or r <= 0.0:
        raise ValueError(f"need 0 < c < 1 and r > 0, got c={c}, r={r}")
    return 2.0 * (1.0 - normal_cdf(_STD_NORMAL.inv_cdf((1.0 + c) / 2.0) / r))


# --------------------------------------------------------------------------------------------- streaming


@dataclass(frozen=True, slots=True)
class Bar:
    """A closed time bar: last trade time, closing price, traded volume."""

    ts_ns: int
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class VolumeBucket:
    """A completed volume bucket.

    Attributes:
        index: 0-based bucket number since the estimator started.
        buy_volume: BVC (or aggressor) buy volume ``V^B_τ``.
        sell_volume: ``V^S_τ = V - V^B_τ``.
        ts_ns: Timestamp of the event whose processing completed the bucket.
    """

    index: int
    buy_volume: float
    sell_volume: float
    ts_ns: int

    @property
    def imbalance(self) -> float:
        """``|V^S_τ - V^B_τ|``."""
        return abs(self.sell_volume - self.buy_volume)


@dataclass(frozen=True, slots=True)
class VpinUpdate:
    """VPIN after a bucket closed.

    Attributes:
        bucket: Index of the bucket that closed.
        vpin: VPIN over the last ``n`` buckets, in [0, 1].
        cdf: Mid-rank empirical CDF of this VPIN within the VPIN history (including itself), in (0, 1).
        ts_ns: Timestamp of the event (trade or bar close) that produced this update; alert delays are
            measured from it.
        history: Number of VPIN values the CDF ranked against (a CDF over few values means little).
    """

    bucket: int
    vpin: float
    cdf: float
    ts_ns: int
    history: int


class _EmpiricalCdf:
    """Mid-rank CDF of each new value among the values seen so far (optionally the last ``history``)."""

    def __init__(self, history: int | None) -> None:
        if history is not None and history < 1:
            raise ValueError(f"cdf history must be >= 1, got {history}")
        self._history = history
        self._sorted: list[float] = []
        self._fifo: deque[float] = deque()

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, value: float) -> float:
        """Insert ``value`` and return its mid-rank ``(#{h < v} + #{h <= v}) / (2·#h)`` in the history."""
        value = round(value, _CDF_DECIMALS)
        if self._history is not None and len(self._fifo) == self._history:
            old = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._fifo.append(value)
        bisect.insort(self._sorted, value)
        below = bisect.bisect_left(self._sorted, value)
        at_or_below = bisect.bisect_right(self._sorted, value)
        return 0.5 * (below + at_or_below) / len(self._sorted)


class VpinEstimator:
    """Streaming VPIN from bars (BVC) or from bars whose buy volume is already known.

    Args:
        bucket_volume: Bucket size ``V`` (e.g. 1/50 of average daily volume), > 0.
        sample_length: Number of buckets ``n`` in the VPIN window (the paper's 50).
        sigma: Fixed sigma_dP for BVC; ``None`` estimates it from the changes seen so far.
        sigma_bars: With ``sigma=None``, estimate sigma over only the last ``sigma_bars`` changes.
        cdf_history: Number of past VPIN values the CDF ranks against; ``None`` keeps all.
    """

    def __init__(
        self,
        bucket_volume: float,
        *,
        sample_length: int = 50,
        sigma: float | None = None,
        sigma_bars: int | None = None,
        cdf_history: int | None = None,
    ) -> None:
        if not bucket_volume > 0.0:
            raise ValueError(f"bucket_volume must be > 0, got {bucket_volume}")
        if sample_length < 1:
            raise ValueError(f"sample_length must be >= 1, got {sample_length}")
        if sigma is not None and not sigma > 0.0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        if sigma_bars is not None and sigma_bars < 2:
            raise ValueError(f"sigma_bars must be >= 2, got {sigma_bars}")
        self.bucket_volume = float(bucket_volume)
        self.sample_length = sample_length
        self._sigma = sigma
        self._sigma_bars = sigma_bars
        self._cdf = _EmpiricalCdf(cdf_history)
        # price-change statistics (Welford for the expanding estimate, a window for the rolling one)
        self._last_close: float | None = None
        self._n_changes = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._window: deque[float] = deque(maxlen=sigma_bars)
        # bucket filling, in cumulative volume so boundaries match the batch computation exactly
        self._cum_volume = 0.0
        self._cum_buy = 0.0
        self._boundary_buy = 0.0
        self._buckets = 0
        self._imbalances: deque[float] = deque(maxlen=sample_length)
        self.last_update: VpinUpdate | None = None

    @property
    def buckets_completed(self) -> int:
        """Number of buckets closed so far."""
        return self._buckets

    def seed_cdf(self, values: ArrayLike) -> None:
        """Load past VPIN values (oldest first) into the CDF history, e.g. from the previous session.

        Without a seed the CDF needs days of buckets before ``CDF > 0.9`` means anything; seeding
        from a replay or the last session's values makes alerting useful from the first bucket.
        """
        for value in np.asarray(values, dtype=np.float64).ravel().tolist():
            self._cdf.add(value)

    def sigma(self) -> float:
        """The sigma_dP currently used for classification (NaN while undefined)."""
        if self._sigma is not None:
            return self._sigma
        if self._sigma_bars is not None:
            if len(self._window) < 2:
                return math.nan
            return float(np.std(np.fromiter(self._window, dtype=np.float64), ddof=1))
        if self._n_changes < 2:
            return math.nan
        return math.sqrt(self._m2 / (self._n_changes - 1))

    def on_bar(self, close: float, volume: float, ts_ns: int = 0) -> list[VpinUpdate]:
        """Classify one bar with BVC and add it to the buckets.

        Args:
            close: The bar's closing price.
            volume: The bar's volume (>= 0).
            ts_ns: Timestamp of the event that closed the bar.

        Returns:
            One update per bucket this bar completed (usually none or one).
        """
        if self._last_close is None:
            change = 0.0
        else:
            change = close - self._last_close
            self._n_changes += 1
            delta = change - self._mean
            self._mean += delta / self._n_changes
            self._m2 += delta * (change - self._mean)
            self._window.append(change)
        self._last_close = close
        sd = self.sigma()
        fraction = normal_cdf(change / sd) if (math.isfinite(sd) and sd > 0.0) else 0.5
        return self.on_classified_bar(volume * fraction, volume, ts_ns)

    def on_classified_bar(self, buy_volume: float, volume: float, ts_ns: int = 0) -> list[VpinUpdate]:
        """Add a bar whose buy volume is known (e.g. from the venue's aggressor flag).

        Args:
            buy_volume: Buyer-initiated volume, ``0 <= buy_volume <= volume``.
            volume: Total volume of the bar.
            ts_ns: Timestamp of the event that closed the bar.

        Returns:
            One update per bucket this bar completed.
        """
        if volume < 0.0 or not 0.0 <= buy_volume <= volume:
            raise ValueError(f"need 0 <= buy_volume <= volume, got {buy_volume}, {volume}")
        updates: list[VpinUpdate] = []
        if volume == 0.0:
            return updates
        prev_volume, prev_buy = self._cum_volume, self._cum_buy
        self._cum_volume += volume
        self._cum_buy += buy_volume
        fraction = buy_volume / volume
        v = self.bucket_volume
        while True:
            boundary = (self._buckets + 1) * v
            if self._cum_volume < boundary:
                break
            buy_at_boundary = prev_buy + (boundary - prev_volume) * fraction
            buy = buy_at_boundary - self._boundary_buy
            self._boundary_buy = buy_at_boundary
            bucket = VolumeBucket(self._buckets, buy, v - buy, ts_ns)
            self._buckets += 1
            self._imbalances.append(bucket.imbalance)
            if len(self._imbalances) == self.sample_length:
                vpin = sum(self._imbalances) / (self.sample_length * v)
                cdf = self._cdf.add(vpin)
                update = VpinUpdate(bucket.index, vpin, cdf, ts_ns, len(self._cdf))
                self.last_update = update
                updates.append(update)
        return updates


class TradeBarAggregator:
    """Turns trades into time bars of ``bar_ns`` nanoseconds (bars without trades are skipped).

    A bar closes when the first trade of a later bar arrives, or on :meth:`close_through`.
    """

    def __init__(self, bar_ns: int) -> None:
        if bar_ns <= 0:
            raise ValueError(f"bar_ns must be > 0, got {bar_ns}")
        self.bar_ns = bar_ns
        self._bar: int | None = None
        self._close = 0.0
        self._volume = 0.0
        self._ts = 0

    def on_trade(self, ts_ns: int, price: float, qty: float) -> Bar | None:
        """Add a trade; return the bar it closed, if any."""
        index = ts_ns // self.bar_ns
        closed: Bar | None = None
        if self._bar is not None and index != self._bar:
            if index < self._bar:
                raise ValueError(f"trade at {ts_ns} is before the open bar {self._bar}")
            closed = Bar(self._ts, self._close, self._volume)
            self._volume = 0.0
        self._bar = index
        self._close = price
        self._volume += qty
        self._ts = ts_ns
        return closed

    def close_through(self, now_ns: int) -> Bar | None:
        """Close the open bar if ``now_ns`` lies past its end (a timer tick with no trade)."""
        if self._bar is None or now_ns // self.bar_ns == self._bar:
            return None
        closed = Bar(self._ts, self._close, self._volume)
        self._bar = None
        self._volume = 0.0
        return closed


class VpinMonitor:
    """Trades in, VPIN updates out: :class:`TradeBarAggregator` feeding :class:`VpinEstimator`.

    Args:
        bucket_volume: Bucket size ``V``.
        bar_ns: Bar length in nanoseconds; ``None`` makes each trade its own bar (tick-level BVC).
        sample_length: See :class:`VpinEstimator`.
        sigma: See :class:`VpinEstimator`.
        sigma_bars: See :class:`VpinEstimator`.
        cdf_history: See :class:`VpinEstimator`.
    """

    def __init__(
        self,
        bucket_volume: float,
        *,
        bar_ns: int | None = 60_000_000_000,
        sample_length: int = 50,
        sigma: float | None = None,
        sigma_bars: int | None = None,
        cdf_history: int | None = None,
    ) -> None:
        self.estimator = VpinEstimator(
            bucket_volume,
            sample_length=sample_length,
            sigma=sigma,
            sigma_bars=sigma_bars,
            cdf_history=cdf_history,
        )
        self._bars = TradeBarAggregator(bar_ns) if bar_ns is not None else None

    def on_trade(self, ts_ns: int, price: float, qty: float) -> list[VpinUpdate]:
        """Process one market trade; updates carry ``ts_ns`` of this trade."""
        if self._bars is None:
            return self.estimator.on_bar(price, qty, ts_ns)
        bar = self._bars.on_trade(ts_ns, price, qty)
        return self.estimator.on_bar(bar.close, bar.volume, ts_ns) if bar is not None else []

    def on_timer(self, now_ns: int) -> list[VpinUpdate]:
        """Close a bar whose interval has ended without a later trade; updates carry ``now_ns``."""
        if self._bars is None:
            return []
        bar = self._bars.close_through(now_ns)
        return self.estimator.on_bar(bar.close, bar.volume, now_ns) if bar is not None else []


# ------------------------------------------------------------------------------------------------ batch


@dataclass(frozen=True)
class VpinResult:
    """Batch VPIN output.

    Attributes:
        bucket_buy: ``V^B_τ`` per completed bucket.
        bucket_sell: ``V^S_τ`` per completed bucket.
        bucket_bar: Index of the bar that completed each bucket.
        vpin: VPIN after buckets ``n-1, n, ...`` (length ``max(K - n + 1, 0)``).
        cdf: Empirical CDF of each VPIN value within the history up to it.
    """

    bucket_buy: NDArray[np.float64]
    bucket_sell: NDArray[np.float64]
    bucket_bar: NDArray[np.int64]
    vpin: NDArray[np.float64]
    cdf: NDArray[np.float64]


def bars_from_trades(
    ts_ns: ArrayLike, prices: ArrayLike, qtys: ArrayLike, bar_ns: int
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Aggregate time-ordered trades into time bars (empty bars are skipped).

    Returns:
        ``(last_trade_ts_ns, close, volume)`` per bar.
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    px = np.asarray(prices, dtype=np.float64)
    q = np.asarray(qtys, dtype=np.float64)
    if ts.size == 0:
        return ts.copy(), px.copy(), q.copy()
    if np.any(np.diff(ts) < 0):
        raise ValueError("trades must be in time order")
    index = ts // bar_ns
    last = np.flatnonzero(np.r_[index[1:] != index[:-1], True])
    first = np.r_[0, last[:-1] + 1]
    return ts[last], px[last], np.add.reduceat(q, first)


def _sigma_series(
    changes: NDArray[np.float64], sigma: float | None, sigma_bars: int | None
) -> NDArray[np.float64]:
    """sigma used for each change: fixed, expanding (ddof=1) or rolling over ``sigma_bars`` changes."""
    m = changes.size
    if sigma is not None:
        return np.full(m, float(sigma))
    out = np.full(m, np.nan)
    if sigma_bars is None:
        k = np.arange(1, m + 1, dtype=np.float64)
        # sum of squared deviations from the running mean, via the shifted cumulative identity
        centred = changes - (changes[0] if m else 0.0)
        s1 = np.cumsum(centred)
        s2 = np.cumsum(centred * centred)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (s2 - s1 * s1 / k) / (k - 1.0)
        out[1:] = np.sqrt(np.maximum(var[1:], 0.0))
        return out
    for i in range(1, m):
        lo = max(0, i + 1 - sigma_bars)
        out[i] = float(np.std(changes[lo : i + 1], ddof=1))
    return out


def empirical_cdf_series(values: ArrayLike, history: int | None = None) -> NDArray[np.float64]:
    """Mid-rank empirical CDF of each value among the values up to and including it.

    ``F(v_t) = (#{h < v_t} + #{h <= v_t}) / (2·#h)`` over ``h`` in the history (the last ``history``
    values, or all). Ties count half, so a flat history sits at 0.5 instead of 1. Values are compared
    after rounding to 12 decimals, as in the streaming estimator. O(N log N): a Fenwick tree over the
    values' ranks counts the history.
    """
    v = np.array([round(float(x), _CDF_DECIMALS) for x in np.asarray(values, dtype=np.float64)])
    if history is not None and history < 1:
        raise ValueError(f"cdf history must be >= 1, got {history}")
    _, rank = np.unique(v, return_inverse=True)
    ranks = [int(r) + 1 for r in rank.ravel()]  # 1-based for the tree
    tree = [0] * (len(ranks) + 1)

    def add(i: int, delta: int) -> None:
        while i < len(tree):
            tree[i] += delta
            i += i & -i

    def count_upto(i: int) -> int:
        total = 0
        while i > 0:
            total += tree[i]
            i -= i & -i
        return total

    out = np.empty(v.size)
    for t, r in enumerate(ranks):
        if history is not None and t >= history:
            add(ranks[t - history], -1)
        add(r, 1)
        size = t + 1 if history is None else min(t + 1, history)
        out[t] = 0.5 * (count_upto(r - 1) + count_upto(r)) / size
    return out


def vpin_from_classified_bars(
    buy_volumes: ArrayLike,
    volumes: ArrayLike,
    bucket_volume: float,
    *,
    sample_length: int = 50,
    cdf_history: int | None = None,
) -> VpinResult:
    """VPIN from bars whose buy volume is given (BVC output or venue aggressor flags)."""
    b = np.asarray(buy_volumes, dtype=np.float64)
    v = np.asarray(volumes, dtype=np.float64)
    if bucket_volume <= 0.0 or sample_length < 1:
        raise ValueError("bucket_volume must be > 0 and sample_length >= 1")
    keep = v > 0.0
    bar_ids = np.flatnonzero(keep)
    b, v = b[keep], v[keep]
    cum_v = np.cumsum(v)
    cum_b = np.cumsum(b)
    total = cum_v[-1] if cum_v.size else 0.0
    k_max = int(total // bucket_volume) + 1
    boundaries = np.arange(1, k_max + 1, dtype=np.float64) * bucket_volume
    boundaries = boundaries[boundaries <= total]
    idx = np.searchsorted(cum_v, boundaries, side="left")
    prev_v = np.where(idx > 0, cum_v[idx - 1], 0.0)
    prev_b = np.where(idx > 0, cum_b[idx - 1], 0.0)
    buy_at = prev_b + (boundaries - prev_v) * (b[idx] / v[idx])
    bucket_buy = np.diff(np.r_[0.0, buy_at])
    bucket_sell = bucket_volume - bucket_buy
    imbalance = np.abs(bucket_sell - bucket_buy)
    n = sample_length
    if imbalance.size >= n:
        vpin = np.lib.stride_tricks.sliding_window_view(imbalance, n).sum(axis=1) / (n * bucket_volume)
    else:
        vpin = np.empty(0)
    return VpinResult(
        bucket_buy=bucket_buy,
        bucket_sell=bucket_sell,
        bucket_bar=bar_ids[idx].astype(np.int64),
        vpin=vpin,
        cdf=empirical_cdf_series(vpin, cdf_history),
    )


def vpin_from_bars(
    closes: ArrayLike,
    volumes: ArrayLike,
    bucket_volume: float,
    *,
    sample_length: int = 50,
    sigma: float | None = None,
    sigma_bars: int | None = None,
    cdf_history: int | None = None,
) -> VpinResult:
    """Batch VPIN with BVC, the same rules as :class:`VpinEstimator` (see the module docstring).

    Args:
        closes: Bar closing prices, in time order.
        volumes: Bar volumes.
        bucket_volume: Bucket size ``V``.
        sample_length: Buckets per VPIN window ``n``.
        sigma: Fixed sigma_dP; ``None`` uses the expanding (or ``sigma_bars`` rolling) past estimate.
        sigma_bars: Rolling window for sigma, in changes.
        cdf_history: VPIN history length for the CDF; ``None`` keeps all.

    Returns:
        Buckets, VPIN series and CDF series.
    """
    p = np.asarray(closes, dtype=np.float64)
    v = np.asarray(volumes, dtype=np.float64)
    if p.shape != v.shape:
        raise ValueError("closes and volumes must have the same shape")
    changes = np.diff(p)
    sd = _sigma_series(changes, sigma, sigma_bars)
    fraction = np.r_[0.5, bvc_buy_fraction(changes, sd)] if p.size else np.empty(0)
    return vpin_from_classified_bars(
        v * fraction, v, bucket_volume, sample_length=sample_length, cdf_history=cdf_history
    )
