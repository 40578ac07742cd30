"""What each block means and what lifts it, and why a card is refused, in the patron's language
(blocks/texts.py, cards/texts.py; R17)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libcard.blocks.rules import Block
from libcard.blocks.texts import BlockText, describe, pin_lockout_lift
from libcard.cards.texts import REFUSALS, refusal_text
from libcard.kit.i18n import SUPPORTED, money
from libcard.policy.rules import ALL_ACTIONS, BlockCode, FeeBlockLift, FeeComparison, Policy

SINCE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TZ = "Europe/Copenhagen"


AMOUNT_CODES = {BlockCode.FEE_THRESHOLD, BlockCode.REPLACEMENT_UNPAID, BlockCode.IN_COLLECTION}


def block(
    code: BlockCode,
    *,
    amount_minor: int | None = None,
    reason: str | None = None,
    ends_at: datetime | None = None,
) -> Block:
    """A block as evaluate() gives it: amounts for the payable ones, a reason for staff's."""
    if amount_minor is None and code in AMOUNT_CODES:
        amount_minor = 31250
    if reason is None and code is BlockCode.STAFF:
        reason = "Bøger returneret beskadigede"
    return Block(
        code, ALL_ACTIONS, SINCE, reason=reason, ends_at=ends_at, amount_minor=amount_minor
    )


@pytest.mark.parametrize("code", list(BlockCode))
@pytest.mark.parametrize("language", SUPPORTED)
def test_every_block_is_explained_in_every_language(code: BlockCode, language: str) -> None:
    """R17: which block, why, and exactly what lifts it -- in Danish, German and English."""
    text = describe(block(code), Policy(), language, TZ)
    assert text.title.strip()
    assert text.reason.strip()
    assert text.lift.strip()
    for part in (text.title, text.reason, text.lift):
        assert "%(" not in part  # every placeholder was filled in


# Every block code, plus the lifts that depend on policy or on an end date.
VARIANTS: list[tuple[Block, Policy]] = [
    *((block(code), Policy()) for code in BlockCode),
    (block(BlockCode.FEE_THRESHOLD), Policy(fee_block_lifts_at=FeeBlockLift.BELOW_THRESHOLD)),
    (block(BlockCode.STAFF, ends_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC)), Policy()),
]


@pytest.mark.parametrize(("shown", "policy"), VARIANTS)
def test_danish_and_german_texts_are_translations_not_english(shown: Block, policy: Policy) -> None:
    english = describe(shown, policy, "en", TZ)
    for language in ("da", "de"):
        other: BlockText = describe(shown, policy, language, TZ)
        assert other.title != english.title
        assert other.lift != english.lift
        assert other.reason != english.reason


@pytest.mark.parametrize("code", list(REFUSALS))
def test_card_refusals_are_translations_not_english(code: str) -> None:
    english = refusal_text(code, "en")
    assert english.strip()
    assert refusal_text(code, "da") not in ("", english)
    assert refusal_text(code, "de") not in ("", english)


def test_pin_lockout_lift_is_the_pin_blocks_lift() -> None:
    for language in SUPPORTED:
        text = describe(block(BlockCode.PIN_LOCKED), Policy(), language, TZ)
        assert pin_lockout_lift(language) == text.lift


def test_an_unsupported_language_gets_english() -> None:
    code = BlockCode.PIN_LOCKED
    assert describe(block(code), Policy(), "fr", TZ) == describe(block(code), Policy(), "en", TZ)


@pytest.mark.parametrize("language", SUPPORTED)
def test_fee_block_lift_names_the_whole_amount_owed(language: str) -> None:
    """R14b: with the default policy the block lifts when all of the debt is paid."""
    text = describe(block(BlockCode.FEE_THRESHOLD, amount_minor=31250), Policy(), language, TZ)
    assert money(31250, "DKK", language) in text.lift
    assert money(31250, "DKK", language) in text.reason
    assert money(22500, "DKK", language) in text.reason  # the limit


def test_fee_block_lift_in_danish_reads_as_danish_money() -> None:
    text = describe(block(BlockCode.FEE_THRESHOLD, amount_minor=31250), Policy(), "da", TZ)
    assert "312,50" in text.lift
    assert "225,00" in text.reason


@pytest.mark.parametrize(
    ("comparison", "needed"),
    [
        (FeeComparison.AT_OR_ABOVE, 7501),  # 300.00 - 225.00 + 0.01: under 225.00
        (FeeComparison.ABOVE, 7500),  # 225.00 itself no longer blocks
    ],
)
def test_below_threshold_lift_names_the_smallest_payment_that_lifts(
    comparison: FeeComparison, needed: int
) -> None:
    policy = Policy(
        fee_block_comparison=comparison, fee_block_lifts_at=FeeBlockLift.BELOW_THRESHOLD
    )
    text = describe(block(BlockCode.FEE_THRESHOLD, amount_minor=30000), policy, "en", TZ)
    assert money(needed, "DKK", "en") in text.lift
    assert money(22500, "DKK", "en") in text.lift


def test_replacement_and_collection_name_their_amounts() -> None:
    """R14c, R14d."""
    for code in (BlockCode.REPLACEMENT_UNPAID, BlockCode.IN_COLLECTION):
        text = describe(block(code, amount_minor=49900), Policy(), "da", TZ)
        assert "499,00" in text.reason
    collection = describe(block(BlockCode.IN_COLLECTION), Policy(), "en", TZ)
    assert "14 days" in collection.lift  # the agency may take up to 14 days to report


def test_pin_lockout_names_the_policys_limit_and_the_desk() -> None:
    """R6: lifted only at a lending desk with a valid photo ID."""
    text = describe(block(BlockCode.PIN_LOCKED), Policy(max_wrong_pins=5), "en", TZ)
    assert "5 times" in text.reason
    assert "photo ID" in text.lift
    assert "desk" in text.lift


def test_staff_block_shows_the_staffs_reason() -> None:
    """R14e."""
    text = describe(block(BlockCode.STAFF, reason="Damaged books"), Policy(), "de", TZ)
    assert "Damaged books" in text.reason


def test_staff_block_with_an_end_date_says_when_it_ends_in_local_time() -> None:
    """R14e: 23:30 UTC on 1 March is 2 March in Copenhagen."""
    ends = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    text = describe(block(BlockCode.STAFF, ends_at=ends), Policy(), "da", TZ)
    assert "2. marts 2026" in text.lift
    english = describe(block(BlockCode.STAFF, ends_at=ends), Policy(), "en", TZ)
    assert "2 March 2026" in english.lift
