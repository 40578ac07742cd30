"""The self-checkout PIN (R5) and its lockout, lifted only at the desk with photo ID (R6)."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from sqlalchemy import func, select

from libcard.accounts.service import card_status
from libcard.audit.models import AuditEvent
from libcard.blocks.service import blocks_of
from libcard.cards.models import PinCredential
from libcard.cards.pin import PinCheck, change_pin, unlock_pin, verify_pin
from libcard.context import ActorKind
from libcard.errors import Conflict, Forbidden, InvalidInput, WrongSecret
from libcard.policy.rules import Action, BlockCode
from libcard.policy.service import update_group
from tests.conftest import PatronHandle, World

WRONG = "9137"


async def _verify(world: World, number: str, pin: str) -> PinCheck:
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        return await verify_pin(ctx, number, pin)


async def _credential(world: World, patron_id: int) -> PinCredential:
    async with world.runtime.unit() as ctx:
        credential = await ctx.session.get(PinCredential, patron_id)
        assert credential is not None
        return credential


async def _count(world: World, action: str, patron_id: int) -> int:
    async with world.runtime.unit() as ctx:
        return int(
            await ctx.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.patron_id == patron_id)
            )
            or 0
        )


async def _lock(world: World, patron: PatronHandle, times: int = 3) -> None:
    for _ in range(times):
        await _verify(world, patron.ecard, WRONG)


async def test_the_right_pin_is_valid_and_a_wrong_one_is_not(world: World) -> None:
    """R5: borrowing at a self-checkout machine needs the card's PIN."""
    patron = await world.patron("external", pin="8264")
    right = await _verify(world, patron.ecard, "8264")
    assert (right.valid, right.locked, right.attempts_left) == (True, False, 3)
    assert right.patron_id == patron.id
    wrong = await _verify(world, patron.ecard, "8265")
    assert (wrong.valid, wrong.locked, wrong.attempts_left) == (False, False, 2)


async def test_the_pin_is_shared_by_the_cards_of_the_account(world: World) -> None:
    """R5/R6: one PIN per account; wrong guesses on one card count for all of them."""
    patron = await world.patron("external", physical=True)
    assert patron.physical is not None
    assert (await _verify(world, patron.physical, patron.pin)).valid is True
    await _verify(world, patron.physical, WRONG)
    await _verify(world, patron.physical, WRONG)
    locked = await _verify(world, patron.ecard, WRONG)
    assert locked.locked is True


async def test_lockout_comes_on_the_third_wrong_pin_not_the_fourth(world: World) -> None:
    """R6: after too many wrong PINs in a row (default 3) the card is blocked."""
    patron = await world.patron("external")
    first = await _verify(world, patron.ecard, WRONG)
    second = await _verify(world, patron.ecard, WRONG)
    assert (second.valid, second.locked, second.attempts_left) == (False, False, 1)
    assert first.attempts_left == 2
    third = await _verify(world, patron.ecard, WRONG)
    assert (third.valid, third.locked, third.attempts_left) == (False, True, 0)
    credential = await _credential(world, patron.id)
    assert credential.wrong_in_a_row == 3
    assert credential.locked_at is not None
    assert await _count(world, "pin:wrong", patron.id) == 2
    assert await _count(world, "pin:lockout", patron.id) == 1


async def test_while_locked_even_the_right_pin_is_refused(world: World) -> None:
    """R6/R14a: a locked card cannot borrow, with any PIN; the card is blocked everywhere."""
    patron = await world.patron("external")
    await _lock(world, patron)
    check = await _verify(world, patron.ecard, patron.pin)
    assert (check.valid, check.locked, check.attempts_left) == (False, True, 0)
    assert (await _credential(world, patron.id)).wrong_in_a_row == 3
    assert await _count(world, "pin:attempt_while_locked", patron.id) == 1
    async with world.runtime.unit() as ctx:
        status = await card_status(ctx, patron.ecard)
        blocks, _ = await blocks_of(ctx, patron.id)
    assert [b.code for b in blocks] == [BlockCode.PIN_LOCKED]
    assert status.may[Action.BORROW] is False


async def test_a_right_pin_resets_the_count(world: World) -> None:
    """R6: it is wrong PINs *in a row* that lock the card."""
    patron = await world.patron("external")
    await _verify(world, patron.ecard, WRONG)
    await _verify(world, patron.ecard, WRONG)
    assert (await _verify(world, patron.ecard, patron.pin)).valid is True
    assert (await _credential(world, patron.id)).wrong_in_a_row == 0
    again = await _verify(world, patron.ecard, WRONG)
    assert (again.locked, again.attempts_left) == (False, 2)
    await _verify(world, patron.ecard, WRONG)
    assert (await _verify(world, patron.ecard, patron.pin)).valid is True


async def test_the_group_policy_sets_how_many_wrong_pins(world: World) -> None:
    """R6: the number of wrong PINs is policy; a group may override the institution's 3."""
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        await update_group(ctx, world.groups["employee"], {"max_wrong_pins": 5})
    employee = await world.patron("employee")
    external = await world.patron("external")
    assert (await _verify(world, external.ecard, WRONG)).attempts_left == 2
    checks = [await _verify(world, employee.ecard, WRONG) for _ in range(4)]
    assert [c.attempts_left for c in checks] == [4, 3, 2, 1]
    assert not any(c.locked for c in checks)
    fifth = await _verify(world, employee.ecard, WRONG)
    assert (fifth.locked, fifth.attempts_left) == (True, 0)


async def test_unlock_needs_desk_staff_who_checked_a_photo_id(world: World) -> None:
    """R6: the lockout is lifted only at a lending desk, by staff who checked a valid photo ID;
    who lifted it and which kind of ID was seen are recorded."""
    patron = await world.patron("external")
    await _lock(world, patron)
    for kind in (ActorKind.TERMINAL, ActorKind.PATRON, ActorKind.SERVICE):
        with pytest.raises(Forbidden):
            async with world.runtime.unit(world.actor(kind, patron_id=patron.id)) as ctx:
                await unlock_pin(ctx, patron.id, "passport")
    desk = world.actor(ActorKind.DESK, id="staff-17")
    for missing in ("", "selfie"):
        with pytest.raises(InvalidInput) as refused:
            async with world.runtime.unit(desk) as ctx:
                await unlock_pin(ctx, patron.id, missing)
        assert refused.value.code == "photo_id_required"
    assert (await _verify(world, patron.ecard, patron.pin)).locked is True

    async with world.runtime.unit(desk) as ctx:
        await unlock_pin(ctx, patron.id, "national_id_card", note="checked at main desk")
    credential = await _credential(world, patron.id)
    assert credential.locked_at is None
    assert credential.wrong_in_a_row == 0
    assert credential.unlock_photo_id_kind == "national_id_card"
    assert credential.unlocked_by == desk.label
    async with world.runtime.unit() as ctx:
        event = await ctx.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "pin:unlock", AuditEvent.patron_id == patron.id
            )
        )
        blocks, _ = await blocks_of(ctx, patron.id)
    assert event is not None
    assert (event.actor_kind, event.actor_id) == (ActorKind.DESK, "staff-17")
    assert event.details["photo_id_kind"] == "national_id_card"
    assert blocks == []
    assert (await _verify(world, patron.ecard, patron.pin)).valid is True
    # A fresh start: three more wrong PINs are needed to lock again.
    assert (await _verify(world, patron.ecard, WRONG)).attempts_left == 2


async def test_unlocking_a_pin_that_is_not_locked_is_refused(world: World) -> None:
    """R6: there is nothing to lift; no misleading unlock is recorded."""
    patron = await world.patron("external")
    with pytest.raises(Conflict):
        async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
            await unlock_pin(ctx, patron.id, "passport")
    assert await _count(world, "pin:unlock", patron.id) == 0


async def test_changing_the_pin_needs_the_password(world: World) -> None:
    """R5: the PIN is changed in the portal, proven by the account password."""
    patron = await world.patron("external")
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    with pytest.raises(WrongSecret):
        async with world.runtime.unit(me) as ctx:
            await change_pin(ctx, patron.id, "not-my-password", "6392")
    assert (await _verify(world, patron.ecard, patron.pin)).valid is True
    assert await _count(world, "password:wrong", patron.id) == 1
    with pytest.raises(InvalidInput):
        async with world.runtime.unit(me) as ctx:
            await change_pin(ctx, patron.id, patron.password, "1234")
    async with world.runtime.unit(me) as ctx:
        await change_pin(ctx, patron.id, patron.password, "6392")
    assert (await _verify(world, patron.ecard, "6392")).valid is True
    assert (await _verify(world, patron.ecard, patron.pin)).valid is False
    assert await _count(world, "pin:change", patron.id) == 1


async def test_staff_cannot_change_a_patrons_pin(world: World) -> None:
    """R5: only the patron chooses the PIN."""
    patron = await world.patron("external")
    with pytest.raises(Forbidden):
        async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
            await change_pin(ctx, patron.id, patron.password, "6392")


async def test_concurrent_wrong_pins_lock_exactly_once(world: World) -> None:
    """R6 under load: 50 wrong PINs at once, each its own unit of work (as from many
    self-checkout machines), are counted one by one — one lockout, exactly three counted."""
    patron = await world.patron("external")

    async def guess() -> PinCheck:
        async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
            return await verify_pin(ctx, patron.ecard, WRONG)

    checks = await asyncio.gather(*(guess() for _ in range(50)))
    assert not any(c.valid for c in checks)
    assert sorted(c.attempts_left for c in checks if not c.locked) == [1, 2]
    credential = await _credential(world, patron.id)
    assert credential.wrong_in_a_row == 3
    assert credential.locked_at is not None
    assert await _count(world, "pin:lockout", patron.id) == 1
    assert await _count(world, "pin:wrong", patron.id) == 2
    assert await _count(world, "pin:attempt_while_locked", patron.id) == 47
    assert (await _verify(world, patron.ecard, patron.pin)).valid is False


GUESSER = """
import asyncio, sys, time
from libcard.config import Settings
from libcard.context import Actor, ActorKind
from libcard.cards.pin import verify_pin
from libcard.runtime import Runtime

async def main(url, number, start, institution_id):
    runtime = Runtime.build(Settings(database_url=url, peppers={1: "11" * 32}))
    while time.time() < start:
        await asyncio.sleep(0.005)
    terminal = Actor(kind=ActorKind.TERMINAL, label="machine", institution_id=institution_id)
    async def guess():
        async with runtime.unit(terminal) as ctx:
            await verify_pin(ctx, number, "9137")
    await asyncio.gather(*(guess() for _ in range(5)))
    await runtime.close()

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
"""


async def test_wrong_pins_from_several_processes_lock_exactly_once(
    world: World, database_url: str
) -> None:
    """R6 across processes: four processes (four self-checkout servers) guess five times each,
    all at once; the count is kept in the database, so exactly three are counted."""
    patron = await world.patron("external")
    start = time.time() + 3  # every process is up before the first guess
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            GUESSER,
            database_url,
            patron.ecard,
            str(start),
            str(world.institution_id),
        )
        for _ in range(4)
    ]
    codes = [await asyncio.wait_for(worker.wait(), 120) for worker in workers]
    assert codes == [0, 0, 0, 0]
    credential = await _credential(world, patron.id)
    assert credential.wrong_in_a_row == 3
    assert await _count(world, "pin:lockout", patron.id) == 1
    assert await _count(world, "pin:attempt_while_locked", patron.id) == 17
