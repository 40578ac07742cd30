"""The student registry feed as plain values: one row of the file parsed, the change it asks
of a patron, and when a student missing from a full export expires. No session, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from libcard.errors import InvalidInput
from libcard.patrons.rules import normalise_email
from libcard.policy.rules import COLUMN_TO_FIELD, FieldOwner

# The file's columns. Only registry_id is required in every row; a personal column left out
# of the file is left alone, a column present but empty clears the field (where the registry
# owns it). first_name and last_name are needed to create a student.
PERSONAL_COLUMNS = (
    "first_name",
    "last_name",
    "birth_date",
    "institutional_email",
    "street",
    "postal_code",
    "city",
    "country",
    "phone",
)
COLUMNS = ("registry_id", *PERSONAL_COLUMNS, "valid_until")
REGISTRY_ID_LENGTH = 64
TEXT_LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "street": 200,
    "postal_code": 16,
    "city": 100,
    "phone": 32,
}
STUDENT_GROUP = "student"


@dataclass(frozen=True)
class StudentRow:
    """One row of the registry, checked. `values` holds only the personal columns the file
    has (None: clear it); `valid_until` is None when the file has no such column or it is
    empty: no end date."""

    line: int
    registry_id: str
    values: Mapping[str, Any]
    valid_until: date | None


def registry_id_of(raw: Mapping[str, Any]) -> str | None:
    """The row's registry id, or None if it has none that could be one. Read before the rest
    of the row, so that a student whose row is broken still counts as present in the file."""
    value = raw.get("registry_id")
    text = "" if value is None else str(value).strip()
    if not text or len(text) > REGISTRY_ID_LENGTH or any(c.isspace() for c in text):
        return None
    return text


def parse_row(line: int, raw: Mapping[str, Any]) -> StudentRow:
    """Check one row; raises InvalidInput with a code and an English reason."""
    unknown = sorted(str(name) for name in raw if name not in COLUMNS)
    if unknown:
        raise InvalidInput("unknown_column", f"Unknown column(s): {', '.join(unknown)}.")
    registry_id = registry_id_of(raw)
    if registry_id is None:
        raise InvalidInput(
            "registry_id_missing",
            f"Every row needs a registry_id (at most {REGISTRY_ID_LENGTH} characters, no spaces).",
        )
    values = {column: _value(column, raw[column]) for column in PERSONAL_COLUMNS if column in raw}
    valid_until = _date("valid_until", raw.get("valid_until"))
    return StudentRow(line, registry_id, values, valid_until)


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def _date(column: str, raw: Any) -> date | None:
    text = _text(raw)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{column}_format", f"{column} must be a date like 2004-05-17, not {text!r}."
        ) from None


def _value(column: str, raw: Any) -> Any:
    if column in ("birth_date",):
        return _date(column, raw)
    text = _text(raw)
    if text is None:
        return None
    if column == "institutional_email":
        return normalise_email(text)
    if column == "country":
        if len(text) != 2 or not text.isalpha():
            raise InvalidInput("country_format", "A country is a two-letter ISO code, like DK.")
        return text.upper()
    if len(text) > TEXT_LIMITS[column]:
        raise InvalidInput(
            "field_too_long", f"{column} has at most {TEXT_LIMITS[column]} characters."
        )
    return text


def owned_values(row: StudentRow, owners: Mapping[str, FieldOwner]) -> dict[str, Any]:
    """The row's values for the fields the registry owns in this patron's group; the rest of
    the row is ignored, never written (R8)."""
    return {
        column: value
        for column, value in row.values.items()
        if owners.get(COLUMN_TO_FIELD[column]) is FieldOwner.REGISTRY
    }


def changes_for(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """What differs: the columns to write, with their new values."""
    return {column: value for column, value in wanted.items() if current.get(column) != value}


def expiry_of(valid_until: date | None, timezone: str) -> datetime | None:
    """A student valid until a day may borrow all of that local day; the account expires at
    the next local midnight."""
    if valid_until is None:
        return None
    start = datetime.combine(valid_until + timedelta(days=1), time(), ZoneInfo(timezone))
    return start.astimezone(UTC)


def grace_ended(missing_since: datetime, grace_days: int, now: datetime) -> bool:
    """A student missing from full exports expires once the grace period has passed:
    missing on day 0 with 30 days' grace, expired from day 30 on."""
    return now >= missing_since + timedelta(days=grace_days)
