"""Language negotiation and locale-aware amounts and dates (kit/i18n.py; B5, R17)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libcard.kit.i18n import SUPPORTED, day, money, negotiate

# --- negotiate -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("da", "da"),
        ("de-DE,de;q=0.9", "de"),
        ("DA-dk", "da"),  # tags are case-insensitive
        ("en-GB,en;q=0.9,da;q=0.8", "en"),
        ("da;q=0.8, en-GB;q=0.9", "en"),  # quality beats position
        ("fr-FR, de;q=0.5, da;q=0.7", "da"),  # unsupported first choice skipped
        ("de;q=0.5, da;q=0.5", "de"),  # equal quality: the earlier one
        ("en;q=abc, de;q=0.1", "de"),  # a broken weight counts as 'not acceptable'
        ("de ; q=0.3 ,  en ;q=0.2", "de"),
    ],
)
def test_negotiate_picks_the_best_supported_language(header: str, language: str) -> None:
    assert negotiate(header) == language


@pytest.mark.parametrize("header", [None, "", "fr", "fr-CA, es;q=0.9", "da;q=0", "*"])
def test_negotiate_falls_back_when_nothing_supported_is_acceptable(header: str | None) -> None:
    assert negotiate(header) == "en"
    assert negotiate(header, fallback="da") == "da"


def test_da_with_weight_zero_means_not_danish() -> None:
    """RFC 9110: q=0 means 'not acceptable'."""
    assert negotiate("da;q=0, de;q=0.1") == "de"


def test_an_unsupported_fallback_becomes_english() -> None:
    assert negotiate(None, fallback="fr") == "en"
    assert negotiate("fr", fallback="sv") == "en"


def test_a_wildcard_means_the_fallback() -> None:
    assert negotiate("fr, *;q=0.5", fallback="de") == "de"


@given(st.text(max_size=60), st.sampled_from([*SUPPORTED, "fr", ""]))
def test_negotiate_always_answers_a_supported_language(header: str, fallback: str) -> None:
    assert negotiate(header, fallback) in SUPPORTED


# --- money ----------------------------------------------------------------------------


def test_danish_amounts_use_a_decimal_comma_and_kroner() -> None:
    """B5: '225,00 kr.' as Danes write it."""
    text = money(22500, "DKK", "da")
    assert "225,00" in text
    assert "kr." in text
    assert "." not in text.replace("kr.", "")


def test_danish_thousands_are_grouped_with_dots() -> None:
    assert "1.234,56" in money(123456, "DKK", "da")


def test_german_amounts_use_a_decimal_comma() -> None:
    text = money(22500, "EUR", "de")
    assert "225,00" in text
    assert "€" in text


def test_english_amounts_use_a_decimal_point() -> None:
    text = money(22500, "DKK", "en")
    assert "225.00" in text
    assert "DKK" in text


def test_money_respects_currencies_without_minor_unit() -> None:
    assert "1.500" in money(1500, "ISK", "da")
    assert "," not in money(1500, "ISK", "da")


def test_an_unknown_language_formats_like_english() -> None:
    assert money(22500, "DKK", "fr") == money(22500, "DKK", "en")


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(SUPPORTED))
def test_money_shows_every_ore(minor: int, language: str) -> None:
    """No amount is rounded for display: the last two digits are always shown."""
    text = money(minor, "DKK", language)
    digits = "".join(ch for ch in text if ch.isdigit())
    assert digits.lstrip("0") == str(minor).lstrip("0")


# --- day ------------------------------------------------------------------------------


def test_day_uses_the_local_date_in_copenhagen() -> None:
    """23:30 UTC on 1 March is already 2 March in Copenhagen (CET)."""
    moment = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert day(moment, "da") == "2. marts 2026"
    assert day(moment, "de") == "2. März 2026"
    assert day(moment, "en") == "2 March 2026"


def test_day_follows_summer_time() -> None:
    """22:30 UTC in July is 00:30 the next day in Copenhagen (CEST)."""
    assert day(datetime(2026, 7, 1, 22, 30, tzinfo=UTC), "da") == "2. juli 2026"
    assert day(datetime(2026, 7, 1, 21, 30, tzinfo=UTC), "da") == "1. juli 2026"


def test_day_in_another_time_zone() -> None:
    moment = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert day(moment, "en", timezone="UTC") == "1 March 2026"
