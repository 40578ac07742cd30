"""Amounts as integers of minor units: formatting and parsing (kit/money.py)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libcard.errors import InvalidInput
from libcard.kit.money import (
    CURRENCY_EXPONENTS,
    Money,
    check_currency,
    format_minor,
    parse_amount,
)

# Every amount a library could plausibly charge, refund or report, and then some.
amounts = st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1)


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (22500, "DKK", "225.00"),
        (22499, "DKK", "224.99"),
        (5, "DKK", "0.05"),
        (0, "DKK", "0.00"),
        (-5, "DKK", "-0.05"),
        (-22500, "EUR", "-225.00"),
        (1500, "ISK", "1500"),  # no minor unit
    ],
)
def test_format_minor(minor: int, currency: str, text: str) -> None:
    assert format_minor(minor, currency) == text


def test_money_prints_amount_and_currency() -> None:
    assert str(Money(22500, "DKK")) == "225.00 DKK"


def test_money_orders_by_amount() -> None:
    assert Money(22499, "DKK") < Money(22500, "DKK")


@given(amounts)
def test_dkk_round_trips_through_text(minor: int) -> None:
    assert parse_amount(format_minor(minor, "DKK"), "DKK") == minor


@given(amounts, st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_every_currency_round_trips_through_text(minor: int, currency: str) -> None:
    assert parse_amount(format_minor(minor, currency), currency) == minor


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("225", 22500),
        ("225.0", 22500),
        ("225.00", 22500),
        (" 225.00 ", 22500),
        ("0.01", 1),
        ("-12.50", -1250),
        ("+3", 300),
    ],
)
def test_parse_amount_reads_plain_decimals(text: str, minor: int) -> None:
    assert parse_amount(text, "DKK") == minor


@pytest.mark.parametrize("text", ["1.005", "0.001", "224.999", "-0.125"])
def test_parse_amount_refuses_more_decimals_than_the_currency_has(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_amount(text, "DKK")
    assert info.value.code == "invalid_amount"
    assert "at most 2 decimals" in info.value.message


def test_parse_amount_refuses_decimals_for_a_currency_without_minor_unit() -> None:
    assert parse_amount("1500", "ISK") == 1500
    with pytest.raises(InvalidInput, match="at most 0 decimals"):
        parse_amount("1500.5", "ISK")


@given(amounts, st.integers(min_value=1, max_value=9))
def test_a_third_decimal_is_always_refused(minor: int, digit: int) -> None:
    text = format_minor(minor, "DKK") + str(digit)
    with pytest.raises(InvalidInput):
        parse_amount(text, "DKK")


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", "12kr", "kr. 12", "1.2.3", "NaN", "sNaN", "Infinity", "-inf", "1 000"],
)
def test_parse_amount_refuses_garbage(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_amount(text, "DKK")
    assert info.value.code == "invalid_amount"


@pytest.mark.parametrize(
    "text",
    [
        # More than 28 significant digits used to be rounded by the default decimal context,
        # so a third decimal slipped through as a different amount.
        "100000000000000.0000000000000001",
        "1.0000000000000000000000000001",
        "0." + "0" * 100 + "1",
    ],
)
def test_parse_amount_never_rounds_long_input(text: str) -> None:
    with pytest.raises(InvalidInput, match="decimals"):
        parse_amount(text, "DKK")


@pytest.mark.parametrize("text", ["1e999999999", "1e999990", "9" * 40, "1e15"])
def test_parse_amount_refuses_absurd_amounts_at_once(text: str) -> None:
    """Regression: '1e999990' used to take about half a minute of CPU before any answer."""
    started = time.perf_counter()
    with pytest.raises(InvalidInput) as info:
        parse_amount(text, "DKK")
    assert info.value.code == "invalid_amount"
    assert time.perf_counter() - started < 1.0


def test_parse_amount_refuses_an_unknown_currency() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_amount("10.00", "XYZ")
    assert info.value.code == "unknown_currency"
    assert "DKK" in info.value.message


def test_check_currency() -> None:
    assert check_currency("DKK") == "DKK"
    with pytest.raises(InvalidInput):
        check_currency("dkk")
