"""Who reaches the campus card routes, and which cards they reach: the campus card system's
own token, its own institution's employee badges, and nothing else."""

from __future__ import annotations

import pytest

from libcard.access.scopes import ALL_SCOPES, Scope
from libcard.accounts.service import register_patron
from libcard.cards.rules import CardKind
from libcard.cards.service import issue_card
from libcard.context import ActorKind
from libcard.errors import InvalidInput
from libcard.policy.service import create_group
from tests.api.conftest import API, assert_problem, bearer
from tests.campus.conftest import Campus


async def test_only_the_campus_card_token_with_its_scope_gets_in(campus: Campus) -> None:
    await campus.employee("E2001")
    await campus.link("E2001", "EB200100")
    api = campus.api

    wrong_scope = await api.headers(ActorKind.CAMPUS_CARD, [Scope.CARDS_WRITE])
    response = await campus.post("/badges/EB200100/lost", headers=wrong_scope)
    assert_problem(response, 403, "scope_missing")
    # An administrator's token has every scope, but the badges are the campus card system's.
    response = await campus.post("/badges/EB200100/lost", headers=api.admin)
    assert_problem(response, 403, "campus_card_token_required")
    # A campus card token speaks for one institution: none is made without one.
    with pytest.raises(InvalidInput) as refused:
        await api.token(ActorKind.CAMPUS_CARD, ALL_SCOPES, institution_id=None)
    assert refused.value.code == "token_actor"
    response = await campus.post("/badges/EB200100/lost", headers={})
    assert_problem(response, 401, "token_required")
    response = await campus.post("/badges/EB200100/lost", headers=bearer("lct_nothing"))
    assert response.status_code == 401

    assert (await campus.status("EB200100"))["usable"] is True


async def test_another_institutions_badge_is_not_there(campus: Campus) -> None:
    api = campus.api
    other = await api.other_institution()
    async with api.runtime.unit() as ctx:
        await create_group(ctx, other, code="employee", name="Employee")
        registration = await register_patron(
            ctx, other, "employee", {"first_name": "Sofie", "last_name": "Berg"}, identity_id="E9"
        )
        await issue_card(ctx, registration.patron.id, CardKind.EMPLOYEE_BADGE, number="SB900001")

    for path, json in (
        ("/badges/SB900001/lost", None),
        ("/badges/SB900001/blocked", None),
        ("/badges/SB900001/replacement", {"number": "SB900002"}),
    ):
        assert_problem(await campus.post(path, json), 404, "badge_not_found")
    assert_problem(
        await campus.post("/employees/E9/badges", {"number": "SB900003"}),
        404,
        "employee_not_found",
    )
    everywhere = await api.headers(ActorKind.ADMIN, institution_id=None)
    status = await api.client.get(f"{API}/cards/SB900001/status", headers=everywhere)
    # Untouched: still waiting for the account's activation, neither lost nor replaced.
    assert status.json()["card"]["state"] == "not_activated"
    assert len(await campus.cards(registration.patron.id)) == 2


async def test_a_students_card_is_not_the_campus_card_systems(campus: Campus) -> None:
    api = campus.api
    student = await campus.employee("S3001", group="student")
    async with api.runtime.unit(api.world.actor(ActorKind.REGISTRY)) as ctx:
        await issue_card(ctx, student.id, CardKind.STUDENT_ID, number="ST300001")

    for path in ("/badges/ST300001/lost", "/badges/ST300001/blocked"):
        body = assert_problem(await campus.post(path), 409, "not_an_employee_badge")
        assert "student_id" in body["detail"]
    replacement = await campus.post("/badges/ST300001/replacement", {"number": "ST300002"})
    assert_problem(replacement, 409, "not_an_employee_badge")
    # The e-card of the student is no badge either.
    assert_problem(await campus.post(f"/badges/{student.ecard}/lost"), 409, "not_an_employee_badge")
    # No first badge for a student found by an identity id.
    body = assert_problem(
        await campus.post("/employees/S3001/badges", {"number": "ST300003"}),
        409,
        "not_an_employee",
    )
    assert "student" in body["detail"]
    # Untouched: the registry's student ID waits for its activation, as before.
    assert (await campus.status("ST300001"))["card"]["state"] == "not_activated"
    assert (await campus.status(student.ecard))["usable"] is True


async def test_unknown_numbers_and_employees_are_not_found(campus: Campus) -> None:
    assert_problem(await campus.post("/badges/EB000404/lost"), 404, "badge_not_found")
    assert_problem(
        await campus.post("/employees/NOBODY/badges", {"number": "EB000405"}),
        404,
        "employee_not_found",
    )
    assert_problem(await campus.post("/badges/EB.1/lost"), 422, "card_number_format")
    empty = await campus.post("/employees/NOBODY/badges", {"number": ""})
    assert_problem(empty, 422)
    extra = await campus.post("/employees/NOBODY/badges", {"number": "EB1", "fee": 0})
    assert_problem(extra, 422)


async def test_the_routes_are_documented(campus: Campus) -> None:
    document = (await campus.api.client.get(f"{API}/openapi.json")).json()
    paths = {
        "/api/v1/campus/badges/{number}/lost",
        "/api/v1/campus/badges/{number}/blocked",
        "/api/v1/campus/badges/{number}/replacement",
        "/api/v1/campus/employees/{identity_id}/badges",
    }
    for path in paths:
        [operation] = document["paths"][path].values()
        assert operation["tags"] == ["campus card"]
        assert operation["description"]
        assert "403" in operation["responses"]
