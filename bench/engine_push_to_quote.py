"""Python ``Engine.push_params`` → the next live quote handed to ``send``, p50/p99 (target p99 ≤ 100 µs).

Starts the simulated venue in-process (its own asyncio loop thread) and a ``pymm._native.Engine``
against it over loopback, waits until it quotes, then pushes parameter sets that move every quote
(half spread alternating 1 and 2 ticks) every ``--interval-ms``. The engine stamps each push
(``clock_gettime(CLOCK_REALTIME)`` in ``push_params``) and records, on the session thread, the time
until the first order frame of the requote was written to the socket (histogram ``push_to_quote``).
Pushes the risk budget refuses (none with the budgets set here) or that change nothing are not
counted.

``python bench/engine_push_to_quote.py [--pushes N] [--interval-ms MS] [--busy-poll] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    ap.add_argument("--busy-poll", action="store_true", help="idle_sleep_us=0 (spin) instead of 20 µs naps")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
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
            "idle_sleep_us": 0 if a.busy_poll else 20,
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
        for i in range(a.pushes):
            engine.push_params({"half_spread_mt": 2000 if i % 2 == 0 else 1000})
            time.sleep(a.interval_ms / 1000)
            if i % 200 == 0:
                engine.poll_events()
        time.sleep(0.2)
        st = engine.status()
    finally:
        engine.stop(5.0)
        asyncio.run_coroutine_threadsafe(running.stop(), loop).result(30)
    lat = st["latency_ns"]["push_to_quote"]
    out = {
        "pushes": a.pushes,
        "measured": lat["count"] - base,
        "push_to_quote_ns": lat,
        "tick_to_trade_ns": st["latency_ns"]["tick_to_trade"],
        "busy_poll": a.busy_poll,
        "orders": st["orders"],
    }
    if a.json:
        print(json.dumps(out))
        return
    print(
        f"push_params → first order to send: n={out['measured']} p50={lat['p50'] / 1e3:.1f} µs "
        f"p99={lat['p99'] / 1e3:.1f} µs p99.9={lat['p999'] / 1e3:.1f} µs max={lat['max'] / 1e3:.1f} µs "
        f"(target p99 ≤ 100 µs; busy_poll={a.busy_poll})"
    )


if __name__ == "__main__":
    main()
