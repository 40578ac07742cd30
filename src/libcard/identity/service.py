"""Linking the person at the identity broker to a patron, and the assurance of a portal session.

The first strong login of a logged-in patron links the broker's identity to that patron (as
does a single sign-on naming the patron's registry id, identity/sso.py); later
logins with it must be that patron's. An identity linked to someone else, or a second identity
of the same broker for one patron, is refused and the attempt stays in the audit log: either is
a person trying to pay in another's name, or a mix-up that staff must look at.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from libcard.access.models import LinkedIdentity, PortalSession
from libcard.audit.service import record
from libcard.context import Ctx
from libcard.errors import Forbidden, NotFound, RuleViolation
from libcard.identity.broker import BrokerLogin
from libcard.identity.rules import is_strong
from libcard.patrons.models import Patron

SUBJECT = "linked-identity"


class IdentityRefused(Forbidden):
    """The identity belongs to another patron; the refused attempt is recorded all the same."""

    keeps_effects = True


def subject_digests(ctx: Ctx, issuer: str, subject: str) -> list[str]:
    """The stored form of a subject under every key version, so a rotation loses no link."""
    value = f"{issuer}\x00{subject}"
    return [ctx.keyring.digest(SUBJECT, value, version) for version in sorted(ctx.keyring.keys)]


async def _identity(ctx: Ctx, issuer: str, subject: str) -> LinkedIdentity | None:
    query = select(LinkedIdentity).where(
        LinkedIdentity.issuer == issuer,
        LinkedIdentity.subject.in_(subject_digests(ctx, issuer, subject)),
    )
    return await ctx.session.scalar(query.with_for_update())


async def seen_identity(ctx: Ctx, login: BrokerLogin) -> LinkedIdentity | None:
    """The linked identity of the broker's login, if any, with this login noted on it (and
    its subject re-keyed after a rotation of the server secret)."""
    identity = await _identity(ctx, login.issuer, login.subject)
    if identity is not None:
        identity.last_login_at = ctx.clock.now()
        current = ctx.keyring.digest(SUBJECT, f"{login.issuer}\x00{login.subject}")
        if identity.subject != current:
            identity.subject = current
    return identity


async def _refuse(
    ctx: Ctx, patron: Patron, login: BrokerLogin, code: str, message: str
) -> NoReturn:
    await record(
        ctx,
        "identity:refuse",
        "patron",
        patron.id,
        institution_id=patron.institution_id,
        patron_id=patron.id,
        issuer=login.issuer,
        code=code,
    )
    raise IdentityRefused(code, message)


async def strong_login(
    ctx: Ctx, session_id: int, login: BrokerLogin, strong_acr: Iterable[str]
) -> LinkedIdentity:
    """Record the broker's login for the acting patron's portal session: link the identity on
    the first strong login, match it on later ones, and mark the session strong."""
    patron_id = ctx.actor.patron_id
    patron = await ctx.session.get(Patron, patron_id) if patron_id is not None else None
    if patron is None:
        raise NotFound("patron_not_found", "No such patron.")
    if not is_strong(login.acr, strong_acr):
        raise RuleViolation(
            "strong_login_too_weak",
            "The identity broker's login is not at a level that counts as strong.",
            acr=login.acr,
        )
    now = ctx.clock.now()
    identity = await seen_identity(ctx, login)
    if identity is not None and identity.patron_id != patron.id:
        await _refuse(
            ctx,
            patron,
            login,
            "identity_linked_elsewhere",
            "This identity is linked to another library account.",
        )
    if identity is None:
        identity = await link_identity(ctx, patron, login)
    assured = await ctx.session.execute(
        update(PortalSession)
        .where(
            PortalSession.id == session_id,
            PortalSession.patron_id == patron.id,
            PortalSession.ended_at.is_(None),
        )
        .values(assurance_acr=login.acr, assured_at=now, linked_identity_id=identity.id)
    )
    if getattr(assured, "rowcount", 1) != 1:
        raise Forbidden("login_required", "Log in to see this page.")
    await record(
        ctx,
        "identity:strong_login",
        "linked_identity",
        identity.id,
        institution_id=patron.institution_id,
        patron_id=patron.id,
        issuer=login.issuer,
        acr=login.acr,
    )
    return identity


async def check_linkable(ctx: Ctx, patron: Patron, login: BrokerLogin) -> None:
    """Refuse (and record) a second identity of the same broker for one patron."""
    own = await ctx.session.scalar(
        select(LinkedIdentity).where(
            LinkedIdentity.patron_id == patron.id, LinkedIdentity.issuer == login.issuer
        )
    )
    if own is not None:
        await _refuse(
            ctx,
            patron,
            login,
            "identity_other_person",
            "This library account is linked to another identity at this identity broker.",
        )


async def link_identity(
    ctx: Ctx, patron: Patron, login: BrokerLogin, *, via: str = "strong_login"
) -> LinkedIdentity:
    """Link the broker's identity to the patron: after a strong login of the logged-in
    patron, or (`via="registry"`) a single sign-on that names the patron's registry id."""
    await check_linkable(ctx, patron, login)
    now = ctx.clock.now()
    identity = LinkedIdentity(
        patron_id=patron.id,
        issuer=login.issuer,
        subject=ctx.keyring.digest(SUBJECT, f"{login.issuer}\x00{login.subject}"),
        linked_at=now,
        last_login_at=now,
    )
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(identity)
            await ctx.session.flush()
    except IntegrityError:
        # Another login linked the same identity, or this patron, at the same moment.
        await _refuse(
            ctx,
            patron,
            login,
            "identity_linked_elsewhere",
            "This identity is linked to another library account.",
        )
    await record(
        ctx,
        "identity:link",
        "linked_identity",
        identity.id,
        institution_id=patron.institution_id,
        patron_id=patron.id,
        issuer=login.issuer,
        acr=login.acr,
        via=via,
    )
    return identity


async def linked_identities(ctx: Ctx, patron_id: int) -> list[LinkedIdentity]:
    """The patron's linked identities, oldest first (for the desk and the data export)."""
    query = select(LinkedIdentity).where(LinkedIdentity.patron_id == patron_id)
    return list((await ctx.session.scalars(query.order_by(LinkedIdentity.id))).all())
