"""Overdue fines and lost items as pure rules: local days overdue, grace, cap, the lost day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libcard.loans.rules import (
    days_overdue,
    due_at,
    fine_counted_until,
    is_lost,
    loan_fine,
    overdue_fine,
)
from libcard.policy.rules import Policy

CPH = "Europe/Copenhagen"
# Due at the end of Monday 2 February 2026 in Copenhagen (23:59:59 CET = 22:59:59 UTC).
DUE = datetime(2026, 2, 2, 22, 59, 59, tzinfo=UTC)


def utc(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def test_the_first_overdue_day_begins_at_local_midnight() -> None:
    assert days_overdue(DUE, DUE, CPH) == 0
    assert days_overdue(DUE, utc(2, 2, 22, 59, 59) + timedelta(microseconds=1), CPH) == 0
    assert days_overdue(DUE, utc(2, 2, 23), CPH) == 1  # 00:00 on Tuesday in Copenhagen
    assert days_overdue(DUE, utc(2, 3, 22, 59), CPH) == 1  # 23:59 on Tuesday
    assert days_overdue(DUE, utc(2, 3, 23), CPH) == 2


def test_days_are_the_institutions_local_days_not_utc_days() -> None:
    # 23:30 UTC on 2 February is still the due day in UTC, but Tuesday in Copenhagen.
    at = utc(2, 2, 23, 30)
    assert days_overdue(DUE, at, CPH) == 1
    assert days_overdue(DUE, at, "UTC") == 0
    # In New York the loan was due at 17:59:59 on 2 February: the evening is not overdue yet.
    assert days_overdue(DUE, at, "America/New_York") == 0


def test_a_daylight_saving_change_neither_adds_nor_skips_a_day() -> None:
    """Summer time begins on 29 March 2026: that day has 23 hours; autumn's 25 hours
    (25 October). Counting calendar days, each is still one day."""
    spring_due = due_at(utc(3, 27, 10), 0, CPH)  # due Friday 27 March, 23:59:59 CET
    assert days_overdue(spring_due, utc(3, 29, 21, 59), CPH) == 2  # 23:59 CEST Sunday 29
    assert days_overdue(spring_due, utc(3, 29, 22), CPH) == 3  # 00:00 CEST Monday 30
    autumn_due = due_at(utc(10, 24, 10), 0, CPH)  # due Saturday 24 October, 23:59:59 CEST
    assert days_overdue(autumn_due, utc(10, 25, 22, 59), CPH) == 1  # 23:59 CET Sunday 25
    assert days_overdue(autumn_due, utc(10, 25, 23), CPH) == 2  # 00:00 CET Monday 26


def test_the_fine_grows_by_the_day_and_stops_at_the_cap() -> None:
    assert [overdue_fine(days, 500, 2000, 0) for days in range(6)] == [
        0,
        500,
        1000,
        1500,
        2000,
        2000,
    ]


def test_grace_days_cost_nothing_and_afterwards_count_from_the_first_day() -> None:
    assert [overdue_fine(days, 500, 10000, 3) for days in (1, 3, 4, 5)] == [0, 0, 2000, 2500]


def test_no_fine_at_a_rate_or_cap_of_zero() -> None:
    assert overdue_fine(30, 0, 10000, 0) == 0
    assert overdue_fine(30, 500, 0, 0) == 0


@given(
    days=st.integers(0, 4000),
    per_day=st.integers(0, 100_000),
    cap=st.integers(0, 1_000_000),
    grace=st.integers(0, 365),
)
def test_a_fine_is_never_negative_never_above_the_cap_and_never_falls(
    days: int, per_day: int, cap: int, grace: int
) -> None:
    fine = overdue_fine(days, per_day, cap, grace)
    assert 0 <= fine <= cap
    assert overdue_fine(days + 1, per_day, cap, grace) >= fine


def test_loan_fine_follows_the_groups_policy() -> None:
    policy = Policy(fine_per_day_minor=300, fine_cap_minor=1000, fine_grace_days=1)
    assert loan_fine(DUE, utc(2, 3, 9), policy, CPH) == 0  # day 1: grace
    assert loan_fine(DUE, utc(2, 4, 9), policy, CPH) == 600  # day 2: 2 × 3.00
    assert loan_fine(DUE, utc(3, 30, 9), policy, CPH) == 1000  # capped


def test_an_item_is_lost_once_overdue_by_more_than_lost_after_days() -> None:
    assert not is_lost(60, 60)
    assert is_lost(61, 60)
    lost_at = utc(4, 5)
    assert fine_counted_until(utc(5, 1), lost_at) == lost_at
    assert fine_counted_until(utc(4, 1), lost_at) == utc(4, 1)
    assert fine_counted_until(utc(4, 1), None) == utc(4, 1)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        days_overdue(DUE, datetime(2026, 2, 10), CPH)
