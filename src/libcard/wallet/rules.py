"""What an Apple Wallet store-card pass of one library card says, as plain data (pure rules).

The result is the `pass.json` of Apple's pass format plus the texts of its keys in every
language; `apple.py` packs and signs it. Labels and states are keys (`label.status`,
`status.lost`) that each `<lang>.lproj/pass.strings` turns into text, so one pass serves a
phone in any of da, de, en.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from libcard.cards.rules import CardState
from libcard.errors import InvalidInput

FORMAT_VERSION = 1

# States in which the pass is voided: Wallet greys it out and keeps it only as a record.
VOIDED_STATES = frozenset({CardState.LOST, CardState.STOLEN, CardState.REPLACED, CardState.EXPIRED})

# Apple's web service protocol requires an authentication token of at least 16 characters.
MIN_TOKEN_LENGTH = 16

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_HEX_COLOUR = re.compile(r"^#?([0-9a-fA-F]{6})$")


class Symbology(StrEnum):
    """The barcode on the pass; Code 128 by default, QR as an institution's choice."""

    CODE128 = "PKBarcodeFormatCode128"
    QR = "PKBarcodeFormatQR"


@dataclass(frozen=True)
class Colour:
    red: int
    green: int
    blue: int

    def __post_init__(self) -> None:
        for part in (self.red, self.green, self.blue):
            if not 0 <= part <= 255:
                raise InvalidInput(
                    "wallet_colour", "A colour has three parts from 0 to 255.", colour=str(self)
                )

    @classmethod
    def from_hex(cls, text: str) -> Colour:
        """A colour from "#rrggbb" (the form institutions give their branding in)."""
        match = _HEX_COLOUR.match(text.strip())
        if match is None:
            raise InvalidInput(
                "wallet_colour", "A colour is written as #rrggbb, e.g. #003366.", colour=text
            )
        digits = match.group(1)
        return cls(int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))

    def css(self) -> str:
        """The form pass.json takes: "rgb(r, g, b)"."""
        return f"rgb({self.red}, {self.green}, {self.blue})"


@dataclass(frozen=True)
class PassIssuer:
    """The Apple developer account the passes are issued under (from the settings)."""

    pass_type_identifier: str
    team_identifier: str


@dataclass(frozen=True)
class CardPass:
    """Everything a card's pass shows, as plain values."""

    card_id: int  # the card's database id: the pass's serial number, stable for its life
    card_number: str
    holder_name: str
    state: CardState
    institution_name: str
    # A block that stops borrowing (a fee, a PIN lockout, staff): the pass says so at once.
    blocked: bool = False
    expires_at: datetime | None = None
    timezone: str = "Europe/Copenhagen"
    background: Colour = field(default_factory=lambda: Colour(0, 51, 102))
    foreground: Colour = field(default_factory=lambda: Colour(255, 255, 255))
    label: Colour = field(default_factory=lambda: Colour(204, 221, 238))
    symbology: Symbology = Symbology.CODE128
    # The library's address and how to reach it, shown as given on the back of the pass.
    contact: str | None = None
    # The pass web service (updates); both or neither.
    web_service_url: str | None = None
    authentication_token: str | None = None


@dataclass(frozen=True)
class PassContent:
    """pass.json as a dict, and for each language the text of every key it uses."""

    pass_json: dict[str, Any]
    strings: dict[str, dict[str, str]]


def serial_number(card_id: int) -> str:
    """The pass's serial number: the card's id, never its number (which is a credential)."""
    return f"card-{card_id}"


def status_key(card: CardPass) -> str:
    """The status the pass shows; a lost, stolen or replaced card and a block come first."""
    if card.state is not CardState.ACTIVE:
        return f"status.{card.state.value}"
    return "status.blocked" if card.blocked else "status.active"


def is_voided(card: CardPass, now: datetime) -> bool:
    """Whether the pass is void: the card is out of use, or its validity has run out."""
    if card.state in VOIDED_STATES:
        return True
    return card.expires_at is not None and card.expires_at <= now


def check_card(card: CardPass) -> None:
    """What every wallet's pass needs of the card (Apple's and Google's)."""
    if not card.card_number or not card.holder_name.strip():
        raise InvalidInput("wallet_card_incomplete", "A pass needs a card number and a holder.")
    if not card.institution_name.strip():
        raise InvalidInput("wallet_card_incomplete", "A pass needs the institution's name.")
    try:
        card.card_number.encode("iso-8859-1")
    except UnicodeEncodeError:
        raise InvalidInput(
            "wallet_card_number", "The card number has characters a barcode cannot carry."
        ) from None
    if card.expires_at is not None and card.expires_at.tzinfo is None:
        raise InvalidInput("wallet_date", "Dates on a pass carry a time zone.")


def _check(card: CardPass, issuer: PassIssuer) -> None:
    check_card(card)
    if not issuer.pass_type_identifier.startswith("pass.") or not issuer.team_identifier:
        raise InvalidInput(
            "wallet_issuer",
            "The pass type identifier starts with 'pass.' and a team identifier is needed; "
            "both are in the Apple developer account.",
        )
    if (card.web_service_url is None) != (card.authentication_token is None):
        raise InvalidInput(
            "wallet_web_service", "A pass web service needs both its URL and a token."
        )
    if card.web_service_url is not None and not wallet_can_reach(card.web_service_url):
        raise InvalidInput("wallet_web_service", "Wallet reaches a pass web service by HTTPS.")
    token = card.authentication_token
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise InvalidInput(
            "wallet_web_service",
            f"The pass authentication token has at least {MIN_TOKEN_LENGTH} characters.",
        )


def wallet_can_reach(url: str) -> bool:
    """Whether Wallet would call a web service at `url`: HTTPS, or plain HTTP on loopback,
    which a developer's phone setting allows (so a test installation still registers)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def _local_iso(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")


def _field(key: str, label: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "label": label, "value": value, **extra}


def pass_json(card: CardPass, issuer: PassIssuer, now: datetime) -> dict[str, Any]:
    """The pass.json of `card`'s store card at `now` (which decides whether it has run out)."""
    _check(card, issuer)
    voided = is_voided(card, now)
    status = "status.expired" if voided and card.state is CardState.ACTIVE else status_key(card)
    auxiliary: list[dict[str, Any]] = [
        # The status first and prominent: a pass still showing a lost or blocked card as
        # usable would be a defect.
        _field("status", "label.status", status),
    ]
    if card.expires_at is not None:
        # The phone formats the date in its own language; the date is that of the
        # institution's calendar day, wherever the phone is.
        auxiliary.append(
            _field(
                "expires",
                "label.expires",
                _local_iso(card.expires_at, card.timezone),
                dateStyle="PKDateStyleMedium",
                timeStyle="PKDateStyleNone",
                ignoresTimeZone=True,
            )
        )
    back: list[dict[str, Any]] = []
    if voided:
        back.append(_field("voided", "label.status", "help.voided"))
    elif card.blocked:
        back.append(_field("blocked", "label.blocked", "help.blocked"))
    back.append(_field("lost", "label.lost", "help.lost"))
    if card.contact:
        back.append(_field("contact", "label.contact", card.contact))

    content: dict[str, Any] = {
        "formatVersion": FORMAT_VERSION,
        "passTypeIdentifier": issuer.pass_type_identifier,
        "teamIdentifier": issuer.team_identifier,
        "serialNumber": serial_number(card.card_id),
        "organizationName": card.institution_name,
        "description": "pass.description",
        "logoText": card.institution_name,
        "foregroundColor": card.foreground.css(),
        "backgroundColor": card.background.css(),
        "labelColor": card.label.css(),
        "sharingProhibited": True,
        "storeCard": {
            "primaryFields": [_field("holder", "label.holder", card.holder_name)],
            "secondaryFields": [_field("number", "label.number", card.card_number)],
            "auxiliaryFields": auxiliary,
            "backFields": back,
        },
    }
    if not voided:
        # A voided pass carries no barcode: its number is refused, and a scan would only be
        # logged as possible misuse.
        content["barcodes"] = [
            {
                "format": card.symbology.value,
                "message": card.card_number,
                "messageEncoding": "iso-8859-1",
                "altText": card.card_number,
            }
        ]
    else:
        content["voided"] = True
    if card.expires_at is not None:
        content["expirationDate"] = _local_iso(card.expires_at, card.timezone)
    if card.web_service_url is not None:
        content["webServiceURL"] = card.web_service_url
        content["authenticationToken"] = card.authentication_token
    return content


def pass_content(
    card: CardPass, issuer: PassIssuer, now: datetime, strings: dict[str, dict[str, str]]
) -> PassContent:
    """pass.json with the texts of its keys (texts.all_pass_strings()) per language."""
    return PassContent(pass_json=pass_json(card, issuer, now), strings=strings)


def escape_strings_value(text: str) -> str:
    """A text as a quoted string of Apple's .strings format."""
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def strings_file(strings: dict[str, str]) -> bytes:
    """A pass.strings file: `"key" = "value";` lines, UTF-16 with a byte order mark.

    UTF-16 is the encoding Apple's documentation recommends for strings files (and the one
    every version of iOS reads); the byte order mark tells the reader which byte order.
    """
    lines = [
        f"{escape_strings_value(key)} = {escape_strings_value(value)};\n"
        for key, value in sorted(strings.items())
    ]
    return "".join(lines).encode("utf-16")
