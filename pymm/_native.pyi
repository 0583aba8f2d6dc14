"""Type stubs for the compiled core, :mod:`pymm._native` (kept in step by mypy.stubtest)."""

import os
from typing import Any

__version__: str

class PymmError(Exception): ...

# Order-by-order replay (native/src/bindings/l3.rs).
def replay_lobster(msg_path: str | os.PathLike[str], book_path: str | os.PathLike[str]) -> dict[str, Any]: ...
def replay_itch(
    path: str | os.PathLike[str], expect_book: str | os.PathLike[str] | None = None
) -> dict[str, Any]: ...
def replay_dbn(path: str | os.PathLike[str]) -> dict[str, Any]: ...
def lobster_to_itch(
    msg_path: str | os.PathLike[str],
    book_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    symbol: str = "AMZN",
) -> dict[str, int]: ...
def dbn_records(path: str | os.PathLike[str]) -> dict[str, Any]: ...
