"""Administration of places: the institution's branches and its self-checkout terminals.

A terminal's password is made by the service and shown once, on the page that answers the
form that made or reset it; only its hash is kept, and it is never logged.
"""

from __future__ import annotations

from types import EllipsisType
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.errors import LibcardError
from libcard.kit.i18n import N_
from libcard.policy.branches import (
    DEFAULT_ENCODING,
    ENCODINGS,
    LANGUAGES,
    create_branch,
    create_terminal,
    get_branch,
    get_terminal,
    list_branches,
    list_terminals,
    reset_terminal_password,
    update_branch,
    update_terminal,
)
from libcard.policy.models import Branch, Terminal
from libcard.policy.service import get_institution
from libcard.web.desk.admin_forms import (
    FieldError,
    IdPath,
    admin_visit,
    note,
    show,
    show_error,
)
from libcard.web.desk.render import add_messages, redirect
from libcard.web.desk.visit import DeskVisit
from libcard.web.portal.forms import Form, read_form

router = APIRouter(include_in_schema=False)

add_messages(
    {
        "branch_code": N_(
            "A branch code has 1 to 32 characters: letters, digits, dashes or underscores."
        ),
        "branch_code_taken": N_("Another branch of this institution has this code."),
        "branch_name": N_("Give the branch a name of at most 200 characters."),
        "branch_address": N_("An address has at most 300 characters."),
        "branch_not_found": N_("There is no such branch."),
        "branch_closed": N_("This branch is closed. Choose an open branch."),
        "terminal_login": N_(
            "A login has 3 to 64 characters: letters, digits, dots, dashes or underscores."
        ),
        "terminal_login_taken": N_("Another machine has this login. Choose another."),
        "terminal_name": N_("Give the machine a name of at most 200 characters."),
        "terminal_encoding": N_("Choose one of the encodings."),
        "terminal_language": N_("Choose one of the languages, or none."),
        "terminal_not_found": N_("There is no such self-checkout machine."),
    }
)

# What the machine is set to speak; the default first, as most machines use it.
ENCODING_LABELS = {
    encoding: N_("cp850 (most machines)") if encoding == DEFAULT_ENCODING else encoding
    for encoding in ENCODINGS
}


# Branches


async def _branches_page(
    visit: DeskVisit,
    *,
    values: dict[str, str] | None = None,
    error: LibcardError | None = None,
    done: str | None = None,
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        branches = await list_branches(ctx, visit.staff.institution_id)
    page: dict[str, Any] = {
        "branches": branches,
        "values": values or {"code": "", "name": "", "address": "", "reason": ""},
        "done": done,
    }
    if error is not None:
        return show_error(visit, "desk/admin/branches.html", error, **page)
    return show(visit, "desk/admin/branches.html", **page)


@router.get("/desk/admin/branches")
async def branches_page(request: Request) -> Response:
    visit = await admin_visit(request)
    return await _branches_page(visit, done=request.query_params.get("done"))


@router.post("/desk/admin/branches")
async def add_branch(request: Request) -> Response:
    visit = await admin_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            branch = await create_branch(
                ctx,
                visit.staff.institution_id,
                code=form.get("code"),
                name=form.get("name"),
                address=form.get("address"),
            )
    except LibcardError as error:
        values = {key: form.get(key) for key in ("code", "name", "address", "reason")}
        return await _branches_page(visit, values=values, error=error)
    return redirect(visit, f"/desk/admin/branches/{branch.id}?done=created")


async def _branch_page(
    visit: DeskVisit,
    branch_id: int,
    *,
    values: dict[str, str] | None = None,
    error: LibcardError | None = None,
    done: str | None = None,
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        branch = await get_branch(ctx, branch_id)
        terminals = [
            t for t in await list_terminals(ctx, branch.institution_id) if t.branch_id == branch.id
        ]
    page: dict[str, Any] = {
        "place": branch,
        "terminals": terminals,
        "values": values or {"name": branch.name, "address": branch.address or "", "reason": ""},
        "done": done,
    }
    if error is not None:
        return show_error(visit, "desk/admin/branch.html", error, **page)
    return show(visit, "desk/admin/branch.html", **page)


@router.get("/desk/admin/branches/{branch_id}")
async def branch_page(request: Request, branch_id: IdPath) -> Response:
    visit = await admin_visit(request)
    return await _branch_page(visit, branch_id, done=request.query_params.get("done"))


async def _change_branch(request: Request, branch_id: int, done: str, **changes: Any) -> Response:
    """One change to a branch: the form's own fields, or closing or reopening it."""
    visit = await admin_visit(request)
    form = await read_form(request)
    async with visit.unit(readonly=True) as ctx:
        await get_branch(ctx, branch_id)  # another institution's branch: 404, no form
    fields = {key: form.get(key) for key in changes if changes[key] is None}
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            await update_branch(ctx, branch_id, **{**changes, **fields})
    except LibcardError as error:
        values = {key: form.get(key) for key in ("name", "address", "reason")} if fields else None
        return await _branch_page(visit, branch_id, values=values, error=error)
    return redirect(visit, f"/desk/admin/branches/{branch_id}?done={done}")


@router.post("/desk/admin/branches/{branch_id}")
async def save_branch(request: Request, branch_id: IdPath) -> Response:
    return await _change_branch(request, branch_id, "saved", name=None, address=None)


@router.post("/desk/admin/branches/{branch_id}/close")
async def close_branch(request: Request, branch_id: IdPath) -> Response:
    return await _change_branch(request, branch_id, "closed", closed=True)


@router.post("/desk/admin/branches/{branch_id}/reopen")
async def reopen_branch(request: Request, branch_id: IdPath) -> Response:
    return await _change_branch(request, branch_id, "reopened", closed=False)


# Terminals


def _branch_id(form: Form) -> int:
    raw = form.get("branch")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise FieldError("branch", N_("Branch"), N_("%(label)s: choose one of the options."))
    return int(raw)


def _terminal_values(terminal: Terminal | None) -> dict[str, str]:
    if terminal is None:
        return {
            "branch": "",
            "login": "",
            "name": "",
            "encoding": DEFAULT_ENCODING,
            "language": "",
            "reason": "",
        }
    return {
        "branch": str(terminal.branch_id),
        "login": terminal.login,
        "name": terminal.name,
        "encoding": terminal.encoding,
        "language": terminal.language or "",
        "reason": "",
    }


def _terminal_submitted(form: Form) -> dict[str, str]:
    keys = ("branch", "login", "name", "encoding", "language", "reason")
    return {key: form.get(key) for key in keys}


async def _terminal_page(
    visit: DeskVisit,
    terminal_id: int | None,
    *,
    values: dict[str, str] | None = None,
    error: LibcardError | None = None,
    done: str | None = None,
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        terminal = await get_terminal(ctx, terminal_id) if terminal_id is not None else None
        branches = await list_branches(ctx, visit.staff.institution_id)
    # A terminal may move only to an open branch; its own stays listed even if closed.
    choices = [
        b for b in branches if b.closed_at is None or (terminal and b.id == terminal.branch_id)
    ]
    page: dict[str, Any] = {
        "terminal": terminal,
        "branches": choices,
        "branch_names": {b.id: b.name for b in branches},
        "encodings": ENCODING_LABELS,
        "terminal_languages": LANGUAGES,
        "values": values or _terminal_values(terminal),
        "done": done,
    }
    if error is not None:
        return show_error(visit, "desk/admin/terminal.html", error, **page)
    return show(visit, "desk/admin/terminal.html", **page)


def _secret_page(
    visit: DeskVisit, terminal: Terminal, branch: Branch, password: str, *, new: bool
) -> Response:
    assert visit.institution is not None
    return show(
        visit,
        "desk/admin/terminal_secret.html",
        terminal=terminal,
        place=branch,
        password=password,
        institution_code=visit.institution.code,
        new=new,
    )


@router.get("/desk/admin/terminals")
async def terminals_page(request: Request) -> Response:
    visit = await admin_visit(request)
    async with visit.unit(readonly=True) as ctx:
        terminals = await list_terminals(ctx, visit.staff.institution_id)
        branches = await list_branches(ctx, visit.staff.institution_id)
    return show(
        visit,
        "desk/admin/terminals.html",
        terminals=terminals,
        branch_names={b.id: b.name for b in branches},
        open_branches=[b for b in branches if b.closed_at is None],
        done=request.query_params.get("done"),
    )


@router.get("/desk/admin/terminals/new")
async def new_terminal_page(request: Request) -> Response:
    visit = await admin_visit(request)
    return await _terminal_page(visit, None)


@router.post("/desk/admin/terminals")
async def add_terminal(request: Request) -> Response:
    visit = await admin_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            institution = await get_institution(ctx, visit.staff.institution_id)
            terminal, password = await create_terminal(
                ctx,
                institution.id,
                branch_id=_branch_id(form),
                login=form.get("login"),
                name=form.get("name"),
                encoding=form.get("encoding"),
                language=form.get("language") or None,
            )
            branch = await get_branch(ctx, terminal.branch_id)
    except LibcardError as error:
        return await _terminal_page(visit, None, values=_terminal_submitted(form), error=error)
    return _secret_page(visit, terminal, branch, password, new=True)


@router.get("/desk/admin/terminals/{terminal_id}")
async def terminal_page(request: Request, terminal_id: IdPath) -> Response:
    visit = await admin_visit(request)
    return await _terminal_page(visit, terminal_id, done=request.query_params.get("done"))


async def _terminal_form(request: Request, terminal_id: int) -> tuple[DeskVisit, Form]:
    visit = await admin_visit(request)
    form = await read_form(request)
    async with visit.unit(readonly=True) as ctx:
        await get_terminal(ctx, terminal_id)  # another institution's terminal: 404, no form
    return visit, form


@router.post("/desk/admin/terminals/{terminal_id}")
async def save_terminal(request: Request, terminal_id: IdPath) -> Response:
    visit, form = await _terminal_form(request, terminal_id)
    language: str | EllipsisType | None = form.get("language") or None
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            await update_terminal(
                ctx,
                terminal_id,
                name=form.get("name"),
                branch_id=_branch_id(form),
                encoding=form.get("encoding"),
                language=language,
            )
    except LibcardError as error:
        return await _terminal_page(
            visit, terminal_id, values=_terminal_submitted(form), error=error
        )
    return redirect(visit, f"/desk/admin/terminals/{terminal_id}?done=saved")


async def _switch_terminal(request: Request, terminal_id: int, *, disabled: bool) -> Response:
    visit, form = await _terminal_form(request, terminal_id)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            await update_terminal(ctx, terminal_id, disabled=disabled)
    except LibcardError as error:
        return await _terminal_page(visit, terminal_id, error=error)
    done = "disabled" if disabled else "enabled"
    return redirect(visit, f"/desk/admin/terminals/{terminal_id}?done={done}")


@router.post("/desk/admin/terminals/{terminal_id}/disable")
async def disable_terminal(request: Request, terminal_id: IdPath) -> Response:
    return await _switch_terminal(request, terminal_id, disabled=True)


@router.post("/desk/admin/terminals/{terminal_id}/enable")
async def enable_terminal(request: Request, terminal_id: IdPath) -> Response:
    return await _switch_terminal(request, terminal_id, disabled=False)


@router.post("/desk/admin/terminals/{terminal_id}/password")
async def new_terminal_password(request: Request, terminal_id: IdPath) -> Response:
    visit, form = await _terminal_form(request, terminal_id)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            password = await reset_terminal_password(ctx, terminal_id)
            terminal = await get_terminal(ctx, terminal_id)
            branch = await get_branch(ctx, terminal.branch_id)
    except LibcardError as error:
        return await _terminal_page(visit, terminal_id, error=error)
    return _secret_page(visit, terminal, branch, password, new=False)
