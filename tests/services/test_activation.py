"""Activation (R1, R2): card number + one-time code → password and PIN, in one step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from libcard.access.models import Throttle
from libcard.accounts.service import card_status
from libcard.audit.models import AuditEvent
from libcard.cards.activation import activate
from libcard.cards.pin import verify_pin
from libcard.cards.rules import CardState
from libcard.cards.texts import refusal_text
from libcard.context import ActorKind
from libcard.errors import Conflict, InvalidInput, TooManyAttempts, WrongSecret
from libcard.kit.clock import FrozenClock
from libcard.kit.secrets import verify_password
from libcard.patrons.credentials import issue_activation_code
from libcard.patrons.service import get_patron
from libcard.policy.rules import Action
from tests.conftest import PatronHandle, World

PASSWORD = "Lantern-Quiet-73"
PIN = "4071"


async def _not_activated(world: World, **kw: Any) -> tuple[PatronHandle, str]:
    patron = await world.patron("external", activate=False, **kw)
    assert patron.activation_code is not None
    return patron, patron.activation_code


async def _activate(world: World, number: str, code: str, password: str = PASSWORD) -> None:
    async with world.runtime.unit() as ctx:
        await activate(ctx, number, code, password, PIN)


async def test_a_card_not_activated_is_refused_with_how_to_activate(world: World) -> None:
    """R1: a card that is not activated is refused everywhere, saying how to activate it."""
    patron, _ = await _not_activated(world)
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        status = await card_status(ctx, patron.ecard)
    assert status.state is CardState.NOT_ACTIVATED
    assert status.refusal == "card_not_activated"
    assert not any(status.may.values())
    assert "Activate now" in refusal_text(status.refusal, "en")
    assert "Aktivér nu" in refusal_text(status.refusal, "da")
    assert "Jetzt aktivieren" in refusal_text(status.refusal, "de")


async def test_activation_sets_password_and_pin_and_makes_cards_usable(world: World) -> None:
    """R2: card number + one-time code; the password and PIN are chosen in the same step.
    R1: every card of the account is usable from then on."""
    patron, code = await _not_activated(world, physical=True)
    assert patron.physical is not None
    await _activate(world, patron.ecard, code.lower())  # codes are typed by people
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        ecard = await card_status(ctx, patron.ecard)
        physical = await card_status(ctx, patron.physical)
        pin = await verify_pin(ctx, patron.ecard, PIN)
        stored = await get_patron(ctx, patron.id)
        assert stored.activated_at is not None
        assert await verify_password(stored.password_hash, PASSWORD)
        event = await ctx.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "patron:activate", AuditEvent.patron_id == patron.id
            )
        )
    assert ecard.refusal is None
    assert ecard.may[Action.BORROW] is True
    assert physical.refusal is None
    assert pin.valid is True
    assert event is not None
    assert event.details["channel"] == "letter"
    assert len(event.details["cards"]) == 2


async def test_an_activation_code_works_once(world: World) -> None:
    """R2: the code is single-use."""
    patron, code = await _not_activated(world)
    await _activate(world, patron.ecard, code)
    with pytest.raises(Conflict):
        await _activate(world, patron.ecard, code, password="Another-Secret-99")
    async with world.runtime.unit() as ctx:
        stored = await get_patron(ctx, patron.id)
        assert await verify_password(stored.password_hash, PASSWORD)


async def test_an_activation_code_expires(world: World, clock: FrozenClock) -> None:
    """R2: activation codes expire; the default lifetime is activation_code_days=30."""
    patron, code = await _not_activated(world)
    clock.advance(timedelta(days=30, seconds=1))
    with pytest.raises(Conflict) as refused:
        await _activate(world, patron.ecard, code)
    assert refused.value.code == "activation_code_expired"
    async with world.runtime.unit() as ctx:
        assert (await get_patron(ctx, patron.id)).activated_at is None


async def test_an_activation_code_still_works_just_before_it_expires(
    world: World, clock: FrozenClock
) -> None:
    """R2: a code is good for the whole of activation_code_days."""
    patron, code = await _not_activated(world)
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    await _activate(world, patron.ecard, code)
    async with world.runtime.unit() as ctx:
        assert (await card_status(ctx, patron.ecard)).refusal is None


async def test_wrong_codes_are_throttled_across_units_of_work(world: World) -> None:
    """R2: a wrong code is refused and counted; after 10 wrong codes even the right one is
    refused for a while. Each attempt is its own unit of work, so the count must survive the
    refusal (WrongSecret keeps its effects)."""
    patron, code = await _not_activated(world)
    wrong = "ABCD-EFGH" if code.replace("-", "") != "ABCDEFGH" else "HGFE-DCBA"
    with pytest.raises(WrongSecret) as refused:
        await _activate(world, patron.ecard, wrong)
    assert refused.value.code == "activation_code_wrong"
    async with world.runtime.unit() as ctx:
        row = await ctx.session.get(Throttle, f"activation:{patron.id}")
        assert row is not None
        assert row.failures == 1
    for _ in range(9):
        with pytest.raises(WrongSecret):
            await _activate(world, patron.ecard, wrong)
    async with world.runtime.unit() as ctx:
        row = await ctx.session.get(Throttle, f"activation:{patron.id}")
        assert row is not None
        assert row.failures == 10
    with pytest.raises(TooManyAttempts):
        await _activate(world, patron.ecard, code)
    async with world.runtime.unit() as ctx:
        assert (await get_patron(ctx, patron.id)).activated_at is None


async def test_the_throttle_ends_with_its_window(world: World, clock: FrozenClock) -> None:
    """R2: the throttle is for a while only; the right code then works again."""
    patron, code = await _not_activated(world)
    for _ in range(10):
        with pytest.raises(WrongSecret):
            await _activate(world, patron.ecard, "WXYZ-WXYZ")
    clock.advance(timedelta(minutes=16))
    await _activate(world, patron.ecard, code)


async def test_a_weak_choice_does_not_use_up_the_code(world: World) -> None:
    """R2: a weak password or a trivial PIN is refused before the code is used, so the patron
    can try again with the same letter."""
    patron, code = await _not_activated(world)
    for password, pin, error_code in (
        ("short", PIN, "password_too_short"),
        ("password123", PIN, "password_common"),
        (PASSWORD, "1234", "pin_trivial"),
        (PASSWORD, "7777", "pin_trivial"),
        (PASSWORD, "12a4", "pin_format"),
    ):
        with pytest.raises(InvalidInput) as refused:
            async with world.runtime.unit() as ctx:
                await activate(ctx, patron.ecard, code, password, pin)
        assert refused.value.code == error_code
    await _activate(world, patron.ecard, code)
    async with world.runtime.unit() as ctx:
        assert (await get_patron(ctx, patron.id)).activated_at is not None


async def test_a_password_with_the_patrons_name_is_refused(world: World) -> None:
    """R2: the password must not contain the patron's name or card number."""
    patron, code = await _not_activated(world, first_name="Rasmussen")
    with pytest.raises(InvalidInput) as refused:
        await _activate(world, patron.ecard, code, password="rasmussen-library-7")
    assert refused.value.code == "password_personal"
    with pytest.raises(InvalidInput):
        await _activate(world, patron.ecard, code, password=f"x{patron.ecard}x")


async def test_a_new_code_revokes_the_old_one(world: World) -> None:
    """R2: issuing a new code (a new letter) makes earlier codes stop working."""
    patron, old = await _not_activated(world)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        _, new = await issue_activation_code(ctx, patron.id, "email")
    assert new != old
    with pytest.raises(WrongSecret):
        await _activate(world, patron.ecard, old)
    await _activate(world, patron.ecard, new)
    async with world.runtime.unit() as ctx:
        assert (await card_status(ctx, patron.ecard)).refusal is None
