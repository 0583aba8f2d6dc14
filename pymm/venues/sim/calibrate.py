"""Calibration of the market-flow generator (``native/src/venue/flow.rs``) from a Binance capture,
and the statistics the resemblance test compares (method: ``docs/venue/flow-calibration.md``).

Both sides are measured the same way, by :class:`L2Observer`: a book of levels updated every
~100 ms (a recorded ``depth@100ms`` diff, or the simulated book's difference between two snapshots
100 ms apart) plus the trade prints in between. From that it infers, per tick of distance behind the
own side's best price: limit arrivals (a level grew), cancellations (a level shrank by more than
what traded there), the depth profile, the spread, the update rate and the trade sizes.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FlowFit", "L2Observer", "fit", "observe_capture", "observe_simulation", "to_toml"]

WINDOW = 20
"""Levels (ticks behind the own best) the model covers."""

QUANTILES = 21
"""Size quantiles stored: probabilities 0, 0.05, ..., 1."""

BUY, SELL = 0, 1


@dataclass
class FlowFit:
    """What :meth:`L2Observer.fit` estimates, in base units and per second per side."""

    add_rate: list[float]
    inside_rate: float
    cancel_rate: list[float]
    market_rate: float
    add_size: list[float]
    market_size: list[float]
    initial_depth: list[float]


@dataclass
class L2Observer:
    """Accumulates the statistics of an L2 book observed at ~100 ms intervals (module docs).

    Prices are integer ticks, quantities floats in base units.
    """

    window: int = WINDOW
    books: tuple[dict[int, float], dict[int, float]] = field(default_factory=lambda: ({}, {}))
    start: float | None = None
    end: float = 0.0
    updates: int = 0
    update_levels: int = 0
    add_events: np.ndarray = field(default_factory=lambda: np.zeros(WINDOW))
    add_volume: np.ndarray = field(default_factory=lambda: np.zeros(WINDOW))
    cancel_volume: np.ndarray = field(default_factory=lambda: np.zeros(WINDOW))
    depth_sum: np.ndarray = field(default_factory=lambda: np.zeros(WINDOW))
    inside_adds: int = 0
    wide_updates: int = 0
    add_sizes: list[float] = field(default_factory=list)
    spreads: list[int] = field(default_factory=list)
    trade_sizes: list[float] = field(default_factory=list)
    market_sizes: list[float] = field(default_factory=list)

    def seed(self, bids: list[tuple[int, float]], asks: list[tuple[int, float]]) -> None:
        """Sets the book (a snapshot)."""
        self.books = ({p: q for p, q in bids if q > 0}, {p: q for p, q in asks if q > 0})

    def best(self) -> tuple[int | None, int | None]:
        """Best bid and ask ticks."""
        b, a = self.books
        return (max(b) if b else None, min(a) if a else None)

    def observe(
        self,
        t: float,
        changes: list[tuple[int, int, float]],
        trades: list[tuple[int, float, int]],
        markets: list[float],
    ) -> None:
        """One ~100 ms step at time ``t`` (s): level ``changes`` ``(side, price, new qty)``, the
        trade prints since the previous step ``(price, qty, maker side)`` and the aggressor orders'
        sizes ``markets``."""
        if self.start is None:
            self.start = t
        self.end = t
        bid, ask = self.best()
        traded: dict[tuple[int, int], float] = defaultdict(float)
        for px, q, maker in trades:
            traded[(maker, px)] += q
            self.trade_sizes.append(q)
        self.market_sizes.extend(markets)
        self.updates += 1
        if bid is not None and ask is not None and ask - bid > 1:
            self.wide_updates += 1
        applied: list[tuple[int, int, float, float]] = []
        for side, px, q in changes:
            book = self.books[side]
            old = book.get(px, 0.0)
            if q > 0:
                book[px] = q
            else:
                book.pop(px, None)
            if q != old:
                applied.append((side, px, old, q))
        # Arrivals are placed against the best after the update (an order that formed a new best
        # joined the touch); cancels against the best before it (where the cancelled order sat).
        post = self.best()
        for side, px, old, q in applied:
            pre_best = bid if side == BUY else ask
            post_best = post[side]
            if pre_best is None or post_best is None:
                continue
            delta = q - old
            if delta > 0:
                d = (post_best - px) if side == BUY else (px - post_best)
                dp = (pre_best - px) if side == BUY else (px - pre_best)
                if dp < 0:
                    self.inside_adds += 1
                if 0 <= d < self.window:
                    self.update_levels += 1
                    self.add_events[d] += 1
                    self.add_volume[d] += delta
                    self.add_sizes.append(delta)
            else:
                d = (pre_best - px) if side == BUY else (px - pre_best)
                if 0 <= d < self.window:
                    self.update_levels += 1
                    tr = traded.pop((side, px), 0.0)
                    self.cancel_volume[d] += max(0.0, -delta - tr)
        bid, ask = self.best()
        if bid is None or ask is None:
            return
        self.spreads.append(ask - bid)
        b, a = self.books
        for d in range(self.window):
            self.depth_sum[d] += b.get(bid - d, 0.0) + a.get(ask + d, 0.0)

    @property
    def duration(self) -> float:
        """Seconds observed."""
        return max(self.end - (self.start or 0.0), 1e-9)

    def depth_profile(self) -> np.ndarray:
        """Mean resting quantity per side at distance ``d``."""
        return self.depth_sum / max(len(self.spreads), 1) / 2.0

    def summary(self) -> dict[str, Any]:
        """The resemblance statistics."""
        spreads = np.asarray(self.spreads)
        trades = np.asarray(self.trade_sizes)
        add_vol = float(self.add_volume.sum())
        return {
            "seconds": self.duration,
            "spread_1tick": float(np.mean(spreads == 1)) if spreads.size else math.nan,
            "spread_mean": float(spreads.mean()) if spreads.size else math.nan,
            "updates_per_s": self.update_levels / self.duration,
            "depth": self.depth_profile().tolist(),
            "trade_q": np.quantile(trades, [0.25, 0.5, 0.75, 0.9]).tolist() if trades.size else [],
            "trades_per_s": trades.size / self.duration,
            "market_q": np.quantile(np.asarray(self.market_sizes), [0.5, 0.9]).tolist()
            if self.market_sizes
            else [],
            "cancel_to_add": float(self.cancel_volume.sum()) / add_vol if add_vol else math.nan,
        }

    def fit(self) -> FlowFit:
        """The generator's parameters (see the calibration doc for the formulas)."""
        t = self.duration
        depth = self.depth_profile()
        cancel = np.where(depth > 0, self.cancel_volume / 2.0 / t / np.maximum(depth, 1e-12), 0.0)
        # Levels never seen resting borrow the nearest measured hazard.
        for d in range(1, self.window):
            if depth[d] <= 0:
                cancel[d] = cancel[d - 1]
        wide_s = self.wide_updates * (t / max(self.updates, 1))
        qs = np.linspace(0, 1, QUANTILES)
        add_q = np.quantile(np.asarray(self.add_sizes), qs)
        mkt_q = np.quantile(np.asarray(self.market_sizes), qs)
        return FlowFit(
            add_rate=(self.add_events / 2.0 / t).tolist(),
            inside_rate=self.inside_adds / 2.0 / wide_s if wide_s > 0 else 0.0,
            cancel_rate=cancel.tolist(),
            market_rate=len(self.market_sizes) / 2.0 / t,
            add_size=np.maximum(add_q, add_q[add_q > 0].min()).tolist(),
            market_size=np.maximum(mkt_q, mkt_q[mkt_q > 0].min()).tolist(),
            initial_depth=depth.tolist(),
        )


def _ticks(text: str, tick: Decimal) -> int:
    return int(Decimal(text) / tick)


def _open(path: Path) -> Any:
    return gzip.open(path, "rt") if path.suffix == ".gz" else path.open()


def observe_capture(paths: list[Path], tick: str, symbol: str | None = None) -> L2Observer:
    """Replays hftbacktest-style Binance spot captures (``<ns> <json>`` lines; files of one session
    in order) into an :class:`L2Observer`: snapshot + bridged ``depth@100ms`` diffs, ``@trade``
    prints grouped into aggressor orders by (trade time, side)."""
    tk = Decimal(tick)
    obs = L2Observer()
    synced = False
    last_u: int | None = None
    pending: list[dict[str, Any]] = []
    trades: list[tuple[int, float, int]] = []
    markets: list[float] = []
    group: tuple[int, bool] | None = None

    def apply(d: dict[str, Any]) -> None:
        changes = [(BUY, _ticks(p, tk), float(q)) for p, q in d["b"]]
        changes += [(SELL, _ticks(p, tk), float(q)) for p, q in d["a"]]
        obs.observe(d["E"] / 1000.0, changes, list(trades), list(markets))
        trades.clear()
        markets.clear()

    for path in paths:
        with _open(path) as f:
            for line in f:
                _, _, body = line.partition(" ")
                msg = json.loads(body)
                data = msg.get("data")
                if data is None and "lastUpdateId" in msg:
                    if synced:
                        continue
                    lid = msg["lastUpdateId"]
                    obs.seed(
                        [(_ticks(p, tk), float(q)) for p, q in msg["bids"]],
                        [(_ticks(p, tk), float(q)) for p, q in msg["asks"]],
                    )
                    synced = True
                    for d in pending:
                        if d["u"] > lid:
                            apply(d)
                            last_u = d["u"]
                    pending.clear()
                    continue
                if data is None or (symbol and data.get("s") != symbol):
                    continue
                kind = data.get("e")
                if kind == "depthUpdate":
                    if not synced:
                        pending.append(data)
                        continue
                    if last_u is not None and data["U"] != last_u + 1:
                        raise ValueError(f"{path}: sequence gap at U={data['U']}")
                    apply(data)
                    last_u = data["u"]
                elif kind == "trade" and synced:
                    q = float(data["q"])
                    maker = BUY if data["m"] else SELL
                    trades.append((_ticks(data["p"], tk), q, maker))
                    key = (data["T"], data["m"])
                    if key == group and markets:
                        markets[-1] += q
                    else:
                        markets.append(q)
                        group = key
    return obs


def observe_simulation(
    flow_toml: str,
    instrument_toml: Path,
    symbol: str,
    seconds: float,
    seed: int,
    step_s: float = 0.1,
) -> tuple[L2Observer, dict[str, int]]:
    """Runs the Rust generator on a fresh :class:`pymm._native.SimExchange` for ``seconds``
    simulated seconds and observes its book every ``step_s`` like the recording's 100 ms diffs.
    Returns the observer and the generator's own counters."""
    from pymm._native import InstrumentMaster, SimExchange

    ex = SimExchange(InstrumentMaster.from_toml(instrument_toml))
    t0 = 1_700_000_000_000_000_000
    ex.attach_flow(flow_toml, seed, t0)
    tick = Decimal(ex.exchange_info({"symbol": symbol}, t0)[1]["symbols"][0]["filters"][0]["tickSize"])
    obs = L2Observer()

    def snapshot() -> tuple[dict[int, float], dict[int, float]]:
        _, body = ex.depth({"symbol": symbol, "limit": "5000"})
        return (
            {_ticks(p, tick): float(q) for p, q in body["bids"]},
            {_ticks(p, tick): float(q) for p, q in body["asks"]},
        )

    ex.drain_events()
    prev = snapshot()
    obs.seed(list(prev[0].items()), list(prev[1].items()))
    steps = int(seconds / step_s)
    stream = f"{symbol.lower()}@trade"
    for i in range(1, steps + 1):
        now = t0 + int(i * step_s * 1e9)
        ex.advance(now)
        trades: list[tuple[int, float, int]] = []
        markets: list[float] = []
        group: tuple[int, int] | None = None
        for audience, payload in ex.drain_events():
            if audience != stream:
                continue
            q = float(payload["q"])
            trades.append((_ticks(payload["p"], tick), q, BUY if payload["m"] else SELL))
            key = (payload["T"], payload["m"])
            if key == group and markets:
                markets[-1] += q
            else:
                markets.append(q)
                group = key
        cur = snapshot()
        changes: list[tuple[int, int, float]] = []
        for side in (BUY, SELL):
            old, new = prev[side], cur[side]
            for p in old.keys() | new.keys():
                if old.get(p, 0.0) != new.get(p, 0.0):
                    changes.append((side, p, new.get(p, 0.0)))
        obs.observe(now / 1e9, changes, trades, markets)
        prev = cur
    return obs, ex.flow_stats(symbol)


def fit(obs: L2Observer) -> FlowFit:
    """Shorthand for :meth:`L2Observer.fit`."""
    return obs.fit()


def _fmt(v: float) -> str:
    return f"{v:.6g}" if v else "0.0"


def _arr(vs: list[float]) -> str:
    return "[" + ", ".join(_fmt(v) if "." in _fmt(v) or "e" in _fmt(v) else _fmt(v) + ".0" for v in vs) + "]"


def to_toml(
    f: FlowFit, symbol: str, reference_price: str, source: str, size_scale: float = 1.0, header: str = ""
) -> str:
    """The parameters file (``config/flow/<SYMBOL>.toml``); sizes multiplied by ``size_scale``."""
    lines = [header.rstrip("\n")] if header else []
    lines += [
        f'symbol = "{symbol}"',
        f"source = {json.dumps(source)}",
        f'reference_price = "{reference_price}"',
        "# limit arrivals per second per side, by ticks behind the own-side best (0 = at the touch)",
        f"add_rate = {_arr(f.add_rate)}",
        "# arrivals per second per side one tick inside the spread, while it is wider than one tick",
        f"inside_rate = {_fmt(f.inside_rate)}",
        "# cancellations per resting order per second, by distance (last entry also farther out)",
        f"cancel_rate = {_arr(f.cancel_rate)}",
        "# MARKET orders per second per side",
        f"market_rate = {_fmt(f.market_rate)}",
        "# sizes in base units: quantiles at probabilities 0, 0.05, ..., 1",
        f"add_size = {_arr([v * size_scale for v in f.add_size])}",
        f"market_size = {_arr([v * size_scale for v in f.market_size])}",
        "# mean resting quantity per side by distance (seeds the book)",
        f"initial_depth = {_arr([v * size_scale for v in f.initial_depth])}",
    ]
    return "\n".join(lines) + "\n"
