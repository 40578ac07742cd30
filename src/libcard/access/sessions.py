"""Browser sessions, server-side, so that a log-out or a password change ends them for real.

Patrons' portal sessions and staff's desk sessions are separate tables with the same shape;
the functions here take the table, and the cookie secret is never stored, only its digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import select, update

from libcard.access.models import PortalSession
from libcard.context import Ctx
from libcard.kit.secrets import new_token
from libcard.staff.models import StaffSession

PURPOSE = "portal-session"
STAFF_PURPOSE = "staff-session"
# last_seen_at is written at most this often, so that reading pages seldom writes.
TOUCH_EVERY = timedelta(minutes=1)

AnySession = TypeVar("AnySession", PortalSession, StaffSession)


@dataclass(frozen=True)
class SessionRules:
    idle: timedelta
    lifetime: timedelta


def _purpose(model: type[PortalSession] | type[StaffSession]) -> str:
    return STAFF_PURPOSE if model is StaffSession else PURPOSE


async def start_session(ctx: Ctx, patron_id: int, rules: SessionRules) -> tuple[PortalSession, str]:
    """A new session for the patron; the secret goes into the cookie and is never stored."""
    secret = new_token()
    now = ctx.clock.now()
    session = PortalSession(
        digest=ctx.keyring.digest(PURPOSE, secret),
        patron_id=patron_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + rules.lifetime,
    )
    ctx.session.add(session)
    await ctx.session.flush()
    return session, secret


async def start_staff_session(
    ctx: Ctx, staff_id: int, rules: SessionRules, *, verified: bool
) -> tuple[StaffSession, str]:
    """A desk session; `verified` once the second factor was given as well as the password."""
    secret = new_token()
    now = ctx.clock.now()
    session = StaffSession(
        digest=ctx.keyring.digest(STAFF_PURPOSE, secret),
        staff_id=staff_id,
        created_at=now,
        verified_at=now if verified else None,
        last_seen_at=now,
        expires_at=now + rules.lifetime,
    )
    ctx.session.add(session)
    await ctx.session.flush()
    return session, secret


async def find_live(
    ctx: Ctx, model: type[AnySession], secret: str, rules: SessionRules
) -> AnySession | None:
    """The live session for a cookie's secret, or None when it ended, idled out or expired."""
    digest = ctx.keyring.digest(_purpose(model), secret)
    session = await ctx.session.scalar(select(model).where(model.digest == digest))
    now = ctx.clock.now()
    if (
        session is None
        or session.ended_at is not None
        or session.expires_at <= now
        or session.last_seen_at + rules.idle <= now
    ):
        return None
    return session


async def find_session(ctx: Ctx, secret: str, rules: SessionRules) -> PortalSession | None:
    return await find_live(ctx, PortalSession, secret, rules)


def needs_touch(ctx: Ctx, session: PortalSession | StaffSession) -> bool:
    return session.last_seen_at + TOUCH_EVERY <= ctx.clock.now()


async def touch(ctx: Ctx, model: type[AnySession], session_id: int) -> None:
    await ctx.session.execute(
        update(model).where(model.id == session_id).values(last_seen_at=ctx.clock.now())
    )


async def touch_session(ctx: Ctx, session_id: int) -> None:
    await touch(ctx, PortalSession, session_id)


async def end(ctx: Ctx, model: type[AnySession], session_id: int) -> None:
    await ctx.session.execute(
        update(model)
        .where(model.id == session_id, model.ended_at.is_(None))
        .values(ended_at=ctx.clock.now())
    )


async def end_session(ctx: Ctx, session_id: int) -> None:
    await end(ctx, PortalSession, session_id)


async def end_sessions_of(ctx: Ctx, patron_id: int) -> None:
    """End every session of the patron: after a password change or reset (R7)."""
    await ctx.session.execute(
        update(PortalSession)
        .where(PortalSession.patron_id == patron_id, PortalSession.ended_at.is_(None))
        .values(ended_at=ctx.clock.now())
    )


async def end_staff_sessions(ctx: Ctx, staff_id: int, *, keep: int | None = None) -> None:
    """End a staff member's sessions (disabled, password or second factor reset), maybe
    keeping the one in use."""
    query = update(StaffSession).where(
        StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(StaffSession.id != keep)
    await ctx.session.execute(query.values(ended_at=ctx.clock.now()))
