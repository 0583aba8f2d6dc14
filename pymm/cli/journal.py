"""``pymm journal inspect PATH --at SEQ|TIME``: time travel through the input journal.

The state printed is ``journal::state::LedgerState`` rebuilt by ``journal::replay`` (latest usable
snapshot at or before the point, then the journal tail): books, our orders, positions and cash,
the kill latch and pause, the parameter block and the client-id high-water mark.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from pymm._native import Journal
from pymm.errors import PymmError

__all__ = ["inspect_lines", "journal_app", "parse_at", "register", "replay_ledger"]

journal_app = typer.Typer(
    name="journal",
    help="The engine's input journal: time travel (inspect) over the audit ledger.",
    no_args_is_help=True,
)


def parse_at(at: str | None) -> tuple[int | None, int | None]:
    """``--at`` as (seq, ts_ns): an integer below 10**15 is a seq, a larger one nanoseconds since the
    epoch, anything else an ISO-8601 time (UTC if no zone is given)."""
    if at is None:
        return None, None
    text = at.strip()
    if text.isdigit():
        n = int(text)
        return (n, None) if n < 10**15 else (None, n)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"--at {at!r}: a seq, epoch nanoseconds or an ISO-8601 time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return None, int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1_000


def replay_ledger(path: Path, at: str | None, *, use_snapshots: bool = True) -> dict[str, Any]:
    """Replays ``path`` to ``at`` and returns the report with ``state`` (the decoded state JSON)."""
    seq, ts = parse_at(at)
    try:
        report = Journal.replay(path, at_seq=seq, at_ts=ts, use_snapshots=use_snapshots)
    except PymmError as e:
        typer.echo(f"pymm: {e}", err=True)
        raise typer.Exit(code=2) from None
    report = dict(report)
    report["state"] = json.loads(report.pop("state_json"))
    report["skipped"] = [{**s, "path": str(s["path"])} for s in report["skipped"]]
    return report


def _ts(ns: int) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _book_lines(iid: str, inst: dict[str, Any], depth: int) -> list[str]:
    bids = sorted(((int(p), q) for p, q in inst["bids"].items()), reverse=True)[:depth]
    asks = sorted((int(p), q) for p, q in inst["asks"].items())[:depth]
    l3_bid: dict[int, int] = {}
    l3_ask: dict[int, int] = {}
    for o in inst["l3"].values():
        side = l3_bid if o["buy"] else l3_ask
        side[o["price"]] = side.get(o["price"], 0) + o["qty"]
    lines = [f"  instrument {iid}"]
    if bids or asks:
        lines.append(
            f"    L2 ({len(inst['bids'])} bid / {len(inst['asks'])} ask levels)   bid qty @ price | ask"
        )
        for i in range(max(len(bids), len(asks))):
            b = f"{bids[i][1]:>10} @ {bids[i][0]:<10}" if i < len(bids) else " " * 23
            a = f"{asks[i][0]:>10} x {asks[i][1]:<10}" if i < len(asks) else ""
            lines.append(f"      {b} | {a}")
    if inst["l3"]:
        tb = sorted(l3_bid.items(), reverse=True)[:depth]
        ta = sorted(l3_ask.items())[:depth]
        lines.append(
            f"    L3 ({len(inst['l3'])} orders)   "
            f"best bid {tb[0] if tb else '-'}  best ask {ta[0] if ta else '-'}"
        )
    t = inst["last_trade"]
    if t:
        lines.append(
            f"    last trade {t['qty']} @ {t['price']} (id {t['trade_id']}), {inst['trades']} trades"
        )
    p = inst["position"]
    if p["fills"]:
        fees = ", ".join(f"{int(v) / 1e18:g} {a}" for a, v in p["fees_e18"].items()) or "0"
        lines.append(
            f"    position {p['qty']} lots, cash {p['cash']} tick*lots, {p['fills']} fills "
            f"(bought {p['bought']}, sold {p['sold']}), fees {fees}"
        )
    return lines


def inspect_lines(path: Path, r: dict[str, Any], depth: int = 5) -> list[str]:
    """The human-readable state at the replay point."""
    s = r["state"]
    src = f"snapshot {r['snapshot']} + {r['applied']} records" if r["snapshot"] else f"{r['applied']} records"
    lines = [
        f"journal {path} at seq {s['last_seq']} ({_ts(s['last_ts'])}), from {src}",
        f"  digest {r['digest']}",
        f"  chain  {r['chain']}",
    ]
    lines += [f"  skipped snapshot {k['seq']}: {k['reason']}" for k in r["skipped"]]
    k = s["kill"]
    kill = (
        f"LATCHED (id {k['latch_id']}, since {_ts(k['since'])}: {k['reason']!r})"
        if k["latched"]
        else "not latched"
    )
    lines.append(f"  kill     {kill}{'  PAUSED' if k['paused'] else ''}")
    p = s["params"]
    lines.append(f"  params   version {p['version']} ({p['pushes']} pushes, seq {p['seq']}): {p['words']}")
    lines.append(f"  client-id high-water mark {s['client_id_hwm']}")
    live = {cid: o for cid, o in s["orders"].items() if o["status"] in ("NEW", "PARTIALLY_FILLED", "UNKNOWN")}
    lines.append(f"  orders   {len(s['orders'])} known, {len(live)} live")
    for cid, o in list(live.items())[:20]:
        lines.append(
            f"    {cid:>8} {o['side']:<4} {o['qty']} @ {o['price']} filled {o['cum_qty']} {o['status']} "
            f"(instrument {o['instrument']}, venue id {o['venue_order_id']})"
        )
    for iid, inst in s["instruments"].items():
        lines += _book_lines(iid, inst, depth)
    counts = ", ".join(f"{k} {v}" for k, v in s["counts"].items())
    lines.append(f"  records  {counts}")
    bad = {k: v for k, v in s["anomalies"].items() if v}
    if bad:
        lines.append(f"  anomalies {bad}")
    return lines


@journal_app.command("inspect")
def inspect(
    path: Annotated[Path, typer.Argument(help="the journal directory")],
    *,
    at: Annotated[
        str | None,
        typer.Option("--at", help="a seq, epoch nanoseconds or an ISO-8601 time; default: the end"),
    ] = None,
    depth: Annotated[int, typer.Option("--depth", help="book levels per side")] = 5,
    no_snapshots: Annotated[
        bool, typer.Option("--no-snapshots", help="replay from genesis, ignoring snapshot files")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report and full state as JSON")] = False,
) -> None:
    """Print book, orders, positions, kill latch and parameters as of seq or time ``--at``."""
    r = replay_ledger(path, at, use_snapshots=not no_snapshots)
    if as_json:
        typer.echo(json.dumps(r, indent=2, sort_keys=True))
    else:
        for line in inspect_lines(path, r, depth):
            typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add the ``journal`` group to the root app."""
    app.add_typer(journal_app)
