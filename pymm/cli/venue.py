"""``pymm venue``: run the simulated venue on loopback until Ctrl-C (or SIGTERM): the Binance spot and
USD-M fronts and the colocated-exchange front (ITCH 5.0 / MoldUDP64 A/B, OUCH 4.2 / SoupBinTCP)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Annotated

import typer

from pymm.venues.sim import FlowConfig, LatencyConfig, SimVenueConfig, generate_key, load_keys, start_server
from pymm.venues.sim.flow import replay_symbol
from pymm.venues.sim.itch import ItchVenueSettings, start_itch_venue


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
    flow: Annotated[bool, typer.Option(help="run the calibrated market-flow generator")] = True,
    seed: Annotated[int, typer.Option(help="market-flow seed")] = 7,
    flow_params: Annotated[
        Path | None, typer.Option(help="generator parameters (config/flow/*.toml; default DOGEUSDT)")
    ] = None,
    replay: Annotated[
        list[Path] | None,
        typer.Option(help="replay this recording instead of generating flow; repeatable (one session)"),
    ] = None,
    replay_format: Annotated[str, typer.Option(help="binance, dbn or lobster")] = "binance",
    queue_model: Annotated[str, typer.Option(help="L2 replay queue model: power3 or risk_averse")] = "power3",
    entry_latency_us: Annotated[int, typer.Option(help="order-entry delay, microseconds")] = 0,
    md_latency_us: Annotated[int, typer.Option(help="market-data delay, microseconds")] = 0,
    latency_jitter_us: Annotated[
        int, typer.Option(help="mean of the exponential jitter added to both delays (seeded)")
    ] = 0,
    maker_bps: Annotated[int, typer.Option(help="maker fee, basis points")] = 1,
    taker_bps: Annotated[int, typer.Option(help="taker fee, basis points")] = 1,
    itch: Annotated[
        bool, typer.Option(help="also run the ITCH/MoldUDP64 + OUCH/SoupBinTCP front (--no-itch: off)")
    ] = True,
    itch_a: Annotated[str, typer.Option(help="ITCH line A multicast group:port")] = "239.1.1.1:31001",
    itch_b: Annotated[str, typer.Option(help="ITCH line B multicast group:port")] = "239.1.1.2:31002",
    rerequest_port: Annotated[int, typer.Option(help="MoldUDP64 re-request port on 127.0.0.1")] = 31003,
    ouch_port: Annotated[int, typer.Option(help="OUCH SoupBinTCP port on 127.0.0.1")] = 31004,
) -> None:
    """Serve Binance spot REST (/api/v3), market streams (/ws, /stream), the WebSocket API, USD-M
    futures (REST /fapi, streams /ws /public /market, listenKey /private) on 127.0.0.1, and the
    ITCH/OUCH front (multicast lines A and B, re-request server, SoupBinTCP)."""
    key_list = load_keys(keys) if keys is not None else [generate_key()]
    cfg = SimVenueConfig(
        keys=key_list,
        maker_bps=maker_bps,
        taker_bps=taker_bps,
        port=port,
        usdm_port=usdm_port,
        flow=_flow_config(seed, flow_params, replay, replay_format, queue_model) if flow or replay else None,
    )
    if entry_latency_us or md_latency_us or latency_jitter_us:
        jitter = ("exponential", latency_jitter_us * 1000.0, 0.0)
        cfg.latency = LatencyConfig(entry_latency_us * 1000, jitter, md_latency_us * 1000, jitter, seed)
    if instrument:
        cfg.instruments = list(instrument)
    elif replay and cfg.flow is not None and cfg.flow.replay_symbol:
        cfg.instruments = [INSTRUMENTS / f"{cfg.flow.replay_symbol}.spot.toml"]

    itch_settings = ItchVenueSettings(
        itch_a=itch_a,
        itch_b=itch_b,
        rerequest=f"127.0.0.1:{rerequest_port}",
        ouch=f"127.0.0.1:{ouch_port}",
        seed=seed,
    )

    async def serve() -> None:
        running = await start_server(cfg)
        itch_venue = start_itch_venue(itch_settings) if itch else None
        urls = running.urls()
        e = itch_venue.endpoints() if itch_venue is not None else {}
        if json_out:
            info: dict[str, object] = dict(urls)
            info.update({k: e[k] for k in ("itch_a", "itch_b", "itch_rerequest", "ouch") if k in e})
            if keys is None:
                k = key_list[0]
                info.update(api_key=k.api_key, secret=k.hmac_secret, account=k.account)
            typer.echo(json.dumps(info, separators=(",", ":")))
        else:
            typer.echo(f"sim venue: REST {running.rest_url}/api/v3  streams {running.ws_url}/ws")
            typer.echo(
                f"usd-m futures: REST {urls['usdm_rest']}  streams {urls['usdm_ws']} "
                f"{urls['usdm_ws_public']} {urls['usdm_ws_market']}  user {urls['usdm_ws_private']}  "
                f"WS API {urls['usdm_ws_api']}"
            )
            if itch_venue is not None:
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
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await stop.wait()
        finally:
            if itch_venue is not None:
                itch_venue.stop()
            await running.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


INSTRUMENTS = Path(__file__).resolve().parents[2] / "config" / "instruments"


def _flow_config(
    seed: int, params: Path | None, replay: list[Path] | None, replay_format: str, queue_model: str
) -> FlowConfig:
    if not replay:
        return FlowConfig(seed=seed) if params is None else FlowConfig(seed=seed, params=params)
    if replay_format != "binance":
        # The spot front lists spot instruments only; ES futures (DBN) and Nasdaq stocks (LOBSTER) have
        # no definition here yet. `SimExchange.attach_replay` replays them for a listed symbol.
        raise typer.BadParameter("pymm venue replays Binance captures; DBN/LOBSTER need a listed instrument")
    symbol = replay_symbol(replay[0])
    return FlowConfig(
        seed=seed,
        replay=list(replay),
        replay_format=replay_format,
        replay_symbol=symbol,
        queue_model=queue_model,
    )


def register(app: typer.Typer) -> None:
    """Add ``pymm venue`` to the root app."""
    app.command()(venue)
