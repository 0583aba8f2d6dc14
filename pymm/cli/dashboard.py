"""``pymm dashboard``: serve the live dashboard for a running instance, on loopback, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer

from pymm.monitor.dashboard import DEFAULT_BIND, DEFAULT_PORT, DashboardError, serve_dashboard

#: ``[state] dir``'s default (ADR 0005); ``run.json`` there names the running instance's control URL.
DEFAULT_STATE_DIR = Path("var/pymm")


def control_url_from_state(state_dir: Path) -> str:
    """The control URL of the instance running on ``state_dir`` (its ``run.json``).

    Raises:
        DashboardError: no ``run.json`` (no instance runs), or it names no control URL.
    """
    run_json = state_dir / "run.json"
    try:
        run = json.loads(run_json.read_text())
    except FileNotFoundError as e:
        raise DashboardError(
            f"no running pymm: {run_json} does not exist (start one, or pass --connect URL)"
        ) from e
    except (OSError, ValueError) as e:
        raise DashboardError(f"cannot read {run_json}: {e}") from e
    url = run.get("control_url") if isinstance(run, dict) else None
    if not isinstance(url, str) or not url:
        raise DashboardError(f"{run_json} has no control_url")
    return url


def dashboard(
    *,
    port: Annotated[int, typer.Option(help="listen port (0: any free)")] = DEFAULT_PORT,
    bind: Annotated[
        str, typer.Option(help="listen address; loopback unless you mean otherwise")
    ] = DEFAULT_BIND,
    connect: Annotated[
        str | None,
        typer.Option(help="control URL of the instance (default: control_url in <state-dir>/run.json)"),
    ] = None,
    state_dir: Annotated[
        Path, typer.Option(envvar="PYMM_STATE_DIR", help="the instance's state directory")
    ] = DEFAULT_STATE_DIR,
) -> None:
    """Serve the read-only live dashboard, proxying the running instance's /api/status."""
    url = connect if connect is not None else control_url_from_state(state_dir)
    if bind not in ("127.0.0.1", "::1", "localhost"):
        typer.echo(f"pymm dashboard: listening on {bind}, beyond this host, without authentication", err=True)

    async def serve() -> None:
        runner, page = await serve_dashboard(url, host=bind, port=port)
        typer.echo(f"dashboard {page}  (status from {url})")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def register(app: typer.Typer) -> None:
    """Add ``pymm dashboard`` to the root app."""
    app.command()(dashboard)
