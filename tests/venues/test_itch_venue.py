"""The ITCH/OUCH front from Python: ``pymm._native.ItchVenue`` publishes MoldUDP64 on multicast, answers
re-requests with the same bytes, and accepts a SoupBinTCP login (deep protocol tests are in
``native/tests/itch_venue.rs``)."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from pymm._native import ItchVenue, SimVenueError
from pymm.venues.sim.itch import ItchVenueSettings


def _join(group: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((group, 0))
    mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("127.0.0.1"))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    s.settimeout(5)
    return s


def _messages(pkt: bytes) -> tuple[bytes, int, list[bytes]]:
    session, seq, count = pkt[:10], int.from_bytes(pkt[10:18], "big"), int.from_bytes(pkt[18:20], "big")
    msgs, at = [], 20
    for _ in range(count if count != 0xFFFF else 0):
        n = int.from_bytes(pkt[at : at + 2], "big")
        msgs.append(pkt[at + 2 : at + 2 + n])
        at += 2 + n
    return session, seq, msgs


def test_feed_rerequest_and_login() -> None:
    rx_a = _join("239.1.21.1")
    port_a = rx_a.getsockname()[1]
    cfg = ItchVenueSettings(
        itch_a=f"239.1.21.1:{port_a}", itch_b="239.1.21.2:9", rerequest="127.0.0.1:0", ouch="127.0.0.1:0"
    ).native_config()
    cfg["interval_us"] = 200
    venue = ItchVenue(cfg)
    venue.start()
    rr = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ep = venue.endpoints()
        assert set(ep) >= {"itch_a", "itch_b", "itch_rerequest", "ouch"}
        assert not ep["ouch"].endswith(":0") and not ep["itch_rerequest"].endswith(":0")
        seen: dict[int, bytes] = {}
        while len(seen) < 50:
            session, seq, msgs = _messages(rx_a.recv(2048))
            assert session == b"PYMMITCH01"
            for i, m in enumerate(msgs):
                seen[seq + i] = m
        assert seen[1][:1] == b"S", "the day starts with a system event"
        host, port = ep["itch_rerequest"].split(":")
        rr.settimeout(5)
        rr.sendto(b"PYMMITCH01" + (2).to_bytes(8, "big") + (5).to_bytes(2, "big"), (host, int(port)))
        _, seq, msgs = _messages(rr.recv(2048))
        assert seq == 2 and msgs == [seen[s] for s in range(2, 7)]
        host, port = ep["ouch"].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as c:
            login = b"L" + b"PYMM  " + b"pymm      " + b" " * 10 + b"0".rjust(20)
            c.sendall(len(login).to_bytes(2, "big") + login)
            reply = c.recv(33)
            assert reply[2:3] == b"A" and reply[3:13] == b"PYMMITCH01"
        time.sleep(0.05)
        st = venue.stats()
        assert st["flow_actions"] > 0 and st["rerequests"] == 1 and st["logins"] == 1
        digest, nxt = venue.digest()
        assert len(digest) == 64 and nxt > 50
    finally:
        venue.stop()
        rr.close()
        rx_a.close()
    assert not venue.running and venue.stats() == {}


def test_bad_config_is_refused() -> None:
    with pytest.raises(SimVenueError):
        ItchVenue({"itch_a": "127.0.0.1:31001"})
    with pytest.raises(SimVenueError):
        ItchVenue({"symbol": "TOOLONGSYMBOL"})
    with pytest.raises(SimVenueError):
        ItchVenue({"no_such_key": 1})
