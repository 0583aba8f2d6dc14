"""The supervisor: loads the config, checks the host, builds and starts the native engine.

It reports each part as ready, failed, or not built yet. Nothing is ever faked: a part that does
not exist yet is said to be missing, and no activity is simulated in its place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum

from pymm.config import Config, parse_cores
from pymm.errors import PymmError
from pymm.instruments import describe, load_instrument

__all__ = ["PartState", "StartReport", "native_version", "start", "status", "stop"]


class PartState(StrEnum):
    """How a part of the appliance stands after ``pymm start``."""

    READY = "ready"
    FAILED = "FAILED"
    MISSING = "not built yet"
    UNWIRED = "not wired yet"


@dataclass
class StartReport:
    """What ``pymm start`` found and did, part by part."""

    parts: list[tuple[str, PartState, str]] = field(default_factory=list)

    def add(self, name: str, state: PartState, detail: str) -> None:
        """Record one part's state with a one-line detail."""
        self.parts.append((name, state, detail))

    @property
    def exit_code(self) -> int:
        """1 when a part that exists failed, else 0."""
        return 1 if any(s is PartState.FAILED for _, s, _ in self.parts) else 0

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        out = [f"  {name:<16} {state.value:<14} {detail}" for name, state, detail in self.parts]
        missing = [n for n, s, _ in self.parts if s in (PartState.MISSING, PartState.UNWIRED)]
        if self.exit_code:
            out.append("pymm start: a part failed; nothing was started.")
        elif missing:
            out.append(
                "pymm start: checks passed, but pymm cannot trade yet: "
                + ", ".join(missing)
                + " not ready (see above). Nothing was started."
            )
        return ["pymm start", *out]


def native_version() -> str:
    """The compiled core's version, or why it cannot be loaded."""
    try:
        from pymm import _native
    except ImportError as e:
        return f"not loaded ({e})"
    return str(_native.__version__)


def _check_cores(report: StartReport, cfg: Config, cores: str | None) -> None:
    spec = cores if cores is not None else cfg.engine.cores
    allowed = sorted(os.sched_getaffinity(0))
    if spec is None:
        report.add("cores", PartState.READY, f"default: all {len(allowed)} allowed cores {allowed}")
        return
    try:
        wanted = parse_cores(spec)
    except ValueError as e:
        report.add("cores", PartState.FAILED, f"--cores {spec!r}: {e}")
        return
    absent = [c for c in wanted if c not in allowed]
    if absent:
        report.add("cores", PartState.FAILED, f"cores {absent} are not available here (allowed: {allowed})")
    else:
        report.add("cores", PartState.READY, f"{list(wanted)}")


def _load_instruments(report: StartReport, cfg: Config) -> None:
    """Load every configured instrument through the native master; one line for all of them."""
    lines = []
    for ref in cfg.instruments:
        try:
            lines.append(describe(load_instrument(ref)))
        except ImportError as e:
            report.add("instruments", PartState.FAILED, f"native core not loaded ({e})")
            return
        except PymmError as e:
            report.add("instruments", PartState.FAILED, f"{ref.market} {ref.symbol}: {e}")
            return
    report.add("instruments", PartState.READY, "; ".join(lines))


def _check_host(report: StartReport) -> None:
    """Grade the host like ``pymm doctor``; a trading-host shortfall is reported, not fatal here."""
    from pymm.ops.doctor import Grade, collect

    facts = collect()
    fails = [f.name for f in facts if f.grade is Grade.FAIL]
    warns = [f.name for f in facts if f.grade is Grade.WARN]
    passed = len(facts) - len(fails) - len(warns)
    detail = f"{passed} pass, {len(warns)} warn, {len(fails)} fail"
    if fails:
        detail += f" ({', '.join(fails)}): not a tuned trading host; see `pymm doctor`"
    report.add("host", PartState.READY, detail)


def start(cfg: Config, *, cores: str | None = None) -> StartReport:
    """Run every part that exists, in order, and report what is not built yet."""
    report = StartReport()
    report.add(
        "config",
        PartState.READY,
        f"{len(cfg.venues)} venue(s), {len(cfg.instruments)} instrument(s)",
    )
    _check_cores(report, cfg, cores)
    _check_host(report)
    nv = native_version()
    report.add("native core", PartState.FAILED if nv.startswith("not") else PartState.READY, nv)
    _load_instruments(report, cfg)
    report.add(
        "sim venue",
        PartState.UNWIRED,
        "issue #5: `pymm venue` serves the Binance spot front; `pymm start` does not run it yet",
    )
    report.add(
        "engine",
        PartState.MISSING,
        "issue #6: quoter, risk and pipelines exist; venue sessions and the supervisor loop do not",
    )
    return report


def status() -> str:
    """Whether an engine runs. None can until the engine exists."""
    return "pymm is not running (the trading engine is not built yet)."


def stop() -> str:
    """Stop the engine if one runs."""
    return "pymm is not running; nothing to stop."
