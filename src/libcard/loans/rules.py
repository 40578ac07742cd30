"""Loan rules as plain values: due dates in the institution's time zone, renewals, overdue
fines and lost items, CSV values.

No session, clock or I/O here; `now` and the time zone's name come in as arguments.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from libcard.policy.rules import Policy

# A loan is due at the end of the local day: the last second before the next day begins.
END_OF_DAY = time(23, 59, 59)


def due_at(start: datetime, loan_days: int, timezone: str) -> datetime:
    """The end of the local day `loan_days` days after `start`'s local day, in UTC.

    Counting happens in local calendar days, so a daylight-saving change inside the period
    neither shortens nor lengthens it: 23:59:59 local stays 23:59:59 local.
    """
    if start.tzinfo is None:
        raise ValueError("due_at needs an aware datetime")
    if loan_days < 0:
        raise ValueError("a loan period cannot be negative")
    zone = ZoneInfo(timezone)
    day = start.astimezone(zone).date() + timedelta(days=loan_days)
    # fold=1: where 23:59:59 happens twice (a zone leaving summer time at midnight), the later.
    end = datetime.combine(day, END_OF_DAY, tzinfo=zone).replace(fold=1)
    return end.astimezone(UTC)


def renewed_due_at(now: datetime, current_due: datetime, loan_days: int, timezone: str) -> datetime:
    """A renewal's new due date: a full period from now, or from the old due date if later,
    so that renewing early never loses days."""
    return due_at(max(now, current_due), loan_days, timezone)


def may_renew(renewals_used: int, max_renewals: int) -> bool:
    return renewals_used < max_renewals


def may_borrow_more(open_loans: int, max_loans: int) -> bool:
    return open_loans < max_loans


def is_overdue(due: datetime, now: datetime) -> bool:
    return now > due


def days_overdue(due: datetime, at: datetime, timezone: str) -> int:
    """How many local calendar days have begun since the due day: 1 from the first midnight
    after the due date, whatever the hour, and however long a daylight-saving day is."""
    if due.tzinfo is None or at.tzinfo is None:
        raise ValueError("days_overdue needs aware datetimes")
    if at <= due:
        return 0
    zone = ZoneInfo(timezone)
    return max((at.astimezone(zone).date() - due.astimezone(zone).date()).days, 0)


def overdue_fine(days: int, per_day_minor: int, cap_minor: int, grace_days: int) -> int:
    """One loan's overdue fine after `days` days overdue. Within the grace days there is none;
    once past them the fine counts from the first overdue day (grace 3 at 5.00 a day: nothing
    on days 1–3, 20.00 on day 4), and it never passes the cap."""
    if days <= grace_days or per_day_minor <= 0:
        return 0
    return min(days * per_day_minor, max(cap_minor, 0))


def loan_fine(due: datetime, at: datetime, policy: Policy, timezone: str) -> int:
    """The fine a loan due at `due` has earned by `at` under the patron group's policy."""
    return overdue_fine(
        days_overdue(due, at, timezone),
        policy.fine_per_day_minor,
        policy.fine_cap_minor,
        policy.fine_grace_days,
    )


def fine_counted_until(now: datetime, lost_at: datetime | None) -> datetime:
    """Until when a fine grows: now, or the moment the item was declared lost."""
    return now if lost_at is None else min(now, lost_at)


def is_lost(days: int, lost_after_days: int) -> bool:
    """An item counts as lost once it is overdue by more than `lost_after_days` days: with 60,
    on the 61st day."""
    return days > lost_after_days


TRUE_WORDS = frozenset({"yes", "true", "1"})
FALSE_WORDS = frozenset({"no", "false", "0"})


def parse_flag(text: str) -> bool | None:
    """'yes'/'no', 'true'/'false', '1'/'0' (any case) → True/False; anything else → None."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def normalise_decimal(text: str) -> str | None:
    """'120,00' or '120.00' → '120.00'; None when both marks appear (thousands separators
    are ambiguous between Danish and English writing, so they are refused)."""
    value = text.strip().replace(" ", "")
    if "," in value and "." in value:
        return None
    return value.replace(",", ".")
