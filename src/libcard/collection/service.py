"""Collection cases: reading them, who sees which, and the agency's reports (R14d, R15).

This module sits left of `blocks`: the block rules read open cases through `open_cases`. What
changes blocks and tells the patron (the hand-over, a report that closes a case) is wrapped
by `collection.workflow`, which sits above `blocks`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from libcard.access.models import ApiToken
from libcard.audit.service import record_on
from libcard.collection.models import CollectionCase, CollectionCaseFee, CollectionPayment
from libcard.collection.rules import ACTIVE_STATES, AGENCY_STATES, CaseState, ClosedReason
from libcard.context import STAFF_KINDS, ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from libcard.fees.rules import PaymentMethod
from libcard.fees.service import MAX_AMOUNT_MINOR, fee_views, pay
from libcard.patrons.service import get_patron_for_update, patron_policy

# The states in which a case blocks the account (R14d); the block rules read these.
OPEN_STATES = (CaseState.HANDED_OVER.value,)
READERS = STAFF_KINDS | {ActorKind.AGENCY, ActorKind.SYSTEM}
LIBRARY = STAFF_KINDS | {ActorKind.SYSTEM}
# A payment dated a little ahead of our clock is the agency's clock, not a mistake.
CLOCK_SLACK = timedelta(minutes=10)


async def hand_over(ctx: Ctx, patron_id: int, amount_minor: int, agency: str) -> CollectionCase:
    """Hand debt to an agency at once, without a notice (an administrator's manual case)."""
    if ctx.actor.kind not in (ActorKind.ADMIN, ActorKind.SYSTEM):
        raise Forbidden("forbidden_collection", "Only the library hands debt to collection.")
    if amount_minor <= 0:
        raise InvalidInput("amount", "A collection case is for a positive amount.")
    patron = await get_patron_for_update(ctx, patron_id)
    policy = await patron_policy(ctx, patron)
    now = ctx.clock.now()
    case = CollectionCase(
        institution_id=patron.institution_id,
        patron_id=patron.id,
        amount_minor=amount_minor,
        currency=policy.currency,
        state=CaseState.HANDED_OVER.value,
        agency=agency,
        created_at=now,
        handed_over_at=now,
    )
    ctx.session.add(case)
    await ctx.session.flush()
    await record_on(ctx, "collection:hand_over", case, amount_minor=amount_minor, agency=agency)
    return case


async def open_cases(ctx: Ctx, patron_id: int) -> list[CollectionCase]:
    query = select(CollectionCase).where(
        CollectionCase.patron_id == patron_id, CollectionCase.state.in_(OPEN_STATES)
    )
    return list((await ctx.session.scalars(query)).all())


# --- who sees which case -----------------------------------------------------------------


async def agency_name(ctx: Ctx) -> str | None:
    """The agency an agency's API token speaks for: the token's name, which the library
    gives it as the agency is named in the institution's settings. None for other actors."""
    if ctx.actor.kind is not ActorKind.AGENCY or not (ctx.actor.id or "").startswith("token:"):
        return None
    token = await ctx.session.get(ApiToken, int(str(ctx.actor.id).removeprefix("token:")))
    return token.name.strip() if token is not None else ""


def _check_reader(ctx: Ctx) -> None:
    if ctx.actor.kind not in READERS:
        raise Forbidden("forbidden_collection", "Only the library and its agency see cases.")


async def get_case(ctx: Ctx, case_id: int, *, for_update: bool = False) -> CollectionCase:
    """The case, if the actor may see it: the library sees its institution's cases, an
    agency only those handed to it. Anything else is "not found", so ids cannot be probed."""
    _check_reader(ctx)
    case = await ctx.session.get(
        CollectionCase, case_id, with_for_update=for_update, populate_existing=for_update
    )
    missing = NotFound("case_not_found", f"No collection case with id {case_id}.")
    if case is None or not ctx.actor.may_see_patron(case.patron_id, case.institution_id):
        raise missing
    if ctx.actor.kind is ActorKind.AGENCY:
        name = await agency_name(ctx)
        if case.state not in AGENCY_STATES or (name is not None and case.agency != name):
            raise missing
    return case


async def list_cases(
    ctx: Ctx,
    *,
    state: CaseState | None = None,
    patron_id: int | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> list[CollectionCase]:
    """Oldest first; page with `after_id` = the last id seen."""
    _check_reader(ctx)
    query = (
        select(CollectionCase)
        .where(CollectionCase.id > after_id)
        .order_by(CollectionCase.id)
        .limit(min(max(limit, 1), 500))
    )
    if ctx.actor.institution_id is not None:
        query = query.where(CollectionCase.institution_id == ctx.actor.institution_id)
    if ctx.actor.patron_id is not None:
        query = query.where(CollectionCase.patron_id == ctx.actor.patron_id)
    if patron_id is not None:
        query = query.where(CollectionCase.patron_id == patron_id)
    if ctx.actor.kind is ActorKind.AGENCY:
        query = query.where(CollectionCase.state.in_(AGENCY_STATES))
        name = await agency_name(ctx)
        if name is not None:
            query = query.where(CollectionCase.agency == name)
    if state is not None:
        query = query.where(CollectionCase.state == CaseState(state).value)
    return list((await ctx.session.scalars(query)).all())


@dataclass(frozen=True)
class CaseFeeLine:
    fee_id: int
    created_at: datetime
    type: str
    description: str
    noticed_minor: int  # outstanding when the notice went out
    outstanding_minor: int  # outstanding now


@dataclass(frozen=True)
class CaseDetail:
    case: CollectionCase
    fees: list[CaseFeeLine]
    payments: list[CollectionPayment]


async def case_fees(ctx: Ctx, case: CollectionCase) -> list[CaseFeeLine]:
    covered = {
        row.fee_id: row.amount_minor
        for row in (
            await ctx.session.scalars(
                select(CollectionCaseFee).where(CollectionCaseFee.case_id == case.id)
            )
        ).all()
    }
    if not covered:
        return []
    return [
        CaseFeeLine(
            view.fee.id,
            view.fee.created_at,
            view.fee.type,
            view.fee.description,
            covered[view.fee.id],
            view.status.outstanding_minor,
        )
        for view in await fee_views(ctx, case.patron_id)
        if view.fee.id in covered
    ]


async def case_detail(ctx: Ctx, case: CollectionCase) -> CaseDetail:
    payments = (
        await ctx.session.scalars(
            select(CollectionPayment)
            .where(CollectionPayment.case_id == case.id)
            .order_by(CollectionPayment.paid_at, CollectionPayment.id)
        )
    ).all()
    return CaseDetail(case, await case_fees(ctx, case), list(payments))


# --- the agency's reports ----------------------------------------------------------------


def _agency_or_system(ctx: Ctx, what: str) -> None:
    if ctx.actor.kind not in (ActorKind.AGENCY, ActorKind.ADMIN, ActorKind.SYSTEM):
        raise Forbidden("forbidden_collection", f"Only the agency {what}.")


def _still_with_agency(case: CollectionCase) -> None:
    if case.state != CaseState.HANDED_OVER.value:
        raise Conflict("case_closed", "This collection case is closed already.", state=case.state)


async def acknowledge(ctx: Ctx, case_id: int) -> CollectionCase:
    """The agency has taken the case on. Saying so twice changes nothing."""
    _agency_or_system(ctx, "acknowledges a case")
    case = await get_case(ctx, case_id, for_update=True)
    if case.acknowledged_at is not None:
        return case
    _still_with_agency(case)
    case.acknowledged_at = ctx.clock.now()
    await record_on(ctx, "collection:acknowledge", case)
    return case


def _reference(text: str) -> str:
    reference = " ".join(text.split())
    if not 1 <= len(reference) <= 200:
        raise InvalidInput("reference", "The agency's reference has 1 to 200 characters.")
    return reference


async def report_payment(
    ctx: Ctx, case_id: int, amount_minor: int, paid_at: datetime, reference: str
) -> tuple[CollectionPayment, bool]:
    """A (partial) payment the agency collected: recorded on the case and, up to what the
    case's fees still owe, in the ledger with method `agency`. The same reference again
    returns the first report (False: nothing new); with another amount it is refused."""
    _agency_or_system(ctx, "reports payments")
    reference = _reference(reference)
    if not 0 < amount_minor <= MAX_AMOUNT_MINOR:
        raise InvalidInput("amount", "An amount is a positive number of minor units.")
    if paid_at.tzinfo is None:
        raise InvalidInput("paid_at", "Give the payment's time with its time zone.")
    case = await get_case(ctx, case_id)
    await get_patron_for_update(ctx, case.patron_id)  # serialises reports on one account
    await ctx.session.refresh(case)
    earlier = await ctx.session.scalar(
        select(CollectionPayment).where(
            CollectionPayment.case_id == case.id, CollectionPayment.reference == reference
        )
    )
    if earlier is not None:
        if earlier.amount_minor != amount_minor:
            raise Conflict(
                "reference_reused", "This reference belongs to another payment on this case."
            )
        return earlier, False
    _still_with_agency(case)
    if paid_at > ctx.clock.now() + CLOCK_SLACK:
        raise InvalidInput("paid_at_future", "A payment cannot be dated in the future.")
    remaining = case.amount_minor - case.paid_minor
    if amount_minor > remaining:
        raise RuleViolation(
            "more_than_owed",
            "The payment is more than the case has still to collect.",
            remaining_minor=remaining,
        )
    return await _record_payment(ctx, case, amount_minor, paid_at, reference), True


async def _record_payment(
    ctx: Ctx, case: CollectionCase, amount_minor: int, paid_at: datetime, reference: str
) -> CollectionPayment:
    # Money beyond what the case's fees still owe (the patron paid the library meanwhile, or
    # a case made by hand covers no fees) stays on the case: the library settles it with the
    # agency; the ledger never takes more than is owed.
    lines = await case_fees(ctx, case)
    owed = sum(line.outstanding_minor for line in lines)
    payment_id = None
    if min(amount_minor, owed) > 0:
        payment = await pay(
            ctx,
            case.patron_id,
            min(amount_minor, owed),
            method=PaymentMethod.AGENCY,
            # Hashed: references may be as long as the key itself, and a cut would make two
            # long references one.
            idempotency_key=f"collection:{case.id}:{hashlib.sha256(reference.encode()).hexdigest()}",
            reference=reference,
            fee_ids=[line.fee_id for line in lines if line.outstanding_minor > 0],
        )
        payment_id = payment.id
    report = CollectionPayment(
        case_id=case.id,
        payment_id=payment_id,
        reference=reference,
        amount_minor=amount_minor,
        paid_at=paid_at,
        reported_at=ctx.clock.now(),
    )
    ctx.session.add(report)
    case.paid_minor += amount_minor
    await ctx.session.flush()
    await record_on(
        ctx,
        "collection:payment",
        case,
        amount_minor=amount_minor,
        reference=reference,
        payment_id=payment_id,
    )
    return report


async def report_paid_in_full(
    ctx: Ctx,
    case_id: int,
    *,
    reference: str | None = None,
    paid_at: datetime | None = None,
) -> CollectionCase:
    """The agency has collected all of it: what it had not reported yet is recorded as its
    last payment, and the case closes, which lifts the block (R14d)."""
    _agency_or_system(ctx, "reports a case paid")
    case = await get_case(ctx, case_id)
    await get_patron_for_update(ctx, case.patron_id)
    await ctx.session.refresh(case)
    _still_with_agency(case)
    now = ctx.clock.now()
    remaining = case.amount_minor - case.paid_minor
    if remaining > 0:
        when = paid_at or now
        if when.tzinfo is None or when > now + CLOCK_SLACK:
            raise InvalidInput("paid_at", "Give a payment time with its zone, not in the future.")
        last = _reference(reference or "paid-in-full")
        if await ctx.session.scalar(
            select(CollectionPayment.id).where(
                CollectionPayment.case_id == case.id, CollectionPayment.reference == last
            )
        ):
            raise Conflict(
                "reference_reused",
                "This reference names a payment reported earlier; give the last payment "
                "a reference of its own.",
            )
        await _record_payment(ctx, case, remaining, when, last)
    case.state, case.closed_at = CaseState.PAID_IN_FULL.value, now
    case.closed_reason = ClosedReason.PAID_IN_FULL.value
    await record_on(ctx, "collection:paid_in_full", case, reference=reference)
    return case


async def recall(ctx: Ctx, case_id: int, reason: str) -> CollectionCase:
    """The library takes a case back from the agency (or withdraws a notice), or the agency
    reports it has given the case back. The block lifts; the fees stay as they are."""
    if ctx.actor.kind not in LIBRARY | {ActorKind.AGENCY}:
        raise Forbidden("forbidden_collection", "Only the library or its agency recalls a case.")
    text = " ".join(reason.split())[:500]
    if not text:
        raise InvalidInput("reason_required", "Say why the case is recalled.")
    case = await get_case(ctx, case_id)
    await get_patron_for_update(ctx, case.patron_id)
    await ctx.session.refresh(case)
    if case.state not in ACTIVE_STATES:
        raise Conflict("case_closed", "This collection case is closed already.", state=case.state)
    by_agency = ctx.actor.kind is ActorKind.AGENCY
    now = ctx.clock.now()
    case.state, case.closed_at = CaseState.RECALLED.value, now
    case.recalled_at, case.recalled_by = now, ctx.actor.label[:200]
    case.closed_reason = (
        ClosedReason.RECALLED_BY_AGENCY if by_agency else ClosedReason.RECALLED_BY_LIBRARY
    ).value
    await record_on(ctx, "collection:recall", case, reason=text, by_agency=by_agency)
    return case
