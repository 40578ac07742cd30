"""Loans: a patron's loans, check-out, check-in and renewal (B2).

Card numbers and barcodes travel in request bodies, never in URLs. A refusal is a problem
document with the service's code: `blocked` (with `block` and `blocks`), `card_lost`,
`max_loans`, `max_renewals`, `item_on_loan` …
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from libcard.access.scopes import Scope
from libcard.accounts.service import refusal_is_noted
from libcard.cards import service as cards
from libcard.cards.rules import CardState
from libcard.context import Ctx
from libcard.errors import RuleViolation
from libcard.loans import service as loans
from libcard.loans.models import Loan
from libcard.patrons.service import get_patron, patron_policy
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep, IdPath
from libcard.web.loan_lines import LoanLine, lines_of

router = APIRouter(tags=["loans"])


def _out(line: LoanLine, renewals_allowed: int) -> s.LoanOut:
    loan, item = line.loan, line.item
    return s.LoanOut(
        id=loan.id,
        patron_id=loan.patron_id,
        institution_id=loan.institution_id,
        card_id=loan.card_id,
        branch_id=loan.branch_id,
        item=s.LoanItemOut(id=item.id, barcode=item.barcode, title=item.title),
        checked_out_at=loan.checked_out_at,
        due_at=loan.due_at,
        renewals=loan.renewals,
        renewals_allowed=renewals_allowed,
        overdue=line.overdue,
        lost_at=loan.lost_at,
        returned_at=loan.returned_at,
    )


async def _loans_out(ctx: Ctx, patron_id: int, found: list[Loan]) -> list[s.LoanOut]:
    policy = await patron_policy(ctx, await get_patron(ctx, patron_id))
    return [_out(line, policy.max_renewals) for line in await lines_of(ctx, found)]


async def _loan_out(ctx: Ctx, loan: Loan) -> s.LoanOut:
    [out] = await _loans_out(ctx, loan.patron_id, [loan])
    return out


@router.get("/patrons/{patron_id}/loans", response_model=list[s.LoanOut])
async def list_loans(
    api: ApiDep,
    patron_id: IdPath,
    open_only: Annotated[bool, Query(description="false: returned loans too.")] = True,
) -> list[s.LoanOut]:
    """The patron's loans, soonest due first."""
    async with api.unit(Scope.LOANS_READ, readonly=True) as ctx:
        found = await loans.loans_of(ctx, patron_id, open_only=open_only)
        return await _loans_out(ctx, patron_id, found)


@router.post("/loans", response_model=s.LoanOut, status_code=201)
async def check_out(api: ApiDep, body: s.CheckoutIn) -> s.LoanOut:
    """Lend the item to the card's holder. Refused when the card cannot be used (its code,
    like `card_lost`), when a block stops borrowing (`blocked`), or by the item or the
    group's limits (`item_not_loanable`, `item_on_loan`, `max_loans`)."""
    try:
        async with api.unit(Scope.LOANS_WRITE) as ctx:
            return await _loan_out(
                ctx, await loans.checkout(ctx, body.card_number, body.item_barcode)
            )
    except RuleViolation as refusal:
        state = refusal.details.get("card_state")
        if state is not None:
            await _note_refused_use(api, body.card_number, CardState(state))
        raise


async def _note_refused_use(api: ApiDep, number: str, state: CardState) -> None:
    # A lost, stolen or replaced card tried at a machine is shown to staff as possible
    # misuse (R10); in a unit of its own, as the refused checkout's unit rolled back.
    async with api.unit(Scope.LOANS_WRITE) as ctx:
        if refusal_is_noted(ctx, state):
            await cards.note_refused_use(ctx, await cards.find_card(ctx, number), "checkout")


@router.post("/loans/checkin", response_model=s.LoanOut)
async def check_in(api: ApiDep, body: s.CheckinIn) -> s.LoanOut:
    """Take the item back, whoever borrowed it; the answer is the closed loan (`overdue`
    says whether it came back late)."""
    async with api.unit(Scope.LOANS_WRITE) as ctx:
        loan = await loans.checkin(ctx, body.item_barcode, institution_id=body.institution_id)
        return await _loan_out(ctx, loan)


@router.post("/loans/renew", response_model=s.LoanOut)
async def renew(api: ApiDep, body: s.RenewIn) -> s.LoanOut:
    """Lend the item for another period, from now or from the due date if later. A token
    of one patron renews only that patron's loans; others answer `loan_not_found`."""
    async with api.unit(Scope.LOANS_WRITE) as ctx:
        loan = await loans.renew(
            ctx,
            body.item_barcode,
            patron_id=body.patron_id,
            institution_id=body.institution_id,
        )
        return await _loan_out(ctx, loan)
