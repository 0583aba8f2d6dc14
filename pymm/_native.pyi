"""Type stubs for the compiled core, :mod:`pymm._native` (kept in step by mypy.stubtest)."""

import os
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, final

import numpy as np
import numpy.typing as npt

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

class EventReader:
    def drain(self, max_events: int = 65536) -> bytes: ...
    def __len__(self) -> int: ...

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

# venue

class SimVenueError(PymmError): ...

@final
class SimExchange:
    """The simulated Binance spot venue: (status, Binance JSON) for each REST request."""

    def __init__(self, instruments: InstrumentMaster, maker_bps: int = 1, taker_bps: int = 1) -> None: ...
    def symbols(self) -> list[str]: ...
    def deposit(self, account: int, asset: str, amount: str) -> None: ...
    def exchange_info(self, params: dict[str, str], now_ns: int) -> tuple[int, Any]: ...
    def depth(self, params: dict[str, str]) -> tuple[int, Any]: ...
    def new_order(self, account: int, params: dict[str, str], now_ns: int) -> tuple[int, Any]: ...
    def cancel_order(self, account: int, params: dict[str, str], now_ns: int) -> tuple[int, Any]: ...
    def query_order(self, account: int, params: dict[str, str]) -> tuple[int, Any]: ...
    def open_orders(self, account: int, params: dict[str, str]) -> tuple[int, Any]: ...
    def cancel_open_orders(self, account: int, params: dict[str, str], now_ns: int) -> tuple[int, Any]: ...
    def cancel_replace(self, account: int, params: dict[str, str], now_ns: int) -> tuple[int, Any]: ...
    def account(self, account: int, params: dict[str, str], now_ns: int) -> tuple[int, Any]: ...
    def test_order(self, account: int, params: dict[str, str]) -> tuple[int, Any]: ...
    def all_orders(self, account: int, params: dict[str, str]) -> tuple[int, Any]: ...
    def book_ticker(self, params: dict[str, str]) -> tuple[int, Any]: ...
    def avg_price(self, params: dict[str, str], now_ns: int) -> tuple[int, Any]: ...
    def my_trades(self, account: int, params: dict[str, str]) -> tuple[int, Any]: ...
    def top(self, symbol: str) -> tuple[str | None, str | None] | None: ...
    def check_invariants(self) -> None: ...
    def drain_events(self) -> list[tuple[str | int, dict[str, Any]]]: ...

@final
class SignatureVerifier:
    """HMAC-SHA256 (hex) or Ed25519 (base64) verification over exact request bytes."""

    @staticmethod
    def hmac(secret: str) -> SignatureVerifier: ...
    @staticmethod
    def ed25519_pem(pem: str) -> SignatureVerifier: ...
    def verify(self, payload: bytes, signature: bytes) -> bool: ...
