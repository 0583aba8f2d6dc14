"""API keys of the simulated venue: which key belongs to which account, and how it signs.

A key file is TOML::

    [[keys]]
    api_key = "pymm-local-1"
    account = 1
    hmac_secret = "..."                  # HMAC-SHA256 signatures (hex)
    # ed25519_public_key = '''-----BEGIN PUBLIC KEY-----
    # ...
    # -----END PUBLIC KEY-----'''         # Ed25519 signatures (base64), instead of or besides HMAC

Secrets live only in that file (or are generated for one run by :func:`generate_key`); nothing here
is ever committed.
"""

from __future__ import annotations

import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pymm._native import SignatureVerifier
from pymm.errors import ConfigError

__all__ = ["ApiKey", "KeyRing", "generate_key", "load_keys"]


@dataclass(frozen=True)
class ApiKey:
    """One API key: its account and its verification material."""

    api_key: str
    account: int
    hmac_secret: str | None = None
    ed25519_public_key: str | None = None


class KeyRing:
    """The venue's API keys with their signature verifiers."""

    def __init__(self, keys: list[ApiKey]) -> None:
        """Builds verifiers for ``keys``.

        Raises:
            SimVenueError: a secret is empty or a public key is not Ed25519 PEM.
        """
        self.keys = {k.api_key: k for k in keys}
        self._verifiers: dict[str, list[SignatureVerifier]] = {}
        for k in keys:
            vs = []
            if k.hmac_secret:
                vs.append(SignatureVerifier.hmac(k.hmac_secret))
            if k.ed25519_public_key:
                vs.append(SignatureVerifier.ed25519_pem(k.ed25519_public_key))
            self._verifiers[k.api_key] = vs

    def account(self, api_key: str) -> int | None:
        """The account of ``api_key``, or None when unknown."""
        k = self.keys.get(api_key)
        return None if k is None else k.account

    def verify(self, api_key: str, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` signs ``payload`` with any verifier of ``api_key``."""
        return any(v.verify(payload, signature) for v in self._verifiers.get(api_key, []))


def generate_key(account: int = 1) -> ApiKey:
    """A fresh random HMAC key for ``account`` (for one run of a local venue)."""
    return ApiKey(
        api_key=secrets.token_urlsafe(48),
        account=account,
        hmac_secret=secrets.token_urlsafe(48),
    )


def load_keys(path: Path) -> list[ApiKey]:
    """The keys of a key file.

    Raises:
        ConfigError: the file is unreadable, not TOML, or an entry is incomplete.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(str(path), [("", str(e))]) from None
    out: list[ApiKey] = []
    errors: list[tuple[str, str]] = []
    for i, entry in enumerate(data.get("keys", [])):
        where = f"keys[{i}]"
        if not isinstance(entry.get("api_key"), str) or not isinstance(entry.get("account"), int):
            errors.append((where, "needs api_key (string) and account (integer)"))
            continue
        if not entry.get("hmac_secret") and not entry.get("ed25519_public_key"):
            errors.append((where, "needs hmac_secret or ed25519_public_key"))
            continue
        out.append(
            ApiKey(
                api_key=entry["api_key"],
                account=entry["account"],
                hmac_secret=entry.get("hmac_secret"),
                ed25519_public_key=entry.get("ed25519_public_key"),
            )
        )
    if errors:
        raise ConfigError(str(path), errors)
    return out
