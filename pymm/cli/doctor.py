"""``pymm doctor [--json] [--against HOST.yml] [--strict]``: grade this host for trading.

Exit codes: 0 after a report, whatever it says; with ``--strict``, 1 when any fact is ``fail`` or any
setting of the host description drifted; 2 when the host description cannot be read or is invalid.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pymm.ops import doctor as ops_doctor
from pymm.ops import onload as ops_onload
from pymm.ops.doctor import Grade
from pymm.ops.host import DriftStatus, HostDescriptionError, compare, load_host
from pymm.ops.probe import Probe

_MARK = {Grade.PASS: "PASS", Grade.WARN: "WARN", Grade.FAIL: "FAIL"}


def doctor(
    *,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")] = False,
    against: Annotated[
        Path | None,
        typer.Option(help="host description (hw/hosts/*.yml) to compare the live host with; lists drift"),
    ] = None,
    strict: Annotated[bool, typer.Option(help="exit 1 when any fact fails or any setting drifted")] = False,
) -> None:
    """Inspect the host and grade each fact pass/warn/fail for a trading host."""
    probe = Probe()
    drift = None
    if against is not None:
        try:
            host = load_host(against)
        except HostDescriptionError as e:
            if os.environ.get("PYMM_DEBUG") == "1":
                raise
            print(f"pymm doctor: {e}", file=sys.stderr)
            raise typer.Exit(code=2) from None
        drift = compare(host, probe)
    facts = ops_doctor.collect(probe)
    counts = {g.value: sum(f.grade is g for f in facts) for g in Grade}
    drifted = [d for d in drift or [] if d.status is DriftStatus.DRIFT]
    bad = counts[Grade.FAIL.value] > 0 or bool(drifted)
    # Run-time view of the accelerators (cffi): the Onload extensions API and the ef_vi shim's answer
    # for each Solarflare/AMD interface. Informational, not graded (the onload/efvi facts grade).
    bypass = ops_onload.report([n.name for n in probe.nics() if n.driver in ops_doctor.BYPASS_DRIVERS])

    if as_json:
        doc: dict[str, Any] = {
            "facts": ops_doctor.facts_json(facts),
            "summary": counts,
            "against": str(against) if against else None,
            "drift": [json.loads(d.model_dump_json()) for d in drift] if drift is not None else None,
            "bypass": bypass,
        }
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo("pymm doctor")
        for f in facts:
            typer.echo(f"  {_MARK[f.grade]}  {f.name:<14} {f.detail}")
            if f.fix:
                typer.echo(f"        {'':<14} fix: {f.fix}")
        typer.echo(f"  {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
        typer.echo("bypass (run time)")
        for line in _bypass_lines(bypass):
            typer.echo(f"  {line}")
        if drift is not None:
            typer.echo(f"drift against {against}")
            for d in drifted:
                typer.echo(f"  DRIFT {d.key}: expected {d.expected}; live {d.actual}")
            typer.echo(f"  {len(drifted)} drifted, {len(drift) - len(drifted)} as described")
    if strict and bad:
        raise typer.Exit(code=1)


def _bypass_lines(b: dict[str, Any]) -> list[str]:
    o = b["onload"]
    lines = [
        f"onload extensions API: {o['extensions_api'] or 'not found'}; "
        f"onload_is_present: {o['onload_is_present']}"
        + (f"; EF_RX_TIMESTAMPING={o['EF_RX_TIMESTAMPING']}" if o["onload_is_present"] else ""),
        f"onload launcher: {b['launcher'] or 'not on PATH'} (pymm start --onload needs it)",
    ]
    if not b["efvi"]:
        lines.append("ef_vi shim: no sfc interface to query")
    for e in b["efvi"]:
        if e["ok"]:
            caps = ", ".join(k for k, v in e["caps"].items() if v)
            lines.append(f"ef_vi shim on {e['interface']}: {caps}; rx prefix {e['rx_prefix_len']} B")
        else:
            lines.append(f"ef_vi shim on {e['interface']}: {e['error']}")
    return lines


def register(app: typer.Typer) -> None:
    """Add this command to the root app."""
    app.command()(doctor)
