"""Type stubs for the compiled core, :mod:`pymm._native` (kept in step by mypy.stubtest)."""

__version__: str

class PymmError(Exception): ...
