"""Administration of access: the institution's API tokens and its staff users.

A token's secret and a staff user's temporary password are made by the service and shown
once, on the page that answers the form that made them; they are never logged or audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.access.scopes import Scope
from libcard.access.service import create_token, get_token, list_tokens, revoke_token
from libcard.context import ActorKind
from libcard.errors import Conflict, LibcardError
from libcard.kit.i18n import N_
from libcard.policy.branches import list_branches
from libcard.staff.models import StaffUser
from libcard.staff.roles import StaffRole
from libcard.staff.service import (
    StaffChanges,
    create_staff,
    get_staff,
    list_staff,
    reset_second_factor,
    set_temporary_password,
    temporary_password,
    update_staff,
)
from libcard.web.desk.admin_forms import (
    TOKEN_ACTORS,
    FieldError,
    IdPath,
    admin_visit,
    choice,
    note,
    required_text,
    show,
    show_error,
    whole_number,
)
from libcard.web.desk.render import add_messages, redirect
from libcard.web.desk.visit import DeskVisit
from libcard.web.portal.forms import Form, read_form

router = APIRouter(include_in_schema=False)

add_messages(
    {
        "token_scopes": N_("Tick at least one thing the token may do."),
        "token_actor": N_("Choose what kind of system uses the token."),
        "forbidden_tokens": N_("Only an administrator may manage API tokens."),
        "token_not_found": N_("There is no such API token."),
        "staff_username": N_(
            "A user name has 2 to 64 characters: small letters, digits, dots, dashes or "
            "underscores."
        ),
        "staff_username_taken": N_("This user name is taken. Choose another."),
        "staff_name": N_("Give the staff member's name (at most 200 characters)."),
        "staff_role": N_("Choose desk, supervisor or administrator."),
        "staff_self_demote": N_(
            "You cannot take the administrator role from yourself. Ask another administrator."
        ),
        "staff_self_disable": N_("You cannot disable your own user. Ask another administrator."),
        "staff_self_credentials": N_(
            "Change your own password and authenticator under My user, not here."
        ),
        "staff_not_found": N_("There is no such staff user."),
        "forbidden_staff": N_("Only an administrator may manage staff users."),
    }
)

MAX_TOKEN_DAYS = 3650


# API tokens


def _token_values(form: Form | None = None) -> dict[str, Any]:
    if form is None:
        return {"name": "", "actor_kind": "", "scopes": [], "valid_days": "", "reason": ""}
    return {
        "name": form.get("name"),
        "actor_kind": form.get("actor_kind"),
        "scopes": [s.value for s in Scope if form.has(f"scope.{s.value}")],
        "valid_days": form.get("valid_days"),
        "reason": form.get("reason"),
    }


@router.get("/desk/admin/tokens")
async def tokens_page(request: Request) -> Response:
    visit = await admin_visit(request)
    async with visit.unit(readonly=True) as ctx:
        tokens = await list_tokens(ctx, visit.staff.institution_id)
        now = ctx.clock.now()
    return show(
        visit,
        "desk/admin/tokens.html",
        tokens=tokens,
        now=now,
        done=request.query_params.get("done"),
    )


async def _new_token_page(
    visit: DeskVisit, values: dict[str, Any] | None = None, error: LibcardError | None = None
) -> Response:
    page = {"values": values or _token_values(), "max_days": MAX_TOKEN_DAYS}
    if error is not None:
        return show_error(visit, "desk/admin/token_new.html", error, **page)
    return show(visit, "desk/admin/token_new.html", **page)


@router.get("/desk/admin/tokens/new")
async def new_token_page(request: Request) -> Response:
    visit = await admin_visit(request)
    return await _new_token_page(visit)


@router.post("/desk/admin/tokens")
async def add_token(request: Request) -> Response:
    visit = await admin_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        name = required_text(form, "name", N_("Name"))
        kind = choice(form, "actor_kind", N_("Used by"), TOKEN_ACTORS)
        days = whole_number(
            form, "valid_days", N_("Valid for (days)"), low=1, high=MAX_TOKEN_DAYS, optional=True
        )
        async with visit.unit(reason=note(form)) as ctx:
            token, secret = await create_token(
                ctx,
                name=name,
                actor_kind=ActorKind(kind),
                scopes=[s for s in Scope if form.has(f"scope.{s.value}")],
                institution_id=visit.staff.institution_id,
                valid_days=days,
            )
    except LibcardError as error:
        return await _new_token_page(visit, _token_values(form), error)
    return show(visit, "desk/admin/token_secret.html", token=token, secret=secret)


async def _token_page(
    visit: DeskVisit, token_id: int, *, error: LibcardError | None = None, done: str | None = None
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        token = await get_token(ctx, token_id)
        now = ctx.clock.now()
    page = {"token": token, "now": now, "done": done}
    if error is not None:
        return show_error(visit, "desk/admin/token.html", error, **page)
    return show(visit, "desk/admin/token.html", **page)


@router.get("/desk/admin/tokens/{token_id}")
async def token_page(request: Request, token_id: IdPath) -> Response:
    visit = await admin_visit(request)
    return await _token_page(visit, token_id, done=request.query_params.get("done"))


@router.post("/desk/admin/tokens/{token_id}/revoke")
async def revoke(request: Request, token_id: IdPath) -> Response:
    visit = await admin_visit(request)
    form = await read_form(request)
    async with visit.unit(readonly=True) as ctx:
        await get_token(ctx, token_id)  # another institution's token: 404, no form
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            # Revoked once is revoked: a second click keeps the first time and event.
            if (await get_token(ctx, token_id)).revoked_at is None:
                await revoke_token(ctx, token_id)
    except LibcardError as error:
        return await _token_page(visit, token_id, error=error)
    return redirect(visit, f"/desk/admin/tokens/{token_id}?done=revoked")


# Staff users


def _staff_values(staff: StaffUser | None = None, form: Form | None = None) -> dict[str, str]:
    if form is not None:
        keys = ("username", "display_name", "email", "role", "branch", "language", "reason")
        return {key: form.get(key) for key in keys}
    if staff is None:
        return {
            "username": "",
            "display_name": "",
            "email": "",
            "role": StaffRole.DESK.value,
            "branch": "",
            "language": "",
            "reason": "",
        }
    return {
        "username": staff.username,
        "display_name": staff.display_name,
        "email": staff.email or "",
        "role": staff.role,
        "branch": str(staff.branch_id) if staff.branch_id is not None else "",
        "language": staff.preferred_language or "",
        "reason": "",
    }


def _branch_choice(form: Form) -> int | None:
    raw = form.get("branch")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise FieldError("branch", N_("Branch"), N_("%(label)s: choose one of the options."))
    return int(raw)


async def _staff_page(
    visit: DeskVisit,
    staff_id: int | None,
    *,
    values: dict[str, str] | None = None,
    error: LibcardError | None = None,
    done: str | None = None,
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        staff = await get_staff(ctx, staff_id) if staff_id is not None else None
        branches = await list_branches(ctx, visit.staff.institution_id)
    page: dict[str, Any] = {
        "member": staff,
        "myself": staff is not None and staff.id == visit.staff.id,
        # New staff go to an open branch; a user's own closed branch stays listed.
        "branches": [
            b for b in branches if b.closed_at is None or (staff and b.id == staff.branch_id)
        ],
        "branch_names": {b.id: b.name for b in branches},
        "roles": [role.value for role in StaffRole],
        "values": values or _staff_values(staff),
        "done": done,
    }
    if error is not None:
        return show_error(visit, "desk/admin/staff_member.html", error, **page)
    return show(visit, "desk/admin/staff_member.html", **page)


def _password_page(visit: DeskVisit, staff: StaffUser, password: str, *, new: bool) -> Response:
    return show(visit, "desk/admin/staff_secret.html", member=staff, password=password, new=new)


@router.get("/desk/admin/staff")
async def staff_list_page(request: Request) -> Response:
    visit = await admin_visit(request)
    async with visit.unit(readonly=True) as ctx:
        staff = await list_staff(ctx, visit.staff.institution_id)
        branches = await list_branches(ctx, visit.staff.institution_id)
    return show(
        visit,
        "desk/admin/staff_list.html",
        members=staff,
        branch_names={b.id: b.name for b in branches},
        done=request.query_params.get("done"),
    )


@router.get("/desk/admin/staff/new")
async def new_staff_page(request: Request) -> Response:
    visit = await admin_visit(request)
    return await _staff_page(visit, None)


@router.post("/desk/admin/staff")
async def add_staff(request: Request) -> Response:
    visit = await admin_visit(request)
    form = await read_form(request)
    password = temporary_password()
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            staff = await create_staff(
                ctx,
                visit.staff.institution_id,
                username=form.get("username"),
                display_name=form.get("display_name"),
                role=form.get("role"),
                password=password,
                branch_id=_branch_choice(form),
                email=form.get("email").strip() or None,
                preferred_language=form.get("language") or None,
                must_change_password=True,
            )
    except LibcardError as error:
        return await _staff_page(visit, None, values=_staff_values(form=form), error=error)
    return _password_page(visit, staff, password, new=True)


@router.get("/desk/admin/staff/{staff_id}")
async def staff_page(request: Request, staff_id: IdPath) -> Response:
    visit = await admin_visit(request)
    return await _staff_page(visit, staff_id, done=request.query_params.get("done"))


async def _staff_form(request: Request, staff_id: int) -> tuple[DeskVisit, Form]:
    visit = await admin_visit(request)
    form = await read_form(request)
    async with visit.unit(readonly=True) as ctx:
        await get_staff(ctx, staff_id)  # another institution's user: 404, no form
    return visit, form


@router.post("/desk/admin/staff/{staff_id}")
async def save_staff(request: Request, staff_id: IdPath) -> Response:
    visit, form = await _staff_form(request, staff_id)
    try:
        visit.check_csrf(form.get("csrf"))
        branch_id = _branch_choice(form)
        async with visit.unit(reason=note(form)) as ctx:
            staff = await get_staff(ctx, staff_id)
            # Only a changed branch is handed on: a user may stay at a branch since closed.
            moved = branch_id != staff.branch_id
            changes = StaffChanges(
                display_name=form.get("display_name"),
                role=form.get("role"),
                branch_id=branch_id if moved else None,
                clear_branch=moved and branch_id is None,
                email=form.get("email"),
                preferred_language=form.get("language"),
            )
            await update_staff(ctx, staff_id, changes)
    except LibcardError as error:
        return await _staff_page(visit, staff_id, values=_staff_values(form=form), error=error)
    return redirect(visit, f"/desk/admin/staff/{staff_id}?done=saved")


async def _switch_staff(request: Request, staff_id: int, *, disabled: bool) -> Response:
    visit, form = await _staff_form(request, staff_id)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            await update_staff(ctx, staff_id, StaffChanges(disabled=disabled))
    except LibcardError as error:
        return await _staff_page(visit, staff_id, error=error)
    done = "disabled" if disabled else "enabled"
    return redirect(visit, f"/desk/admin/staff/{staff_id}?done={done}")


@router.post("/desk/admin/staff/{staff_id}/disable")
async def disable_staff(request: Request, staff_id: IdPath) -> Response:
    return await _switch_staff(request, staff_id, disabled=True)


@router.post("/desk/admin/staff/{staff_id}/enable")
async def enable_staff(request: Request, staff_id: IdPath) -> Response:
    return await _switch_staff(request, staff_id, disabled=False)


def _not_myself(visit: DeskVisit, staff_id: int) -> None:
    # Both end the user's sessions; one's own password and authenticator belong on My user.
    if staff_id == visit.staff.id:
        raise Conflict("staff_self_credentials", "Use My user for your own credentials.")


@router.post("/desk/admin/staff/{staff_id}/password")
async def new_temporary_password(request: Request, staff_id: IdPath) -> Response:
    visit, form = await _staff_form(request, staff_id)
    try:
        visit.check_csrf(form.get("csrf"))
        _not_myself(visit, staff_id)
        async with visit.unit(reason=note(form, required=True)) as ctx:
            password = await set_temporary_password(ctx, staff_id)
            staff = await get_staff(ctx, staff_id)
    except LibcardError as error:
        return await _staff_page(visit, staff_id, error=error)
    return _password_page(visit, staff, password, new=False)


@router.post("/desk/admin/staff/{staff_id}/second-factor")
async def new_second_factor(request: Request, staff_id: IdPath) -> Response:
    visit, form = await _staff_form(request, staff_id)
    try:
        visit.check_csrf(form.get("csrf"))
        _not_myself(visit, staff_id)
        async with visit.unit(reason=note(form, required=True)) as ctx:
            await reset_second_factor(ctx, staff_id)
    except LibcardError as error:
        return await _staff_page(visit, staff_id, error=error)
    return redirect(visit, f"/desk/admin/staff/{staff_id}?done=second_factor")
