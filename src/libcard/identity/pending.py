"""A strong login under way: what the callback must match (state, nonce, PKCE verifier), where
the patron goes afterwards, and the portal session it belongs to; and a single sign-on that
waits for the new student to choose password and PIN (PendingActivation).

Each travels in a cookie, encrypted and authenticated with a key derived from the server secret
(Fernet), so the server keeps nothing per attempt; the cookie is dropped when it is used, which
makes it single-use, and it expires after its lifetime by the library's clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from cryptography.fernet import Fernet, InvalidToken

from libcard.kit.secrets import Keyring, version_of

LIFETIME = timedelta(minutes=10)
# Time enough to read the page and choose a password and a PIN.
ACTIVATION_LIFETIME = timedelta(minutes=30)


@dataclass(frozen=True)
class PendingLogin:
    issuer: str
    state: str
    nonce: str
    verifier: str
    next: str
    binding: str  # the portal session that started it


@dataclass(frozen=True)
class PendingActivation:
    """Who the broker vouched for (the BrokerLogin, "" for a missing acr or registry id),
    where to go once the account is activated, and the visitor it belongs to."""

    issuer: str
    subject: str
    acr: str
    registry_id: str
    next: str
    binding: str
    # The registry's first name of the account found, greeting the student on the form so
    # they see it is theirs (encrypted, like the rest: it is personal data).
    first_name: str


Pending = TypeVar("Pending", PendingLogin, PendingActivation)


def _fernet(keyring: Keyring, version: int) -> Fernet:
    material = keyring.digest("strong-login-pending", "", version).split("$")[-1]
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))


def seal(keyring: Keyring, pending: PendingLogin | PendingActivation, now: datetime) -> str:
    data = json.dumps(asdict(pending), separators=(",", ":")).encode()
    token = _fernet(keyring, keyring.current).encrypt_at_time(data, int(now.timestamp()))
    return f"v{keyring.current}.{token.decode()}"


def unseal(
    keyring: Keyring,
    sealed: str | None,
    now: datetime,
    kind: type[Pending] = PendingLogin,  # type: ignore[assignment]
    lifetime: timedelta = LIFETIME,
) -> Pending | None:
    """What is pending, or None when the cookie is missing, forged, or older than `lifetime`."""
    if not sealed:
        return None
    head, _, token = sealed.partition(".")
    version = version_of(head + "$")
    if version not in keyring.keys:
        return None
    try:
        data = _fernet(keyring, version).decrypt_at_time(
            token.encode(), int(lifetime.total_seconds()), int(now.timestamp())
        )
        values = json.loads(data)
        return kind(**{k: str(values[k]) for k in kind.__dataclass_fields__})
    except (InvalidToken, ValueError, KeyError, TypeError):
        return None
