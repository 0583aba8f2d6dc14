"""``pymm start | stop | status | version``: the supervisor's lifecycle commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pymm import __version__, supervisor
from pymm.config import load_config
from pymm.ops.onload import start_under_onload as onload_start

CONFIG_OPT = typer.Option("--config", "-c", envvar="PYMM_CONFIG", help="config file (TOML)")


def start(
    *,
    config: Annotated[Path | None, CONFIG_OPT] = None,
    cores: Annotated[str | None, typer.Option(help="cores for the hot threads, e.g. '2-5'")] = None,
    onload: Annotated[bool, typer.Option("--onload", help="re-execute under the Onload launcher")] = False,
    onload_profile: Annotated[str, typer.Option(help="Onload profile for --onload")] = "latency",
) -> None:
    """Start pymm on a config (default: the embedded simulated venue)."""
    if onload:
        onload_start(onload_profile)
    cfg = load_config(config)
    report = supervisor.start(cfg, cores=cores)
    for line in report.lines():
        typer.echo(line)
    raise typer.Exit(code=report.exit_code)


def stop() -> None:
    """Stop a running pymm (pulls quotes first)."""
    typer.echo(supervisor.stop())


def status() -> None:
    """Say whether pymm runs, and what."""
    typer.echo(supervisor.status())


def version() -> None:
    """Print the versions of the package and the compiled core."""
    typer.echo(f"pymm {__version__}")
    typer.echo(f"native core {supervisor.native_version()}")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    for fn in (start, stop, status, version):
        app.command()(fn)
