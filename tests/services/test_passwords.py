"""Passwords (R7): change with the current one, reset by a single-use expiring link."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libcard.context import ActorKind
from libcard.errors import Forbidden, InvalidInput, TooManyAttempts, WrongSecret
from libcard.kit.clock import FrozenClock
from libcard.patrons.credentials import (
    change_password,
    check_own_password,
    request_password_reset,
    reset_password,
)
from libcard.patrons.service import get_patron
from tests.conftest import World

NEW = "Harbour-Lights-2027"


async def _password_works(world: World, patron_id: int, password: str) -> bool:
    try:
        async with world.runtime.unit() as ctx:
            await check_own_password(ctx, await get_patron(ctx, patron_id), password)
    except WrongSecret:
        return False
    return True


async def test_the_patron_changes_the_password_with_the_current_one(world: World) -> None:
    patron = await world.patron()
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    with pytest.raises(WrongSecret):
        async with world.runtime.unit(me) as ctx:
            await change_password(ctx, patron.id, "not-the-password", NEW)
    async with world.runtime.unit(me) as ctx:
        await change_password(ctx, patron.id, patron.password, NEW)
    assert await _password_works(world, patron.id, NEW)
    assert not await _password_works(world, patron.id, patron.password)


async def test_desk_staff_cannot_change_a_patrons_password(world: World) -> None:
    patron = await world.patron()
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        with pytest.raises(Forbidden):
            await change_password(ctx, patron.id, patron.password, NEW)


async def test_a_weak_new_password_is_refused_and_the_old_one_stays(world: World) -> None:
    patron = await world.patron()
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    async with world.runtime.unit(me) as ctx:
        with pytest.raises(InvalidInput):
            await change_password(ctx, patron.id, patron.password, "password123")
    assert await _password_works(world, patron.id, patron.password)


async def test_guessing_the_current_password_is_stopped_after_ten_tries(world: World) -> None:
    patron = await world.patron()
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    for attempt in range(10):
        with pytest.raises(WrongSecret):
            async with world.runtime.unit(me) as ctx:
                await change_password(ctx, patron.id, f"guess-number-{attempt}", NEW)
    with pytest.raises(TooManyAttempts):
        async with world.runtime.unit(me) as ctx:
            await change_password(ctx, patron.id, patron.password, NEW)


async def test_a_reset_link_sets_a_new_password_once(world: World) -> None:
    patron = await world.patron(email="reader@example.org")
    async with world.runtime.unit() as ctx:
        issued = await request_password_reset(ctx, world.institution_id, "Reader@Example.org")
    assert issued is not None
    _, secret = issued
    async with world.runtime.unit() as ctx:
        await reset_password(ctx, secret, NEW)
    assert await _password_works(world, patron.id, NEW)
    async with world.runtime.unit() as ctx:
        with pytest.raises(InvalidInput) as used:
            await reset_password(ctx, secret, "Another-Good-One-9")
    assert used.value.code == "reset_link_invalid"


async def test_a_reset_link_expires(world: World, clock: FrozenClock) -> None:
    await world.patron(email="late@example.org")
    async with world.runtime.unit() as ctx:
        issued = await request_password_reset(ctx, world.institution_id, "late@example.org")
    assert issued is not None
    clock.advance(timedelta(minutes=61))
    async with world.runtime.unit() as ctx:
        with pytest.raises(InvalidInput):
            await reset_password(ctx, issued[1], NEW)


async def test_a_newer_reset_link_voids_the_older(world: World) -> None:
    await world.patron(email="twice@example.org")
    async with world.runtime.unit() as ctx:
        first = await request_password_reset(ctx, world.institution_id, "twice@example.org")
    async with world.runtime.unit() as ctx:
        second = await request_password_reset(ctx, world.institution_id, "twice@example.org")
    assert first is not None
    assert second is not None
    async with world.runtime.unit() as ctx:
        with pytest.raises(InvalidInput):
            await reset_password(ctx, first[1], NEW)
    async with world.runtime.unit() as ctx:
        await reset_password(ctx, second[1], NEW)


async def test_no_reset_for_unknown_or_not_activated_accounts(world: World) -> None:
    """R7: the caller answers the same either way; there is simply no link to send."""
    await world.patron(activate=False, email="waiting@example.org")
    async with world.runtime.unit() as ctx:
        assert await request_password_reset(ctx, world.institution_id, "nobody@example.org") is None
        assert (
            await request_password_reset(ctx, world.institution_id, "waiting@example.org") is None
        )
