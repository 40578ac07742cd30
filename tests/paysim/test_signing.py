"""The signature functions against the providers' own examples."""

from __future__ import annotations

import hashlib
import hmac
import json

from libcard.payments.providers import signing

# The example of the Vipps MobilePay Webhooks API's "Request authentication" page.
VIPPS_SECRET = (
    "A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/A=="
)
VIPPS_BODY = json.dumps(
    {"some-unique-content": "ee6e441b-cc4a-46f8-895d-a5af79bcc233/hello-world"},
    separators=(",", ":"),
).encode()
VIPPS_DATE = "Thu, 30 Mar 2023 08:38:32 GMT"
VIPPS_HASH = "lNlsp1XA03N34HrQsVzPgJKtC+r7l/RBF4V3JQUWMj4="
VIPPS_AUTHORIZATION = (
    "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
    "&Signature=agAiSyogQbDHpeucoNwYz+yAr5nJ+v+zasdkSbqzv+U="
)


def test_vipps_content_hash_matches_the_documented_example() -> None:
    assert signing.vipps_content_hash(VIPPS_BODY) == VIPPS_HASH


def test_vipps_signature_matches_the_documented_example() -> None:
    signature = signing.vipps_signature(
        secret=VIPPS_SECRET,
        method="POST",
        path_and_query="/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63",
        date=VIPPS_DATE,
        host="webhook.site",
        content_hash=VIPPS_HASH,
    )
    assert signing.vipps_authorization(signature) == VIPPS_AUTHORIZATION
    assert signing.vipps_signature_from(VIPPS_AUTHORIZATION) == signature


def test_vipps_authorization_signing_other_headers_is_not_accepted() -> None:
    other = VIPPS_AUTHORIZATION.replace("x-ms-date;host;", "host;")
    assert signing.vipps_signature_from(other) is None
    assert signing.vipps_signature_from("Bearer abc") is None


def test_quickpay_checksum_is_the_hex_hmac_of_the_raw_body() -> None:
    # QuickPay's documentation gives no example; PHP's hash_hmac('sha256', body, key) is it.
    body = b'{"id":7,"order_id":"LC-0001","accepted":true}'
    expected = hmac.new(b"private-key", body, hashlib.sha256).hexdigest()
    assert signing.quickpay_checksum(private_key="private-key", body=body) == expected
    assert signing.same(expected, expected)
    assert not signing.same(expected, expected[:-1] + "0")
