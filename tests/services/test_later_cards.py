"""Cards that arrive after activation (R1), and what a replacement refuses (R11)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libcard.accounts.service import card_status, replace_card
from libcard.cards.activation import activate_card
from libcard.cards.rules import CardKind, CardState
from libcard.cards.service import find_card, issue_card
from libcard.collection.service import hand_over
from libcard.context import ActorKind
from libcard.errors import Conflict, Forbidden, InvalidInput
from libcard.fees.service import balance_of
from libcard.kit.clock import FrozenClock
from tests.conftest import World


async def _registry_student_id(world: World, patron_id: int, number: str) -> None:
    async with world.runtime.unit(world.actor(ActorKind.REGISTRY)) as ctx:
        card = await issue_card(ctx, patron_id, CardKind.STUDENT_ID, number=number)
        assert card.state == CardState.NOT_ACTIVATED


async def test_a_student_id_sent_after_activation_is_activated_with_the_pin(world: World) -> None:
    """R1: the new card is refused until the patron proves it is theirs with the PIN."""
    student = await world.patron("student", pin="2580")
    await _registry_student_id(world, student.id, "S1234567")
    async with world.runtime.unit() as ctx:
        assert (await card_status(ctx, "S1234567")).refusal == "card_not_activated"

    async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=student.id)) as ctx:
        wrong = await activate_card(ctx, "S1234567", pin="1357")
    assert not wrong.valid
    assert wrong.attempts_left == 2  # a wrong PIN here counts like one at a machine (R6)

    async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=student.id)) as ctx:
        right = await activate_card(ctx, "S1234567", pin="2580")
    assert right.valid
    async with world.runtime.unit() as ctx:
        status = await card_status(ctx, "S1234567")
    assert status.refusal is None
    assert status.state is CardState.ACTIVE


async def test_the_desk_activates_a_card_on_seeing_a_photo_id(world: World) -> None:
    student = await world.patron("student")
    await _registry_student_id(world, student.id, "S7654321")
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        with pytest.raises(Forbidden):
            await activate_card(ctx, "S7654321", photo_id_kind="passport")
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        with pytest.raises(InvalidInput):
            await activate_card(ctx, "S7654321", photo_id_kind="library_card")
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        assert (await activate_card(ctx, "S7654321", photo_id_kind="passport")).valid
        assert (await find_card(ctx, "S7654321")).state == CardState.ACTIVE


async def test_an_account_not_activated_activates_with_its_code_not_a_card_pin(
    world: World,
) -> None:
    waiting = await world.patron(activate=False)
    async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=waiting.id)) as ctx:
        with pytest.raises(Conflict) as refused:
            await activate_card(ctx, waiting.ecard, pin="2580")
    assert refused.value.code == "account_not_activated"


async def test_a_replaced_card_cannot_be_replaced_again(world: World) -> None:
    """R11: the fee is charged once; replacing the old card a second time is refused."""
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    desk = world.actor(ActorKind.DESK)
    async with world.runtime.unit(desk) as ctx:
        card = await find_card(ctx, patron.physical)
        await replace_card(ctx, card.id)
    async with world.runtime.unit(desk) as ctx:
        with pytest.raises(Conflict):
            await replace_card(ctx, card.id)
    async with world.runtime.unit() as ctx:
        assert await balance_of(ctx, patron.id) == 5000


async def test_an_expired_card_is_renewed_without_a_fee(world: World, clock: FrozenClock) -> None:
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    clock.advance(timedelta(days=365 * 5 + 2))
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        card = await find_card(ctx, patron.physical)
        renewal = await replace_card(ctx, card.id)
    assert renewal.fee is None
    assert renewal.new.state == CardState.ACTIVE
    async with world.runtime.unit() as ctx:
        assert await balance_of(ctx, patron.id) == 0
        assert (await card_status(ctx, patron.physical)).refusal == "card_expired"


@pytest.mark.parametrize("amount", [0, -100])
async def test_a_collection_case_needs_a_positive_amount(world: World, amount: int) -> None:
    patron = await world.patron()
    async with world.runtime.unit() as ctx:
        with pytest.raises(InvalidInput):
            await hand_over(ctx, patron.id, amount, "Agency")
