"""The state directory: what must survive the process (ADR 0005).

Layout under ``[state] dir``::

    run.json          pid and URLs of the running instance (removed on orderly exit)
    kill.json         the kill latch (fsynced before the kill is acknowledged)
    approvals/        one file per operator approval of the current latch
    api_key.toml      the run's venue API key (simulated venue only; mode 0600)
    client_ids.hwm    the client-order-id high-water mark (native, fsynced)
    journal/          the event journal (#11)

Writes that matter are atomic: a temporary file, fsync, rename, fsync of the directory.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymm.errors import PymmError

__all__ = ["NotRunningError", "RunInfo", "StateDir", "atomic_write"]


class NotRunningError(PymmError):
    """No instance runs on this state directory."""


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new file, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@dataclass(frozen=True)
class RunInfo:
    """What ``run.json`` says about the running instance."""

    pid: int
    control_url: str
    metrics_url: str | None
    dashboard_url: str | None
    venue: dict[str, Any]

    def alive(self) -> bool:
        """Whether the recorded process still runs (a zombie, exited but not yet reaped by its
        parent, does not)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _zombie(self.pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits to be reaped (Linux ``/proc``; elsewhere: no)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself contain ") ".
    return stat[stat.rfind(")") + 2 :][:1] == "Z"


class StateDir:
    """One instance's state directory."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).resolve()

    def ensure(self) -> StateDir:
        """Create the directory tree (0700: it holds keys)."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.path / "approvals").mkdir(exist_ok=True, mode=0o700)
        return self

    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

    @property
    def kill_file(self) -> Path:
        return self.path / "kill.json"

    @property
    def approvals_dir(self) -> Path:
        return self.path / "approvals"

    @property
    def journal_dir(self) -> Path:
        return self.path / "journal"

    @property
    def client_id_file(self) -> Path:
        return self.path / "client_ids.hwm"

    @property
    def api_key_file(self) -> Path:
        return self.path / "api_key.toml"

    def write_run(self, info: RunInfo) -> None:
        """Publish the running instance's pid and URLs."""
        atomic_write(self.run_file, json.dumps(info.__dict__, indent=1).encode())

    def clear_run(self) -> None:
        """Remove ``run.json`` (orderly exit)."""
        with contextlib.suppress(FileNotFoundError):
            self.run_file.unlink()

    def read_run(self) -> RunInfo:
        """The running instance, or :class:`NotRunningError` naming why not."""
        try:
            raw = json.loads(self.run_file.read_text())
        except FileNotFoundError:
            raise NotRunningError(f"pymm is not running (no {self.run_file})") from None
        except json.JSONDecodeError as e:
            raise NotRunningError(f"{self.run_file} is unreadable: {e}") from None
        info = RunInfo(**raw)
        if not info.alive():
            raise NotRunningError(f"pymm is not running (pid {info.pid} in {self.run_file} is gone)")
        return info
