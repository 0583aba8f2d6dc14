"""Load a configured instrument through the native instrument master.

A definition file is our TOML format (``.toml``, see ``docs/instruments.md``) or a Binance
``exchangeInfo`` JSON capture (``.json``); the native core parses both, exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymm.errors import InstrumentError

if TYPE_CHECKING:
    from pymm._native import Instrument
    from pymm.config import InstrumentRef

__all__ = ["describe", "load_instrument"]


def load_instrument(ref: InstrumentRef) -> Instrument:
    """The instrument ``ref`` names, from its definition file.

    Raises:
        InstrumentError: the file is unreadable, refused, of an unknown kind, or lacks the symbol.
    """
    from pymm._native import InstrumentMaster

    path = ref.definition
    suffix = path.suffix.lower()
    if suffix == ".toml":
        master = InstrumentMaster.from_toml(path)
    elif suffix == ".json":
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise InstrumentError(f"reading {path}: {e.strerror}") from None
        master = InstrumentMaster.from_exchange_info(text, ref.market)
    else:
        raise InstrumentError(f"{path}: expected a .toml definition or an exchangeInfo .json")
    try:
        return master.get(ref.symbol, ref.market)
    except KeyError:
        raise InstrumentError(f"{path} does not define {ref.market} {ref.symbol}") from None


def describe(inst: Instrument) -> str:
    """One line for reports: ``DOGEUSDT spot tick 0.00001 lot 1``."""
    return f"{inst.symbol} {inst.market} tick {inst.tick_size} lot {inst.step_size}"
