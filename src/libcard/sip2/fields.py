"""SIP2 field values: the codec's errors, the value types of the structured fields, the code
tables, and the *kinds* that write one field's value on the line and read it back.

Pure: plain values in, plain values out. Kinds raise `InvalidValue` with a reason; the codec
(`codec.py`) adds the message id and field name and raises `BadFieldError` (parsing) or
`BuildError` (building), so a caller never sees a bare ValueError or IndexError.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")

# --- errors ----------------------------------------------------------------------------------


class Sip2Error(Exception):
    """A line that is not a valid SIP2 message, or a message that cannot be written as one.

    `message_id` is the two-character id when it was known (the server answers a message it
    could not read with a "request SC resend", 96)."""

    def __init__(self, message: str, *, message_id: str | None = None) -> None:
        super().__init__(message)
        self.message_id = message_id


class MalformedMessageError(Sip2Error):
    """Not a SIP2 line at all: empty, control characters inside, a field without its code."""


class UnknownMessageError(Sip2Error):
    """The first two characters are not the id of a SIP2 2.00 message."""


class TruncatedMessageError(Sip2Error):
    """The line ends before the message's fixed-length fields do."""


class BadFieldError(Sip2Error):
    """A field's value is not what the specification allows (a date, a Y/N flag, a count)."""

    def __init__(self, message: str, *, message_id: str | None, field: str, value: str) -> None:
        super().__init__(message, message_id=message_id)
        self.field = field
        self.value = value


class ChecksumError(Sip2Error):
    """The AZ checksum does not match the line: it was damaged on the way."""

    def __init__(
        self, message: str, *, message_id: str | None, expected: str, received: str
    ) -> None:
        super().__init__(message, message_id=message_id)
        self.expected = expected
        self.received = received


class BuildError(Sip2Error):
    """A message value that cannot be written: a "|" (the field delimiter) or a control
    character in a text, a number too wide for its field, a sequence number outside 0–9."""

    def __init__(self, message: str, *, message_id: str | None, field: str) -> None:
        super().__init__(message, message_id=message_id)
        self.field = field


class InvalidValue(Sip2Error):
    """Raised by a kind; the codec turns it into `BadFieldError` or `BuildError` with the
    message and field named. A Sip2Error itself so that it could never escape as anything else."""


# --- code tables (spec values; fields typed `int` accept these members and plain ints) -------


class Language(IntEnum):
    UNKNOWN = 0
    ENGLISH = 1
    FRENCH = 2
    GERMAN = 3
    ITALIAN = 4
    DUTCH = 5
    SWEDISH = 6
    FINNISH = 7
    SPANISH = 8
    DANISH = 9
    PORTUGUESE = 10
    CANADIAN_FRENCH = 11
    NORWEGIAN = 12
    HEBREW = 13
    JAPANESE = 14
    RUSSIAN = 15
    ARABIC = 16
    POLISH = 17
    GREEK = 18
    CHINESE = 19
    KOREAN = 20
    NORTH_AMERICAN_SPANISH = 21
    TAMIL = 22
    MALAY = 23
    UNITED_KINGDOM = 24
    ICELANDIC = 25
    BELGIAN = 26
    TAIWANESE = 27


class ScStatusCode(IntEnum):
    OK = 0
    OUT_OF_PAPER = 1
    SHUTTING_DOWN = 2


class CirculationStatus(IntEnum):
    OTHER = 1
    ON_ORDER = 2
    AVAILABLE = 3
    CHARGED = 4
    CHARGED_NOT_RECALLABLE = 5
    IN_PROCESS = 6
    RECALLED = 7
    WAITING_ON_HOLD_SHELF = 8
    WAITING_TO_BE_RESHELVED = 9
    IN_TRANSIT = 10
    CLAIMED_RETURNED = 11
    LOST = 12
    MISSING = 13


class SecurityMarker(IntEnum):
    OTHER = 0
    NONE = 1
    TATTLE_TAPE = 2
    WHISPER_TAPE = 3


class FeeType(IntEnum):
    OTHER = 1
    ADMINISTRATIVE = 2
    DAMAGE = 3
    OVERDUE = 4
    PROCESSING = 5
    RENTAL = 6
    REPLACEMENT = 7
    COMPUTER_ACCESS = 8
    HOLD = 9


class PaymentType(IntEnum):
    CASH = 0
    VISA = 1
    CREDIT_CARD = 2


class HoldType(IntEnum):
    OTHER = 1
    ANY_COPY = 2
    SPECIFIC_COPY = 3
    ANY_COPY_AT_BRANCH = 4


class HoldMode(StrEnum):
    ADD = "+"
    DELETE = "-"
    CHANGE = "*"


class MediaType(StrEnum):
    """Media type (CK) is a free three-character field; these are the spec's values."""

    OTHER = "000"
    BOOK = "001"
    MAGAZINE = "002"
    BOUND_JOURNAL = "003"
    AUDIO_TAPE = "004"
    VIDEO_TAPE = "005"
    CD = "006"
    DISKETTE = "007"
    BOOK_WITH_DISKETTE = "008"
    BOOK_WITH_CD = "009"
    BOOK_WITH_AUDIO_TAPE = "010"


# --- structured fields: one flag per position --------------------------------------------


@dataclass(frozen=True)
class PatronStatus:
    """The 14-character patron status of 24, 26 and 64: "Y" where a condition holds."""

    charge_privileges_denied: bool = False
    renewal_privileges_denied: bool = False
    recall_privileges_denied: bool = False
    hold_privileges_denied: bool = False
    card_reported_lost: bool = False
    too_many_items_charged: bool = False
    too_many_items_overdue: bool = False
    too_many_renewals: bool = False
    too_many_claims_of_items_returned: bool = False
    too_many_items_lost: bool = False
    excessive_outstanding_fines: bool = False
    excessive_outstanding_fees: bool = False
    recall_overdue: bool = False
    too_many_items_billed: bool = False


@dataclass(frozen=True)
class Summary:
    """The 10-character summary of 63: which item list the SC wants in the answer. The spec
    asks for one at a time; positions 7–10 are reserved (written blank, ignored on reading)."""

    hold_items: bool = False
    overdue_items: bool = False
    charged_items: bool = False
    fine_items: bool = False
    recall_items: bool = False
    unavailable_holds: bool = False


@dataclass(frozen=True)
class SupportedMessages:
    """BX of the ACS status (98): which message pairs the ACS answers, in the spec's order."""

    patron_status: bool = False
    checkout: bool = False
    checkin: bool = False
    block_patron: bool = False
    sc_acs_status: bool = False
    request_resend: bool = False
    login: bool = False
    patron_information: bool = False
    end_patron_session: bool = False
    fee_paid: bool = False
    item_information: bool = False
    item_status_update: bool = False
    patron_enable: bool = False
    hold: bool = False
    renew: bool = False
    renew_all: bool = False


# --- kinds -----------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def describe(text: str) -> str:
    """A value as a person should see it in an error: quoted, control characters escaped."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "…"


def check_text(value: object) -> str:
    """A text that can stand in a field: SIP2 has no escaping, so no "|" and no line breaks."""
    if not isinstance(value, str):
        raise InvalidValue(f"expected text, got {type(value).__name__}")
    if "|" in value:
        raise InvalidValue(f'{describe(value)} contains "|", the SIP2 field delimiter')
    control = _CONTROL.search(value)
    if control:
        raise InvalidValue(f"{describe(value)} contains the control character {control[0]!r}")
    return value


class Kind(ABC, Generic[T]):
    """How one field's value is written and read. `width` is set for fixed-length fields."""

    width: int | None = None
    # Whether an empty variable field means "not given" (typed fields) or an empty text.
    empty_is_missing: ClassVar[bool] = True

    @abstractmethod
    def decode(self, text: str) -> T: ...

    @abstractmethod
    def encode(self, value: T) -> str: ...

    def fits(self, text: str) -> str:
        if self.width is not None and len(text) != self.width:
            raise InvalidValue(f"{describe(text)} is not {self.width} characters long")
        return text


class Text(Kind[str]):
    """Free text: a variable field's value, or a fixed field of exactly `width` characters."""

    empty_is_missing = False

    def __init__(self, width: int | None = None) -> None:
        self.width = width

    def decode(self, text: str) -> str:
        # Only a fixed field can hold a "|" here; refused, so whatever parses can be built.
        return check_text(text)

    def encode(self, value: str) -> str:
        return self.fits(check_text(value))


class Version(Kind[str]):
    """A protocol version, "2.00": a digit, a period, two digits."""

    width = 4
    _FORM = re.compile(r"[0-9]\.[0-9]{2}")

    def decode(self, text: str) -> str:
        if not self._FORM.fullmatch(text):
            raise InvalidValue(f'{describe(text)} is not a protocol version like "2.00"')
        return text

    def encode(self, value: str) -> str:
        return self.decode(check_text(value))


class Flag(Kind[bool]):
    """Y or N."""

    def __init__(self, *, fixed: bool = True) -> None:
        self.width = 1 if fixed else None

    def decode(self, text: str) -> bool:
        if text == "Y":
            return True
        if text == "N":
            return False
        raise InvalidValue(f"expected Y or N, got {describe(text)}")

    def encode(self, value: bool) -> str:
        if not isinstance(value, bool):
            raise InvalidValue(f"expected True or False, got {value!r}")
        return "Y" if value else "N"


class MaybeFlag(Kind[bool | None]):
    """Y, N or U (unknown: the ACS cannot tell, e.g. whether an item is magnetic media)."""

    width = 1

    def decode(self, text: str) -> bool | None:
        return None if text == "U" else FLAG.decode(text)

    def encode(self, value: bool | None) -> str:
        return "U" if value is None else FLAG.encode(value)


class Ok(Kind[bool]):
    """1 or 0. `lenient`: any other character reads as 0 (item properties ok, message 20)."""

    width = 1

    def __init__(self, *, lenient: bool = False) -> None:
        self.lenient = lenient

    def decode(self, text: str) -> bool:
        if text in ("0", "1") or self.lenient:
            return text == "1"
        raise InvalidValue(f"expected 1 or 0, got {describe(text)}")

    def encode(self, value: bool) -> str:
        if not isinstance(value, bool):
            raise InvalidValue(f"expected True or False, got {value!r}")
        return "1" if value else "0"


def _read_digits(text: str, digits: int, exact: bool) -> int:
    # `exact`: a fixed field has exactly `digits` digits; a variable one at most nine (int()
    # of a long digit string is slow, and refused past 4,300 digits).
    if not _DIGITS.fullmatch(text) or len(text) > (digits if exact else 9):
        what = f"{digits} digits" if exact else "a number"
        raise InvalidValue(f"expected {what}, got {describe(text)}")
    return int(text)


class Number(Kind[int]):
    """A non-negative integer written with `width` digits, zero-padded. As a variable field
    (`fixed=False`) it reads any number of digits, as ACSs do not all pad."""

    def __init__(self, width: int, *, fixed: bool = True) -> None:
        self.width = width if fixed else None
        self.digits = width

    def decode(self, text: str) -> int:
        return _read_digits(text, self.digits, self.width is not None)

    def encode(self, value: int) -> str:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidValue(f"expected a whole number, got {value!r}")
        if not 0 <= value < 10**self.digits:
            raise InvalidValue(f"{value} does not fit in {self.digits} digits")
        return f"{value:0{self.digits}d}"


class Count(Kind[int | None]):
    """A count of 0000–9999; four blanks (None) when the ACS does not know or tell."""

    def __init__(self, *, fixed: bool = True) -> None:
        self.width = 4 if fixed else None
        self.number = Number(4, fixed=fixed)

    def decode(self, text: str) -> int | None:
        if text.strip(" ") == "":
            return None
        if self.width is None and len(text) > 4:
            raise InvalidValue(f"expected a count of up to 4 digits, got {describe(text)}")
        return self.number.decode(text)

    def encode(self, value: int | None) -> str:
        return "    " if value is None else self.number.encode(value)


# Military time-zone letters, which the spec uses in the ZZZZ part of a date ("Z" for UTC,
# "Q" for Atlantic Standard Time); blanks (or "J") mean the sender's local time.
_ZONE_HOURS: dict[str, int] = {
    "Z": 0,
    **{letter: hour for hour, letter in enumerate("ABCDEFGHI", start=1)},
    "K": 10,
    "L": 11,
    "M": 12,
    **{letter: -hour for hour, letter in enumerate("NOPQRSTUVWXY", start=1)},
}
_HOUR_ZONES = {hours: letter for letter, hours in _ZONE_HOURS.items()}
_DATE_FORM = re.compile(r"([0-9]{8})(.{4})([0-9]{6})")


def read_date(text: str) -> datetime:
    """ "YYYYMMDDZZZZHHMMSS": a naive datetime for local time, an aware one for a zone letter."""
    match = _DATE_FORM.fullmatch(text)
    if not match:
        raise InvalidValue(f'{describe(text)} is not a date "YYYYMMDDZZZZHHMMSS"')
    day, zone, time = match.groups()
    letter = zone.strip(" ")
    tz: tzinfo | None = None
    if letter in _ZONE_HOURS:
        hours = _ZONE_HOURS[letter]
        tz = UTC if hours == 0 else timezone(timedelta(hours=hours))
    elif letter not in ("", "J"):
        raise InvalidValue(
            f"{describe(text)} has the time zone {describe(zone)}; expected four blanks for "
            'local time or a zone letter ("   Z" for UTC)'
        )
    try:
        return datetime(
            int(day[:4]), int(day[4:6]), int(day[6:]),
            int(time[:2]), int(time[2:4]), int(time[4:]), tzinfo=tz,
        )  # fmt: skip
    except ValueError:
        raise InvalidValue(f"{describe(text)} is not a real date and time") from None


def write_date(value: datetime) -> str:
    """The 18-character form; an offset without a zone letter (+05:30) is written as UTC."""
    if not isinstance(value, datetime):
        raise InvalidValue(f"expected a datetime, got {value!r}")
    when, letter = value, " "
    offset = value.utcoffset()
    if offset is not None:
        hours, rest = divmod(offset, timedelta(hours=1))
        if rest or hours not in _HOUR_ZONES:
            try:
                when = value.astimezone(UTC)
            except OverflowError:
                raise InvalidValue(f"{value!r} cannot be written in UTC") from None
            hours = 0
        letter = _HOUR_ZONES[hours]
    return (
        f"{when.year:04d}{when.month:02d}{when.day:02d}   {letter}"
        f"{when.hour:02d}{when.minute:02d}{when.second:02d}"
    )


class Date(Kind[datetime]):
    """The 18-character date "YYYYMMDDZZZZHHMMSS". ZZZZ is four blanks for the sender's local
    time (a naive datetime) or a zone letter in the last position ("   Z" = UTC, an aware
    datetime). Microseconds are not written."""

    def __init__(self, *, fixed: bool = True) -> None:
        self.width = 18 if fixed else None

    def decode(self, text: str) -> datetime:
        return read_date(text)

    def encode(self, value: datetime) -> str:
        return write_date(value)


class OptionalDate(Kind[datetime | None]):
    """A date that may be absent: 18 blanks, or 18 zeros (the spec's "unsupported" for the
    ACS's clock), read as None; None is written as `empty`."""

    def __init__(self, *, empty: str = " " * 18, fixed: bool = True) -> None:
        self.width = 18 if fixed else None
        self.empty = empty

    def decode(self, text: str) -> datetime | None:
        return None if text in (" " * 18, "0" * 18) else read_date(text)

    def encode(self, value: datetime | None) -> str:
        return self.empty if value is None else write_date(value)


F = TypeVar("F", bound="DataclassInstance")


class Positions(Kind[F]):
    """A row of flags, one character per field of `cls` (a dataclass of bools): "Y" for True,
    `false` for False. Reading also takes " " and "N" as False. Positions past the dataclass's
    fields (reserved by the spec) are written as `false` and ignored when read."""

    def __init__(self, cls: type[F], size: int, false: str, *, fixed: bool = True) -> None:
        self.cls = cls
        self.names = [f.name for f in fields(cls)]
        self.size = size
        self.width = size if fixed else None
        self.false = false

    def decode(self, text: str) -> F:
        if len(text) < self.size or (self.width is not None and len(text) != self.size):
            raise InvalidValue(f"expected {self.size} flags, got {describe(text)}")
        wrong = [char for char in text if char not in "YN "]
        if wrong:
            raise InvalidValue(f'{describe(text)} has {wrong[0]!r} where "Y", "N" or " " belong')
        return self.cls(**{name: text[i] == "Y" for i, name in enumerate(self.names)})

    def encode(self, value: F) -> str:
        if not isinstance(value, self.cls):
            raise InvalidValue(f"expected a {self.cls.__name__}, got {value!r}")
        flags = "".join("Y" if getattr(value, name) else self.false for name in self.names)
        return flags.ljust(self.size, self.false)


TEXT = Text()
FLAG = Flag()
MAYBE_FLAG = MaybeFlag()
OK = Ok()
COUNT = Count()
LANGUAGE = Number(3)
DATE = Date()
OPTIONAL_DATE = OptionalDate()
VERSION = Version()
PATRON_STATUS = Positions(PatronStatus, 14, " ")
SUMMARY = Positions(Summary, 10, " ")
SUPPORTED_MESSAGES = Positions(SupportedMessages, 16, "N", fixed=False)
