"""``pymm venue``: run the simulated Binance-compatible venue on loopback until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer

from pymm.venues.sim import FlowConfig, SimVenueConfig, generate_key, load_keys, start_server


def venue(
    *,
    port: Annotated[int, typer.Option(help="listen port on 127.0.0.1 (0: ephemeral)")] = 8765,
    usdm_port: Annotated[
        int, typer.Option(help="USD-M futures host's listen port on 127.0.0.1 (0: ephemeral)")
    ] = 8766,
    json_out: Annotated[
        bool, typer.Option("--json", help="print the URLs (and a generated key) as one JSON object first")
    ] = False,
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
) -> None:
    """Serve Binance spot REST (/api/v3), market streams (/ws, /stream), the WebSocket API, and USD-M
    futures (REST /fapi, streams /ws /public /market, listenKey /private) on 127.0.0.1."""
    key_list = load_keys(keys) if keys is not None else [generate_key()]
    cfg = SimVenueConfig(
        keys=key_list,
        maker_bps=maker_bps,
        taker_bps=taker_bps,
        port=port,
        usdm_port=usdm_port,
        flow=FlowConfig(seed=seed) if flow else None,
    )
    if instrument:
        cfg.instruments = list(instrument)

    async def serve() -> None:
        running = await start_server(cfg)
        urls = running.urls()
        if json_out:
            info: dict[str, object] = dict(urls)
            if keys is None:
                k = key_list[0]
                info.update(api_key=k.api_key, secret=k.hmac_secret, account=k.account)
            typer.echo(json.dumps(info, separators=(",", ":")))
        else:
            typer.echo(f"sim venue: REST {running.rest_url}/api/v3  streams {running.ws_url}/ws")
            typer.echo(
                f"usd-m futures: REST {urls['usdm_rest']}  streams {urls['usdm_ws']} "
                f"{urls['usdm_ws_public']} {urls['usdm_ws_market']}  user {urls['usdm_ws_private']}"
            )
            if keys is None:
                k = key_list[0]
                typer.echo(f"api key {k.api_key}\nsecret  {k.hmac_secret}\naccount {k.account}")
        try:
            await asyncio.Event().wait()
        finally:
            await running.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def register(app: typer.Typer) -> None:
    """Add ``pymm venue`` to the root app."""
    app.command()(venue)
