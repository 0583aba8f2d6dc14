"""``pymm venue``: run the simulated venue on loopback until Ctrl-C: the Binance-compatible front and the
colocated-exchange front (ITCH 5.0 / MoldUDP64 A/B multicast, re-request server, OUCH 4.2 / SoupBinTCP)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer

from pymm.venues.sim import FlowConfig, SimVenueConfig, generate_key, load_keys, start_server
from pymm.venues.sim.itch import ItchVenueSettings, start_itch_venue


def venue(
    *,
    port: Annotated[int, typer.Option(help="listen port on 127.0.0.1 (0: ephemeral)")] = 8765,
    keys: Annotated[
        Path | None, typer.Option(help="API key file (TOML); default: one fresh HMAC key, printed")
    ] = None,
    instrument: Annotated[
        list[Path] | None, typer.Option(help="instrument definition (TOML); repeatable")
    ] = None,
    flow: Annotated[bool, typer.Option(help="run the seeded liquidity provider")] = True,
    seed: Annotated[int, typer.Option(help="market-flow seed")] = 7,
    maker_bps: Annotated[int, typer.Option(help="maker fee, basis points")] = 1,
    taker_bps: Annotated[int, typer.Option(help="taker fee, basis points")] = 1,
    itch: Annotated[
        bool, typer.Option(help="also run the ITCH/MoldUDP64 + OUCH/SoupBinTCP front (--no-itch: off)")
    ] = True,
    itch_a: Annotated[str, typer.Option(help="ITCH line A multicast group:port")] = "239.1.1.1:31001",
    itch_b: Annotated[str, typer.Option(help="ITCH line B multicast group:port")] = "239.1.1.2:31002",
    rerequest_port: Annotated[int, typer.Option(help="MoldUDP64 re-request port on 127.0.0.1")] = 31003,
    ouch_port: Annotated[int, typer.Option(help="OUCH SoupBinTCP port on 127.0.0.1")] = 31004,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the endpoints as one JSON object on the first line")
    ] = False,
) -> None:
    """Serve Binance spot REST (/api/v3) and market streams (/ws, /stream) on 127.0.0.1, and the
    ITCH/OUCH front (multicast lines A and B, re-request server, SoupBinTCP)."""
    key_list = load_keys(keys) if keys is not None else [generate_key()]
    cfg = SimVenueConfig(
        keys=key_list,
        maker_bps=maker_bps,
        taker_bps=taker_bps,
        port=port,
        flow=FlowConfig(seed=seed) if flow else None,
    )
    if instrument:
        cfg.instruments = list(instrument)
    itch_settings = ItchVenueSettings(
        itch_a=itch_a,
        itch_b=itch_b,
        rerequest=f"127.0.0.1:{rerequest_port}",
        ouch=f"127.0.0.1:{ouch_port}",
        seed=seed,
    )

    async def serve() -> None:
        running = await start_server(cfg)
        itch_venue = None
        try:
            itch_venue = start_itch_venue(itch_settings) if itch else None
            endpoints: dict[str, str] = {
                "rest": f"{running.rest_url}/api/v3",
                "ws": f"{running.ws_url}/ws",
            }
            if itch_venue is not None:
                e = itch_venue.endpoints()
                endpoints.update({k: e[k] for k in ("itch_a", "itch_b", "itch_rerequest", "ouch")})
            if as_json:
                typer.echo(json.dumps(endpoints))
            typer.echo(f"sim venue: REST {running.rest_url}/api/v3  streams {running.ws_url}/ws")
            if itch_venue is not None:
                e = itch_venue.endpoints()
                typer.echo(
                    f"ITCH 5.0/MoldUDP64 session {e['session']} stock {e['symbol']}: "
                    f"line A {e['itch_a']}  line B {e['itch_b']}  re-request {e['itch_rerequest']}"
                )
                typer.echo(
                    f"OUCH 4.2/SoupBinTCP {e['ouch']}  "
                    f"user {itch_settings.ouch_user} password {itch_settings.ouch_password}"
                )
            if keys is None:
                k = key_list[0]
                typer.echo(f"api key {k.api_key}\nsecret  {k.hmac_secret}\naccount {k.account}")
            await asyncio.Event().wait()
        finally:
            if itch_venue is not None:
                itch_venue.stop()
            await running.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def register(app: typer.Typer) -> None:
    """Add ``pymm venue`` to the root app."""
    app.command()(venue)
