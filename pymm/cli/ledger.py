"""``pymm ledger``: the audit ledger, i.e. the engine's hash-chained input journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pymm._native import Journal
from pymm.errors import PymmError

__all__ = ["EXPORT_TABLES", "export_parquet", "ledger_app", "register"]

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


EXPORT_TABLES = ("orders", "fills", "params")


def export_parquet(path: Path, out_dir: Path) -> dict[str, int]:
    """Writes ``orders.parquet``, ``fills.parquet`` and ``params.parquet`` from the journal at ``path``
    into ``out_dir``; returns rows per table. The journal is verified as it is read."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    rows = json.loads(Journal.ledger_rows(path))
    schemas = {
        "orders": pa.schema(
            [
                ("seq", pa.uint64()),
                ("ts_recv", pa.timestamp("ns", tz="UTC")),
                ("ts_event", pa.timestamp("ns", tz="UTC")),
                ("kind", pa.string()),
                ("instrument", pa.uint32()),
                ("client_order_id", pa.uint64()),
                ("venue_order_id", pa.uint64()),
                ("side", pa.string()),
                ("order_type", pa.string()),
                ("status", pa.string()),
                ("price", pa.int64()),
                ("qty", pa.int64()),
                ("cum_qty", pa.int64()),
                ("reject_code", pa.int32()),
            ]
        ),
        "fills": pa.schema(
            [
                ("seq", pa.uint64()),
                ("ts_recv", pa.timestamp("ns", tz="UTC")),
                ("ts_event", pa.timestamp("ns", tz="UTC")),
                ("instrument", pa.uint32()),
                ("client_order_id", pa.uint64()),
                ("venue_order_id", pa.uint64()),
                ("trade_id", pa.uint64()),
                ("side", pa.string()),
                ("liquidity", pa.string()),
                ("status", pa.string()),
                ("price", pa.int64()),
                ("qty", pa.int64()),
                ("cum_qty", pa.int64()),
                ("fee", pa.string()),
                ("fee_asset", pa.string()),
            ]
        ),
        "params": pa.schema(
            [
                ("seq", pa.uint64()),
                ("ts_recv", pa.timestamp("ns", tz="UTC")),
                ("version", pa.uint64()),
                ("words", pa.list_(pa.uint64())),
            ]
        ),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in EXPORT_TABLES:
        table = pa.Table.from_pylist(rows[name], schema=schemas[name])
        pq.write_table(table, out_dir / f"{name}.parquet")
        counts[name] = table.num_rows
    return counts


@ledger_app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="the journal directory")],
    *,
    parquet: Annotated[Path, typer.Option("--parquet", help="output directory for the Parquet files")],
) -> None:
    """Write orders (acks and rejects), fills and parameter changes as Parquet (prices in ticks,
    quantities in lots, fees exact as text). Exit 2 if the journal does not verify."""
    try:
        counts = export_parquet(path, parquet)
    except PymmError as e:
        typer.echo(f"pymm: {e}", err=True)
        raise typer.Exit(code=2) from None
    for name, n in counts.items():
        typer.echo(f"{parquet / (name + '.parquet')}: {n} rows")


def register(app: typer.Typer) -> None:
    """Add the ``ledger`` group to the root app."""
    app.add_typer(ledger_app)
