"""Fee status, oldest-first allocation of payments and the balance (fees/rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libcard.fees.rules import (
    ActionKind,
    BalanceEvent,
    FeeState,
    Line,
    OpenFee,
    allocate,
    balance_of,
    fee_status,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def pay(amount: int, minute: int) -> Line:
    return Line(ActionKind.PAYMENT, amount, at(minute))


def waive(amount: int, minute: int) -> Line:
    return Line(ActionKind.WAIVER, amount, at(minute))


def refund(amount: int, minute: int) -> Line:
    return Line(ActionKind.REFUND, amount, at(minute))


# --- fee_status -------------------------------------------------------------------------


def test_a_fee_without_actions_is_open_and_owes_everything() -> None:
    status = fee_status(5000, [])
    assert status.state is FeeState.OPEN
    assert status.outstanding_minor == 5000
    assert status.settled_at is None


def test_a_partly_paid_fee_owes_the_rest() -> None:
    status = fee_status(5000, [pay(2000, 1)])
    assert status.state is FeeState.PARTLY_PAID
    assert status.outstanding_minor == 3000
    assert status.paid_minor == 2000
    assert status.settled_at is None


def test_a_partly_waived_fee_is_partly_paid() -> None:
    status = fee_status(5000, [waive(1000, 1)])
    assert status.state is FeeState.PARTLY_PAID
    assert status.outstanding_minor == 4000


def test_a_fee_paid_in_instalments_is_settled_by_the_last_instalment() -> None:
    """R14c: a replacement block lifts when the whole amount is paid, not before."""
    status = fee_status(5000, [pay(2000, 1), pay(3000, 7)])
    assert status.state is FeeState.PAID
    assert status.outstanding_minor == 0
    assert status.settled_at == at(7)


def test_a_fully_waived_fee_is_waived() -> None:
    status = fee_status(5000, [waive(5000, 3)])
    assert status.state is FeeState.WAIVED
    assert status.settled_at == at(3)
    assert status.outstanding_minor == 0


def test_paid_then_rest_waived_is_paid_and_settled_by_the_waiver() -> None:
    status = fee_status(5000, [pay(1000, 1), waive(4000, 5)])
    assert status.state is FeeState.PAID
    assert status.settled_at == at(5)


def test_a_refund_does_not_reopen_a_paid_fee() -> None:
    status = fee_status(5000, [pay(5000, 1), refund(5000, 9)])
    assert status.state is FeeState.PAID
    assert status.outstanding_minor == 0
    assert status.settled_at == at(1)
    assert status.refunded_minor == 5000
    assert status.refundable_minor == 0


def test_a_partial_refund_leaves_the_rest_refundable() -> None:
    status = fee_status(5000, [pay(5000, 1), refund(1500, 2)])
    assert status.refundable_minor == 3500


def test_lines_are_read_in_time_order_whatever_order_they_come_in() -> None:
    status = fee_status(5000, [pay(3000, 9), pay(2000, 4)])
    assert status.settled_at == at(9)


lines = st.lists(
    st.builds(
        Line,
        kind=st.sampled_from(list(ActionKind)),
        amount_minor=st.integers(min_value=1, max_value=10_000),
        at=st.integers(min_value=0, max_value=1_000).map(at),
    ),
    max_size=12,
)


@given(st.integers(min_value=1, max_value=20_000), lines)
def test_fee_state_agrees_with_what_is_outstanding(amount: int, actions: list[Line]) -> None:
    status = fee_status(amount, actions)
    assert status.paid_minor == sum(a.amount_minor for a in actions if a.kind is ActionKind.PAYMENT)
    assert status.waived_minor == sum(
        a.amount_minor for a in actions if a.kind is ActionKind.WAIVER
    )
    if status.outstanding_minor > 0:
        assert status.settled_at is None
        expected = (
            FeeState.PARTLY_PAID if status.paid_minor or status.waived_minor else FeeState.OPEN
        )
        assert status.state is expected
    else:
        assert status.settled_at is not None
        assert status.settled_at in {a.at for a in actions}
        assert status.state in (FeeState.PAID, FeeState.WAIVED)
        assert (status.state is FeeState.WAIVED) == (status.paid_minor == 0)


@given(st.integers(min_value=1, max_value=20_000), lines, st.permutations(range(12)))
def test_fee_status_does_not_depend_on_input_order(
    amount: int, actions: list[Line], order: list[int]
) -> None:
    shuffled = [actions[i] for i in order if i < len(actions)]
    assert fee_status(amount, shuffled).state == fee_status(amount, actions).state
    assert (
        fee_status(amount, shuffled).outstanding_minor
        == fee_status(amount, actions).outstanding_minor
    )


@given(
    st.integers(min_value=1, max_value=20_000),
    lines,
    st.lists(st.integers(min_value=1, max_value=10_000), max_size=4),
)
def test_refunds_never_change_what_is_owed_or_when_it_was_settled(
    amount: int, actions: list[Line], refunds: list[int]
) -> None:
    without = [a for a in actions if a.kind is not ActionKind.REFUND]
    with_refunds = without + [refund(r, 2_000 + i) for i, r in enumerate(refunds)]
    before, after = fee_status(amount, without), fee_status(amount, with_refunds)
    assert after.state is before.state
    assert after.outstanding_minor == before.outstanding_minor
    assert after.settled_at == before.settled_at
    assert after.refunded_minor == sum(refunds)


# --- allocate --------------------------------------------------------------------------


def test_a_payment_settles_the_oldest_fee_first() -> None:
    fees = [
        OpenFee(1, at(10), 3000),
        OpenFee(2, at(0), 2000),  # the oldest
        OpenFee(3, at(5), 4000),
    ]
    assert allocate(4000, fees) == [(2, 2000), (3, 2000)]


def test_fees_of_the_same_moment_are_settled_in_id_order() -> None:
    fees = [OpenFee(9, at(0), 1000), OpenFee(4, at(0), 1000), OpenFee(6, at(0), 1000)]
    assert allocate(1500, fees) == [(4, 1000), (6, 500)]


def test_fees_with_nothing_outstanding_get_nothing() -> None:
    fees = [OpenFee(1, at(0), 0), OpenFee(2, at(1), 500)]
    assert allocate(500, fees) == [(2, 500)]


def test_paying_exactly_what_is_owed_settles_everything() -> None:
    fees = [OpenFee(1, at(0), 700), OpenFee(2, at(1), 300)]
    assert allocate(1000, fees) == [(1, 700), (2, 300)]


def test_a_payment_larger_than_the_debt_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        allocate(1001, [OpenFee(1, at(0), 700), OpenFee(2, at(1), 300)])


@pytest.mark.parametrize("amount", [0, -100])
def test_a_payment_must_be_positive(amount: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        allocate(amount, [OpenFee(1, at(0), 700)])


open_fees = st.lists(
    st.builds(
        OpenFee,
        fee_id=st.integers(min_value=1, max_value=50),
        created_at=st.integers(min_value=0, max_value=20).map(at),
        outstanding_minor=st.integers(min_value=0, max_value=50_000),
    ),
    min_size=1,
    max_size=10,
    unique_by=lambda fee: fee.fee_id,
).filter(lambda fees: sum(f.outstanding_minor for f in fees) > 0)


@given(open_fees, st.data())
def test_allocation_places_the_whole_amount_oldest_first_and_never_over(
    fees: list[OpenFee], data: st.DataObject
) -> None:
    owed = sum(f.outstanding_minor for f in fees)
    amount = data.draw(st.integers(min_value=1, max_value=owed))
    allocations = allocate(amount, fees)
    by_id = {f.fee_id: f for f in fees}

    assert sum(share for _, share in allocations) == amount  # the whole amount is placed
    assert len({fee_id for fee_id, _ in allocations}) == len(allocations)  # once per fee
    for fee_id, share in allocations:
        assert 0 < share <= by_id[fee_id].outstanding_minor  # never over-allocated
    # Oldest first: a fee gets money only when every older fee is fully paid.
    ordered = sorted(
        (f for f in fees if f.outstanding_minor > 0), key=lambda f: (f.created_at, f.fee_id)
    )
    assert [fee_id for fee_id, _ in allocations] == [f.fee_id for f in ordered][: len(allocations)]
    for fee_id, share in allocations[:-1]:
        assert share == by_id[fee_id].outstanding_minor


@given(open_fees, st.integers(min_value=1, max_value=1_000))
def test_allocation_refuses_more_than_is_owed(fees: list[OpenFee], extra: int) -> None:
    owed = sum(f.outstanding_minor for f in fees)
    with pytest.raises(ValueError, match="exceeds"):
        allocate(owed + extra, fees)


# --- balance ---------------------------------------------------------------------------


def test_balance_is_charges_minus_payments_and_waivers() -> None:
    events = [BalanceEvent(at(0), 20000), BalanceEvent(at(1), 5000), BalanceEvent(at(2), -7500)]
    assert balance_of(events) == 17500


def test_an_empty_ledger_owes_nothing() -> None:
    assert balance_of([]) == 0


@given(st.lists(st.integers(min_value=-100_000, max_value=100_000), max_size=30))
def test_balance_is_the_sum_of_the_changes(deltas: list[int]) -> None:
    events = [BalanceEvent(at(i), d) for i, d in enumerate(deltas)]
    assert balance_of(events) == sum(deltas)
    assert balance_of(iter(events)) == sum(deltas)  # any iterable, read once
