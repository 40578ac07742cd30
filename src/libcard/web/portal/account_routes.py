"""The logged-in patron's pages: the e-card (R3), the overview of blocks and fees (R13, R14,
R17), password and PIN (R5, R7), and reporting a card lost (R10, R11)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.access.sessions import end_session, start_session
from libcard.accounts.portal import (
    AccountView,
    account_view,
    change_own_password,
    report_own_card_lost,
)
from libcard.blocks.texts import describe
from libcard.cards.pin import change_pin
from libcard.cards.rules import CardState
from libcard.context import Ctx
from libcard.errors import InvalidInput, LibcardError
from libcard.policy.rules import Action
from libcard.web.portal.codes import code128_svg, qr_svg
from libcard.web.portal.forms import read_form, same
from libcard.web.portal.render import form_error, redirect, render
from libcard.web.portal.visit import Visit, open_visit

router = APIRouter(include_in_schema=False)

ACTION_ORDER = (Action.BORROW, Action.RENEW, Action.HOLD, Action.DIGITAL)


async def logged_in(request: Request) -> tuple[Visit, Response | None]:
    """The visit, or a redirect to the login page that comes back here afterwards."""
    visit = await open_visit(request)
    if visit.session is None:
        return visit, redirect(visit, f"/login?next={request.url.path}")
    return visit, None


async def load_view(visit: Visit) -> AccountView:
    async with visit.unit(readonly=True) as ctx:
        assert ctx.actor.patron_id is not None
        return await account_view(ctx, ctx.actor.patron_id)


def _block_texts(view: AccountView, language: str) -> list[dict[str, object]]:
    timezone = view.institution.timezone
    return [
        {
            "block": block,
            "text": describe(block, view.policy, language, timezone),
            "stops": [action.value for action in ACTION_ORDER if action in block.effects],
        }
        for block in view.blocks
    ]


@router.get("/card")
async def card_page(request: Request) -> Response:
    visit, away = await logged_in(request)
    if away:
        return away
    view = await load_view(visit)
    ecard = view.ecard
    codes = {}
    if ecard is not None and ecard.card.number:
        number = ecard.card.number
        codes = {"code128": code128_svg(number, number), "qr": qr_svg(number, number)}
    return render(
        visit,
        "portal/card.html",
        view=view,
        ecard=ecard,
        codes=codes,
        blocks=_block_texts(view, visit.language),
        welcome=request.query_params.get("welcome") == "1",
        CardState=CardState,
    )


@router.get("/overview")
async def overview_page(request: Request) -> Response:
    visit, away = await logged_in(request)
    if away:
        return away
    view = await load_view(visit)
    return render(
        visit, "portal/overview.html", view=view, blocks=_block_texts(view, visit.language)
    )


@router.get("/password")
async def password_page(request: Request) -> Response:
    visit, away = await logged_in(request)
    return away or render(visit, "portal/password.html", done=request.query_params.get("done"))


@router.post("/password")
async def change_password(request: Request) -> Response:
    visit, away = await logged_in(request)
    if away:
        return away
    form = await read_form(request)
    assert visit.session is not None
    try:
        visit.check_csrf(form.get("csrf"))
        same(form.get("password"), form.get("password_repeat"), "password_mismatch")
        async with visit.unit() as ctx:
            assert ctx.actor.patron_id is not None
            await change_own_password(
                ctx,
                ctx.actor.patron_id,
                form.get("current_password"),
                form.get("password"),
                session_id=visit.session.id,
            )
            # A new session secret as well: whoever might have copied the old cookie is out.
            await _rotate(visit, ctx)
    except LibcardError as error:
        return form_error(
            visit,
            "portal/password.html",
            error,
        )
    return redirect(visit, "/password?done=1")


async def _rotate(visit: Visit, ctx: Ctx) -> None:
    assert visit.session is not None
    assert ctx.actor.patron_id is not None
    old = visit.session.id
    session, secret = await start_session(ctx, ctx.actor.patron_id, visit.rules)
    await end_session(ctx, old)
    visit.log_in(session, secret)


@router.get("/pin")
async def pin_page(request: Request) -> Response:
    visit, away = await logged_in(request)
    return away or render(visit, "portal/pin.html", done=request.query_params.get("done"))


@router.post("/pin")
async def change_pin_route(request: Request) -> Response:
    visit, away = await logged_in(request)
    if away:
        return away
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        same(form.get("pin"), form.get("pin_repeat"), "pin_mismatch")
        async with visit.unit() as ctx:
            assert ctx.actor.patron_id is not None
            await change_pin(ctx, ctx.actor.patron_id, form.get("password"), form.get("pin"))
    except LibcardError as error:
        return form_error(
            visit,
            "portal/pin.html",
            error,
        )
    return redirect(visit, "/pin?done=1")


@router.get("/lost-card")
async def lost_card_page(request: Request) -> Response:
    visit, away = await logged_in(request)
    if away:
        return away
    return render(visit, "portal/lost_card.html", view=await load_view(visit))


@router.post("/lost-card")
async def report_lost(request: Request) -> Response:
    visit, away = await logged_in(request)
    if away:
        return away
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        if not form.get("card_id").isdigit():
            raise InvalidInput("card_required", "Choose the card that is lost.")
        if form.get("confirm") != "yes":
            raise InvalidInput("confirm_required", "Tick the box to confirm.")
        async with visit.unit() as ctx:
            assert ctx.actor.patron_id is not None
            report = await report_own_card_lost(ctx, ctx.actor.patron_id, int(form.get("card_id")))
    except LibcardError as error:
        return form_error(
            visit,
            "portal/lost_card.html",
            error,
            view=await load_view(visit),
        )
    return render(visit, "portal/lost_card_done.html", report=report, view=await load_view(visit))
