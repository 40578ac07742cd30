"""POST /cards/{number}/activate: cards that arrive after the account is activated (R1)."""

from __future__ import annotations

from libcard.access.scopes import Scope
from libcard.cards.rules import CardKind
from libcard.cards.service import issue_card
from libcard.context import ActorKind
from tests.api.conftest import API, Api, assert_problem


async def _badge(api: Api, patron_id: int, number: str) -> None:
    async with api.runtime.unit(api.world.actor(ActorKind.IDENTITY_PORTAL)) as ctx:
        await issue_card(ctx, patron_id, CardKind.EMPLOYEE_BADGE, number=number)


async def test_the_patron_activates_a_new_badge_with_the_pin(api: Api) -> None:
    employee = await api.world.patron("employee", pin="2580")
    await _badge(api, employee.id, "B7001")
    service = await api.headers(ActorKind.SERVICE, [Scope.ACTIVATION, Scope.CARDS_STATUS])

    before = await api.client.get(f"{API}/cards/B7001/status", headers=service)
    assert before.json()["refusal"]["code"] == "card_not_activated"

    wrong = await api.client.post(
        f"{API}/cards/B7001/activate", json={"pin": "1357"}, headers=service
    )
    assert wrong.status_code == 200
    assert wrong.json()["valid"] is False
    assert wrong.json()["attempts_left"] == 2

    right = await api.client.post(
        f"{API}/cards/B7001/activate", json={"pin": "2580"}, headers=service
    )
    assert right.json()["valid"] is True
    after = await api.client.get(f"{API}/cards/B7001/status", headers=service)
    assert after.json()["usable"] is True
    assert after.json()["may"]["borrow"] is True


async def test_activating_needs_a_pin_or_the_desk_with_a_photo_id(api: Api) -> None:
    employee = await api.world.patron("employee")
    await _badge(api, employee.id, "B7002")
    nothing = await api.client.post(f"{API}/cards/B7002/activate", json={}, headers=api.desk)
    assert_problem(nothing, 422, "proof_required")
    service = await api.headers(ActorKind.SERVICE, [Scope.ACTIVATION])
    not_desk = await api.client.post(
        f"{API}/cards/B7002/activate", json={"photo_id_kind": "passport"}, headers=service
    )
    assert_problem(not_desk, 403, "forbidden_activation")
    desk = await api.client.post(
        f"{API}/cards/B7002/activate", json={"photo_id_kind": "passport"}, headers=api.desk
    )
    assert desk.json()["valid"] is True
    again = await api.client.post(
        f"{API}/cards/B7002/activate", json={"photo_id_kind": "passport"}, headers=api.desk
    )
    assert_problem(again, 409, "card_active")
