"""Checks a detached CMS (PKCS #7) signature with `cryptography`, which signs but cannot verify.

Reads just enough DER to find the signer's signed attributes and signature (RFC 5652 §5).
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

MESSAGE_DIGEST = bytes.fromhex("06092a864886f70d010904")  # OID 1.2.840.113549.1.9.4
SIGNING_TIME = bytes.fromhex("06092a864886f70d010905")  # OID 1.2.840.113549.1.9.5


def _read(data: bytes, at: int) -> tuple[int, int, int, int]:
    """(tag, start of content, end of content, end of element) of the element at `at`."""
    tag = data[at]
    length = data[at + 1]
    start = at + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    return tag, start, start + length, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int, int]]:
    """(tag, element start, content start, content end, element end) of each child."""
    found = []
    at = start
    while at < end:
        tag, content, content_end, element_end = _read(data, at)
        found.append((tag, at, content, content_end, element_end))
        at = element_end
    return found


def verify_detached(signature: bytes, content: bytes) -> x509.Certificate:
    """The signer's certificate if `signature` signs `content`; raises if it does not."""
    certificates = pkcs7.load_der_pkcs7_certificates(signature)
    _, content_info, content_info_end, _ = _read(signature, 0)
    explicit = _children(signature, content_info, content_info_end)[1]  # [0] EXPLICIT
    _, signed_data, signed_data_end, _ = _read(signature, explicit[2])
    parts = _children(signature, signed_data, signed_data_end)
    signer_infos = parts[-1]
    assert signer_infos[0] == 0x31
    signer_info = _children(signature, signer_infos[2], signer_infos[3])
    assert len(signer_info) == 1, "one signer"
    _, _, info_start, info_end, _ = signer_info[0]
    fields = _children(signature, info_start, info_end)
    attributes = next(field for field in fields if field[0] == 0xA0)
    signature_value = fields[-1]
    assert signature_value[0] == 0x04
    signed_attributes = signature[attributes[1] : attributes[4]]
    assert MESSAGE_DIGEST in signed_attributes
    assert SIGNING_TIME in signed_attributes
    digest_at = signed_attributes.index(MESSAGE_DIGEST)
    # attribute value: SET { OCTET STRING digest } right after the OID
    _, set_start, _, _ = _read(signed_attributes, digest_at + len(MESSAGE_DIGEST))
    _, octets, octets_end, _ = _read(signed_attributes, set_start)
    if signed_attributes[octets:octets_end] != hashlib.sha256(content).digest():
        raise ValueError("the content does not match the signed digest")
    # The signature covers the attributes encoded as a SET, not as the [0] they are stored as.
    to_verify = b"\x31" + signed_attributes[1:]
    value = signature[signature_value[2] : signature_value[3]]
    for certificate in certificates:
        key = certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(value, to_verify, padding.PKCS1v15(), hashes.SHA256())
            return certificate
    raise ValueError("no RSA signer certificate in the signature")
