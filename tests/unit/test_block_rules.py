"""Which blocks hold and what a card may do (blocks/rules.py; R13, R14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libcard.blocks.rules import (
    DERIVED_CODES,
    STORED_CODES,
    AccountSummary,
    Block,
    OpenCollectionCase,
    StoredBlockView,
    UnpaidReplacement,
    decide,
    evaluate,
    fee_block_since,
)
from libcard.fees.rules import BalanceEvent
from libcard.policy.rules import (
    ALL_ACTIONS,
    Action,
    BlockCode,
    FeeBlockLift,
    FeeComparison,
    Policy,
    parse_effects,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=30)

DEFAULT = Policy()
GT = Policy(fee_block_comparison=FeeComparison("gt"))
BELOW = Policy(fee_block_lifts_at=FeeBlockLift("below_threshold"))


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ledger(*deltas: int) -> list[BalanceEvent]:
    return [BalanceEvent(at(i), delta) for i, delta in enumerate(deltas)]


def codes(blocks: list[Block]) -> list[BlockCode]:
    return [block.code for block in blocks]


def fee_blocked(deltas: tuple[int, ...], policy: Policy) -> bool:
    blocks = evaluate(AccountSummary(ledger=ledger(*deltas)), policy, NOW)
    return BlockCode.FEE_THRESHOLD in codes(blocks)


# --- the fee threshold (R14b) ------------------------------------------------------------


def test_default_fee_block_holds_at_exactly_225_kroner() -> None:
    """R14b: outstanding fees at or above 225.00 DKK block the card."""
    assert DEFAULT.fee_block_threshold_minor == 22500
    assert DEFAULT.currency == "DKK"
    assert fee_blocked((22500,), DEFAULT)


def test_default_fee_block_does_not_hold_at_224_99() -> None:
    assert not fee_blocked((22499,), DEFAULT)


def test_fee_block_reached_by_several_fees() -> None:
    assert not fee_blocked((10000, 12499), DEFAULT)
    assert fee_blocked((10000, 12499, 1), DEFAULT)


def test_with_comparison_gt_exactly_the_threshold_does_not_block() -> None:
    assert not fee_blocked((22500,), GT)
    assert fee_blocked((22501,), GT)


def test_zero_lift_keeps_the_block_until_all_debt_is_paid() -> None:
    """R14b: reached 225, paid down to 100 -> still blocked; lifted only at zero."""
    assert fee_blocked((22500, -12500), DEFAULT)
    assert fee_blocked((22500, -22499), DEFAULT)  # one øre left
    assert not fee_blocked((22500, -22500), DEFAULT)


def test_below_threshold_lift_ends_the_block_once_under_the_threshold() -> None:
    assert not fee_blocked((22500, -12500), BELOW)
    assert fee_blocked((22500, 0), BELOW)  # a zero-sum event changes nothing
    assert not fee_blocked((22500, -1), BELOW)


def test_below_threshold_with_gt_lifts_at_the_threshold_itself() -> None:
    policy = Policy(
        fee_block_comparison=FeeComparison.ABOVE, fee_block_lifts_at=FeeBlockLift.BELOW_THRESHOLD
    )
    assert fee_blocked((22501,), policy)
    assert not fee_blocked((22501, -1), policy)


def test_zero_lift_does_not_block_someone_who_never_reached_the_threshold() -> None:
    assert not fee_blocked((20000, -10000, 12000), DEFAULT)  # 220.00 at the most


def test_a_new_fee_block_begins_when_the_threshold_is_reached_again() -> None:
    events = ledger(22500, -22500, 10000, 15000)
    assert fee_block_since(events, DEFAULT) == at(3)


def test_fee_block_since_is_when_the_threshold_was_reached() -> None:
    events = ledger(10000, 15000, -12500, 500)
    assert fee_block_since(events, DEFAULT) == at(1)


def test_fee_block_names_what_is_owed_now() -> None:
    """R17: the patron sees the current balance, not the peak."""
    [block] = evaluate(AccountSummary(ledger=ledger(30000, -20000)), DEFAULT, NOW)
    assert block.code is BlockCode.FEE_THRESHOLD
    assert block.amount_minor == 10000
    assert block.since == at(0)


def test_a_credit_does_not_block() -> None:
    assert fee_blocked((), DEFAULT) is False
    assert not fee_blocked((-50000,), DEFAULT)


deltas = st.lists(st.integers(min_value=-30_000, max_value=30_000), max_size=25)
policies = st.builds(
    Policy,
    fee_block_threshold_minor=st.integers(min_value=1, max_value=40_000),
    fee_block_comparison=st.sampled_from(list(FeeComparison)),
    fee_block_lifts_at=st.sampled_from(list(FeeBlockLift)),
)


def balances(values: list[int]) -> list[int]:
    running, out = 0, []
    for value in values:
        running += value
        out.append(running)
    return out


@given(deltas, policies)
def test_fee_block_follows_the_lift_mode(values: list[int], policy: Policy) -> None:
    """An independent statement of both lift modes, checked against fee_block_since."""
    history = balances(values)
    since = fee_block_since(ledger(*values), policy)
    if policy.fee_block_lifts_at is FeeBlockLift.BELOW_THRESHOLD:
        # Blocked now exactly when the balance reaches the threshold now; since the start of
        # the current run of such balances.
        reached = [policy.fee_threshold_reached(b) for b in history]
        if not reached or not reached[-1]:
            assert since is None
        else:
            start = len(reached) - 1
            while start > 0 and reached[start - 1]:
                start -= 1
            assert since == at(start)
    else:
        # Blocked when the threshold was reached after the last time nothing was owed.
        last_clear = max((i for i, b in enumerate(history) if b <= 0), default=-1)
        after = range(last_clear + 1, len(history))
        first_reach = next((i for i in after if policy.fee_threshold_reached(history[i])), None)
        assert since == (None if first_reach is None else at(first_reach))


@given(deltas, policies)
def test_zero_lift_blocks_at_least_whenever_below_threshold_lift_does(
    values: list[int], policy: Policy
) -> None:
    zero = Policy(
        fee_block_threshold_minor=policy.fee_block_threshold_minor,
        fee_block_comparison=policy.fee_block_comparison,
        fee_block_lifts_at=FeeBlockLift.ZERO,
    )
    below = Policy(
        fee_block_threshold_minor=policy.fee_block_threshold_minor,
        fee_block_comparison=policy.fee_block_comparison,
        fee_block_lifts_at=FeeBlockLift.BELOW_THRESHOLD,
    )
    events = ledger(*values)
    if fee_block_since(events, below) is not None:
        assert fee_block_since(events, zero) is not None
    if fee_block_since(events, zero) is not None:
        assert sum(values) > 0  # nobody is blocked for fees while owing nothing


# --- replacement invoices, collection and stored blocks (R14a, c, d, e) ------------------


def test_unpaid_replacements_block_with_their_total_since_the_oldest() -> None:
    """R14c."""
    summary = AccountSummary(
        unpaid_replacements=[UnpaidReplacement(1, at(5), 30000), UnpaidReplacement(2, at(2), 100)]
    )
    [block] = evaluate(summary, DEFAULT, NOW)
    assert block.code is BlockCode.REPLACEMENT_UNPAID
    assert block.amount_minor == 30100
    assert block.since == at(2)
    assert block.effects == ALL_ACTIONS


def test_debt_in_collection_blocks_with_its_total() -> None:
    """R14d, R15."""
    summary = AccountSummary(
        collection_cases=[OpenCollectionCase(7, at(9), 50000), OpenCollectionCase(8, at(4), 1)]
    )
    [block] = evaluate(summary, DEFAULT, NOW)
    assert block.code is BlockCode.IN_COLLECTION
    assert block.amount_minor == 50001
    assert block.since == at(4)


def test_no_data_no_blocks() -> None:
    assert evaluate(AccountSummary(), DEFAULT, NOW) == []


def test_staff_block_holds_until_its_end_date() -> None:
    """R14e: a staff block with an end date stops holding at that moment."""
    ends = NOW + timedelta(hours=1)
    summary = AccountSummary(
        stored=[StoredBlockView(3, BlockCode.STAFF, at(0), reason="Damaged books", ends_at=ends)]
    )
    [block] = evaluate(summary, DEFAULT, NOW)
    assert block.code is BlockCode.STAFF
    assert block.reason == "Damaged books"
    assert block.ends_at == ends
    assert block.stored_id == 3
    assert evaluate(summary, DEFAULT, ends) == []  # ends_at == now: over
    assert evaluate(summary, DEFAULT, ends + timedelta(seconds=1)) == []


def test_staff_block_without_end_date_holds_indefinitely() -> None:
    summary = AccountSummary(stored=[StoredBlockView(3, BlockCode.STAFF, at(0), reason="x")])
    assert codes(evaluate(summary, DEFAULT, NOW + timedelta(days=3650))) == [BlockCode.STAFF]


def test_pin_lockout_is_reported_with_its_card() -> None:
    """R6/R14a: the lockout belongs to one card."""
    summary = AccountSummary(stored=[StoredBlockView(5, BlockCode.PIN_LOCKED, at(1), card_id=42)])
    [block] = evaluate(summary, DEFAULT, NOW)
    assert block.code is BlockCode.PIN_LOCKED
    assert block.card_id == 42


def test_blocks_are_listed_oldest_first() -> None:
    summary = AccountSummary(
        ledger=ledger(0, 0, 0, 22500),  # reached at minute 3
        unpaid_replacements=[UnpaidReplacement(1, at(7), 100)],
        collection_cases=[OpenCollectionCase(1, at(1), 100)],
        stored=[StoredBlockView(1, BlockCode.PIN_LOCKED, at(5))],
    )
    assert codes(evaluate(summary, DEFAULT, NOW)) == [
        BlockCode.IN_COLLECTION,
        BlockCode.FEE_THRESHOLD,
        BlockCode.PIN_LOCKED,
        BlockCode.REPLACEMENT_UNPAID,
    ]


def test_derived_and_stored_codes_cover_every_code_once() -> None:
    """Derived blocks are computed from data; only the others are stored (design)."""
    assert frozenset(BlockCode) == DERIVED_CODES | STORED_CODES
    assert not DERIVED_CODES & STORED_CODES


# --- effects and decide (R13) ----------------------------------------------------------


def test_blocks_stop_everything_by_default() -> None:
    """R13: a blocked card cannot borrow, renew or use digital services."""
    blocks = evaluate(AccountSummary(ledger=ledger(22500)), DEFAULT, NOW)
    assert decide(blocks, card_usable=True) == dict.fromkeys(Action, False)


def test_policy_can_narrow_what_a_block_stops() -> None:
    """R13: which actions each block type stops is policy."""
    policy = Policy(block_effects=parse_effects({"fee_threshold": ["borrow"]}))
    blocks = evaluate(AccountSummary(ledger=ledger(22500)), policy, NOW)
    assert blocks[0].effects == frozenset({Action.BORROW})
    allowed = decide(blocks, card_usable=True)
    assert allowed[Action.BORROW] is False
    assert allowed[Action.RENEW] is True
    assert allowed[Action.DIGITAL] is True
    assert allowed[Action.HOLD] is True


def test_narrowing_one_code_leaves_the_others_stopping_everything() -> None:
    policy = Policy(block_effects=parse_effects({"fee_threshold": ["borrow"]}))
    summary = AccountSummary(
        ledger=ledger(22500), stored=[StoredBlockView(1, BlockCode.STAFF, at(0), reason="r")]
    )
    assert decide(evaluate(summary, policy, NOW), card_usable=True) == dict.fromkeys(Action, False)


def test_effects_of_several_blocks_add_up() -> None:
    blocks = [
        Block(BlockCode.FEE_THRESHOLD, frozenset({Action.BORROW}), at(0)),
        Block(BlockCode.STAFF, frozenset({Action.DIGITAL}), at(0)),
    ]
    assert decide(blocks, card_usable=True) == {
        Action.BORROW: False,
        Action.RENEW: True,
        Action.HOLD: True,
        Action.DIGITAL: False,
    }


def test_an_unblocked_usable_card_may_do_everything() -> None:
    assert decide([], card_usable=True) == dict.fromkeys(Action, True)


def test_an_unusable_card_may_do_nothing_even_without_blocks() -> None:
    """R1, R10: a card that is not activated, lost or expired is refused everywhere."""
    assert decide([], card_usable=False) == dict.fromkeys(Action, False)


@pytest.mark.parametrize("code", list(BlockCode))
def test_every_block_code_stops_every_action_under_the_default_policy(code: BlockCode) -> None:
    assert DEFAULT.effects_of(code) == ALL_ACTIONS
