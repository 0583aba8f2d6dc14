"""``pymm research ...``: reproductions of published results, our numbers beside the paper's."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from pymm.pricing.as2008 import format_table, run_as2008

research_cli = typer.Typer(
    name="research",
    help="Reproduce published market-making results and print ours beside the paper's.",
    no_args_is_help=True,
)


@research_cli.command("as2008")
def as2008(
    *,
    paths: Annotated[int, typer.Option(min=2, help="Monte Carlo paths per table (the paper: 1000)")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the numpy random generator")] = 2008,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Avellaneda-Stoikov (QF 2008) section 3.3: inventory vs symmetric strategy, gamma 0.1, 0.01, 1.

    Exits 1 when a cell lies outside its Monte Carlo band (see docs/pricing.md).
    """
    result = run_as2008(n_paths=paths, seed=seed)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        typer.echo(format_table(result))
    if result.failures():
        raise typer.Exit(code=1)


@research_cli.command("calibrate-flow")
def calibrate_flow(
    *,
    data: Annotated[
        list[Path], typer.Option(help="Binance spot capture file(s) of one session, in order; repeatable")
    ],
    out: Annotated[Path, typer.Option(help="parameters file to write (config/flow/<SYMBOL>.toml)")],
    symbol: Annotated[str, typer.Option(help="the recorded symbol")] = "BTCUSDT",
    tick: Annotated[str, typer.Option(help="the recorded symbol's tick size")] = "0.01",
    as_symbol: Annotated[
        str | None, typer.Option(help="write the parameters for another symbol (sizes kept in notional)")
    ] = None,
    reference_price: Annotated[
        str | None, typer.Option(help="with --as-symbol: that symbol's price (decimal text)")
    ] = None,
) -> None:
    """Estimate the market-flow generator's parameters from a recording (docs/venue/flow-calibration.md)."""
    from pymm.venues.sim.calibrate import observe_capture, to_toml

    obs = observe_capture(list(data), tick, symbol)
    bid, ask = obs.best()
    if bid is None or ask is None:
        raise typer.BadParameter("the recording never had both sides")
    mid = (Decimal(bid) + Decimal(ask)) / 2 * Decimal(tick)
    names = ", ".join(p.name for p in data)
    source = f"{symbol} {names}: {obs.duration:.0f} s, {obs.updates} diffs, {len(obs.trade_sizes)} trades"
    if as_symbol is None:
        text = to_toml(obs.fit(), symbol, str(mid.quantize(Decimal(tick))), source)
    else:
        if reference_price is None:
            raise typer.BadParameter("--as-symbol needs --reference-price")
        scale = float(mid / Decimal(reference_price))
        source += f"; transferred to {as_symbol} at {reference_price} (sizes x {scale:.6g}, same notional)"
        text = to_toml(obs.fit(), as_symbol, reference_price, source, size_scale=scale)
    header = "# Market-flow generator parameters, written by `pymm research calibrate-flow`.\n"
    header += "# Method and numbers: docs/venue/flow-calibration.md. Rates per second per side.\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + text)
    typer.echo(json.dumps({"out": str(out), **obs.summary()}, indent=None))


def register(app: typer.Typer) -> None:
    """Add the ``research`` command group to the root app."""
    app.add_typer(research_cli)
