"""Collection rules as plain values: who gets a notice, its deadline, what happens after it.

No session, clock or I/O here; `now`, the time zone's name and the policy's numbers come in as
arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

# The notice's deadline is the end of the local day, like a loan's due date.
END_OF_DAY = time(23, 59, 59)


class CaseState(StrEnum):
    NOTICE_SENT = "notice_sent"  # the patron has the notice period to pay
    SETTLED = "settled"  # paid (or below the minimum) before the deadline: never handed over
    CANCELLED = "cancelled"  # the institution stopped collection before the deadline
    HANDED_OVER = "handed_over"  # with the agency: the account is blocked (R14d)
    PAID_IN_FULL = "paid_in_full"  # the agency reported it paid: the block lifts
    RECALLED = "recalled"  # taken back from the agency (or the notice withdrawn)


# A case in these states stops a new notice for the same patron.
ACTIVE_STATES = (CaseState.NOTICE_SENT.value, CaseState.HANDED_OVER.value)
# Fees of cases in these states are never noticed again: they are with (or were with) the
# agency, or the library took them back on purpose. Fees of a settled or cancelled case may.
FEES_TAKEN = (
    CaseState.NOTICE_SENT.value,
    CaseState.HANDED_OVER.value,
    CaseState.PAID_IN_FULL.value,
    CaseState.RECALLED.value,
)
# What an agency sees: the cases that were handed to it.
AGENCY_STATES = (
    CaseState.HANDED_OVER.value,
    CaseState.PAID_IN_FULL.value,
    CaseState.RECALLED.value,
)


class ClosedReason(StrEnum):
    PAID_BEFORE_DEADLINE = "paid_before_deadline"
    BELOW_MINIMUM = "below_minimum"
    COLLECTION_OFF = "collection_off"
    PAID_IN_FULL = "paid_in_full"
    RECALLED_BY_LIBRARY = "recalled_by_library"
    RECALLED_BY_AGENCY = "recalled_by_agency"


@dataclass(frozen=True)
class DebtLine:
    """An open fee that a notice may cover."""

    fee_id: int
    created_at: datetime
    outstanding_minor: int


def local_days_between(earlier: datetime, later: datetime, timezone: str) -> int:
    """Local calendar days from `earlier`'s date to `later`'s date (0 on the same day)."""
    zone = ZoneInfo(timezone)
    return (later.astimezone(zone).date() - earlier.astimezone(zone).date()).days


def notice_due(
    lines: Sequence[DebtLine],
    now: datetime,
    timezone: str,
    *,
    min_debt_minor: int,
    min_age_days: int,
) -> bool:
    """A notice goes out when the open debt reaches the minimum and its oldest fee has been
    open for at least `min_age_days` local days."""
    open_lines = [line for line in lines if line.outstanding_minor > 0]
    if not open_lines:
        return False
    debt = sum(line.outstanding_minor for line in open_lines)
    oldest = min(line.created_at for line in open_lines)
    return debt >= min_debt_minor and local_days_between(oldest, now, timezone) >= min_age_days


def notice_deadline(now: datetime, notice_days: int, timezone: str) -> datetime:
    """The end of the local day `notice_days` days after today, in UTC."""
    if now.tzinfo is None:
        raise ValueError("notice_deadline needs an aware datetime")
    if notice_days < 0:
        raise ValueError("a notice period cannot be negative")
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date() + timedelta(days=notice_days)
    # fold=1: where 23:59:59 happens twice (a zone leaving summer time at midnight), the later.
    return datetime.combine(day, END_OF_DAY, tzinfo=zone).replace(fold=1).astimezone(UTC)


@dataclass(frozen=True)
class AfterNotice:
    """What the hand-over job does with a case whose deadline has passed."""

    hand_over: bool
    amount_minor: int  # still owed on the noticed fees: what the agency collects
    reason: ClosedReason | None  # why the case closes instead


def after_notice(
    noticed_outstanding_minor: int,
    debt_minor: int,
    min_debt_minor: int,
    agency: str | None,
) -> AfterNotice:
    """Hand over what is still owed on the noticed fees, unless the patron has paid them, or
    the whole debt has dropped below the minimum, or the institution stopped collection."""
    if agency is None:
        return AfterNotice(False, noticed_outstanding_minor, ClosedReason.COLLECTION_OFF)
    if noticed_outstanding_minor <= 0:
        return AfterNotice(False, 0, ClosedReason.PAID_BEFORE_DEADLINE)
    if debt_minor < min_debt_minor:
        return AfterNotice(False, noticed_outstanding_minor, ClosedReason.BELOW_MINIMUM)
    return AfterNotice(True, noticed_outstanding_minor, None)
