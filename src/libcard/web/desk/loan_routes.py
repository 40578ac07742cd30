"""Loans at the desk (B2): a patron's loans with check-out and renewal, and the check-in page.

Check-out lends on the patron's own card: the desk scans only the item. The card is the
patron's active card (a physical one before the e-card); when none can lend, the page says
why before anyone scans. Refusals name the block and what lifts it (R13, R17). Every action
runs as the staff member, so the audit log has their name and branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.accounts.portal import AccountView, CardView, account_view
from libcard.blocks.texts import describe
from libcard.cards.rules import CardKind, CardState
from libcard.errors import LibcardError, RuleViolation
from libcard.fees.models import Fee
from libcard.fees.service import get_fee
from libcard.kit.i18n import N_, translate
from libcard.loans.models import Loan
from libcard.loans.rules import days_overdue, due_at
from libcard.loans.service import checkin, checkout, renew
from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron
from libcard.policy.rules import Action
from libcard.web.api.deps import IdPath
from libcard.web.desk.render import message_for, redirect, render
from libcard.web.desk.visit import DeskVisit, staff_visit
from libcard.web.loan_lines import RECENT_DAYS, LoanLine, lines_of, open_lines, recent_returns
from libcard.web.portal.forms import Form, read_form
from libcard.web.portal.loan_routes import BlockShown, refusing_blocks

router = APIRouter(include_in_schema=False)

# Refusals as staff read them. Kept here rather than with the desk's shared texts: some codes
# (account_closed, card_lost …) read differently on other desk pages.
LOAN_MESSAGES: dict[str, str] = {
    "item_barcode": N_(
        "This is not an item barcode: 1 to 64 letters, digits, dots, dashes or underscores. "
        "Scan the item again."
    ),
    "item_not_found": N_(
        "No item of this library has this barcode. Scan it again, or check the number."
    ),
    "item_not_loanable": N_("This item is for use in the library and cannot be lent."),
    "item_on_loan": N_(
        "This item is on loan to someone else. Check it in first (Check in, in the menu)."
    ),
    "item_on_loan_to_patron": N_("This item is on loan to this patron already."),
    "item_not_on_loan": N_("This item is not on loan."),
    "max_loans": N_(
        "The patron has as many items on loan as their group may borrow (%(max_loans)s). An "
        "item must be returned first."
    ),
    "max_renewals": N_(
        "This loan has been renewed as often as allowed (%(max_renewals)s). The item must be "
        "returned."
    ),
    "loan_lost": N_(
        "This item is recorded as lost and cannot be renewed. Check it in when it comes back."
    ),
    "blocked": N_("The account is blocked, so this is refused. What lifts the block:"),
    "card_not_activated": N_(
        "The patron has not activated their account yet, so they cannot borrow. They activate "
        "it with the code of their activation letter."
    ),
    "no_card": N_(
        "The patron has no card that can lend: each is lost, stolen, replaced or expired. "
        "Replace or issue a card on the patron view first."
    ),
    "account_closed": N_("This account is closed. It cannot borrow."),
    "account_expired": N_("This account has expired. It cannot borrow until it is renewed."),
}
# Every card refusal but "not activated" means the same at the desk: no card that can lend.
NO_CARD_CODES = frozenset({"card_lost", "card_stolen", "card_replaced", "card_expired"})
NOTICES: dict[str, str] = {
    "out": N_("Checked out: %(title)s, due on %(date)s."),
    "renewed": N_("Renewed: %(title)s is now due on %(date)s."),
}
# A loan is lent on one card; a physical card before the others, the e-card last (R3).
CARD_ORDER = (CardKind.PHYSICAL, CardKind.STUDENT_ID, CardKind.EMPLOYEE_BADGE, CardKind.ECARD)
LENDING = frozenset({Action.BORROW, Action.RENEW})


def refusal_text(error: LibcardError, language: str) -> str:
    code = "no_card" if error.code in NO_CARD_CODES else error.code
    text = LOAN_MESSAGES.get(code)
    if text is None:
        return message_for(error, language)
    values = {k: v for k, v in error.details.items() if f"%({k})s" in text}
    return translate(language, text, **values)


def lending_card(view: AccountView) -> CardView | None:
    """The card a desk check-out lends on: an active one if any. A health card's number is
    not stored, so it cannot be named; the e-card always can."""

    def rank(item: CardView) -> tuple[bool, int, int]:
        kind = CardKind(item.card.kind)
        order = CARD_ORDER.index(kind) if kind in CARD_ORDER else len(CARD_ORDER)
        return (item.state is not CardState.ACTIVE, order, -item.card.id)

    numbered = [item for item in view.cards if item.card.number]
    return min(numbered, key=rank) if numbered else None


def card_problem(view: AccountView, card: CardView | None, now: datetime) -> str | None:
    """Why the patron cannot borrow whatever is scanned: a code of LOAN_MESSAGES, or None."""
    patron = view.patron
    if patron.closed_at is not None:
        return "account_closed"
    if patron.expires_at is not None and patron.expires_at <= now:
        return "account_expired"
    if card is None:
        return "no_card"
    if card.state is CardState.NOT_ACTIVATED:
        return "card_not_activated"
    if card.state is not CardState.ACTIVE:
        return "no_card"
    return None


def borrow_blocks(view: AccountView, language: str) -> list[BlockShown]:
    """The blocks that stop borrowing or renewing, with their texts in the page's language."""
    timezone = view.institution.timezone
    return [
        BlockShown(block, describe(block, view.policy, language, timezone))
        for block in view.blocks
        if block.effects & LENDING
    ]


async def _loans_page(
    visit: DeskVisit,
    patron_id: int,
    *,
    error: LibcardError | None = None,
    error_form: str | None = None,
    submitted: Form | None = None,
    done: str | None = None,
    loan_id: str | None = None,
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        view = await account_view(ctx, patron_id)
        loans = await open_lines(ctx, patron_id)
        returned = await recent_returns(ctx, patron_id)
    card = lending_card(view)
    problem = card_problem(view, card, visit.runtime.clock.now())
    blocks = borrow_blocks(view, visit.language)
    notice = None
    line = next((line for line in loans if str(line.loan.id) == loan_id), None)
    if done in NOTICES and line is not None:
        notice = (NOTICES[done], line)
    values: dict[str, Any] = {
        "view": view,
        "loans": loans,
        "returned": returned,
        "recent_days": RECENT_DAYS,
        "due_now": due_at(
            visit.runtime.clock.now(), view.policy.loan_days, view.institution.timezone
        ),
        "card": card if problem is None else None,
        "card_problem": translate(visit.language, LOAN_MESSAGES[problem]) if problem else None,
        "blocks": blocks,
        "error_blocks": refusing_blocks(blocks, error),
        "error_form": error_form,
        "submitted": submitted.values if submitted else {},
        "notice": notice,
    }
    if error is not None:
        values.update(
            status=error.status,
            error=refusal_text(error, visit.language),
            error_code=error.code,
        )
    return render(visit, "desk/loans.html", **values)


@router.get("/desk/patrons/{patron_id}/loans")
async def loans_page(request: Request, patron_id: IdPath) -> Response:
    visit = await staff_visit(request)
    query = request.query_params
    return await _loans_page(visit, patron_id, done=query.get("done"), loan_id=query.get("loan"))


@router.post("/desk/patrons/{patron_id}/loans")
async def check_out(request: Request, patron_id: IdPath) -> Response:
    """Lend the scanned item on the patron's card; the service decides whether they may."""
    visit = await staff_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=form.get("note")) as ctx:
            view = await account_view(ctx, patron_id)
            card = lending_card(view)
            if card is None:
                raise RuleViolation("no_card", "The patron has no card that can lend.")
            loan = await checkout(ctx, card.card.number or "", form.get("item"))
    except LibcardError as error:
        # Another institution's patron: "not found" (a 404 page) when the page is read again.
        return await _loans_page(
            visit, patron_id, error=error, error_form="checkout", submitted=form
        )
    return redirect(visit, f"/desk/patrons/{patron_id}/loans?done=out&loan={loan.id}")


@router.post("/desk/patrons/{patron_id}/loans/renew")
async def renew_loan(request: Request, patron_id: IdPath) -> Response:
    visit = await staff_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=form.get("note")) as ctx:
            await get_patron(ctx, patron_id)  # another institution's patron: not found
            loan = await renew(ctx, form.get("item"), patron_id=patron_id)
    except LibcardError as error:
        return await _loans_page(visit, patron_id, error=error, error_form="renew", submitted=form)
    return redirect(visit, f"/desk/patrons/{patron_id}/loans?done=renewed&loan={loan.id}")


# Check-in


@dataclass(frozen=True)
class Returned:
    """A loan just closed at the desk, for the check-in page to say whose it was."""

    line: LoanLine
    patron: Patron
    days_late: int
    fine: Fee | None  # the loan's overdue fine, final from the check-in on


async def _returned(visit: DeskVisit, raw_id: str | None) -> Returned | None:
    if not raw_id or not raw_id.isdigit() or len(raw_id) > 9:
        return None
    async with visit.unit(readonly=True) as ctx:
        loan = await ctx.session.get(Loan, int(raw_id))
        if (
            loan is None
            or loan.returned_at is None
            or not ctx.actor.may_see_institution(loan.institution_id)
        ):
            return None
        patron = await get_patron(ctx, loan.patron_id)
        [line] = await lines_of(ctx, [loan])
        fine = await get_fee(ctx, loan.fine_fee_id) if loan.fine_fee_id else None
    assert visit.institution is not None
    late = days_overdue(loan.due_at, loan.returned_at, visit.institution.timezone)
    return Returned(line, patron, late, fine)


@router.get("/desk/checkin")
async def checkin_page(request: Request) -> Response:
    visit = await staff_visit(request)
    returned = await _returned(visit, request.query_params.get("loan"))
    return render(visit, "desk/checkin.html", returned=returned, submitted={})


@router.post("/desk/checkin")
async def check_in(request: Request) -> Response:
    """Take back any item of the institution; the page then says whose loan it closed."""
    visit = await staff_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=form.get("note")) as ctx:
            loan = await checkin(ctx, form.get("item"))
    except LibcardError as error:
        return render(
            visit,
            "desk/checkin.html",
            status=error.status,
            error=refusal_text(error, visit.language),
            error_code=error.code,
            returned=None,
            submitted=form.values,
        )
    return redirect(visit, f"/desk/checkin?loan={loan.id}")
