"""Languages: Babel catalogues, negotiation from Accept-Language, amounts and dates.

Texts are written in English in the code and the templates and translated through the gettext
catalogues in `libcard/locale/<language>/LC_MESSAGES/messages.po`. The catalogues are read from
their `.po` source when first needed, so there is no compiled file to keep in step.
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import NullTranslations, Translations

from libcard.kit.money import CURRENCY_EXPONENTS

SUPPORTED = ("da", "de", "en")
DEFAULT_LANGUAGE = "en"
LOCALES = {"da": "da_DK", "de": "de_DE", "en": "en_GB"}

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"


def N_(message: str) -> str:  # the gettext name, which extraction looks for
    """Marks a text for the catalogues where it is defined; it is translated where shown."""
    return message


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue of `language`; English, the language of the source, has none."""
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language not in SUPPORTED or language == DEFAULT_LANGUAGE or not po_file.exists():
        return NullTranslations()
    with po_file.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def translate(language: str, message: str, **values: object) -> str:
    """`message` in `language`, with `%(name)s` placeholders filled from `values`."""
    text = translations(language).gettext(message)
    return text % values if values else text


def negotiate(accept_language: str | None, fallback: str = DEFAULT_LANGUAGE) -> str:
    """The best supported language for an Accept-Language header (RFC 9110 quality values)."""
    if not accept_language:
        return fallback if fallback in SUPPORTED else DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary == "*":
            primary = fallback
        if primary in SUPPORTED and quality > 0:
            ranked.append((-quality, index, primary))
    if not ranked:
        return fallback if fallback in SUPPORTED else DEFAULT_LANGUAGE
    return sorted(ranked)[0][2]


def money(minor: int, currency: str, language: str) -> str:
    value = Decimal(minor).scaleb(-CURRENCY_EXPONENTS[currency])
    return format_currency(value, currency, locale=LOCALES.get(language, "en_GB"))


def day(moment: datetime, language: str, timezone: str = "Europe/Copenhagen") -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return format_date(local.date(), format="long", locale=LOCALES.get(language, "en_GB"))


def moment(at: datetime, language: str, timezone: str = "Europe/Copenhagen") -> str:
    """A date with the time of day, in the institution's time zone."""
    local = at.astimezone(ZoneInfo(timezone))
    return format_datetime(local, format="medium", locale=LOCALES.get(language, "en_GB"))
