"""``pymm bench ...``: run the benchmarks in ``bench/`` (a Rust crate) and print their reports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["bench_cli", "register"]

REPO = Path(__file__).resolve().parents[2]

bench_cli = typer.Typer(name="bench", help="Benchmarks (bench/README.md).", no_args_is_help=True)


def _cargo_bin(name: str, args: list[str]) -> int:
    """Builds and runs ``bench``'s binary ``name`` in release mode; returns its exit code."""
    cargo = shutil.which("cargo")
    if cargo is None or not (REPO / "bench" / "Cargo.toml").is_file():
        typer.echo("pymm: bench needs a source checkout with cargo on PATH", err=True)
        return 2
    cmd = [cargo, "run", "--quiet", "--release", "-p", "pymm-bench", "--bin", name, "--", *args]
    return subprocess.run(cmd, cwd=REPO, check=False).returncode


@bench_cli.command()
def book(
    *,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="one pass: proves the harness, not the numbers")
    ] = False,
) -> None:
    """Decode ns/msg and L2 apply ns/update (p50, p99) on the recorded Binance streams."""
    args = (["--json"] if as_json else []) + (["--quick"] if quick else [])
    raise typer.Exit(code=_cargo_bin("book", args))


def register(app: typer.Typer) -> None:
    """Add the ``bench`` group to the root app."""
    app.add_typer(bench_cli)
