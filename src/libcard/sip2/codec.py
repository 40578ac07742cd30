"""SIP2 2.00 (3M Standard Interchange Protocol) codec: one line of text to a typed message
(`parse`) and back (`build`). Pure: no sockets, no clock, no database.

A message is a two-character id, its fixed-length fields one after another, then variable
fields, each a two-letter code, a value and "|". With error detection on, the line ends in
"AY<sequence digit>AZ<checksum>", the checksum covering everything up to and including "AZ".

Encoding is not this module's business: it works on `str`. The server decodes the bytes of
each terminal with that terminal's encoding (cp850 by default, as most self-check machines
send; latin-1 or UTF-8 where configured) and encodes replies the same way, with
`errors="replace"`. Only the checksum looks at bytes, because the spec defines it over the
bytes on the wire: `checksum`, `parse` and `build` take the terminal's `encoding` for that
and nothing else (for ASCII text every encoding gives the same checksum).

`parse` reads both directions (the server reads SC messages; tests and a client read ACS
messages) and raises only `Sip2Error` subclasses, whatever the input. It is strict where a
wrong value means a broken terminal (dates, flags, counts, checksums) and lenient where real
terminals differ: CR or CRLF line ends, required fields left out (read as empty), fields in
any order, unknown field codes (kept in `extra`), the last field without its "|".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from libcard.sip2.fields import (
    TEXT,
    BadFieldError,
    BuildError,
    ChecksumError,
    InvalidValue,
    Kind,
    MalformedMessageError,
    TruncatedMessageError,
    UnknownMessageError,
    describe,
)
from libcard.sip2.messages import MESSAGE_TYPES, SPEC, Message

DEFAULT_ENCODING = "cp850"
TERMINATOR = "\r"

# Error detection at the end of a line. The full "AY<digit>AZ<4 hex>" is specific enough to be
# recognised anywhere (some terminals leave out the "|" before it); a lone AZ (the resend
# requests) or a lone AY only right after the fixed fields or a "|".
_FULL_TAIL = re.compile(r"AY([0-9])AZ([0-9A-Fa-f]{4})\Z")
_CHECKSUM_TAIL = re.compile(r"AZ([0-9A-Fa-f]{4})\Z")
_SEQUENCE_TAIL = re.compile(r"AY([0-9])\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def checksum(text: str, encoding: str = DEFAULT_ENCODING) -> str:
    """The SIP2 checksum of `text` (everything from the message id up to and including "AZ"):
    the sum of its bytes, negated, in 16 bits, as four upper-case hex digits."""
    data = text.encode(encoding, errors="replace")
    return f"{-sum(data) & 0xFFFF:04X}"


def parse(line: str, *, encoding: str = DEFAULT_ENCODING) -> Message:
    """The message in one line from a terminal (or from an ACS).

    Raises `MalformedMessageError`, `UnknownMessageError`, `TruncatedMessageError`,
    `BadFieldError` or `ChecksumError` (all `Sip2Error`) with a message naming the problem."""
    if not isinstance(line, str):
        raise TypeError(f"parse() takes the decoded line as str, not {type(line).__name__}")
    # CR ends a message; tolerate CRLF and LF, and the LF a CRLF terminal leaves at the start
    # of its next message when the server splits the stream at CR.
    text = line.rstrip("\r\n").removeprefix("\n")
    if not text:
        raise MalformedMessageError("empty line: a SIP2 message starts with a two-digit id")
    control = _CONTROL.search(text)
    if control:
        # Errors name positions and fixed-field values, never the whole line: it may hold a PIN.
        raise MalformedMessageError(
            f"control character {control[0]!r} at position {control.start()}: a SIP2 message "
            "is one line of printable text",
            message_id=text[:2] if text[:2] in MESSAGE_TYPES else None,
        )

    message_id = text[:2]
    cls = MESSAGE_TYPES.get(message_id)
    if cls is None:
        raise UnknownMessageError(
            f"{describe(message_id)} is not the id of a SIP2 2.00 message",
            message_id=message_id,
        )
    lay = layout(cls)
    start = 2 + lay.width

    end, sequence, received = len(text), None, None
    signed_up_to = 0
    full = _FULL_TAIL.search(text, 2)
    if full:
        end, sequence, received = full.start(), int(full[1]), full[2]
        signed_up_to = full.start() + 5
    else:
        for tail in (_CHECKSUM_TAIL, _SEQUENCE_TAIL):
            match = tail.search(text, start)
            if match and (match.start() == start or text[match.start() - 1] == "|"):
                end = match.start()
                if tail is _CHECKSUM_TAIL:
                    received, signed_up_to = match[1], match.start() + 2
                else:
                    sequence = int(match[1])
                break
    if end < start:
        raise TruncatedMessageError(
            f"message {message_id} needs {lay.width} characters of fixed fields after its id, "
            f"the line has only {max(end - 2, 0)}",
            message_id=message_id,
        )
    if received is not None:
        expected = checksum(text[:signed_up_to], encoding)
        if int(received, 16) != int(expected, 16):
            raise ChecksumError(
                f"message {message_id}: checksum {received} does not match the line "
                f"(expected {expected}): the line was damaged on the way, or the terminal "
                f"does not use the {encoding} encoding",
                message_id=message_id,
                expected=expected,
                received=received,
            )

    values: dict[str, Any] = {}
    position = 2
    for spec in lay.fixed:
        width = spec.kind.width or 0
        values[spec.name] = _decode(
            spec.kind, text[position : position + width], message_id, spec.name
        )
        position += width

    lists: dict[str, list[str]] = {}
    extra: list[tuple[str, str]] = []
    for piece in text[start:end].split("|"):
        if not piece:
            continue
        if len(piece) < 2:
            raise MalformedMessageError(
                f"message {message_id}: {describe(piece)} is too short to be a field "
                "(a two-letter code and a value)",
                message_id=message_id,
            )
        code, value = piece[:2], piece[2:]
        var = lay.by_code.get(code)
        if var is None:
            extra.append((code, value))  # a vendor's field: passed through, not an error
        elif var.mode == "repeated":
            lists.setdefault(var.name, []).append(value)
        elif var.name in values:
            extra.append((code, value))  # a second copy of a field allowed once
        elif value == "" and var.kind.empty_is_missing:
            values[var.name] = var.default
        else:
            values[var.name] = _decode(var.kind, value, message_id, f"{code} ({var.name})")
    values.update({name: tuple(items) for name, items in lists.items()})
    return cls(
        **values,
        extra=tuple(extra),
        sequence=sequence,
        checksummed=received is not None,
    )


def build(
    message: Message, *, sequence: int | None = None, encoding: str = DEFAULT_ENCODING
) -> str:
    """The line for `message`, ending in CR.

    Error detection: `sequence` (0–9, the one to echo from the request) adds AY and AZ, as
    does the message's own `sequence`; `checksummed` without a sequence adds AZ alone. Raises
    `BuildError` for a value that cannot be written (a "|" or a control character in a text,
    a number too wide for its field)."""
    message_id = message.MESSAGE_ID
    lay = layout(type(message))
    out = [message_id]
    for spec in lay.fixed:
        out.append(_encode(spec.kind, getattr(message, spec.name), message_id, spec.name))
    for var in lay.variable:
        value = getattr(message, var.name)
        where = f"{var.code} ({var.name})"
        if var.mode == "repeated":
            if not isinstance(value, tuple | list):
                raise BuildError(
                    f"message {message_id}: {var.name} must be a tuple of texts, not {value!r}",
                    message_id=message_id,
                    field=var.name,
                )
            out.extend(f"{var.code}{_encode(var.kind, item, message_id, where)}|" for item in value)
        elif value is not None:
            out.append(f"{var.code}{_encode(var.kind, value, message_id, where)}|")
        elif var.mode == "required":
            raise BuildError(
                f"message {message_id}: {var.name} ({var.code}) is required; use an empty "
                "text when there is nothing to send",
                message_id=message_id,
                field=var.name,
            )
    for code, value in message.extra:
        out.append(f"{_extra_code(message, code)}{_encode(TEXT, value, message_id, code)}|")

    seq = message.sequence if sequence is None else sequence
    if seq is not None:
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= 9:
            raise BuildError(
                f"message {message_id}: sequence number {seq!r} is not a digit 0–9",
                message_id=message_id,
                field="sequence",
            )
        out.append(f"AY{seq}AZ")
    elif message.checksummed:
        out.append("AZ")
    text = "".join(out)
    if seq is not None or message.checksummed:
        text += checksum(text, encoding)
    return text + TERMINATOR


def _decode(kind: Kind[Any], text: str, message_id: str, field: str) -> Any:
    try:
        return kind.decode(text)
    except InvalidValue as error:
        raise BadFieldError(
            f"message {message_id}, field {field}: {error}",
            message_id=message_id,
            field=field,
            value=text,
        ) from None


def _encode(kind: Kind[Any], value: Any, message_id: str, field: str) -> str:
    try:
        return kind.encode(value)
    except InvalidValue as error:
        raise BuildError(
            f"message {message_id}, field {field}: {error}", message_id=message_id, field=field
        ) from None


def _extra_code(message: Message, code: str) -> str:
    """An extra field's code, refused where it would read back as a known field."""
    message_id = message.MESSAGE_ID
    if not isinstance(code, str) or len(code) != 2:
        raise BuildError(
            f"message {message_id}: extra field code {code!r} is not two characters",
            message_id=message_id,
            field="extra",
        )
    _encode(TEXT, code, message_id, "extra")
    var = layout(type(message)).by_code.get(code)
    # Read back, an extra copy of a known field is only an extra while the field itself is
    # written before it; otherwise it would become that field's value.
    if var is not None and (var.mode == "repeated" or getattr(message, var.name) is None):
        raise BuildError(
            f"message {message_id}: extra field {code} is the message's own {var.name}; "
            f"set {var.name} instead",
            message_id=message_id,
            field="extra",
        )
    return code


# --- layouts: what the message classes declare --------------------------------------------

Mode = Literal["required", "optional", "repeated"]


@dataclass(frozen=True)
class FixedField:
    name: str
    kind: Kind[Any]


@dataclass(frozen=True)
class VariableField:
    name: str
    code: str
    kind: Kind[Any]
    mode: Mode
    default: Any  # what a required field left out of a line reads as


@dataclass(frozen=True)
class Layout:
    """A message class's fields as the codec needs them, in the specification's order."""

    fixed: tuple[FixedField, ...]
    variable: tuple[VariableField, ...]
    by_code: Mapping[str, VariableField]
    width: int  # characters of fixed fields after the two-character id


_LAYOUTS: dict[type[Message], Layout] = {}


def layout(cls: type[Message]) -> Layout:
    """The fields of `cls` in declaration order, read once per class."""
    known = _LAYOUTS.get(cls)
    if known is not None:
        return known
    fixed_fields: list[FixedField] = []
    variable: list[VariableField] = []
    for f in fields(cls):
        spec = f.metadata.get(SPEC)
        if spec is None:
            continue
        if spec[0] == "fixed":
            assert spec[1].width is not None, f"{cls.__name__}.{f.name} needs a fixed width"
            fixed_fields.append(FixedField(f.name, spec[1]))
        else:
            mode, code, kind = spec
            variable.append(VariableField(f.name, code, kind, mode, f.default))
    by_code = {v.code: v for v in variable}
    assert len(by_code) == len(variable), f"{cls.__name__} declares a field code twice"
    _LAYOUTS[cls] = result = Layout(
        fixed=tuple(fixed_fields),
        variable=tuple(variable),
        by_code=by_code,
        width=sum(f.kind.width or 0 for f in fixed_fields),
    )
    return result
