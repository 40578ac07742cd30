"""The collection rules as plain values: when a notice is due, its deadline, what follows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libcard.blocks.rules import Block
from libcard.blocks.texts import describe
from libcard.collection.rules import (
    ClosedReason,
    DebtLine,
    after_notice,
    notice_deadline,
    notice_due,
)
from libcard.policy.rules import Action, BlockCode, Policy

ZONE = "Europe/Copenhagen"
NOW = datetime(2026, 2, 4, 9, tzinfo=UTC)


def _line(amount: int, year: int = 2026, month: int = 1, day: int = 5) -> DebtLine:
    return DebtLine(1, datetime(year, month, day, 9, tzinfo=UTC), amount)


@pytest.mark.parametrize(
    ("lines", "due"),
    [
        ([_line(10000)], True),  # exactly the minimum, exactly 30 days old
        ([_line(9999)], False),
        ([_line(10000, day=6)], False),  # 29 days old
        ([_line(5000), _line(5000, month=2, day=3)], True),  # the oldest fee counts
        ([_line(0)], False),
        ([], False),
    ],
)
def test_notice_due_at_the_minimum_and_the_age(lines: list[DebtLine], due: bool) -> None:
    assert notice_due(lines, NOW, ZONE, min_debt_minor=10000, min_age_days=30) is due


def test_the_deadline_is_the_end_of_the_local_day_also_across_summer_time() -> None:
    assert notice_deadline(NOW, 7, ZONE) == datetime(2026, 2, 11, 22, 59, 59, tzinfo=UTC)
    # Summer time begins on 29 March 2026: the deadline is 23:59:59 local still.
    march = datetime(2026, 3, 25, 9, tzinfo=UTC)
    assert notice_deadline(march, 7, ZONE) == datetime(2026, 4, 1, 21, 59, 59, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        notice_deadline(datetime(2026, 2, 4), 7, ZONE)


def test_after_the_notice() -> None:
    assert after_notice(15000, 15000, 10000, "A").hand_over
    assert after_notice(0, 5000, 10000, "A").reason is ClosedReason.PAID_BEFORE_DEADLINE
    assert after_notice(9000, 9000, 10000, "A").reason is ClosedReason.BELOW_MINIMUM
    assert after_notice(15000, 15000, 10000, None).reason is ClosedReason.COLLECTION_OFF


@pytest.mark.parametrize(
    ("language", "days"), [("en", "14 days"), ("da", "14 dage"), ("de", "14 Tage")]
)
def test_the_in_collection_block_says_the_agency_may_take_14_days(language: str, days: str) -> None:
    block = Block(BlockCode.IN_COLLECTION, frozenset(Action), NOW, amount_minor=15000)
    text = describe(block, Policy(), language, ZONE)
    assert days in text.lift
