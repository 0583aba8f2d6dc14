"""Quote quality: the eight indicators of the product plan (S6) and a 0-100 quality score.

Inputs cover one window ``[t0, t1)``: the market's top of book and ours (step series: each sample holds
until the next), the fair value the pricing layer published (reservation price, skew included), an
optional micro-price series, and our order events. Prices and sizes are floats here: the monitor is
off the hot path and reads the engine's fixed-point values through ``Decimal``/``float`` at the edge.

The eight indicators (issue #8 groups ten numbers into eight):

1. **micro-price deviation** - time-weighted mean of ``|c - micro| / micro`` while we quote both sides,
   where ``c = (our bid + our ask) / 2``; ``micro`` is the given micro-price series or, without one,
   the size-weighted mid ``P^b·(1 - I) + P^a·I`` with ``I = Q^b / (Q^b + Q^a)`` (Stoikov 2018, §3.1).
2. **fair-value deviation** - time-weighted mean of ``|c - fair| / fair``: how faithfully the quotes
   follow the model (staleness, tick rounding, lost updates).
3. **message ratios** - cancel-to-fill ``cancels / fills`` and MiFID II RTS 9 order-to-trade
   ``OTR = orders / transactions - 1`` (every submit, modify and cancel is an order message; every fill
   is a transaction), by number and by volume; plus the venue's ratios and limits (Binance
   "Trading Quantitative Rules": UFR, ICR, IFER, DR; see :class:`VenueRatioLimits`).
4. **fill ratio** - filled qty / submitted qty (and orders with a fill / orders submitted).
5. **maker ratio** - maker qty / (maker + taker qty).
6. **quote uptime** - share of the window with two-sided quotes whose spread is at most
   ``max_spread`` (fraction of the market mid) and whose size on each side is at least
   ``min_depth_notional``.
7. **time at touch** - share of the window our bid is at (or better than) the best bid, averaged with
   the same share for our ask.
8. **quoted spread and depth** - time-weighted mean of our ``(ask - bid) / market mid`` while two-sided,
   and of our notional at each side.

Score. Each indicator ``x`` maps to a sub-score in [0, 1] by a linear ramp between a *limit* (score 0)
and a *target* (score 1): ``s = clip((x - limit) / (target - limit), 0, 1)``; the same formula serves
"lower is better" (target < limit) and "higher is better" (target > limit). Indicator 3 takes the lower
of the cancel-to-fill ramp and the ramp of the worst venue-limit utilisation (ratio / limit, target
0.5, limit 1.0); indicator 8 averages the spread ramp and the depth ramp of the thinner side. Then

    score = 100 · Σ_i w_i·s_i / Σ_i w_i      (sum over indicators defined in the window)

with weights (15, 10, 15, 10, 15, 15, 10, 10) in the order above. An undefined indicator (no fills, no
two-sided time, no fair value) drops out of both sums. Targets, limits and weights live in
:class:`QualityConfig`; the defaults are documented in ``docs/monitoring/README.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "INDICATORS",
    "ORDER_EVENT_DTYPE",
    "MessageRatios",
    "OrderEventKind",
    "QualityConfig",
    "QualityReport",
    "Ramp",
    "StepSeries",
    "TimeInForce",
    "TopSeries",
    "VenueRatioLimits",
    "VenueRatios",
    "compute_quality",
    "message_ratios",
    "order_events",
    "ramp",
    "venue_ratios",
]

NS_PER_S = 1_000_000_000

INDICATORS: tuple[str, ...] = (
    "micro_price_deviation",
    "fair_value_deviation",
    "message_ratios",
    "fill_ratio",
    "maker_ratio",
    "quote_uptime",
    "time_at_touch",
    "quoted_spread_depth",
)


class OrderEventKind(IntEnum):
    """Kinds of our order events, as the monitor sees them."""

    SUBMIT = 0
    MODIFY = 1
    CANCEL = 2
    FILL = 3
    REJECT = 4
    EXPIRE = 5


class TimeInForce(IntEnum):
    """Time in force of a submitted order (GTX is Binance's post-only GTC)."""

    GTC = 0
    GTX = 1
    GTD = 2
    IOC = 3
    FOK = 4


#: Our order events as a numpy structured array. ``qty``: submitted / new / cancelled-remaining / filled
#: quantity by kind; ``price``: order or fill price; ``maker``: fills only; ``tif``: submits only.
ORDER_EVENT_DTYPE = np.dtype(
    [
        ("ts_ns", "<i8"),
        ("kind", "u1"),
        ("order_id", "<u8"),
        ("qty", "<f8"),
        ("price", "<f8"),
        ("maker", "?"),
        ("tif", "u1"),
    ]
)


def order_events(
    rows: list[tuple[int, OrderEventKind, int, float, float, bool, TimeInForce]],
) -> NDArray[np.void]:
    """Build an :data:`ORDER_EVENT_DTYPE` array from ``(ts, kind, order_id, qty, price, maker, tif)``."""
    return np.array(
        [(t, int(k), o, q, p, m, int(f)) for t, k, o, q, p, m, f in rows], dtype=ORDER_EVENT_DTYPE
    )


@dataclass(frozen=True)
class StepSeries:
    """A value that holds from each timestamp until the next (e.g. fair value, micro-price)."""

    ts_ns: NDArray[np.int64]
    value: NDArray[np.float64]

    @classmethod
    def of(cls, ts_ns: ArrayLike, value: ArrayLike) -> StepSeries:
        """Build from array-likes."""
        return cls(np.asarray(ts_ns, dtype=np.int64), np.asarray(value, dtype=np.float64))


@dataclass(frozen=True)
class TopSeries:
    """Top of book over time (market or ours). A side is absent where its price is NaN or size <= 0."""

    ts_ns: NDArray[np.int64]
    bid_px: NDArray[np.float64]
    bid_qty: NDArray[np.float64]
    ask_px: NDArray[np.float64]
    ask_qty: NDArray[np.float64]

    @classmethod
    def of(
        cls, ts_ns: ArrayLike, bid_px: ArrayLike, bid_qty: ArrayLike, ask_px: ArrayLike, ask_qty: ArrayLike
    ) -> TopSeries:
        """Build from array-likes."""
        f = np.float64
        return cls(
            np.asarray(ts_ns, dtype=np.int64),
            np.asarray(bid_px, dtype=f),
            np.asarray(bid_qty, dtype=f),
            np.asarray(ask_px, dtype=f),
            np.asarray(ask_qty, dtype=f),
        )


@dataclass(frozen=True)
class Ramp:
    """Linear sub-score: 0 at ``limit``, 1 at ``target`` (either order), clipped."""

    target: float
    limit: float

    def __call__(self, x: float) -> float:
        """Sub-score of ``x``; NaN stays NaN."""
        return ramp(x, self.target, self.limit)


def ramp(x: float, target: float, limit: float) -> float:
    """``clip((x - limit) / (target - limit), 0, 1)``; NaN for NaN input."""
    if target == limit:
        raise ValueError("target and limit must differ")
    if math.isnan(x):
        return math.nan
    return min(1.0, max(0.0, (x - limit) / (target - limit)))


@dataclass(frozen=True)
class VenueRatioLimits:
    """The venue's limits on our message ratios (defaults: Binance's older published API rules).

    A ratio breaches when it reaches its limit *and* its denominator reaches the minimum count. The
    2024 rules make thresholds VIP-dependent: set these from the current announcement.
    """

    max_unfilled_ratio: float = 0.99
    unfilled_min_orders: int = 10_000
    max_invalid_cancel_ratio: float = 0.99
    invalid_cancel_min_orders: int = 5_000
    invalid_cancel_window_ns: int = 5 * NS_PER_S
    max_ioc_expire_ratio: float = 0.99
    ioc_expire_min_orders: int = 5_000
    max_dust_ratio: float = 0.9
    dust_min_orders: int = 10_000
    dust_notional: float = 50.0
    max_order_to_trade: float | None = None


@dataclass(frozen=True)
class MessageRatios:
    """Counts and ratios of our order messages in a window."""

    submits: int
    modifies: int
    cancels: int
    fills: int
    orders_filled: int
    submitted_qty: float
    message_qty: float
    filled_qty: float
    maker_qty: float
    taker_qty: float

    @property
    def cancel_to_fill(self) -> float:
        """Cancels per fill (inf with cancels and no fills, NaN with neither)."""
        return _ratio(self.cancels, self.fills)

    @property
    def order_to_trade_number(self) -> float:
        """RTS 9 ``OTR = (submits + modifies + cancels) / fills - 1``."""
        return _ratio(self.submits + self.modifies + self.cancels, self.fills) - 1.0

    @property
    def order_to_trade_volume(self) -> float:
        """RTS 9 volume OTR: (submitted + modified + cancelled qty) / filled qty - 1."""
        return _ratio(self.message_qty, self.filled_qty) - 1.0

    @property
    def fill_ratio(self) -> float:
        """Filled qty / submitted qty."""
        return _ratio(self.filled_qty, self.submitted_qty)

    @property
    def fill_ratio_count(self) -> float:
        """Orders with at least one fill / orders submitted."""
        return _ratio(self.orders_filled, self.submits)

    @property
    def maker_ratio(self) -> float:
        """Maker qty / all filled qty."""
        return _ratio(self.maker_qty, self.maker_qty + self.taker_qty)


@dataclass(frozen=True)
class VenueRatios:
    """Binance-style quantitative-rule ratios over the orders placed in a window.

    Attributes:
        unfilled: UFR = 1 - executed qty / placed qty (orders placed in the window).
        invalid_cancel: ICR = orders cancelled within the window after placement / GTC+GTX+GTD orders.
        ioc_expire: IFER = expired IOC/FOK orders / IOC+FOK orders.
        dust: DR = orders below the dust notional / all orders.
        counts: Denominator of each ratio, by name.
        utilisation: Each ratio / its limit (0 when the minimum count is not reached).
        breaches: Names of the rules breached (ratio >= limit and count >= minimum).
    """

    unfilled: float
    invalid_cancel: float
    ioc_expire: float
    dust: float
    counts: dict[str, int]
    utilisation: dict[str, float]
    breaches: tuple[str, ...]


def _ratio(num: float, den: float) -> float:
    if den == 0:
        return math.inf if num > 0 else math.nan
    return num / den


def message_ratios(events: NDArray[np.void]) -> MessageRatios:
    """Counts, volumes and ratios of our order messages (issue #8 indicators 3-5)."""
    kind = events["kind"]
    qty = events["qty"]
    sub = kind == OrderEventKind.SUBMIT
    mod = kind == OrderEventKind.MODIFY
    can = kind == OrderEventKind.CANCEL
    fil = kind == OrderEventKind.FILL
    maker = fil & events["maker"]
    return MessageRatios(
        submits=int(sub.sum()),
        modifies=int(mod.sum()),
        cancels=int(can.sum()),
        fills=int(fil.sum()),
        orders_filled=int(np.unique(events["order_id"][fil]).size),
        submitted_qty=float(qty[sub].sum()),
        message_qty=float(qty[sub | mod | can].sum()),
        filled_qty=float(qty[fil].sum()),
        maker_qty=float(qty[maker].sum()),
        taker_qty=float(qty[fil & ~events["maker"]].sum()),
    )


def venue_ratios(events: NDArray[np.void], limits: VenueRatioLimits | None = None) -> VenueRatios:
    """The venue's ratios over the orders *placed* in ``events`` (Binance Futures quantitative rules)."""
    lim = limits or VenueRatioLimits()
    kind = events["kind"]
    sub = events[kind == OrderEventKind.SUBMIT]
    placed_at = dict(zip(sub["order_id"].tolist(), sub["ts_ns"].tolist(), strict=True))
    tif = dict(zip(sub["order_id"].tolist(), sub["tif"].tolist(), strict=True))
    resting = {TimeInForce.GTC, TimeInForce.GTX, TimeInForce.GTD}
    immediate = {TimeInForce.IOC, TimeInForce.FOK}

    fills = events[kind == OrderEventKind.FILL]
    executed = sum(
        q for o, q in zip(fills["order_id"].tolist(), fills["qty"].tolist(), strict=True) if o in placed_at
    )
    placed_qty = float(sub["qty"].sum())
    unfilled = 1.0 - _ratio(executed, placed_qty) if placed_qty > 0 else math.nan

    cancels = events[kind == OrderEventKind.CANCEL]
    quick = {
        o
        for o, t in zip(cancels["order_id"].tolist(), cancels["ts_ns"].tolist(), strict=True)
        if o in placed_at and tif[o] in resting and t - placed_at[o] <= lim.invalid_cancel_window_ns
    }
    n_resting = sum(1 for v in tif.values() if v in resting)
    invalid_cancel = _ratio(len(quick), n_resting)

    expired = events[kind == OrderEventKind.EXPIRE]
    n_immediate = sum(1 for v in tif.values() if v in immediate)
    n_expired = len({o for o in expired["order_id"].tolist() if tif.get(o) in immediate})
    ioc_expire = _ratio(n_expired, n_immediate)

    n_orders = len(placed_at)
    n_dust = int(np.count_nonzero(sub["qty"] * sub["price"] < lim.dust_notional))
    dust = _ratio(n_dust, n_orders)

    rules = {
        "unfilled": (unfilled, lim.max_unfilled_ratio, n_orders, lim.unfilled_min_orders),
        "invalid_cancel": (
            invalid_cancel,
            lim.max_invalid_cancel_ratio,
            n_resting,
            lim.invalid_cancel_min_orders,
        ),
        "ioc_expire": (ioc_expire, lim.max_ioc_expire_ratio, n_immediate, lim.ioc_expire_min_orders),
        "dust": (dust, lim.max_dust_ratio, n_orders, lim.dust_min_orders),
    }
    utilisation = {
        name: (value / limit if count >= min_count and not math.isnan(value) else 0.0)
        for name, (value, limit, count, min_count) in rules.items()
    }
    breaches = tuple(name for name, u in utilisation.items() if u >= 1.0)
    return VenueRatios(
        unfilled=unfilled,
        invalid_cancel=invalid_cancel,
        ioc_expire=ioc_expire,
        dust=dust,
        counts={name: r[2] for name, r in rules.items()},
        utilisation=utilisation,
        breaches=breaches,
    )


def _default_weights() -> dict[str, float]:
    return dict(zip(INDICATORS, (15.0, 10.0, 15.0, 10.0, 15.0, 15.0, 10.0, 10.0), strict=True))


@dataclass(frozen=True)
class QualityConfig:
    """Obligations, ramps and weights of the quality score (see the module docstring).

    Deviations and spreads are fractions of price (1e-4 = 1 bp); depth is quote-currency notional.
    """

    max_spread: float = 10e-4
    min_depth_notional: float = 100.0
    micro_price_deviation: Ramp = Ramp(target=1e-4, limit=10e-4)
    fair_value_deviation: Ramp = Ramp(target=0.5e-4, limit=5e-4)
    cancel_to_fill: Ramp = Ramp(target=20.0, limit=200.0)
    venue_utilisation: Ramp = Ramp(target=0.5, limit=1.0)
    fill_ratio: Ramp = Ramp(target=0.02, limit=0.001)
    maker_ratio: Ramp = Ramp(target=0.95, limit=0.5)
    quote_uptime: Ramp = Ramp(target=0.95, limit=0.80)
    time_at_touch: Ramp = Ramp(target=0.5, limit=0.0)
    weights: dict[str, float] = field(default_factory=_default_weights)
    venue_limits: VenueRatioLimits = field(default_factory=VenueRatioLimits)

    def spread_ramp(self) -> Ramp:
        """Quoted spread: full score at half the obligation, zero at the obligation."""
        return Ramp(target=0.5 * self.max_spread, limit=self.max_spread)

    def depth_ramp(self) -> Ramp:
        """Depth of the thinner side: full score at the obligation, zero at nothing."""
        return Ramp(target=self.min_depth_notional, limit=0.0)


@dataclass(frozen=True)
class QualityReport:
    """The eight indicators, their sub-scores and the score for one window.

    Attributes:
        window_ns: Length of the window.
        micro_price_deviation: Indicator 1 (fraction of price).
        fair_value_deviation: Indicator 2 (fraction of price).
        ratios: Indicator 3-5 inputs and ratios.
        venue: Venue ratios, utilisation and breaches (indicator 3).
        quote_uptime: Indicator 6 (fraction of the window).
        time_at_touch_bid: Share of the window our bid is at the touch.
        time_at_touch_ask: Share of the window our ask is at the touch.
        quoted_spread: Indicator 8, mean quoted spread (fraction of market mid) while two-sided.
        quoted_depth_bid: Mean bid notional while quoting the bid.
        quoted_depth_ask: Mean ask notional while quoting the ask.
        subscores: Sub-score per indicator name (NaN when undefined).
        score: 0-100 quality score (NaN when no indicator is defined).
    """

    window_ns: int
    micro_price_deviation: float
    fair_value_deviation: float
    ratios: MessageRatios
    venue: VenueRatios
    quote_uptime: float
    time_at_touch_bid: float
    time_at_touch_ask: float
    quoted_spread: float
    quoted_depth_bid: float
    quoted_depth_ask: float
    subscores: dict[str, float]
    score: float

    @property
    def time_at_touch(self) -> float:
        """Indicator 7: the mean of the bid and ask shares."""
        return 0.5 * (self.time_at_touch_bid + self.time_at_touch_ask)


def _asof(ts: NDArray[np.int64], values: NDArray[np.float64], grid: NDArray[np.int64]) -> NDArray[np.float64]:
    idx = np.searchsorted(ts, grid, side="right") - 1
    if values.size == 0:
        return np.full(grid.shape, np.nan)
    return np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)


def _time_mean(x: NDArray[np.float64], w: NDArray[np.float64], mask: NDArray[np.bool_]) -> float:
    ok = mask & np.isfinite(x)
    total = float(w[ok].sum())
    return float((x[ok] * w[ok]).sum() / total) if total > 0 else math.nan


def compute_quality(
    t0_ns: int,
    t1_ns: int,
    market: TopSeries,
    ours: TopSeries,
    events: NDArray[np.void],
    *,
    fair_value: StepSeries | None = None,
    micro_price: StepSeries | None = None,
    config: QualityConfig | None = None,
) -> QualityReport:
    """The eight indicators and the quality score over ``[t0_ns, t1_ns)``.

    Args:
        t0_ns: Window start.
        t1_ns: Window end (exclusive), > ``t0_ns``.
        market: Market top of book; samples before ``t0_ns`` set the state at the start.
        ours: Our best quotes (NaN price or zero size where a side is not quoted).
        events: Our order events (:data:`ORDER_EVENT_DTYPE`); only those in the window count.
        fair_value: The pricing layer's published fair value.
        micro_price: Micro-price series; defaults to the size-weighted mid of ``market``.
        config: Obligations, ramps and weights.

    Returns:
        The report.
    """
    if t1_ns <= t0_ns:
        raise ValueError(f"empty window [{t0_ns}, {t1_ns})")
    cfg = config or QualityConfig()
    series_ts = [market.ts_ns, ours.ts_ns]
    if fair_value is not None:
        series_ts.append(fair_value.ts_ns)
    if micro_price is not None:
        series_ts.append(micro_price.ts_ns)
    all_ts = np.concatenate(series_ts)
    grid = np.unique(np.r_[t0_ns, all_ts[(all_ts > t0_ns) & (all_ts < t1_ns)]]).astype(np.int64)
    dur = np.diff(np.r_[grid, t1_ns]).astype(np.float64)

    def at(s: TopSeries) -> tuple[NDArray[np.float64], ...]:
        return tuple(_asof(s.ts_ns, a, grid) for a in (s.bid_px, s.bid_qty, s.ask_px, s.ask_qty))

    mb, mbq, ma, maq = at(market)
    ob, obq, oa, oaq = at(ours)
    with np.errstate(invalid="ignore", divide="ignore"):
        bid_live = np.isfinite(ob) & (obq > 0)
        ask_live = np.isfinite(oa) & (oaq > 0)
        two_sided = bid_live & ask_live
        centre = 0.5 * (ob + oa)
        mkt_mid = 0.5 * (mb + ma)
        if micro_price is not None:
            micro = _asof(micro_price.ts_ns, micro_price.value, grid)
        else:
            imbalance = mbq / (mbq + maq)
            micro = mb * (1.0 - imbalance) + ma * imbalance
        micro_dev = _time_mean(np.abs(centre - micro) / micro, dur, two_sided)
        if fair_value is not None:
            fair = _asof(fair_value.ts_ns, fair_value.value, grid)
            fair_dev = _time_mean(np.abs(centre - fair) / fair, dur, two_sided)
        else:
            fair_dev = math.nan
        spread = (oa - ob) / mkt_mid
        bid_notional = np.where(bid_live, ob * obq, 0.0)
        ask_notional = np.where(ask_live, oa * oaq, 0.0)
        up = (
            two_sided
            & (spread <= cfg.max_spread)
            & (bid_notional >= cfg.min_depth_notional)
            & (ask_notional >= cfg.min_depth_notional)
        )
        total = float(dur.sum())
        uptime = float(dur[up].sum()) / total
        touch_bid = float(dur[bid_live & (ob >= mb)].sum()) / total
        touch_ask = float(dur[ask_live & (oa <= ma)].sum()) / total
        quoted_spread = _time_mean(spread, dur, two_sided)
        depth_bid = _time_mean(bid_notional, dur, bid_live)
        depth_ask = _time_mean(ask_notional, dur, ask_live)

    in_window = events[(events["ts_ns"] >= t0_ns) & (events["ts_ns"] < t1_ns)]
    ratios = message_ratios(in_window)
    venue = venue_ratios(in_window, cfg.venue_limits)
    utilisation = max(venue.utilisation.values())
    if cfg.venue_limits.max_order_to_trade is not None and math.isfinite(ratios.order_to_trade_number):
        utilisation = max(utilisation, ratios.order_to_trade_number / cfg.venue_limits.max_order_to_trade)

    ctf = ratios.cancel_to_fill
    ctf_score = 0.0 if math.isinf(ctf) else cfg.cancel_to_fill(ctf)
    message_score = min(
        (s for s in (ctf_score, cfg.venue_utilisation(utilisation)) if not math.isnan(s)), default=math.nan
    )
    depth_thin = (
        min(depth_bid, depth_ask) if not (math.isnan(depth_bid) or math.isnan(depth_ask)) else math.nan
    )
    spread_depth_parts = [
        s for s in (cfg.spread_ramp()(quoted_spread), cfg.depth_ramp()(depth_thin)) if not math.isnan(s)
    ]
    subscores = {
        "micro_price_deviation": cfg.micro_price_deviation(micro_dev),
        "fair_value_deviation": cfg.fair_value_deviation(fair_dev),
        "message_ratios": message_score,
        "fill_ratio": cfg.fill_ratio(ratios.fill_ratio),
        "maker_ratio": cfg.maker_ratio(ratios.maker_ratio),
        "quote_uptime": cfg.quote_uptime(uptime),
        "time_at_touch": cfg.time_at_touch(0.5 * (touch_bid + touch_ask)),
        "quoted_spread_depth": sum(spread_depth_parts) / len(spread_depth_parts)
        if spread_depth_parts
        else math.nan,
    }
    defined = {k: v for k, v in subscores.items() if not math.isnan(v)}
    weight = sum(cfg.weights[k] for k in defined)
    score = 100.0 * sum(cfg.weights[k] * v for k, v in defined.items()) / weight if weight > 0 else math.nan
    return QualityReport(
        window_ns=t1_ns - t0_ns,
        micro_price_deviation=micro_dev,
        fair_value_deviation=fair_dev,
        ratios=ratios,
        venue=venue,
        quote_uptime=uptime,
        time_at_touch_bid=touch_bid,
        time_at_touch_ask=touch_ask,
        quoted_spread=quoted_spread,
        quoted_depth_bid=depth_bid,
        quoted_depth_ask=depth_ask,
        subscores=subscores,
        score=score,
    )
