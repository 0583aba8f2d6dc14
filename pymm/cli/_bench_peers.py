"""The peer part of ``pymm bench book --peers``: run ``bench/peers/book_python.py``, compute ratios, print.

The peers (nautilus_trader, hftbacktest) come from the optional ``bench`` extra; the script runs in a
subprocess so that neither is imported into the CLI. Ratios are ``peer ns / pymm ns`` per level update
(above 1: pymm is faster), each against the pymm row doing the same work at the same layer: prebuilt
levels (``L2Book.set_levels``) against prebuilt peer objects/arrays, raw bytes (``L2Book.feed``:
decode + sync + apply) against a peer's own parser plus apply.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "PEER_PACKAGES",
    "TARGETS",
    "format_peers",
    "missing_peers",
    "peer_ratios",
    "run_peers",
    "target_verdicts",
]

PEER_PACKAGES = ("nautilus_trader", "hftbacktest")
PYMM_ROW = "pymm_feed"
# Issue #3 at the Python layer: pymm at least this many times faster than the peer's fastest row.
TARGETS = {"nautilus_trader": 3.0, "hftbacktest": 1.5}
_ROW_PEER = {"nautilus_": "nautilus_trader", "hftbacktest_": "hftbacktest"}


def missing_peers() -> list[str]:
    """The peer packages of the ``bench`` extra that are not importable here."""
    return [p for p in PEER_PACKAGES if importlib.util.find_spec(p) is None]


def _peer_of(row: str) -> str | None:
    return next((peer for prefix, peer in _ROW_PEER.items() if row.startswith(prefix)), None)


def peer_ratios(rows: dict[str, dict[str, Any]]) -> dict[str, float]:
    """``row -> peer ns_per_update / pymm ns_per_update`` for every peer row (> 1: pymm faster).

    Each peer row names the pymm row doing the same work at the same layer in ``compare_to``
    (default: ``pymm_feed``).
    """
    out: dict[str, float] = {}
    for name, row in rows.items():
        base = rows.get(row.get("compare_to", PYMM_ROW), {}).get("ns_per_update", 0)
        if _peer_of(name) is not None and base > 0:
            out[name] = round(row["ns_per_update"] / base, 2)
    return out


def target_verdicts(ratios: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per peer: the ratio against its fastest measured row, the target, and whether it is met."""
    out: dict[str, dict[str, Any]] = {}
    for peer, target in TARGETS.items():
        mine = {row: r for row, r in ratios.items() if _peer_of(row) == peer}
        if not mine:
            continue
        row = min(mine, key=mine.__getitem__)
        out[peer] = {"row": row, "ratio": mine[row], "target": target, "met": mine[row] >= target}
    return out


def run_peers(repo: Path, passes: int | None = None, limit: int | None = None) -> dict[str, Any]:
    """Runs the peer script; returns its report with ``ratios`` and ``targets`` added."""
    cmd = [sys.executable, str(repo / "bench" / "peers" / "book_python.py"), "--json"]
    if passes is not None:
        cmd += ["--passes", str(passes)]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    res = subprocess.run(cmd, cwd=repo, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip() or f"book_python.py exited with {res.returncode}")
    report: dict[str, Any] = json.loads(res.stdout)
    report["ratios"] = peer_ratios(report["rows"])
    report["targets"] = target_verdicts(report["ratios"])
    return report


def format_peers(report: dict[str, Any]) -> str:
    """The peers table: ns per level update, ns per message, per-message p50/p99, ratio to pymm."""
    ratios = report.get("ratios", {})
    lines = [
        f"peers at the Python layer: {report['stream']}, {report['timed_diffs']:,} diffs / "
        f"{report['level_updates']:,} level updates, best of {report['passes']} passes; "
        f"load average {report['load_average'][0]:.2f}",
        f"{'row':<22} {'ns/update':>10} {'ns/msg':>10} {'msg p50':>9} {'msg p99':>9} {'peer/pymm':>10}  vs",
    ]
    for name, row in report["rows"].items():
        pm = row.get("per_message_ns", {})
        ratio = ratios.get(name)
        lines.append(
            f"{name:<22} {row['ns_per_update']:>10.1f} {row['ns_per_message']:>10.0f} "
            f"{pm.get('p50', '-'):>9} {pm.get('p99', '-'):>9} "
            f"{'' if ratio is None else f'{ratio:.2f}x':>10}  {row.get('compare_to', '') if ratio else ''}"
        )
    for peer, v in report.get("targets", {}).items():
        verdict = "met" if v["met"] else "NOT met"
        lines.append(f"target >= {v['target']}x {peer}: {verdict} ({v['ratio']:.2f}x vs {v['row']})")
    for peer, why in report.get("skipped", {}).items():
        lines.append(f"{peer}: skipped, {why}")
    versions = ", ".join(f"{k} {v}" for k, v in report.get("versions", {}).items() if v)
    lines.append(f"books agree (best bid/ask price and size): {report.get('books_agree')}; {versions}")
    return "\n".join(lines)
