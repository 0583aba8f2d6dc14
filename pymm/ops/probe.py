"""Read-only views of the live host: /proc, /sys, /dev under a root path, binaries and libraries.

Every reader takes its paths under ``Probe.root`` (``/`` on a real host), so tests build fake trees in a
temporary directory; ``which`` and ``find_library`` are injectable for the same reason. Nothing here
writes to the host or guesses a value it could not read.
"""

from __future__ import annotations

import ctypes.util
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Nic", "Probe"]


@dataclass(frozen=True)
class Nic:
    """A network interface and the kernel driver bound to its device (None for virtual ones)."""

    name: str
    driver: str | None


def _find_library(name: str) -> str | None:
    return ctypes.util.find_library(name)


def _run(argv: list[str]) -> str | None:
    """stdout of a read-only command, or None when it is missing, fails or hangs."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


@dataclass(frozen=True)
class Probe:
    """Reads the host under ``root``.

    Attributes:
        root: where ``/`` is; a temporary tree in tests.
        which: finds an executable on PATH (``shutil.which`` on a real host).
        find_library: finds a shared library by short name (``ctypes.util.find_library``).
        run: runs a read-only command (``ethtool -g``) and returns its stdout, None on failure.
    """

    root: Path = Path("/")
    which: Callable[[str], str | None] = field(default=shutil.which)
    find_library: Callable[[str], str | None] = field(default=_find_library)
    run: Callable[[list[str]], str | None] = field(default=_run)

    def path(self, absolute: str) -> Path:
        """``absolute`` (e.g. ``/proc/cmdline``) under the root."""
        return self.root / absolute.lstrip("/")

    def read(self, absolute: str) -> str:
        """The stripped text of a file under the root; raises OSError when it cannot be read."""
        return self.path(absolute).read_text().strip()

    def read_or_none(self, absolute: str) -> str | None:
        """Like :meth:`read`, but None when the file is absent or unreadable."""
        try:
            return self.read(absolute)
        except OSError:
            return None

    def exists(self, absolute: str) -> bool:
        """Whether the path exists under the root."""
        return self.path(absolute).exists()

    def glob(self, absolute_dir: str, pattern: str) -> list[str]:
        """Names in ``absolute_dir`` matching ``pattern``, sorted; empty when the directory is absent."""
        base = self.path(absolute_dir)
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.glob(pattern))

    def cmdline_tokens(self) -> list[str]:
        """The running kernel's command line, split on whitespace."""
        return self.read("/proc/cmdline").split()

    def cpu_flags(self) -> set[str]:
        """CPU feature flags of the first processor in /proc/cpuinfo."""
        for line in self.read("/proc/cpuinfo").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "flags":
                return set(value.split())
        return set()

    def cpuinfo_field(self, name: str) -> str | None:
        """The first value of ``name`` (e.g. ``model name``) in /proc/cpuinfo."""
        for line in self.read("/proc/cpuinfo").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
        return None

    def process_names(self) -> set[str]:
        """``comm`` of every process visible in /proc."""
        names: set[str] = set()
        for pid in self.glob("/proc", "[0-9]*"):
            comm = self.read_or_none(f"/proc/{pid}/comm")
            if comm:
                names.add(comm)
        return names

    def nics(self) -> list[Nic]:
        """Interfaces in /sys/class/net with their device driver (None for virtual interfaces)."""
        out: list[Nic] = []
        for name in self.glob("/sys/class/net", "*"):
            driver_link = self.path(f"/sys/class/net/{name}/device/driver")
            driver = Path(driver_link.readlink()).name if driver_link.is_symlink() else None
            out.append(Nic(name, driver))
        return out

    def interrupts(self) -> dict[str, int]:
        """IRQ action name -> IRQ number, from /proc/interrupts (numbered IRQs only)."""
        found: dict[str, int] = {}
        lines = self.read("/proc/interrupts").splitlines()
        for line in lines[1:]:
            m = re.match(r"\s*(\d+):", line)
            if not m:
                continue
            fields = line.split()
            if len(fields) >= 2:
                found[fields[-1]] = int(m.group(1))
        return found

    def irq_affinity(self, irq: int) -> str | None:
        """``/proc/irq/<irq>/smp_affinity_list``, or None when unreadable."""
        return self.read_or_none(f"/proc/irq/{irq}/smp_affinity_list")

    def ethtool_rings(self, nic: str) -> dict[str, int] | None:
        """Current RX/TX ring sizes from ``ethtool -g``; None when ethtool cannot tell."""
        out = self.run(["ethtool", "-g", nic])
        if out is None or "Current hardware settings:" not in out:
            return None
        current = out.split("Current hardware settings:", 1)[1]
        rings: dict[str, int] = {}
        for line in current.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("RX", "TX") and value.strip().isdigit():
                rings.setdefault(key.strip(), int(value))
        return rings or None

    def ethtool_coalesce(self, nic: str) -> dict[str, str] | None:
        """``adaptive-rx`` (on/off) and ``rx-usecs`` from ``ethtool -c``; None when ethtool cannot tell."""
        out = self.run(["ethtool", "-c", nic])
        if out is None:
            return None
        found: dict[str, str] = {}
        m = re.search(r"Adaptive RX:\s*(\w+)", out)
        if m:
            found["adaptive-rx"] = m.group(1)
        m = re.search(r"^rx-usecs:\s*(\S+)", out, re.MULTILINE)
        if m:
            found["rx-usecs"] = m.group(1)
        return found or None
