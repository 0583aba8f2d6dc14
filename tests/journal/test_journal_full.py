"""Fail closed: a journal that cannot be written (file-size limit, ``ulimit -f``) flips the health flag,
counts the error with its errno, refuses further appends, and leaves a journal that reopens (torn tail
cut) and verifies. Real: a child process runs under ``RLIMIT_FSIZE`` with ``SIGXFSZ`` ignored, so the
kernel answers ``write`` with ``EFBIG`` exactly as it would for the engine."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

from pymm._native import Journal

CHILD = r"""
import json, resource, signal, sys
from pymm._native import Journal
from pymm.errors import JournalError

path, limit = sys.argv[1], int(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # as pymm start does: EFBIG instead of death
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
out = {}
j = Journal.open(path, fsync="never", segment_bytes=1 << 20)
out["health_before"] = j.health()
try:
    j.append_synthetic(1, 200_000)
    out["append_error"] = None
except JournalError as e:
    out["append_error"] = str(e)
out["health_after"] = j.health()
out["stats"] = j.stats()
try:
    j.close()
    out["close_error"] = None
except JournalError as e:
    out["close_error"] = str(e)
print(json.dumps(out))
"""


def test_file_size_limit_fails_closed_and_recovers(tmp_path: Path) -> None:
    limit = 64 << 10
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["health_before"] == {"ok": True, "failed": False, "io_errors": 0, "errno": 0}
    assert out["health_after"] == {"ok": False, "failed": True, "io_errors": 1, "errno": errno.EFBIG}
    assert out["append_error"] is not None and "writer failed" in out["append_error"]
    assert out["close_error"] is not None and "File too large" in out["close_error"]
    # Nothing beyond the limit reached the disk; what did is a verified prefix plus maybe a torn record.
    segs = sorted(tmp_path.glob("journal-*.seg"))
    assert len(segs) == 1 and segs[0].stat().st_size <= limit
    report = Journal.verify(tmp_path)
    assert report["intact"] or report["first_bad"]["torn_tail"], report
    good = report["records"]
    assert 0 < good < out["stats"]["appended"]
    # Without the limit: reopening cuts the torn tail, appending continues after the last whole record.
    with Journal.open(tmp_path) as j:
        assert j.next_seq == good + 1
        j.append_synthetic(2, 10)
    assert Journal.verify(tmp_path)["intact"]
    assert Journal.verify(tmp_path)["records"] == good + 10
