"""PUT /patrons/{id}/group: a patron moves to another group and its policy follows (R8)."""

from __future__ import annotations

from libcard.context import ActorKind
from tests.api.conftest import API, Api, assert_problem


async def test_the_desk_moves_an_external_to_employees_and_ownership_follows(api: Api) -> None:
    patron = await api.world.patron("external")
    before = await api.client.get(f"{API}/patrons/{patron.id}", headers=api.desk)
    assert before.json()["fields"]["address"]["owner"] == "desk"

    moved = await api.client.put(
        f"{API}/patrons/{patron.id}/group", json={"group": "employee"}, headers=api.desk
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["group"] == "employee"
    assert moved.json()["fields"]["address"]["owner"] == "identity_portal"
    refused = await api.client.patch(
        f"{API}/patrons/{patron.id}", json={"street": "Nyvej 2"}, headers=api.desk
    )
    assert_problem(refused, 403, "field_not_yours")


async def test_a_patron_cannot_move_themselves_and_unknown_groups_are_named(api: Api) -> None:
    patron = await api.world.patron("external")
    own = await api.headers(ActorKind.PATRON, patron_id=patron.id)
    assert_problem(
        await api.client.put(
            f"{API}/patrons/{patron.id}/group", json={"group": "employee"}, headers=own
        ),
        403,
        "forbidden_group",
    )
    assert_problem(
        await api.client.put(
            f"{API}/patrons/{patron.id}/group", json={"group": "wizards"}, headers=api.desk
        ),
        404,
        "group_not_found",
    )
