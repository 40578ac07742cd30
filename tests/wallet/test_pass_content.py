"""What a card's Apple Wallet pass shows, per card state and per language (R3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from libcard.cards.rules import CardState
from libcard.errors import InvalidInput
from libcard.kit.i18n import translate
from libcard.wallet.rules import (
    CardPass,
    Colour,
    PassIssuer,
    Symbology,
    pass_content,
    pass_json,
    strings_file,
    wallet_can_reach,
)
from libcard.wallet.texts import PASS_TEXTS, all_pass_strings

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ISSUER = PassIssuer("pass.org.example.library", "ABCDE12345")
EXPIRES = datetime(2027, 6, 30, 21, 59, 59, tzinfo=UTC)  # the end of 30 June in Copenhagen


def card(**changes: Any) -> CardPass:
    values: dict[str, Any] = {
        "card_id": 7,
        "card_number": "2100000000123",
        "holder_name": "Karen Blixen",
        "state": CardState.ACTIVE,
        "institution_name": "Example University Library",
        "expires_at": EXPIRES,
        "background": Colour.from_hex("#003366"),
        "foreground": Colour.from_hex("#ffffff"),
        "label": Colour.from_hex("#CCDDEE"),
        "contact": "Library Road 1, 8000 Aarhus C\n+45 12 34 56 78, library@example.org",
    }
    values.update(changes)
    return CardPass(**values)


def fields(content: dict[str, Any], group: str) -> dict[str, dict[str, Any]]:
    return {entry["key"]: entry for entry in content["storeCard"][group]}


def test_an_active_card_shows_holder_number_barcode_and_expiry() -> None:
    content = pass_json(card(), ISSUER, NOW)

    assert content["formatVersion"] == 1
    assert content["passTypeIdentifier"] == "pass.org.example.library"
    assert content["teamIdentifier"] == "ABCDE12345"
    assert content["serialNumber"] == "card-7"
    assert "2100000000123" not in content["serialNumber"]
    assert content["organizationName"] == "Example University Library"
    assert content["logoText"] == "Example University Library"
    assert content["backgroundColor"] == "rgb(0, 51, 102)"
    assert content["foregroundColor"] == "rgb(255, 255, 255)"
    assert content["labelColor"] == "rgb(204, 221, 238)"
    assert fields(content, "primaryFields")["holder"]["value"] == "Karen Blixen"
    assert fields(content, "secondaryFields")["number"]["value"] == "2100000000123"
    auxiliary = fields(content, "auxiliaryFields")
    assert auxiliary["status"]["value"] == "status.active"
    # The institution's calendar day, not the UTC one.
    assert auxiliary["expires"]["value"] == "2027-06-30T23:59:59+02:00"
    assert auxiliary["expires"]["dateStyle"] == "PKDateStyleMedium"
    assert content["expirationDate"] == "2027-06-30T23:59:59+02:00"
    assert content["barcodes"] == [
        {
            "format": "PKBarcodeFormatCode128",
            "message": "2100000000123",
            "messageEncoding": "iso-8859-1",
            "altText": "2100000000123",
        }
    ]
    assert "voided" not in content
    back = fields(content, "backFields")
    assert back["lost"]["value"] == "help.lost"
    assert back["contact"]["value"].startswith("Library Road 1")
    assert "webServiceURL" not in content


def test_a_blocked_card_says_blocked_on_the_front_and_why_on_the_back() -> None:
    content = pass_json(card(blocked=True), ISSUER, NOW)

    assert fields(content, "auxiliaryFields")["status"]["value"] == "status.blocked"
    assert fields(content, "backFields")["blocked"]["value"] == "help.blocked"
    # Blocked is not lost: the card still identifies the patron at the desk.
    assert "voided" not in content
    assert content["barcodes"][0]["message"] == "2100000000123"


@pytest.mark.parametrize(
    "state", [CardState.LOST, CardState.STOLEN, CardState.REPLACED, CardState.EXPIRED]
)
def test_a_card_out_of_use_gives_a_voided_pass_without_a_barcode(state: CardState) -> None:
    content = pass_json(card(state=state, blocked=True), ISSUER, NOW)

    assert content["voided"] is True
    assert "barcodes" not in content
    assert fields(content, "auxiliaryFields")["status"]["value"] == f"status.{state.value}"
    assert fields(content, "backFields")["voided"]["value"] == "help.voided"


def test_an_active_card_past_its_expiry_gives_a_voided_expired_pass() -> None:
    content = pass_json(card(expires_at=datetime(2026, 12, 1, tzinfo=UTC)), ISSUER, NOW)

    assert content["voided"] is True
    assert fields(content, "auxiliaryFields")["status"]["value"] == "status.expired"


def test_a_card_without_expiry_has_no_expiry_date() -> None:
    content = pass_json(card(expires_at=None), ISSUER, NOW)

    assert "expirationDate" not in content
    assert "expires" not in fields(content, "auxiliaryFields")


def test_an_institution_may_choose_a_qr_code() -> None:
    content = pass_json(card(symbology=Symbology.QR), ISSUER, NOW)

    assert content["barcodes"][0]["format"] == "PKBarcodeFormatQR"


def test_the_web_service_is_given_with_its_token() -> None:
    content = pass_json(
        card(web_service_url="https://library.example.org/wallet", authentication_token="t" * 32),
        ISSUER,
        NOW,
    )

    assert content["webServiceURL"] == "https://library.example.org/wallet"
    assert content["authenticationToken"] == "t" * 32


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"web_service_url": "https://library.example.org/wallet"}, "wallet_web_service"),
        (
            {"web_service_url": "http://library.example.org", "authentication_token": "t" * 32},
            "wallet_web_service",
        ),
        (
            {"web_service_url": "https://library.example.org", "authentication_token": "short"},
            "wallet_web_service",
        ),
        ({"card_number": "21€"}, "wallet_card_number"),
        ({"holder_name": "  "}, "wallet_card_incomplete"),
        ({"expires_at": datetime(2027, 1, 1)}, "wallet_date"),
    ],
)
def test_bad_pass_data_is_refused_clearly(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        pass_json(card(**changes), ISSUER, NOW)
    assert refused.value.code == code


def test_a_pass_type_identifier_must_be_apples_form() -> None:
    with pytest.raises(InvalidInput) as refused:
        pass_json(card(), PassIssuer("org.example.library", "ABCDE12345"), NOW)
    assert refused.value.code == "wallet_issuer"


@pytest.mark.parametrize("text", ["003366", "#00336", "#zz3366", "rgb(0, 51, 102)"])
def test_colours_are_read_from_hex_or_refused(text: str) -> None:
    if text == "003366":
        assert Colour.from_hex(text) == Colour(0, 51, 102)
        return
    with pytest.raises(InvalidInput):
        Colour.from_hex(text)


def _keys_used(content: dict[str, Any]) -> set[str]:
    used = {content["description"]}
    for group in content["storeCard"].values():
        for entry in group:
            used.add(entry["label"])
            if entry["value"] in PASS_TEXTS:
                used.add(entry["value"])
    return used


@pytest.mark.parametrize(
    "changes",
    [{}, {"blocked": True}, {"state": CardState.LOST}, {"state": CardState.NOT_ACTIVATED}],
)
def test_every_key_on_the_pass_has_a_text_in_every_language(changes: dict[str, Any]) -> None:
    content = pass_content(card(**changes), ISSUER, NOW, all_pass_strings())

    assert set(content.strings) == {"da", "de", "en"}
    for language, strings in content.strings.items():
        assert _keys_used(content.pass_json) <= set(strings), language
        for key, english in PASS_TEXTS.items():
            assert strings[key] == translate(language, english)
    assert content.strings["en"]["status.lost"] == "Lost – do not use"
    assert content.strings["en"]["label.status"] == "Status"


@pytest.mark.parametrize(
    ("language", "key", "text"),
    [
        ("da", "status.lost", "Mistet – må ikke bruges"),
        ("da", "status.blocked", "Spærret"),
        ("da", "label.number", "Kortnummer"),
        ("de", "status.lost", "Verloren – nicht verwenden"),
        ("de", "status.blocked", "Gesperrt"),
        ("de", "label.number", "Kartennummer"),
    ],
)
def test_the_pass_speaks_danish_and_german(language: str, key: str, text: str) -> None:
    strings = all_pass_strings()[language]
    if strings[key] == PASS_TEXTS[key]:
        pytest.skip("the wallet texts are not in the catalogues yet")
    assert strings[key] == text


def test_pass_strings_files_are_utf16_in_apples_format() -> None:
    data = strings_file({"status.lost": 'Mistet – "ikke" brug', "help": "line one\nline two"})

    assert data.startswith((b"\xff\xfe", b"\xfe\xff"))  # a byte order mark
    text = data.decode("utf-16")
    assert '"status.lost" = "Mistet – \\"ikke\\" brug";\n' in text
    assert '"help" = "line one\\nline two";\n' in text


@pytest.mark.parametrize(
    ("url", "reachable"),
    [
        ("https://library.example.org/wallet/apple", True),
        ("http://library.example.org/wallet/apple", False),
        ("http://127.0.0.1:8000/wallet/apple", True),  # a developer's phone may allow it
        ("http://localhost/wallet/apple", True),
        ("http://127.0.0.1.example.org/wallet/apple", False),
        ("ftp://library.example.org", False),
    ],
)
def test_wallet_reaches_a_web_service_by_https_or_on_loopback(url: str, reachable: bool) -> None:
    assert wallet_can_reach(url) is reachable
