"""The logged-in patron's pages: the e-card (R3), the overview of blocks and fees (R13, R14,
R17), password and PIN (R5, R7), and reporting a card lost (R10, R11)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.accounts.portal import (
    AccountView,
    change_own_password,
    report_own_card_lost,
)
from libcard.blocks.texts import describe
from libcard.cards.pin import change_pin
from libcard.cards.rules import CardState
from libcard.errors import InvalidInput, LibcardError
from libcard.policy.rules import Action
from libcard.web.portal.codes import code128_svg, qr_svg
from libcard.web.portal.forms import read_form, same
from libcard.web.portal.render import form_error, redirect, render
from libcard.web.portal.visit import patron_visit
from libcard.web.wallets import wallets

router = APIRouter(include_in_schema=False)

ACTION_ORDER = (Action.BORROW, Action.RENEW, Action.HOLD, Action.DIGITAL)


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
    visit = await patron_visit(request)
    view = await visit.account()
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
        wallet=wallets(request).offer,
        CardState=CardState,
    )


@router.get("/overview")
async def overview_page(request: Request) -> Response:
    visit = await patron_visit(request)
    view = await visit.account()
    return render(
        visit, "portal/overview.html", view=view, blocks=_block_texts(view, visit.language)
    )


@router.get("/password")
async def password_page(request: Request) -> Response:
    visit = await patron_visit(request)
    return render(visit, "portal/password.html", done=request.query_params.get("done"))


@router.post("/password")
async def change_password(request: Request) -> Response:
    visit = await patron_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        same(form.get("password"), form.get("password_repeat"), "password_mismatch")
        async with visit.unit() as ctx:
            session, secret = await change_own_password(
                ctx, visit.me, form.get("current_password"), form.get("password"), visit.rules
            )
    except LibcardError as error:
        return form_error(visit, "portal/password.html", error)
    visit.log_in(session, secret)
    return redirect(visit, "/password?done=1")


@router.get("/pin")
async def pin_page(request: Request) -> Response:
    visit = await patron_visit(request)
    return render(visit, "portal/pin.html", done=request.query_params.get("done"))


@router.post("/pin")
async def change_pin_route(request: Request) -> Response:
    visit = await patron_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        same(form.get("pin"), form.get("pin_repeat"), "pin_mismatch")
        async with visit.unit() as ctx:
            await change_pin(ctx, visit.me, form.get("password"), form.get("pin"))
    except LibcardError as error:
        return form_error(
            visit,
            "portal/pin.html",
            error,
        )
    return redirect(visit, "/pin?done=1")


@router.get("/lost-card")
async def lost_card_page(request: Request) -> Response:
    visit = await patron_visit(request)
    return render(visit, "portal/lost_card.html", view=await visit.account())


@router.post("/lost-card")
async def report_lost(request: Request) -> Response:
    visit = await patron_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        if not form.get("card_id").isdigit():
            raise InvalidInput("card_required", "Choose the card that is lost.")
        if form.get("confirm") != "yes":
            raise InvalidInput("confirm_required", "Tick the box to confirm.")
        async with visit.unit() as ctx:
            report = await report_own_card_lost(ctx, visit.me, int(form.get("card_id")))
    except LibcardError as error:
        return form_error(visit, "portal/lost_card.html", error, view=await visit.account())
    return render(visit, "portal/lost_card_done.html", report=report, view=report.view)
