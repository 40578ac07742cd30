"""Strong login (R16): whether a portal page must first send the patron to the identity broker."""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import quote

from fastapi.responses import Response

from libcard.identity.broker import BrokerConfig
from libcard.identity.rules import is_strong
from libcard.policy.rules import PaymentLogin, Policy
from libcard.web.portal.render import redirect
from libcard.web.portal.visit import Visit

START_PATH = "/login/strong"


class StrongLogin(StrEnum):
    """Where a patron stands with the strong login a page asks for."""

    NOT_NEEDED = "not_needed"  # the policy asks for none
    DONE = "done"  # this portal session has a strong login
    NEEDED = "needed"  # the patron must go to the broker first
    UNAVAILABLE = "unavailable"  # the policy asks for it, but no broker is set up


def strong_login_state(visit: Visit, policy: Policy) -> StrongLogin:
    if policy.payment_login != PaymentLogin.STRONG:
        return StrongLogin.NOT_NEEDED
    config = BrokerConfig.of(visit.runtime.settings)
    if config is None:
        return StrongLogin.UNAVAILABLE
    if is_strong(visit.assurance, config.strong_acr):
        return StrongLogin.DONE
    return StrongLogin.NEEDED


def strong_login_url(next_path: str) -> str:
    return f"{START_PATH}?next={quote(next_path, safe='/')}"


def strong_login_redirect(visit: Visit, policy: Policy, next_path: str) -> Response | None:
    """A redirect that starts the broker login and comes back to `next_path`, when `policy`
    asks for a strong login before paying and this portal session has none; else None.

    Without a configured broker the redirect leads to a page saying that strong login is not
    available (pages that would rather say so themselves ask `strong_login_state`)."""
    if strong_login_state(visit, policy) in (StrongLogin.NOT_NEEDED, StrongLogin.DONE):
        return None
    return redirect(visit, strong_login_url(next_path))
