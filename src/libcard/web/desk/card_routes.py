"""Cards at the desk: report one lost (R10), mark one stolen with the patron and their photo
ID in front of the desk (R12), replace one for the group's fee (R11), issue a physical card
to a patron whose group may hold one (R4). A refusal shows on the owner's patron view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.accounts.service import replace_card
from libcard.cards.models import Card
from libcard.cards.rules import CardKind, CardState
from libcard.cards.service import (
    cards_of,
    get_card,
    issue_card,
    mark_stolen,
    report_lost,
    state_now,
)
from libcard.context import Ctx
from libcard.errors import Conflict, InvalidInput, LibcardError
from libcard.kit.i18n import N_
from libcard.web.api.deps import IdPath
from libcard.web.desk.patron_routes import patron_page
from libcard.web.desk.render import add_messages, redirect
from libcard.web.desk.visit import DeskVisit, staff_visit
from libcard.web.portal.forms import Form, read_form

router = APIRouter(include_in_schema=False)

add_messages(
    {
        "stolen_not_confirmed": N_(
            "A card is marked stolen only with the patron here in person: tick the box once "
            "you have seen them and checked their photo ID. Nothing was changed."
        ),
        "card_state_transition": N_(
            "This card cannot be changed so: it is no longer in use. Nothing was changed."
        ),
        "card_replaced": N_("This card has been replaced already."),
        "not_replaceable": N_(
            "An e-card is not replaced: report it lost and the patron gets a new e-card at once."
        ),
        "physical_card_not_allowed": N_(
            "Patrons of this group have no physical library card; they use the e-card."
        ),
        "physical_card_in_use": N_(
            "The patron has a library card in use already. If it is lost, report it lost or "
            "replace it."
        ),
        "account_closed": N_("This account is closed; it gets no new cards."),
        "card_number_in_use": N_("This card number belongs to another card already."),
        "forbidden_issue": N_("You may not issue this kind of card."),
    }
)

# Does the action and answers the query of the patron view that shows its result.
CardAction = Callable[[Ctx, Card, Form, str], Awaitable[str]]


async def _card_action(request: Request, card_id: int, name: str, act: CardAction) -> Response:
    visit = await staff_visit(request)
    form = await read_form(request)
    note = form.get("note").strip()
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note) as ctx:
            card = await get_card(ctx, card_id)
            query = await act(ctx, card, form, note)
            patron_id = card.patron_id
    except LibcardError as error:
        # Another institution's card: "not found" (a 404 page), whatever else was wrong.
        owner = await _owner_of(visit, card_id)
        return await patron_page(
            visit, owner, error=error, open_form=f"card-{card_id}-{name}", submitted=form.values
        )
    return redirect(visit, f"/desk/patrons/{patron_id}?{query}")


async def _owner_of(visit: DeskVisit, card_id: int) -> int:
    async with visit.unit(readonly=True) as ctx:
        return (await get_card(ctx, card_id)).patron_id


async def _lost(ctx: Ctx, card: Card, form: Form, note: str) -> str:
    await report_lost(ctx, card.id)
    # A lost e-card is followed by a new one at once (R3): its number goes on the notice.
    successor = next(
        (c for c in await cards_of(ctx, card.patron_id) if c.replaces_card_id == card.id), None
    )
    return "done=lost" + (f"&card={successor.id}" if successor else "")


async def _stolen(ctx: Ctx, card: Card, form: Form, note: str) -> str:
    if form.get("patron_seen") != "yes":
        raise InvalidInput("stolen_not_confirmed", "See the patron and their photo ID first.")
    await mark_stolen(ctx, card.id, form.get("photo_id_kind"), note or None)
    return "done=stolen"


async def _replace(ctx: Ctx, card: Card, form: Form, note: str) -> str:
    if card.kind != CardKind.PHYSICAL:
        # Student IDs and badges come from their own systems; an e-card is reported lost.
        raise InvalidInput("not_replaceable", "Only library cards are replaced at the desk.")
    replacement = await replace_card(ctx, card.id, number=form.get("number").strip() or None)
    fee = f"&fee={replacement.fee.id}" if replacement.fee else ""
    return f"done=replaced&card={replacement.new.id}{fee}"


@router.post("/desk/cards/{card_id}/lost")
async def card_lost(request: Request, card_id: IdPath) -> Response:
    return await _card_action(request, card_id, "lost", _lost)


@router.post("/desk/cards/{card_id}/stolen")
async def card_stolen(request: Request, card_id: IdPath) -> Response:
    return await _card_action(request, card_id, "stolen", _stolen)


@router.post("/desk/cards/{card_id}/replace")
async def card_replace(request: Request, card_id: IdPath) -> Response:
    return await _card_action(request, card_id, "replace", _replace)


@router.post("/desk/patrons/{patron_id}/cards")
async def issue_physical(request: Request, patron_id: IdPath) -> Response:
    """A first (or another) physical library card, handed over now: active at once."""
    visit = await staff_visit(request)
    form = await read_form(request)
    note = form.get("note").strip()
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note) as ctx:
            in_use = [
                c
                for c in await cards_of(ctx, patron_id)
                if c.kind == CardKind.PHYSICAL
                and state_now(ctx, c) in (CardState.ACTIVE, CardState.NOT_ACTIVATED)
            ]
            if in_use:
                # A second card would dodge the replacement fee of a lost one.
                raise Conflict("physical_card_in_use", "A library card is in use already.")
            card = await issue_card(
                ctx, patron_id, CardKind.PHYSICAL, number=form.get("number").strip() or None
            )
    except LibcardError as error:
        return await patron_page(
            visit, patron_id, error=error, open_form="issue", submitted=form.values
        )
    return redirect(visit, f"/desk/patrons/{patron_id}?done=issued&card={card.id}")
