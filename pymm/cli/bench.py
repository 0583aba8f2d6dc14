"""``pymm bench ...``: run the benchmarks in ``bench/`` (a Rust crate) and print their reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Annotated, Any

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
    peers: Annotated[
        bool,
        typer.Option(
            "--peers", help="then nautilus_trader and hftbacktest at the Python layer (bench extra)"
        ),
    ] = False,
) -> None:
    """Decode ns/msg and L2 apply ns/update (p50, p99) on the recorded Binance streams."""
    args = (["--json"] if as_json else []) + (["--quick"] if quick else [])
    if not peers:
        raise typer.Exit(code=_cargo_bin("book", args))
    raise typer.Exit(code=_book_with_peers(args, as_json=as_json, quick=quick))


def _book_with_peers(args: list[str], *, as_json: bool, quick: bool) -> int:
    """The Rust book bench, then ``bench/peers/book_python.py``; ratios in the table or under ``peers``."""
    from pymm.cli import _bench_peers

    missing = _bench_peers.missing_peers()
    if missing:
        typer.echo(
            f"pymm: --peers needs {', '.join(missing)} (the bench extra): pip install -e '.[bench]'", err=True
        )
        return 2
    cargo = shutil.which("cargo")
    if cargo is None or not (REPO / "bench" / "Cargo.toml").is_file():
        typer.echo("pymm: bench needs a source checkout with cargo on PATH", err=True)
        return 2
    cmd = [cargo, "run", "--quiet", "--release", "-p", "pymm-bench", "--bin", "book", "--", *args]
    rust = subprocess.run(cmd, cwd=REPO, check=False, capture_output=as_json, text=True)
    if rust.returncode != 0:
        if as_json:
            typer.echo(rust.stderr.strip(), err=True)
        return rust.returncode
    try:
        peers = _bench_peers.run_peers(REPO, passes=1 if quick else None)
    except RuntimeError as e:
        typer.echo(f"pymm: peer bench failed: {e}", err=True)
        return 3
    if as_json:
        report = json.loads(rust.stdout)
        report["peers"] = peers
        typer.echo(json.dumps(report))
    else:
        typer.echo(_bench_peers.format_peers(peers))
    return 0


@bench_cli.command()
def clock(
    *,
    quick: Annotated[
        bool, typer.Option("--quick", help="~1.5 s: proves the harness, not the numbers")
    ] = False,
    seconds: Annotated[
        float | None, typer.Option("--seconds", help="error-sampling time (default 12 s)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="also write clock.json and clock.hlog into this directory")
    ] = None,
) -> None:
    """TSC read cost vs clock_gettime, and calibration error against the kernel clocks (JSON)."""
    args = ["--quick"] if quick else []
    if seconds is not None:
        args += ["--seconds", str(seconds)]
    if out is not None:
        args += ["--out", str(out)]
    raise typer.Exit(code=_cargo_bin("clock", args))


def _plot_latency(report: dict[str, Any], png: Path) -> None:
    """Percentile curves (HdrHistogram style) of the wire-to-wire and internal latencies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    lines = []
    for feed in ("binance", "itch"):
        r = report[feed]
        lines += [
            (f"{feed} pipeline wire-to-wire", r["pipeline"]["wire_to_wire_ns"]),
            (f"{feed} reflector wire-to-wire (floor)", r["reflector"]["wire_to_wire_ns"]),
            (f"{feed} tick-to-trade (internal)", r["pipeline"]["internal_ns"]["tick_to_trade"]),
        ]
    for label, h in lines:
        qs = [q for q, _ in h["curve"] if q < 1.0]
        xs = [1.0 / (1.0 - q) for q in qs]
        ys = [v / 1000.0 for q, v in h["curve"] if q < 1.0]
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xticks([1, 2, 10, 100, 1000, 10000, 100000])
    ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (µs)")
    ax.set_yscale("log")
    ax.set_title(f"pymm tick-to-trade on loopback, {report['messages']} messages")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


@bench_cli.command()
def latency(
    *,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="2,000 messages: proves the harness, not the numbers")
    ] = False,
    messages: Annotated[int | None, typer.Option(help="market-data messages per run")] = None,
    out: Annotated[Path, typer.Option("--out", help="where tick_to_trade.{json,hlog,png} go")] = REPO
    / "bench"
    / "results",
    transport: Annotated[
        list[str] | None,
        typer.Option(
            "--transport",
            help="kernel|afxdp|efvi (repeatable): the ITCH feed over a veth pair between two network "
            "namespaces per receive transport, side by side with kernel sockets (root)",
        ),
    ] = None,
    xdp_mode: Annotated[str, typer.Option(help="AF_XDP attach mode with --transport: auto|drv|skb")] = "auto",
) -> None:
    """Tick-to-trade on loopback (Binance WS over TCP; ITCH multicast to OUCH) vs a reflector floor.

    With ``--transport``: send-to-book latency of the ITCH feed handler over a veth pair, per transport.
    """
    if transport:
        raise typer.Exit(
            code=_veth_latency(transport, xdp_mode, as_json=as_json, quick=quick, messages=messages, out=out)
        )
    args = ["--out", str(out)] + (["--quick"] if quick else [])
    if messages is not None:
        args += ["--messages", str(messages)]
    cargo = shutil.which("cargo")
    if cargo is None or not (REPO / "bench" / "Cargo.toml").is_file():
        typer.echo("pymm: bench needs a source checkout with cargo on PATH", err=True)
        raise typer.Exit(code=2)
    cmd = [cargo, "run", "--quiet", "--release", "-p", "pymm-bench", "--bin", "tick_to_trade", "--"]
    res = subprocess.run([*cmd, *args], cwd=REPO, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        typer.echo(res.stderr.strip() or "tick_to_trade failed", err=True)
        raise typer.Exit(code=res.returncode)
    report = json.loads(res.stdout)
    _plot_latency(report, out / "tick_to_trade.png")
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(f"{'series':<40} {'p50':>9} {'p99':>9} {'p99.9':>9} {'p99.99':>9} {'max':>9}  (ns)")
    for feed in ("binance", "itch"):
        r = report[feed]
        rows = [
            (f"{feed} reflector wire-to-wire (floor)", r["reflector"]["wire_to_wire_ns"]),
            (f"{feed} reflector rx -> send", r["reflector"]["internal_ns"]["tick_to_trade"]),
            (f"{feed} pipeline wire-to-wire", r["pipeline"]["wire_to_wire_ns"]),
            *((f"{feed} pipeline {k}", v) for k, v in r["pipeline"]["internal_ns"].items()),
        ]
        for name, h in rows:
            typer.echo(
                f"{name:<40} {h['p50']:>9} {h['p99']:>9} {h['p99_9']:>9} {h['p99_99']:>9} {h['max']:>9}"
            )
        typer.echo(f"{feed}: wire-to-wire p50 / floor p50 = {r['ratio_w2w_p50_to_floor']:.2f}")
    typer.echo(f"wrote {out}/tick_to_trade.json, .hlog, .png")


def _veth_latency(
    transports: list[str], xdp_mode: str, *, as_json: bool, quick: bool, messages: int | None, out: Path
) -> int:
    """Runs ``bench/src/bin/veth_feed.rs latency``; prints the transports' histograms side by side."""
    kinds = list(dict.fromkeys(t.strip() for t in ",".join(transports).split(",") if t.strip()))
    if "kernel" not in kinds:
        kinds.insert(0, "kernel")  # the peer every bypass is compared with
    args = ["latency", "--transport", ",".join(kinds), "--xdp-mode", xdp_mode] + (
        ["--quick"] if quick else []
    )
    if messages is not None:
        args += ["--messages", str(messages)]
    cargo = shutil.which("cargo")
    if cargo is None or not (REPO / "bench" / "Cargo.toml").is_file():
        typer.echo("pymm: bench needs a source checkout with cargo on PATH", err=True)
        return 2
    cmd = [cargo, "run", "--quiet", "--release", "-p", "pymm-bench", "--bin", "veth_feed", "--", *args]
    res = subprocess.run(cmd, cwd=REPO, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        typer.echo(res.stderr.strip() or "veth_feed failed", err=True)
        return res.returncode
    report = json.loads(res.stdout)
    out.mkdir(parents=True, exist_ok=True)
    (out / "veth_latency.json").write_text(json.dumps(report, indent=1))
    if as_json:
        typer.echo(json.dumps(report))
        return 0
    typer.echo(format_veth_latency(report))
    typer.echo(f"wrote {out}/veth_latency.json")
    return 0


def format_veth_latency(report: dict[str, Any]) -> str:
    """The transports' send-to-book histograms as columns, one row per statistic (ns)."""
    ts = report["transports"]
    kinds = [k for k in ("kernel", "afxdp", "efvi") if k in ts]
    head = f"{'send -> book (ns)':<18}" + "".join(
        f"{k + ' (' + ts[k]['transport']['used'] + ')':>22}" for k in kinds
    )
    lines = [head]
    for stat in ("count", "mean", "p50", "p90", "p99", "p99_9", "max"):
        lines.append(f"{stat:<18}" + "".join(f"{int(ts[k]['send_to_book_ns'][stat]):>22,}" for k in kinds))
    if report.get("afxdp_p50_over_kernel_p50") is not None:
        lines.append(f"afxdp p50 / kernel p50 = {report['afxdp_p50_over_kernel_p50']:.3f}")
    for k in kinds:
        if ts[k]["transport"]["fallback"]:
            lines.append(f"{k}: {ts[k]['transport']['fallback']}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add the ``bench`` group to the root app."""
    app.add_typer(bench_cli)
