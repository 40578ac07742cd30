"""Getting in and out of the desk: password, second factor (enrolment on first login),
log out, language, and the staff member's own password and recovery codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.context import Actor, ActorKind
from libcard.errors import LibcardError
from libcard.kit.i18n import N_, SUPPORTED, translate
from libcard.patrons.rules import MIN_PASSWORD_LENGTH
from libcard.staff.login import (
    begin_enrolment,
    change_own_password,
    confirm_enrolment,
    give_second_factor,
    log_in,
    log_out,
    recovery_codes_left,
    replace_recovery_codes,
)
from libcard.staff.roles import StaffRole
from libcard.web.desk.render import form_error, redirect, render
from libcard.web.desk.visit import DeskVisit, open_desk_visit, staff_visit
from libcard.web.portal.codes import qr_svg
from libcard.web.portal.forms import local_path, read_form, same

router = APIRouter(include_in_schema=False)

# Before the second factor nobody is trusted yet; what happens is recorded as the desk login.
VISITOR = Actor(kind=ActorKind.SYSTEM, label="desk login")
ROLE_LABELS = {
    StaffRole.DESK: N_("Desk"),
    StaffRole.SUPERVISOR: N_("Supervisor"),
    StaffRole.ADMIN: N_("Administrator"),
}


def _next(visit: DeskVisit, value: str | None) -> str:
    target = local_path(value, "/desk")
    return target if target.startswith("/desk") else "/desk"


def _second_step(visit: DeskVisit, next_path: str) -> str:
    assert visit.desk is not None
    page = "/desk/second-factor" if visit.desk.staff.totp_enrolled_at else "/desk/enrol"
    return f"{page}?next={next_path}"


@router.get("/desk/login")
async def login_page(request: Request) -> Response:
    visit = await open_desk_visit(request)
    next_path = _next(visit, request.query_params.get("next"))
    if visit.verified:
        return redirect(visit, next_path)
    if visit.desk is not None:
        return redirect(visit, _second_step(visit, next_path))
    notice = {"out": "logged_out", "password": "password"}.get(request.query_params.get("done", ""))
    return render(visit, "desk/login.html", next=next_path, notice=notice)


@router.post("/desk/login")
async def login(request: Request) -> Response:
    visit = await open_desk_visit(request)
    form = await read_form(request)
    next_path = _next(visit, form.get("next"))
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.runtime.unit(VISITOR) as ctx:
            desk, secret = await log_in(
                ctx, form.get("username"), form.get("password"), visit.client_address, visit.rules
            )
    except LibcardError as error:
        return form_error(
            visit, "desk/login.html", error, username=form.get("username"), next=next_path
        )
    visit.log_in(desk, secret)
    return redirect(visit, _second_step(visit, next_path))


async def _pending_visit(request: Request) -> DeskVisit | Response:
    visit = await open_desk_visit(request)
    if visit.desk is None:
        return redirect(visit, "/desk/login")
    if visit.verified:
        return redirect(visit, "/desk")
    return visit


@router.get("/desk/second-factor")
async def second_factor_page(request: Request) -> Response:
    visit = await _pending_visit(request)
    if isinstance(visit, Response):
        return visit
    next_path = _next(visit, request.query_params.get("next"))
    if visit.staff.totp_enrolled_at is None:
        return redirect(visit, f"/desk/enrol?next={next_path}")
    return render(visit, "desk/second_factor.html", next=next_path)


@router.post("/desk/second-factor")
async def second_factor(request: Request) -> Response:
    visit = await _pending_visit(request)
    if isinstance(visit, Response):
        return visit
    form = await read_form(request)
    next_path = _next(visit, form.get("next"))
    assert visit.desk is not None
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.runtime.unit(VISITOR) as ctx:
            desk, secret = await give_second_factor(
                ctx, visit.desk.session.id, form.get("code"), visit.rules
            )
    except LibcardError as error:
        return form_error(visit, "desk/second_factor.html", error, next=next_path)
    visit.log_in(desk, secret)
    return redirect(visit, next_path)


async def _enrolment_page(visit: DeskVisit, next_path: str, error: LibcardError | None) -> Response:
    assert visit.desk is not None
    async with visit.runtime.unit(VISITOR) as ctx:
        enrolment = await begin_enrolment(ctx, visit.desk.session.id)
    label = translate(visit.language, N_("QR code for the authenticator app"))
    values: dict[str, Any] = {
        "secret": enrolment.secret,
        "qr": qr_svg(enrolment.uri, label),
        "next": next_path,
    }
    if error is not None:
        return form_error(visit, "desk/enrol.html", error, **values)
    return render(visit, "desk/enrol.html", **values)


@router.get("/desk/enrol")
async def enrol_page(request: Request) -> Response:
    visit = await _pending_visit(request)
    if isinstance(visit, Response):
        return visit
    next_path = _next(visit, request.query_params.get("next"))
    if visit.staff.totp_enrolled_at is not None:
        return redirect(visit, f"/desk/second-factor?next={next_path}")
    return await _enrolment_page(visit, next_path, None)


@router.post("/desk/enrol")
async def enrol(request: Request) -> Response:
    visit = await _pending_visit(request)
    if isinstance(visit, Response):
        return visit
    form = await read_form(request)
    next_path = _next(visit, form.get("next"))
    assert visit.desk is not None
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.runtime.unit(VISITOR) as ctx:
            desk, secret, codes = await confirm_enrolment(
                ctx, visit.desk.session.id, form.get("code"), visit.rules
            )
    except LibcardError as error:
        return await _enrolment_page(visit, next_path, error)
    visit.log_in(desk, secret)
    # Must the password still be changed? The codes page leads there (see staff_visit).
    return render(visit, "desk/recovery_codes.html", codes=codes, next=next_path)


@router.post("/desk/logout")
async def logout(request: Request) -> Response:
    visit = await open_desk_visit(request)
    form = await read_form(request)
    visit.check_csrf(form.get("csrf"))
    if visit.desk is not None:
        async with visit.runtime.unit() as ctx:
            await log_out(ctx, visit.desk.session.id)
    visit.log_out()
    return redirect(visit, "/desk/login?done=out")


@router.get("/desk/language")
async def language(request: Request) -> Response:
    # A GET like the portal's switch: it changes a cookie, nothing in the database.
    visit = await open_desk_visit(request)
    chosen = request.query_params.get("to", "")
    if chosen in SUPPORTED:
        visit.choose_language(chosen)
    return redirect(visit, _next(visit, request.query_params.get("next")))


async def _account_page(
    visit: DeskVisit, *, error: LibcardError | None = None, done: bool = False
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        left = await recovery_codes_left(ctx, visit.staff.id)
    values: dict[str, Any] = {
        "codes_left": left,
        "role_label": translate(visit.language, ROLE_LABELS[visit.role]),
        "must_change": visit.staff.must_change_password,
        "min_password": MIN_PASSWORD_LENGTH,
        "done": done,
    }
    if error is not None:
        return form_error(visit, "desk/account.html", error, **values)
    return render(visit, "desk/account.html", **values)


@router.get("/desk/account")
async def account_page(request: Request) -> Response:
    visit = await staff_visit(request, password_page=True)
    return await _account_page(visit, done=request.query_params.get("done") == "password")


@router.post("/desk/account/password")
async def change_password(request: Request) -> Response:
    visit = await staff_visit(request, password_page=True)
    form = await read_form(request)
    assert visit.desk is not None
    try:
        visit.check_csrf(form.get("csrf"))
        same(form.get("new"), form.get("repeat"), "password_mismatch")
        async with visit.unit() as ctx:
            await change_own_password(
                ctx, visit.staff.id, visit.desk.session.id, form.get("current"), form.get("new")
            )
    except LibcardError as error:
        return await _account_page(visit, error=error)
    return redirect(visit, "/desk/account?done=password")


@router.post("/desk/account/recovery-codes")
async def new_recovery_codes(request: Request) -> Response:
    visit = await staff_visit(request)
    form = await read_form(request)
    visit.check_csrf(form.get("csrf"))
    async with visit.unit() as ctx:
        codes = await replace_recovery_codes(ctx, visit.staff.id)
    return render(visit, "desk/recovery_codes.html", codes=codes, next="/desk/account")
