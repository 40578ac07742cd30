"""Cards: numbers, kinds, lost (R10), stolen (R12), replaced (R11), health cards, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from libcard.accounts.service import card_status, replace_card
from libcard.audit.models import AuditEvent
from libcard.cards.models import Card
from libcard.cards.rules import CardKind, CardState, luhn_valid, make_card_number
from libcard.cards.service import cards_of, find_card, issue_card, mark_stolen, report_lost
from libcard.context import ActorKind
from libcard.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from libcard.fees.rules import FeeState, FeeType
from libcard.fees.service import balance_of, fees_of
from libcard.kit.clock import FrozenClock
from libcard.policy.rules import Action
from tests.conftest import World

ALL_FALSE = dict.fromkeys(Action, False)


async def _card_by_number(world: World, number: str) -> Card:
    async with world.runtime.unit() as ctx:
        return await find_card(ctx, number)


async def _events(world: World, action: str, patron_id: int) -> list[AuditEvent]:
    async with world.runtime.unit() as ctx:
        rows = await ctx.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.patron_id == patron_id)
            .order_by(AuditEvent.id)
        )
        return list(rows.all())


async def test_issued_numbers_carry_the_prefix_and_a_valid_check_digit(world: World) -> None:
    """Card numbers are institution prefix + serial + Luhn digit, 14 digits, all different."""
    patrons = [await world.patron("external", physical=True) for _ in range(3)]
    numbers = [p.ecard for p in patrons] + [p.physical for p in patrons if p.physical]
    assert len(numbers) == 6
    assert len(set(numbers)) == 6
    for number in numbers:
        assert number.startswith("2770")
        assert len(number) == 14
        assert number.isdigit()
        assert luhn_valid(number)


async def test_students_get_no_physical_card_but_externals_do(world: World) -> None:
    """R4: by default students use the e-card only; external users may hold a physical card."""
    student = await world.patron("student")
    external = await world.patron("external")
    desk = world.actor(ActorKind.DESK)
    with pytest.raises(RuleViolation) as refused:
        async with world.runtime.unit(desk) as ctx:
            await issue_card(ctx, student.id, CardKind.PHYSICAL)
    assert refused.value.code == "physical_card_not_allowed"
    async with world.runtime.unit(desk) as ctx:
        card = await issue_card(ctx, external.id, CardKind.PHYSICAL)
        assert card.number is not None
        number = card.number
    async with world.runtime.unit() as ctx:
        status = await card_status(ctx, number)
    assert status.refusal is None
    assert status.may[Action.BORROW] is True
    async with world.runtime.unit() as ctx:
        kinds = [c.kind for c in await cards_of(ctx, student.id)]
    assert kinds == [CardKind.ECARD]


async def test_a_lost_card_is_refused_while_the_ecard_keeps_working(world: World) -> None:
    """R10: once reported lost, that card number is refused everywhere; the account's e-card
    and other cards keep working."""
    patron = await world.patron("external", physical=True)
    assert patron.physical is not None
    physical = await _card_by_number(world, patron.physical)
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    async with world.runtime.unit(me) as ctx:
        await report_lost(ctx, physical.id)
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        lost = await card_status(ctx, patron.physical)
        ecard = await card_status(ctx, patron.ecard)
    assert lost.state is CardState.LOST
    assert lost.refusal == "card_lost"
    assert lost.may == ALL_FALSE
    assert ecard.refusal is None
    assert ecard.may[Action.BORROW] is True
    assert [e.subject_id for e in await _events(world, "card:report_lost", patron.id)] == [
        str(physical.id)
    ]


async def test_use_of_a_lost_card_is_logged_as_possible_misuse(world: World) -> None:
    """R10: the use of a lost card is logged and shown to staff as possible misuse."""
    patron = await world.patron("external", physical=True)
    assert patron.physical is not None
    physical = await _card_by_number(world, patron.physical)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await report_lost(ctx, physical.id)
    terminal = world.actor(ActorKind.TERMINAL)
    async with world.runtime.unit(terminal) as ctx:
        await card_status(ctx, patron.physical)
    [event] = await _events(world, "card:use_refused", patron.id)
    assert event.subject_kind == "card"
    assert event.subject_id == str(physical.id)
    assert event.actor_kind == ActorKind.TERMINAL
    assert event.details["possible_misuse"] is True
    assert event.details["state"] == "lost"


async def test_a_lost_ecard_is_replaced_by_a_new_active_ecard_at_once(world: World) -> None:
    """R3/R10: every patron has an e-card; reporting it lost gives a new number at once."""
    patron = await world.patron("external")
    old = await _card_by_number(world, patron.ecard)
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    async with world.runtime.unit(me) as ctx:
        await report_lost(ctx, old.id)
    async with world.runtime.unit() as ctx:
        cards = await cards_of(ctx, patron.id)
    assert [(c.id, c.state) for c in cards if c.id == old.id] == [(old.id, CardState.LOST)]
    [new] = [c for c in cards if c.id != old.id]
    assert new.kind == CardKind.ECARD
    assert new.state == CardState.ACTIVE
    assert new.replaces_card_id == old.id
    assert new.number is not None
    assert new.number != patron.ecard
    async with world.runtime.unit() as ctx:
        status = await card_status(ctx, new.number)
    assert status.refusal is None
    assert status.may[Action.BORROW] is True


async def test_marking_a_card_stolen_needs_the_desk_and_a_photo_id(world: World) -> None:
    """R12: on suspected misuse the desk marks a card stolen, with the patron in person
    showing photo ID; the kind of ID is recorded."""
    patron = await world.patron("external", physical=True)
    assert patron.physical is not None
    card = await _card_by_number(world, patron.physical)
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    async with world.runtime.unit(me) as ctx:
        await report_lost(ctx, card.id)
    for actor in (me, world.actor(ActorKind.TERMINAL)):
        with pytest.raises(Forbidden):
            async with world.runtime.unit(actor) as ctx:
                await mark_stolen(ctx, card.id, "passport")
    desk = world.actor(ActorKind.DESK)
    for bad in ("", "library_card", "PASSPORT"):
        with pytest.raises(InvalidInput) as refused:
            async with world.runtime.unit(desk) as ctx:
                await mark_stolen(ctx, card.id, bad)
        assert refused.value.code == "photo_id_required"
    assert (await _card_by_number(world, patron.physical)).state == CardState.LOST
    async with world.runtime.unit(desk) as ctx:
        await mark_stolen(ctx, card.id, "driving_licence", note="used at branch 2")
    async with world.runtime.unit() as ctx:
        status = await card_status(ctx, patron.physical)
    assert status.refusal == "card_stolen"
    assert status.may == ALL_FALSE
    [event] = await _events(world, "card:mark_stolen", patron.id)
    assert event.actor_kind == ActorKind.DESK
    assert event.details["photo_id_kind"] == "driving_licence"


async def test_replacing_an_externals_card_charges_the_fee(world: World) -> None:
    """R11: other groups get a new physical card at the desk for the policy's fee, charged to
    their account; the old card is replaced and refused from then on."""
    patron = await world.patron("external", physical=True)
    assert patron.physical is not None
    old = await _card_by_number(world, patron.physical)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await report_lost(ctx, old.id)
        replacement = await replace_card(ctx, old.id)
        new_number = replacement.new.number
    assert replacement.fee is not None
    assert new_number is not None
    assert new_number != patron.physical
    async with world.runtime.unit() as ctx:
        [view] = await fees_of(ctx, patron.id)
        balance = await balance_of(ctx, patron.id)
        old_status = await card_status(ctx, patron.physical)
        new_status = await card_status(ctx, new_number)
    assert view.fee.type == FeeType.CARD_REPLACEMENT
    assert (view.fee.amount_minor, view.fee.currency) == (5000, "DKK")
    assert view.fee.card_id == replacement.new.id
    assert view.status.state is FeeState.OPEN
    assert balance == 5000
    assert old_status.state is CardState.REPLACED
    assert old_status.refusal == "card_replaced"
    assert new_status.refusal is None
    assert new_status.card.replaces_card_id == old.id
    assert new_status.may[Action.BORROW] is True
    [event] = await _events(world, "card:replace", patron.id)
    assert (event.actor_kind, event.subject_id) == (ActorKind.DESK, str(old.id))
    assert event.details["new_card_id"] == replacement.new.id
    assert event.details["fee_id"] == view.fee.id


async def test_an_employee_badge_from_the_campus_system_costs_nothing(world: World) -> None:
    """R11: employees get a new badge from the campus card system, without a fee."""
    employee = await world.patron("employee")
    campus = world.actor(ActorKind.CAMPUS_CARD)
    async with world.runtime.unit(campus) as ctx:
        badge = await issue_card(ctx, employee.id, CardKind.EMPLOYEE_BADGE, number="EB-100234")
    async with world.runtime.unit(campus) as ctx:
        await report_lost(ctx, badge.id)
        replacement = await replace_card(ctx, badge.id, number="EB-100235")
    assert replacement.fee is None
    async with world.runtime.unit() as ctx:
        assert await balance_of(ctx, employee.id) == 0
        assert await fees_of(ctx, employee.id) == []
        old = await card_status(ctx, "EB100234")
        new = await card_status(ctx, "eb 100235")
    assert old.refusal == "card_replaced"
    assert new.refusal is None
    assert new.card.kind == CardKind.EMPLOYEE_BADGE
    assert new.may[Action.BORROW] is True


async def test_health_card_number_is_kept_only_as_a_digest(world: World) -> None:
    """Public libraries: the national health-insurance card is the library card; its number
    (a national id) is stored keyed-hashed, never in clear, and still found by number."""
    patron = await world.patron("external")
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        card = await issue_card(ctx, patron.id, CardKind.HEALTH_CARD, number="0101901234")
        card_id = card.id
    async with world.runtime.unit() as ctx:
        stored = await ctx.session.get(Card, card_id)
        assert stored is not None
        assert stored.number is None
        assert stored.number_digest is not None
        assert "0101901234" not in stored.number_digest
        status = await card_status(ctx, "0101 901234")
    assert status.card.id == card_id
    assert status.patron.id == patron.id
    assert status.refusal is None
    assert status.may[Action.BORROW] is True


async def test_a_mistyped_check_digit_is_named(world: World) -> None:
    """A number of the library's series with a wrong check digit is a typo, said as such."""
    patron = await world.patron("external")
    wrong = patron.ecard[:-1] + str((int(patron.ecard[-1]) + 1) % 10)
    with pytest.raises(InvalidInput) as refused:
        async with world.runtime.unit() as ctx:
            await card_status(ctx, wrong)
    assert refused.value.code == "card_number_check_digit"
    with pytest.raises(NotFound):
        async with world.runtime.unit() as ctx:
            await card_status(ctx, make_card_number("2770", 999_999_999, 14))


async def test_an_expired_card_is_refused(world: World, clock: FrozenClock) -> None:
    """A physical card past its expiry date is refused as expired; the e-card still works."""
    patron = await world.patron("external", physical=True)
    assert patron.physical is not None
    card = await _card_by_number(world, patron.physical)
    assert card.expires_at is not None
    clock.current = card.expires_at - timedelta(seconds=1)
    async with world.runtime.unit() as ctx:
        assert (await card_status(ctx, patron.physical)).refusal is None
    clock.current = card.expires_at + timedelta(days=1)
    async with world.runtime.unit() as ctx:
        expired = await card_status(ctx, patron.physical)
        ecard = await card_status(ctx, patron.ecard)
    assert expired.state is CardState.EXPIRED
    assert expired.refusal == "card_expired"
    assert expired.may == ALL_FALSE
    assert ecard.refusal is None


async def test_a_card_of_another_patron_is_not_found(world: World) -> None:
    """A patron-scoped actor cannot see or report another patron's card."""
    mine = await world.patron("external")
    theirs = await world.patron("external")
    their_card = await _card_by_number(world, theirs.ecard)
    me = world.actor(ActorKind.PATRON, patron_id=mine.id)
    with pytest.raises(NotFound):
        async with world.runtime.unit(me) as ctx:
            await report_lost(ctx, their_card.id)
    assert (await _card_by_number(world, theirs.ecard)).state == CardState.ACTIVE
