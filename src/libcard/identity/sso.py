"""Single sign-on: logging in to the portal with the institution's login at the identity broker
instead of the password.

Only an identity already linked to a patron opens that patron's account; the link is made by
the strong login of a patron logged in with the password (identity/service.py), never by the
single sign-on itself, so a broker's login cannot claim an account nobody connected it to.
Refusals are counted per client address like wrong passwords.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from libcard.access.models import PortalSession
from libcard.access.service import check_throttle, count_failure
from libcard.access.sessions import SessionRules, start_session
from libcard.audit.service import record
from libcard.context import Ctx
from libcard.errors import Forbidden
from libcard.identity.broker import BrokerLogin
from libcard.identity.rules import is_strong
from libcard.identity.service import seen_identity
from libcard.patrons.models import Patron

ADDRESS_ATTEMPTS = 30  # per client address and window, as for passwords
WINDOW = timedelta(minutes=15)


class SingleSignOnRefused(Forbidden):
    """No account to open with this login; the refusal stays counted."""

    keeps_effects = True


def address_key(client_address: str) -> str:
    return f"sso-address:{client_address}"


async def check_sso_throttle(ctx: Ctx, client_address: str) -> None:
    """Refuse at once an address that has had too many refused logins lately."""
    await check_throttle(ctx, address_key(client_address), limit=ADDRESS_ATTEMPTS, window=WINDOW)


async def count_sso_refusal(ctx: Ctx, client_address: str) -> None:
    await count_failure(ctx, address_key(client_address), window=WINDOW)


async def sso_login(
    ctx: Ctx,
    login: BrokerLogin,
    strong_acr: Iterable[str],
    rules: SessionRules,
    client_address: str,
) -> tuple[PortalSession, str]:
    """A new portal session for the patron the broker's identity is linked to, marked strong
    when the login's level is a strong one; its cookie secret is returned this once."""
    await check_sso_throttle(ctx, client_address)
    identity = await seen_identity(ctx, login)
    patron = await ctx.session.get(Patron, identity.patron_id) if identity else None
    if identity is None or patron is None:
        await count_sso_refusal(ctx, client_address)
        raise SingleSignOnRefused(
            "identity_not_linked", "This login is not linked to a library account."
        )
    if patron.closed_at is not None:
        await count_sso_refusal(ctx, client_address)
        raise SingleSignOnRefused("account_closed", "This account is closed.")
    now = ctx.clock.now()
    session, secret = await start_session(ctx, patron.id, rules)
    strong = is_strong(login.acr, strong_acr)
    if strong:
        session.assurance_acr = login.acr
        session.assured_at = now
        session.linked_identity_id = identity.id
        await ctx.session.flush()
    await record(
        ctx,
        "identity:sso_login",
        "linked_identity",
        identity.id,
        institution_id=patron.institution_id,
        patron_id=patron.id,
        issuer=login.issuer,
        acr=login.acr,
        strong=strong,
    )
    return session, secret
