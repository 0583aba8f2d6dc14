"""pymm: a low-latency market-making appliance.

The hot path lives in the compiled core, :mod:`pymm._native`; this package supervises it,
computes the slow parameters, monitors quality and provisions the host.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pymm")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
