"""``pymm research ...``: reproductions of published results, our numbers beside the paper's."""

from __future__ import annotations

import json
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


def register(app: typer.Typer) -> None:
    """Add the ``research`` command group to the root app."""
    app.add_typer(research_cli)
