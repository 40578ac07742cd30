"""The shared fixtures work on every configured database."""

from __future__ import annotations

from libcard.accounts.service import card_status
from libcard.policy.rules import Action
from tests.conftest import World


async def test_a_new_activated_patron_may_borrow_with_the_ecard(world: World) -> None:
    patron = await world.patron()
    async with world.runtime.unit() as ctx:
        status = await card_status(ctx, patron.ecard)
    assert status.refusal is None
    assert status.may[Action.BORROW] is True
