"""What a card's Google Wallet pass says, as plain data (pure rules).

Google Wallet has no library-card type, so the card is a *generic* pass: a `genericClass`
shared by every card of the issuer (layout, the link to My account) and one `genericObject`
per card (holder, status, expiry, barcode). The object says what the Apple pass says
(`rules.py`), with the same texts (`texts.py`): its state follows `rules.is_voided`, a blocked
card says "Blocked" and keeps its barcode, a voided one has none.

Texts are localized strings: the patron's language as the default value and the other
supported languages as translations, so a phone set to any of da, de, en reads its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from libcard.cards.rules import CardState
from libcard.errors import InvalidInput
from libcard.kit.i18n import N_, SUPPORTED, day, translate
from libcard.wallet.rules import (
    CardPass,
    Colour,
    Symbology,
    check_card,
    is_voided,
    status_key,
)
from libcard.wallet.texts import pass_strings

SAVE_URL = "https://pay.google.com/gp/v/save/"
SAVE_AUDIENCE = "google"
SAVE_TYPE = "savetowallet"

# The states of a pass object (Google's `State` enum).
ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
EXPIRED = "EXPIRED"

# A lost, stolen or replaced card's pass is inactive rather than expired: it ended early.
INACTIVE_STATES = frozenset({CardState.LOST, CardState.STOLEN, CardState.REPLACED})

BARCODE_TYPES = {Symbology.CODE128: "CODE_128", Symbology.QR: "QR_CODE"}

# The link from the pass to the portal, where a card is reported lost and blocks explained.
ACCOUNT_LINK_TEXT = N_("My account")

_ISSUER_ID = re.compile(r"^[0-9]{1,25}$")
# Google: the part after "<issuer id>." has only letters, digits, '.', '_' and '-'.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


@dataclass(frozen=True, kw_only=True)
class GoogleIssuer:
    """The Google Wallet issuer account the passes are issued under (from the settings)."""

    issuer_id: str  # the digits the Google Pay & Wallet console shows
    service_account_email: str  # the service account that signs save links and calls the API
    class_suffix: str = "library_card"

    def __post_init__(self) -> None:
        if not _ISSUER_ID.match(self.issuer_id):
            raise InvalidInput(
                "google_wallet_issuer",
                "The Google Wallet issuer id is the number the Google Pay & Wallet console shows.",
            )
        if not _IDENTIFIER.match(self.class_suffix):
            raise InvalidInput(
                "google_wallet_issuer",
                "The Google Wallet class suffix has only letters, digits, '.', '_' and '-'.",
            )
        if "@" not in self.service_account_email:
            raise InvalidInput(
                "google_wallet_issuer", "The service account is named by its e-mail address."
            )


def object_id(issuer: GoogleIssuer, card_id: int) -> str:
    """The pass object's id: the card's id, never its number (which is a credential)."""
    return f"{issuer.issuer_id}.card-{card_id}"


def class_id(issuer: GoogleIssuer) -> str:
    return f"{issuer.issuer_id}.{issuer.class_suffix}"


def object_state(card: CardPass, now: datetime) -> str:
    """ACTIVE; INACTIVE for a lost, stolen or replaced card; EXPIRED once its validity ran out."""
    if card.state in INACTIVE_STATES:
        return INACTIVE
    return EXPIRED if is_voided(card, now) else ACTIVE


def hex_colour(colour: Colour) -> str:
    return f"#{colour.red:02x}{colour.green:02x}{colour.blue:02x}"


def _check_language(language: str) -> None:
    if language not in SUPPORTED:
        raise InvalidInput(
            "wallet_language", f"A pass is written in one of {', '.join(SUPPORTED)}."
        )


def plain(language: str, value: str) -> dict[str, Any]:
    """A LocalizedString of a text that is the same in every language (a name, a number)."""
    return {"defaultValue": {"language": language, "value": value}}


def localized(language: str, values: Mapping[str, str]) -> dict[str, Any]:
    """A LocalizedString: `values[language]` by default, the other languages as translations."""
    return {
        "defaultValue": {"language": language, "value": values[language]},
        "translatedValues": [
            {"language": other, "value": values[other]} for other in SUPPORTED if other != language
        ],
    }


def _texts(key: str) -> dict[str, str]:
    """The text of a pass key (texts.PASS_TEXTS) in every supported language."""
    return {language: pass_strings(language)[key] for language in SUPPORTED}


def _module(
    module_id: str, language: str, header: Mapping[str, str], body: Mapping[str, str]
) -> dict[str, Any]:
    # `header` and `body` for readers of the plain fields; the localized ones win on a phone.
    return {
        "id": module_id,
        "header": header[language],
        "body": body[language],
        "localizedHeader": localized(language, header),
        "localizedBody": localized(language, body),
    }


def _same(value: str) -> dict[str, str]:
    return dict.fromkeys(SUPPORTED, value)


def generic_class(
    issuer: GoogleIssuer, *, language: str = "en", account_url: str | None = None
) -> dict[str, Any]:
    """The genericClass every card's object belongs to.

    The front shows status and expiry side by side (they are the object's text modules
    "status" and "expires"); a pass belongs to one person, on all of their devices.
    """
    _check_language(language)
    body: dict[str, Any] = {
        "id": class_id(issuer),
        "multipleDevicesAndHoldersAllowedStatus": "ONE_USER_ALL_DEVICES",
        "classTemplateInfo": {
            "cardTemplateOverride": {
                "cardRowTemplateInfos": [
                    {
                        "twoItems": {
                            "startItem": _template_item("status"),
                            "endItem": _template_item("expires"),
                        }
                    }
                ]
            }
        },
    }
    if account_url is not None:
        if not account_url.startswith(("https://", "http://")):
            raise InvalidInput("wallet_link", "A link on a pass is a web address (https://…).")
        texts = {other: translate(other, ACCOUNT_LINK_TEXT) for other in SUPPORTED}
        body["linksModuleData"] = {
            "uris": [
                {
                    "id": "account",
                    "uri": account_url,
                    "description": texts[language],
                    "localizedDescription": localized(language, texts),
                }
            ]
        }
    return body


def _template_item(module_id: str) -> dict[str, Any]:
    return {"firstValue": {"fields": [{"fieldPath": f"object.textModulesData['{module_id}']"}]}}


def generic_object(
    card: CardPass, issuer: GoogleIssuer, now: datetime, language: str
) -> dict[str, Any]:
    """The genericObject of `card` at `now` (which decides whether it has run out)."""
    check_card(card)
    _check_language(language)
    voided = is_voided(card, now)
    # As on the Apple pass: an active card past its date says "Expired", any other its state.
    status = "status.expired" if voided and card.state is CardState.ACTIVE else status_key(card)
    modules = [_module("status", language, _texts("label.status"), _texts(status))]
    if card.expires_at is not None:
        # The institution's calendar day, formatted in each language: a card valid until the
        # end of 30 June says 30 June wherever the phone is.
        modules.append(
            _module(
                "expires",
                language,
                _texts("label.expires"),
                {other: day(card.expires_at, other, card.timezone) for other in SUPPORTED},
            )
        )
    if voided:
        modules.append(_module("voided", language, _texts("label.status"), _texts("help.voided")))
    elif card.blocked:
        modules.append(
            _module("blocked", language, _texts("label.blocked"), _texts("help.blocked"))
        )
    modules.append(_module("lost", language, _texts("label.lost"), _texts("help.lost")))
    if card.contact:
        modules.append(_module("contact", language, _texts("label.contact"), _same(card.contact)))

    content: dict[str, Any] = {
        "id": object_id(issuer, card.card_id),
        "classId": class_id(issuer),
        "state": object_state(card, now),
        "cardTitle": plain(language, card.institution_name),
        "header": plain(language, card.holder_name),
        "subheader": localized(language, _texts("pass.description")),
        "hexBackgroundColor": hex_colour(card.background),
        "textModulesData": modules,
    }
    if not voided:
        # A voided pass carries no barcode: its number is refused, and a scan would only be
        # logged as possible misuse.
        content["barcode"] = {
            "type": BARCODE_TYPES[card.symbology],
            "value": card.card_number,
            "alternateText": card.card_number,
        }
    if card.expires_at is not None:
        local = card.expires_at.astimezone(ZoneInfo(card.timezone))
        content["validTimeInterval"] = {"end": {"date": local.isoformat(timespec="seconds")}}
    return content


def object_reference(card_object: Mapping[str, Any]) -> dict[str, Any]:
    """An object already stored at Google, as a save link names it: id and class only.

    Such a link stays short (a whole object in three languages makes a long URL), and the
    pass shows what the API last stored.
    """
    return {"id": card_object["id"], "classId": card_object["classId"]}


def save_claims(
    issuer: GoogleIssuer,
    objects: Sequence[Mapping[str, Any]],
    origins: Iterable[str],
    now: datetime,
) -> dict[str, Any]:
    """The claims of a "Save to Google Wallet" JWT for `objects` (genericObjects).

    `origins` are the sites (scheme and host) that may show the save button; Google refuses
    the button elsewhere.
    """
    if not objects:
        raise InvalidInput("wallet_save", "A save link carries at least one pass.")
    wanted = list(origins)
    for origin in wanted:
        if not _ORIGIN.match(origin):
            raise InvalidInput(
                "wallet_save",
                "An origin is a scheme and host, like https://library.example.org.",
                origin=origin,
            )
    if now.tzinfo is None:
        raise InvalidInput("wallet_date", "Dates on a pass carry a time zone.")
    return {
        "iss": issuer.service_account_email,
        "aud": SAVE_AUDIENCE,
        "typ": SAVE_TYPE,
        "iat": int(now.timestamp()),
        "origins": wanted,
        "payload": {"genericObjects": [dict(item) for item in objects]},
    }
