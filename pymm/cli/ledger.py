"""``pymm ledger``: the audit ledger, i.e. the engine's hash-chained input journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pymm._native import Journal

__all__ = ["ledger_app", "register"]

ledger_app = typer.Typer(
    name="ledger",
    help="The audit ledger: the engine's append-only, hash-chained input journal.",
    no_args_is_help=True,
)


def _lines(path: Path, report: dict[str, Any]) -> list[str]:
    """The human-readable verify report."""
    seqs = f" (seq {report['first_seq']}..{report['last_seq']})" if report["last_seq"] is not None else ""
    lines = [
        f"ledger {path}: {'intact' if report['intact'] else 'BAD RECORD'}",
        f"  records    {report['records']}{seqs}",
        f"  segments   {report['segments']}",
        f"  head hash  {report['head_hash']}",
    ]
    bad = report["first_bad"]
    if bad is not None:
        lines.append(
            f"  first bad  seq {bad['seq']} in {Path(bad['segment']).name} at offset {bad['offset']}: "
            f"{bad['reason']}"
        )
        if bad["torn_tail"]:
            lines.append("             (a torn tail: opening the journal for append cuts it)")
    return lines


@ledger_app.command("verify")
def verify(
    path: Annotated[Path, typer.Argument(help="the journal directory")],
    *,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Check every record's length, crc32c, seq and hash chain; exit 1 at the first bad record."""
    report = Journal.verify(path)
    if as_json:
        bad = report["first_bad"]
        if bad is not None:
            report = {**report, "first_bad": {**bad, "segment": str(bad["segment"])}}
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        for line in _lines(path, report):
            typer.echo(line)
    raise typer.Exit(code=0 if report["intact"] else 1)


def register(app: typer.Typer) -> None:
    """Add the ``ledger`` group to the root app."""
    app.add_typer(ledger_app)
