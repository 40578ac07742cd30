"""Time-based one-time codes (RFC 6238) for the staff's second factor.

The shared secret must be readable to check a code, so unlike passwords it cannot be hashed:
it is stored encrypted (Fernet) with a key derived from the server secret, which is kept
outside the database. A stolen database alone therefore yields no working second factor.
"""

from __future__ import annotations

import base64
import hashlib

import pyotp
from cryptography.fernet import Fernet, InvalidToken

from libcard.kit.secrets import Keyring, version_of

ISSUER = "libcard"
STEP_SECONDS = 30
# A code of the previous or next 30-second step is accepted too: phone clocks drift.
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def _fernet(keyring: Keyring, version: int) -> Fernet:
    material = keyring.digest("totp-secret-key", "", version).split("$")[-1]
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))


def seal(keyring: Keyring, secret: str) -> str:
    token = _fernet(keyring, keyring.current).encrypt(secret.encode()).decode()
    return f"v{keyring.current}${token}"


def unseal(keyring: Keyring, sealed: str) -> str | None:
    version = version_of(sealed)
    if version not in keyring.keys:
        return None
    try:
        return _fernet(keyring, version).decrypt(sealed.partition("$")[2].encode()).decode()
    except InvalidToken:
        return None


def provisioning_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    """The otpauth:// link an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def matching_step(secret: str, code: str, unix_time: float) -> int | None:
    """The time step the code belongs to (within the allowed drift), or None."""
    digits = "".join(ch for ch in code if ch.isdigit())
    if len(digits) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(unix_time // STEP_SECONDS)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if pyotp.utils.strings_equal(totp.at(step * STEP_SECONDS), digits):
            return step
    return None


def code_at(secret: str, unix_time: float) -> str:
    """The code an authenticator shows at that moment (the demo and the tests use it)."""
    return pyotp.TOTP(secret).at(int(unix_time))
