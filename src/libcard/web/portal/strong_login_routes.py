"""Strong login before paying (R16): to the identity broker and back.

GET /login/strong?next=/… sends a logged-in patron to the broker with a fresh state, nonce and
PKCE verifier, kept in an encrypted cookie bound to the portal session; GET
/login/strong/callback checks the answer against that cookie (which it drops, so an answer
counts once), exchanges the code, verifies the ID token, links or matches the identity and
marks the session strong. Every refusal is a page in the patron's language.

Start the login with a link, not a form: the pages' CSP (form-action 'self') stops a form's
redirect to the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.errors import LibcardError
from libcard.identity.broker import (
    CALLBACK_PATH,
    Broker,
    BrokerConfig,
    BrokerLogin,
    StrongLoginRefused,
    StrongLoginUnavailable,
)
from libcard.identity.pending import PendingLogin, seal, unseal
from libcard.identity.rules import is_strong, next_path
from libcard.identity.service import strong_login
from libcard.kit.i18n import N_, translate
from libcard.runtime import Runtime
from libcard.web.portal.render import MESSAGES, redirect, render
from libcard.web.portal.strong import START_PATH, strong_login_url
from libcard.web.portal.visit import LoginRequired, Visit, open_visit

router = APIRouter(include_in_schema=False)
log = logging.getLogger("libcard.identity")

DEFAULT_NEXT = "/overview"
MAX_CALLBACK_QUERY = 8 * 1024  # a broker's answer is a few hundred characters

# What the patron reads for each refusal; the services' English messages are for the logs.
STRONG_MESSAGES: dict[str, str] = {
    "strong_login_not_set_up": N_(
        "Paying online needs a login with MitID or your institution's login, which this "
        "library has not set up. You can pay at the lending desk."
    ),
    "strong_login_unavailable": N_(
        "The login with MitID or your institution's login cannot be reached right now. Try "
        "again in a few minutes, or pay at the lending desk."
    ),
    "next_not_local": N_("This link leads away from the library's site, so it was not followed."),
    "strong_login_expired": N_(
        "This login took too long or has been finished already. Start it again."
    ),
    "strong_login_state": N_(
        "This answer from the login service does not belong to the login you started. Start "
        "it again."
    ),
    "strong_login_issuer": N_(
        "This answer comes from another login service than the library's. Start the login again."
    ),
    "strong_login_cancelled": N_(
        "You cancelled the login. To pay online, log in with MitID or your institution's login."
    ),
    "strong_login_failed": N_(
        "The login service did not confirm who you are. Start the login again."
    ),
    "strong_login_token_invalid": N_(
        "The login service's answer could not be verified. Start the login again."
    ),
    "strong_login_no_subject": N_(
        "The login service did not say who you are. Contact the lending desk."
    ),
    "strong_login_too_weak": N_(
        "This login is not strong enough for paying online. Log in again at a higher level, "
        "for example MitID instead of a password."
    ),
    "identity_linked_elsewhere": N_(
        "This login belongs to another library account. Log in to that account, or contact "
        "the lending desk."
    ),
    "identity_other_person": N_(
        "Your library account is linked to another person's login at this service. Log in "
        "with the same login as before, or contact the lending desk."
    ),
}
# Refusals that a new attempt may get past; the others need the library or another account.
RETRY = frozenset(
    {
        "strong_login_unavailable",
        "strong_login_expired",
        "strong_login_state",
        "strong_login_issuer",
        "strong_login_cancelled",
        "strong_login_failed",
        "strong_login_token_invalid",
        "strong_login_too_weak",
    }
)


def refusal_page(visit: Visit, error: LibcardError, next_target: str | None) -> Response:
    log.warning("strong login refused: %s (%s)", error.code, error.message)
    text = STRONG_MESSAGES.get(error.code) or MESSAGES.get(error.code) or MESSAGES["login_required"]
    retry = strong_login_url(next_target or DEFAULT_NEXT) if error.code in RETRY else None
    return render(
        visit,
        "portal/strong_login_error.html",
        status=error.status,
        message=translate(visit.language, text),
        retry=retry,
        error_code=error.code,
    )


def callback_uri(visit: Visit) -> str:
    return visit.runtime.settings.public_url.rstrip("/") + CALLBACK_PATH


def not_set_up() -> StrongLoginUnavailable:
    return StrongLoginUnavailable(
        "strong_login_not_set_up", "No identity broker is configured for strong login."
    )


async def broker_answer(
    request: Request,
    pending: PendingLogin,
    redirect_uri: str,
    *,
    unconfigured: Callable[[], StrongLoginUnavailable],
) -> tuple[BrokerConfig, BrokerLogin]:
    """The broker's answer to the login under way: from the same broker, of a sane size, its
    code exchanged and its ID token verified (strong login and single sign-on alike)."""
    runtime: Runtime = request.app.state.runtime
    config = BrokerConfig.of(runtime.settings)
    if config is None:
        raise unconfigured()
    if pending.issuer != config.issuer or len(request.url.query) > MAX_CALLBACK_QUERY:
        raise StrongLoginRefused(
            "strong_login_expired", "The login was started with another identity broker."
        )
    login = await Broker(config).finish(
        dict(request.query_params),
        state=pending.state,
        nonce=pending.nonce,
        verifier=pending.verifier,
        redirect_uri=redirect_uri,
    )
    return config, login


@router.get(START_PATH)
async def start(request: Request) -> Response:
    visit = await open_visit(request)
    if visit.session is None:
        back = START_PATH + (f"?{request.url.query}" if request.url.query else "")
        return redirect(visit, f"/login?next={quote(back, safe='/')}")
    target: str | None = None
    try:
        target = next_path(request.query_params.get("next"), DEFAULT_NEXT)
        config = BrokerConfig.of(visit.runtime.settings)
        if config is None:
            raise not_set_up()
        if is_strong(visit.assurance, config.strong_acr):
            return redirect(visit, target)
        authorization = await Broker(config).authorization(callback_uri(visit), visit.language)
    except LibcardError as error:
        return refusal_page(visit, error, target)
    binding = visit.session_binding()
    assert binding is not None  # a logged-in visit
    pending = PendingLogin(
        issuer=config.issuer,
        state=authorization.state,
        nonce=authorization.nonce,
        verifier=authorization.verifier,
        next=target,
        binding=binding,
    )
    visit.hold_strong_login(seal(visit.runtime.keyring, pending, visit.runtime.clock.now()))
    return redirect(visit, authorization.url)


@router.get(CALLBACK_PATH)
async def callback(request: Request) -> Response:
    visit = await open_visit(request)
    sealed = request.cookies.get(visit.strong_login_cookie)
    visit.drop_strong_login()  # one answer per login started, whatever it says
    if visit.session is None:
        raise LoginRequired(visit)
    pending = unseal(visit.runtime.keyring, sealed, visit.runtime.clock.now())
    try:
        if pending is None or pending.binding != visit.session_binding():
            raise StrongLoginRefused(
                "strong_login_expired", "No strong login of this session is under way."
            )
        config, login = await broker_answer(
            request, pending, callback_uri(visit), unconfigured=not_set_up
        )
        async with visit.unit() as ctx:
            assert visit.session is not None
            await strong_login(ctx, visit.session.id, login, config.strong_acr)
    except LibcardError as error:
        return refusal_page(visit, error, pending.next if pending else None)
    return redirect(visit, pending.next)
