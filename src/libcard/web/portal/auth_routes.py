"""Getting in and out: log in, activate (R1, R2), forgotten password (R7), log out, language."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.access.sessions import end_session, start_session
from libcard.accounts.portal import (
    activate_account,
    log_in,
    reset_forgotten_password,
    send_password_reset,
)
from libcard.context import Actor, ActorKind
from libcard.errors import LibcardError
from libcard.kit.i18n import SUPPORTED
from libcard.notify.sender import wake_mail
from libcard.patrons.service import update_patron
from libcard.web.portal.forms import local_path, read_form, same
from libcard.web.portal.render import form_error, redirect, render
from libcard.web.portal.sso_routes import sso_activation_url, sso_login_url
from libcard.web.portal.visit import Visit, open_visit

router = APIRouter(include_in_schema=False)

# Before login nobody is known; what happens is recorded as done through the portal.
VISITOR = Actor(kind=ActorKind.PATRON, label="portal visitor")


@router.get("/")
async def home(request: Request) -> Response:
    visit = await open_visit(request)
    return redirect(visit, "/card" if visit.session else "/login")


@router.get("/login")
async def login_page(request: Request) -> Response:
    visit = await open_visit(request)
    if visit.session is not None:
        return redirect(visit, "/card")
    notice = {"reset": "reset", "out": "logged_out"}.get(request.query_params.get("done", ""))
    target = local_path(request.query_params.get("next"), "")
    return render(
        visit,
        "portal/login.html",
        next=target,
        notice=notice,
        sso=sso_login_url(visit.runtime.settings, target),
    )


@router.post("/login")
async def login(request: Request) -> Response:
    visit = await open_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.runtime.unit(VISITOR) as ctx:
            patron = await log_in(
                ctx, form.get("login"), form.get("password"), visit.client_address
            )
            session, secret = await start_session(ctx, patron.id, visit.rules)
    except LibcardError as error:
        return form_error(
            visit,
            "portal/login.html",
            error,
            login=form.get("login"),
            next=local_path(form.get("next"), ""),
            sso=sso_login_url(visit.runtime.settings, local_path(form.get("next"), "")),
        )
    visit.log_in(session, secret)
    return redirect(visit, local_path(form.get("next"), "/card"))


@router.post("/logout")
async def logout(request: Request) -> Response:
    visit = await open_visit(request)
    form = await read_form(request)
    visit.check_csrf(form.get("csrf"))
    if visit.session is not None:
        async with visit.runtime.unit() as ctx:
            await end_session(ctx, visit.session.id)
    visit.log_out()
    return redirect(visit, "/login?done=out")


@router.get("/activate")
async def activate_page(request: Request) -> Response:
    visit = await open_visit(request)
    return render(
        visit,
        "portal/activate.html",
        card_number=request.query_params.get("card", ""),
        sso=sso_activation_url(visit.runtime.settings),
    )


@router.post("/activate")
async def activate(request: Request) -> Response:
    visit = await open_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        same(form.get("password"), form.get("password_repeat"), "password_mismatch")
        same(form.get("pin"), form.get("pin_repeat"), "pin_mismatch")
        async with visit.runtime.unit(VISITOR) as ctx:
            patron = await activate_account(
                ctx,
                form.get("card_number"),
                form.get("code"),
                form.get("password"),
                form.get("pin"),
                visit.client_address,
            )
            session, secret = await start_session(ctx, patron.id, visit.rules)
    except LibcardError as error:
        return form_error(
            visit,
            "portal/activate.html",
            error,
            card_number=form.get("card_number"),
            sso=sso_activation_url(visit.runtime.settings),
        )
    visit.log_in(session, secret)
    return redirect(visit, "/card?welcome=1")


@router.get("/forgot-password")
async def forgot_page(request: Request) -> Response:
    visit = await open_visit(request)
    return render(visit, "portal/forgot.html")


@router.post("/forgot-password")
async def forgot(request: Request) -> Response:
    visit = await open_visit(request)
    form = await read_form(request)
    base = visit.runtime.settings.public_url.rstrip("/") + "/reset-password"
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.runtime.unit(VISITOR) as ctx:
            await send_password_reset(ctx, form.get("email"), base, visit.client_address)
    except LibcardError as error:
        return form_error(
            visit,
            "portal/forgot.html",
            error,
            email=form.get("email"),
        )
    wake_mail(request.app)
    # The same page whether or not an account has this address (R7).
    return render(visit, "portal/forgot.html", sent=True, email=form.get("email"))


@router.get("/reset-password/{token}")
async def reset_page(request: Request, token: str) -> Response:
    visit = await open_visit(request)
    return render(visit, "portal/reset.html", token=token)


@router.post("/reset-password/{token}")
async def reset(request: Request, token: str) -> Response:
    visit = await open_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        same(form.get("password"), form.get("password_repeat"), "password_mismatch")
        async with visit.runtime.unit(VISITOR) as ctx:
            await reset_forgotten_password(ctx, token, form.get("password"))
    except LibcardError as error:
        return form_error(
            visit,
            "portal/reset.html",
            error,
            token=token,
        )
    visit.log_out()  # whoever was logged in here is logged out with every other session
    return redirect(visit, "/login?done=reset")


@router.get("/language")
async def language(request: Request) -> Response:
    visit = await open_visit(request)
    chosen = request.query_params.get("to", "")
    target = local_path(request.query_params.get("next"), "/")
    if chosen not in SUPPORTED:
        return redirect(visit, target)
    visit.choose_language(chosen)
    if visit.session is not None:
        # Remembered with the account too, so that mail comes in the same language.
        await _remember_language(visit, chosen)
    return redirect(visit, target)


async def _remember_language(visit: Visit, chosen: str) -> None:
    async with visit.unit() as ctx:
        assert ctx.actor.patron_id is not None  # visit.unit acts as the logged-in patron
        await update_patron(ctx, ctx.actor.patron_id, {"preferred_language": chosen})
