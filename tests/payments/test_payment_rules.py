"""The state machine and checks of online payments (payments/rules.py; R16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libcard.blocks.rules import AccountSummary, StoredBlockView, UnpaidReplacement, evaluate
from libcard.fees.rules import BalanceEvent
from libcard.payments.providers.base import ProviderPayment, ProviderState
from libcard.payments.rules import (
    OPEN_STATES,
    UNPAID_ENDS,
    Expected,
    PaymentState,
    Step,
    blocks_after_paying,
    lifted_codes,
    mismatch,
    transition,
)
from libcard.policy.rules import BlockCode, Policy

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
POLICY = Policy()


@pytest.mark.parametrize("current", sorted(OPEN_STATES))
def test_money_taken_settles_an_open_payment(current: PaymentState) -> None:
    assert transition(current, ProviderState.CAPTURED).step is Step.SETTLE
    assert transition(current, ProviderState.CAPTURED).state is PaymentState.SUCCEEDED


@pytest.mark.parametrize("current", sorted(UNPAID_ENDS))
def test_money_taken_after_we_gave_up_is_still_recorded(current: PaymentState) -> None:
    """The patron finished paying after the payment expired here or was replaced: the money
    is real, so it settles (or is given back if the fees are paid already)."""
    assert transition(current, ProviderState.CAPTURED) == (
        transition(PaymentState.PENDING, ProviderState.CAPTURED)
    )


def test_a_success_arrives_once_whatever_follows() -> None:
    for reported in ProviderState:
        change = transition(PaymentState.SUCCEEDED, reported)
        if reported is ProviderState.REFUNDED:
            assert change.step is Step.REFUNDED
        else:
            assert change.step is Step.NOTHING
            assert change.state is PaymentState.SUCCEEDED


def test_reserved_money_is_captured_while_open_and_released_when_given_up() -> None:
    assert transition(PaymentState.PENDING, ProviderState.AUTHORIZED).step is Step.CAPTURE
    assert transition(PaymentState.CANCELLED, ProviderState.AUTHORIZED).step is Step.RELEASE
    assert transition(PaymentState.SUCCEEDED, ProviderState.AUTHORIZED).step is Step.NOTHING


@pytest.mark.parametrize(
    ("reported", "state"),
    [
        (ProviderState.FAILED, PaymentState.FAILED),
        (ProviderState.CANCELLED, PaymentState.CANCELLED),
        (ProviderState.EXPIRED, PaymentState.EXPIRED),
    ],
)
def test_a_decline_ends_an_open_payment_and_nothing_else(
    reported: ProviderState, state: PaymentState
) -> None:
    assert transition(PaymentState.PENDING, reported).state is state
    assert transition(PaymentState.PENDING, reported).step is Step.END
    # A late failure after a success, or a second ending, changes nothing.
    assert transition(PaymentState.SUCCEEDED, reported).step is Step.NOTHING
    assert transition(PaymentState.CANCELLED, reported).step is Step.NOTHING


def test_a_payment_still_open_at_the_provider_waits() -> None:
    assert transition(PaymentState.PENDING, ProviderState.CREATED) == (
        transition(PaymentState.CREATED, ProviderState.CREATED)
    )
    assert transition(PaymentState.PENDING, ProviderState.CREATED).step is Step.WAIT


@given(st.sampled_from(list(PaymentState)), st.sampled_from(list(ProviderState)))
def test_only_a_capture_reaches_success(current: PaymentState, reported: ProviderState) -> None:
    change = transition(current, reported)
    if change.state is PaymentState.SUCCEEDED and current is not PaymentState.SUCCEEDED:
        assert reported is ProviderState.CAPTURED
    if change.step is Step.SETTLE:
        assert current is not PaymentState.SUCCEEDED


EXPECTED = Expected("lcp-0123456789abcdef", 25000, "DKK", "card-1")


def _report(**override: object) -> ProviderPayment:
    values: dict[str, object] = {
        "provider_payment_id": "card-1",
        "reference": "lcp-0123456789abcdef",
        "state": ProviderState.CAPTURED,
        "amount_minor": 25000,
        "currency": "DKK",
    }
    values.update(override)
    return ProviderPayment(**values)  # type: ignore[arg-type]


def test_a_report_must_name_our_reference_amount_and_currency() -> None:
    assert mismatch(EXPECTED, _report()) is None
    assert mismatch(EXPECTED, _report(currency="dkk")) is None
    assert mismatch(EXPECTED, _report(amount_minor=24999)) == "amount_mismatch"
    assert mismatch(EXPECTED, _report(amount_minor=25001)) == "amount_mismatch"
    assert mismatch(EXPECTED, _report(currency="EUR")) == "currency_mismatch"
    assert mismatch(EXPECTED, _report(reference="lcp-other")) == "reference_mismatch"
    assert mismatch(EXPECTED, _report(provider_payment_id="card-2")) == (
        "provider_payment_mismatch"
    )
    unopened = Expected(EXPECTED.reference, 25000, "DKK", None)
    assert mismatch(unopened, _report(provider_payment_id="anything")) is None


def test_a_refund_may_give_back_part_of_the_payment_but_not_more() -> None:
    refunded = ProviderState.REFUNDED
    assert mismatch(EXPECTED, _report(state=refunded, amount_minor=10000)) is None
    assert mismatch(EXPECTED, _report(state=refunded, amount_minor=25000)) is None
    assert mismatch(EXPECTED, _report(state=refunded, amount_minor=25001)) == "amount_mismatch"


def test_paying_every_fee_lifts_the_fee_block_and_the_replacement_block() -> None:
    ledger = [BalanceEvent(T0, 20000), BalanceEvent(T0 + timedelta(days=1), 5000)]
    replacements = [UnpaidReplacement(2, T0 + timedelta(days=1), 5000)]
    now = evaluate(AccountSummary(ledger, replacements), POLICY, NOW)
    assert [b.code for b in now] == [BlockCode.FEE_THRESHOLD, BlockCode.REPLACEMENT_UNPAID]
    after = blocks_after_paying(now, ledger, replacements, {1: 20000, 2: 5000}, POLICY, NOW)
    assert after == []
    assert lifted_codes(now, after) == [BlockCode.FEE_THRESHOLD, BlockCode.REPLACEMENT_UNPAID]


def test_paying_part_lifts_only_what_that_part_settles() -> None:
    """Paying the replacement invoice alone lifts its block; the fee block remembers the
    threshold and holds until all debt is paid (default policy)."""
    ledger = [BalanceEvent(T0, 20000), BalanceEvent(T0 + timedelta(days=1), 5000)]
    replacements = [UnpaidReplacement(2, T0 + timedelta(days=1), 5000)]
    now = evaluate(AccountSummary(ledger, replacements), POLICY, NOW)
    after = blocks_after_paying(now, ledger, replacements, {2: 5000}, POLICY, NOW)
    assert [b.code for b in after] == [BlockCode.FEE_THRESHOLD]
    assert after[0].amount_minor == 20000
    assert lifted_codes(now, after) == [BlockCode.REPLACEMENT_UNPAID]


def test_blocks_that_paying_cannot_lift_stay() -> None:
    staff = StoredBlockView(7, BlockCode.STAFF, T0, reason="damaged book")
    ledger = [BalanceEvent(T0, 30000)]
    now = evaluate(AccountSummary(ledger, stored=[staff]), POLICY, NOW)
    after = blocks_after_paying(now, ledger, [], {1: 30000}, POLICY, NOW)
    assert [b.code for b in after] == [BlockCode.STAFF]
