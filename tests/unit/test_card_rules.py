"""Card numbers, the card lifecycle and the photo-ID check (cards/rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libcard.cards.rules import (
    MISUSE_STATES,
    PHOTO_ID_KINDS,
    TRANSITIONS,
    CardState,
    check_issued_number,
    check_number_format,
    check_photo_id,
    check_transition,
    effective_state,
    looks_issued,
    luhn_check_digit,
    luhn_valid,
    make_card_number,
    normalise_number,
)
from libcard.errors import InvalidInput, RuleViolation

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

prefixes = st.text(alphabet="0123456789", min_size=1, max_size=6)


@st.composite
def issued_numbers(draw: st.DrawFn) -> tuple[str, int, str]:
    """(prefix, length, number) for a number the library issued itself."""
    prefix = draw(prefixes)
    length = draw(st.integers(min_value=len(prefix) + 2, max_value=20))
    serial = draw(st.integers(min_value=0, max_value=10 ** (length - len(prefix) - 1) - 1))
    return prefix, length, make_card_number(prefix, serial, length)


# --- Luhn -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "digit"),
    [
        ("7992739871", "3"),  # the textbook example: 79927398713
        ("4539148803436467"[:-1], "7"),  # a published test Visa number
        ("0", "0"),
        ("1", "8"),
    ],
)
def test_luhn_check_digit_matches_published_examples(payload: str, digit: str) -> None:
    assert luhn_check_digit(payload) == digit
    assert luhn_valid(payload + digit)


@pytest.mark.parametrize("number", ["", "7", "79927398710", "7992739871a", "79927398713 "])
def test_luhn_valid_refuses_wrong_or_malformed_numbers(number: str) -> None:
    assert not luhn_valid(number)


@given(issued_numbers(), st.data())
def test_a_single_mistyped_digit_is_always_caught(
    issued: tuple[str, int, str], data: st.DataObject
) -> None:
    """Luhn catches every single-digit typo at the desk or the self-checkout keypad."""
    _, _, number = issued
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    typo = number[:position] + wrong + number[position + 1 :]
    assert not luhn_valid(typo)


@given(issued_numbers(), st.data())
def test_swapping_two_neighbouring_digits_is_caught(
    issued: tuple[str, int, str], data: st.DataObject
) -> None:
    """Luhn catches adjacent transpositions, except the known blind spot 09 <-> 90."""
    _, _, number = issued
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 2))
    a, b = number[position], number[position + 1]
    if a == b or {a, b} == {"0", "9"}:
        return
    swapped = number[:position] + b + a + number[position + 2 :]
    assert not luhn_valid(swapped)


# --- issuing numbers -----------------------------------------------------------------------


@given(issued_numbers())
def test_issued_numbers_have_prefix_length_and_valid_check_digit(
    issued: tuple[str, int, str],
) -> None:
    prefix, length, number = issued
    assert len(number) == length
    assert number.startswith(prefix)
    assert number.isdigit()
    assert luhn_valid(number)
    assert looks_issued(number, prefix, length)
    check_issued_number(number, prefix, length)  # accepted: raises nothing


@given(prefixes, st.integers(min_value=0, max_value=9999), st.integers(min_value=0, max_value=9999))
def test_different_serials_give_different_numbers(prefix: str, a: int, b: int) -> None:
    length = len(prefix) + 5
    assert (make_card_number(prefix, a, length) == make_card_number(prefix, b, length)) == (a == b)


def test_make_card_number_pads_the_serial() -> None:
    assert make_card_number("2000", 1, 10) == "20000000" + "1" + luhn_check_digit("200000001")


@pytest.mark.parametrize("serial", [-1, 100_000])
def test_serials_that_do_not_fit_are_refused(serial: int) -> None:
    # prefix 4 + 5 serial digits + check digit = 10; 100000 needs six digits.
    with pytest.raises(RuleViolation) as info:
        make_card_number("2000", serial, 10)
    assert info.value.code == "card_serials_exhausted"


def test_the_last_serial_that_fits_is_still_issued() -> None:
    number = make_card_number("2000", 99_999, 10)
    assert number.startswith("200099999")
    assert luhn_valid(number)


# --- reading numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (" 2000 0000 12 ", "2000000012"),
        ("2000-0000-12", "2000000012"),
        ("ab-12 cd", "AB12CD"),
        ("\t2000000012\n", "2000000012"),
    ],
)
def test_normalise_number_drops_spaces_dashes_and_case(typed: str, expected: str) -> None:
    assert normalise_number(typed) == expected


@given(st.text(max_size=40))
def test_normalise_number_is_idempotent(text: str) -> None:
    once = normalise_number(text)
    assert normalise_number(once) == once
    assert " " not in once
    assert "-" not in once


@given(issued_numbers())
def test_a_number_typed_with_spaces_and_dashes_is_accepted(issued: tuple[str, int, str]) -> None:
    prefix, length, number = issued
    typed = " " + "-".join(number[i : i + 4] for i in range(0, len(number), 4)) + " "
    check_issued_number(normalise_number(typed), prefix, length)


@pytest.mark.parametrize(
    "number",
    [
        "3000000013",  # another prefix
        "200000001",  # too short
        "20000000130",  # too long
        "20000000A3",  # a letter
        "20000²0013",  # a superscript digit: str.isdigit() says yes, int() says no
        "2000\u0663000013",  # an Arabic-Indic digit
    ],
)
def test_check_issued_number_refuses_numbers_of_the_wrong_form(number: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_issued_number(number, "2000", 10)
    assert info.value.code == "card_number_format"
    assert "10 digits" in info.value.message
    assert "2000" in info.value.message


def test_check_issued_number_refuses_a_wrong_check_digit() -> None:
    good = make_card_number("2000", 42, 10)
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(InvalidInput) as info:
        check_issued_number(wrong, "2000", 10)
    assert info.value.code == "card_number_check_digit"


@pytest.mark.parametrize("number", ["20000²0013", "2000\u0663000013", "2000 000013"])
def test_non_ascii_digits_do_not_look_like_issued_numbers(number: str) -> None:
    """Regression: such numbers used to reach int() and fail with a ValueError (a 500)."""
    assert not looks_issued(number, "2000", 10)
    assert not luhn_valid(number)


@pytest.mark.parametrize("number", ["", "A" * 33, "12 34", "12-34", "12/34"])
def test_check_number_format_refuses_empty_long_or_punctuated(number: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_number_format(number)
    assert info.value.code == "card_number_format"


@pytest.mark.parametrize("number", ["1", "A" * 32, "HEALTH1234", "2000000013"])
def test_check_number_format_accepts_letters_and_digits(number: str) -> None:
    check_number_format(number)


# --- lifecycle --------------------------------------------------------------------------

ALLOWED = {
    (CardState.NOT_ACTIVATED, CardState.ACTIVE),
    (CardState.NOT_ACTIVATED, CardState.LOST),
    (CardState.NOT_ACTIVATED, CardState.STOLEN),
    (CardState.NOT_ACTIVATED, CardState.REPLACED),
    (CardState.NOT_ACTIVATED, CardState.EXPIRED),
    (CardState.ACTIVE, CardState.LOST),
    (CardState.ACTIVE, CardState.STOLEN),
    (CardState.ACTIVE, CardState.REPLACED),
    (CardState.ACTIVE, CardState.EXPIRED),
    (CardState.LOST, CardState.STOLEN),  # R12: the desk may mark a lost card stolen
    (CardState.LOST, CardState.REPLACED),
    (CardState.STOLEN, CardState.REPLACED),
}


@pytest.mark.parametrize("current", list(CardState))
@pytest.mark.parametrize("target", list(CardState))
def test_check_transition_allows_exactly_the_lifecycle(
    current: CardState, target: CardState
) -> None:
    """R1, R10, R12: activation once, lost/stolen/replaced/expired as described."""
    if (current, target) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(RuleViolation) as info:
            check_transition(current, target)
        assert info.value.code == "card_state_transition"
        assert info.value.details == {"current": current.value, "target": target.value}


def test_a_lost_card_cannot_be_reactivated() -> None:
    """R10: from the moment it is reported lost, that card number stays refused."""
    with pytest.raises(RuleViolation) as info:
        check_transition(CardState.LOST, CardState.ACTIVE)
    assert "lost" in info.value.message
    assert "active" in info.value.message


def test_replaced_and_expired_are_final() -> None:
    assert TRANSITIONS[CardState.REPLACED] == frozenset()
    assert TRANSITIONS[CardState.EXPIRED] == frozenset()


def test_lost_stolen_and_replaced_numbers_are_treated_as_misuse() -> None:
    """R10: a lost card's number is refused and its use shown to staff as possible misuse."""
    assert frozenset({CardState.LOST, CardState.STOLEN, CardState.REPLACED}) == MISUSE_STATES
    assert CardState.ACTIVE not in MISUSE_STATES


@pytest.mark.parametrize("state", [CardState.ACTIVE, CardState.NOT_ACTIVATED])
def test_a_card_past_its_expiry_is_expired(state: CardState) -> None:
    assert effective_state(state, NOW - timedelta(seconds=1), NOW) is CardState.EXPIRED
    assert effective_state(state, NOW, NOW) is CardState.EXPIRED  # at the moment itself
    assert effective_state(state, NOW + timedelta(seconds=1), NOW) is state
    assert effective_state(state, None, NOW) is state


@pytest.mark.parametrize("state", [CardState.LOST, CardState.STOLEN, CardState.REPLACED])
def test_expiry_does_not_hide_a_lost_stolen_or_replaced_card(state: CardState) -> None:
    assert effective_state(state, NOW - timedelta(days=30), NOW) is state


# --- photo ID (R6, R12) ----------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PHOTO_ID_KINDS))
def test_check_photo_id_accepts_and_returns_each_known_kind(kind: str) -> None:
    assert check_photo_id(kind) == kind


def test_check_photo_id_knows_passport_and_driving_licence() -> None:
    assert {"passport", "driving_licence"} <= PHOTO_ID_KINDS


@pytest.mark.parametrize("kind", [None, "", "library_card", "PASSPORT", "looked at face"])
def test_check_photo_id_refuses_missing_or_unknown_kinds(kind: str | None) -> None:
    """R6: the desk must record which kind of valid photo ID it saw."""
    with pytest.raises(InvalidInput) as info:
        check_photo_id(kind)
    assert info.value.code == "photo_id_required"
    assert "passport" in info.value.message
