"""Engine events as numpy structured arrays.

The native engine hands Python one 64-byte record per event through a lock-free ring
(``native/src/engine/events.rs``); :func:`drain` views them as :data:`EVENT_DTYPE` without parsing.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Protocol

import numpy as np

__all__ = ["EVENT_DTYPE", "EventKind", "drain"]


class EventKind(IntEnum):
    """What an event reports (mirrors ``engine::events::EventKind``)."""

    TOP_OF_BOOK = 1
    ORDER_ACCEPTED = 2
    ORDER_FILLED = 3
    ORDER_CANCELED = 4
    ORDER_REJECTED = 5
    ORDER_DENIED = 6
    ORDER_UNKNOWN = 7
    STALE = 8
    KILL = 9


#: One record, little-endian, exactly the Rust ``EngineEvent`` layout (64 bytes).
EVENT_DTYPE = np.dtype(
    [
        ("kind", "<u2"),
        ("side", "u1"),
        ("flags", "u1"),
        ("instrument", "<u4"),
        ("seq", "<u8"),
        ("ts_event", "<u8"),
        ("ts_recv", "<u8"),
        ("price", "<i8"),
        ("qty", "<i8"),
        ("order_id", "<u8"),
        ("aux", "<i8"),
    ]
)
assert EVENT_DTYPE.itemsize == 64


class _Reader(Protocol):
    def drain(self, max_events: int = ...) -> bytes: ...


def drain(reader: _Reader, max_events: int = 65536) -> np.ndarray:
    """Take up to ``max_events`` waiting events as a structured array (empty when none wait)."""
    return np.frombuffer(reader.drain(max_events), dtype=EVENT_DTYPE)
