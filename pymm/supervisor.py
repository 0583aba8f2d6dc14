"""The supervisor: checks the config, host and core, then runs the instance (:mod:`pymm.runtime`).

``start`` first reports each part as ready or failed; only when every check passed does it bring up
the simulated venue, the engine and the slow loops, and run until ``pymm stop``, SIGTERM or Ctrl-C.
``status``, ``stop``, ``kill`` and ``approve`` talk to the running instance through its control API
(found through the state directory's ``run.json``); ``kill`` works without one, latching the file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pymm.config import Config, parse_cores
from pymm.errors import PymmError
from pymm.instruments import describe, load_instrument
from pymm.runtime.state import NotRunningError, StateDir

__all__ = [
    "PartState",
    "StartReport",
    "approve",
    "check",
    "control_call",
    "kill",
    "native_version",
    "run",
    "status",
    "stop",
]


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
            out.append("pymm start: " + ", ".join(missing) + " not ready (see above). Nothing was started.")
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
    if cfg.itch is not None:
        i = cfg.itch
        lines.append(f"{i.symbol} itch tick {i.tick} locate {i.locate} (on {i.venue})")
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


def check(cfg: Config, *, cores: str | None = None) -> StartReport:
    """Every pre-flight check, part by part (nothing is started)."""
    report = StartReport()
    report.add(
        "config",
        PartState.READY,
        f"{len(cfg.venues)} venue(s), {len(cfg.instruments)} instrument(s)",
    )
    if cfg.risk is None or cfg.quoting is None:
        missing = [n for n, v in (("[risk]", cfg.risk), ("[quoting]", cfg.quoting)) if v is None]
        report.add(
            "limits", PartState.FAILED, f"{' and '.join(missing)} missing: pymm never quotes unbounded"
        )
    _check_cores(report, cfg, cores)
    _check_host(report)
    nv = native_version()
    report.add("native core", PartState.FAILED if nv.startswith("not") else PartState.READY, nv)
    _load_instruments(report, cfg)
    non_sim = [v.name for v in cfg.venues if v.kind.value != "sim"]
    if non_sim:
        report.add(
            "venues",
            PartState.MISSING,
            f"{', '.join(non_sim)}: live venue sessions over TLS are not wired into `pymm start` yet; "
            'use kind = "sim"',
        )
    return report


def run(cfg: Config, *, cores: str | None = None, seed: int = 7, echo: Callable[[str], None] = print) -> int:
    """``pymm start``: check, then run the instance in the foreground until stopped. Returns the exit code."""
    report = check(cfg, cores=cores)
    for line in report.lines():
        echo(line)
    if report.exit_code or any(s is PartState.MISSING for _, s, _ in report.parts):
        return report.exit_code or 1
    from pymm.runtime.instance import Instance
    from pymm.runtime.itch_instance import ItchInstance

    market: type[Instance] = ItchInstance if cfg.itch is not None else Instance

    # A full disk or `ulimit -f` must surface as EFBIG to the journal writer (which then fails closed:
    # no new orders), not kill the process with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    async def main() -> int:
        inst = market(cfg, cores=cores, state=StateDir(cfg.state.dir), seed=seed)
        await inst.start()
        st = inst.status()
        v = st["venue"]
        itch = f"OUCH {v.get('ouch')}  ITCH A {v.get('itch_a')}"
        where = itch if cfg.itch else f"REST {v.get('spot_rest')}"
        echo(f"  {'sim venue':<16} {'ready':<14} {where}")
        echo(f"  {'engine':<16} {'ready':<14} state {st['state']}")
        echo(f"  {'control':<16} {'ready':<14} {inst.control_url}  (dashboard {inst.control_url}/)")
        echo(f"  {'metrics':<16} {'ready' if inst.metrics_url else 'FAILED':<14} {inst.metrics_url}")
        if st["kill"]["latched"]:
            echo(
                f"pymm: HALTED by the kill latch {st['kill']['latch_id']} ({st['kill']['reason']}); "
                "two operators must `pymm approve` to quote"
            )
        echo("pymm: running; `pymm status`, `pymm stop` from another shell")
        try:
            await inst.wait()
        finally:
            summary = await inst.shutdown()
            echo(f"pymm: stopped ({json.dumps(summary, default=str)})")
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0


def control_call(cfg: Config, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call the running instance's control API; :class:`NotRunningError` when none runs."""
    info = StateDir(cfg.state.dir).read_run()
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        info.control_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return dict(json.loads(r.read()))
    except urllib.error.HTTPError as e:
        raise PymmError(f"{path}: {e.code} {e.read().decode(errors='replace')}") from None
    except urllib.error.URLError as e:
        raise NotRunningError(f"pymm does not answer at {info.control_url}: {e.reason}") from None


def status(cfg: Config) -> dict[str, Any]:
    """The running instance's status (ADR 0005 schema)."""
    return control_call(cfg, "GET", "/api/status")


def stop(cfg: Config) -> str:
    """Ask the running instance to stop in order (cancel all, flush, exit 0) and wait for it."""
    try:
        info = StateDir(cfg.state.dir).read_run()
    except NotRunningError as e:
        return str(e)
    control_call(cfg, "POST", "/api/stop", {})
    import time

    deadline = time.monotonic() + 30
    while info.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    return "pymm stopped." if not info.alive() else f"pymm (pid {info.pid}) is still stopping"


def kill(cfg: Config, reason: str) -> dict[str, Any]:
    """Latch the kill switch: through the running instance, or in the state directory when none runs."""
    try:
        return control_call(cfg, "POST", "/api/kill", {"reason": reason})
    except NotRunningError:
        from pymm.runtime.kill import KillLatch

        st = KillLatch(StateDir(cfg.state.dir), cfg.operators).latch(reason)
        return {"latched": True, "latch_id": st.latch_id, "reason": st.reason, "running": False}


def approve(cfg: Config, operator: str, key_path: Path) -> dict[str, Any]:
    """Sign and submit one operator's approval to lift the current latch."""
    from pymm.runtime.kill import Approval, KillLatch, load_private_key, sign_approval

    latch = KillLatch(StateDir(cfg.state.dir), cfg.operators)
    cur = latch.read()
    if not cur.latched or cur.latch_id is None:
        raise PymmError("the kill switch is not latched; nothing to approve")
    a = Approval(operator, cur.latch_id, sign_approval(load_private_key(key_path), cur.latch_id))
    try:
        return control_call(cfg, "POST", "/api/approve", a.__dict__)
    except NotRunningError:
        st, got = latch.approve(a)
        return {"latched": st.latched, "latch_id": st.latch_id, "approvals": [x.operator for x in got]}
