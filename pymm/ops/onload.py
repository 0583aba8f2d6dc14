"""Onload and ef_vi from the supervisor: launcher re-exec, the extensions API, the shim's capabilities.

Three things, none on a hot path:

- :func:`reexec_under_onload` — ``pymm start --onload [--onload-profile latency]`` re-executes the
  process under the ``onload`` launcher (which sets ``LD_PRELOAD=libonload.so`` and the profile's
  ``EF_*`` variables), so the kernel-socket transport is accelerated transparently and receives NIC
  hardware timestamps through the ordinary ``SO_TIMESTAMPING`` control message.
- :class:`OnloadExt` — a cffi (ABI mode) binding to the Onload extensions API, resolved at run time
  from the process itself (``dlopen(NULL)``: the symbols exist only when libonload is preloaded)
  and else from ``libonload_ext.so``: ``onload_is_present``, stack naming, stack options and the
  timestamping request. Absent symbols mean "no Onload", never an error.
- :func:`efvi_shim_caps` — loads pymm's ef_vi shim (``libpymm_efvi.so``, docs/ops/ef_vi.md) and asks
  the driver what an interface can do, without allocating a VI.

``pymm doctor`` reports all three (:func:`report`).
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import cffi

__all__ = [
    "ONLOAD_ALL_THREADS",
    "ONLOAD_SCOPE_GLOBAL",
    "ONLOAD_SCOPE_NOCHANGE",
    "ONLOAD_SCOPE_PROCESS",
    "ONLOAD_SCOPE_THREAD",
    "ONLOAD_SCOPE_USER",
    "ONLOAD_THIS_THREAD",
    "ONLOAD_TIMESTAMPING_FLAG_RX_CPACKET",
    "ONLOAD_TIMESTAMPING_FLAG_RX_NIC",
    "ONLOAD_TIMESTAMPING_FLAG_TX_NIC",
    "REEXEC_MARKER",
    "EfviCaps",
    "OnloadError",
    "OnloadExt",
    "efvi_shim_caps",
    "onload_command",
    "reexec_under_onload",
    "report",
    "start_under_onload",
]

# enum onload_stackname_who / onload_stackname_scope (onload/extensions.h).
ONLOAD_THIS_THREAD = 0
ONLOAD_ALL_THREADS = 1
ONLOAD_SCOPE_NOCHANGE = 0
ONLOAD_SCOPE_THREAD = 1
ONLOAD_SCOPE_PROCESS = 2
ONLOAD_SCOPE_USER = 3
ONLOAD_SCOPE_GLOBAL = 4
# enum onload_timestamping_flags (onload/extensions_timestamping.h).
ONLOAD_TIMESTAMPING_FLAG_TX_NIC = 1 << 0
ONLOAD_TIMESTAMPING_FLAG_RX_NIC = 1 << 1
ONLOAD_TIMESTAMPING_FLAG_RX_CPACKET = 1 << 2

#: Set in the environment of the re-executed process so it does not re-exec again.
REEXEC_MARKER = "PYMM_UNDER_ONLOAD"

_ONLOAD_CDEF = """
int onload_is_present(void);
int onload_set_stackname(int who, int scope, const char* stackname);
int onload_stack_opt_get_int(const char* opt, int64_t* value);
int onload_stack_opt_set_int(const char* opt, int64_t value);
int onload_timestamping_request(int fd, unsigned flags);
"""

# native/shim/pymm_efvi.h, the part the supervisor uses.
_SHIM_CDEF = """
struct pymm_efvi_caps {
  uint32_t abi; uint32_t caps; uint32_t rx_prefix_len; uint32_t rx_buf_count;
  uint32_t rx_buf_size; uint32_t tx_buf_count; uint32_t tx_buf_size; uint32_t arch;
};
int pymm_efvi_abi_version(void);
int pymm_efvi_query(const char* ifname, struct pymm_efvi_caps* out);
"""
_SHIM_ABI = 1
_CAP_NAMES = ("hw_rx_timestamps", "hw_tx_timestamps", "ctpio", "rx_ref_x3", "udp_filter", "tcp_filter")


class OnloadError(RuntimeError):
    """An Onload call failed, or Onload is needed and absent."""


class OnloadExt:
    """The Onload extensions API, bound at run time; every call is safe without Onload.

    Args:
        library: where to look for the symbols: None = this process first (libonload preloaded by
            the ``onload`` launcher), then ``libonload_ext.so``; or a path.
    """

    def __init__(self, library: str | None = None) -> None:
        self._ffi = cffi.FFI()
        self._ffi.cdef(_ONLOAD_CDEF)
        self._libs: list[Any] = []
        self.source: str | None = None
        candidates: list[str | None] = (
            [library] if library else [None, ctypes.util.find_library("onload_ext")]
        )
        for cand in candidates:
            try:
                lib = self._ffi.dlopen(cand)
            except OSError:
                continue
            if self._has(lib, "onload_is_present"):
                self._libs.append(lib)
                self.source = cand or "process (LD_PRELOAD)"
                break

    @staticmethod
    def _has(lib: Any, name: str) -> bool:
        try:
            getattr(lib, name)
        except (AttributeError, NotImplementedError):
            return False
        return True

    def _fn(self, name: str) -> Any | None:
        for lib in self._libs:
            if self._has(lib, name):
                return getattr(lib, name)
        return None

    @property
    def available(self) -> bool:
        """Whether any implementation (libonload or the libonload_ext stub) was found."""
        return bool(self._libs)

    def is_present(self) -> bool:
        """``onload_is_present()``: true only inside a process running under libonload."""
        fn = self._fn("onload_is_present")
        return bool(fn and fn() == 1)

    def set_stackname(
        self, name: str | None, *, scope: int = ONLOAD_SCOPE_GLOBAL, all_threads: bool = True
    ) -> None:
        """Names the Onload stack later sockets join (``None``: do not accelerate later sockets)."""
        fn = self._fn("onload_set_stackname")
        if fn is None or not self.is_present():
            raise OnloadError("onload_set_stackname: not running under Onload")
        who = ONLOAD_ALL_THREADS if all_threads else ONLOAD_THIS_THREAD
        arg = self._ffi.NULL if name is None else name.encode()
        if fn(who, scope, arg) != 0:
            raise OnloadError(f"onload_set_stackname({name!r}) failed: errno {self._ffi.errno}")

    def stack_opt(self, opt: str) -> int | None:
        """A stack option's value (e.g. ``EF_RX_TIMESTAMPING``, ``EF_POLL_USEC``); None without Onload."""
        fn = self._fn("onload_stack_opt_get_int")
        if fn is None or not self.is_present():
            return None
        out = self._ffi.new("int64_t*")
        if fn(opt.encode(), out) != 0:
            return None
        return int(out[0])

    def timestamping_request(self, fd: int, flags: int = ONLOAD_TIMESTAMPING_FLAG_RX_NIC) -> int:
        """``onload_timestamping_request``: 0, or ``-errno`` (``-ENOTTY`` for a socket Onload does not own;
        ``-ENOSYS`` when the call does not exist here)."""
        fn = self._fn("onload_timestamping_request")
        if fn is None:
            return -38  # ENOSYS
        return int(fn(fd, flags))

    def facts(self) -> dict[str, Any]:
        """What ``pymm doctor`` shows."""
        present = self.is_present()
        return {
            "extensions_api": self.source,
            "onload_is_present": present,
            "EF_RX_TIMESTAMPING": self.stack_opt("EF_RX_TIMESTAMPING") if present else None,
            "EF_POLL_USEC": self.stack_opt("EF_POLL_USEC") if present else None,
        }


@dataclass(frozen=True)
class EfviCaps:
    """The ef_vi shim's answer for one interface (``ok`` False with ``error`` when it cannot be used)."""

    shim: str | None
    interface: str
    ok: bool
    error: str | None = None
    caps: dict[str, bool] = field(default_factory=dict)
    rx_prefix_len: int | None = None


def _shim_path(explicit: str | None) -> str:
    return explicit or os.environ.get("PYMM_EFVI_SHIM") or "libpymm_efvi.so"


def efvi_shim_caps(interface: str, shim: str | None = None) -> EfviCaps:
    """Loads the ef_vi shim and queries ``interface`` (driver open + capability query, no VI)."""
    path = _shim_path(shim)
    ffi = cffi.FFI()
    ffi.cdef(_SHIM_CDEF)
    try:
        lib = ffi.dlopen(path)
    except OSError as e:
        return EfviCaps(None, interface, False, f"shim not loadable ({path}): {e}; run `make efvi-shim`")
    abi = int(lib.pymm_efvi_abi_version())
    if abi != _SHIM_ABI:
        return EfviCaps(path, interface, False, f"shim interface v{abi}, pymm speaks v{_SHIM_ABI}")
    out = ffi.new("struct pymm_efvi_caps*")
    rc = int(lib.pymm_efvi_query(interface.encode(), out))
    if rc == -2:  # ENOENT
        return EfviCaps(path, interface, False, "no /dev/sfc_char (Onload drivers not loaded)")
    if rc == -19:  # ENODEV
        return EfviCaps(path, interface, False, f"{interface} is not an ef_vi-capable (sfc) interface")
    if rc < 0:
        return EfviCaps(path, interface, False, f"query failed: {os.strerror(-rc)}")
    caps = {name: bool(out.caps & (1 << i)) for i, name in enumerate(_CAP_NAMES)}
    return EfviCaps(path, interface, True, None, caps, int(out.rx_prefix_len))


def onload_command(argv: Sequence[str], profile: str | None, launcher: str) -> list[str]:
    """The command line that runs ``argv`` under the ``onload`` launcher with ``profile``."""
    cmd = [launcher]
    if profile:
        cmd.append(f"--profile={profile}")
    return [*cmd, *argv]


def reexec_under_onload(profile: str | None = "latency", argv: Sequence[str] | None = None) -> None:
    """Replaces this process with itself under ``onload`` (no return) — unless already under it.

    Returns normally when already re-executed (``PYMM_UNDER_ONLOAD`` set) or when libonload is already
    loaded; raises :class:`OnloadError` with a clear message when the launcher is missing.
    """
    if os.environ.get(REEXEC_MARKER) == "1" or OnloadExt().is_present():
        return
    launcher = shutil.which("onload")
    if launcher is None:
        raise OnloadError(
            "--onload: the `onload` launcher is not on PATH (install Onload: docs/ops/ef_vi.md); "
            "start without --onload to use plain kernel sockets"
        )
    args = list(argv) if argv is not None else [sys.executable, *sys.argv]
    _exec(onload_command(args, profile, launcher), {**os.environ, REEXEC_MARKER: "1"})


def start_under_onload(profile: str) -> None:
    """``pymm start --onload``: re-executes under ``onload``; exits 2 with one clear line when it cannot."""
    import typer

    try:
        reexec_under_onload(profile)
    except OnloadError as e:
        typer.echo(f"pymm start: {e}", err=True)
        raise typer.Exit(code=2) from None


def _exec(cmd: list[str], env: dict[str, str]) -> NoReturn:
    os.execvpe(cmd[0], cmd, env)


def report(interfaces: Sequence[str] = ()) -> dict[str, Any]:
    """Onload extensions facts plus the ef_vi shim's answer for each interface (``pymm doctor``)."""
    out: dict[str, Any] = {"onload": OnloadExt().facts(), "launcher": shutil.which("onload")}
    out["efvi"] = [efvi_shim_caps(i).__dict__ for i in interfaces]
    return out
