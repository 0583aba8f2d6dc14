"""Crash-recovery harness: run any command, SIGKILL it at seeded points, check the state after each kill.

The issue #11 acceptance test ("kill the engine with SIGKILL at seeded random points during a
simulated-venue run, >= 20 points; after each restart the state digest equals an uninterrupted run's
at the same seq, no order lost or sent twice") is this loop with the engine as the command and a
``check`` that compares ``Journal.replay(dir, at_seq=recovered)["digest"]`` against the reference
run. ``tests/journal/test_kill_harness.py`` drives it with a paced journal writer today.

Only the processes this harness starts are killed, by pid.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["KillRound", "kill_delays", "run_with_kills"]


@dataclass(frozen=True)
class KillRound:
    """One start of the command."""

    index: int
    """0-based round number."""
    delay_s: float
    """Planned time from ``ready`` (or start) to the kill."""
    killed: bool
    """Whether the process was still running and got SIGKILL (False: it exited on its own first)."""
    returncode: int
    """Its exit status (-9 when killed)."""


def kill_delays(seed: int, n: int, lo_s: float, hi_s: float) -> list[float]:
    """``n`` kill delays uniform in [lo_s, hi_s] from ``seed`` (same seed, same points)."""
    rng = random.Random(seed)
    return [rng.uniform(lo_s, hi_s) for _ in range(n)]


def _wait_ready(p: subprocess.Popen[bytes], ready: bytes, timeout_s: float) -> bool:
    """Reads the child's stdout until a line starting with ``ready``; False if it exited first."""
    assert p.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    buf = b""
    try:
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(deadline - time.monotonic(), 0.0)):
                break
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                return False
            buf += chunk
            if any(line.startswith(ready) for line in buf.split(b"\n")):
                return True
    finally:
        sel.close()
    raise TimeoutError(f"no {ready!r} line within {timeout_s} s")


def run_with_kills(
    cmd: Sequence[str],
    *,
    seed: int,
    kills: int,
    lo_s: float,
    hi_s: float,
    ready: bytes | None = None,
    check: Callable[[KillRound], None] | None = None,
    max_rounds: int | None = None,
    timeout_s: float = 120.0,
    env: dict[str, str] | None = None,
) -> list[KillRound]:
    """Starts ``cmd`` repeatedly, killing it with SIGKILL ``delay`` seconds after it printed a line
    starting with ``ready`` (or after start), until ``kills`` kills happened; then runs it once more to
    completion (exit 0 required). ``check(round)`` runs after every round, before the restart.
    Raises if the command exits non-zero on its own, or ``max_rounds`` (default ``2 * kills``) pass
    without enough kills (the command finishes too fast for the delays)."""
    delays = kill_delays(seed, max_rounds or 2 * kills, lo_s, hi_s)
    rounds: list[KillRound] = []
    for i, delay in enumerate(delays):
        if sum(r.killed for r in rounds) >= kills:
            break
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            alive = True if ready is None else _wait_ready(p, ready, timeout_s)
            killed = False
            if alive:
                try:
                    p.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    killed = True
            rc = p.wait(timeout=timeout_s)
            err = p.stderr.read().decode(errors="replace") if p.stderr else ""
        finally:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
            for f in (p.stdout, p.stderr):
                if f is not None:
                    f.close()
        if not killed and rc != 0:
            raise RuntimeError(f"round {i}: {list(cmd)} exited {rc}: {err[-2000:]}")
        r = KillRound(index=i, delay_s=delay, killed=killed, returncode=rc)
        rounds.append(r)
        if check is not None:
            check(r)
    n_killed = sum(r.killed for r in rounds)
    if n_killed < kills:
        raise RuntimeError(f"only {n_killed} of {kills} kills in {len(rounds)} rounds: lower the delays")
    done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"final run exited {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}"
        )
    return rounds
