"""How a SIP2 2.00 message is declared: the field helpers, the kinds only messages use, and
the base classes. The messages themselves are in patron_messages.py and item_messages.py.

The messages are frozen dataclasses.

Each class declares its fields in the order of the specification: first the fixed-length
fields (`fixed(kind)`, written one after another without delimiters), then the variable
fields by their two-letter code (`required`, `optional`, `repeated`; each written as code,
value and "|"). `codec.layout(cls)` reads those declarations; the codec needs nothing else.

Required variable fields are always written, empty when they hold ""; the spec lets a
required field be empty ("zero length") but not left out. A required field a terminal left
out reads as its default, so a missing terminal password is the same as an empty one.
Optional fields are None when absent. Password fields stay out of `repr`, so logging a
message never logs a PIN.
"""

# The field helpers below return dataclasses.field(...) like any dataclass field; RUF009 only
# recognises field() itself.

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from libcard.sip2.fields import (
    OPTIONAL_DATE,
    TEXT,
    Count,
    Flag,
    Kind,
    Number,
    OptionalDate,
)

# Where a field keeps its SIP2 declaration: ("fixed", kind) or (mode, code, kind), the mode
# "required", "optional" or "repeated". `codec.layout` reads it.
SPEC = "sip2"


def fixed(kind: Kind[Any]) -> Any:
    return field(metadata={SPEC: ("fixed", kind)})


def required(code: str, kind: Kind[Any] = TEXT, *, default: Any = "", secret: bool = False) -> Any:
    return field(default=default, repr=not secret, metadata={SPEC: ("required", code, kind)})


def optional(code: str, kind: Kind[Any] = TEXT, *, secret: bool = False) -> Any:
    return field(default=None, repr=not secret, metadata={SPEC: ("optional", code, kind)})


def repeated(code: str) -> Any:
    return field(default=(), metadata={SPEC: ("repeated", code, TEXT)})


# Kinds used only here.
NB_DATE = OPTIONAL_DATE  # no-block due date, return date: blank when not used
SYNC_DATE = OptionalDate(empty="0" * 18)  # ACS clock; the spec's "unsupported" is 18 zeros
VAR_DATE = OptionalDate(fixed=False)  # CM, CJ, BW: 18-character dates in variable fields
VAR_FLAG = Flag(fixed=False)
VAR_COUNT = Count(fixed=False)
FEE_TYPE = Number(2)
VAR_FEE_TYPE = Number(2, fixed=False)
HOLD_TYPE = Number(1, fixed=False)
TWO_DIGITS = Number(2)
THREE_DIGITS = Number(3)


@dataclass(frozen=True, kw_only=True)
class Message:
    """A SIP2 message. `MESSAGE_ID` is its two-character id.

    `extra` keeps the fields this codec does not know (vendor extensions such as PB birth
    date or CV alert type) as (code, value) pairs in their order, and any repetition of a
    field that may appear only once; they are written after the known fields.

    Error detection: `sequence` is the AY sequence number (0–9) and `checksummed` whether
    an AZ checksum is (to be) sent. A sequence number is always sent with its checksum; a
    checksum may go without one (the resend requests "97AZFEF5" and "96AZFEF6")."""

    MESSAGE_ID: ClassVar[str]

    extra: tuple[tuple[str, str], ...] = ()
    sequence: int | None = None
    checksummed: bool = False

    def __post_init__(self) -> None:
        if self.sequence is not None and not self.checksummed:
            object.__setattr__(self, "checksummed", True)


@dataclass(frozen=True, kw_only=True)
class ScMessage(Message):
    """A message the SC (the self-check terminal) sends to the ACS."""


@dataclass(frozen=True, kw_only=True)
class AcsMessage(Message):
    """A message the ACS (libcard's SIP2 server) sends to the SC."""
