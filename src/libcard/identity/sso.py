"""Single sign-on: logging in to the portal with the institution's login at the identity broker
instead of the password, and activating a new student's account with it (R2).

An identity already linked to a patron opens that patron's account. Otherwise, when the
broker vouches for a student's id in the student registry (the configured registry claim),
the login opens the account the registry feed made for that id: the institution's own login
is the proof the registry's student is this person, as an e-mailed code is. The identity is
linked then, at the activation of a new account or at once for an activated one. No other
login links anything, so a broker's login cannot claim an account nobody connected it to.
Refusals are counted per client address like wrong passwords.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from libcard.access.models import LinkedIdentity, PortalSession
from libcard.access.service import check_throttle, count_failure
from libcard.access.sessions import SessionRules, start_session
from libcard.audit.service import record
from libcard.cards.activation import activate_signed_on
from libcard.context import Ctx
from libcard.errors import Forbidden
from libcard.identity.broker import BrokerLogin, StrongLoginUnavailable
from libcard.identity.rules import is_strong
from libcard.identity.service import check_linkable, link_identity, seen_identity
from libcard.patrons.models import Patron
from libcard.policy.models import Institution

ADDRESS_ATTEMPTS = 30  # per client address and window, as for passwords
WINDOW = timedelta(minutes=15)


class SingleSignOnRefused(Forbidden):
    """No account to open with this login; the refusal stays counted."""

    keeps_effects = True


@dataclass(frozen=True)
class SignedOn:
    """The account a single sign-on opens, and the identity linked to it (None while only
    the registry id names the account and nothing is linked yet)."""

    patron: Patron
    identity: LinkedIdentity | None

    @property
    def needs_activation(self) -> bool:
        """A new account: the patron chooses password and PIN before it opens (R2)."""
        return self.patron.activated_at is None


def address_key(client_address: str) -> str:
    return f"sso-address:{client_address}"


async def check_sso_throttle(ctx: Ctx, client_address: str) -> None:
    """Refuse at once an address that has had too many refused logins lately."""
    await check_throttle(ctx, address_key(client_address), limit=ADDRESS_ATTEMPTS, window=WINDOW)


async def count_sso_refusal(ctx: Ctx, client_address: str) -> None:
    await count_failure(ctx, address_key(client_address), window=WINDOW)


async def _registry_student(ctx: Ctx, registry_id: str, institution_code: str) -> Patron | None:
    institution_id = await ctx.session.scalar(
        select(Institution.id).where(Institution.code == institution_code)
    )
    if institution_id is None:
        # A setting that names no institution: an operator's mistake, not the student's.
        raise StrongLoginUnavailable(
            "sso_not_set_up", "The registry institution of single sign-on does not exist."
        )
    return await ctx.session.scalar(
        select(Patron)
        .where(Patron.institution_id == institution_id, Patron.registry_id == registry_id)
        .with_for_update()
    )


async def signed_on(
    ctx: Ctx, login: BrokerLogin, client_address: str, registry_institution: str | None
) -> SignedOn:
    """The account the broker's login opens: its linked identity's patron, else the student
    with the login's registry id in `registry_institution`'s registry (when one is set)."""
    await check_sso_throttle(ctx, client_address)
    identity = await seen_identity(ctx, login)
    patron: Patron | None = None
    if identity is not None:
        patron = await ctx.session.get(Patron, identity.patron_id)
    elif login.registry_id is not None and registry_institution is not None:
        patron = await _registry_student(ctx, login.registry_id, registry_institution)
        if patron is None:
            await count_sso_refusal(ctx, client_address)
            raise SingleSignOnRefused(
                "registry_student_unknown",
                "The student registry has sent no student with this login's registry id.",
            )
        # Before the patron chooses anything: an account linked to another identity of this
        # broker is a mix-up for staff (refused and recorded).
        await check_linkable(ctx, patron, login)
    if patron is None:
        await count_sso_refusal(ctx, client_address)
        raise SingleSignOnRefused(
            "identity_not_linked", "This login is not linked to a library account."
        )
    if patron.closed_at is not None:
        await count_sso_refusal(ctx, client_address)
        raise SingleSignOnRefused("account_closed", "This account is closed.")
    if patron.expires_at is not None and patron.expires_at <= ctx.clock.now():
        # As the password login: an expired account does not open (the desk extends it).
        await count_sso_refusal(ctx, client_address)
        raise SingleSignOnRefused("account_expired", "This account has expired.")
    return SignedOn(patron, identity)


async def _linked(ctx: Ctx, found: SignedOn, login: BrokerLogin) -> LinkedIdentity:
    return found.identity or await link_identity(ctx, found.patron, login, via="registry")


async def _open(
    ctx: Ctx,
    patron: Patron,
    identity: LinkedIdentity,
    login: BrokerLogin,
    strong_acr: Iterable[str],
    rules: SessionRules,
) -> tuple[PortalSession, str]:
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


async def sso_login(
    ctx: Ctx, found: SignedOn, login: BrokerLogin, strong_acr: Iterable[str], rules: SessionRules
) -> tuple[PortalSession, str]:
    """A new portal session for an activated account the login opens (its identity linked
    now if the registry id found it), marked strong when the login's level is a strong one;
    its cookie secret is returned this once."""
    if found.needs_activation:
        raise SingleSignOnRefused("account_not_activated", "Activate the account first.")
    identity = await _linked(ctx, found, login)
    return await _open(ctx, found.patron, identity, login, strong_acr, rules)


async def sso_activation(
    ctx: Ctx,
    found: SignedOn,
    login: BrokerLogin,
    strong_acr: Iterable[str],
    rules: SessionRules,
    password: str,
    pin: str,
) -> tuple[PortalSession, str]:
    """R2 by single sign-on: the new account activated with the password and PIN the patron
    chose, the identity linked, and a portal session opened, all in one unit. The link comes
    first: its refusal is recorded and must not keep an activation with it."""
    identity = await _linked(ctx, found, login)
    await activate_signed_on(ctx, found.patron, password, pin)
    return await _open(ctx, found.patron, identity, login, strong_acr, rules)
