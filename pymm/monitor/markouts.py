"""Adverse selection of our fills: markouts, realised spread and price impact at fixed horizons.

Definitions (models_and_tables.md §5.2), for a fill at time ``t``, price ``p``, side ``s`` (+1 we bought,
-1 we sold), horizon ``h``:

* ``mid_t``: the prevailing mid just before the fill (last mid sample with ``ts < t``), so a book update
  caused by the fill itself is not counted as "before";
* ``mid_{t+h}``: the mid as of ``t + h`` (last sample with ``ts <= t + h``);
* effective half-spread ``e = s·(mid_t - p)``: what we captured against the mid at the fill;
* markout ``m(h) = s·(mid_{t+h} - p)``: our P&L per unit marked to the later mid; positive is good.
  For a maker it is the realised half-spread at ``h``;
* adverse selection (price impact) ``a(h) = s·(mid_t - mid_{t+h})``: how far the mid moved against us,
  so that ``m(h) = e - a(h)``; positive is a cost;
* realised spread ``rs(h) = 2·m(h)``: the full-spread convention of SEC Rule 605, reported for comparison.

Values are in price units and in basis points of ``mid_t``; aggregates weight each fill by its size.
A horizon that reaches past the last mid sample is not yet known and stays NaN (batch) or pending
(streaming). Default horizons are 1 s, 5 s and 30 s (issue #8).

:func:`compute_markouts` is the vectorised batch form; :class:`MarkoutTracker` resolves the same numbers
as mid samples arrive.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DEFAULT_HORIZONS_NS",
    "Fill",
    "Markout",
    "MarkoutTable",
    "MarkoutTracker",
    "compute_markouts",
    "weighted_mean",
]

NS_PER_S = 1_000_000_000
DEFAULT_HORIZONS_NS: tuple[int, ...] = (1 * NS_PER_S, 5 * NS_PER_S, 30 * NS_PER_S)


@dataclass(frozen=True, slots=True)
class Fill:
    """One of our fills.

    Attributes:
        ts_ns: Fill time (venue ``ts_event``), nanoseconds.
        price: Fill price.
        qty: Filled quantity (> 0).
        side: +1 if we bought, -1 if we sold.
        fill_id: Caller's identifier, carried into the markouts.
    """

    ts_ns: int
    price: float
    qty: float
    side: int
    fill_id: int = 0


@dataclass(frozen=True, slots=True)
class Markout:
    """One fill marked out at one horizon (see the module docstring for the formulas).

    ``ts_ns`` is the fill's time, so the horizon ended at ``ts_ns + horizon_ns``.
    """

    fill_id: int
    horizon_ns: int
    qty: float
    side: int
    mid_at_fill: float
    mid_at_horizon: float
    effective_half_spread: float
    markout: float
    adverse_selection: float
    ts_ns: int = 0

    @property
    def markout_bps(self) -> float:
        """Markout in basis points of the mid at the fill."""
        return self.markout / self.mid_at_fill * 1e4

    @property
    def adverse_selection_bps(self) -> float:
        """Adverse selection in basis points of the mid at the fill."""
        return self.adverse_selection / self.mid_at_fill * 1e4

    @property
    def realized_spread(self) -> float:
        """Realised spread, Rule 605's full-spread convention: ``2·markout``."""
        return 2.0 * self.markout


@dataclass(frozen=True)
class MarkoutTable:
    """Batch markouts: arrays of shape ``(fills, horizons)`` (NaN where not yet known).

    Attributes:
        horizons_ns: The horizons, one per column.
        qty: Fill sizes, shape ``(fills,)``.
        mid_at_fill: ``mid_t`` per fill (NaN if no mid preceded the fill).
        resolved: Whether ``t + h`` lies before the last mid sample, i.e. the horizon's mid is final.
        mid_at_horizon: ``mid_{t+h}`` (NaN where not resolved or no sample precedes ``t + h``).
        effective_half_spread: ``s·(mid_t - p)`` per fill.
        markout: ``s·(mid_{t+h} - p)``.
        adverse_selection: ``s·(mid_t - mid_{t+h})``.
    """

    horizons_ns: NDArray[np.int64]
    qty: NDArray[np.float64]
    mid_at_fill: NDArray[np.float64]
    resolved: NDArray[np.bool_]
    mid_at_horizon: NDArray[np.float64]
    effective_half_spread: NDArray[np.float64]
    markout: NDArray[np.float64]
    adverse_selection: NDArray[np.float64]

    @property
    def markout_bps(self) -> NDArray[np.float64]:
        """Markouts in basis points of ``mid_t``."""
        return self.markout / self.mid_at_fill[:, None] * 1e4

    @property
    def adverse_selection_bps(self) -> NDArray[np.float64]:
        """Adverse selection in basis points of ``mid_t``."""
        return self.adverse_selection / self.mid_at_fill[:, None] * 1e4

    @property
    def realized_spread(self) -> NDArray[np.float64]:
        """Realised spread (Rule 605 full-spread convention)."""
        return 2.0 * self.markout

    def mean_markout_bps(self) -> NDArray[np.float64]:
        """Size-weighted mean markout per horizon, in bps, over the fills known at that horizon."""
        return np.array([weighted_mean(col, self.qty) for col in self.markout_bps.T])

    def mean_adverse_selection_bps(self) -> NDArray[np.float64]:
        """Size-weighted mean adverse selection per horizon, in bps."""
        return np.array([weighted_mean(col, self.qty) for col in self.adverse_selection_bps.T])


def weighted_mean(values: ArrayLike, weights: ArrayLike) -> float:
    """Weighted mean over the finite values; NaN when none are finite or the weights sum to 0."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(v)
    total = float(w[ok].sum())
    if not ok.any() or total == 0.0:
        return math.nan
    return float((v[ok] * w[ok]).sum() / total)


def compute_markouts(
    fill_ts_ns: ArrayLike,
    fill_price: ArrayLike,
    fill_qty: ArrayLike,
    fill_side: ArrayLike,
    mid_ts_ns: ArrayLike,
    mid: ArrayLike,
    horizons_ns: Sequence[int] = DEFAULT_HORIZONS_NS,
) -> MarkoutTable:
    """Markouts of fills against a mid series (batch).

    Args:
        fill_ts_ns: Fill times.
        fill_price: Fill prices.
        fill_qty: Fill sizes.
        fill_side: +1 bought, -1 sold.
        mid_ts_ns: Mid sample times, non-decreasing.
        mid: Mid prices at those times.
        horizons_ns: Horizons in nanoseconds.

    Returns:
        The markout table. A horizon ``t + h`` later than the last mid sample gives NaN.
    """
    t = np.asarray(fill_ts_ns, dtype=np.int64)
    p = np.asarray(fill_price, dtype=np.float64)
    q = np.asarray(fill_qty, dtype=np.float64)
    s = np.asarray(fill_side, dtype=np.float64)
    mt = np.asarray(mid_ts_ns, dtype=np.int64)
    m = np.asarray(mid, dtype=np.float64)
    h = np.asarray(horizons_ns, dtype=np.int64)
    if np.any(np.diff(mt) < 0):
        raise ValueError("mid samples must be in time order")
    if not np.all(np.isin(s, (-1.0, 1.0))):
        raise ValueError("fill side must be +1 (bought) or -1 (sold)")
    last = mt[-1] if mt.size else np.iinfo(np.int64).min

    def asof(times: NDArray[np.int64], *, strict: bool) -> NDArray[np.float64]:
        idx = np.searchsorted(mt, times, side="left" if strict else "right") - 1
        out = np.where(idx >= 0, m[np.clip(idx, 0, None)] if m.size else np.nan, np.nan)
        return np.asarray(out, dtype=np.float64)

    mid_t = asof(t, strict=True)
    target = t[:, None] + h[None, :]
    mid_h = asof(target.ravel(), strict=False).reshape(target.shape)
    # a horizon past the last sample is unknown: a later sample could still land at or before it
    resolved = target < last
    mid_h = np.where(resolved, mid_h, np.nan)
    eff = s * (mid_t - p)
    markout = s[:, None] * (mid_h - p[:, None])
    adverse = s[:, None] * (mid_t[:, None] - mid_h)
    return MarkoutTable(h, q, mid_t, resolved, mid_h, eff, markout, adverse)


class MarkoutTracker:
    """Streaming markouts: feed mids and fills in time order, collect markouts as horizons pass.

    A horizon ``t + h`` resolves when a mid sample (or :meth:`advance`) arrives with a timestamp
    strictly later than ``t + h``, because until then another sample at exactly ``t + h`` could still
    arrive. The numbers equal :func:`compute_markouts` on the same inputs.

    Args:
        horizons_ns: Horizons in nanoseconds.
    """

    def __init__(self, horizons_ns: Sequence[int] = DEFAULT_HORIZONS_NS) -> None:
        if not horizons_ns or min(horizons_ns) < 0:
            raise ValueError(f"need at least one non-negative horizon, got {horizons_ns}")
        self.horizons_ns = tuple(int(h) for h in horizons_ns)
        self._mid = math.nan
        self._mid_ts: int | None = None
        self._mid_before = math.nan  # last mid stamped strictly before ``_mid_ts``
        self._seq = 0
        # (deadline, seq, fill, mid_at_fill, horizon)
        self._pending: list[tuple[int, int, Fill, float, int]] = []

    @property
    def pending(self) -> int:
        """Number of (fill, horizon) pairs still waiting for their horizon."""
        return len(self._pending)

    def on_fill(self, fill: Fill) -> None:
        """Register a fill; its ``mid_t`` is the mid prevailing before it."""
        if fill.side not in (-1, 1):
            raise ValueError(f"fill side must be +1 or -1, got {fill.side}")
        # a mid sample stamped exactly at the fill time is not "before" the fill
        mid_t = self._mid if self._mid_ts is not None and self._mid_ts < fill.ts_ns else self._mid_before
        for h in self.horizons_ns:
            heapq.heappush(self._pending, (fill.ts_ns + h, self._seq, fill, mid_t, h))
            self._seq += 1

    def on_mid(self, ts_ns: int, mid: float) -> list[Markout]:
        """Record a mid sample; return the markouts whose horizon ended strictly before ``ts_ns``."""
        if self._mid_ts is not None and ts_ns < self._mid_ts:
            raise ValueError(f"mid samples must be in time order: {ts_ns} < {self._mid_ts}")
        done = self.advance(ts_ns)
        if self._mid_ts is None or ts_ns > self._mid_ts:
            self._mid_before = self._mid
        self._mid, self._mid_ts = mid, ts_ns
        return done

    def advance(self, now_ns: int) -> list[Markout]:
        """Resolve horizons that ended strictly before ``now_ns`` with the current mid."""
        out: list[Markout] = []
        while self._pending and self._pending[0][0] < now_ns:
            _, _, fill, mid_t, h = heapq.heappop(self._pending)
            mid_h = self._mid
            s = fill.side
            out.append(
                Markout(
                    fill_id=fill.fill_id,
                    horizon_ns=h,
                    qty=fill.qty,
                    side=s,
                    mid_at_fill=mid_t,
                    mid_at_horizon=mid_h,
                    effective_half_spread=s * (mid_t - fill.price),
                    markout=s * (mid_h - fill.price),
                    adverse_selection=s * (mid_t - mid_h),
                    ts_ns=fill.ts_ns,
                )
            )
        return out
