"""Python ``Engine.push_params`` → the next live quote written to the socket, p50/p99 (target p99 ≤ 100 µs).

Starts the simulated venue in-process (its own asyncio loop thread) and a ``pymm._native.Engine``
against it over loopback, waits until it quotes, then pushes parameter sets that move every quote
(half spread alternating 1 and 2 ticks) every ``--interval-ms``. Both ends of the interval are on
``CLOCK_MONOTONIC_RAW``: ``push_params`` stamps it right before its parameter-block write (the last
thing it does before returning, so the interval is never shorter than return → socket); the session
thread stamps it when it sees the new block version, right before the ``send`` of the requote's first
order frame and right after that ``send`` returned (the frame is in the kernel's socket buffer).
Histograms:

- ``push_to_quote``: push → first order frame handed to ``send`` (the target; tick-to-trade's end point);
- ``push_to_read``: push → the session thread saw the version (every push: the wake-up floor);
- ``read_to_quote``: seen → handed to ``send``, in-process on the session thread (journal, quoter, risk,
  encode);
- ``quote_send``: that ``send`` call (loopback TCP: the kernel delivers to the venue's socket inside it).

Pushes the risk budget refuses (none with the budgets set here) or that change nothing are not in
``push_to_quote``. ``--core N`` pins the session thread (it then busy-polls by default);
``--python-core N`` pins this process (Python and the venue's loop) to another core.

``python bench/engine_push_to_quote.py [--pushes N] [--interval-ms MS] [--core N] [--python-core N]
[--idle-us US] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pymm._native import Engine
from pymm.venues.sim import ApiKey, FlowConfig, SimVenueConfig, start_server

INSTRUMENT = Path(__file__).resolve().parents[1] / "config" / "instruments" / "DOGEUSDT.spot.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pushes", type=int, default=2000)
    ap.add_argument("--interval-ms", type=float, default=5.0)
    ap.add_argument("--core", type=int, default=None, help="pin the session thread (busy-polls by default)")
    ap.add_argument("--python-core", type=int, default=None, help="pin this process (Python + venue)")
    ap.add_argument("--idle-us", type=int, default=None, help="idle_sleep_us (0: spin); default: engine's")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.python_core is not None:
        os.sched_setaffinity(0, {a.python_core})
    try:
        from cryptography.hazmat.primitives import serialization as ser
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - the dev extra has it
        raise SystemExit("needs the 'cryptography' package for an Ed25519 key") from None
    private = ed25519.Ed25519PrivateKey.generate()
    priv_pem = private.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()).decode()
    public = private.public_key()
    pub_pem = public.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    key = ApiKey(api_key="bench-key", account=1, ed25519_public_key=pub_pem)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    cfg = SimVenueConfig(keys=[key], flow=FlowConfig(seed=1, interval_s=0.5), orders_per_10s=1_000_000)
    running = asyncio.run_coroutine_threadsafe(start_server(cfg), loop).result(30)
    tmp = Path(tempfile.mkdtemp())
    engine = Engine(
        {
            "market_ws": running.ws_url + "/ws",
            "rest": running.rest_url,
            "ws_api": running.ws_url + "/ws-api/v3",
            "api_key": key.api_key,
            "ed25519_private_pem": priv_pem,
            "instrument": str(INSTRUMENT),
            "risk": {
                "max_order_qty": "1000",
                "max_order_notional": "1000",
                "price_collar_bps": 500,
                "max_long": "1000000",
                "max_short": "1000000",
                "max_position_notional": "1000000",
                "max_open_orders": 60,
                "venue_orders_per_second": 100_000,
                "venue_orders_burst": 100_000,
                "messages_per_second": 100_000,
                "messages_burst": 100_000,
            },
            "client_id_file": str(tmp / "ids"),
            "client_prefix": "bench",
            "idle_sleep_us": a.idle_us,
            "core": a.core,
        }
    )
    params: dict[str, Any] = {
        "enabled": 1,
        "anchor": 2,
        "half_spread_mt": 1000,
        "levels": 2,
        "level_spacing_ticks": 1,
        "size_lots": 10,
        "max_inventory_lots": 1_000_000,
        "requote_ticks": 0,
        "post_only": 1,
    }
    engine.push_params(params)
    engine.start()
    try:
        t0 = time.monotonic()
        while engine.status()["orders"]["accepted"] < 4:
            if time.monotonic() - t0 > 15:
                raise SystemExit(f"the engine did not quote: {engine.status()}")
            time.sleep(0.01)
        base = engine.status()["latency_ns"]["push_to_quote"]["count"]
        call_ns = []
        for i in range(a.pushes):
            t = time.perf_counter_ns()
            engine.push_params({"half_spread_mt": 2000 if i % 2 == 0 else 1000})
            call_ns.append(time.perf_counter_ns() - t)
            time.sleep(a.interval_ms / 1000)
            if i % 200 == 0:
                engine.poll_events()
        time.sleep(0.2)
        st = engine.status()
    finally:
        engine.stop(5.0)
        asyncio.run_coroutine_threadsafe(running.stop(), loop).result(30)
    lat = st["latency_ns"]
    call_ns.sort()
    out = {
        "pushes": a.pushes,
        "measured": lat["push_to_quote"]["count"] - base,
        "latency_ns": lat,
        "push_params_call_ns": {"p50": call_ns[len(call_ns) // 2], "p99": call_ns[len(call_ns) * 99 // 100]},
        "ratio_p99_push_to_quote_over_push_to_read": lat["push_to_quote"]["p99"]
        / max(lat["push_to_read"]["p99"], 1),
        "core": a.core,
        "python_core": a.python_core,
        "idle_us": a.idle_us,
        "loadavg": os.getloadavg(),
        "orders": st["orders"],
    }
    if a.json:
        print(json.dumps(out))
        return

    def row(name: str) -> str:
        h = lat[name]
        return (
            f"{name:14} n={h['count']:6} p50={h['p50'] / 1e3:8.1f} µs p99={h['p99'] / 1e3:8.1f} µs "
            f"p99.9={h['p999'] / 1e3:8.1f} µs max={h['max'] / 1e3:8.1f} µs"
        )

    print(f"core={a.core} python_core={a.python_core} idle_us={a.idle_us} loadavg={os.getloadavg()}")
    for name in ("push_to_quote", "push_to_read", "read_to_quote", "quote_send", "tick_to_trade"):
        print(row(name))
    print(
        f"push_params call (Python): p50={out['push_params_call_ns']['p50'] / 1e3:.1f} µs "
        f"p99={out['push_params_call_ns']['p99'] / 1e3:.1f} µs; p99 push_to_quote / push_to_read = "
        f"{out['ratio_p99_push_to_quote_over_push_to_read']:.2f} (target p99 push_to_quote ≤ 100 µs)"
    )


if __name__ == "__main__":
    main()
