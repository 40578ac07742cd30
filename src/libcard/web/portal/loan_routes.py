"""My loans (B2): the patron's open loans with their due dates, renewing one, and what was
returned lately. A blocked card cannot renew (R13); the page says which block and what lifts
it (R17). The patron renews only their own loans: the service answers anyone else's item
exactly like an item the patron never borrowed."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.accounts.portal import AccountView, account_view
from libcard.blocks.rules import Block
from libcard.blocks.texts import BlockText, describe
from libcard.cards.texts import REFUSALS
from libcard.errors import LibcardError
from libcard.kit.i18n import N_, translate
from libcard.loans.service import renew
from libcard.policy.rules import Action
from libcard.web.loan_lines import RECENT_DAYS, open_lines, recent_returns
from libcard.web.portal.forms import read_form
from libcard.web.portal.render import message_for, redirect, render
from libcard.web.portal.visit import Visit, patron_visit

router = APIRouter(include_in_schema=False)

# Refusals of a renewal as the patron reads them; other codes fall back to the portal's texts.
LOAN_MESSAGES: dict[str, str] = {
    "loan_not_found": N_("You have no loan of this item. It may have been returned already."),
    "max_renewals": N_(
        "This loan has been renewed as often as allowed (%(max_renewals)s). Return the item, "
        "or ask at the lending desk."
    ),
    "loan_lost": N_(
        "This item is recorded as lost and cannot be renewed. Bring it back to the library."
    ),
    "blocked": N_("Your card is blocked, so loans cannot be renewed. What lifts the block:"),
    "account_expired": REFUSALS["account_expired"],
}


@dataclass(frozen=True)
class BlockShown:
    block: Block
    text: BlockText


def refusal_text(error: LibcardError, language: str) -> str:
    text = LOAN_MESSAGES.get(error.code)
    if text is None:
        return message_for(error, language)
    if "%(max_renewals)s" in text:
        return translate(language, text, max_renewals=error.details.get("max_renewals", ""))
    return translate(language, text)


def renew_blocks(view: AccountView, language: str) -> list[BlockShown]:
    """The blocks that stop renewing, with their texts in the page's language."""
    timezone = view.institution.timezone
    return [
        BlockShown(block, describe(block, view.policy, language, timezone))
        for block in view.blocks
        if Action.RENEW in block.effects
    ]


def refusing_blocks(shown: list[BlockShown], error: LibcardError | None) -> list[BlockShown]:
    """The blocks a `blocked` refusal names, with their texts; none for other refusals."""
    if error is None or error.code != "blocked":
        return []
    codes = set(error.details.get("blocks") or [])
    return [item for item in shown if item.block.code.value in codes] or shown


async def _page(
    visit: Visit,
    *,
    error: LibcardError | None = None,
    renewed: str | None = None,
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        view = await account_view(ctx, visit.me)
        loans = await open_lines(ctx, visit.me)
        returned = await recent_returns(ctx, visit.me)
    blocks = renew_blocks(view, visit.language)
    return render(
        visit,
        "portal/loans.html",
        status=error.status if error else 200,
        view=view,
        loans=loans,
        returned=returned,
        recent_days=RECENT_DAYS,
        blocks=blocks,
        error=refusal_text(error, visit.language) if error else None,
        error_blocks=refusing_blocks(blocks, error),
        renewed=next((line for line in loans if str(line.loan.id) == renewed), None),
    )


@router.get("/loans")
async def loans_page(request: Request) -> Response:
    visit = await patron_visit(request)
    return await _page(visit, renewed=request.query_params.get("renewed"))


@router.post("/loans/renew")
async def renew_loan(request: Request) -> Response:
    visit = await patron_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit() as ctx:
            loan = await renew(ctx, form.get("item"), patron_id=visit.me)
    except LibcardError as error:
        return await _page(visit, error=error)
    return redirect(visit, f"/loans?renewed={loan.id}")
