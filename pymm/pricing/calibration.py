"""Online calibration of the model inputs: mid volatility ``sigma`` and trade intensity ``A*exp(-k*delta)``.

Both estimators keep a sliding time window and are fed one observation at a time; fitting is cheap and
meant to run at the parameter cadence (every few seconds), not per event. Times are float seconds
(the caller converts from nanosecond event fields); prices are in any one unit (ticks or quote currency),
and the outputs are in that unit: ``sigma`` in price/sqrt(s), ``A`` per second, ``k`` per price unit.

Volatility (arithmetic mid, as in A-S/GLFT): ``sigma**2 = sum(dm**2) / sum(dt)`` over mid changes in
the window, optionally sampled no faster than ``min_interval`` (sparse sampling damps bid-ask bounce).
With a regular grid this is hftbacktest's ``std(dm per step) * sqrt(steps per second)``.

Intensity: the rate at which market orders reach a quote ``delta`` away from the mid is the rate of
trades whose depth (distance from the mid prevailing before the trade) is at least ``delta``:
``lambda(delta_i) = #{depth >= delta_i} / elapsed`` on a grid of levels, then
``ln lambda = ln A - k*delta`` is fitted by least squares weighted by the counts (the variance of
``ln count`` is about ``1/count``), over levels with at least ``min_count`` trades. Unlike hftbacktest's
notebook, levels are in the caller's unit (no half-tick indexing) and every trade counts, not only the
deepest per time step; callers that receive one print per filled resting order should merge prints of
one aggressor (same timestamp and side) first, keeping the deepest (:func:`merge_aggressor_prints`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "IntensityEstimator",
    "IntensityFit",
    "VolatilityEstimator",
    "merge_aggressor_prints",
    "trade_depth",
]


class VolatilityEstimator:
    """Realised variance of the mid over a sliding time window."""

    def __init__(self, window: float, min_interval: float = 0.0) -> None:
        """Args: window: seconds of history kept; min_interval: minimum seconds between samples."""
        if not window > 0:
            raise ValueError(f"window must be > 0 seconds, got {window}")
        if min_interval < 0:
            raise ValueError(f"min_interval must be >= 0, got {min_interval}")
        self.window = window
        self.min_interval = min_interval
        self._obs: deque[tuple[float, float, float]] = deque()  # (ts, dm**2, dt)
        self._sum_dm2 = 0.0
        self._sum_dt = 0.0
        self._pops = 0
        self._last: tuple[float, float] | None = None

    def on_mid(self, ts: float, mid: float) -> None:
        """Record the mid at ``ts`` (seconds, non-decreasing)."""
        if self._last is None:
            self._last = (ts, mid)
            return
        last_ts, last_mid = self._last
        if ts < last_ts:
            raise ValueError(f"time went backwards: {ts} < {last_ts}")
        dt = ts - last_ts
        if dt <= 0 or dt < self.min_interval:
            return
        dm2 = (mid - last_mid) ** 2
        self._obs.append((ts, dm2, dt))
        self._sum_dm2 += dm2
        self._sum_dt += dt
        self._last = (ts, mid)
        self._expire(ts)

    def _expire(self, now: float) -> None:
        while self._obs and self._obs[0][0] <= now - self.window:
            _, dm2, dt = self._obs.popleft()
            self._sum_dm2 -= dm2
            self._sum_dt -= dt
            self._pops += 1
        if self._pops >= max(len(self._obs), 1024):  # re-sum now and then: no drift from subtraction
            self._sum_dm2 = math.fsum(o[1] for o in self._obs)
            self._sum_dt = math.fsum(o[2] for o in self._obs)
            self._pops = 0

    @property
    def n_samples(self) -> int:
        """Mid increments in the window."""
        return len(self._obs)

    def sigma(self, now: float | None = None) -> float | None:
        """``sqrt(sum dm**2 / sum dt)`` in price/sqrt(s); ``None`` before two samples."""
        if now is not None:
            self._expire(now)
        if len(self._obs) < 2 or self._sum_dt <= 0:
            return None
        return math.sqrt(max(self._sum_dm2, 0.0) / self._sum_dt)


@dataclass(frozen=True, slots=True)
class IntensityFit:
    """A fitted ``lambda(delta) = A*exp(-k*delta)``."""

    a: float
    k: float
    n_trades: int
    n_levels: int
    elapsed: float

    def intensity(self, delta: float) -> float:
        """The fitted arrival rate at distance ``delta``."""
        return self.a * math.exp(-self.k * delta)


def trade_depth(price: float, mid: float, aggressor_is_buy: bool) -> float:
    """How far a trade reached from the prior mid: ``price - mid`` (buys), ``mid - price`` (sells)."""
    return price - mid if aggressor_is_buy else mid - price


def merge_aggressor_prints(
    prints: Iterable[tuple[float, float, bool]], mid: float
) -> list[tuple[float, float]]:
    """Merge consecutive prints of one aggressor (same ``ts`` and side) into its deepest depth.

    Args:
        prints: ``(ts, price, aggressor_is_buy)`` in arrival order.
        mid: the mid before these prints.

    Returns:
        ``(ts, depth)`` per aggressor.
    """
    out: list[tuple[float, float]] = []
    key: tuple[float, bool] | None = None
    for ts, price, is_buy in prints:
        depth = trade_depth(price, mid, is_buy)
        if key == (ts, is_buy):
            out[-1] = (ts, max(out[-1][1], depth))
        else:
            out.append((ts, depth))
            key = (ts, is_buy)
    return out


class IntensityEstimator:
    """Fits ``A*exp(-k*delta)`` to trade depths seen in a sliding time window."""

    def __init__(
        self, window: float, level_step: float, n_levels: int, min_count: int = 10, level_offset: float = 0.0
    ) -> None:
        """Set up the window and the depth levels.

        Args:
            window: seconds of trades kept.
            level_step: spacing of the fitted levels, in price units.
            n_levels: number of levels ``level_offset + i*level_step``.
            min_count: a level is fitted only if at least this many trades reached it.
            level_offset: depth of the first level. Trade depths live on the tick grid seen from the mid
                (half-tick offsets when the mid sits between two ticks); put the levels on those points,
                e.g. ``level_offset = tick/2, level_step = tick``, so that each level is a price a quote
                can actually sit at. The fit is then exact at the quotable distances.
        """
        if not window > 0 or not level_step > 0 or n_levels < 2 or min_count < 1 or level_offset < 0:
            raise ValueError(
                f"need window > 0, level_step > 0, n_levels >= 2, min_count >= 1, level_offset >= 0; got "
                f"{window}, {level_step}, {n_levels}, {min_count}, {level_offset}"
            )
        self.window = window
        self.levels = level_offset + np.arange(n_levels, dtype=np.float64) * level_step
        self.min_count = min_count
        self._trades: deque[tuple[float, float]] = deque()
        self._first_ts: float | None = None

    def on_trade(self, ts: float, depth: float) -> None:
        """Record one market order that reached ``depth`` from the mid at time ``ts`` (seconds)."""
        if self._first_ts is None:
            self._first_ts = ts
        self._trades.append((ts, max(depth, 0.0)))
        self._expire(ts)

    def _expire(self, now: float) -> None:
        while self._trades and self._trades[0][0] <= now - self.window:
            self._trades.popleft()

    def rates(self, now: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
        """``(levels, counts of trades with depth >= level, elapsed seconds)`` over the window."""
        self._expire(now)
        elapsed = 0.0 if self._first_ts is None else float(min(self.window, now - self._first_ts))
        depths = np.sort(np.fromiter((d for _, d in self._trades), dtype=np.float64, count=len(self._trades)))
        counts = depths.size - np.searchsorted(depths, self.levels, side="left")
        return self.levels, counts.astype(np.float64), elapsed

    def fit(self, now: float) -> IntensityFit | None:
        """Weighted least squares of ``ln(count/elapsed)`` on the level; ``None`` without enough data."""
        levels, counts, elapsed = self.rates(now)
        use = counts >= self.min_count
        if elapsed <= 0 or use.sum() < 2:
            return None
        x = levels[use]
        y = np.log(counts[use] / elapsed)
        w = counts[use]
        xm = np.average(x, weights=w)
        ym = np.average(y, weights=w)
        sxx = float(np.sum(w * (x - xm) ** 2))
        if sxx <= 0:
            return None
        slope = float(np.sum(w * (x - xm) * (y - ym))) / sxx
        intercept = float(ym - slope * xm)
        return IntensityFit(
            a=math.exp(intercept),
            k=-slope,
            n_trades=len(self._trades),
            n_levels=int(use.sum()),
            elapsed=elapsed,
        )
