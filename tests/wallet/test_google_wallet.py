"""Google Wallet: the signed save link, what the pass says per card state and language, and the
REST adapter against a local stand-in for Google (R3)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from libcard.cards.rules import CardState
from libcard.config import Settings
from libcard.errors import InvalidInput, LibcardError
from libcard.kit.i18n import SUPPORTED, translate
from libcard.wallet.google import (
    GoogleWalletApi,
    ServiceAccount,
    WalletApiError,
    google_account,
    google_api,
    google_issuer,
    google_wallet_configured,
    save_link,
)
from libcard.wallet.google_rules import (
    GoogleIssuer,
    class_id,
    generic_class,
    generic_object,
    object_id,
    object_reference,
    save_claims,
)
from libcard.wallet.rules import CardPass, Colour, Symbology
from libcard.wallet.texts import PASS_TEXTS
from tests.wallet.google_sim import GoogleWalletSim, free_port, serving

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
EXPIRES = datetime(2027, 6, 30, 21, 59, 59, tzinfo=UTC)  # the end of 30 June in Copenhagen
ISSUER_ID = "3388000000012345678"
EMAIL = "wallet@example-library.iam.gserviceaccount.com"
KEY_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4"
NUMBER = "2100000000123"
ORIGINS = ["https://library.example.org"]
ISSUER = GoogleIssuer(issuer_id=ISSUER_ID, service_account_email=EMAIL)


def card(**changes: Any) -> CardPass:
    values: dict[str, Any] = {
        "card_id": 7,
        "card_number": NUMBER,
        "holder_name": "Karen Blixen",
        "state": CardState.ACTIVE,
        "institution_name": "Example University Library",
        "expires_at": EXPIRES,
        "background": Colour.from_hex("#003366"),
        "contact": "Library Road 1, 8000 Aarhus C\n+45 12 34 56 78",
    }
    values.update(changes)
    return CardPass(**values)


def modules(card_object: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {module["id"]: module for module in card_object["textModulesData"]}


def texts_of(localized: dict[str, Any]) -> dict[str, str]:
    """A LocalizedString as language → text."""
    found = {localized["defaultValue"]["language"]: localized["defaultValue"]["value"]}
    for translated in localized.get("translatedValues", []):
        found[translated["language"]] = translated["value"]
    return found


# -- keys and key files ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_document(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    token_uri: str = "https://oauth2.googleapis.com/token",
) -> dict[str, str]:
    """A key file as the Google Cloud console downloads it."""
    return {
        "type": "service_account",
        "project_id": "example-library",
        "private_key_id": KEY_ID,
        "private_key": pem(key),
        "client_email": EMAIL,
        "client_id": "104650312345678901234",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    }


@pytest.fixture(scope="module")
def account(private_key: rsa.RSAPrivateKey) -> ServiceAccount:
    return ServiceAccount.from_json(json.dumps(key_document(private_key)))


def decode_link(link: str, key: rsa.RSAPrivateKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """The save link's header and claims, after checking its signature with the public key."""
    prefix = "https://pay.google.com/gp/v/save/"
    assert link.startswith(prefix)
    token = link.removeprefix(prefix)
    # Independently of joserfc: RS256 is RSASSA-PKCS1-v1_5 with SHA-256 over header.payload.
    signing_input, _, signature = token.rpartition(".")
    key.public_key().verify(
        base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        signing_input.encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    decoded = jwt.decode(token, RSAKey.import_key(key.public_key()), algorithms=["RS256"])
    return dict(decoded.header), dict(decoded.claims)


def saved(card_pass: CardPass, account: ServiceAccount, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The one object a save link of `card_pass` carries."""
    link = save_link(account, ISSUER, generic_object(card_pass, ISSUER, NOW, "en"), ORIGINS, NOW)
    _header, claims = decode_link(link, key)
    (card_object,) = claims["payload"]["genericObjects"]
    return dict(card_object)


# -- the save link ----------------------------------------------------------------------------


def test_the_save_link_is_signed_by_the_service_account_and_carries_the_card(
    account: ServiceAccount, private_key: rsa.RSAPrivateKey
) -> None:
    link = save_link(account, ISSUER, generic_object(card(), ISSUER, NOW, "en"), ORIGINS, NOW)
    header, claims = decode_link(link, private_key)

    assert header["alg"] == "RS256"
    assert header["kid"] == KEY_ID
    assert claims["iss"] == EMAIL
    assert claims["aud"] == "google"
    assert claims["typ"] == "savetowallet"
    assert claims["iat"] == int(NOW.timestamp())
    assert claims["origins"] == ORIGINS
    (card_object,) = claims["payload"]["genericObjects"]
    assert card_object["id"] == f"{ISSUER_ID}.card-7"
    assert NUMBER not in card_object["id"]
    assert card_object["classId"] == f"{ISSUER_ID}.library_card"
    assert card_object["state"] == "ACTIVE"
    assert card_object["barcode"] == {
        "type": "CODE_128",
        "value": NUMBER,
        "alternateText": NUMBER,
    }
    assert texts_of(card_object["cardTitle"]) == {"en": "Example University Library"}
    assert texts_of(card_object["header"]) == {"en": "Karen Blixen"}
    assert card_object["hexBackgroundColor"] == "#003366"
    assert card_object["validTimeInterval"] == {"end": {"date": "2027-06-30T23:59:59+02:00"}}


def test_a_link_signed_by_another_key_does_not_verify(
    account: ServiceAccount, other_key: rsa.RSAPrivateKey
) -> None:
    link = save_link(account, ISSUER, generic_object(card(), ISSUER, NOW, "en"), ORIGINS, NOW)
    with pytest.raises(InvalidSignature):
        decode_link(link, other_key)


def test_a_link_may_name_an_object_already_stored_by_the_api(
    account: ServiceAccount, private_key: rsa.RSAPrivateKey
) -> None:
    reference = object_reference(generic_object(card(), ISSUER, NOW, "en"))
    link = save_link(account, ISSUER, reference, ORIGINS, NOW)
    _header, claims = decode_link(link, private_key)

    assert claims["payload"]["genericObjects"] == [
        {"id": f"{ISSUER_ID}.card-7", "classId": f"{ISSUER_ID}.library_card"}
    ]
    assert NUMBER not in link  # the number stays with Google, not in a URL


@pytest.mark.parametrize(
    ("changes", "state", "status", "barcode"),
    [
        ({}, "ACTIVE", "Active", True),
        ({"blocked": True}, "ACTIVE", "Blocked", True),
        ({"state": CardState.NOT_ACTIVATED}, "ACTIVE", "Not activated", True),
        ({"state": CardState.LOST}, "INACTIVE", "Lost – do not use", False),
        ({"state": CardState.STOLEN}, "INACTIVE", "Stolen – do not use", False),
        ({"state": CardState.REPLACED}, "INACTIVE", "Replaced – do not use", False),
        ({"state": CardState.LOST, "blocked": True}, "INACTIVE", "Lost – do not use", False),
        ({"state": CardState.EXPIRED}, "EXPIRED", "Expired", False),
        # Past its date the card is refused, whatever its stored state says.
        ({"expires_at": datetime(2026, 12, 1, tzinfo=UTC)}, "EXPIRED", "Expired", False),
    ],
)
def test_the_pass_follows_the_card_state(
    account: ServiceAccount,
    private_key: rsa.RSAPrivateKey,
    changes: dict[str, Any],
    state: str,
    status: str,
    barcode: bool,
) -> None:
    card_object = saved(card(**changes), account, private_key)
    shown = modules(card_object)

    assert card_object["state"] == state
    assert shown["status"]["body"] == status
    assert ("barcode" in card_object) is barcode
    if not barcode:
        # A voided pass says so, and no scanner can read the refused number off it.
        assert NUMBER not in json.dumps(card_object)
        assert shown["voided"]["body"] == PASS_TEXTS["help.voided"]
    if changes.get("blocked") and barcode:
        assert shown["blocked"]["header"] == "Why is my card blocked?"
    assert "blocked" not in shown or barcode


def test_an_institution_may_choose_a_qr_code() -> None:
    assert generic_object(card(), ISSUER, NOW, "en")["barcode"]["type"] == "CODE_128"
    qr = generic_object(card(symbology=Symbology.QR), ISSUER, NOW, "en")
    assert qr["barcode"]["type"] == "QR_CODE"
    assert qr["barcode"]["value"] == NUMBER


@pytest.mark.parametrize(
    ("language", "library_card", "blocked", "valid_until", "expiry"),
    [
        ("da", "Lånekort", "Spærret", "Gyldigt til", "30. juni 2027"),
        ("de", "Bibliotheksausweis", "Gesperrt", "Gültig bis", "30. Juni 2027"),
        ("en", "Library card", "Blocked", "Valid until", "30 June 2027"),
    ],
)
def test_the_pass_speaks_the_patrons_language_and_carries_the_others(
    language: str, library_card: str, blocked: str, valid_until: str, expiry: str
) -> None:
    card_object = generic_object(card(blocked=True), ISSUER, NOW, language)
    shown = modules(card_object)

    assert card_object["subheader"]["defaultValue"] == {
        "language": language,
        "value": library_card,
    }
    assert shown["status"]["body"] == blocked
    assert shown["expires"]["header"] == valid_until
    assert shown["expires"]["body"] == expiry  # the institution's calendar day
    assert shown["contact"]["body"] == "Library Road 1, 8000 Aarhus C\n+45 12 34 56 78"
    # A phone in another of the three languages reads its own.
    assert texts_of(card_object["subheader"]) == {
        other: translate(other, "Library card") for other in SUPPORTED
    }
    for module in card_object["textModulesData"]:
        assert set(texts_of(module["localizedHeader"])) == set(SUPPORTED)
        assert texts_of(module["localizedBody"])[language] == module["body"]
    assert texts_of(shown["lost"]["localizedBody"]) == {
        other: translate(other, PASS_TEXTS["help.lost"]) for other in SUPPORTED
    }


def test_the_class_puts_status_and_expiry_on_the_front_and_links_to_my_account() -> None:
    body = generic_class(ISSUER, language="da", account_url="https://library.example.org/")

    assert body["id"] == class_id(ISSUER) == f"{ISSUER_ID}.library_card"
    assert body["multipleDevicesAndHoldersAllowedStatus"] == "ONE_USER_ALL_DEVICES"
    row = body["classTemplateInfo"]["cardTemplateOverride"]["cardRowTemplateInfos"][0]
    paths = [
        row["twoItems"][item]["firstValue"]["fields"][0]["fieldPath"]
        for item in ("startItem", "endItem")
    ]
    assert paths == ["object.textModulesData['status']", "object.textModulesData['expires']"]
    (link,) = body["linksModuleData"]["uris"]
    assert link["uri"] == "https://library.example.org/"
    assert link["localizedDescription"]["defaultValue"]["language"] == "da"
    assert "linksModuleData" not in generic_class(ISSUER)


def test_ids_and_refusals_of_bad_values() -> None:
    assert object_id(ISSUER, 7) == f"{ISSUER_ID}.card-7"
    other = GoogleIssuer(issuer_id=ISSUER_ID, service_account_email=EMAIL, class_suffix="cards")
    assert class_id(other) == f"{ISSUER_ID}.cards"
    with pytest.raises(InvalidInput, match="issuer id"):
        GoogleIssuer(issuer_id="library", service_account_email=EMAIL)
    with pytest.raises(InvalidInput, match="class suffix"):
        GoogleIssuer(issuer_id=ISSUER_ID, service_account_email=EMAIL, class_suffix="a b")
    with pytest.raises(InvalidInput, match="one of da, de, en"):
        generic_object(card(), ISSUER, NOW, "fr")
    with pytest.raises(InvalidInput, match="time zone"):
        generic_object(card(expires_at=datetime(2027, 6, 30)), ISSUER, NOW, "en")
    with pytest.raises(InvalidInput, match="origin"):
        save_claims(ISSUER, [{"id": "x"}], ["https://library.example.org/path"], NOW)
    with pytest.raises(InvalidInput, match="at least one"):
        save_claims(ISSUER, [], ORIGINS, NOW)
    with pytest.raises(InvalidInput, match="web address"):
        generic_class(ISSUER, account_url="javascript:alert(1)")


def test_a_key_of_another_account_than_the_issuers_is_refused(account: ServiceAccount) -> None:
    stranger = GoogleIssuer(issuer_id=ISSUER_ID, service_account_email="other@example.org")
    with pytest.raises(InvalidInput, match="another account"):
        save_link(account, stranger, generic_object(card(), ISSUER, NOW, "en"), ORIGINS, NOW)


# -- the key file ---------------------------------------------------------------------------


def test_a_bad_key_file_is_refused_clearly(tmp_path: Path, private_key: rsa.RSAPrivateKey) -> None:
    def refusal(document: object) -> str:
        path = tmp_path / "key.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        with pytest.raises(InvalidInput) as caught:
            ServiceAccount.from_file(path)
        assert caught.value.code == "google_wallet_key"
        assert "PRIVATE KEY" not in caught.value.message
        return caught.value.message

    good = key_document(private_key)
    with pytest.raises(InvalidInput, match="cannot be read"):
        ServiceAccount.from_file(tmp_path / "missing.json")
    assert "not JSON" in refusal("-----BEGIN PRIVATE KEY-----\nnot a key file")
    assert "lacks private_key" in refusal({**good, "private_key": ""})
    assert "lacks client_email, token_uri" in refusal(
        {key: value for key, value in good.items() if key not in ("client_email", "token_uri")}
    )
    assert "not a service account" in refusal({**good, "type": "authorized_user"})
    assert "PEM" in refusal({**good, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n"})
    assert "RSA" in refusal({**good, "private_key": pem(ec.generate_private_key(ec.SECP256R1()))})
    assert "https" in refusal({**good, "token_uri": "http://oauth2.example.org/token"})


def test_the_settings_say_whether_google_wallet_is_offered(
    tmp_path: Path, private_key: rsa.RSAPrivateKey
) -> None:
    nothing = Settings(_env_file=None)
    assert not google_wallet_configured(nothing)
    with pytest.raises(InvalidInput, match="not set up"):
        google_issuer(nothing)

    key_path = tmp_path / "service-account.json"
    key_path.write_text(json.dumps(key_document(private_key)))
    configured = Settings(
        _env_file=None,
        google_wallet_issuer_id=ISSUER_ID,
        google_wallet_key_path=key_path,
        google_wallet_class_suffix="cards",
        google_wallet_api_url="http://127.0.0.1:9/walletobjects/v1/",
    )
    assert google_wallet_configured(configured)
    assert google_account(configured).client_email == EMAIL
    issuer = google_issuer(configured)
    assert issuer == GoogleIssuer(
        issuer_id=ISSUER_ID, service_account_email=EMAIL, class_suffix="cards"
    )
    assert google_api(configured).base_url == "http://127.0.0.1:9/walletobjects/v1"
    assert "PRIVATE" not in repr(google_account(configured))


# -- the REST API, against the simulator ------------------------------------------------------


@pytest.fixture
async def sim(private_key: rsa.RSAPrivateKey) -> AsyncIterator[GoogleWalletSim]:
    stand_in = GoogleWalletSim(
        public_key=private_key.public_key(), client_email=EMAIL, key_id=KEY_ID
    )
    async with serving(stand_in) as running:
        yield running


def api_for(sim: GoogleWalletSim, key: rsa.RSAPrivateKey) -> GoogleWalletApi:
    account = ServiceAccount.from_json(json.dumps(key_document(key, sim.token_url)))
    return GoogleWalletApi(account, base_url=sim.api_url, timeout=5)


def settings_for(sim: GoogleWalletSim, key: rsa.RSAPrivateKey, folder: Path) -> Settings:
    key_path = folder / "service-account.json"
    key_path.write_text(json.dumps(key_document(key, sim.token_url)))
    return Settings(
        _env_file=None,
        google_wallet_issuer_id=ISSUER_ID,
        google_wallet_key_path=key_path,
        google_wallet_api_url=sim.api_url,
    )


async def test_the_adapter_creates_the_class_once_and_keeps_the_object_up_to_date(
    sim: GoogleWalletSim, private_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    settings = settings_for(sim, private_key, tmp_path)
    issuer = google_issuer(settings)
    body = generic_class(issuer, language="da")
    async with google_api(settings) as api:
        await api.ensure_class(body)
        await api.ensure_class(body)
    async with google_api(settings) as again:  # another process finds the class there
        await again.ensure_class(body)

    assert list(sim.classes) == [f"{ISSUER_ID}.library_card"]
    assert sim.count("POST", "genericClass") == 1

    async with google_api(settings) as api:
        stored = await api.upsert_object(generic_object(card(), issuer, NOW, "da"))
        assert stored["state"] == "ACTIVE"
        assert sim.objects[f"{ISSUER_ID}.card-7"]["barcode"]["value"] == NUMBER

        # The card is reported lost: the pass Google holds turns inactive, without barcode.
        lost = generic_object(card(state=CardState.LOST), issuer, NOW, "da")
        await api.upsert_object(lost)
        held = sim.objects[f"{ISSUER_ID}.card-7"]
        assert held["state"] == "INACTIVE"
        assert "barcode" not in held
        assert modules(held)["status"]["body"] == "Mistet – må ikke bruges"
        assert sim.count("POST", "genericObject") == 1  # inserted once, replaced after

        fetched = await api.get_object(f"{ISSUER_ID}.card-7")
        assert fetched is not None
        assert fetched["state"] == "INACTIVE"
        assert await api.get_object(f"{ISSUER_ID}.card-8") is None
    assert sim.token_requests == 3  # one access token per adapter served all its calls


async def test_a_token_google_stops_accepting_is_replaced(
    sim: GoogleWalletSim, private_key: rsa.RSAPrivateKey
) -> None:
    async with api_for(sim, private_key) as api:
        await api.ensure_class(generic_class(ISSUER))
        sim.tokens.clear()  # revoked, or expired early

        await api.upsert_object(generic_object(card(), ISSUER, NOW, "en"))
    assert f"{ISSUER_ID}.card-7" in sim.objects
    assert sim.token_requests == 2


async def test_a_token_signed_by_another_key_is_refused(
    sim: GoogleWalletSim,
    other_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="libcard")
    async with api_for(sim, other_key) as api:
        with pytest.raises(WalletApiError) as caught:
            await api.upsert_object(generic_object(card(), ISSUER, NOW, "en"))

    assert isinstance(caught.value, LibcardError)
    assert caught.value.status == 502
    assert caught.value.code == "google_wallet_refused"
    assert caught.value.upstream_status == 400
    assert "Invalid JWT Signature" in caught.value.upstream_message
    assert sim.objects == {}
    assert sim.tokens == {}
    # The log says what failed, and nothing that would let anyone else in.
    assert "Invalid JWT Signature" in caplog.text
    assert "PRIVATE KEY" not in caplog.text
    assert "eyJ" not in caplog.text  # no JWT (assertion or otherwise)


async def test_googles_refusals_and_silence_become_wallet_api_errors(
    sim: GoogleWalletSim, private_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="libcard")
    async with api_for(sim, private_key) as api:
        # No class yet: Google refuses the object, and says why.
        with pytest.raises(WalletApiError) as caught:
            await api.upsert_object(generic_object(card(), ISSUER, NOW, "en"))
    assert caught.value.upstream_status == 404
    assert "Class not found" in caught.value.upstream_message
    assert NUMBER not in caplog.text
    assert not any(token in caplog.text for token in sim.tokens)

    # Google's token endpoint answers, its API does not.
    closed = f"http://127.0.0.1:{free_port()}/walletobjects/v1"
    async with GoogleWalletApi(api.account, base_url=closed, timeout=2) as nobody:
        with pytest.raises(WalletApiError) as silent:
            await nobody.get_object(f"{ISSUER_ID}.card-7")
    assert silent.value.upstream_status is None
    assert silent.value.code == "google_wallet_unavailable"
