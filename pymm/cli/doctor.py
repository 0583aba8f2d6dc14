"""``pymm doctor``: grade this host for trading."""

from __future__ import annotations

import typer


def doctor() -> None:
    """Inspect the host and grade each fact pass/warn/fail for a trading host."""
    typer.echo("pymm doctor: not built yet")
    raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add this command to the root app."""
    app.command()(doctor)
