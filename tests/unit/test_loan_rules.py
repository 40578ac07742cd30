"""Loan rules: due dates at the end of the local day, renewals, CSV values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from libcard.loans.rules import (
    due_at,
    may_borrow_more,
    may_renew,
    normalise_decimal,
    parse_flag,
    renewed_due_at,
)

CPH = "Europe/Copenhagen"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_due_at_the_end_of_the_local_day_in_winter() -> None:
    # 10:00 UTC on 5 January is 11:00 in Copenhagen (CET, UTC+1).
    assert due_at(utc(2026, 1, 5, 10), 28, CPH) == utc(2026, 2, 2, 22, 59, 59)


def test_the_local_day_counts_not_the_utc_day() -> None:
    # 23:30 UTC on 5 January is already 6 January in Copenhagen.
    assert due_at(utc(2026, 1, 5, 23, 30), 28, CPH) == utc(2026, 2, 3, 22, 59, 59)
    assert due_at(utc(2026, 1, 5, 22, 59, 59), 0, CPH) == utc(2026, 1, 5, 22, 59, 59)


def test_a_period_across_the_spring_change_ends_at_local_midnight() -> None:
    """Summer time begins on 29 March 2026 (02:00 → 03:00): the due date is still 23:59:59
    local, which is now UTC+2, and the period has as many calendar days."""
    due = due_at(utc(2026, 3, 10, 10), 28, CPH)
    assert due == utc(2026, 4, 7, 21, 59, 59)
    local = due.astimezone(ZoneInfo(CPH))
    assert (local.date().isoformat(), local.hour, local.minute, local.second) == (
        "2026-04-07",
        23,
        59,
        59,
    )
    # Due on the day of the change itself.
    assert due_at(utc(2026, 3, 1, 10), 28, CPH) == utc(2026, 3, 29, 21, 59, 59)


def test_a_period_across_the_autumn_change_ends_at_local_midnight() -> None:
    # Summer time ends on 25 October 2026 (03:00 → 02:00).
    assert due_at(utc(2026, 10, 1, 10), 28, CPH) == utc(2026, 10, 29, 22, 59, 59)
    assert due_at(utc(2026, 9, 27, 10), 28, CPH) == utc(2026, 10, 25, 22, 59, 59)


def test_due_at_refuses_naive_times_and_negative_periods() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_at(datetime(2026, 1, 5, 10), 28, CPH)
    with pytest.raises(ValueError, match="negative"):
        due_at(utc(2026, 1, 5, 10), -1, CPH)


@given(
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    days=st.integers(min_value=0, max_value=400),
)
@example(start=datetime(2000, 1, 1, 22, 59, 59, 500000), days=0)  # the day's last second
def test_due_is_always_23_59_59_local_and_days_calendar_days_on(start: datetime, days: int) -> None:
    start_utc = start.replace(tzinfo=UTC)
    due = due_at(start_utc, days, CPH)
    local = due.astimezone(ZoneInfo(CPH))
    assert (local.hour, local.minute, local.second) == (23, 59, 59)
    assert local.date() == start_utc.astimezone(ZoneInfo(CPH)).date() + timedelta(days=days)
    # Never due before the start: a 0-day period started in the day's last second ends in it.
    assert due >= start_utc.replace(microsecond=0)
    assert days == 0 or due > start_utc


def test_renewal_counts_from_now_or_the_old_due_date_whichever_is_later() -> None:
    old_due = utc(2026, 2, 2, 22, 59, 59)
    # Renewed early: a full period on from the old due date.
    assert renewed_due_at(utc(2026, 1, 20, 10), old_due, 28, CPH) == utc(2026, 3, 2, 22, 59, 59)
    # Renewed when overdue: a full period from today.
    assert renewed_due_at(utc(2026, 2, 10, 10), old_due, 28, CPH) == utc(2026, 3, 10, 22, 59, 59)


def test_may_renew_below_the_maximum_only() -> None:
    assert may_renew(0, 3)
    assert may_renew(2, 3)
    assert not may_renew(3, 3)
    assert not may_renew(4, 3)
    assert not may_renew(0, 0)


def test_may_borrow_more_below_the_maximum_only() -> None:
    assert may_borrow_more(49, 50)
    assert not may_borrow_more(50, 50)


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("yes", True),
        ("YES", True),
        (" true ", True),
        ("1", True),
        ("no", False),
        ("False", False),
        ("0", False),
        ("", None),
        ("maybe", None),
        ("ja", None),
    ],
)
def test_parse_flag(text: str, flag: bool | None) -> None:
    assert parse_flag(text) is flag


@pytest.mark.parametrize(
    ("text", "value"),
    [("120,00", "120.00"), ("120.00", "120.00"), (" 120 ", "120"), ("1.200,00", None)],
)
def test_normalise_decimal(text: str, value: str | None) -> None:
    assert normalise_decimal(text) == value
