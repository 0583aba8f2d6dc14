"""``pymm venue``: run the simulated Binance-compatible venue on loopback until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from pymm.venues.sim import FlowConfig, LatencyConfig, SimVenueConfig, generate_key, load_keys, start_server
from pymm.venues.sim.flow import replay_symbol


def venue(
    *,
    port: Annotated[int, typer.Option(help="listen port on 127.0.0.1 (0: ephemeral)")] = 8765,
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
) -> None:
    """Serve Binance spot REST (/api/v3) and market streams (/ws, /stream) on 127.0.0.1."""
    key_list = load_keys(keys) if keys is not None else [generate_key()]
    cfg = SimVenueConfig(
        keys=key_list,
        maker_bps=maker_bps,
        taker_bps=taker_bps,
        port=port,
        flow=_flow_config(seed, flow_params, replay, replay_format, queue_model) if flow or replay else None,
    )
    if entry_latency_us or md_latency_us or latency_jitter_us:
        jitter = ("exponential", latency_jitter_us * 1000.0, 0.0)
        cfg.latency = LatencyConfig(entry_latency_us * 1000, jitter, md_latency_us * 1000, jitter, seed)
    if instrument:
        cfg.instruments = list(instrument)
    elif replay and cfg.flow is not None and cfg.flow.replay_symbol:
        cfg.instruments = [INSTRUMENTS / f"{cfg.flow.replay_symbol}.spot.toml"]

    async def serve() -> None:
        running = await start_server(cfg)
        typer.echo(f"sim venue: REST {running.rest_url}/api/v3  streams {running.ws_url}/ws")
        if keys is None:
            k = key_list[0]
            typer.echo(f"api key {k.api_key}\nsecret  {k.hmac_secret}\naccount {k.account}")
        try:
            await asyncio.Event().wait()
        finally:
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
