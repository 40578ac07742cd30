"""Items and loans: import, checkout, checkin and renewal, and the rule that refuses each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from libcard.audit.models import AuditEvent
from libcard.blocks.service import place_staff_block
from libcard.cards.service import find_card, report_lost
from libcard.context import Actor, ActorKind
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from libcard.fees.rules import FeeType
from libcard.fees.service import charge
from libcard.kit.clock import FrozenClock
from libcard.loans.models import Item, Loan
from libcard.loans.service import (
    ImportReport,
    checkin,
    checkout,
    create_item,
    get_item_by_barcode,
    import_items_csv,
    loans_of,
    renew,
    update_item,
)
from libcard.policy.branches import create_branch
from libcard.policy.models import Branch, PatronGroup
from tests.conftest import PatronHandle, World

# The fixture clock starts at 2026-01-05 09:00 UTC, 10:00 in Copenhagen.
FIRST_DUE = datetime(2026, 2, 2, 22, 59, 59, tzinfo=UTC)  # 28 days on, 23:59:59 local


async def _branch(world: World, code: str = "main", name: str = "Main Library") -> Branch:
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        return await create_branch(ctx, world.institution_id, code=code, name=name)


async def _item(
    world: World, branch: Branch, barcode: str = "3800001", *, loanable: bool = True
) -> Item:
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        return await create_item(
            ctx,
            world.institution_id,
            barcode=barcode,
            title=f"Book {barcode}",
            branch_id=branch.id,
            replacement_cost_minor=12000,
            loanable=loanable,
        )


def _terminal(world: World) -> Actor:
    return world.actor(ActorKind.TERMINAL)


async def _checkout(world: World, patron: PatronHandle, barcode: str = "3800001") -> Loan:
    assert patron.physical is not None
    async with world.runtime.unit(_terminal(world)) as ctx:
        return await checkout(ctx, patron.physical, barcode)


async def _renew(world: World, barcode: str = "3800001", actor: Actor | None = None) -> Loan:
    async with world.runtime.unit(actor or _terminal(world)) as ctx:
        return await renew(ctx, barcode)


async def _checkin(world: World, barcode: str = "3800001") -> Loan:
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        return await checkin(ctx, barcode)


async def _loans(world: World, patron_id: int, *, open_only: bool = True) -> list[Loan]:
    async with world.runtime.unit() as ctx:
        return await loans_of(ctx, patron_id, open_only=open_only)


async def _count(world: World, model: type[Loan] | type[Item]) -> int:
    async with world.runtime.unit() as ctx:
        return int(await ctx.session.scalar(select(func.count()).select_from(model)) or 0)


async def _loan_events(world: World) -> list[str]:
    async with world.runtime.unit() as ctx:
        query = select(AuditEvent.action).where(AuditEvent.action.like("loan:%"))
        return list((await ctx.session.scalars(query.order_by(AuditEvent.id))).all())


async def _set_group(world: World, group: str, **values: int) -> None:
    async with world.runtime.unit() as ctx:
        row = await ctx.session.get(PatronGroup, world.groups[group])
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


# Checkout


async def test_checkout_lends_the_item_until_the_end_of_the_local_day(world: World) -> None:
    branch = await _branch(world)
    item = await _item(world, branch)
    patron = await world.patron(physical=True)
    loan = await _checkout(world, patron)
    assert loan.due_at == FIRST_DUE
    assert (loan.patron_id, loan.item_id, loan.renewals, loan.returned_at) == (
        patron.id,
        item.id,
        0,
        None,
    )
    assert loan.branch_id == branch.id  # the terminal names no branch: the item's
    async with world.runtime.unit() as ctx:
        card = await find_card(ctx, patron.physical or "")
    assert loan.card_id == card.id
    assert [(x.id, x.due_at) for x in await _loans(world, patron.id)] == [(loan.id, FIRST_DUE)]
    assert await _loan_events(world) == ["loan:checkout"]


async def test_checkout_at_a_desk_records_the_desk_s_branch(world: World) -> None:
    main = await _branch(world)
    east = await _branch(world, "east", "East Branch")
    await _item(world, main)
    patron = await world.patron(physical=True)
    desk = world.actor(ActorKind.DESK, branch_id=east.id)
    async with world.runtime.unit(desk) as ctx:
        loan = await checkout(ctx, patron.ecard, "3800001")
    assert loan.branch_id == east.id


async def test_the_group_s_loan_period_sets_the_due_date(world: World) -> None:
    await _item(world, await _branch(world))
    await _set_group(world, "external", loan_days=14)
    patron = await world.patron(physical=True)
    loan = await _checkout(world, patron)
    assert loan.due_at == datetime(2026, 1, 19, 22, 59, 59, tzinfo=UTC)


async def test_a_fee_blocked_patron_cannot_borrow_and_nothing_is_stored(world: World) -> None:
    await _item(world, await _branch(world))
    patron = await world.patron(physical=True)
    async with world.runtime.unit() as ctx:  # SYSTEM
        await charge(ctx, patron.id, FeeType.OVERDUE, 22500, "Overdue fines")
    with pytest.raises(RuleViolation) as refused:
        await _checkout(world, patron)
    assert refused.value.code == "blocked"
    assert refused.value.details["block"] == "fee_threshold"
    assert refused.value.details["blocks"] == ["fee_threshold"]
    assert "unpaid fees" in refused.value.message
    assert await _loans(world, patron.id, open_only=False) == []
    assert await _count(world, Loan) == 0
    assert await _loan_events(world) == []


async def test_a_lost_card_is_refused_with_the_card_s_code(world: World) -> None:
    await _item(world, await _branch(world))
    patron = await world.patron(physical=True)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        card = await find_card(ctx, patron.physical or "")
        await report_lost(ctx, card.id)
    with pytest.raises(RuleViolation) as refused:
        await _checkout(world, patron)
    assert refused.value.code == "card_lost"
    assert await _count(world, Loan) == 0
    # The account's other card still lends.
    async with world.runtime.unit(_terminal(world)) as ctx:
        loan = await checkout(ctx, patron.ecard, "3800001")
    assert loan.patron_id == patron.id


async def test_unknown_and_not_loanable_items_are_refused(world: World) -> None:
    branch = await _branch(world)
    await _item(world, branch, "REF-1", loanable=False)
    patron = await world.patron(physical=True)
    with pytest.raises(NotFound) as unknown:
        await _checkout(world, patron, "NOPE-1")
    assert unknown.value.code == "item_not_found"
    with pytest.raises(RuleViolation) as reference:
        await _checkout(world, patron, "REF-1")
    assert reference.value.code == "item_not_loanable"
    assert await _count(world, Loan) == 0


async def test_an_item_on_loan_cannot_be_lent_again(world: World) -> None:
    await _item(world, await _branch(world))
    first = await world.patron(physical=True)
    second = await world.patron(physical=True)
    loan = await _checkout(world, first)
    with pytest.raises(Conflict) as elsewhere:
        await _checkout(world, second)
    assert elsewhere.value.code == "item_on_loan"
    with pytest.raises(Conflict) as again:
        await _checkout(world, first)
    assert again.value.code == "item_on_loan_to_patron"
    assert [x.id for x in await _loans(world, first.id)] == [loan.id]
    assert await _loans(world, second.id) == []
    assert await _count(world, Loan) == 1


async def test_max_loans_stops_the_next_checkout(world: World) -> None:
    branch = await _branch(world)
    for barcode in ("A1", "A2", "A3"):
        await _item(world, branch, barcode)
    await _set_group(world, "external", max_loans=2)
    patron = await world.patron(physical=True)
    await _checkout(world, patron, "A1")
    await _checkout(world, patron, "A2")
    with pytest.raises(RuleViolation) as refused:
        await _checkout(world, patron, "A3")
    assert refused.value.code == "max_loans"
    assert len(await _loans(world, patron.id)) == 2
    await _checkin(world, "A1")
    await _checkout(world, patron, "A3")
    assert len(await _loans(world, patron.id)) == 2


async def test_racing_checkouts_respect_max_loans(world: World) -> None:
    branch = await _branch(world)
    for barcode in ("R1", "R2", "R3", "R4"):
        await _item(world, branch, barcode)
    await _set_group(world, "external", max_loans=1)
    patron = await world.patron(physical=True)
    results = await asyncio.gather(
        *(_checkout(world, patron, barcode) for barcode in ("R1", "R2", "R3", "R4")),
        return_exceptions=True,
    )
    lent = [r for r in results if isinstance(r, Loan)]
    refused = [r for r in results if isinstance(r, RuleViolation)]
    assert len(lent) == 1
    assert [r.code for r in refused] == ["max_loans"] * 3
    assert len(await _loans(world, patron.id)) == 1


async def test_only_lenders_lend(world: World) -> None:
    await _item(world, await _branch(world))
    patron = await world.patron(physical=True)
    for kind in (ActorKind.SERVICE, ActorKind.PATRON, ActorKind.REGISTRY):
        async with world.runtime.unit(world.actor(kind, patron_id=patron.id)) as ctx:
            with pytest.raises(Forbidden):
                await checkout(ctx, patron.ecard, "3800001")
    assert await _count(world, Loan) == 0


# Checkin


async def test_checkin_closes_the_loan_and_the_item_lends_again(
    world: World, clock: FrozenClock
) -> None:
    await _item(world, await _branch(world))
    patron = await world.patron(physical=True)
    other = await world.patron(physical=True)
    loan = await _checkout(world, patron)
    clock.advance(timedelta(days=3))
    closed = await _checkin(world)
    assert (closed.id, closed.returned_at) == (loan.id, clock.now())
    assert await _loans(world, patron.id) == []
    assert [x.id for x in await _loans(world, patron.id, open_only=False)] == [loan.id]
    with pytest.raises(Conflict) as refused:
        await _checkin(world)
    assert refused.value.code == "item_not_on_loan"
    again = await _checkout(world, other)
    assert again.id != loan.id
    assert await _loan_events(world) == ["loan:checkout", "loan:checkin", "loan:checkout"]


# Renewal


async def test_renew_extends_the_loan_until_max_renewals(world: World, clock: FrozenClock) -> None:
    await _item(world, await _branch(world))
    patron = await world.patron(physical=True)
    await _checkout(world, patron)
    # Renewed early: a full period on from the old due date.
    clock.advance(timedelta(days=10))
    first = await _renew(world)
    assert (first.renewals, first.due_at) == (1, FIRST_DUE + timedelta(days=28))
    # Renewed while overdue: a full period from today (2026-04-05, summer time in Copenhagen).
    clock.current = datetime(2026, 4, 5, 9, 0, tzinfo=UTC)
    second = await _renew(world)
    assert (second.renewals, second.due_at) == (2, datetime(2026, 5, 3, 21, 59, 59, tzinfo=UTC))
    third = await _renew(world)
    assert third.renewals == 3
    with pytest.raises(RuleViolation) as refused:
        await _renew(world)
    assert refused.value.code == "max_renewals"
    [loan] = await _loans(world, patron.id)
    assert (loan.renewals, loan.due_at) == (3, third.due_at)
    assert (await _loan_events(world)).count("loan:renew") == 3


async def test_renewing_an_item_not_on_loan_is_refused(world: World) -> None:
    await _item(world, await _branch(world))
    with pytest.raises(Conflict) as refused:
        await _renew(world)
    assert refused.value.code == "item_not_on_loan"


async def test_a_staff_blocked_patron_cannot_renew(world: World) -> None:
    await _item(world, await _branch(world))
    patron = await world.patron(physical=True)
    loan = await _checkout(world, patron)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, patron.id, "Damaged books not paid for")
    with pytest.raises(RuleViolation) as refused:
        await _renew(world)
    assert refused.value.code == "blocked"
    assert refused.value.details["block"] == "staff"
    [unchanged] = await _loans(world, patron.id)
    assert (unchanged.renewals, unchanged.due_at) == (0, loan.due_at)


async def test_a_patron_renews_their_own_loan_and_no_one_else_s(world: World) -> None:
    branch = await _branch(world)
    await _item(world, branch, "MINE-1")
    await _item(world, branch, "THEIRS-1")
    await _item(world, branch, "SHELF-1")
    me = await world.patron(physical=True)
    them = await world.patron(physical=True)
    await _checkout(world, me, "MINE-1")
    theirs = await _checkout(world, them, "THEIRS-1")
    actor = world.actor(ActorKind.PATRON, patron_id=me.id)
    renewed = await _renew(world, "MINE-1", actor)
    assert renewed.renewals == 1
    # Someone else's loan, an item on the shelf and an unknown barcode all answer alike.
    for barcode in ("THEIRS-1", "SHELF-1", "NOPE-1"):
        with pytest.raises(NotFound) as refused:
            await _renew(world, barcode, actor)
        assert refused.value.code == "loan_not_found"
    async with world.runtime.unit(actor) as ctx:
        with pytest.raises(NotFound):
            await renew(ctx, "MINE-1", patron_id=them.id)
    [still] = await _loans(world, them.id)
    assert (still.id, still.renewals, still.due_at) == (theirs.id, 0, theirs.due_at)


async def test_a_renewal_naming_another_patron_is_refused(world: World) -> None:
    await _item(world, await _branch(world))
    patron = await world.patron(physical=True)
    other = await world.patron(physical=True)
    await _checkout(world, patron)
    async with world.runtime.unit(_terminal(world)) as ctx:
        with pytest.raises(Conflict) as refused:
            await renew(ctx, "3800001", patron_id=other.id)
    assert refused.value.code == "item_on_loan"
    async with world.runtime.unit(_terminal(world)) as ctx:
        loan = await renew(ctx, "3800001", patron_id=patron.id)
    assert loan.renewals == 1


# Items


async def test_items_are_kept_per_institution(world: World) -> None:
    branch = await _branch(world)
    item = await _item(world, branch)
    with pytest.raises(Conflict) as taken:
        await _item(world, branch)
    assert taken.value.code == "item_exists"
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        with pytest.raises(InvalidInput) as bad:
            await create_item(
                ctx,
                world.institution_id,
                barcode="has space",
                title="A book",
                branch_id=branch.id,
                replacement_cost_minor=100,
            )
        assert bad.value.code == "item_barcode"
        changed = await update_item(ctx, item.id, title="  A  new   title ", loanable=False)
        assert (changed.title, changed.loanable) == ("A new title", False)
        assert (await get_item_by_barcode(ctx, " 3800001 ")).id == item.id
    async with world.runtime.unit(world.actor(ActorKind.PATRON)) as ctx:
        with pytest.raises(Forbidden):
            await update_item(ctx, item.id, title="Mine now")


CSV_TEXT = """barcode;title;branch_code;replacement_cost;loanable
3800001;The Little Mermaid;main;120,00;yes
3800002;Danish Grammar;east;349.50;no
3800003;The Ugly Duckling;MAIN;0;1
"""


async def _import(world: World, text: str) -> ImportReport:
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        return await import_items_csv(ctx, world.institution_id, text)


async def _items(world: World) -> dict[str, tuple[str, int, int, bool]]:
    async with world.runtime.unit() as ctx:
        rows = await ctx.session.scalars(select(Item).order_by(Item.barcode))
        return {
            i.barcode: (i.title, i.branch_id, i.replacement_cost_minor, i.loanable) for i in rows
        }


async def test_csv_import_creates_then_updates_and_a_second_run_changes_nothing(
    world: World,
) -> None:
    main = await _branch(world)
    east = await _branch(world, "east", "East Branch")
    report = await _import(world, CSV_TEXT)
    assert (report.created, report.updated, report.unchanged, report.errors) == (3, 0, 0, [])
    assert await _items(world) == {
        "3800001": ("The Little Mermaid", main.id, 12000, True),
        "3800002": ("Danish Grammar", east.id, 34950, False),
        "3800003": ("The Ugly Duckling", main.id, 0, True),
    }
    again = await _import(world, CSV_TEXT)
    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 3, [])
    # Commas separate columns here, so the comma decimal is quoted.
    changed = await _import(
        world,
        "barcode,title,branch_code,replacement_cost,loanable\n"
        '3800002,Danish Grammar,main,"400,00",true\n'
        "3800004,New Book,east,99.95,false\n",
    )
    assert (changed.created, changed.updated, changed.unchanged) == (1, 1, 0)
    items = await _items(world)
    assert items["3800002"] == ("Danish Grammar", main.id, 40000, True)
    assert items["3800004"] == ("New Book", east.id, 9995, False)
    async with world.runtime.unit() as ctx:
        actions = list(
            (
                await ctx.session.scalars(
                    select(AuditEvent.action).where(AuditEvent.action.like("item:%"))
                )
            ).all()
        )
    assert actions.count("item:create") == 4
    assert actions.count("item:update") == 1
    assert actions.count("item:import") == 2  # the run that changed nothing wrote nothing


async def test_csv_import_reports_broken_rows_and_applies_the_rest(world: World) -> None:
    await _branch(world)
    report = await _import(
        world,
        "barcode;title;branch_code;replacement_cost;loanable\n"
        "B1;Good Book;main;120,00;yes\n"
        "B2;No Branch;attic;120,00;yes\n"
        "B3;Bad Cost;main;12x;yes\n"
        "B4;Too Precise;main;1,005;yes\n"
        "B5;Both Marks;main;1.200,00;yes\n"
        "B6;Maybe;main;10;perhaps\n"
        "bad barcode;Spaces;main;10;yes\n"
        "B7;;main;10;yes\n"
        "B8;Short row;main\n"
        "B1;Twice;main;10;yes\n"
        "B9;Negative;main;-5;no\n"
        "B11;Typo Millions;main;30000000,00;yes\n"
        "B10;Fine Too;main;5;no\n",
    )
    assert (report.created, report.updated) == (2, 0)
    assert report.errors == [
        (3, "branch_not_found", "No branch with the code 'attic'."),
        (4, "invalid_amount", report.errors[1][2]),
        (5, "invalid_amount", report.errors[2][2]),
        (6, "invalid_amount", report.errors[3][2]),
        (7, "item_loanable", report.errors[4][2]),
        (8, "item_barcode", report.errors[5][2]),
        (9, "item_title", report.errors[6][2]),
        (10, "csv_columns", report.errors[7][2]),
        (11, "duplicate_barcode", "The barcode 'B1' appears already on line 2."),
        (12, "item_replacement_cost", report.errors[9][2]),
        (13, "item_replacement_cost", report.errors[10][2]),
    ]
    assert all(message for _, _, message in report.errors)
    assert sorted(await _items(world)) == ["B1", "B10"]


async def test_csv_import_needs_the_header_and_staff(world: World) -> None:
    await _branch(world)
    with pytest.raises(InvalidInput) as refused:
        await _import(world, "barcode;title\nB1;Book\n")
    assert refused.value.code == "csv_header"
    with pytest.raises(InvalidInput) as empty:
        await _import(world, "\ufeff")  # a spreadsheet's empty export: its byte-order mark
    assert empty.value.code == "csv_header"
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        with pytest.raises(Forbidden):
            await import_items_csv(ctx, world.institution_id, CSV_TEXT)
    assert await _count(world, Item) == 0
