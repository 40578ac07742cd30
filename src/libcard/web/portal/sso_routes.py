"""Single sign-on: log in to the portal with the institution's login at the identity broker.

GET /login/sso?next=/… sends the visitor (not logged in yet) to the broker with a fresh state,
nonce and PKCE verifier, kept in an encrypted cookie bound to the visitor's pre-session cookie;
GET /login/sso/callback checks the answer as the strong login does, finds the patron the
identity is linked to (or the student its registry id names, identity/sso.py) and opens a
portal session (strong, when the broker's level is). A new student's account is activated
first: the callback sends them to /activate/sso (sso_activation_routes.py) to choose password
and PIN. An identity linked to nobody gets a page that says how to link it: log in with the
password once, then the strong login links it.

Start with a link, not a form: the pages' CSP (form-action 'self') stops a form's redirect to
the broker.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.config import Settings
from libcard.context import Actor, ActorKind
from libcard.errors import LibcardError
from libcard.identity.broker import (
    Broker,
    BrokerConfig,
    BrokerLogin,
    StrongLoginRefused,
    StrongLoginUnavailable,
)
from libcard.identity.pending import PendingActivation, PendingLogin, seal, unseal
from libcard.identity.rules import next_path
from libcard.identity.service import linked_identities
from libcard.identity.sso import signed_on, sso_login
from libcard.kit.i18n import N_, translate
from libcard.web.browser import cookie_name
from libcard.web.portal.render import MESSAGES, redirect, render
from libcard.web.portal.strong import strong_login_url
from libcard.web.portal.strong_login_routes import RETRY as STRONG_RETRY
from libcard.web.portal.strong_login_routes import STRONG_MESSAGES, broker_answer
from libcard.web.portal.visit import Visit, open_visit

router = APIRouter(include_in_schema=False)
log = logging.getLogger("libcard.identity")

SSO_PATH = "/login/sso"
SSO_CALLBACK_PATH = "/login/sso/callback"
SSO_COOKIE = "libcard_sso"
ACTIVATION_COOKIE = "libcard_sso_activation"
ACTIVATION_PATH = "/activate/sso"
DEFAULT_NEXT = "/card"
# Until the identity is found nobody is known; as on the password login page.
VISITOR = Actor(kind=ActorKind.PATRON, label="portal visitor")

# What the patron reads; the strong login's texts where they fit a login as well as a payment.
SSO_MESSAGES: dict[str, str] = {
    "sso_not_set_up": N_("This library has not set up logging in with your institution's login."),
    "strong_login_unavailable": N_(
        "Your institution's login cannot be reached right now. Try again in a few minutes, or "
        "log in with your password."
    ),
    "strong_login_cancelled": N_(
        "You cancelled the login. Log in with your password, or start your institution's "
        "login again."
    ),
    "identity_not_linked": N_(
        "Your institution's login is not linked to a library account yet. Log in with your "
        "password once; then your institution's login is linked to your account."
    ),
    "registry_student_unknown": N_(
        "There is no library account for you yet: the student registry has not sent us your "
        "details. New students usually get their account within a day of enrolling; if yours "
        "does not come, ask the library."
    ),
    "account_expired": N_("This library account has expired. Contact the lending desk."),
    "sso_activation_expired": N_(
        "Your institution's login was too long ago, or in another browser. Log in with your "
        "institution's login again to activate your account."
    ),
    "account_closed": MESSAGES["account_closed"],
    "too_many_attempts": MESSAGES["too_many_attempts"],
}
# What a new attempt may get past: the strong login's, but a weak login is no refusal here.
RETRY = (STRONG_RETRY - {"strong_login_too_weak"}) | {"sso_activation_expired"}


def sso_login_url(settings: Settings, next_target: str = "") -> str | None:
    """The link that starts single sign-on and comes back to `next_target`; None when no
    broker is configured, so that pages show no link that cannot work."""
    if BrokerConfig.of(settings) is None:
        return None
    return SSO_PATH + (f"?next={quote(next_target, safe='/')}" if next_target else "")


def sso_activation_url(settings: Settings) -> str | None:
    """The link that activates a new student's account by single sign-on; None unless the
    broker names registry ids (identity/sso.py)."""
    config = BrokerConfig.of(settings)
    if config is None or config.registry_claim is None:
        return None
    return sso_login_url(settings, DEFAULT_NEXT)


async def identity_link_url(visit: Visit) -> str | None:
    """For a logged-in patron's page: the strong login that links the institution's login to
    the account (and comes back to the card), unless a broker is missing or it is linked."""
    config = BrokerConfig.of(visit.runtime.settings)
    if config is None or visit.session is None:
        return None
    async with visit.unit(readonly=True) as ctx:
        identities = await linked_identities(ctx, visit.me)
    linked = any(identity.issuer == config.issuer for identity in identities)
    return None if linked else strong_login_url(DEFAULT_NEXT)


def link_by_password_url(next_target: str) -> str:
    """The password login, then the strong login, which links the identity, then `next`."""
    return f"/login?next={quote(strong_login_url(next_target), safe='/')}"


def _sso_cookie(visit: Visit) -> str:
    return cookie_name(SSO_COOKIE, visit.secure)


def activation_cookie(visit: Visit) -> str:
    return cookie_name(ACTIVATION_COOKIE, visit.secure)


def binding(visit: Visit) -> str:
    # The visitor's pre-session cookie, through its CSRF token: nobody else's browser has it.
    return f"sso:{visit.csrf_token}"


def refusal_page(visit: Visit, error: LibcardError, next_target: str | None) -> Response:
    log.warning("single sign-on refused: %s (%s)", error.code, error.message)
    text = (
        SSO_MESSAGES.get(error.code)
        or STRONG_MESSAGES.get(error.code)
        or MESSAGES.get(error.code)
        or MESSAGES["login_required"]
    )
    target = next_target or DEFAULT_NEXT
    retry = sso_login_url(visit.runtime.settings, target) if error.code in RETRY else None
    unlinked = error.code == "identity_not_linked"
    return render(
        visit,
        "portal/sso_login_error.html",
        status=error.status,
        message=translate(visit.language, text),
        retry=retry,
        link_by_password=link_by_password_url(target) if unlinked else None,
        error_code=error.code,
    )


def _not_set_up() -> StrongLoginUnavailable:
    return StrongLoginUnavailable("sso_not_set_up", "No identity broker is configured.")


def callback_uri(visit: Visit) -> str:
    return visit.runtime.settings.public_url.rstrip("/") + SSO_CALLBACK_PATH


@router.get(SSO_PATH)
async def start(request: Request) -> Response:
    visit = await open_visit(request)
    target: str | None = None
    try:
        target = next_path(request.query_params.get("next"), DEFAULT_NEXT)
        if visit.session is not None:
            return redirect(visit, target)
        config = BrokerConfig.of(visit.runtime.settings)
        if config is None:
            raise _not_set_up()
        authorization = await Broker(config).authorization(callback_uri(visit), visit.language)
    except LibcardError as error:
        return refusal_page(visit, error, target)
    pending = PendingLogin(
        issuer=config.issuer,
        state=authorization.state,
        nonce=authorization.nonce,
        verifier=authorization.verifier,
        next=target,
        binding=binding(visit),
    )
    response = redirect(visit, authorization.url)
    sealed = seal(visit.runtime.keyring, pending, visit.runtime.clock.now())
    response.set_cookie(
        _sso_cookie(visit), sealed, path="/", secure=visit.secure, httponly=True, samesite="lax"
    )
    return response


@router.get(SSO_CALLBACK_PATH)
async def callback(request: Request) -> Response:
    visit = await open_visit(request)
    sealed = request.cookies.get(_sso_cookie(visit))
    pending = unseal(visit.runtime.keyring, sealed, visit.runtime.clock.now())
    try:
        if visit.session is not None and pending is not None:
            return redirect(visit, pending.next)  # logged in meanwhile, in another tab
        if pending is None or pending.binding != binding(visit):
            raise StrongLoginRefused("strong_login_expired", "No single sign-on is under way.")
        config, login = await broker_answer(
            request, pending, callback_uri(visit), unconfigured=_not_set_up
        )
        async with visit.runtime.unit(VISITOR) as ctx:
            found = await signed_on(ctx, login, visit.client_address, config.registry_institution)
            opened = None
            if not found.needs_activation:
                opened = await sso_login(ctx, found, login, config.strong_acr, visit.rules)
    except LibcardError as error:
        response = refusal_page(visit, error, pending.next if pending else None)
    else:
        if opened is None:
            response = _to_activation(visit, login, pending.next, found.patron.first_name)
        else:
            visit.log_in(*opened)
            response = redirect(visit, pending.next)
    # One answer per login started, whatever it says.
    response.delete_cookie(_sso_cookie(visit), path="/", secure=visit.secure, httponly=True)
    return response


def _to_activation(visit: Visit, login: BrokerLogin, next_target: str, first_name: str) -> Response:
    """A new account: on to choosing password and PIN, with who the broker vouched for kept
    sealed in a cookie of this visitor (nothing is linked or activated yet)."""
    waiting = PendingActivation(
        issuer=login.issuer,
        subject=login.subject,
        acr=login.acr or "",
        registry_id=login.registry_id or "",
        next=next_target,
        binding=binding(visit),
        first_name=first_name,
    )
    response = redirect(visit, ACTIVATION_PATH)
    sealed = seal(visit.runtime.keyring, waiting, visit.runtime.clock.now())
    response.set_cookie(
        activation_cookie(visit),
        sealed,
        path="/",
        secure=visit.secure,
        httponly=True,
        samesite="lax",
    )
    return response
