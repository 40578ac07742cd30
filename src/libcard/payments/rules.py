"""Pure rules of online payments: the state machine, checking a provider's report against
the payment we made, and which blocks paying would lift. No session, clock or I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from libcard.blocks.rules import AccountSummary, Block, UnpaidReplacement, evaluate
from libcard.fees.rules import BalanceEvent
from libcard.payments.providers.base import ProviderPayment, ProviderState
from libcard.policy.rules import BlockCode, Policy


class PaymentState(StrEnum):
    CREATED = "created"  # recorded here; the provider has not yet made its payment page
    PENDING = "pending"  # the patron is on (or left) the provider's page; no result yet
    SUCCEEDED = "succeeded"  # money taken and recorded in the ledger
    FAILED = "failed"  # declined, or the provider refused to start
    CANCELLED = "cancelled"  # the patron gave up, or started another payment
    EXPIRED = "expired"  # never finished in time
    REFUNDED = "refunded"  # money given back at the provider


OPEN_STATES = frozenset({PaymentState.CREATED, PaymentState.PENDING})
UNPAID_ENDS = frozenset({PaymentState.FAILED, PaymentState.CANCELLED, PaymentState.EXPIRED})
# The blocks that paying fees can lift; every other block stays whatever is paid.
PAYABLE_BLOCKS = frozenset({BlockCode.FEE_THRESHOLD, BlockCode.REPLACEMENT_UNPAID})


class Step(StrEnum):
    """What the service does with a provider's report."""

    NOTHING = "nothing"  # already known, or a stale report that changes nothing
    WAIT = "wait"  # still open at the provider
    CAPTURE = "capture"  # money reserved: take it, then settle
    RELEASE = "release"  # money reserved for a payment we gave up: let it go at the provider
    SETTLE = "settle"  # money taken: record it in the ledger, the fees are paid
    END = "end"  # declined, cancelled or expired: the fees stay open
    REFUNDED = "refunded"  # the provider gave the money back after it was recorded


@dataclass(frozen=True)
class Transition:
    step: Step
    state: PaymentState  # the payment's state afterwards


_ENDS = {
    ProviderState.FAILED: PaymentState.FAILED,
    ProviderState.CANCELLED: PaymentState.CANCELLED,
    ProviderState.EXPIRED: PaymentState.EXPIRED,
    ProviderState.REFUNDED: PaymentState.REFUNDED,
}


def transition(current: PaymentState, reported: ProviderState) -> Transition:
    """Where a payment in `current` goes when the provider reports `reported`.

    Money taken is the truth: a capture reported after we gave up on a payment (it expired
    here, or the patron started another) is still recorded. A failure reported after a
    success is stale and changes nothing.
    """
    stay = Transition(Step.NOTHING, current)
    if reported is ProviderState.CAPTURED:
        if current in (PaymentState.SUCCEEDED, PaymentState.REFUNDED):
            return stay
        return Transition(Step.SETTLE, PaymentState.SUCCEEDED)
    if reported is ProviderState.AUTHORIZED:
        if current in OPEN_STATES:
            return Transition(Step.CAPTURE, PaymentState.PENDING)
        if current in UNPAID_ENDS:
            return Transition(Step.RELEASE, current)
        return stay
    if reported is ProviderState.CREATED:
        if current in OPEN_STATES:
            return Transition(Step.WAIT, PaymentState.PENDING)
        return stay
    if reported is ProviderState.REFUNDED and current is PaymentState.SUCCEEDED:
        return Transition(Step.REFUNDED, PaymentState.REFUNDED)
    if current in OPEN_STATES:
        return Transition(Step.END, _ENDS[reported])
    return stay


@dataclass(frozen=True)
class Expected:
    """What we asked the provider for, to hold its report against."""

    reference: str
    amount_minor: int
    currency: str
    provider_payment_id: str | None


def mismatch(expected: Expected, reported: ProviderPayment) -> str | None:
    """Why a report cannot belong to the payment we made, as a code; None when it fits.

    A report of money taken must name our reference, amount and currency exactly: anything
    else is a forgery, a mix-up or a provider's error, and must not settle fees.
    """
    if reported.reference != expected.reference:
        return "reference_mismatch"
    if (
        expected.provider_payment_id is not None
        and reported.provider_payment_id != expected.provider_payment_id
    ):
        return "provider_payment_mismatch"
    if reported.currency.upper() != expected.currency.upper():
        return "currency_mismatch"
    # A refund names the amount given back, which may be part of the payment; it settles
    # nothing, so only more than was paid is suspect.
    if reported.state is ProviderState.REFUNDED:
        return "amount_mismatch" if reported.amount_minor > expected.amount_minor else None
    if reported.amount_minor != expected.amount_minor:
        return "amount_mismatch"
    return None


def blocks_after_paying(
    blocks_now: Sequence[Block],
    ledger: Sequence[BalanceEvent],
    replacements: Sequence[UnpaidReplacement],
    paid: Mapping[int, int],
    policy: Policy,
    now: datetime,
) -> list[Block]:
    """The blocks that would hold if `paid` (fee id → amount) were paid at `now`.

    Only the blocks that follow from the fees are judged again, on the ledger with this
    payment added; every other block (PIN, staff, collection) stays as it is.
    """
    total = sum(paid.values())
    events = [*ledger, BalanceEvent(now, -total)] if total else list(ledger)
    left = [
        UnpaidReplacement(r.fee_id, r.since, r.outstanding_minor - paid.get(r.fee_id, 0))
        for r in replacements
    ]
    summary = AccountSummary(
        ledger=events, unpaid_replacements=[r for r in left if r.outstanding_minor > 0]
    )
    after = [b for b in evaluate(summary, policy, now) if b.code in PAYABLE_BLOCKS]
    kept = [b for b in blocks_now if b.code not in PAYABLE_BLOCKS]
    return sorted([*kept, *after], key=lambda block: (block.since, block.code))


def lifted_codes(before: Sequence[Block], after: Sequence[Block]) -> list[BlockCode]:
    """The codes of the blocks in `before` that `after` no longer has, in `before`'s order."""
    remaining = {block.code for block in after}
    return [block.code for block in before if block.code not in remaining]
