"""The institution's app logs in through the portal (R3; OAuth 2.0 for native apps, RFC 8252):
libcard is the authorization server, the portal's login (password or single sign-on) is where
the patron proves who they are, and the app gets a one-time code for `POST
/api/v1/me/token/code` — never a password.

GET /app/authorize checks the app and its redirect URI first: an unknown app or a redirect URI
it has not registered gets a page, never a redirect (that would be an open redirect). Other
mistakes go back to the app with `error=` (RFC 6749 4.1.2.1). A patron not logged in goes to
the login page and comes back here; then a consent page asks to allow the app. Allow sends the
app a code, Deny `error=access_denied`.

The consent page's CSP lets its form lead to the app's redirect URI as well as to this site:
browsers check form-action on the redirect that follows the form, too.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from libcard.access.app_codes import client_redirect_allowed, is_s256_challenge, issue_code
from libcard.errors import InvalidInput, LibcardError
from libcard.identity.rules import MAX_NEXT
from libcard.kit.i18n import N_, translate
from libcard.web.middleware import SECURITY_HEADERS
from libcard.web.portal.forms import read_form
from libcard.web.portal.render import message_for, redirect, render
from libcard.web.portal.visit import LoginRequired, Visit, open_visit

router = APIRouter(include_in_schema=False)

AUTHORIZE_PATH = "/app/authorize"
MAX_STATE = 200  # the app's own value; kept short so the request fits in the login's `next`
PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "scope",
)
APP_MESSAGES: dict[str, str] = {
    "app_unknown": N_("This app is not one the library knows, so it cannot log you in."),
    "app_redirect_unknown": N_(
        "This app asked to be sent back to an address the library does not know for it, so "
        "it cannot log you in."
    ),
}


class AppRequestRefused(LibcardError):
    """A mistake in the app's request that the app is told about (RFC 6749 4.1.2.1)."""

    status = 400
    title = "Authorization request refused"


def error_page(visit: Visit, code: str) -> Response:
    return render(
        visit,
        "portal/error.html",
        status=400,
        message=translate(visit.language, APP_MESSAGES[code]),
    )


def back_to_app(visit: Visit, redirect_uri: str, **params: str) -> Response:
    """The browser sent to the app's redirect URI, keeping any query it has (RFC 6749 3.1.2)."""
    separator = "&" if urlsplit(redirect_uri).query else ("" if redirect_uri.endswith("?") else "?")
    target = redirect_uri + separator + urlencode({k: v for k, v in params.items() if v})
    return visit.apply_cookies(RedirectResponse(target, status_code=303))


def csp_allowing(redirect_uri: str) -> str:
    """The pages' CSP with the app's redirect URI's origin (or private scheme) as a form target."""
    parts = urlsplit(redirect_uri)
    if parts.scheme in ("http", "https"):
        source = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    else:
        source = f"{parts.scheme}:"
    csp = dict(SECURITY_HEADERS)[b"content-security-policy"].decode()
    if any(ch in source for ch in " ;,'\"") or not source.isprintable():
        return csp  # a registered URI never has these; without them nothing can be injected
    return csp.replace("form-action 'self'", f"form-action 'self' {source}")


def _single(values: dict[str, list[str]], name: str) -> str:
    found = values.get(name, [])
    if len(found) > 1:
        # RFC 6749 3.1: a parameter sent twice is an invalid request.
        raise AppRequestRefused("invalid_request", f"{name} is sent more than once.")
    return found[0] if found else ""


def check_request(values: dict[str, list[str]]) -> dict[str, str]:
    """The request's parameters once the app may be answered at its redirect URI; a mistake
    found after that is an AppRequestRefused with the RFC's error code."""
    request = {name: _single(values, name) for name in PARAMETERS}
    if request["response_type"] != "code":
        raise AppRequestRefused("unsupported_response_type", "Only response_type=code is served.")
    if request["code_challenge_method"] != "S256":
        raise AppRequestRefused(
            "invalid_request", "PKCE is required, with code_challenge_method=S256."
        )
    if not is_s256_challenge(request["code_challenge"]):
        raise AppRequestRefused("invalid_request", "The code_challenge is not an S256 challenge.")
    if len(request["state"]) > MAX_STATE:
        raise AppRequestRefused("invalid_request", f"state is longer than {MAX_STATE}.")
    if request["scope"] not in ("", "me"):
        raise AppRequestRefused("invalid_scope", "The only scope an app may ask for is me.")
    return request


def _app_of(visit: Visit, values: dict[str, list[str]]) -> tuple[str, str] | Response:
    """The client id and redirect URI when the app is registered with it; else the page."""
    client_id = values.get("client_id", [""])
    redirect_uri = values.get("redirect_uri", [""])
    clients = visit.runtime.settings.app_clients
    if len(client_id) != 1 or client_id[0] not in clients:
        return error_page(visit, "app_unknown")
    if len(redirect_uri) != 1 or not client_redirect_allowed(
        clients, client_id[0], redirect_uri[0]
    ):
        return error_page(visit, "app_redirect_unknown")
    return client_id[0], redirect_uri[0]


def _query_values(request: Request) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        values.setdefault(name, []).append(value)
    return values


@router.get(AUTHORIZE_PATH)
async def authorize(request: Request) -> Response:
    visit = await open_visit(request)
    values = _query_values(request)
    app = _app_of(visit, values)
    if isinstance(app, Response):
        return app
    client_id, redirect_uri = app
    state = values.get("state", [""])[0]
    try:
        checked = check_request(values)
        here = f"{AUTHORIZE_PATH}?{request.url.query}"
        if visit.session is None and len(here) > MAX_NEXT:
            raise AppRequestRefused("invalid_request", "The request is too long.")
    except AppRequestRefused as error:
        return back_to_app(visit, redirect_uri, error=error.code, state=state)
    if visit.session is None:
        return redirect(visit, f"/login?next={quote(here, safe='/')}")
    view = await visit.account()
    response = render(
        visit,
        "portal/app_consent.html",
        view=view,
        app_name=client_id,
        request_values=checked,
    )
    response.headers["content-security-policy"] = csp_allowing(redirect_uri)
    return response


@router.post(AUTHORIZE_PATH)
async def decide(request: Request) -> Response:
    visit = await open_visit(request)
    try:
        form = await read_form(request)
    except InvalidInput as error:
        return render(
            visit, "portal/error.html", status=400, message=message_for(error, visit.language)
        )
    values = {name: [value] for name, value in form.values.items()}
    app = _app_of(visit, values)
    if isinstance(app, Response):
        return app
    client_id, redirect_uri = app
    try:
        visit.check_csrf(form.get("csrf"))
    except LibcardError as error:
        # A forged or stale form: said on a page, and nothing goes to the app.
        return render(
            visit,
            "portal/error.html",
            status=error.status,
            message=message_for(error, visit.language),
        )
    if visit.session is None:
        raise LoginRequired(visit)
    state = form.get("state")
    try:
        checked = check_request(values)
    except AppRequestRefused as error:
        return back_to_app(visit, redirect_uri, error=error.code, state=state)
    if form.get("decision") != "allow":
        return back_to_app(visit, redirect_uri, error="access_denied", state=state)
    async with visit.unit() as ctx:
        code = await issue_code(
            ctx,
            visit.me,
            client_id=client_id,
            redirect_uri=redirect_uri,
            code_challenge=checked["code_challenge"],
        )
    return back_to_app(visit, redirect_uri, code=code, state=state)
