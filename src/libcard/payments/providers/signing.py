"""The providers' webhook signatures, as pure functions (tested against the providers' own
examples where their documentation gives one).

MobilePay (Vipps MobilePay Webhooks API): the body's SHA-256 in base64 goes in
`x-ms-content-sha256`; the string ``POST\\n<path and query>\\n<x-ms-date>;<host>;<content hash>``
is signed with HMAC-SHA256 under the webhook's secret, base64-encoded, and sent as
``Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<sig>``.

Card (QuickPay callbacks): `QuickPay-Checksum-Sha256` is the hex HMAC-SHA256 of the raw body
under the account's private key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

VIPPS_SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"


def vipps_content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def vipps_signature(
    *, secret: str, method: str, path_and_query: str, date: str, host: str, content_hash: str
) -> str:
    signed = f"{method.upper()}\n{path_and_query}\n{date};{host};{content_hash}"
    digest = hmac.new(secret.encode("utf-8"), signed.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def vipps_authorization(signature: str) -> str:
    return f"HMAC-SHA256 SignedHeaders={VIPPS_SIGNED_HEADERS}&Signature={signature}"


def vipps_signature_from(authorization: str) -> str | None:
    """The Signature part of an Authorization header that signs exactly the expected headers."""
    scheme, _, params = authorization.strip().partition(" ")
    if scheme != "HMAC-SHA256":
        return None
    fields = dict(part.split("=", 1) for part in params.split("&") if "=" in part)
    if fields.get("SignedHeaders") != VIPPS_SIGNED_HEADERS:
        return None
    return fields.get("Signature")


def quickpay_checksum(*, private_key: str, body: bytes) -> str:
    return hmac.new(private_key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def same(expected: str, given: str) -> bool:
    """Constant-time comparison, so a forger learns nothing from how long a refusal took."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
