"""Patrons through HTTP: registration, field ownership (R8, R9), activation (R1, R2)."""

from __future__ import annotations

from typing import Any

import pytest

from libcard.access.scopes import Scope
from libcard.context import ActorKind
from tests.api.conftest import API, Api, assert_problem

PASSWORD = "Quiet-Reading-Room-7"


async def _register(api: Api, **body: Any) -> dict[str, Any]:
    payload = {"group": "external", "first_name": "Sofie", "last_name": "Vinter", **body}
    response = await api.client.post(
        f"{API}/institutions/{api.world.institution_id}/patrons", json=payload, headers=api.desk
    )
    assert response.status_code == 201, response.text
    registration: dict[str, Any] = response.json()
    return registration


async def test_registration_returns_the_ecard_and_an_activation_code(api: Api) -> None:
    registration = await _register(
        api,
        email="Sofie.Vinter@Example.org",
        street="Bibliotekvej 1",
        postal_code="8000",
        city="Aarhus",
        country="dk",
        activation_channel="letter",
    )
    patron, ecard = registration["patron"], registration["ecard"]
    assert patron["group"] == "external"
    assert patron["institution_id"] == api.world.institution_id
    assert patron["email"] == "sofie.vinter@example.org"
    assert patron["country"] == "DK"
    assert patron["activated"] is False
    assert ecard["kind"] == "ecard"
    assert ecard["state"] == "not_activated"
    assert ecard["number"].startswith("2770")
    assert len(ecard["number"]) == 14
    assert registration["activation_code"]

    # Without a channel there is no code yet.
    again = await _register(api, first_name="Ib", email="ib@example.org")
    assert again["activation_code"] is None


async def test_the_activation_code_is_shown_once(api: Api) -> None:
    registration = await _register(api, activation_channel="email", email="once@example.org")
    patron_id = registration["patron"]["id"]
    body = (await api.client.get(f"{API}/patrons/{patron_id}", headers=api.desk)).text
    assert registration["activation_code"] not in body


async def test_get_shows_who_owns_each_field(api: Api) -> None:
    external = await api.world.patron()
    response = await api.client.get(f"{API}/patrons/{external.id}", headers=api.desk)
    assert response.status_code == 200
    fields = response.json()["fields"]
    assert fields["address"] == {"owner": "desk", "editable_by_you": True}
    assert fields["name"] == {"owner": "desk", "editable_by_you": True}
    assert fields["email"] == {"owner": "patron", "editable_by_you": True}
    assert fields["preferred_language"]["owner"] == "patron"

    student = await api.world.patron("student")
    fields = (await api.client.get(f"{API}/patrons/{student.id}", headers=api.desk)).json()[
        "fields"
    ]
    assert fields["name"] == {"owner": "registry", "editable_by_you": False}
    assert fields["institutional_email"] == {"owner": "registry", "editable_by_you": False}
    assert fields["address"]["editable_by_you"] is False

    employee = await api.world.patron("employee")
    fields = (await api.client.get(f"{API}/patrons/{employee.id}", headers=api.desk)).json()[
        "fields"
    ]
    assert fields["name"] == {"owner": "identity_portal", "editable_by_you": False}


async def test_editable_by_you_follows_the_viewer(api: Api) -> None:
    external = await api.world.patron()
    own = await api.headers(ActorKind.PATRON, [Scope.PATRONS_READ], patron_id=external.id)
    fields = (await api.client.get(f"{API}/patrons/{external.id}", headers=own)).json()["fields"]
    assert fields["email"]["editable_by_you"] is True
    assert fields["address"]["editable_by_you"] is False


async def test_the_desk_changes_an_externals_address(api: Api) -> None:
    patron = await api.world.patron()
    response = await api.client.patch(
        f"{API}/patrons/{patron.id}",
        json={"street": "Nørregade 10", "postal_code": "1165", "city": "København K"},
        headers=api.desk,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["street"], body["postal_code"], body["city"]) == (
        "Nørregade 10",
        "1165",
        "København K",
    )
    again = (await api.client.get(f"{API}/patrons/{patron.id}", headers=api.desk)).json()
    assert again["street"] == "Nørregade 10"
    audit = await api.client.get(
        f"{API}/audit",
        params={"patron_id": patron.id, "action": "patron:update"},
        headers=api.admin,
    )
    [event] = audit.json()
    assert event["details"]["fields"] == ["city", "postal_code", "street"]
    assert event["actor_kind"] == "desk"


async def test_the_desk_cannot_rename_a_student(api: Api) -> None:
    student = await api.world.patron("student", first_name="Mads")
    response = await api.client.patch(
        f"{API}/patrons/{student.id}", json={"first_name": "Mats"}, headers=api.desk
    )
    body = assert_problem(response, 403, "field_not_yours")
    assert body["field"] == "name"
    assert body["owner"] == "registry"
    unchanged = (await api.client.get(f"{API}/patrons/{student.id}", headers=api.desk)).json()
    assert unchanged["first_name"] == "Mads"


async def test_the_registry_renames_a_student(api: Api) -> None:
    student = await api.world.patron("student")
    registry = await api.headers(ActorKind.REGISTRY, [Scope.PATRONS_WRITE])
    response = await api.client.patch(
        f"{API}/patrons/{student.id}", json={"first_name": "Mats"}, headers=registry
    )
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == "Mats"


async def test_the_desk_cannot_change_source_owned_fields(
    api: Api, subtests: pytest.Subtests
) -> None:
    employee = await api.world.patron("employee")
    student = await api.world.patron("student")
    for patron, change, owner in (
        (employee, {"city": "Odense"}, "identity_portal"),
        (employee, {"institutional_email": "new@nordby.dk"}, "identity_portal"),
        (student, {"institutional_email": "new@nordby.dk"}, "registry"),
        (student, {"birth_date": "2001-02-03"}, "registry"),
    ):
        with subtests.test(msg=f"{patron.id} {change}"):
            response = await api.client.patch(
                f"{API}/patrons/{patron.id}", json=change, headers=api.desk
            )
            assert assert_problem(response, 403, "field_not_yours")["owner"] == owner


async def test_a_patron_changes_their_email_but_not_their_address(api: Api) -> None:
    patron = await api.world.patron()
    own = await api.headers(
        ActorKind.PATRON, [Scope.PATRONS_READ, Scope.PATRONS_WRITE], patron_id=patron.id
    )
    response = await api.client.patch(
        f"{API}/patrons/{patron.id}", json={"email": "new.address@example.org"}, headers=own
    )
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "new.address@example.org"
    response = await api.client.patch(
        f"{API}/patrons/{patron.id}", json={"city": "Elsewhere"}, headers=own
    )
    assert_problem(response, 403, "field_not_yours")


async def test_invalid_personal_data_is_refused(api: Api, subtests: pytest.Subtests) -> None:
    patron = await api.world.patron()
    for change, code in (
        ({"email": "not-an-address"}, "email_format"),
        ({"email": "a@b"}, "email_format"),
        ({"country": "Denmark"}, "invalid_request"),
        ({"country": "1X"}, "country_format"),
        ({"preferred_language": "fr"}, "language"),
        ({"first_name": None}, "field_required"),
        ({"first_name": "   "}, "field_required"),
        ({"birth_date": "1990-02-30"}, "invalid_request"),
        ({"first_name": "x" * 101}, "invalid_request"),
        ({"phone": 12345678}, "invalid_request"),
    ):
        with subtests.test(msg=str(change)):
            response = await api.client.patch(
                f"{API}/patrons/{patron.id}", json=change, headers=api.desk
            )
            assert_problem(response, 422, code)


async def test_an_email_in_use_is_a_conflict(api: Api) -> None:
    await api.world.patron(email="taken@example.org")
    response = await api.client.post(
        f"{API}/institutions/{api.world.institution_id}/patrons",
        json={
            "group": "external",
            "first_name": "A",
            "last_name": "B",
            "email": "Taken@Example.org",
        },
        headers=api.desk,
    )
    assert_problem(response, 409, "email_in_use")


async def test_registration_refusals(api: Api) -> None:
    url = f"{API}/institutions/{api.world.institution_id}/patrons"
    response = await api.client.post(
        url, json={"group": "pirates", "first_name": "A", "last_name": "B"}, headers=api.desk
    )
    assert_problem(response, 404, "group_not_found")
    response = await api.client.post(
        url, json={"group": "external", "first_name": "", "last_name": "B"}, headers=api.desk
    )
    assert_problem(response, 422, "invalid_request")
    response = await api.client.post(
        url,
        json={"group": "external", "first_name": "A", "last_name": "B", "activation_channel": "x"},
        headers=api.desk,
    )
    assert_problem(response, 422, "invalid_request")
    terminal = await api.headers(ActorKind.TERMINAL, [Scope.PATRONS_WRITE])
    response = await api.client.post(
        url, json={"group": "external", "first_name": "A", "last_name": "B"}, headers=terminal
    )
    assert_problem(response, 403, "forbidden_create")


async def test_the_desk_cannot_register_a_student_with_a_name(api: Api) -> None:
    """Students' names come from the registry (R8): the desk cannot type one in."""
    response = await api.client.post(
        f"{API}/institutions/{api.world.institution_id}/patrons",
        json={"group": "student", "first_name": "A", "last_name": "B"},
        headers=api.desk,
    )
    assert_problem(response, 403, "field_not_yours")


async def test_search_finds_patrons_by_name_and_email(api: Api) -> None:
    wanted = await api.world.patron(first_name="Henrik", last_name="Pontoppidan")
    await api.world.patron(first_name="Karen", last_name="Blixen")
    url = f"{API}/institutions/{api.world.institution_id}/patrons"
    found = (await api.client.get(url, params={"name": "pontop"}, headers=api.desk)).json()
    assert [p["id"] for p in found] == [wanted.id]
    everyone = (await api.client.get(url, params={"limit": 1}, headers=api.desk)).json()
    assert len(everyone) == 1
    nobody = (await api.client.get(url, params={"name": "%"}, headers=api.desk)).json()
    assert isinstance(nobody, list)


async def test_activation_sets_password_and_pin(api: Api) -> None:
    registration = await _register(api, activation_channel="letter", email="act@example.org")
    number, code = registration["ecard"]["number"], registration["activation_code"]
    patron_id = registration["patron"]["id"]
    activation = await api.headers(ActorKind.SERVICE, [Scope.ACTIVATION])
    response = await api.client.post(
        f"{API}/activation",
        json={"card_number": number, "code": code, "password": PASSWORD, "pin": "4826"},
        headers=activation,
    )
    assert response.status_code == 200, response.text
    assert response.json()["patron_id"] == patron_id
    assert response.json()["activated_at"]

    patron = (await api.client.get(f"{API}/patrons/{patron_id}", headers=api.desk)).json()
    assert patron["activated"] is True
    terminal = await api.headers(ActorKind.TERMINAL, [Scope.PIN_VERIFY, Scope.CARDS_STATUS])
    check = await api.client.post(
        f"{API}/cards/{number}/pin/verify", json={"pin": "4826"}, headers=terminal
    )
    assert check.status_code == 200, check.text
    assert check.json()["valid"] is True
    status = await api.client.get(f"{API}/cards/{number}/status", headers=terminal)
    assert status.json()["usable"] is True

    # The code is used up: the account is activated already.
    again = await api.client.post(
        f"{API}/activation",
        json={"card_number": number, "code": code, "password": PASSWORD, "pin": "4826"},
        headers=activation,
    )
    assert_problem(again, 409, "already_activated")


async def test_a_wrong_activation_code_is_401(api: Api) -> None:
    registration = await _register(api, activation_channel="letter", email="wrong@example.org")
    number = registration["ecard"]["number"]
    activation = await api.headers(ActorKind.SERVICE, [Scope.ACTIVATION])
    response = await api.client.post(
        f"{API}/activation",
        json={"card_number": number, "code": "WRONG-CODE", "password": PASSWORD, "pin": "4826"},
        headers=activation,
    )
    assert_problem(response, 401, "activation_code_wrong")
    status = await api.client.get(f"{API}/cards/{number}/status", headers=api.admin)
    assert status.json()["refusal"]["code"] == "card_not_activated"


async def test_wrong_activation_codes_are_throttled(api: Api) -> None:
    registration = await _register(api, activation_channel="letter", email="many@example.org")
    number, code = registration["ecard"]["number"], registration["activation_code"]
    activation = await api.headers(ActorKind.SERVICE, [Scope.ACTIVATION])
    body = {"card_number": number, "code": "WRONG", "password": PASSWORD, "pin": "4826"}
    for _ in range(10):
        response = await api.client.post(f"{API}/activation", json=body, headers=activation)
        assert_problem(response, 401, "activation_code_wrong")
    response = await api.client.post(
        f"{API}/activation", json={**body, "code": code}, headers=activation
    )
    assert_problem(response, 429, "too_many_attempts")
    assert int(response.headers["retry-after"]) > 0


async def test_weak_choices_at_activation_cost_no_code(api: Api, subtests: pytest.Subtests) -> None:
    registration = await _register(api, activation_channel="letter", email="weak@example.org")
    number, secret = registration["ecard"]["number"], registration["activation_code"]
    activation = await api.headers(ActorKind.SERVICE, [Scope.ACTIVATION])
    for password, pin, code in (
        ("short", "4826", "password_too_short"),
        ("password123", "4826", "password_common"),
        ("Sofie-Vinter-Reads", "4826", "password_personal"),
        (PASSWORD, "1234", "pin_trivial"),
        (PASSWORD, "5555", "pin_trivial"),
        (PASSWORD, "12a4", "pin_format"),
        (PASSWORD, "482", "pin_format"),
    ):
        with subtests.test(msg=f"{password} {pin}"):
            response = await api.client.post(
                f"{API}/activation",
                json={"card_number": number, "code": secret, "password": password, "pin": pin},
                headers=activation,
            )
            assert_problem(response, 422, code)
    # The code still works with good choices.
    response = await api.client.post(
        f"{API}/activation",
        json={"card_number": number, "code": secret, "password": PASSWORD, "pin": "4826"},
        headers=activation,
    )
    assert response.status_code == 200, response.text


async def test_a_new_activation_code_replaces_the_old_one(api: Api) -> None:
    registration = await _register(api, activation_channel="letter", email="new@example.org")
    patron_id, number = registration["patron"]["id"], registration["ecard"]["number"]
    response = await api.client.post(
        f"{API}/patrons/{patron_id}/activation-codes", json={"channel": "email"}, headers=api.desk
    )
    assert response.status_code == 201, response.text
    fresh = response.json()
    assert fresh["channel"] == "email"
    activation = await api.headers(ActorKind.SERVICE, [Scope.ACTIVATION])
    old = await api.client.post(
        f"{API}/activation",
        json={
            "card_number": number,
            "code": registration["activation_code"],
            "password": PASSWORD,
            "pin": "4826",
        },
        headers=activation,
    )
    assert_problem(old, 401, "activation_code_wrong")
    new = await api.client.post(
        f"{API}/activation",
        json={"card_number": number, "code": fresh["code"], "password": PASSWORD, "pin": "4826"},
        headers=activation,
    )
    assert new.status_code == 200, new.text


async def test_password_change(api: Api) -> None:
    patron = await api.world.patron()
    own = await api.headers(ActorKind.PATRON, [Scope.PASSWORD], patron_id=patron.id)
    wrong = await api.client.post(
        f"{API}/patrons/{patron.id}/password",
        json={"current_password": "Not-The-Password-1", "new_password": "Another-Long-One-9"},
        headers=own,
    )
    assert wrong.status_code == 401, wrong.text
    assert wrong.headers["content-type"].startswith("application/problem+json")
    right = await api.client.post(
        f"{API}/patrons/{patron.id}/password",
        json={"current_password": patron.password, "new_password": "Another-Long-One-9"},
        headers=own,
    )
    assert right.status_code == 204, right.text
