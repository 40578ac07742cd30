"""The append-only audit log (B4): every change names its actor and subject; no edits."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from libcard.audit.models import AuditEvent
from libcard.audit.service import events
from libcard.blocks.service import place_staff_block
from libcard.cards.service import find_card, report_lost
from libcard.context import ActorKind
from libcard.errors import Forbidden
from libcard.fees.rules import FeeType, PaymentMethod
from libcard.fees.service import charge, pay
from libcard.patrons.service import update_patron
from tests.conftest import World


async def test_each_change_is_recorded_with_its_actor_and_subject(world: World) -> None:
    """B4: everything a person or system changes is in the audit log, as `subject:action`
    with who did it and what it was done to."""
    patron = await world.patron("external", physical=True)
    assert patron.physical is not None
    desk = world.actor(ActorKind.DESK, id="staff-4")
    me = world.actor(ActorKind.PATRON, id=f"patron:{patron.id}", patron_id=patron.id)
    terminal = world.actor(ActorKind.TERMINAL, id="sco-3")
    async with world.runtime.unit(desk) as ctx:
        await update_patron(ctx, patron.id, {"city": "Odense"})
        fee = await charge(ctx, patron.id, FeeType.OVERDUE, 1500, "Late return")
        block = await place_staff_block(ctx, patron.id, "Check address")
    async with world.runtime.unit(me) as ctx:
        card = await find_card(ctx, patron.physical)
        await report_lost(ctx, card.id)
    async with world.runtime.unit(terminal) as ctx:
        payment = await pay(
            ctx, patron.id, 1500, method=PaymentMethod.SELF_CHECKOUT, idempotency_key="k1"
        )
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        log = await events(ctx, patron_id=patron.id, limit=500)
    seen = {
        e.action: (e.actor_kind, e.actor_id, e.subject_kind, e.subject_id)
        for e in log
        if e.actor_kind != ActorKind.SYSTEM
    }
    assert seen == {
        "patron:update": ("desk", "staff-4", "patron", str(patron.id)),
        "fee:charge": ("desk", "staff-4", "fee", str(fee.id)),
        "block:place": ("desk", "staff-4", "block", str(block.id)),
        "card:report_lost": ("patron", f"patron:{patron.id}", "card", str(card.id)),
        "fee:pay": ("terminal", "sco-3", "payment", str(payment.id)),
    }
    update = next(e for e in log if e.action == "patron:update")
    assert update.details["fields"] == ["city"]
    assert update.institution_id == world.institution_id
    assert update.actor_label == desk.label
    assert [e.id for e in log] == sorted((e.id for e in log), reverse=True)  # newest first


async def test_a_refused_change_leaves_no_event(world: World) -> None:
    """B4: only what happened is logged; a refused change rolls back with its event."""
    patron = await world.patron("external")
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    with pytest.raises(Forbidden):
        async with world.runtime.unit(me) as ctx:
            await update_patron(ctx, patron.id, {"email": "ok@example.org", "city": "Vejle"})
    async with world.runtime.unit() as ctx:
        assert await events(ctx, patron_id=patron.id, action="patron:update") == []


async def test_a_patron_reads_only_their_own_events(world: World) -> None:
    """B4: a patron may see what was done to their account, and nobody else's."""
    mine = await world.patron("external")
    theirs = await world.patron("external")
    me = world.actor(ActorKind.PATRON, patron_id=mine.id)
    async with world.runtime.unit(me) as ctx:
        log = await events(ctx)
        assert log
        assert {e.patron_id for e in log} == {mine.id}
        with pytest.raises(Forbidden):
            await events(ctx, patron_id=theirs.id)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor_label = 'someone else'",
        "DELETE FROM audit_event",
    ],
)
async def test_the_database_refuses_to_change_or_remove_an_event(
    world: World, statement: str
) -> None:
    """B4: append-only is enforced by the database itself, not only by the absence of an
    update function, on SQLite and PostgreSQL alike."""
    await world.patron("external")
    async with world.runtime.unit() as ctx:
        before = [(e.id, e.actor_label) for e in await ctx.session.scalars(select(AuditEvent))]
    assert before
    with pytest.raises(DBAPIError, match="append-only"):
        async with world.runtime.unit() as ctx:
            await ctx.session.execute(text(statement))
    async with world.runtime.unit() as ctx:
        after = [(e.id, e.actor_label) for e in await ctx.session.scalars(select(AuditEvent))]
    assert after == before
