"""Secrets: keyed hashes (PINs, codes, health-card numbers), random tokens, Argon2id passwords.

PINs have 4–8 digits, so no plain hash survives an offline guess of 10⁴ values; a keyed
HMAC-SHA256 with a server secret kept outside the database (the "pepper") does. Each digest
carries the version of the key that made it, so the key can be rotated.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Codes typed from a letter or an e-mail: no 0/O or 1/I/L to misread.
CODE_ALPHABET = "".join(c for c in string.ascii_uppercase + string.digits if c not in "0O1IL")


@dataclass(frozen=True)
class Keyring:
    """Server secrets by version; `current` signs new digests, older ones still verify."""

    current: int
    keys: dict[int, bytes]

    def digest(self, purpose: str, value: str, version: int | None = None) -> str:
        version = self.current if version is None else version
        key = self.keys[version]
        mac = hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
        return f"v{version}${mac}"

    def verify(self, purpose: str, value: str, stored: str) -> bool:
        version = version_of(stored)
        if version not in self.keys:
            return False
        return hmac.compare_digest(self.digest(purpose, value, version), stored)

    def is_current(self, stored: str) -> bool:
        return version_of(stored) == self.current


def version_of(stored: str) -> int:
    head, _, _ = stored.partition("$")
    try:
        return int(head.removeprefix("v"))
    except ValueError:
        return -1


def load_keyring(configured: dict[int, str], current: int, file: Path) -> Keyring:
    """Keys from configuration; for the embedded default, from a file created on first start."""
    if configured:
        keys = {v: bytes.fromhex(k) if _is_hex(k) else k.encode() for v, k in configured.items()}
    else:
        if not file.exists():
            file.write_text(json.dumps({"1": secrets.token_hex(32)}))
            file.chmod(0o600)
        keys = {int(v): bytes.fromhex(k) for v, k in json.loads(file.read_text()).items()}
        current = max(keys)
    if current not in keys:
        raise RuntimeError(f"No secret key with version {current} is configured.")
    return Keyring(current=current, keys=keys)


def _is_hex(text: str) -> bool:
    return len(text) % 2 == 0 and all(c in string.hexdigits for c in text)


def new_token(nbytes: int = 32) -> str:
    """An unguessable bearer-style token (URL-safe)."""
    return secrets.token_urlsafe(nbytes)


def new_code(length: int = 10) -> str:
    """A code a person can type from paper: 10 characters of 31 ≈ 49 bits."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def normalise_code(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


_hasher = PasswordHasher()  # argon2-cffi defaults are Argon2id with RFC 9106 low-memory params


def configure_password_hashing(*, time_cost: int, memory_kib: int) -> None:
    """Set the Argon2id cost; tests use a cheap one, production keeps the defaults."""
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


async def hash_password(password: str) -> str:
    # Argon2 is deliberately slow; keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    if stored is None:
        # Spend the same time as a real check so timing does not tell accounts apart.
        await asyncio.to_thread(_hasher.hash, password)
        return False
    try:
        return await asyncio.to_thread(_hasher.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return False
