"""Hedge decision latency in process: a spot fill published on the delta bus → the hedge intent.

Measures the Python part of the S5 "hedge latency < 100 ms" budget (``pymm.hedge``: book, mode,
planner with the native validator, governor, intent), with ``time.perf_counter_ns`` as the service's
clock and each fill stamped just before it is published. Network and venue time are not in it.

Run: ``python bench/hedge_latency.py [--fills N] [--json]``. Prints count, p50, p99, p99.9 and max (µs).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import time
from decimal import Decimal
from pathlib import Path

from pymm._native import InstrumentMaster
from pymm.config import HedgeConfig
from pymm.hedge import (
    DeltaBus,
    Fill,
    HedgeOrder,
    HedgeRouter,
    HedgeService,
    MarginType,
    Market,
    OrderStatus,
    OrderUpdate,
    PerpMarket,
    PositionBook,
    PositionKey,
    Side,
    VerifiedUsdmAccount,
)

REPO = Path(__file__).resolve().parent.parent
TICK = Decimal("0.00001")


class _Sink:
    def __init__(self) -> None:
        self.orders: list[HedgeOrder] = []

    def submit(self, order: HedgeOrder) -> None:
        self.orders.append(order)

    def cancel(self, client_order_id: str) -> None:
        pass


def run(n: int, seed: int) -> list[int]:
    """Publish ``n`` spot fills; return the fill → intent latency (ns) of every intent."""
    spot = InstrumentMaster.from_toml(REPO / "config/instruments/DOGEUSDT.spot.toml").get("DOGEUSDT", "spot")
    perp = InstrumentMaster.from_toml(REPO / "config/instruments/DOGEUSDT.usdm.toml").get("DOGEUSDT", "usdm")
    cfg = HedgeConfig(
        max_order_qty=Decimal(50_000), max_position_qty=Decimal(10_000_000), max_orders_per_s=Decimal(10**9)
    )
    route = HedgeRouter.spot_to_perp(spot, "binance-spot", perp, "binance-usdm").route("DOGE")
    book = PositionBook()
    book.set_opening(PositionKey("binance-spot", Market.SPOT, "DOGEUSDT"), Decimal(200_000), "DOGE")
    book.set_opening(route.hedge_key, Decimal(-200_000), "DOGE")
    bus, sink = DeltaBus(), _Sink()
    account = VerifiedUsdmAccount("DOGEUSDT", 1, MarginType.CROSSED, Decimal(-200_000))
    svc = HedgeService.from_config(
        cfg, route=route, account=account, bus=bus, book=book, sender=sink, clock=time.perf_counter_ns
    )
    rng = random.Random(seed)
    for i in range(n):
        now = time.perf_counter_ns()
        svc.on_market(PerpMarket(Decimal(15_999) * TICK, Decimal(16_001) * TICK, Decimal(16_000) * TICK, now))
        side = rng.choice([Side.BUY, Side.SELL])
        qty = Decimal(rng.choice([500, 1000, 2500]))  # 80-400 USDT: passive and active plans
        before = len(sink.orders)
        fill = Fill("binance-spot", Market.SPOT, "DOGEUSDT", "DOGE", side, qty, Decimal("0.16"), str(i), 0, 0)
        stamp = time.perf_counter_ns()
        bus.publish(Fill(**{**_fields(fill), "ts_event": stamp, "ts_recv": stamp}))
        for o in sink.orders[before:]:  # settle at once so every fill needs a fresh hedge
            svc.on_order_update(OrderUpdate(o.client_order_id, OrderStatus.FILLED, o.qty, stamp))
            bus.publish(
                Fill(
                    "binance-usdm",
                    Market.USDM,
                    "DOGEUSDT",
                    "DOGE",
                    o.side,
                    o.qty,
                    o.price,
                    f"h{o.client_order_id}",
                    stamp,
                    stamp,
                    o.client_order_id,
                )
            )
    return [o.latency_ns for o in sink.orders]


def _fields(fill: Fill) -> dict[str, object]:
    return {name: getattr(fill, name) for name in Fill.__dataclass_fields__}


def _pct(xs: list[int], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] / 1000


def main() -> None:
    """Parse arguments, run, print the summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fills", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    lat = run(args.fills, args.seed)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    out = {
        "bench": "hedge_latency",
        "commit": commit.stdout.strip(),
        "host": platform.node(),
        "python": platform.python_version(),
        "fills": args.fills,
        "intents": len(lat),
        "p50_us": _pct(lat, 0.5),
        "p99_us": _pct(lat, 0.99),
        "p999_us": _pct(lat, 0.999),
        "max_us": max(lat) / 1000 if lat else None,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(" ".join(f"{k}={v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
