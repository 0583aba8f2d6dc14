"""``pymm replay PATH...``: replay a recorded capture through the native decoders and books."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pymm.errors import PymmError

__all__ = ["FORMATS", "register", "render_summary", "replay_journal"]

FORMATS = ("binance", "dbn", "lobster", "itch")
BUILT = FORMATS


def render_summary(s: dict[str, Any]) -> list[str]:
    """The human-readable lines of a replay summary."""
    lines = [
        f"replay {s['format']}: {s['path']}",
        f"  messages          {s['messages']:>10,}  ({s['msgs_per_s']:,.0f} msg/s, {s['elapsed_s']:.2f} s)",
    ]
    lines += [f"    {kind:<16}{n:>10,}" for kind, n in s["messages_by_type"].items()]
    for key in ("decode_errors", "sequence_errors", "integrity_errors", "crossed_events", "resyncs"):
        lines.append(f"  {key.replace('_', ' '):<18}{s[key]:>10,}")
    lines.append(f"  applied updates   {s['applied_updates']:>10,}")
    lines.append(f"  checked states    {s['checked_states']:>10,}  mismatched {s['mismatched_states']:,}")
    lines += [f"    {kind:<24}{n:>10,}" for kind, n in s.get("checked_by_kind", {}).items()]
    lines += [f"    mismatch: {m}" for m in s["first_mismatches"]]
    for sym, i in s["instruments"].items():
        state = "synced" if i["synced"] else "STALE"
        bid = f"{i['bid_qty']} @ {i['bid_price']}" if i["bid_price"] else "-"
        ask = f"{i['ask_qty']} @ {i['ask_price']}" if i["ask_price"] else "-"
        lines.append(f"  {sym:<12} {state:<7} bid {bid}  ask {ask}  (u={i['last_update_id']})")
    return lines


def _progress_bar() -> Any:
    """A carriage-return progress line on a terminal's stderr; nothing otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        pct = 100.0 * done / total if total else 100.0
        print(f"\rreplaying {pct:5.1f}%", end="" if done < total else "\n", file=sys.stderr, flush=True)

    return show


def replay_journal(
    path: Path, *, runs: int, at: str | None, expect_digest: str | None, as_json: bool, snapshots: bool
) -> None:
    """``pymm replay --journal``: re-run the journal through ``LedgerState`` ``runs`` times (one from
    the latest snapshot if ``snapshots``) and compare every digest with the first and ``expect_digest``."""
    from pymm.cli.journal import replay_ledger

    reports = []
    for i in range(max(runs, 1)):
        r = replay_ledger(path, at, use_snapshots=snapshots and i == max(runs, 1) - 1)
        r.pop("state")
        reports.append(r)
    digests = [r["digest"] for r in reports]
    want = expect_digest or digests[0]
    mismatched = [i for i, d in enumerate(digests) if d != want]
    if as_json:
        typer.echo(json.dumps({"runs": reports, "digest": digests[0], "mismatched_runs": mismatched}))
    else:
        first = reports[0]
        typer.echo(f"replay journal {path}: seq {first['last_seq']} ({first['applied']:,} records)")
        for i, r in enumerate(reports):
            src = f"from snapshot {r['snapshot']}" if r["snapshot"] else "from genesis"
            mark = "" if r["digest"] == want else "   MISMATCH"
            typer.echo(
                f"  run {i + 1}: digest {r['digest']}  {r['events_per_s']:,.0f} events/s ({src}){mark}"
            )
        if expect_digest:
            typer.echo(f"  expected      {expect_digest}")
        typer.echo(f"  chain head    {first['chain']}")
    raise typer.Exit(code=1 if mismatched else 0)


def replay(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="recorded file(s), gzip or plain; several replay in order as one session"),
    ] = None,
    *,
    journal: Annotated[
        Path | None,
        typer.Option("--journal", help="re-run this input journal through the ledger state instead"),
    ] = None,
    runs: Annotated[int, typer.Option("--runs", help="with --journal: replays to compare")] = 2,
    at: Annotated[str | None, typer.Option("--at", help="with --journal: stop at a seq or time")] = None,
    expect_digest: Annotated[
        str | None, typer.Option("--expect-digest", help="with --journal: the digest every run must give")
    ] = None,
    snapshots: Annotated[
        bool, typer.Option("--snapshots", help="with --journal: the last run starts from the latest snapshot")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="binance | dbn | lobster | itch")] = "binance",
    expect_book: Annotated[
        Path | None, typer.Option("--expect-book", help="LOBSTER orderbook file to check states against")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
) -> None:
    """Replay recorded file(s) through the native decoders and books and summarise them.

    Exit 0 when clean, 1 when the replay found sequence, integrity or oracle mismatches, 2 on errors.
    """
    if journal is not None:
        replay_journal(
            journal, runs=runs, at=at, expect_digest=expect_digest, as_json=as_json, snapshots=snapshots
        )
    if not paths:
        typer.echo("pymm: give recorded file(s) or --journal DIR", err=True)
        raise typer.Exit(code=2)
    if fmt not in FORMATS:
        typer.echo(f"pymm: unknown format {fmt!r} (one of {', '.join(FORMATS)})", err=True)
        raise typer.Exit(code=2)
    if fmt not in BUILT:
        typer.echo(f"pymm: format {fmt} is not built yet", err=True)
        raise typer.Exit(code=2)
    from pymm import _native

    try:
        target: str | list[str | os.PathLike[str]] = (
            str(paths[0]) if len(paths) == 1 else [str(p) for p in paths]
        )
        summary = _native.replay(target, format=fmt, expect_book=expect_book, progress=_progress_bar())
    except (PymmError, OSError) as e:
        typer.echo(f"pymm: {e}", err=True)
        raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        for line in render_summary(summary):
            typer.echo(line)
    bad = summary["sequence_errors"] + summary["integrity_errors"] + summary["mismatched_states"]
    raise typer.Exit(code=1 if bad else 0)


def register(app: typer.Typer) -> None:
    """Add ``replay`` to the root app."""
    app.command()(replay)
