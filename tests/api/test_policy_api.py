"""Policy through HTTP: administrators change it, the decisions follow at once (R4, R6, R14b)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libcard.access.scopes import Scope
from libcard.context import ActorKind
from tests.api.conftest import API, Api, assert_problem


async def _may_borrow(api: Api, number: str) -> bool:
    response = await api.client.get(f"{API}/cards/{number}/status", headers=api.admin)
    assert response.status_code == 200, response.text
    may: bool = response.json()["may"]["borrow"]
    return may


async def _charge(api: Api, patron_id: int, amount_minor: int) -> None:
    response = await api.client.post(
        f"{API}/patrons/{patron_id}/fees",
        json={"type": "overdue", "amount_minor": amount_minor, "description": "Overdue"},
        headers=api.desk,
    )
    assert response.status_code == 201, response.text


async def test_the_institution_policy_as_read(api: Api) -> None:
    response = await api.client.get(
        f"{API}/institutions/{api.world.institution_id}", headers=api.desk
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "nordby"
    assert body["card_prefix"] == "2770"
    assert body["max_wrong_pins"] == 3
    assert body["fee_block_threshold"] == {
        "amount_minor": 22_500,
        "currency": "DKK",
        "amount": "225.00",
    }
    assert body["fee_block_comparison"] == "ge"
    assert body["default_language"] == "da"


async def test_an_admin_lowers_the_fee_threshold_and_the_decision_follows(api: Api) -> None:
    patron = await api.world.patron()
    await _charge(api, patron.id, 15_000)
    assert await _may_borrow(api, patron.ecard) is True

    response = await api.client.patch(
        f"{API}/institutions/{api.world.institution_id}",
        json={"fee_block_threshold_minor": 10_000},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["fee_block_threshold"]["amount"] == "100.00"
    assert await _may_borrow(api, patron.ecard) is False
    status = await api.client.get(
        f"{API}/cards/{patron.ecard}/status", headers={**api.admin, "Accept-Language": "en"}
    )
    [block] = status.json()["blocks"]
    assert block["code"] == "fee_threshold"
    assert "100.00" in block["reason"]

    response = await api.client.patch(
        f"{API}/institutions/{api.world.institution_id}",
        json={"fee_block_threshold_minor": 20_000},
        headers=api.admin,
    )
    assert response.status_code == 200
    assert await _may_borrow(api, patron.ecard) is True


async def test_strictly_above_makes_the_threshold_itself_allowed(api: Api) -> None:
    patron = await api.world.patron()
    await _charge(api, patron.id, 22_500)
    assert await _may_borrow(api, patron.ecard) is False
    response = await api.client.patch(
        f"{API}/institutions/{api.world.institution_id}",
        json={"fee_block_comparison": "gt"},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    assert await _may_borrow(api, patron.ecard) is True


async def test_a_desk_token_cannot_change_policy(api: Api) -> None:
    url = f"{API}/institutions/{api.world.institution_id}"
    response = await api.client.patch(url, json={"fee_block_threshold_minor": 1}, headers=api.desk)
    assert_problem(response, 403, "forbidden_policy")
    scopeless = await api.headers(ActorKind.DESK, [Scope.POLICY_READ])
    response = await api.client.patch(url, json={"fee_block_threshold_minor": 1}, headers=scopeless)
    assert_problem(response, 403, "scope_missing")
    unchanged = (await api.client.get(url, headers=api.desk)).json()
    assert unchanged["fee_block_threshold"]["amount_minor"] == 22_500


async def test_an_institution_admin_cannot_change_another_institution(api: Api) -> None:
    theirs = await api.other_institution()
    response = await api.client.patch(
        f"{API}/institutions/{theirs}", json={"max_wrong_pins": 5}, headers=api.admin
    )
    assert_problem(response, 403, "forbidden_institution")


async def test_an_institution_admin_cannot_add_institutions(api: Api) -> None:
    response = await api.client.post(
        f"{API}/institutions",
        json={"code": "vestby", "name": "Vestby", "card_prefix": "2772"},
        headers=api.admin,
    )
    assert_problem(response, 403, "forbidden_institution")


async def test_a_deployment_admin_adds_an_institution_and_groups(api: Api) -> None:
    everywhere = await api.headers(ActorKind.ADMIN, institution_id=None)
    response = await api.client.post(
        f"{API}/institutions",
        json={
            "code": "vestby",
            "name": "Vestby Kommunes Biblioteker",
            "card_prefix": "2772",
            "currency": "EUR",
            "default_language": "de",
        },
        headers=everywhere,
    )
    assert response.status_code == 201, response.text
    institution = response.json()
    assert institution["currency"] == "EUR"
    clash = await api.client.post(
        f"{API}/institutions",
        json={"code": "vestby2", "name": "Clash", "card_prefix": "2772"},
        headers=everywhere,
    )
    assert_problem(clash, 409, "institution_exists")

    group = await api.client.post(
        f"{API}/institutions/{institution['id']}/groups",
        json={"code": "resident", "name": "Residents", "card_replacement_fee_minor": 3000},
        headers=everywhere,
    )
    assert group.status_code == 201, group.text
    effective = group.json()["effective"]
    assert effective["currency"] == "EUR"
    assert effective["card_replacement_fee"]["amount"] == "30.00"
    assert effective["max_wrong_pins"] == 3


async def test_invalid_policy_is_refused(api: Api, subtests: pytest.Subtests) -> None:
    url = f"{API}/institutions/{api.world.institution_id}"
    for change, code in (
        ({"currency": "XYZ"}, "unknown_currency"),
        ({"timezone": "Mars/Olympus_Mons"}, "invalid_policy"),
        ({"timezone": "../../etc/passwd"}, "invalid_policy"),
        ({"timezone": "Europe/Copenhagen\u0000"}, "invalid_policy"),
        ({"max_wrong_pins": 0}, "invalid_request"),
        ({"max_wrong_pins": None}, "invalid_policy"),
        ({"fee_block_threshold_minor": -5}, "invalid_request"),
        ({"fee_block_comparison": "lt"}, "invalid_request"),
        ({"block_effects": {"staff": ["fly"]}}, "invalid_request"),
        ({"block_effects": {"nonsense": ["borrow"]}}, "invalid_request"),
        ({"card_prefix": "9999"}, "invalid_request"),
        ({"default_language": "fr"}, "invalid_request"),
    ):
        with subtests.test(msg=str(change)):
            response = await api.client.patch(url, json=change, headers=api.admin)
            assert_problem(response, 422, code)
    unchanged = (await api.client.get(url, headers=api.admin)).json()
    assert unchanged["max_wrong_pins"] == 3
    assert unchanged["currency"] == "DKK"
    assert unchanged["timezone"] == "Europe/Copenhagen"


async def test_block_end_dates_are_shown_in_the_institutions_time_zone(api: Api) -> None:
    """An unknown zone used to be stored, and every block end date shown after it was a 500."""
    patron = await api.world.patron()
    # 23:30 UTC is already the next day in Copenhagen, still the same day in New York.
    ends = api.clock.now().replace(hour=23, minute=30) + timedelta(days=3)
    placed = await api.client.post(
        f"{API}/patrons/{patron.id}/blocks",
        json={"reason": "Noise", "ends_at": ends.isoformat()},
        headers=api.desk,
    )
    assert placed.status_code == 201, placed.text
    english = {**api.admin, "Accept-Language": "en"}
    status = await api.client.get(f"{API}/cards/{patron.ecard}/status", headers=english)
    assert "9 January 2026" in status.json()["blocks"][0]["lift"]

    url = f"{API}/institutions/{api.world.institution_id}"
    response = await api.client.patch(url, json={"timezone": "America/New_York"}, headers=api.admin)
    assert response.status_code == 200, response.text
    status = await api.client.get(f"{API}/cards/{patron.ecard}/status", headers=english)
    assert "8 January 2026" in status.json()["blocks"][0]["lift"]

    refused = await api.client.patch(url, json={"timezone": "Nordby/Centrum"}, headers=api.admin)
    assert_problem(refused, 422, "invalid_policy")
    status = await api.client.get(f"{API}/cards/{patron.ecard}/status", headers=english)
    assert status.status_code == 200


async def test_max_wrong_pins_follows_the_group_policy(api: Api) -> None:
    patron = await api.world.patron(pin="4826")
    group_id = api.world.groups["external"]
    response = await api.client.patch(
        f"{API}/groups/{group_id}", json={"max_wrong_pins": 5}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["effective"]["max_wrong_pins"] == 5
    terminal = await api.headers(ActorKind.TERMINAL, [Scope.PIN_VERIFY])
    for left in (4, 3, 2, 1):
        response = await api.client.post(
            f"{API}/cards/{patron.ecard}/pin/verify", json={"pin": "0000"}, headers=terminal
        )
        assert response.json()["attempts_left"] == left
        assert response.json()["locked"] is False


async def test_students_may_be_allowed_physical_cards_by_policy(api: Api) -> None:
    student = await api.world.patron("student")
    url = f"{API}/patrons/{student.id}/cards"
    refused = await api.client.post(url, json={"kind": "physical"}, headers=api.desk)
    assert_problem(refused, 409, "physical_card_not_allowed")
    response = await api.client.patch(
        f"{API}/groups/{api.world.groups['student']}",
        json={"may_hold_physical_card": True},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    issued = await api.client.post(url, json={"kind": "physical"}, headers=api.desk)
    assert issued.status_code == 201, issued.text


async def test_field_ownership_is_policy(api: Api) -> None:
    patron = await api.world.patron()
    response = await api.client.patch(
        f"{API}/groups/{api.world.groups['external']}",
        json={"field_owners": {"address": "patron"}},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["effective"]["field_owners"]["address"] == "patron"
    own = await api.headers(ActorKind.PATRON, [Scope.PATRONS_WRITE], patron_id=patron.id)
    changed = await api.client.patch(
        f"{API}/patrons/{patron.id}", json={"city": "Aarhus"}, headers=own
    )
    assert changed.status_code == 200, changed.text
    bad = await api.client.patch(
        f"{API}/groups/{api.world.groups['external']}",
        json={"field_owners": {"shoe_size": "patron"}},
        headers=api.admin,
    )
    assert_problem(bad, 422, "invalid_policy")


async def test_groups_are_listed_with_their_effective_policy(api: Api) -> None:
    response = await api.client.get(
        f"{API}/institutions/{api.world.institution_id}/groups", headers=api.desk
    )
    assert response.status_code == 200
    groups = {g["code"]: g for g in response.json()}
    assert set(groups) == {"student", "employee", "external"}
    assert groups["student"]["effective"]["may_hold_physical_card"] is False
    assert groups["external"]["effective"]["card_replacement_fee"]["amount"] == "50.00"
    assert groups["student"]["effective"]["field_owners"]["name"] == "registry"
    assert set(groups["external"]["effective"]["block_effects"]["fee_threshold"]) == {
        "borrow",
        "renew",
        "hold",
        "digital",
    }
