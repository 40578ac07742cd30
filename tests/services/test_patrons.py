"""Patrons and who may change which personal field (patrons/service.py; R8, R9)."""

from __future__ import annotations

import pytest

from libcard.context import ActorKind
from libcard.errors import Conflict, Forbidden, NotFound
from libcard.patrons.service import get_patron, update_patron
from tests.conftest import World

ADDRESS = {"street": "Bogvej 7", "postal_code": "8000", "city": "Aarhus C", "country": "dk"}


async def _patron_fields(world: World, patron_id: int) -> dict[str, object]:
    async with world.runtime.unit() as ctx:
        patron = await get_patron(ctx, patron_id)
        return {
            column: getattr(patron, column)
            for column in (
                "first_name",
                "last_name",
                "email",
                "institutional_email",
                "street",
                "postal_code",
                "city",
                "country",
                "phone",
            )
        }


async def test_desk_changes_the_postal_address_of_an_external(world: World) -> None:
    """R8: for other groups the postal address is changed by staff at the lending desk."""
    patron = await world.patron("external")
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await update_patron(ctx, patron.id, ADDRESS)
    fields = await _patron_fields(world, patron.id)
    assert (fields["street"], fields["postal_code"], fields["city"], fields["country"]) == (
        "Bogvej 7",
        "8000",
        "Aarhus C",
        "DK",
    )


async def test_patron_changes_their_own_email_in_the_portal(world: World) -> None:
    """R8: the e-mail address of an external may be changed by the patron in the portal."""
    patron = await world.patron("external")
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    async with world.runtime.unit(me) as ctx:
        await update_patron(ctx, patron.id, {"email": "  Karen.New@Example.org "})
    assert (await _patron_fields(world, patron.id))["email"] == "karen.new@example.org"


async def test_patron_may_not_change_their_own_address(world: World) -> None:
    """R8: the postal address of an external is changed only by staff at the desk."""
    patron = await world.patron("external")
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    with pytest.raises(Forbidden) as refused:
        async with world.runtime.unit(me) as ctx:
            await update_patron(ctx, patron.id, {"street": "Anden Vej 1"})
    assert refused.value.code == "field_not_yours"
    assert refused.value.details["field"] == "address"
    assert (await _patron_fields(world, patron.id))["street"] is None


async def test_nobody_but_the_registry_changes_a_students_data(world: World) -> None:
    """R8: all of a student's personal data comes from the student registry; read-only here
    for the desk, administrators, the identity portal and the student."""
    student = await world.patron("student")
    before = await _patron_fields(world, student.id)
    for kind in (ActorKind.DESK, ActorKind.ADMIN, ActorKind.PATRON, ActorKind.IDENTITY_PORTAL):
        actor = world.actor(kind, patron_id=student.id if kind is ActorKind.PATRON else None)
        for change in (
            {"last_name": "Andersen"},
            {"street": "Campusvej 55"},
            {"phone": "12345678"},
        ):
            with pytest.raises(Forbidden) as refused:
                async with world.runtime.unit(actor) as ctx:
                    await update_patron(ctx, student.id, change)
            assert refused.value.code == "field_not_yours"
            assert refused.value.details["owner"] == "registry"
    assert await _patron_fields(world, student.id) == before


async def test_the_registry_changes_a_students_data(world: World) -> None:
    """R8: the student registry is the owner of students' personal data."""
    student = await world.patron("student")
    async with world.runtime.unit(world.actor(ActorKind.REGISTRY)) as ctx:
        await update_patron(
            ctx,
            student.id,
            {"last_name": "Andersen", "institutional_email": "ka123@student.nordby.dk"},
        )
    fields = await _patron_fields(world, student.id)
    assert fields["last_name"] == "Andersen"
    assert fields["institutional_email"] == "ka123@student.nordby.dk"


async def test_institutional_email_cannot_be_changed_here(world: World) -> None:
    """R9: the institutional e-mail of students and employees is set by their source system
    and can be changed by nobody in libcard — not even an administrator."""
    for group in ("student", "employee"):
        patron = await world.patron(group, institutional_email=f"kh@{group}.nordby.dk")
        for kind in (ActorKind.ADMIN, ActorKind.DESK, ActorKind.PATRON):
            actor = world.actor(kind, patron_id=patron.id if kind is ActorKind.PATRON else None)
            with pytest.raises(Forbidden) as refused:
                async with world.runtime.unit(actor) as ctx:
                    await update_patron(ctx, patron.id, {"institutional_email": "o@example.org"})
            assert refused.value.code == "field_not_yours"
        fields = await _patron_fields(world, patron.id)
        assert fields["institutional_email"] == f"kh@{group}.nordby.dk"


async def test_registry_cannot_change_an_externals_private_email(world: World) -> None:
    """R8/R9: the registry owns students' data only; an external's private e-mail is theirs."""
    patron = await world.patron("external")
    before = await _patron_fields(world, patron.id)
    with pytest.raises(Forbidden):
        async with world.runtime.unit(world.actor(ActorKind.REGISTRY)) as ctx:
            await update_patron(ctx, patron.id, {"email": "registry@example.org"})
    assert (await _patron_fields(world, patron.id))["email"] == before["email"]


async def test_a_refused_change_changes_nothing(world: World) -> None:
    """R8: a change with one field that is not the actor's is refused as a whole."""
    patron = await world.patron("external")
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    before = await _patron_fields(world, patron.id)
    with pytest.raises(Forbidden):
        async with world.runtime.unit(me) as ctx:
            await update_patron(
                ctx, patron.id, {"email": "mine@example.org", "phone": "+4511223344", **ADDRESS}
            )
    assert await _patron_fields(world, patron.id) == before


async def test_an_email_in_use_by_another_account_is_refused(world: World) -> None:
    """An e-mail address identifies one account of the library (password reset, R7), whether
    it is another patron's private or institutional address."""
    await world.patron("employee", institutional_email="taken@nordby.dk")
    await world.patron("external", email="first@example.org")
    patron = await world.patron("external")
    before = await _patron_fields(world, patron.id)
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    for taken in ("First@Example.org", "TAKEN@nordby.dk"):
        with pytest.raises(Conflict) as refused:
            async with world.runtime.unit(me) as ctx:
                await update_patron(ctx, patron.id, {"email": taken})
        assert refused.value.code == "email_in_use"
    assert await _patron_fields(world, patron.id) == before


async def test_a_patron_cannot_read_another_patron(world: World) -> None:
    """A patron-scoped actor sees only their own account; others answer NotFound, not
    Forbidden, so that ids cannot be probed."""
    mine = await world.patron("external")
    theirs = await world.patron("external")
    me = world.actor(ActorKind.PATRON, patron_id=mine.id)
    async with world.runtime.unit(me) as ctx:
        assert (await get_patron(ctx, mine.id)).id == mine.id
        with pytest.raises(NotFound):
            await get_patron(ctx, theirs.id)
    with pytest.raises(NotFound):
        async with world.runtime.unit(me) as ctx:
            await update_patron(ctx, theirs.id, {"email": "hijack@example.org"})
