"""Writing and reading audit events. There is no update or delete here, by design."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select

from libcard.audit.models import AuditEvent
from libcard.context import Ctx
from libcard.errors import Forbidden


async def record(
    ctx: Ctx,
    action: str,
    subject_kind: str,
    subject_id: int | str | None,
    *,
    institution_id: int | None,
    patron_id: int | None = None,
    **details: Any,
) -> AuditEvent:
    """Append `subject:action` with the acting actor, in the caller's transaction."""
    event = AuditEvent(
        at=ctx.clock.now(),
        institution_id=institution_id,
        actor_kind=ctx.actor.kind.value,
        actor_id=ctx.actor.id,
        actor_label=ctx.actor.label,
        branch_id=ctx.actor.branch_id,
        reason=ctx.reason,
        action=action,
        subject_kind=subject_kind,
        subject_id=None if subject_id is None else str(subject_id),
        patron_id=patron_id,
        details=details,
    )
    ctx.session.add(event)
    await ctx.session.flush()
    return event


class Subject(Protocol):
    """A row that belongs to an institution: a patron, or something of one patron's."""

    __tablename__: str
    id: int
    institution_id: int


async def record_on(ctx: Ctx, action: str, subject: Subject, **details: Any) -> AuditEvent:
    """`record` for a patron or a row of theirs (card, fee, block …): the subject's table,
    id, institution and patron are taken from the row itself."""
    patron_id = (
        subject.id if subject.__tablename__ == "patron" else getattr(subject, "patron_id", None)
    )
    return await record(
        ctx,
        action,
        subject.__tablename__,
        subject.id,
        institution_id=subject.institution_id,
        patron_id=patron_id,
        **details,
    )


async def events(
    ctx: Ctx,
    *,
    patron_id: int | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """Newest first; `before_id` pages backwards. Callers check the patron's visibility."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(min(max(limit, 1), 500))
    if ctx.actor.institution_id is not None:
        query = query.where(AuditEvent.institution_id == ctx.actor.institution_id)
    if ctx.actor.patron_id is not None:
        if patron_id not in (None, ctx.actor.patron_id):
            raise Forbidden("forbidden_patron", "You may only see your own account.")
        patron_id = ctx.actor.patron_id
    if patron_id is not None:
        query = query.where(AuditEvent.patron_id == patron_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list((await ctx.session.scalars(query)).all())
