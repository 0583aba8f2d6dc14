"""The kill latch and its two-person lift (fault-matrix row 21, RTS 6 art. 12).

``pymm kill`` (or a metric-triggered path) latches: the engine blocks entry and cancels everything,
and the latch is written to ``kill.json`` (fsynced) *before* the kill is acknowledged, so it survives
``kill -9`` and a restart comes up halted. Each latch has a random ``latch_id``. Lifting it needs two
distinct operators named in the config, each signing ``pymm-lift:<latch_id>`` with their own Ed25519
key (``pymm approve``). An approval binds to one latch: approvals of an earlier latch never lift a later
one, and one operator approving twice counts once.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pymm.config import OperatorConfig
from pymm.errors import PymmError
from pymm.runtime.state import StateDir, atomic_write

__all__ = [
    "APPROVALS_NEEDED",
    "Approval",
    "KillError",
    "KillLatch",
    "LatchState",
    "generate_operator_key",
    "load_private_key",
    "public_key_text",
    "sign_approval",
]

APPROVALS_NEEDED = 2


class KillError(PymmError):
    """A kill-switch operation was refused (bad signature, unknown operator, nothing latched)."""


def approval_message(latch_id: str) -> bytes:
    """The exact bytes an operator signs to approve lifting latch ``latch_id``."""
    return f"pymm-lift:{latch_id}".encode()


def generate_operator_key() -> tuple[bytes, str]:
    """A new operator key: (private key PEM, public key as base64 of the raw 32 bytes)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, public_key_text(key.public_key())


def public_key_text(key: Ed25519PublicKey) -> str:
    """Base64 of the raw 32-byte public key (the config's form)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An operator's Ed25519 private key from a PEM file."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KillError(f"no key file {path}") from None
    except ValueError as e:
        raise KillError(f"{path} is not a PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KillError(f"{path} is not an Ed25519 key")
    return key


def _load_public(text: str) -> Ed25519PublicKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise KillError("operator public key is not Ed25519")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise KillError(f"operator public key is not base64: {e}") from None
    if len(raw) != 32:
        raise KillError(f"operator public key has {len(raw)} bytes, want 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_approval(key: Ed25519PrivateKey, latch_id: str) -> str:
    """An operator's signature (base64) approving the lift of ``latch_id``."""
    return base64.b64encode(key.sign(approval_message(latch_id))).decode()


@dataclass(frozen=True)
class Approval:
    """One operator's signed approval of lifting one latch."""

    operator: str
    latch_id: str
    signature: str
    ts_ns: int = 0


@dataclass
class LatchState:
    """What ``kill.json`` holds."""

    latched: bool = False
    latch_id: str | None = None
    reason: str | None = None
    since_ns: int | None = None
    lifted_by: list[str] = field(default_factory=list)
    lifted_ns: int | None = None


class KillLatch:
    """The persisted latch of one state directory, checked against the configured operators."""

    def __init__(self, state: StateDir, operators: Sequence[OperatorConfig]) -> None:
        self.state = state.ensure()
        self._operators = {o.name: o.public_key for o in operators}

    def read(self) -> LatchState:
        """The latch as on disk (a missing file is 'not latched'; an unreadable one is latched)."""
        try:
            raw = json.loads(self.state.kill_file.read_text())
        except FileNotFoundError:
            return LatchState()
        except (json.JSONDecodeError, OSError) as e:
            # Fail closed: a latch file we cannot read is a latch.
            return LatchState(latched=True, latch_id="unreadable", reason=f"kill.json unreadable: {e}")
        return LatchState(**raw)

    def latch(self, reason: str) -> LatchState:
        """Latch (idempotent: an existing latch keeps its id and reason). Durable on return."""
        cur = self.read()
        if cur.latched:
            return cur
        st = LatchState(latched=True, latch_id=secrets.token_hex(8), reason=reason, since_ns=time.time_ns())
        atomic_write(self.state.kill_file, json.dumps(asdict(st)).encode())
        return st

    def approvals(self) -> list[Approval]:
        """Valid approvals on disk for the current latch, one per operator."""
        cur = self.read()
        if not cur.latched or cur.latch_id is None:
            return []
        seen: dict[str, Approval] = {}
        for p in sorted(self.state.approvals_dir.glob(f"{cur.latch_id}.*.json")):
            try:
                a = Approval(**json.loads(p.read_text()))
                self._verify(a)
            except (KillError, TypeError, json.JSONDecodeError):
                continue
            if a.latch_id == cur.latch_id:
                seen.setdefault(a.operator, a)
        return list(seen.values())

    def _verify(self, a: Approval) -> None:
        pub = self._operators.get(a.operator)
        if pub is None:
            raise KillError(f"operator {a.operator!r} is not in the config's [[operators]]")
        try:
            sig = base64.b64decode(a.signature, validate=True)
            _load_public(pub).verify(sig, approval_message(a.latch_id))
        except (InvalidSignature, binascii.Error, ValueError):
            raise KillError(f"operator {a.operator!r}: the signature does not verify") from None

    def approve(self, a: Approval) -> tuple[LatchState, list[Approval]]:
        """Record one approval; lift when two distinct operators approved the current latch.

        Returns the latch after the call and the approvals counted.

        Raises:
            KillError: nothing is latched, the approval is for another latch, the operator is unknown,
                or the signature does not verify.
        """
        cur = self.read()
        if not cur.latched:
            raise KillError("the kill switch is not latched; nothing to approve")
        if a.latch_id != cur.latch_id:
            raise KillError(f"approval is for latch {a.latch_id}, the current latch is {cur.latch_id}")
        self._verify(a)
        stamped = Approval(a.operator, a.latch_id, a.signature, a.ts_ns or time.time_ns())
        atomic_write(
            self.state.approvals_dir / f"{a.latch_id}.{a.operator}.json",
            json.dumps(asdict(stamped)).encode(),
            mode=0o600,
        )
        got = self.approvals()
        if len({x.operator for x in got}) >= APPROVALS_NEEDED:
            cur = LatchState(
                latched=False,
                latch_id=cur.latch_id,
                reason=cur.reason,
                since_ns=cur.since_ns,
                lifted_by=sorted(x.operator for x in got),
                lifted_ns=time.time_ns(),
            )
            atomic_write(self.state.kill_file, json.dumps(asdict(cur)).encode())
        return cur, got
