"""The collection agency's API (R14d, R15): the cases handed to it, its acknowledgements and
payment reports, and recalls by either side.

Every route needs the `collection` scope. An agency's token (actor kind `agency`, named as
the agency is in the institution's settings) sees only the cases handed to that agency by its
institution; anything else is 404. Library tokens (staff kinds) see every case of their
institution and may recall one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from libcard.access.scopes import Scope
from libcard.cards.models import Card
from libcard.collection import service, workflow
from libcard.collection.export import card_number_of
from libcard.collection.models import CollectionCase
from libcard.collection.rules import CaseState
from libcard.context import Ctx
from libcard.errors import InvalidInput
from libcard.patrons.models import Patron
from libcard.web.api import collection_schemas as c
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep, IdPath, IdQuery

router = APIRouter(tags=["collection"])


def _patron_out(patron: Patron, cards: list[Card]) -> c.CasePatronOut:
    return c.CasePatronOut(
        id=patron.id,
        card_number=card_number_of(cards) or None,
        first_name=patron.first_name,
        last_name=patron.last_name,
        street=patron.street,
        postal_code=patron.postal_code,
        city=patron.city,
        country=patron.country,
        email=patron.email or patron.institutional_email,
    )


def _summary(case: CollectionCase, patron: c.CasePatronOut) -> c.CaseSummaryOut:
    return c.CaseSummaryOut(
        id=case.id,
        state=CaseState(case.state),
        agency=case.agency,
        patron=patron,
        amount=s.Money.of(case.amount_minor, case.currency),
        paid=s.Money.of(case.paid_minor, case.currency),
        remaining=s.Money.of(max(case.amount_minor - case.paid_minor, 0), case.currency),
        notice_sent_at=case.notice_sent_at,
        notice_deadline=case.notice_deadline,
        handed_over_at=case.handed_over_at,
        acknowledged_at=case.acknowledged_at,
        closed_at=case.closed_at,
        closed_reason=case.closed_reason,
        recalled_at=case.recalled_at,
    )


async def _patrons(ctx: Ctx, patron_ids: set[int]) -> dict[int, c.CasePatronOut]:
    """The patrons of a page of cases in two queries."""
    if not patron_ids:
        return {}
    patrons = (await ctx.session.scalars(select(Patron).where(Patron.id.in_(patron_ids)))).all()
    cards = (await ctx.session.scalars(select(Card).where(Card.patron_id.in_(patron_ids)))).all()
    return {
        patron.id: _patron_out(patron, [card for card in cards if card.patron_id == patron.id])
        for patron in patrons
    }


async def case_out(ctx: Ctx, case: CollectionCase) -> c.CaseOut:
    detail = await service.case_detail(ctx, case)
    patron = (await _patrons(ctx, {case.patron_id}))[case.patron_id]
    return c.CaseOut(
        **_summary(case, patron).model_dump(),
        fees=[
            c.CaseFeeOut(
                fee_id=line.fee_id,
                created_at=line.created_at,
                type=line.type,
                description=line.description,
                noticed=s.Money.of(line.noticed_minor, case.currency),
                outstanding=s.Money.of(line.outstanding_minor, case.currency),
            )
            for line in detail.fees
        ],
        payments=[
            c.CasePaymentOut(
                reference=p.reference,
                amount=s.Money.of(p.amount_minor, case.currency),
                paid_at=p.paid_at,
                reported_at=p.reported_at,
            )
            for p in detail.payments
        ],
    )


@router.get("/collection/cases", response_model=c.CasePage)
async def list_cases(
    api: ApiDep,
    state: CaseState | None = None,
    patron_id: IdQuery = None,
    after_id: Annotated[int, Query(ge=0, le=s.MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> c.CasePage:
    """The cases this token may see, oldest first; page with `after_id`. An agency sees the
    cases handed to it: `handed_over`, and later `paid_in_full` or `recalled`."""
    async with api.unit(Scope.COLLECTION, readonly=True) as ctx:
        cases = await service.list_cases(
            ctx, state=state, patron_id=patron_id, after_id=after_id, limit=limit
        )
        patrons = await _patrons(ctx, {case.patron_id for case in cases})
        return c.CasePage(
            cases=[_summary(case, patrons[case.patron_id]) for case in cases],
            next_after_id=cases[-1].id if len(cases) == limit else None,
        )


@router.get("/collection/cases/{case_id}", response_model=c.CaseOut)
async def get_case(api: ApiDep, case_id: IdPath) -> c.CaseOut:
    """One case with the fees it covers and the payments reported on it."""
    async with api.unit(Scope.COLLECTION, readonly=True) as ctx:
        return await case_out(ctx, await service.get_case(ctx, case_id))


@router.post("/collection/cases/{case_id}/acknowledge", response_model=c.CaseOut)
async def acknowledge(api: ApiDep, case_id: IdPath) -> c.CaseOut:
    """The agency has taken the case on; a repeat changes nothing."""
    async with api.unit(Scope.COLLECTION) as ctx:
        return await case_out(ctx, await service.acknowledge(ctx, case_id))


@router.post(
    "/collection/cases/{case_id}/payments",
    response_model=c.CaseOut,
    status_code=201,
    responses={200: {"description": "This reference was reported before: nothing new."}},
)
async def report_payment(
    api: ApiDep, case_id: IdPath, body: c.AgencyPaymentIn, response: Response
) -> c.CaseOut:
    """A partial payment the agency collected. It is recorded in the library's ledger
    (method `agency`) against the case's fees. The same `reference` again is the same
    payment (200, nothing recorded twice); with another amount it is refused (409). The
    block stays until the agency reports the case paid in full."""
    async with api.unit(Scope.COLLECTION) as ctx:
        case = await service.get_case(ctx, case_id)
        if body.currency is not None and body.currency != case.currency:
            raise InvalidInput("currency_mismatch", f"This case is in {case.currency}.")
        _, created = await service.report_payment(
            ctx, case_id, body.amount_minor, body.paid_at, body.reference
        )
        if not created:
            response.status_code = 200
        return await case_out(ctx, case)


@router.post("/collection/cases/{case_id}/paid-in-full", response_model=c.CaseOut)
async def paid_in_full(
    api: ApiDep, case_id: IdPath, body: c.PaidInFullIn | None = None
) -> c.CaseOut:
    """The agency has collected everything: what it had not reported is recorded as its last
    payment, the case closes and the block lifts at once (the patron is told by mail)."""
    body = body or c.PaidInFullIn()
    async with api.unit(Scope.COLLECTION) as ctx:
        case = await workflow.report_paid_in_full(
            ctx, case_id, reference=body.reference, paid_at=body.paid_at
        )
        return await case_out(ctx, case)


@router.post("/collection/cases/{case_id}/recall", response_model=c.CaseOut)
async def recall(api: ApiDep, case_id: IdPath, body: c.RecallIn) -> c.CaseOut:
    """The library takes the case back (a staff token), or the agency reports that it has
    given it back. The block lifts; the fees stay in the library's ledger."""
    async with api.unit(Scope.COLLECTION) as ctx:
        case = await workflow.recall(ctx, case_id, body.reason)
        return await case_out(ctx, case)
