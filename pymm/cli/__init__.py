"""The ``pymm`` command line: a root app plus one module per command group."""

from __future__ import annotations

import os
import sys

import typer

from pymm.cli import bench as bench_cli
from pymm.cli import dashboard, doctor, journal, ledger, research, run, venue
from pymm.cli import replay as replay_cli
from pymm.errors import PymmError

__all__ = ["app", "main"]

app = typer.Typer(
    name="pymm",
    help="pymm: a low-latency market-making appliance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
run.register(app)
doctor.register(app)
ledger.register(app)
journal.register(app)
research.register(app)
replay_cli.register(app)
bench_cli.register(app)
venue.register(app)
dashboard.register(app)


def main() -> None:
    """Entry point: known errors become one stderr line and exit 2; PYMM_DEBUG=1 shows tracebacks."""
    try:
        app()
    except PymmError as e:
        if os.environ.get("PYMM_DEBUG") == "1":
            raise
        print(f"pymm: {e}", file=sys.stderr)
        sys.exit(2)
