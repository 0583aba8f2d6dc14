"""The colocated-exchange front of the simulated venue: ITCH 5.0 over MoldUDP64 on two multicast lines
(A/B) with a re-request server, and OUCH 4.2 over SoupBinTCP 3.0 — run by :class:`pymm._native.ItchVenue`
on background threads (see ``docs/protocols/itch-venue.md``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pymm._native import ItchVenue


class LineFaults(BaseModel):
    """Seeded fault hooks of one multicast line (probabilities per data packet)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    drop: float = Field(default=0.0, ge=0.0, le=1.0)
    duplicate: float = Field(default=0.0, ge=0.0, le=1.0)
    reorder: float = Field(default=0.0, ge=0.0, le=1.0)
    delay: float = Field(default=0.0, ge=0.0, le=1.0)
    delay_ms: int = Field(default=0, ge=0)


class ItchVenueSettings(BaseModel):
    """What ``pymm venue`` passes to :class:`pymm._native.ItchVenue` (other keys keep native defaults)."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(default="PYMM", min_length=1, max_length=8)
    itch_a: str = "239.1.1.1:31001"
    itch_b: str = "239.1.1.2:31002"
    rerequest: str = "127.0.0.1:31003"
    ouch: str = "127.0.0.1:31004"
    seed: int = 7
    ouch_user: str = Field(default="PYMM", min_length=1, max_length=6)
    ouch_password: str = Field(default="pymm", max_length=10)
    faults_a: LineFaults = LineFaults()
    faults_b: LineFaults = LineFaults(seed=1)

    def native_config(self) -> dict[str, Any]:
        """The dict :class:`pymm._native.ItchVenue` takes."""
        return {
            "symbol": self.symbol,
            "itch_a": self.itch_a,
            "itch_b": self.itch_b,
            "rerequest": self.rerequest,
            "ouch": self.ouch,
            "users": [{"user": self.ouch_user, "password": self.ouch_password}],
            "random_flow": {"seed": self.seed},
            "faults_a": self.faults_a.model_dump(),
            "faults_b": self.faults_b.model_dump(),
        }


def start_itch_venue(settings: ItchVenueSettings) -> ItchVenue:
    """Opens the sockets and starts the threads; the caller stops it."""
    venue = ItchVenue(settings.native_config())
    venue.start()
    return venue
