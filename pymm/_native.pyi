"""Type stubs for the compiled core, :mod:`pymm._native` (kept in step by mypy.stubtest)."""

from collections.abc import Callable
from os import PathLike
from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str

class PymmError(Exception): ...

# --- feed / book -------------------------------------------------------------------------------

def replay(
    path: str | PathLike[str] | list[str | PathLike[str]],
    format: str = "binance",
    expect_book: str | PathLike[str] | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> dict[str, Any]:
    """Replay a capture (or several files as one session) through the native books; return the summary."""

@final
class L2Book:
    """One instrument's L2 book kept in sync with Binance diff/snapshot messages."""

    def __new__(cls, tick_size: str, lot_size: str, rule: str = "spot") -> L2Book: ...
    def feed(self, message: bytes) -> str: ...
    def top(self, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]: ...
    def to_numpy(self, n: int) -> npt.NDArray[np.void]: ...
    @property
    def stale(self) -> bool: ...
    @property
    def needs_snapshot(self) -> bool: ...
    @property
    def last_update_id(self) -> int: ...
    @property
    def tick_size(self) -> str: ...
    @property
    def lot_size(self) -> str: ...
    def counters(self) -> dict[str, int]: ...
