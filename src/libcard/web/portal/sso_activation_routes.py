"""Activation by single sign-on (R2): a new student whose institution's login named their
registry id (web/portal/sso_routes.py) chooses the account password and the self-checkout PIN.

GET /activate/sso shows the form while the sealed cookie of that login is there (30 minutes,
this browser only); POST /activate/sso activates the account, links the identity and logs the
patron in, in one unit (identity/sso.py). Without the cookie the page offers the login again.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.errors import Conflict, LibcardError
from libcard.identity.broker import BrokerConfig, BrokerLogin, StrongLoginRefused
from libcard.identity.pending import ACTIVATION_LIFETIME, PendingActivation, unseal
from libcard.identity.sso import signed_on, sso_activation
from libcard.web.portal.forms import read_form, same
from libcard.web.portal.render import form_error, redirect, render
from libcard.web.portal.sso_routes import (
    ACTIVATION_PATH,
    DEFAULT_NEXT,
    SSO_MESSAGES,
    VISITOR,
    activation_cookie,
    binding,
    refusal_page,
)
from libcard.web.portal.strong_login_routes import STRONG_MESSAGES
from libcard.web.portal.visit import Visit, open_visit

router = APIRouter(include_in_schema=False)

TEMPLATE = "portal/activate_sso.html"
WELCOME = "/card?welcome=1"


def _waiting(visit: Visit) -> PendingActivation | None:
    sealed = visit.request.cookies.get(activation_cookie(visit))
    now = visit.runtime.clock.now()
    waiting = unseal(visit.runtime.keyring, sealed, now, PendingActivation, ACTIVATION_LIFETIME)
    return waiting if waiting is not None and waiting.binding == binding(visit) else None


def _expired() -> StrongLoginRefused:
    return StrongLoginRefused(
        "sso_activation_expired", "No activation by single sign-on is under way here."
    )


@router.get(ACTIVATION_PATH)
async def activation_page(request: Request) -> Response:
    visit = await open_visit(request)
    if visit.session is not None:
        return redirect(visit, DEFAULT_NEXT)
    waiting = _waiting(visit)
    if waiting is None:
        return refusal_page(visit, _expired(), None)
    return render(visit, TEMPLATE, first_name=waiting.first_name)


@router.post(ACTIVATION_PATH)
async def activate(request: Request) -> Response:
    visit = await open_visit(request)
    waiting = _waiting(visit)
    target = DEFAULT_NEXT
    try:
        form = await read_form(request)
        visit.check_csrf(form.get("csrf"))
        config = BrokerConfig.of(visit.runtime.settings)
        if waiting is None or config is None or waiting.issuer != config.issuer:
            raise _expired()
        target = waiting.next
        same(form.get("password"), form.get("password_repeat"), "password_mismatch")
        same(form.get("pin"), form.get("pin_repeat"), "pin_mismatch")
        login = BrokerLogin(
            issuer=waiting.issuer,
            subject=waiting.subject,
            acr=waiting.acr or None,
            registry_id=waiting.registry_id or None,
        )
        async with visit.runtime.unit(VISITOR) as ctx:
            # Found again, as at the callback: the registry or a link may have changed since.
            found = await signed_on(ctx, login, visit.client_address, config.registry_institution)
            if not found.needs_activation:
                raise Conflict("already_activated", "This account is activated already.")
            session, secret = await sso_activation(
                ctx,
                found,
                login,
                config.strong_acr,
                visit.rules,
                form.get("password"),
                form.get("pin"),
            )
    except LibcardError as error:
        if error.code in SSO_MESSAGES or error.code in STRONG_MESSAGES:
            return refusal_page(visit, error, waiting.next if waiting else None)
        return form_error(visit, TEMPLATE, error, first_name=waiting.first_name if waiting else "")
    visit.log_in(session, secret)
    response = redirect(visit, WELCOME if target == DEFAULT_NEXT else target)
    response.delete_cookie(activation_cookie(visit), path="/", secure=visit.secure, httponly=True)
    return response
