"""Peer comparison of L2 book apply at the Python layer, on the recorded Binance USD-M BTCUSDT stream.

Runs the same synchronised diffs (REST snapshot + bridged ``depth@0ms`` diffs, futures ``pu`` rule)
through:

- ``pymm``: ``pymm._native.L2Book.feed(bytes)`` per message (native decode + sequence check + apply);
- ``nautilus_trader``: the Cython ``OrderBook`` (``L2_MBP``) with ``apply_deltas`` per message, the
  ``OrderBookDeltas`` built once up front by nautilus' own Binance parser (``apply``), and the same
  including that parser per message (msgspec decode + ``parse_to_order_book_deltas``: ``parse+apply``);
- ``hftbacktest``: ``ROIVectorMarketDepthBacktest`` and ``HashMapMarketDepthBacktest`` driven to the end
  of the data from an ``@njit`` loop (``elapse``), the events (``LOCAL_EVENT`` only, so the simulated
  exchange does not apply them a second time) built up front; the initial snapshot is loaded untimed.

Each book starts from the same state (snapshot + the diffs that precede the snapshot line), the timed
pass is the diffs after the snapshot line, and every book must end with pymm's best bid and ask (price
and size): otherwise this script exits non-zero. ``ns_per_update`` is the best pass's time divided by
the number of level updates (price levels in the timed diffs). Per-message p50/p99 come from an HDR
histogram of ``perf_counter_ns`` deltas around each message (one extra pass), where a per-message call
exists at the Python layer.

``python bench/peers/book_python.py [--json] [--passes N] [--limit LINES]``
"""

from __future__ import annotations

import argparse
import gc
import gzip
import importlib.metadata
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STREAM = "binance_hftbacktest_btc_2024-08-08/usdm_btcusdt_20240808.gz"
TICK = "0.1"
LOT = "0.001"
PEERS = ("nautilus_trader", "hftbacktest")


class BooksDisagreeError(AssertionError):
    """A peer's book ended in a different state from pymm's: its timing compares nothing."""


@dataclass
class Stream:
    """The recorded lines and the synchronised diffs every book applies."""

    lines: list[bytes]  # JSON part of each line (no local timestamp)
    local_ts: list[int]
    snapshot_line: int
    last_update_id: int
    setup_diffs: list[int]  # applied diffs before the snapshot line (bridging), untimed
    timed_diffs: list[int]  # applied diffs after the snapshot line, in file order
    parsed: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def level_updates(self) -> int:
        return sum(len(self.parsed[i]["b"]) + len(self.parsed[i]["a"]) for i in self.timed_diffs)


def data_dir() -> Path:
    return Path(os.environ.get("PYMM_DATA_DIR", REPO.parent / "shared" / "data"))


def load_stream(path: Path, limit: int | None = None) -> Stream:
    """Reads the recording and finds the diffs a futures-rule synchroniser applies (fails on a gap)."""
    lines: list[bytes] = []
    local_ts: list[int] = []
    with gzip.open(path, "rb") as f:
        for n, raw in enumerate(f):
            if limit is not None and n >= limit:
                break
            ts, _, body = raw.rstrip(b"\n").partition(b" ")
            local_ts.append(int(ts))
            lines.append(body)
    snapshot_line = -1
    parsed: dict[int, dict[str, Any]] = {}
    for i, body in enumerate(lines):
        msg = json.loads(body)
        if "stream" not in msg:
            if snapshot_line < 0:
                snapshot_line = i
                parsed[i] = msg
            continue
        if msg["data"].get("e") == "depthUpdate":
            parsed[i] = msg["data"]
    if snapshot_line < 0:
        raise ValueError(f"{path}: no REST snapshot line in the first {len(lines)} lines")
    last_id = int(parsed[snapshot_line]["lastUpdateId"])
    applied: list[int] = []
    prev_u: int | None = None
    for i in sorted(k for k in parsed if k != snapshot_line):
        d = parsed[i]
        if d["u"] < last_id:
            continue  # stale: older than the snapshot
        if prev_u is None:
            if not d["U"] <= last_id <= d["u"]:
                raise ValueError(f"line {i}: first diff does not bridge the snapshot {last_id}")
        elif d["pu"] != prev_u:
            raise ValueError(f"line {i}: sequence gap (pu {d['pu']} != previous u {prev_u})")
        prev_u = d["u"]
        applied.append(i)
    return Stream(
        lines=lines,
        local_ts=local_ts,
        snapshot_line=snapshot_line,
        last_update_id=last_id,
        setup_diffs=[i for i in applied if i < snapshot_line],
        timed_diffs=[i for i in applied if i > snapshot_line],
        parsed=parsed,
    )


@dataclass
class Top:
    """Best bid and ask as exact decimals (price, size); None for an empty side."""

    bid: tuple[Decimal, Decimal] | None
    ask: tuple[Decimal, Decimal] | None


def reference_top(stream: Stream) -> Top:
    """The expected final top of book, replayed with plain dicts (independent of every book here)."""
    sides: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
    snap = stream.parsed[stream.snapshot_line]
    for key, side in (("bids", "b"), ("asks", "a")):
        for px, qty in snap[key]:
            sides[side][Decimal(px)] = Decimal(qty)
    for i in stream.setup_diffs + stream.timed_diffs:
        for side in ("b", "a"):
            for px, qty in stream.parsed[i][side]:
                q = Decimal(qty)
                if q == 0:
                    sides[side].pop(Decimal(px), None)
                else:
                    sides[side][Decimal(px)] = q
    b, a = sides["b"], sides["a"]
    bid = (max(b), b[max(b)]) if b else None
    ask = (min(a), a[min(a)]) if a else None
    return Top(bid, ask)


def _norm(top: Top) -> Top:
    def n(x: tuple[Decimal, Decimal] | None) -> tuple[Decimal, Decimal] | None:
        return None if x is None else (x[0].normalize(), x[1].normalize())

    return Top(n(top.bid), n(top.ask))


def check_agrees(name: str, got: Top, want: Top) -> None:
    g, w = _norm(got), _norm(want)
    if (g.bid, g.ask) != (w.bid, w.ask):
        raise BooksDisagreeError(f"{name}: final top of book {g} != pymm's {w}")


def _percentiles(samples: list[int]) -> dict[str, int]:
    from hdrh.histogram import HdrHistogram

    h = HdrHistogram(1, 60_000_000_000, 3)
    for s in samples:
        h.record_value(max(1, s))
    return {"p50": h.get_value_at_percentile(50), "p99": h.get_value_at_percentile(99)}


def _best_of(passes: int, setup: Callable[[], Any], run: Callable[[Any], None]) -> int:
    """Best wall time (ns) of ``run(setup())`` over ``passes``; GC off inside the timed region."""
    best = sys.maxsize
    for _ in range(passes):
        state = setup()
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            run(state)
            best = min(best, time.perf_counter_ns() - t0)
        finally:
            gc.enable()
    return best


def _per_message(setup: Callable[[], Any], step: Callable[[Any, int], None], n: int) -> dict[str, int]:
    state = setup()
    clock = time.perf_counter_ns
    samples = [0] * n
    gc.collect()
    gc.disable()
    try:
        for k in range(n):
            t0 = clock()
            step(state, k)
            samples[k] = clock() - t0
    finally:
        gc.enable()
    return _percentiles(samples)


def _row(
    layer: str, what: str, best_ns: int, stream: Stream, per_msg: dict[str, int] | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "layer": layer,
        "what": what,
        "ns_per_update": round(best_ns / stream.level_updates, 2),
        "ns_per_message": round(best_ns / len(stream.timed_diffs), 1),
    }
    if per_msg is not None:
        row["per_message_ns"] = per_msg
    return row


# ---------------------------------------------------------------- pymm


def bench_pymm(stream: Stream, passes: int) -> tuple[dict[str, Any], Top]:
    from pymm._native import L2Book

    timed = [stream.lines[i] for i in stream.timed_diffs]

    def setup() -> Any:
        book = L2Book(TICK, LOT, "futures")
        for body in stream.lines[: stream.snapshot_line + 1]:
            book.feed(body)
        if book.stale:
            raise RuntimeError("pymm book still stale after the snapshot")
        return book

    def run(book: Any) -> None:
        feed = book.feed
        for body in timed:
            feed(body)

    best = _best_of(passes, setup, run)
    book = setup()
    run(book)
    counters = book.counters()
    want = len(stream.setup_diffs) + len(stream.timed_diffs)
    if counters["applied"] != want or book.stale:
        raise BooksDisagreeError(
            f"pymm applied {counters['applied']} diffs, the reference {want}: {counters}"
        )
    (bids, asks) = book.top(1)
    top = Top(
        (Decimal(bids[0][0]), Decimal(bids[0][1])) if bids else None,
        (Decimal(asks[0][0]), Decimal(asks[0][1])) if asks else None,
    )
    per_msg = _per_message(setup, lambda b, k: b.feed(timed[k]), len(timed))
    rows = {
        "pymm_feed": _row(
            "python", "L2Book.feed(bytes) per message: decode + sync + apply", best, stream, per_msg
        )
    }
    rows.update(_bench_pymm_levels(stream, passes, setup, top))
    return rows, top


def _bench_pymm_levels(stream: Stream, passes: int, setup: Callable[[], Any], want: Top) -> dict[str, Any]:
    """``L2Book.set_levels`` on levels converted to ticks/lots up front: one call per message, one in all."""
    import numpy as np

    tick, lot = Decimal(TICK), Decimal(LOT)
    msgs = []
    for i in stream.timed_diffs:
        d = stream.parsed[i]
        levels = [(True, px, qty) for px, qty in d["b"]] + [(False, px, qty) for px, qty in d["a"]]
        msgs.append(
            (
                np.array([b for b, _, _ in levels], dtype=np.bool_),
                np.array([int(Decimal(px) / tick) for _, px, _ in levels], dtype=np.int64),
                np.array([int(Decimal(q) / lot) for _, _, q in levels], dtype=np.int64),
            )
        )
    every = tuple(np.concatenate([m[k] for m in msgs]) for k in range(3))

    def run_msg(book: Any) -> None:
        set_levels = book.set_levels
        for sides, prices, qtys in msgs:
            set_levels(sides, prices, qtys)

    def run_all(book: Any) -> None:
        book.set_levels(*every)

    def top_of(book: Any) -> Top:
        (bids, asks) = book.top(1)
        return Top(
            (Decimal(bids[0][0]), Decimal(bids[0][1])) if bids else None,
            (Decimal(asks[0][0]), Decimal(asks[0][1])) if asks else None,
        )

    rows: dict[str, Any] = {}
    for name, run, what, step in (
        (
            "pymm_set_levels_msg",
            run_msg,
            "L2Book.set_levels per message, levels prebuilt as int64 arrays",
            lambda b, k: b.set_levels(*msgs[k]),
        ),
        ("pymm_set_levels_all", run_all, "L2Book.set_levels once over all levels, prebuilt arrays", None),
    ):
        book = setup()
        run(book)
        check_agrees(name, top_of(book), want)
        best = _best_of(passes, setup, run)
        per_msg = None if step is None else _per_message(setup, step, len(msgs))
        rows[name] = _row("python", what, best, stream, per_msg)
    return rows


# ---------------------------------------------------------------- nautilus_trader


def bench_nautilus(stream: Stream, passes: int, want: Top) -> dict[str, Any]:
    import msgspec
    from nautilus_trader.adapters.binance.common.schemas.market import (
        BinanceOrderBookDelta,
        BinanceOrderBookMsg,
    )
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas
    from nautilus_trader.model.enums import BookType, OrderSide, RecordFlag
    from nautilus_trader.model.identifiers import InstrumentId

    iid = InstrumentId.from_str("BTCUSDT-PERP.BINANCE")
    decoder = msgspec.json.Decoder(BinanceOrderBookMsg)

    def parse(i: int) -> Any:
        return decoder.decode(stream.lines[i]).data.parse_to_order_book_deltas(iid, 0)

    snap = stream.parsed[stream.snapshot_line]
    snap_deltas = [OrderBookDelta.clear(iid, 0, 0, 0)]
    for key, side in (("bids", OrderSide.BUY), ("asks", OrderSide.SELL)):
        for px, qty in snap[key]:
            d = BinanceOrderBookDelta(px, qty).parse_to_order_book_delta(
                iid, side, RecordFlag.F_SNAPSHOT, 0, 0, 0
            )
            snap_deltas.append(d)
    snapshot = OrderBookDeltas(iid, snap_deltas)
    setup_msgs = [parse(i) for i in stream.setup_diffs]
    prebuilt = [parse(i) for i in stream.timed_diffs]
    timed_bytes = [stream.lines[i] for i in stream.timed_diffs]

    def setup() -> Any:
        book = OrderBook(iid, BookType.L2_MBP)
        book.apply_deltas(snapshot)
        for m in setup_msgs:
            book.apply_deltas(m)
        return book

    def run_apply(book: Any) -> None:
        apply = book.apply_deltas
        for m in prebuilt:
            apply(m)

    def run_parse_apply(book: Any) -> None:
        apply = book.apply_deltas
        dec = decoder.decode
        for body in timed_bytes:
            apply(dec(body).data.parse_to_order_book_deltas(iid, 0))

    def top_of(book: Any) -> Top:
        bp, bs, ap, as_ = (
            book.best_bid_price(),
            book.best_bid_size(),
            book.best_ask_price(),
            book.best_ask_size(),
        )
        return Top(
            None if bp is None else (Decimal(str(bp)), Decimal(str(bs))),
            None if ap is None else (Decimal(str(ap)), Decimal(str(as_))),
        )

    rows: dict[str, Any] = {}
    for name, run, what, step in (
        (
            "nautilus_apply",
            run_apply,
            "OrderBook(L2_MBP).apply_deltas per message, deltas prebuilt",
            lambda b, k: b.apply_deltas(prebuilt[k]),
        ),
        (
            "nautilus_parse_apply",
            run_parse_apply,
            "Binance adapter parse (msgspec + parse_to_order_book_deltas) + apply_deltas per message",
            lambda b, k: b.apply_deltas(
                decoder.decode(timed_bytes[k]).data.parse_to_order_book_deltas(iid, 0)
            ),
        ),
    ):
        book = setup()
        run(book)
        check_agrees(name, top_of(book), want)
        best = _best_of(passes, setup, run)
        per_msg = _per_message(setup, step, len(prebuilt))
        rows[name] = _row("python", what, best, stream, per_msg)
    rows["nautilus_apply"]["compare_to"] = "pymm_set_levels_msg"
    rows["nautilus_parse_apply"]["compare_to"] = "pymm_feed"
    return rows


# ---------------------------------------------------------------- hftbacktest


def _hbt_events(stream: Stream) -> tuple[Any, Any]:
    """(initial snapshot, timed events) in hftbacktest's event dtype, LOCAL_EVENT only."""
    import numpy as np
    from hftbacktest.types import (
        BUY_EVENT,
        DEPTH_EVENT,
        DEPTH_SNAPSHOT_EVENT,
        LOCAL_EVENT,
        SELL_EVENT,
        event_dtype,
    )

    state: dict[str, dict[str, str]] = {"b": {}, "a": {}}
    snap = stream.parsed[stream.snapshot_line]
    for key, side in (("bids", "b"), ("asks", "a")):
        for px, qty in snap[key]:
            state[side][px] = qty
    for i in stream.setup_diffs:
        for side in ("b", "a"):
            for px, qty in stream.parsed[i][side]:
                if Decimal(qty) == 0:
                    state[side].pop(px, None)
                else:
                    state[side][px] = qty
    snap_rows = [
        (
            DEPTH_SNAPSHOT_EVENT | (BUY_EVENT if side == "b" else SELL_EVENT),
            0,
            0,
            float(px),
            float(qty),
            0,
            0,
            0.0,
        )
        for side in ("b", "a")
        for px, qty in state[side].items()
    ]
    rows = []
    for i in stream.timed_diffs:
        ts = stream.local_ts[i]
        d = stream.parsed[i]
        for side, flag in (("b", BUY_EVENT), ("a", SELL_EVENT)):
            for px, qty in d[side]:
                rows.append((DEPTH_EVENT | LOCAL_EVENT | flag, ts, ts, float(px), float(qty), 0, 0, 0.0))
    return np.array(snap_rows, dtype=event_dtype), np.array(rows, dtype=event_dtype)


def bench_hftbacktest(stream: Stream, passes: int, want: Top) -> dict[str, Any]:
    from hftbacktest import (
        BacktestAsset,
        HashMapMarketDepthBacktest,
        ROIVectorMarketDepthBacktest,
    )
    from numba import njit

    snapshot, events = _hbt_events(stream)
    if len(events) != stream.level_updates:
        raise AssertionError("hftbacktest events do not match the level updates")
    mid = float(stream.parsed[stream.snapshot_line]["bids"][0][0])

    @njit
    def drain(hbt: Any) -> tuple[float, float, float, float]:
        while hbt.elapse(1_000_000_000_000) == 0:
            pass
        depth = hbt.depth(0)
        # Not `best_bid_qty`: in hftbacktest 2.4.4 `ROIVectorMarketDepth.best_bid_qty` returns the price.
        bid, ask = depth.best_bid_tick, depth.best_ask_tick
        return depth.best_bid, depth.bid_qty_at_tick(bid), depth.best_ask, depth.ask_qty_at_tick(ask)

    def asset() -> Any:
        return (
            BacktestAsset()
            .data(events)
            .initial_snapshot(snapshot)
            .linear_asset(1.0)
            .constant_order_latency(0, 0)
            .risk_adverse_queue_model()
            .no_partial_fill_exchange()
            .trading_value_fee_model(0.0, 0.0)
            .tick_size(float(TICK))
            .lot_size(float(LOT))
            .roi_lb(round(mid * 0.5))
            .roi_ub(round(mid * 1.5))
            .last_trades_capacity(0)
        )

    lot = Decimal(LOT)
    tick = Decimal(TICK)

    def top_of(r: tuple[float, float, float, float]) -> Top:
        bp, bq, ap, aq = r
        return Top(
            (round(Decimal(bp) / tick) * tick, round(Decimal(bq) / lot) * lot),
            (round(Decimal(ap) / tick) * tick, round(Decimal(aq) / lot) * lot),
        )

    rows: dict[str, Any] = {}
    for name, build, what in (
        (
            "hftbacktest_roivec",
            ROIVectorMarketDepthBacktest,
            "ROIVectorMarketDepthBacktest.elapse from @njit",
        ),
        ("hftbacktest_hashmap", HashMapMarketDepthBacktest, "HashMapMarketDepthBacktest.elapse from @njit"),
    ):
        hbt = build([asset()])
        check_agrees(name, top_of(drain(hbt)), want)  # also compiles `drain` for this type
        hbt.close()
        result: list[Any] = []

        def setup(build: Any = build) -> Any:
            return build([asset()])

        def run(hbt: Any, result: list[Any] = result) -> None:
            result.append(drain(hbt))

        best = _best_of(passes, setup, run)
        check_agrees(name, top_of(result[-1]), want)
        rows[name] = _row("python (numba)", what, best, stream, None)
        rows[name]["compare_to"] = "pymm_set_levels_all"
    return rows


# ---------------------------------------------------------------- report


def peer_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in (*PEERS, "numba"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def run(passes: int, limit: int | None) -> dict[str, Any]:
    path = data_dir() / STREAM
    stream = load_stream(path, limit)
    want = reference_top(stream)
    versions = peer_versions()
    report: dict[str, Any] = {
        "stream": STREAM,
        "lines": len(stream.lines),
        "timed_diffs": len(stream.timed_diffs),
        "level_updates": stream.level_updates,
        "passes": passes,
        "python": platform.python_version(),
        "versions": versions,
        "load_average": list(os.getloadavg()),
        "rows": {},
        "skipped": {},
    }
    rows, top = bench_pymm(stream, passes)
    check_agrees("pymm", top, want)
    report["rows"].update(rows)
    report["top"] = {"bid": [str(x) for x in want.bid or ()], "ask": [str(x) for x in want.ask or ()]}
    if versions["nautilus_trader"] is None:
        report["skipped"]["nautilus_trader"] = "not installed (pip install -e '.[bench]')"
    else:
        report["rows"].update(bench_nautilus(stream, passes, want))
    if versions["hftbacktest"] is None:
        report["skipped"]["hftbacktest"] = "not installed (pip install -e '.[bench]')"
    else:
        report["rows"].update(bench_hftbacktest(stream, passes, want))
    report["books_agree"] = True
    report["load_average_end"] = list(os.getloadavg())
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--passes", type=int, default=10, help="timed passes per row (best is kept)")
    ap.add_argument("--limit", type=int, default=None, help="read only the first LINES lines")
    args = ap.parse_args(argv)
    try:
        report = run(args.passes, args.limit)
    except BooksDisagreeError as e:
        print(f"book_python: BOOKS DISAGREE: {e}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(report))
    else:
        for name, row in report["rows"].items():
            pm = row.get("per_message_ns", {})
            print(
                f"{name:<24} {row['ns_per_update']:>9.1f} ns/update"
                f"  {row['ns_per_message']:>10.1f} ns/msg  {pm}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
