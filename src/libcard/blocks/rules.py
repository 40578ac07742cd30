"""Which blocks hold, as a pure function of an account summary and the policy (R13, R14)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from libcard.fees.rules import BalanceEvent
from libcard.policy.rules import Action, BlockCode, FeeBlockLift, Policy

DERIVED_CODES = frozenset(
    {BlockCode.FEE_THRESHOLD, BlockCode.REPLACEMENT_UNPAID, BlockCode.IN_COLLECTION}
)
STORED_CODES = frozenset({BlockCode.PIN_LOCKED, BlockCode.STAFF, BlockCode.CARD_RETAINED})


@dataclass(frozen=True)
class StoredBlockView:
    id: int
    code: BlockCode
    since: datetime
    reason: str | None = None
    ends_at: datetime | None = None
    card_id: int | None = None


@dataclass(frozen=True)
class UnpaidReplacement:
    fee_id: int
    since: datetime
    outstanding_minor: int


@dataclass(frozen=True)
class OpenCollectionCase:
    case_id: int
    handed_over_at: datetime
    amount_minor: int


@dataclass(frozen=True)
class AccountSummary:
    """What the block rules need to know of one account, read in one go by the service."""

    ledger: Sequence[BalanceEvent] = ()  # in the order the actions happened
    unpaid_replacements: Sequence[UnpaidReplacement] = ()
    collection_cases: Sequence[OpenCollectionCase] = ()
    stored: Sequence[StoredBlockView] = ()


@dataclass(frozen=True)
class Block:
    code: BlockCode
    effects: frozenset[Action]
    since: datetime
    reason: str | None = None  # the staff's words for a staff block
    ends_at: datetime | None = None
    amount_minor: int | None = None  # what is owed, for the blocks that payment lifts
    stored_id: int | None = None
    card_id: int | None = None


def fee_block_since(ledger: Sequence[BalanceEvent], policy: Policy) -> datetime | None:
    """When the current fee block began, or None if there is none.

    The block starts when the balance reaches the threshold. With the default policy it lasts
    until all debt is paid (balance zero), not merely until the balance dips below the
    threshold; that memory is why the whole ledger, not just today's balance, is needed.
    """
    balance = 0
    since: datetime | None = None
    for event in ledger:
        balance += event.delta_minor
        if since is None and policy.fee_threshold_reached(balance):
            since = event.at
        elif since is not None:
            if policy.fee_block_lifts_at is FeeBlockLift.ZERO:
                lifted = balance <= 0
            else:
                lifted = not policy.fee_threshold_reached(balance)
            if lifted:
                since = None
    return since


def evaluate(summary: AccountSummary, policy: Policy, now: datetime) -> list[Block]:
    """Every block holding on the account at `now`, oldest first."""
    blocks: list[Block] = []
    balance = sum(event.delta_minor for event in summary.ledger)
    since = fee_block_since(summary.ledger, policy)
    if since is not None:
        blocks.append(
            Block(
                BlockCode.FEE_THRESHOLD,
                policy.effects_of(BlockCode.FEE_THRESHOLD),
                since,
                amount_minor=balance,
            )
        )
    if summary.unpaid_replacements:
        blocks.append(
            Block(
                BlockCode.REPLACEMENT_UNPAID,
                policy.effects_of(BlockCode.REPLACEMENT_UNPAID),
                min(r.since for r in summary.unpaid_replacements),
                amount_minor=sum(r.outstanding_minor for r in summary.unpaid_replacements),
            )
        )
    if summary.collection_cases:
        blocks.append(
            Block(
                BlockCode.IN_COLLECTION,
                policy.effects_of(BlockCode.IN_COLLECTION),
                min(c.handed_over_at for c in summary.collection_cases),
                amount_minor=sum(c.amount_minor for c in summary.collection_cases),
            )
        )
    for stored in summary.stored:
        if stored.ends_at is not None and stored.ends_at <= now:
            continue  # a staff block with an end date simply stops holding then
        blocks.append(
            Block(
                stored.code,
                policy.effects_of(stored.code),
                stored.since,
                reason=stored.reason,
                ends_at=stored.ends_at,
                stored_id=stored.id,
                card_id=stored.card_id,
            )
        )
    return sorted(blocks, key=lambda block: (block.since, block.code))


def decide(blocks: Sequence[Block], card_usable: bool) -> dict[Action, bool]:
    """What the card may do: nothing if the card itself is unusable, else what no block stops."""
    if not card_usable:
        return dict.fromkeys(Action, False)
    stopped: set[Action] = set()
    for block in blocks:
        stopped |= block.effects
    return {action: action not in stopped for action in Action}
