"""Collection cases, the minimum the block rules need (R14d); notices and the agency's API
arrive with the collection workflow."""

from __future__ import annotations

from sqlalchemy import select

from libcard.audit.service import record_on
from libcard.collection.models import CollectionCase
from libcard.context import ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound
from libcard.patrons.service import get_patron_for_update, patron_policy

OPEN_STATES = ("handed_over",)


async def hand_over(ctx: Ctx, patron_id: int, amount_minor: int, agency: str) -> CollectionCase:
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
        state="handed_over",
        agency=agency,
        created_at=now,
        handed_over_at=now,
    )
    ctx.session.add(case)
    await ctx.session.flush()
    await record_on(ctx, "collection:hand_over", case, amount_minor=amount_minor, agency=agency)
    return case


async def report_paid_in_full(ctx: Ctx, case_id: int) -> CollectionCase:
    if ctx.actor.kind not in (ActorKind.AGENCY, ActorKind.ADMIN, ActorKind.SYSTEM):
        raise Forbidden("forbidden_collection", "Only the agency reports a case paid.")
    case = await ctx.session.get(CollectionCase, case_id)
    if case is None or not ctx.actor.may_see_patron(case.patron_id, case.institution_id):
        raise NotFound("case_not_found", f"No collection case with id {case_id}.")
    if case.state not in OPEN_STATES:
        raise Conflict("case_closed", "This collection case is closed already.")
    case.state, case.closed_at = "paid_in_full", ctx.clock.now()
    await record_on(ctx, "collection:paid_in_full", case)
    return case


async def open_cases(ctx: Ctx, patron_id: int) -> list[CollectionCase]:
    query = select(CollectionCase).where(
        CollectionCase.patron_id == patron_id, CollectionCase.state.in_(OPEN_STATES)
    )
    return list((await ctx.session.scalars(query)).all())
