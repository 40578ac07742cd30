"""The ID token checks and the pure rules of strong login, on tokens signed here: a forged,
expired, misaddressed or replayed token is refused, whatever the broker's answer looked like."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from libcard.errors import InvalidInput
from libcard.identity.broker import StrongLoginRefused, StrongLoginUnavailable, parse_metadata
from libcard.identity.broker import verify_id_token as verify
from libcard.identity.rules import (
    is_local_path,
    is_strong,
    next_path,
    registry_id_in,
    subject_of,
)

ISSUER = "https://broker.example.org"
CLIENT = "libcard"
NONCE = "n-0S6_WzA2Mj"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
JWKS = {"keys": [KEY.as_dict(private=False)]}


def token(key: Any = KEY, alg: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "anna",
        "aud": CLIENT,
        "exp": now + 300,
        "iat": now,
        "nonce": NONCE,
        "acr": "https://data.gov.dk/concept/core/nsis/loa/Substantial",
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key, algorithms=[alg])


def check(id_token: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT,
        "nonce": NONCE,
        "algorithms": ("RS256",),
        "now": time.time(),
    }
    values.update(overrides)
    return verify(id_token, JWKS, **values)


def test_a_good_token_gives_its_claims() -> None:
    claims = check(token(aud=[CLIENT]))
    assert claims["sub"] == "anna"
    assert claims["acr"].endswith("Substantial")


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://impostor.example.org"},
        {"aud": "another-client"},
        {"nonce": "replayed-nonce"},
        {"nonce": None},
        {"exp": int(time.time()) - 3600},
        {"iat": int(time.time()) + 3600},
        {"sub": None},
        {"aud": [CLIENT, "another-client"], "azp": "another-client"},
    ],
)
def test_a_token_with_a_wrong_claim_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(StrongLoginRefused) as refused:
        check(token(**changes))
    assert refused.value.code == "strong_login_token_invalid"


def test_a_token_signed_by_another_key_is_refused() -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(StrongLoginRefused):
        check(token(key=stranger))


def test_a_token_signed_with_the_client_secret_or_unsigned_is_refused() -> None:
    secret = OctKey.import_key("a-client-secret-that-is-long-enough-for-hs256")
    with pytest.raises(StrongLoginRefused):
        check(token(key=secret, alg="HS256"))
    header_and_claims = token().rsplit(".", 1)[0]
    with pytest.raises(StrongLoginRefused):
        check(header_and_claims + ".")


def test_a_token_is_judged_at_the_moment_given() -> None:
    issued = token()
    with pytest.raises(StrongLoginRefused):
        check(issued, now=time.time() + 3600)


def test_discovery_must_name_the_issuer_it_was_asked_about() -> None:
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/auth",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
    }
    metadata = parse_metadata(document, ISSUER)
    assert metadata.algorithms == ("RS256",)
    assert not metadata.iss_in_response
    for broken in (
        {**document, "issuer": "https://impostor.example.org"},
        {**document, "token_endpoint": "http://broker.example.org/token"},
        {**document, "jwks_uri": None},
        {**document, "id_token_signing_alg_values_supported": ["none"]},
        ["not", "an", "object"],
    ):
        with pytest.raises(StrongLoginUnavailable):
            parse_metadata(broken, ISSUER)


@pytest.mark.parametrize(
    ("target", "local"),
    [
        ("/overview", True),
        ("/pay?fee=12&x=%2F", True),
        ("//evil.example", False),
        ("/\\evil.example", False),
        ("/\t/evil.example", False),
        ("/\n/evil.example", False),
        ("https://evil.example", False),
        ("javascript:alert(1)", False),
        ("", False),
        ("/" + "a" * 600, False),
    ],
)
def test_only_local_paths_are_places_to_return_to(target: str, local: bool) -> None:
    assert is_local_path(target) is local


def test_no_next_goes_to_the_default_and_a_foreign_one_is_refused() -> None:
    assert next_path(None, "/overview") == "/overview"
    assert next_path("/pay", "/overview") == "/pay"
    with pytest.raises(InvalidInput):
        next_path("https://evil.example", "/overview")


def test_strong_means_one_of_the_configured_levels() -> None:
    levels = ["https://data.gov.dk/concept/core/nsis/loa/Substantial"]
    assert is_strong(levels[0], levels)
    assert not is_strong("https://data.gov.dk/concept/core/nsis/loa/Low", levels)
    assert not is_strong(None, levels)


def test_the_subject_comes_from_the_configured_claim() -> None:
    assert subject_of({"sub": "x", "person_uuid": "p-1"}, "person_uuid") == "p-1"
    assert subject_of({"sub": 12345}, "sub") == "12345"
    for claims in ({"sub": "x"}, {"person_uuid": ""}, {"person_uuid": True}):
        with pytest.raises(InvalidInput):
            subject_of(claims, "person_uuid")


def test_the_registry_id_is_read_as_the_registry_feed_reads_it() -> None:
    assert registry_id_in({"student_id": " S1001 "}, "student_id") == "S1001"
    assert registry_id_in({"student_id": 20241234}, "student_id") == "20241234"
    assert registry_id_in({"student_id": "S1001"}, None) is None  # no claim configured
    unusable = ({}, {"student_id": ""}, {"student_id": "S 1001"}, {"student_id": "x" * 65})
    for claims in (*unusable, {"student_id": True}, {"student_id": ["S1001"]}):
        assert registry_id_in(claims, "student_id") is None
