"""Cards and PINs through HTTP: PIN checks and lockout (R5, R6), lost, stolen, replaced (R10-12)."""

from __future__ import annotations

from typing import Any

import pytest

from libcard.access.scopes import Scope
from libcard.context import ActorKind
from tests.api.conftest import API, Api, assert_problem


async def _verify(api: Api, headers: dict[str, str], number: str, pin: str) -> dict[str, Any]:
    response = await api.client.post(
        f"{API}/cards/{number}/pin/verify", json={"pin": pin}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _terminal(api: Api) -> dict[str, str]:
    return await api.headers(ActorKind.TERMINAL, [Scope.PIN_VERIFY, Scope.CARDS_STATUS])


async def test_the_right_pin_is_valid(api: Api) -> None:
    patron = await api.world.patron(pin="4826")
    body = await _verify(api, await _terminal(api), patron.ecard, "4826")
    assert body == {
        "valid": True,
        "locked": False,
        "attempts_left": 3,
        "card_state": "active",
        "message": None,
    }


async def test_three_wrong_pins_lock_and_then_even_the_right_pin_fails(api: Api) -> None:
    patron = await api.world.patron(pin="4826")
    terminal = await _terminal(api)
    first = await _verify(api, terminal, patron.ecard, "0000")
    assert (first["valid"], first["locked"], first["attempts_left"]) == (False, False, 2)
    second = await _verify(api, terminal, patron.ecard, "1111")
    assert (second["valid"], second["locked"], second["attempts_left"]) == (False, False, 1)
    third = await _verify(api, terminal, patron.ecard, "2222")
    assert (third["valid"], third["locked"], third["attempts_left"]) == (False, True, 0)

    right = await api.client.post(
        f"{API}/cards/{patron.ecard}/pin/verify",
        json={"pin": "4826"},
        headers={**terminal, "Accept-Language": "en"},
    )
    body = right.json()
    assert body["valid"] is False
    assert body["locked"] is True
    assert "photo ID" in body["message"]


async def test_a_right_pin_resets_the_count(api: Api) -> None:
    patron = await api.world.patron(pin="4826")
    terminal = await _terminal(api)
    for _ in range(2):
        await _verify(api, terminal, patron.ecard, "0000")
    assert (await _verify(api, terminal, patron.ecard, "4826"))["valid"] is True
    assert (await _verify(api, terminal, patron.ecard, "0000"))["attempts_left"] == 2


async def test_the_lockout_covers_every_card_of_the_account(api: Api) -> None:
    patron = await api.world.patron(pin="4826", physical=True)
    assert patron.physical is not None
    terminal = await _terminal(api)
    for _ in range(3):
        await _verify(api, terminal, patron.physical, "0000")
    body = await _verify(api, terminal, patron.ecard, "4826")
    assert (body["valid"], body["locked"]) == (False, True)


async def test_the_desk_unlocks_with_a_photo_id(api: Api) -> None:
    patron = await api.world.patron(pin="4826")
    terminal = await _terminal(api)
    for _ in range(3):
        await _verify(api, terminal, patron.ecard, "0000")

    missing = await api.client.post(
        f"{API}/patrons/{patron.id}/pin/unlock", json={}, headers=api.desk
    )
    assert_problem(missing, 422, "invalid_request")
    unknown_kind = await api.client.post(
        f"{API}/patrons/{patron.id}/pin/unlock", json={"photo_id_kind": "selfie"}, headers=api.desk
    )
    assert_problem(unknown_kind, 422, "photo_id_required")
    assert (await _verify(api, terminal, patron.ecard, "4826"))["locked"] is True

    response = await api.client.post(
        f"{API}/patrons/{patron.id}/pin/unlock",
        json={"photo_id_kind": "passport", "note": "Checked at the main desk"},
        headers=api.desk,
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    body = await _verify(api, terminal, patron.ecard, "4826")
    assert (body["valid"], body["locked"]) == (True, False)

    audit = await api.client.get(
        f"{API}/audit", params={"patron_id": patron.id, "action": "pin:unlock"}, headers=api.admin
    )
    [event] = audit.json()
    assert event["details"]["photo_id_kind"] == "passport"
    assert event["actor_kind"] == "desk"

    again = await api.client.post(
        f"{API}/patrons/{patron.id}/pin/unlock",
        json={"photo_id_kind": "passport"},
        headers=api.desk,
    )
    assert_problem(again, 409, "pin_not_locked")


async def test_a_terminal_cannot_unlock_even_with_the_scope(api: Api) -> None:
    patron = await api.world.patron()
    terminal = await _terminal(api)
    for _ in range(3):
        await _verify(api, terminal, patron.ecard, "0000")
    sneaky = await api.headers(ActorKind.TERMINAL, [Scope.PIN_UNLOCK])
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/pin/unlock", json={"photo_id_kind": "passport"}, headers=sneaky
    )
    assert_problem(response, 403, "forbidden_unlock")
    assert (await _verify(api, terminal, patron.ecard, patron.pin))["locked"] is True


async def test_a_patron_token_cannot_check_pins(api: Api) -> None:
    patron = await api.world.patron()
    own = await api.headers(ActorKind.PATRON, [Scope.PIN_VERIFY], patron_id=patron.id)
    response = await api.client.post(
        f"{API}/cards/{patron.ecard}/pin/verify", json={"pin": patron.pin}, headers=own
    )
    assert_problem(response, 403, "forbidden_pin")


async def test_a_pin_check_on_a_not_activated_card(api: Api) -> None:
    patron = await api.world.patron(activate=False)
    response = await api.client.post(
        f"{API}/cards/{patron.ecard}/pin/verify",
        json={"pin": "2580"},
        headers={**(await _terminal(api)), "Accept-Language": "en"},
    )
    body = response.json()
    assert (body["valid"], body["card_state"]) == (False, "not_activated")
    assert "Activate now" in body["message"]


async def test_the_patron_changes_their_pin(api: Api) -> None:
    patron = await api.world.patron(pin="4826")
    own = await api.headers(ActorKind.PATRON, [Scope.PIN_CHANGE], patron_id=patron.id)
    wrong = await api.client.post(
        f"{API}/patrons/{patron.id}/pin",
        json={"password": "Not-The-Password-1", "new_pin": "7391"},
        headers=own,
    )
    assert wrong.status_code == 401
    trivial = await api.client.post(
        f"{API}/patrons/{patron.id}/pin",
        json={"password": patron.password, "new_pin": "7777"},
        headers=own,
    )
    assert_problem(trivial, 422, "pin_trivial")
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/pin",
        json={"password": patron.password, "new_pin": "7391"},
        headers=own,
    )
    assert response.status_code == 204, response.text
    terminal = await _terminal(api)
    assert (await _verify(api, terminal, patron.ecard, "7391"))["valid"] is True
    assert (await _verify(api, terminal, patron.ecard, "4826"))["valid"] is False


async def test_report_lost_then_replace_charges_the_fee(api: Api) -> None:
    patron = await api.world.patron(physical=True)
    assert patron.physical is not None
    lost = await api.client.post(f"{API}/cards/{patron.physical}/report-lost", headers=api.desk)
    assert lost.status_code == 200, lost.text
    assert lost.json()["state"] == "lost"

    response = await api.client.post(
        f"{API}/cards/{patron.physical}/replace", json={}, headers=api.desk
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["old"]["state"] == "replaced"
    assert body["new"]["state"] == "active"
    assert body["new"]["kind"] == "physical"
    assert body["new"]["replaces_card_id"] == body["old"]["id"]
    assert body["fee"]["type"] == "card_replacement"
    assert body["fee"]["amount"] == {"amount_minor": 5000, "currency": "DKK", "amount": "50.00"}
    assert body["fee"]["outstanding"]["amount"] == "50.00"

    fees = (await api.client.get(f"{API}/patrons/{patron.id}/fees", headers=api.desk)).json()
    assert fees["balance"]["amount"] == "50.00"

    status = await api.client.get(f"{API}/cards/{body['new']['number']}/status", headers=api.admin)
    assert status.json()["usable"] is True
    old = await api.client.get(f"{API}/cards/{patron.physical}/status", headers=api.admin)
    assert old.json()["refusal"]["code"] == "card_replaced"

    cards = (await api.client.get(f"{API}/patrons/{patron.id}/cards", headers=api.desk)).json()
    assert {c["state"] for c in cards} == {"active", "replaced"}
    assert len(cards) == 3


async def test_an_employee_badge_is_replaced_without_a_fee(api: Api) -> None:
    patron = await api.world.patron("employee")
    issued = await api.client.post(
        f"{API}/patrons/{patron.id}/cards",
        json={"kind": "employee_badge", "number": "B0001234"},
        headers=api.desk,
    )
    assert issued.status_code == 201, issued.text
    response = await api.client.post(
        f"{API}/cards/B0001234/replace", json={"number": "B0001235"}, headers=api.desk
    )
    assert response.status_code == 201, response.text
    assert response.json()["fee"] is None


async def test_an_ecard_is_not_replaced_but_reported_lost(api: Api) -> None:
    patron = await api.world.patron()
    response = await api.client.post(
        f"{API}/cards/{patron.ecard}/replace", json={}, headers=api.desk
    )
    assert_problem(response, 409, "not_replaceable")
    lost = await api.client.post(f"{API}/cards/{patron.ecard}/report-lost", headers=api.desk)
    assert lost.status_code == 200
    cards = (await api.client.get(f"{API}/patrons/{patron.id}/cards", headers=api.desk)).json()
    fresh = [c for c in cards if c["kind"] == "ecard" and c["state"] == "active"]
    assert len(fresh) == 1
    assert fresh[0]["number"] != patron.ecard  # R3: there is always an e-card


async def test_a_lost_card_cannot_be_reported_lost_twice(api: Api) -> None:
    patron = await api.world.patron(physical=True)
    await api.client.post(f"{API}/cards/{patron.physical}/report-lost", headers=api.desk)
    again = await api.client.post(f"{API}/cards/{patron.physical}/report-lost", headers=api.desk)
    assert_problem(again, 409, "card_state_transition")


async def test_the_patron_reports_their_own_card_lost(api: Api) -> None:
    patron = await api.world.patron(physical=True)
    other = await api.world.patron(physical=True)
    own = await api.headers(ActorKind.PATRON, [Scope.CARDS_WRITE], patron_id=patron.id)
    response = await api.client.post(f"{API}/cards/{patron.physical}/report-lost", headers=own)
    assert response.status_code == 200, response.text
    response = await api.client.post(f"{API}/cards/{other.physical}/report-lost", headers=own)
    assert_problem(response, 404, "card_not_found")


async def test_mark_stolen_needs_the_desk_and_a_photo_id(api: Api) -> None:
    patron = await api.world.patron(physical=True)
    url = f"{API}/cards/{patron.physical}/mark-stolen"
    assert_problem(await api.client.post(url, json={}, headers=api.desk), 422, "invalid_request")
    own = await api.headers(ActorKind.PATRON, [Scope.CARDS_WRITE], patron_id=patron.id)
    response = await api.client.post(url, json={"photo_id_kind": "passport"}, headers=own)
    assert_problem(response, 403, "forbidden_stolen")
    response = await api.client.post(
        url, json={"photo_id_kind": "driving_licence"}, headers=api.desk
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "stolen"
    status = await api.client.get(f"{API}/cards/{patron.physical}/status", headers=api.admin)
    assert status.json()["refusal"]["code"] == "card_stolen"


async def test_students_get_no_physical_card(api: Api) -> None:
    student = await api.world.patron("student")
    response = await api.client.post(
        f"{API}/patrons/{student.id}/cards", json={"kind": "physical"}, headers=api.desk
    )
    assert_problem(response, 409, "physical_card_not_allowed")


async def test_issuing_refusals(api: Api, subtests: pytest.Subtests) -> None:
    patron = await api.world.patron()
    for body, status, code in (
        ({"kind": "physical", "number": "27700000000001"}, 422, "card_number_check_digit"),
        ({"kind": "physical", "number": "2770000000000"}, 422, "card_number_format"),
        ({"kind": "health_card"}, 422, "card_number_required"),
        ({"kind": "golden_ticket"}, 422, "invalid_request"),
        ({"kind": "student_id", "number": "!!!"}, 422, "card_number_format"),
        ({"kind": "ecard"}, 409, "ecard_exists"),
    ):
        with subtests.test(msg=str(body)):
            response = await api.client.post(
                f"{API}/patrons/{patron.id}/cards", json=body, headers=api.desk
            )
            assert_problem(response, status, code)


async def test_a_health_card_is_found_by_number_but_never_shown(api: Api) -> None:
    patron = await api.world.patron()
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/cards",
        json={"kind": "health_card", "number": "0101901234"},
        headers=api.desk,
    )
    assert response.status_code == 201, response.text
    assert response.json()["number"] is None
    status = await api.client.post(
        f"{API}/cards/status", json={"number": "010190-1234"}, headers=api.admin
    )
    assert status.status_code == 200, status.text
    assert status.json()["patron"]["id"] == patron.id
    assert "0101901234" not in status.text
