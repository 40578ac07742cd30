"""Rendering desk pages: the portal's template environment, the desk's words for errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from fastapi.responses import HTMLResponse, Response

from libcard.errors import LibcardError
from libcard.kit.i18n import N_, translate
from libcard.staff.roles import StaffRole
from libcard.web.browser import CsrfToken
from libcard.web.browser import redirect as redirect  # the routes redirect through here
from libcard.web.desk.visit import DeskVisit
from libcard.web.portal.render import GENERIC, MESSAGES, VALUES, environment

# What staff read for each error code, in their language; codes not here fall back to the
# portal's texts, then to GENERIC. Routes of each desk page add their own with `add_messages`.
DESK_MESSAGES: dict[str, str] = {
    "login_failed": N_("The user name or password is wrong."),
    "login_required": N_("Log in to use the desk."),
    "second_factor_wrong": N_("The code is wrong or has been used already."),
    "second_factor_enrolled": N_("The authenticator app is set up already."),
    "second_factor_not_enrolled": N_("Set up the authenticator app first."),
    "forbidden_role": N_("Your role does not allow this. Ask a supervisor or an administrator."),
    "forbidden_waive": N_("Only a supervisor or an administrator may waive fees."),
    "forbidden_refund": N_("Only a supervisor or an administrator may refund fees."),
    "forbidden_institution": N_("This belongs to another institution."),
    "password_wrong": N_("The current password is wrong."),
    "password_unchanged": N_("Choose a password other than the current one."),
    "password_personal": N_("A password must not contain your name or user name."),
    "patron_not_found": N_("There is no such patron."),
    "reason_required": N_("Give a reason; it is kept in the account's history."),
}


def add_messages(messages: dict[str, str]) -> None:
    """The error texts of one group of desk pages."""
    DESK_MESSAGES.update(messages)


def message_for(error: LibcardError, language: str) -> str:
    text = DESK_MESSAGES.get(error.code) or MESSAGES.get(error.code, GENERIC)
    return translate(language, text, **{k: v for k, v in VALUES.items() if f"%({k})" in text})


def _page_path(visit: DeskVisit) -> str:
    """Where the language switch returns to: this page, or after a refused POST (whose path
    answers POST only) the page the form was on."""
    request = visit.request
    if request.method == "GET":
        return request.url.path
    came_from = urlsplit(request.headers.get("referer", ""))
    same_site = not came_from.netloc or came_from.netloc == request.url.netloc
    if same_site and came_from.path.startswith("/desk"):
        return came_from.path
    return "/desk"


def render(visit: DeskVisit, template: str, *, status: int = 200, **values: Any) -> Response:
    page = environment(visit.language).get_template(template)
    body = page.render(
        csrf=CsrfToken(visit),
        staff=visit.staff if visit.verified else None,
        institution=visit.institution,
        branch=visit.branch,
        may_supervise=visit.may(StaffRole.SUPERVISOR),
        may_administer=visit.may(StaffRole.ADMIN),
        timezone=visit.institution.timezone if visit.institution else "Europe/Copenhagen",
        here=visit.request.url.path,
        here_quoted=quote(_page_path(visit), safe="/"),
        **values,
    )
    return visit.apply_cookies(HTMLResponse(body, status_code=status))


def form_error(visit: DeskVisit, template: str, error: LibcardError, **values: Any) -> Response:
    """The page again, with what went wrong in the page's language above the form."""
    return render(
        visit,
        template,
        status=error.status,
        error=message_for(error, visit.language),
        error_code=error.code,
        **values,
    )


def error_page(visit: DeskVisit, error: LibcardError) -> Response:
    return render(
        visit, "desk/error.html", status=error.status, message=message_for(error, visit.language)
    )
