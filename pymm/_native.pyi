"""Type stubs for the compiled core, :mod:`pymm._native` (kept in step by mypy.stubtest)."""

import os
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "Clock",
    "ClockError",
    "EventReader",
    "EventWriter",
    "Instrument",
    "InstrumentError",
    "InstrumentMaster",
    "Journal",
    "JournalError",
    "L2Book",
    "LatencyHistogram",
    "LatencyTracker",
    "PymmError",
    "ScaleError",
    "Side",
    "VenueClockOffset",
    "VenueRejectError",
    "__version__",
    "dbn_records",
    "event_ring_pair",
    "lobster_to_itch",
    "replay",
    "replay_dbn",
    "replay_itch",
    "replay_lobster",
    "validate_order",
]

__version__: str

class PymmError(Exception): ...

class ScaleError(PymmError):
    """A decimal was malformed, too precise for its scale, or off the instrument's grid."""

class InstrumentError(PymmError):
    """Instrument definitions (exchangeInfo JSON or TOML) were refused."""

class VenueRejectError(PymmError):
    """The venue would reject the order: ``args == (code, msg)``."""

    code: int
    msg: str

@final
class Side:
    """Buy or sell (a PyO3 enum: compares equal to its int value)."""

    BUY: ClassVar[Side]
    SELL: ClassVar[Side]
    def __int__(self) -> int: ...

@final
class Instrument:
    """One instrument, read-only. Decimal values are canonical strings ("0.00001")."""

    @property
    def id(self) -> int: ...
    @property
    def venue(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def market(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def base_asset(self) -> str: ...
    @property
    def quote_asset(self) -> str: ...
    @property
    def tick_size(self) -> str: ...
    @property
    def step_size(self) -> str: ...
    @property
    def price_precision(self) -> int: ...
    @property
    def qty_precision(self) -> int: ...
    @property
    def order_types(self) -> list[str]: ...
    @property
    def time_in_force(self) -> list[str]: ...
    @property
    def min_price(self) -> str | None: ...
    @property
    def max_price(self) -> str | None: ...
    @property
    def min_qty(self) -> str | None: ...
    @property
    def max_qty(self) -> str | None: ...
    @property
    def min_notional(self) -> str | None: ...
    @property
    def max_num_orders(self) -> int | None: ...
    @property
    def contract_type(self) -> str | None: ...
    @property
    def margin_asset(self) -> str | None: ...
    def price_from_str(self, text: str) -> int:
        """Exact price text to ticks; raises ScaleError when off the grid or malformed."""
    def price_to_str(self, ticks: int) -> str:
        """Ticks to canonical price text."""
    def qty_from_str(self, text: str) -> int:
        """Exact quantity text to lots; raises ScaleError when off the grid or malformed."""
    def qty_to_str(self, lots: int) -> str:
        """Lots to canonical quantity text."""

@final
class InstrumentMaster:
    """Every instrument an engine knows; ids are indexes in load order."""

    def __init__(self) -> None: ...
    @staticmethod
    def from_exchange_info(json: str, market: str, venue: str = "binance") -> InstrumentMaster:
        """Every symbol of a Binance exchangeInfo document; market is 'spot' or 'usdm'."""
    @staticmethod
    def from_toml(source: str | os.PathLike[str]) -> InstrumentMaster:
        """One instrument from a TOML file path, or TOML text (a str containing a newline)."""
    def extend(self, other: InstrumentMaster) -> None: ...
    def lookup(self, symbol: str, market: str) -> int | None: ...
    def get(self, symbol: str, market: str) -> Instrument: ...
    def instruments(self) -> list[Instrument]: ...
    def __len__(self) -> int: ...

def validate_order(
    instrument: Instrument,
    side: Side,
    order_type: str,
    price: str | int | None,
    quantity: str | int | None,
    *,
    time_in_force: str | None = None,
    reduce_only: bool = False,
    reference_price: str | None = None,
    open_orders: int = 0,
) -> None:
    """Raise VenueRejectError(code, msg) exactly when the venue would reject the order.

    Prices and quantities are venue text ("0.16912") or whole ticks/lots (int).
    """

@final
class EventReader:
    def drain(self, max_events: int = 65536) -> bytes: ...
    def __len__(self) -> int: ...

@final
class EventWriter:
    def emit(
        self,
        kind: int,
        instrument: int,
        side: int | None,
        seq: int,
        ts_event: int,
        ts_recv: int,
        price: int,
        qty: int,
        order_id: int,
        aux: int,
    ) -> bool: ...
    @property
    def dropped(self) -> int: ...

def event_ring_pair(capacity: int) -> tuple[EventWriter, EventReader]: ...

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

# --- time --------------------------------------------------------------------------------------

class ClockError(PymmError): ...

@final
class Clock:
    """The TSC clock (or its ``clock_gettime(CLOCK_MONOTONIC_RAW)`` fallback), calibrated at construction."""

    def __new__(
        cls, source: str = "auto", calibration_s: float | None = None, samples: int | None = None
    ) -> Clock: ...
    def now_ns(self) -> int: ...
    def realtime_ns(self) -> int: ...
    def ticks(self) -> int: ...
    def ticks_to_ns(self, ticks: int) -> int: ...
    def ticks_to_realtime_ns(self, ticks: int) -> int: ...
    @property
    def tsc_hz(self) -> float: ...
    @property
    def is_invariant(self) -> bool: ...
    @property
    def source(self) -> str: ...
    @property
    def generation(self) -> int: ...
    def tsc_support(self) -> dict[str, bool]: ...
    def calibrate(self, duration_s: float = 0.2, samples: int = 32) -> dict[str, float | int | bool]: ...
    def start_recalibration(self, interval_s: float = 1.0) -> None: ...
    def stop_recalibration(self) -> int: ...

@final
class VenueClockOffset:
    """Minimum-delay estimate of a venue clock's offset from (venue event time, our receive time)."""

    def __new__(cls, window: int = 1024, latency_floor_ns: int = 0) -> VenueClockOffset: ...
    def update(self, ts_event_ns: int, ts_recv_ns: int) -> dict[str, int] | None: ...
    def estimate(self) -> dict[str, int] | None: ...
    @property
    def offset_ns(self) -> int | None: ...
    def to_local(self, ts_event_ns: int) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def window(self) -> int: ...

@final
class LatencyHistogram:
    """A read-only snapshot of one latency stage (nanoseconds)."""

    @property
    def count(self) -> int: ...
    @property
    def min(self) -> int: ...
    @property
    def max(self) -> int: ...
    @property
    def mean(self) -> float: ...
    @property
    def clamped(self) -> int: ...
    def value_at_percentile(self, p: float) -> int: ...
    def percentiles(self) -> dict[str, int]: ...
    def encode(self) -> bytes: ...
    def __len__(self) -> int: ...

@final
class LatencyTracker:
    """Per-stage HDR latency histograms (nanoseconds) with percentile tables and an .hlog interval log."""

    def __new__(
        cls, stages: list[str], start_ns: int, *, highest_ns: int | None = None, sigfig: int | None = None
    ) -> LatencyTracker: ...
    @property
    def stages(self) -> list[str]: ...
    def record(self, stage: str, ns: int) -> None: ...
    def record_many(self, stage: str, values: list[int]) -> None: ...
    def histogram(self, stage: str) -> LatencyHistogram: ...
    def percentiles(self, stage: str) -> dict[str, int]: ...
    def end_interval(self, end_ns: int) -> dict[str, LatencyHistogram]: ...
    def hlog(self) -> str: ...
    def percentile_table(self) -> str: ...

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
