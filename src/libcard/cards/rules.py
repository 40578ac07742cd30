"""Card numbers (institution prefix + serial + Luhn digit), kinds and lifecycle, as pure rules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from libcard.errors import InvalidInput, RuleViolation


class CardKind(StrEnum):
    PHYSICAL = "physical"
    ECARD = "ecard"
    STUDENT_ID = "student_id"
    EMPLOYEE_BADGE = "employee_badge"
    HEALTH_CARD = "health_card"


# Numbers libcard issues itself carry the institution's prefix and a Luhn check digit; the
# others come from the university's card system or the national health-insurance card.
ISSUED_KINDS = frozenset({CardKind.PHYSICAL, CardKind.ECARD})
PHYSICAL_KINDS = frozenset(
    {CardKind.PHYSICAL, CardKind.STUDENT_ID, CardKind.EMPLOYEE_BADGE, CardKind.HEALTH_CARD}
)


class CardState(StrEnum):
    NOT_ACTIVATED = "not_activated"
    ACTIVE = "active"
    LOST = "lost"
    STOLEN = "stolen"
    REPLACED = "replaced"
    EXPIRED = "expired"


# The lifecycle. Lost may still become stolen (R12: the desk, with the patron in person);
# replaced, stolen and expired are final.
TRANSITIONS: dict[CardState, frozenset[CardState]] = {
    CardState.NOT_ACTIVATED: frozenset(
        {CardState.ACTIVE, CardState.LOST, CardState.STOLEN, CardState.REPLACED, CardState.EXPIRED}
    ),
    CardState.ACTIVE: frozenset(
        {CardState.LOST, CardState.STOLEN, CardState.REPLACED, CardState.EXPIRED}
    ),
    CardState.LOST: frozenset({CardState.STOLEN, CardState.REPLACED}),
    CardState.STOLEN: frozenset({CardState.REPLACED}),
    CardState.REPLACED: frozenset(),
    CardState.EXPIRED: frozenset(),
}

# Card states in which the card number is refused; using it is logged as possible misuse.
MISUSE_STATES = frozenset({CardState.LOST, CardState.STOLEN, CardState.REPLACED})


def check_transition(current: CardState, target: CardState) -> None:
    if target not in TRANSITIONS[current]:
        raise RuleViolation(
            "card_state_transition",
            f"A card that is {current.value.replace('_', ' ')} cannot become "
            f"{target.value.replace('_', ' ')}.",
            current=current.value,
            target=target.value,
        )


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload + digit` pass the Luhn (mod 10) check."""
    total = 0
    # Double every second digit counting from the right of the payload (the check digit's left).
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def _ascii_digits(text: str) -> bool:
    """0-9 only: str.isdigit() also accepts '²' or Arabic-Indic digits, which int() refuses."""
    return text.isascii() and text.isdigit()


def luhn_valid(number: str) -> bool:
    return (
        _ascii_digits(number) and len(number) >= 2 and luhn_check_digit(number[:-1]) == number[-1]
    )


def make_card_number(prefix: str, serial: int, length: int) -> str:
    serial_width = length - len(prefix) - 1
    if serial < 0 or len(str(serial)) > serial_width:
        raise RuleViolation(
            "card_serials_exhausted",
            f"No card numbers left for prefix {prefix} at length {length}.",
        )
    payload = f"{prefix}{serial:0{serial_width}d}"
    return payload + luhn_check_digit(payload)


def normalise_number(text: str) -> str:
    """Scanners and people add spaces or dashes; card numbers are compared without them."""
    return "".join(ch for ch in text.strip() if ch not in " -").upper()


def check_number_format(number: str) -> None:
    if not number or len(number) > 32 or not number.isalnum():
        raise InvalidInput(
            "card_number_format",
            "A card number is 1–32 letters or digits (spaces and dashes are ignored).",
        )


def check_issued_number(number: str, prefix: str, length: int) -> None:
    """A number with the institution's prefix and length must carry a valid check digit."""
    if not looks_issued(number, prefix, length):
        raise InvalidInput(
            "card_number_format",
            f"Card numbers of this library have {length} digits and start with {prefix}.",
        )
    if not luhn_valid(number):
        raise InvalidInput(
            "card_number_check_digit",
            "The card number's check digit is wrong; check for a mistyped digit.",
        )


def looks_issued(number: str, prefix: str, length: int) -> bool:
    return _ascii_digits(number) and number.startswith(prefix) and len(number) == length


def effective_state(state: CardState, expires_at: datetime | None, now: datetime) -> CardState:
    """A card past its expiry date is expired even before a job has written so."""
    usable_so_far = state in (CardState.ACTIVE, CardState.NOT_ACTIVATED)
    if usable_so_far and expires_at is not None and expires_at <= now:
        return CardState.EXPIRED
    return state


PHOTO_ID_KINDS = frozenset(
    {"passport", "national_id_card", "driving_licence", "residence_permit", "student_id_card"}
)


def check_photo_id(kind: str | None) -> str:
    if kind not in PHOTO_ID_KINDS:
        allowed = ", ".join(sorted(PHOTO_ID_KINDS))
        raise InvalidInput(
            "photo_id_required", f"Record which valid photo ID was checked: one of {allowed}."
        )
    return kind
