"""The pymm exception tree: native errors re-exported, plus Python-only ones."""

from __future__ import annotations

__all__ = ["ConfigError", "InstrumentError", "JournalError", "PymmError", "ScaleError", "VenueRejectError"]

try:
    from pymm._native import InstrumentError, JournalError, PymmError, ScaleError, VenueRejectError
except ImportError:  # the package is importable (docs, pure-Python tools) before the core is built

    class PymmError(Exception):  # type: ignore[no-redef]
        """Base class of every pymm error."""

    class ScaleError(PymmError):  # type: ignore[no-redef]
        """A decimal was malformed, too precise for its scale, or off the instrument's grid."""

    class InstrumentError(PymmError):  # type: ignore[no-redef]
        """Instrument definitions were refused."""

    class VenueRejectError(PymmError):  # type: ignore[no-redef]
        """The venue would reject the order."""

        code: int
        msg: str

    class JournalError(PymmError):  # type: ignore[no-redef]
        """The journal refused an operation, or found corruption."""


class ConfigError(PymmError, ValueError):
    """A configuration file was refused; ``errors`` lists ``(field_path, reason)`` pairs."""

    def __init__(self, source: str, errors: list[tuple[str, str]]) -> None:
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  {path}: {reason}" for path, reason in errors)
        super().__init__(f"invalid config {source}:\n{lines}")
