"""SIGKILL at 20 seeded points while a paced writer appends a seeded stream: after each kill the
journal recovers (torn tail cut) to a prefix of the uninterrupted journal — same ledger digest at the
same seq — and the finished journal is identical to the uninterrupted one (same chain head: no record
lost, none written twice). The engine's acceptance test reuses ``pymm.testing.kill_harness`` with the
engine as the command."""

from __future__ import annotations

import sys
from pathlib import Path

from pymm._native import Journal
from pymm.testing.kill_harness import KillRound, run_with_kills

SEED = 20261202
N = 200_000

WRITER = r"""
import sys
from pymm._native import Journal
path, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with Journal.open(path, fsync="every_n:256", segment_bytes=1 << 20) as j:
    done = j.next_seq - 1
    print("ready", done, flush=True)
    j.append_synthetic(seed, n, skip=done, pace_every=50, pace_us=2000)
"""


def test_sigkill_at_seeded_points_recovers_a_prefix_then_the_same_journal(tmp_path: Path) -> None:
    ref = tmp_path / "reference"
    with Journal.open(ref, segment_bytes=1 << 20) as j:
        j.append_synthetic(SEED, N)
    ref_final = Journal.replay(ref)
    live = tmp_path / "live"
    seen: list[int] = []

    def check(r: KillRound) -> None:
        with Journal.open(live) as j:  # recovery: cuts a torn tail
            recovered = j.next_seq - 1
        assert Journal.verify(live)["intact"]
        got = Journal.replay(live)
        assert got["last_seq"] == recovered
        want = Journal.replay(ref, at_seq=recovered)
        assert (got["digest"], got["chain"]) == (want["digest"], want["chain"]), r
        seen.append(recovered)

    rounds = run_with_kills(
        [sys.executable, "-c", WRITER, str(live), str(SEED), str(N)],
        seed=SEED,
        kills=20,
        lo_s=0.02,
        hi_s=0.25,
        ready=b"ready",
        check=check,
    )
    assert sum(r.killed for r in rounds) == 20
    assert seen == sorted(seen) and len(set(seen)) > 10, seen
    final = Journal.replay(live)
    assert (final["last_seq"], final["digest"], final["chain"]) == (
        N,
        ref_final["digest"],
        ref_final["chain"],
    )
