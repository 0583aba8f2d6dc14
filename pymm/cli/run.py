"""``pymm start | stop | status | kill | approve | operator | version``: the instance's lifecycle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pymm import __version__, supervisor
from pymm.config import load_config
from pymm.ops.onload import start_under_onload as onload_start
from pymm.runtime.state import NotRunningError

CONFIG_OPT = typer.Option("--config", "-c", envvar="PYMM_CONFIG", help="config file (TOML)")


def start(
    *,
    config: Annotated[Path | None, CONFIG_OPT] = None,
    cores: Annotated[
        str | None,
        typer.Option(
            help="cores for the hot threads, e.g. '2-5' (a pinned session thread busy-polls its core)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="the simulated venue's market-flow seed")] = 7,
    onload: Annotated[bool, typer.Option("--onload", help="re-execute under the Onload launcher")] = False,
    onload_profile: Annotated[str, typer.Option(help="Onload profile for --onload")] = "latency",
) -> None:
    """Start pymm in the foreground: the simulated venue, the engine and the slow loops."""
    if onload:
        onload_start(onload_profile)
    cfg = load_config(config)
    raise typer.Exit(code=supervisor.run(cfg, cores=cores, seed=seed, echo=typer.echo))


def stop(*, config: Annotated[Path | None, CONFIG_OPT] = None) -> None:
    """Stop the running pymm in order: cancel everything, flush, exit."""
    typer.echo(supervisor.stop(load_config(config)))


def status(
    *,
    config: Annotated[Path | None, CONFIG_OPT] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """The trader's screen of the running instance: quotes, inventory, PnL, orders, risk, latency."""
    try:
        st = supervisor.status(load_config(config))
    except NotRunningError as e:
        if as_json:
            typer.echo(json.dumps({"state": "stopped", "detail": str(e)}))
        else:
            typer.echo(str(e))
        raise typer.Exit(code=3) from None
    if as_json:
        typer.echo(json.dumps(st))
        return
    from pymm.runtime.screen import render

    typer.echo(render(st))


def kill(
    *,
    config: Annotated[Path | None, CONFIG_OPT] = None,
    reason: Annotated[str, typer.Option(help="why (recorded with the latch)")] = "operator kill",
) -> None:
    """Latch the kill switch: block entry and cancel every order; survives restarts until two approve."""
    r = supervisor.kill(load_config(config), reason)
    typer.echo(json.dumps(r))


def approve(
    *,
    operator: Annotated[str, typer.Option(help="your operator name, as in [[operators]]")],
    key: Annotated[Path, typer.Option(help="your Ed25519 private key (PEM)")],
    config: Annotated[Path | None, CONFIG_OPT] = None,
) -> None:
    """Approve lifting the current kill latch; two distinct operators lift it."""
    r = supervisor.approve(load_config(config), operator, key)
    typer.echo(json.dumps(r))


operator_app = typer.Typer(help="Operators who may lift the kill latch.", no_args_is_help=True)


@operator_app.command("keygen")
def operator_keygen(
    name: Annotated[str, typer.Argument(help="operator name")],
    out: Annotated[Path, typer.Option(help="where to write the private key (mode 0600)")],
) -> None:
    """Make an operator's Ed25519 key; prints the [[operators]] entry for the config."""
    import os

    from pymm.runtime.kill import generate_operator_key

    if out.exists():
        raise typer.BadParameter(f"{out} exists; refusing to overwrite a key")
    pem, pub = generate_operator_key()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    typer.echo(f'[[operators]]\nname = "{name}"\npublic_key = "{pub}"')


def version() -> None:
    """Print the versions of the package and the compiled core."""
    typer.echo(f"pymm {__version__}")
    typer.echo(f"native core {supervisor.native_version()}")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    for fn in (start, stop, status, kill, approve, version):
        app.command()(fn)
    app.add_typer(operator_app, name="operator")
