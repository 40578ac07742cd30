"""The registry feed through the service, on SQLite and PostgreSQL: what a registry run does
to students, and what it leaves alone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from libcard.cards.activation import activate
from libcard.cards.models import Card
from libcard.context import ActorKind
from libcard.errors import Forbidden
from libcard.kit.clock import FrozenClock
from libcard.notify.models import OutboundMail
from libcard.patrons.service import update_patron
from libcard.sync.registry import FileFormat
from tests.conftest import World
from tests.sync.helpers import count_students, csv_of, run, student

ANNA = "S1001;Anna;Berg;2004-05-17;anna@stud.nordby.example;Aarhus;"
BO = "S1002;Bo;Dahl;2003-01-02;bo@stud.nordby.example;Odense;"


async def test_new_students_get_an_ecard_and_a_mailed_code_that_activates(
    world: World,
) -> None:
    summary = await run(world, csv_of(ANNA, BO))
    assert (summary.created, summary.updated, summary.refused_count) == (2, 0, 0)
    anna = await student(world, "S1001")
    assert anna is not None
    assert anna.institutional_email == "anna@stud.nordby.example"
    assert anna.city == "Aarhus"
    async with world.runtime.unit() as ctx:
        card = await ctx.session.scalar(select(Card).where(Card.patron_id == anna.id))
        mail = await ctx.session.scalar(
            select(OutboundMail).where(OutboundMail.patron_id == anna.id)
        )
    assert card is not None
    assert card.kind == "ecard"
    assert card.state == "not_activated"
    assert mail is not None
    assert mail.to_address == "anna@stud.nordby.example"
    assert card.number is not None
    assert card.number in mail.body
    found = re.search(r"\b([A-Z0-9]{10})\b", mail.body.replace(card.number, ""))
    assert found is not None
    async with world.runtime.unit() as ctx:
        activated = await activate(ctx, card.number, found.group(1), "Reading-Room-42", "2580")
    assert activated.activated_at is not None


async def test_the_same_file_twice_changes_nothing(world: World) -> None:
    body = csv_of(ANNA, BO)
    await run(world, body, full=True)
    again = await run(world, body, full=True)
    assert again.changes == 0
    assert (again.unchanged, again.created, again.updated) == (2, 0, 0)


async def test_registry_fields_are_updated_and_jsonl_reads_the_same(world: World) -> None:
    await run(world, csv_of(ANNA))
    jsonl = (
        '{"registry_id": "S1001", "first_name": "Anna", "last_name": "Berg-Holm", '
        '"city": "Aalborg", "postal_code": 9000}\n'
    )
    summary = await run(world, jsonl, file_format=FileFormat.JSONL)
    assert (summary.updated, summary.refused_count) == (1, 0)
    anna = await student(world, "S1001")
    assert anna is not None
    assert (anna.last_name, anna.city, anna.postal_code) == ("Berg-Holm", "Aalborg", "9000")
    # Columns the file does not have are left as they were.
    assert anna.institutional_email == "anna@stud.nordby.example"


async def test_broken_rows_are_refused_with_their_lines_and_the_rest_applies(
    world: World,
) -> None:
    taken = await world.patron("external", email="taken@stud.nordby.example")
    assert taken.id
    body = csv_of(
        ANNA,
        "S1003;Cai;Lund;17-05-2004;cai@stud.nordby.example;Vejle;",  # bad date
        ";Dea;Moe;2004-01-01;dea@stud.nordby.example;Vejle;",  # no registry id
        "S1001;Anna;Again;2004-05-17;anna2@stud.nordby.example;Aarhus;",  # duplicate
        "S1004;Eva;Nor;2004-01-01;taken@stud.nordby.example;Vejle;",  # e-mail in use
        BO,
    )
    summary = await run(world, body, batch_size=2)  # a duplicate across batches, too
    assert summary.created == 2
    refused = {(r.line, r.code) for r in summary.refused}
    assert refused == {
        (3, "birth_date_format"),
        (4, "registry_id_missing"),
        (5, "duplicate_registry_id"),
        (6, "email_in_use"),
    }
    anna = await student(world, "S1001")
    assert anna is not None
    assert anna.last_name == "Berg"
    assert await student(world, "S1003") is None


async def test_a_dry_run_reports_and_changes_nothing(world: World) -> None:
    summary = await run(world, csv_of(ANNA, BO), dry_run=True)
    assert summary.created == 2
    assert await count_students(world) == 0
    async with world.runtime.unit() as ctx:
        assert await ctx.session.scalar(select(OutboundMail.id)) is None


async def test_missing_students_expire_after_the_grace_period_and_come_back(
    world: World, clock: FrozenClock
) -> None:
    await run(world, csv_of(ANNA, BO), full=True)
    first = await run(world, csv_of(BO), full=True)
    assert (first.missing, first.expired) == (1, 0)
    anna = await student(world, "S1001")
    assert anna is not None
    assert anna.registry_missing_since is not None
    assert anna.expires_at is None
    clock.advance(timedelta(days=29))
    assert (await run(world, csv_of(BO), full=True)).changes == 0
    clock.advance(timedelta(days=1))
    later = await run(world, csv_of(BO), full=True)
    assert (later.missing, later.expired) == (0, 1)
    anna = await student(world, "S1001")
    assert anna is not None
    assert anna.expires_at == clock.now()
    # Expired, never deleted; a run that is not full leaves the missing alone.
    assert (await run(world, csv_of(BO))).changes == 0
    back = await run(world, csv_of(ANNA, BO), full=True)
    assert (back.updated, back.returned) == (1, 1)
    anna = await student(world, "S1001")
    assert anna is not None
    assert anna.expires_at is None
    assert anna.registry_missing_since is None


async def test_valid_until_sets_the_end_of_the_account(world: World) -> None:
    await run(
        world, csv_of("S1001;Anna;Berg;2004-05-17;anna@stud.nordby.example;Aarhus;2027-06-30")
    )
    anna = await student(world, "S1001")
    assert anna is not None
    assert anna.expires_at is not None
    # Valid all of 30 June: expires at the next Copenhagen midnight.
    assert anna.expires_at.isoformat() == "2027-06-30T22:00:00+00:00"


async def test_the_portal_cannot_change_what_the_registry_owns(world: World) -> None:
    await run(world, csv_of(ANNA))
    anna = await student(world, "S1001")
    assert anna is not None
    patron_actor = world.actor(ActorKind.PATRON, patron_id=anna.id)
    for changes in ({"city": "Roskilde"}, {"institutional_email": "x@example.org"}):
        with pytest.raises(Forbidden):
            async with world.runtime.unit(patron_actor) as ctx:
                await update_patron(ctx, anna.id, changes)
    async with world.runtime.unit(patron_actor) as ctx:
        await update_patron(ctx, anna.id, {"preferred_language": "de"})
    # The registry's next run leaves the patron's own choice alone.
    assert (await run(world, csv_of(ANNA))).changes == 0
    anna = await student(world, "S1001")
    assert anna is not None
    assert anna.preferred_language == "de"


async def test_fields_the_registry_does_not_own_are_untouched(world: World) -> None:
    external = await world.patron("external", email="own@example.org", city="Ribe")
    async with world.runtime.unit() as ctx:
        await update_patron(ctx, external.id, {})
        from libcard.patrons.models import Patron

        patron = await ctx.session.get(Patron, external.id)
        assert patron is not None
        patron.registry_id = "S2001"
    body = "registry_id,first_name,last_name,city\nS2001,Other,Name,Esbjerg\n"
    summary = await run(world, body)
    assert summary.unchanged == 1
    async with world.runtime.unit() as ctx:
        patron = await ctx.session.get(Patron, external.id)
        assert patron is not None
        assert (patron.email, patron.city) == ("own@example.org", "Ribe")
        assert patron.first_name == "Karen"


async def test_a_crash_mid_run_leaves_nothing_of_the_run(world: World) -> None:
    rows = [f"S{3000 + n};First{n};Last{n};;s{n}@stud.nordby.example;;" for n in range(10)]

    def crash(done: int) -> None:
        if done >= 4:
            raise RuntimeError("the process died")

    with pytest.raises(RuntimeError):
        await run(world, csv_of(*rows), batch_size=2, on_progress=crash)
    assert await count_students(world) == 0
    async with world.runtime.unit() as ctx:
        assert await ctx.session.scalar(select(OutboundMail.id)) is None
    # Run again, it completes: every student once.
    assert (await run(world, csv_of(*rows), batch_size=2)).created == 10
    assert await count_students(world) == 10
