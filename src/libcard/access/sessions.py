"""Portal sessions: server-side, so that a log-out or a password change ends them for real."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from libcard.access.models import PortalSession
from libcard.context import Ctx
from libcard.kit.secrets import new_token

PURPOSE = "portal-session"
# last_seen_at is written at most this often, so that reading pages seldom writes.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionRules:
    idle: timedelta
    lifetime: timedelta


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


async def find_session(ctx: Ctx, secret: str, rules: SessionRules) -> PortalSession | None:
    """The live session for a cookie's secret, or None when it ended, idled out or expired."""
    session = await ctx.session.scalar(
        select(PortalSession).where(PortalSession.digest == ctx.keyring.digest(PURPOSE, secret))
    )
    now = ctx.clock.now()
    if (
        session is None
        or session.ended_at is not None
        or session.expires_at <= now
        or session.last_seen_at + rules.idle <= now
    ):
        return None
    return session


def needs_touch(ctx: Ctx, session: PortalSession) -> bool:
    return session.last_seen_at + TOUCH_EVERY <= ctx.clock.now()


async def touch_session(ctx: Ctx, session_id: int) -> None:
    await ctx.session.execute(
        update(PortalSession)
        .where(PortalSession.id == session_id)
        .values(last_seen_at=ctx.clock.now())
    )


async def end_session(ctx: Ctx, session_id: int) -> None:
    await ctx.session.execute(
        update(PortalSession)
        .where(PortalSession.id == session_id, PortalSession.ended_at.is_(None))
        .values(ended_at=ctx.clock.now())
    )


async def end_sessions_of(ctx: Ctx, patron_id: int) -> None:
    """End every session of the patron: after a password change or reset (R7)."""
    await ctx.session.execute(
        update(PortalSession)
        .where(PortalSession.patron_id == patron_id, PortalSession.ended_at.is_(None))
        .values(ended_at=ctx.clock.now())
    )
