"""Type stubs for the compiled core, :mod:`pymm._native` (kept in step by mypy.stubtest)."""

import os
from pathlib import Path
from typing import Any, final

__version__: str

class PymmError(Exception): ...
class JournalError(PymmError): ...

@final
class Journal:
    """An open journal: producer handle plus writer thread; close with ``close()`` or ``with``."""

    @staticmethod
    def open(
        dir: str | os.PathLike[str],
        *,
        fsync: str | None = None,
        segment_bytes: int | None = None,
        ring_capacity: int | None = None,
    ) -> Journal: ...
    @property
    def dir(self) -> Path: ...
    @property
    def recovery(self) -> dict[str, Any]: ...
    @property
    def next_seq(self) -> int: ...
    def append_book_delta(
        self,
        *,
        instrument: int,
        side: str,
        price: int,
        qty: int,
        sequence: int,
        ts_event: int,
        ts_recv: int,
    ) -> int: ...
    def append_order_event(
        self,
        *,
        instrument: int,
        action: str,
        order: int,
        side: str,
        price: int,
        qty: int,
        sequence: int,
        ts_event: int,
        ts_recv: int,
        new_ref: int | None = None,
    ) -> int: ...
    def append_trade(
        self,
        *,
        instrument: int,
        price: int,
        qty: int,
        trade_id: int,
        ts_event: int,
        ts_recv: int,
        aggressor: str | None = None,
    ) -> int: ...
    def append(self, kind: str, payload: bytes, *, ts_recv: int, ts_event: int | None = None) -> int: ...
    def stats(self) -> dict[str, int]: ...
    def close(self) -> dict[str, int]: ...
    def __enter__(self) -> Journal: ...
    def __exit__(self, *_args: object) -> bool: ...
    @staticmethod
    def verify(dir: str | os.PathLike[str]) -> dict[str, Any]: ...
    @staticmethod
    def read(dir: str | os.PathLike[str], *, limit: int | None = None) -> list[dict[str, Any]]: ...
