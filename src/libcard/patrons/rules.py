"""Pure checks on what patrons choose: passwords and PINs, e-mail addresses."""

from __future__ import annotations

import itertools
import re

from zxcvbn import zxcvbn

from libcard.errors import InvalidInput

PIN_PATTERN = re.compile(r"^[0-9]{4,8}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
# zxcvbn's score: 3 means "safely unguessable: moderate protection from an offline attack".
MIN_PASSWORD_SCORE = 3

# Common choices in the libraries' own languages, on top of zxcvbn's lists of the passwords,
# names and words most often chosen.
COMMON_PASSWORDS = frozenset(
    [
        "123456",
        "123456789",
        "12345678",
        "password",
        "qwerty123",
        "qwerty",
        "1234567890",
        "1q2w3e4r",
        "111111",
        "123123",
        "password1",
        "iloveyou",
        "1234567",
        "000000",
        "abc123",
        "qwertyuiop",
        "password123",
        "passw0rd",
        "letmein",
        "welcome",
        "admin123",
        "dragon",
        "monkey",
        "football",
        "sommer2024",
        "sommer2025",
        "sommer2026",
        "vinter2025",
        "bibliotek",
        "bibliothek",
        "library",
        "library123",
        "hejmeddig",
        "kodeord",
        "kodeord123",
        "passwort",
        "passwort123",
        "hallo123",
    ]
)


def check_pin(pin: str) -> None:
    """4–8 digits, and not trivially guessable: no single repeated digit, no straight run."""
    if not PIN_PATTERN.fullmatch(pin):  # fullmatch: `$` alone lets a trailing newline in
        raise InvalidInput("pin_format", "A PIN is 4 to 8 digits.")
    if len(set(pin)) == 1:
        raise InvalidInput("pin_trivial", "A PIN of one repeated digit is too easy to guess.")
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {9}):
        raise InvalidInput("pin_trivial", "A PIN of consecutive digits is too easy to guess.")


def check_password(password: str, personal: tuple[str, ...] = ()) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "password_too_short", f"A password has at least {MIN_PASSWORD_LENGTH} characters."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            "password_too_long", f"A password has at most {MAX_PASSWORD_LENGTH} characters."
        )
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        raise InvalidInput(
            "password_common", "This password is too common; choose one that is harder to guess."
        )
    for word in personal:
        if word and len(word) >= 4 and word.lower() in lowered:
            raise InvalidInput(
                "password_personal", "A password must not contain your name or card number."
            )
    # zxcvbn refuses more than 72 characters; the first 72 of a long one decide its score.
    scored = zxcvbn(password[:72], user_inputs=[w for w in personal if w])
    if scored["score"] < MIN_PASSWORD_SCORE:
        raise InvalidInput(
            "password_weak",
            "This password is too easy to guess; use a longer one, for example a few "
            "unrelated words.",
        )


def normalise_email(address: str) -> str:
    address = address.strip()
    if not EMAIL_PATTERN.match(address) or len(address) > 254:
        raise InvalidInput("email_format", f"{address!r} is not an e-mail address.")
    # Compared without case: nobody expects Anna@ and anna@ to be two accounts.
    return address.lower()
