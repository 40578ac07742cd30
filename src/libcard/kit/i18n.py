"""Languages: negotiation from Accept-Language, and locale-aware amounts and dates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_currency

from libcard.kit.money import CURRENCY_EXPONENTS

SUPPORTED = ("da", "de", "en")
DEFAULT_LANGUAGE = "en"
LOCALES = {"da": "da_DK", "de": "de_DE", "en": "en_GB"}

# A text in every supported language: {"da": …, "de": …, "en": …}.
Text = Mapping[str, str]


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


def pick(text: Text, language: str) -> str:
    return text.get(language) or text[DEFAULT_LANGUAGE]


def money(minor: int, currency: str, language: str) -> str:
    value = Decimal(minor).scaleb(-CURRENCY_EXPONENTS[currency])
    return format_currency(value, currency, locale=LOCALES.get(language, "en_GB"))


def day(moment: datetime, language: str, timezone: str = "Europe/Copenhagen") -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return format_date(local.date(), format="long", locale=LOCALES.get(language, "en_GB"))
