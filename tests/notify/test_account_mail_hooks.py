"""Changes to an account mail the patron in the same transaction: a PIN changed, a card
reported lost or stolen, a block placed or lifted. To the patron's address, in their language;
nothing when they have no address, nothing when the change rolls back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from libcard.blocks.mail import mail_block_changes
from libcard.blocks.rules import Block
from libcard.blocks.service import account_blocks, lift_block, place_staff_block, retain_card
from libcard.blocks.texts import LIFTS, REASONS, TITLES, describe
from libcard.cards.models import Card
from libcard.cards.pin import change_pin, unlock_pin, verify_pin
from libcard.cards.service import cards_of, mark_stolen, report_lost
from libcard.context import ActorKind
from libcard.errors import WrongSecret
from libcard.fees.rules import FeeType
from libcard.fees.service import charge
from libcard.kit.clock import FrozenClock
from libcard.kit.i18n import moment, translate
from libcard.notify.models import OutboundMail
from libcard.patrons.service import get_patron
from libcard.policy.rules import BlockCode
from libcard.runtime import Runtime
from tests.conftest import PatronHandle, World

ADDRESS = "karen.holm@example.org"
WRONG = "9137"


async def outbox(runtime: Runtime) -> list[OutboundMail]:
    async with runtime.unit(readonly=True) as ctx:
        return list(await ctx.session.scalars(select(OutboundMail).order_by(OutboundMail.id)))


async def _patron(world: World, language: str = "en", **fields: object) -> PatronHandle:
    fields.setdefault("email", ADDRESS)
    return await world.patron(
        "external", preferred_language=language, last_name="Holm", physical=True, **fields
    )


async def _card(world: World, patron: PatronHandle, number: str) -> Card:
    async with world.runtime.unit() as ctx:
        [card] = [c for c in await cards_of(ctx, patron.id) if c.number == number]
        return card


async def _change_pin(world: World, patron: PatronHandle, new_pin: str = "7391") -> None:
    async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=patron.id)) as ctx:
        await change_pin(ctx, patron.id, patron.password, new_pin)


async def _lock(world: World, patron: PatronHandle) -> None:
    for _ in range(3):
        async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
            await verify_pin(ctx, patron.ecard, WRONG)


def _lines(mail: OutboundMail) -> list[str]:
    return mail.body.splitlines()


# --- PIN ------------------------------------------------------------------------------------


async def test_activation_sends_no_pin_mail(world: World) -> None:
    """The first PIN is chosen at activation: that is no change to tell of."""
    await _patron(world)
    assert await outbox(world.runtime) == []


async def test_a_changed_pin_mails_the_patron_once_in_their_language(
    world: World, clock: FrozenClock
) -> None:
    patron = await _patron(world, "da")
    await _change_pin(world, patron, "7391")
    [mail] = await outbox(world.runtime)
    assert (mail.template, mail.to_address, mail.language) == ("pin_changed", ADDRESS, "da")
    assert mail.patron_id == patron.id
    assert mail.subject == translate(
        "da",
        "The PIN of your library account at %(institution_name)s was changed",
        institution_name="Nordby Library",
    )
    assert moment(clock.now(), "da") in mail.body  # "5. jan. 2026 10.00.00", local time
    assert "7391" not in mail.body
    assert patron.password not in mail.body


async def test_a_refused_pin_change_mails_nothing(world: World) -> None:
    patron = await _patron(world)
    with pytest.raises(WrongSecret):
        async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=patron.id)) as ctx:
            await change_pin(ctx, patron.id, "Not-The-Password-1", "7391")
    assert await outbox(world.runtime) == []


async def test_a_pin_change_that_rolls_back_mails_nothing(world: World) -> None:
    patron = await _patron(world)

    async def change_then_fail() -> None:
        async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=patron.id)) as ctx:
            await change_pin(ctx, patron.id, patron.password, "7391")
            raise RuntimeError("the unit fails after the change")

    with pytest.raises(RuntimeError):
        await change_then_fail()
    assert await outbox(world.runtime) == []


async def test_the_pin_lockout_and_its_lifting_are_mailed_once_each(world: World) -> None:
    patron = await _patron(world, "de")
    for _ in range(2):
        async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
            await verify_pin(ctx, patron.ecard, WRONG)
    assert await outbox(world.runtime) == []  # two wrong PINs block nothing yet

    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        assert (await verify_pin(ctx, patron.ecard, WRONG)).locked
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        await verify_pin(ctx, patron.ecard, WRONG)  # while locked: no second mail
    [placed] = await outbox(world.runtime)
    assert (placed.template, placed.to_address, placed.language) == ("block_placed", ADDRESS, "de")
    lines = _lines(placed)
    why = (
        translate("de", TITLES[BlockCode.PIN_LOCKED])
        + ". "
        + translate("de", REASONS[BlockCode.PIN_LOCKED], limit=3)
    )
    assert why in lines
    assert translate("de", LIFTS[BlockCode.PIN_LOCKED]) in lines
    assert WRONG not in placed.body

    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await unlock_pin(ctx, patron.id, "passport")
    placed_again, lifted = await outbox(world.runtime)
    assert placed_again.id == placed.id
    assert (lifted.template, lifted.to_address, lifted.language) == ("block_lifted", ADDRESS, "de")
    assert translate("de", TITLES[BlockCode.PIN_LOCKED]) + "." in _lines(lifted)


# --- lost and stolen cards ------------------------------------------------------------------


async def test_a_card_reported_lost_is_mailed_with_its_last_digits_only(
    world: World, clock: FrozenClock
) -> None:
    patron = await _patron(world, "de")
    assert patron.physical is not None
    card = await _card(world, patron, patron.physical)
    async with world.runtime.unit(world.actor(ActorKind.PATRON, patron_id=patron.id)) as ctx:
        await report_lost(ctx, card.id)
    [mail] = await outbox(world.runtime)
    assert (mail.template, mail.to_address, mail.language) == ("card_reported_lost", ADDRESS, "de")
    assert patron.physical[-4:] in mail.body
    assert patron.physical not in mail.body
    assert patron.ecard not in mail.body
    assert moment(clock.now(), "de") in mail.body


async def test_a_lost_e_card_is_mailed_without_its_new_number(world: World) -> None:
    patron = await _patron(world)
    card = await _card(world, patron, patron.ecard)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await report_lost(ctx, card.id)
        numbers = [c.number for c in await cards_of(ctx, patron.id) if c.number]
    [mail] = await outbox(world.runtime)
    assert mail.template == "card_reported_lost"
    assert f"ending in {patron.ecard[-4:]} " in mail.body
    for number in numbers:
        assert number not in mail.body


async def test_a_card_marked_stolen_is_mailed_unless_it_was_reported_lost_before(
    world: World,
) -> None:
    patron = await _patron(world)
    assert patron.physical is not None
    physical = await _card(world, patron, patron.physical)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await mark_stolen(ctx, physical.id, "passport", "seen at the desk")
    [stolen] = await outbox(world.runtime)
    assert stolen.template == "card_reported_lost"
    assert patron.physical[-4:] in stolen.body

    ecard = await _card(world, patron, patron.ecard)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await report_lost(ctx, ecard.id)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await mark_stolen(ctx, ecard.id, "passport")
    assert [m.template for m in await outbox(world.runtime)] == ["card_reported_lost"] * 2


async def test_a_patron_without_an_address_gets_no_mail_and_the_change_stands(
    world: World,
) -> None:
    patron = await _patron(world, email=None)
    assert patron.physical is not None
    card = await _card(world, patron, patron.physical)
    await _change_pin(world, patron)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await report_lost(ctx, card.id)
        await place_staff_block(ctx, patron.id, "Unreturned laptop")
    await _lock(world, patron)
    assert await outbox(world.runtime) == []
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        blocks, _, _ = await account_blocks(ctx, await get_patron(ctx, patron.id))
        assert {b.code for b in blocks} == {BlockCode.STAFF, BlockCode.PIN_LOCKED}
        assert [c.state for c in await cards_of(ctx, patron.id) if c.id == card.id] == ["lost"]


async def test_the_institutional_address_is_used_when_there_is_no_private_one(
    world: World,
) -> None:
    patron = await world.patron(
        "student", institutional_email="s123456@student.example.org", preferred_language="en"
    )
    await _change_pin(world, patron)
    [mail] = await outbox(world.runtime)
    assert mail.to_address == "s123456@student.example.org"


# --- stored blocks --------------------------------------------------------------------------


async def test_a_staff_block_is_mailed_when_placed_and_when_lifted(world: World) -> None:
    patron = await _patron(world, "da")
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        block = await place_staff_block(ctx, patron.id, "Unreturned laptop")
    [placed] = await outbox(world.runtime)
    assert (placed.template, placed.to_address, placed.language) == ("block_placed", ADDRESS, "da")
    title = translate("da", TITLES[BlockCode.STAFF])
    reason = translate("da", REASONS[BlockCode.STAFF], reason="Unreturned laptop")
    assert f"{title}. {reason}" in _lines(placed)
    assert translate("da", LIFTS[BlockCode.STAFF]) in _lines(placed)

    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await lift_block(ctx, block.id, "laptop returned")
    _, lifted = await outbox(world.runtime)
    assert (lifted.template, lifted.to_address, lifted.language) == ("block_lifted", ADDRESS, "da")
    assert f"{title}. {reason}" in _lines(lifted)  # which block it was, in the staff's words


async def test_a_staff_block_with_an_end_date_says_when_it_ends(
    world: World, clock: FrozenClock
) -> None:
    patron = await _patron(world)
    ends = clock.now() + timedelta(days=14)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, patron.id, "Noise in the reading room", ends_at=ends)
    [placed] = await outbox(world.runtime)
    assert "The block ends on 19 January 2026. Contact the lending desk with any questions." in (
        _lines(placed)
    )


async def test_lifting_a_block_that_ran_out_mails_nothing(world: World, clock: FrozenClock) -> None:
    """A staff block stops holding at its end date; lifting it later changes nothing for the
    patron, so nothing is mailed."""
    patron = await _patron(world)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        block = await place_staff_block(
            ctx, patron.id, "Noise", ends_at=clock.now() + timedelta(days=1)
        )
    clock.advance(timedelta(days=2))
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await lift_block(ctx, block.id)
    assert [m.template for m in await outbox(world.runtime)] == ["block_placed"]


async def test_a_retained_card_is_mailed(world: World) -> None:
    patron = await _patron(world)
    card = await _card(world, patron, patron.ecard)
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        await retain_card(ctx, card.id, "Self-checkout 3, main library")
    [mail] = await outbox(world.runtime)
    assert mail.template == "block_placed"
    assert "Self-checkout 3, main library" in mail.body
    assert translate("en", LIFTS[BlockCode.CARD_RETAINED]) in _lines(mail)


async def test_a_block_placed_in_a_unit_that_rolls_back_mails_nothing(world: World) -> None:
    patron = await _patron(world)

    async def place_then_fail() -> None:
        async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
            await place_staff_block(ctx, patron.id, "Unreturned laptop")
            raise RuntimeError("the unit fails after the change")

    with pytest.raises(RuntimeError):
        await place_then_fail()
    assert await outbox(world.runtime) == []
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        blocks, _, _ = await account_blocks(ctx, await get_patron(ctx, patron.id))
        assert blocks == []


# --- mail_block_changes, as payments and collection call it ---------------------------------


async def _blocks(world: World, patron: PatronHandle) -> list[Block]:
    async with world.runtime.unit() as ctx:
        blocks, _, _ = await account_blocks(ctx, await get_patron(ctx, patron.id))
        return blocks


async def test_a_derived_block_is_mailed_with_the_amount_in_the_patrons_language(
    world: World,
) -> None:
    patron = await _patron(world, "de")
    before = await _blocks(world, patron)
    async with world.runtime.unit() as ctx:
        await charge(ctx, patron.id, FeeType.OVERDUE, 25000, "Overdue: Sult")
        account = await get_patron(ctx, patron.id)
        after, policy, _ = await account_blocks(ctx, account)
        await mail_block_changes(ctx, account, before, after)
        [fee_block] = after
        text = describe(fee_block, policy, "de", "Europe/Copenhagen")
    [mail] = await outbox(world.runtime)
    assert (mail.template, mail.language) == ("block_placed", "de")
    assert f"{text.title}. {text.reason}" in _lines(mail)  # "… 250,00 DKK; die Grenze …"
    assert text.lift in _lines(mail)

    # More debt changes the amount, not the block: no mail. Paying it off lifts it: one mail.
    async with world.runtime.unit() as ctx:
        account = await get_patron(ctx, patron.id)
        await charge(ctx, patron.id, FeeType.OVERDUE, 1000, "Overdue: Pan")
        more, _, _ = await account_blocks(ctx, account)
        await mail_block_changes(ctx, account, after, more)
        await mail_block_changes(ctx, account, more, [])
    _, lifted = await outbox(world.runtime)
    assert lifted.template == "block_lifted"
    assert f"{text.title}." in _lines(lifted)


async def test_no_change_in_blocks_mails_nothing(world: World) -> None:
    patron = await _patron(world)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, patron.id, "one")
        await place_staff_block(ctx, patron.id, "two")
    blocks = await _blocks(world, patron)
    async with world.runtime.unit() as ctx:
        account = await get_patron(ctx, patron.id)
        await mail_block_changes(ctx, account, blocks, list(reversed(blocks)))
        await mail_block_changes(ctx, account, [], [])
        # Two staff blocks are told apart by their row: lifting one mails one.
        await mail_block_changes(ctx, account, blocks, blocks[1:])
    mails = await outbox(world.runtime)
    assert [m.template for m in mails] == ["block_placed", "block_placed", "block_lifted"]
    assert "Reason: one" in _lines(mails[-1])[3]
