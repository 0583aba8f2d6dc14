"""Monitoring: order-flow toxicity (VPIN), markouts, quote quality, metrics and alerts.

Pure Python over numpy; it reads the engine's events and never sits on the hot path.
"""

from __future__ import annotations

__all__: list[str] = []
