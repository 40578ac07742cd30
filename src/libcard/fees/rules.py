"""Pure ledger arithmetic: a fee's status, oldest-first allocation, the balance over time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class FeeType(StrEnum):
    OVERDUE = "overdue"
    REPLACEMENT = "replacement"  # lost or damaged material (R14c)
    CARD_REPLACEMENT = "card_replacement"  # a new physical card (R11)
    PROCESSING = "processing"
    COLLECTION = "collection"
    OTHER = "other"


class ActionKind(StrEnum):
    PAYMENT = "payment"
    WAIVER = "waiver"
    REFUND = "refund"
    # A further charge on an existing fee: an overdue fine raised as the days pass. The fee's
    # amount already includes it; the action says when the debt grew, so the balance's
    # history (and the fee block's start) stays true.
    CHARGE = "charge"


class FeeState(StrEnum):
    OPEN = "open"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    WAIVED = "waived"


class PaymentMethod(StrEnum):
    CASH = "cash"
    CARD_TERMINAL = "card_terminal"
    ONLINE_CARD = "online_card"
    MOBILEPAY = "mobilepay"
    SELF_CHECKOUT = "self_checkout"
    AGENCY = "agency"
    BANK_TRANSFER = "bank_transfer"
    OTHER = "other"


@dataclass(frozen=True)
class Line:
    """One ledger action on one fee, as plain values."""

    kind: ActionKind
    amount_minor: int
    at: datetime
    payment_id: int | None = None


@dataclass(frozen=True)
class FeeStatus:
    amount_minor: int
    paid_minor: int  # payments received for this fee
    waived_minor: int
    refunded_minor: int  # money given back; a refund does not reopen the fee
    state: FeeState
    settled_at: datetime | None  # when nothing more was owed; for a replacement: fully paid

    @property
    def outstanding_minor(self) -> int:
        return self.amount_minor - self.paid_minor - self.waived_minor

    @property
    def refundable_minor(self) -> int:
        return self.paid_minor - self.refunded_minor


def fee_status(amount_minor: int, lines: Iterable[Line]) -> FeeStatus:
    paid = waived = refunded = 0
    settled_at: datetime | None = None
    for line in sorted(lines, key=lambda line: line.at):
        if line.kind is ActionKind.PAYMENT:
            paid += line.amount_minor
        elif line.kind is ActionKind.WAIVER:
            waived += line.amount_minor
        elif line.kind is ActionKind.REFUND:
            refunded += line.amount_minor
        if settled_at is None and paid + waived >= amount_minor:
            settled_at = line.at
    outstanding = amount_minor - paid - waived
    if outstanding > 0:
        state = FeeState.PARTLY_PAID if paid or waived else FeeState.OPEN
        settled_at = None
    else:
        state = FeeState.PAID if paid else FeeState.WAIVED
    return FeeStatus(amount_minor, paid, waived, refunded, state, settled_at)


@dataclass(frozen=True)
class OpenFee:
    fee_id: int
    created_at: datetime
    outstanding_minor: int


def allocate(amount_minor: int, open_fees: Sequence[OpenFee]) -> list[tuple[int, int]]:
    """Spread a payment over open fees, oldest first; returns (fee id, amount) pairs.

    The caller refuses a payment larger than what is owed, so the whole amount is placed.
    """
    if amount_minor <= 0:
        raise ValueError("a payment allocates a positive amount")
    remaining = amount_minor
    allocations: list[tuple[int, int]] = []
    for fee in sorted(open_fees, key=lambda fee: (fee.created_at, fee.fee_id)):
        if remaining == 0:
            break
        if fee.outstanding_minor <= 0:
            continue
        share = min(remaining, fee.outstanding_minor)
        allocations.append((fee.fee_id, share))
        remaining -= share
    if remaining:
        raise ValueError("payment exceeds what the given fees owe")
    return allocations


@dataclass(frozen=True)
class BalanceEvent:
    """A change of the balance: + for a charge, − for a payment or waiver."""

    at: datetime
    delta_minor: int


def balance_delta(kind: ActionKind, amount_minor: int) -> int:
    """What an action does to the balance: a further charge adds, a payment or waiver takes
    away, a refund gives money back and leaves the debt as it is."""
    if kind is ActionKind.CHARGE:
        return amount_minor
    if kind is ActionKind.REFUND:
        return 0
    return -amount_minor


def first_charge(amount_minor: int, lines: Iterable[Line]) -> int:
    """The amount a fee was charged with at first: today's amount less its further charges."""
    return amount_minor - sum(line.amount_minor for line in lines if line.kind is ActionKind.CHARGE)


def balance_of(events: Iterable[BalanceEvent]) -> int:
    return sum(event.delta_minor for event in events)
