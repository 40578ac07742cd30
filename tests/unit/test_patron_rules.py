"""What patrons choose: PINs, passwords and e-mail addresses (patrons/rules.py; R2, R5, R7)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from libcard.errors import InvalidInput
from libcard.patrons.rules import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    check_password,
    check_pin,
    normalise_email,
)

# --- PIN (R5) -------------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["2580", "1357", "90210", "4711", "1350", "20260105", "0042"])
def test_check_pin_accepts_ordinary_pins(pin: str) -> None:
    check_pin(pin)


@pytest.mark.parametrize(
    "pin",
    [
        "0000",  # one repeated digit
        "99999999",
        "1234",  # a straight run up
        "9876",  # and down
        "12345678",
        "3456",
        "8901",  # wrapping round 9 -> 0 is still a run on the keypad
        "2109",
    ],
)
def test_check_pin_refuses_trivial_pins(pin: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_pin(pin)
    assert info.value.code == "pin_trivial"


@pytest.mark.parametrize(
    "pin",
    [
        "",
        "258",  # too short
        "258025802",  # too long
        "25a0",
        "25 80",
        "-2580",
        "2580\n",  # regression: `$` let a trailing newline through to int() (a 500)
        "\u0662\u0665\u0668\u0660",  # Arabic-Indic digits
        "２５８０",  # full-width digits
    ],
)
def test_check_pin_refuses_anything_but_4_to_8_ascii_digits(pin: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_pin(pin)
    assert info.value.code == "pin_format"
    assert "4 to 8 digits" in info.value.message


@given(st.text(max_size=10))
def test_check_pin_refuses_every_non_pin_with_a_readable_refusal(pin: str) -> None:
    """Whatever a form or a terminal sends, the answer is a refusal a person can read."""
    assume(not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8))
    with pytest.raises(InvalidInput) as info:
        check_pin(pin)
    assert info.value.code == "pin_format"


@given(st.text(alphabet="0123456789", min_size=4, max_size=8))
def test_no_accepted_pin_is_a_repeat_or_a_run(pin: str) -> None:
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    trivial = steps in ({0}, {1}, {9})
    if trivial:
        with pytest.raises(InvalidInput):
            check_pin(pin)
    else:
        check_pin(pin)


# --- password (R2, R7) ------------------------------------------------------------------


def test_check_password_accepts_a_reasonable_password() -> None:
    check_password("korrekt hest batteri", personal=("Anna", "Sørensen", "2000000013"))


@pytest.mark.parametrize("length", [MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH])
def test_check_password_accepts_the_length_bounds(length: int) -> None:
    check_password(("Kw7#Rp2!xZ" * 13)[:length])


@pytest.mark.parametrize("guessable", ["hunter2hunter2", "abcdefghij", "Copenhagen1"])
def test_check_password_refuses_what_is_easy_to_guess(guessable: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_password(guessable)
    assert info.value.code in ("password_weak", "password_common")


def test_check_password_refuses_one_character_too_short() -> None:
    with pytest.raises(InvalidInput) as info:
        check_password("abcdefghi")
    assert info.value.code == "password_too_short"
    assert str(MIN_PASSWORD_LENGTH) in info.value.message


def test_check_password_refuses_one_character_too_long() -> None:
    with pytest.raises(InvalidInput) as info:
        check_password("abcdefghij" * 13)
    assert info.value.code == "password_too_long"


@pytest.mark.parametrize(
    "password", ["password123", "PassWord123", "1234567890", "Kodeord123", "qwertyuiop"]
)
def test_check_password_refuses_common_passwords_in_any_case(password: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_password(password)
    assert info.value.code == "password_common"


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "abababababab", "abcabcabcabc"])
def test_check_password_refuses_too_few_different_characters(password: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_password(password)
    assert info.value.code == "password_common"


@pytest.mark.parametrize(
    ("password", "personal"),
    [
        ("xyzSørensen2026", ("Anna", "Sørensen")),
        ("my-card-2000000013!", ("2000000013",)),
        ("ANNASOMMER!!", ("anna",)),
    ],
)
def test_check_password_refuses_the_patrons_name_or_card_number(
    password: str, personal: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInput) as info:
        check_password(password, personal=personal)
    assert info.value.code == "password_personal"


def test_check_password_ignores_short_or_empty_personal_words() -> None:
    """A name like 'Bo' is in too many good passwords to refuse them all."""
    check_password("bolero-vinter-hus", personal=("Bo", "", "Li"))


# --- e-mail -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("anna@example.dk", "anna@example.dk"),
        ("  Anna.Sorensen@Example.DK \n", "anna.sorensen@example.dk"),
        ("a+library@sub.uni.example", "a+library@sub.uni.example"),
    ],
)
def test_normalise_email_trims_and_lowercases(typed: str, stored: str) -> None:
    assert normalise_email(typed) == stored


@pytest.mark.parametrize(
    "address",
    [
        "",
        "anna",
        "anna@",
        "@example.dk",
        "anna@example",
        "anna@example.d",  # a one-letter top-level domain
        "anna@@example.dk",
        "an na@example.dk",
        "anna@exa mple.dk",
        "a" * 65 + "@example.dk",  # local part over 64
        "anna@" + "e" * 250 + ".dk",  # over 254 in all
    ],
)
def test_normalise_email_refuses_what_is_not_an_address(address: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_email(address)
    assert info.value.code == "email_format"


@given(st.emails())
def test_normalise_email_is_idempotent(address: str) -> None:
    try:
        once = normalise_email(address)
    except InvalidInput:
        return  # a few RFC-valid oddities (e.g. one-letter TLDs) are refused on purpose
    assert normalise_email(once) == once
    assert once == once.lower().strip()
