"""A throwaway ``pymm start`` setup: the default config on a temporary state directory, with
ephemeral control and metrics ports and two operators (``alice``, ``bob``) whose keys are written
beside it. Used by the end-to-end tests and ``bench/kill_confirm.py``."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from pymm.config import DEFAULT_CONFIG
from pymm.runtime.kill import generate_operator_key

__all__ = ["stop_instance", "write_sandbox_config"]


def write_sandbox_config(
    tmp: Path, replace: dict[str, str] | None = None, source: Path = DEFAULT_CONFIG
) -> tuple[Path, dict[str, Path]]:
    """Writes ``tmp/pymm.toml`` (``source``, the default config unless given, each ``{old: new}`` of
    ``replace`` applied first, the state directory in ``tmp/state``, free control and metrics ports)
    and the operators' private keys; returns the config path and ``{operator: key path}``."""
    src = source.read_text()
    for old, new in (replace or {}).items():
        assert old in src, old
        src = src.replace(old, new)
    src = re.sub(r'^dir = "[^"]*"', f'dir = "{tmp / "state"}"', src, count=1, flags=re.MULTILINE)
    src = src.replace("port = 8790", "port = 0").replace("port = 9464", "port = 0")
    src = src.replace('"instruments/', f'"{DEFAULT_CONFIG.parent / "instruments"}/')
    keys = {}
    for name in ("alice", "bob"):
        pem, pub = generate_operator_key()
        p = tmp / f"{name}.pem"
        p.write_bytes(pem)
        p.chmod(0o600)
        keys[name] = p
        src += f'\n[[operators]]\nname = "{name}"\npublic_key = "{pub}"\n'
    cfg = tmp / "pymm.toml"
    cfg.write_text(src)
    return cfg, keys


def stop_instance(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Stops a ``pymm start`` child in order (SIGTERM: cancel all, flush, stop its venue), or kills it
    after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
