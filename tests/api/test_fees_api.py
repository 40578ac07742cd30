"""Fees and payments through HTTP: charge, waive, refund, oldest-first, idempotent payments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from libcard.access.scopes import Scope
from libcard.context import ActorKind
from tests.api.conftest import API, Api, assert_problem


async def _charge(api: Api, patron_id: int, amount_minor: int, text: str) -> dict[str, Any]:
    response = await api.client.post(
        f"{API}/patrons/{patron_id}/fees",
        json={"type": "overdue", "amount_minor": amount_minor, "description": text},
        headers=api.desk,
    )
    assert response.status_code == 201, response.text
    fee: dict[str, Any] = response.json()
    return fee


async def _pay(
    api: Api, patron_id: int, amount_minor: int, key: str, **extra: Any
) -> dict[str, Any]:
    response = await api.client.post(
        f"{API}/patrons/{patron_id}/payments",
        json={"amount_minor": amount_minor, "method": "cash", **extra},
        headers={**api.desk, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    payment: dict[str, Any] = response.json()
    return payment


async def _fees(api: Api, patron_id: int) -> dict[str, Any]:
    response = await api.client.get(f"{API}/patrons/{patron_id}/fees", headers=api.desk)
    assert response.status_code == 200, response.text
    fees: dict[str, Any] = response.json()
    return fees


async def test_a_charge(api: Api) -> None:
    patron = await api.world.patron()
    fee = await _charge(api, patron.id, 4_250, "Overdue: 'Gift'")
    assert fee["type"] == "overdue"
    assert fee["description"] == "Overdue: 'Gift'"
    assert fee["amount"] == {"amount_minor": 4250, "currency": "DKK", "amount": "42.50"}
    assert fee["outstanding"]["amount_minor"] == 4250
    assert fee["paid"]["amount_minor"] == 0
    assert fee["state"] == "open"
    assert fee["settled_at"] is None
    fees = await _fees(api, patron.id)
    assert fees["balance"]["amount"] == "42.50"
    assert [f["id"] for f in fees["fees"]] == [fee["id"]]


async def test_payment_settles_the_oldest_fee_first(api: Api) -> None:
    patron = await api.world.patron()
    oldest = await _charge(api, patron.id, 3_000, "first")
    api.clock.advance(timedelta(days=1))
    middle = await _charge(api, patron.id, 5_000, "second")
    api.clock.advance(timedelta(days=1))
    newest = await _charge(api, patron.id, 2_000, "third")

    payment = await _pay(api, patron.id, 6_000, "oldest-first-1")
    assert payment["balance"]["amount_minor"] == 4_000
    fees = {f["id"]: f for f in (await _fees(api, patron.id))["fees"]}
    assert fees[oldest["id"]]["outstanding"]["amount_minor"] == 0
    assert fees[oldest["id"]]["paid"]["amount_minor"] == 3_000
    assert fees[oldest["id"]]["settled_at"] is not None
    assert fees[middle["id"]]["paid"]["amount_minor"] == 3_000
    assert fees[middle["id"]]["outstanding"]["amount_minor"] == 2_000
    assert fees[newest["id"]]["paid"]["amount_minor"] == 0
    assert fees[newest["id"]]["outstanding"]["amount_minor"] == 2_000


async def test_payment_for_chosen_fees(api: Api) -> None:
    patron = await api.world.patron()
    oldest = await _charge(api, patron.id, 3_000, "first")
    api.clock.advance(timedelta(hours=1))
    chosen = await _charge(api, patron.id, 2_000, "second")
    await _pay(api, patron.id, 2_000, "chosen-1", fee_ids=[chosen["id"]])
    fees = {f["id"]: f for f in (await _fees(api, patron.id))["fees"]}
    assert fees[chosen["id"]]["outstanding"]["amount_minor"] == 0
    assert fees[oldest["id"]]["outstanding"]["amount_minor"] == 3_000


async def test_replaying_a_payment_records_it_once(api: Api) -> None:
    patron = await api.world.patron()
    await _charge(api, patron.id, 10_000, "Overdue")
    first = await _pay(api, patron.id, 4_000, "retry-me")
    second = await _pay(api, patron.id, 4_000, "retry-me")
    assert second["id"] == first["id"]
    assert second["balance"]["amount_minor"] == 6_000
    assert (await _fees(api, patron.id))["balance"]["amount_minor"] == 6_000
    audit = await api.client.get(
        f"{API}/audit", params={"patron_id": patron.id, "action": "fee:pay"}, headers=api.admin
    )
    assert len(audit.json()) == 1


async def test_the_key_may_come_in_the_body(api: Api) -> None:
    patron = await api.world.patron()
    await _charge(api, patron.id, 10_000, "Overdue")
    url = f"{API}/patrons/{patron.id}/payments"
    body = {"amount_minor": 1_000, "method": "mobilepay", "idempotency_key": "in-body"}
    first = await api.client.post(url, json=body, headers=api.desk)
    second = await api.client.post(url, json=body, headers=api.desk)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]


async def test_a_key_reused_for_another_payment_is_a_conflict(api: Api) -> None:
    patron = await api.world.patron()
    await _charge(api, patron.id, 10_000, "Overdue")
    await _pay(api, patron.id, 4_000, "one-key")
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/payments",
        json={"amount_minor": 5_000, "method": "cash"},
        headers={**api.desk, "Idempotency-Key": "one-key"},
    )
    assert_problem(response, 409, "idempotency_key_reused")
    assert (await _fees(api, patron.id))["balance"]["amount_minor"] == 6_000


async def test_a_payment_without_an_idempotency_key_is_refused(api: Api) -> None:
    patron = await api.world.patron()
    await _charge(api, patron.id, 10_000, "Overdue")
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/payments",
        json={"amount_minor": 4_000, "method": "cash"},
        headers=api.desk,
    )
    assert_problem(response, 422, "idempotency_key_required")
    blank = await api.client.post(
        f"{API}/patrons/{patron.id}/payments",
        json={"amount_minor": 4_000, "method": "cash"},
        headers={**api.desk, "Idempotency-Key": "   "},
    )
    assert blank.status_code == 422
    assert (await _fees(api, patron.id))["balance"]["amount_minor"] == 10_000


async def test_overpayment_is_refused(api: Api) -> None:
    patron = await api.world.patron()
    await _charge(api, patron.id, 1_000, "Overdue")
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/payments",
        json={"amount_minor": 1_001, "method": "cash"},
        headers={**api.desk, "Idempotency-Key": "too-much"},
    )
    body = assert_problem(response, 409, "overpayment")
    assert body["owed_minor"] == 1_000


async def test_a_payment_in_another_currency_is_refused(api: Api) -> None:
    patron = await api.world.patron()
    await _charge(api, patron.id, 1_000, "Overdue")
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/payments",
        json={"amount_minor": 1_000, "method": "cash", "currency": "EUR"},
        headers={**api.desk, "Idempotency-Key": "eur"},
    )
    assert_problem(response, 422, "currency_mismatch")


async def test_unknown_fee_ids_in_a_payment(api: Api) -> None:
    patron = await api.world.patron()
    await _charge(api, patron.id, 1_000, "Overdue")
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/payments",
        json={"amount_minor": 1_000, "method": "cash", "fee_ids": [999_999]},
        headers={**api.desk, "Idempotency-Key": "unknown-fee"},
    )
    assert_problem(response, 404, "fee_not_found")
    huge = await api.client.post(
        f"{API}/patrons/{patron.id}/payments",
        json={"amount_minor": 1_000, "method": "cash", "fee_ids": [2**63]},
        headers={**api.desk, "Idempotency-Key": "huge-fee"},
    )
    assert_problem(huge, 422, "invalid_request")


async def test_waive_all_or_part_of_a_fee(api: Api) -> None:
    patron = await api.world.patron()
    fee = await _charge(api, patron.id, 5_000, "Overdue")
    part = await api.client.post(
        f"{API}/fees/{fee['id']}/waive",
        json={"reason": "First time", "amount_minor": 2_000},
        headers=api.supervisor,
    )
    assert part.status_code == 200, part.text
    assert part.json()["waived"]["amount_minor"] == 2_000
    assert part.json()["outstanding"]["amount_minor"] == 3_000
    rest = await api.client.post(
        f"{API}/fees/{fee['id']}/waive", json={"reason": "Goodwill"}, headers=api.supervisor
    )
    assert rest.status_code == 200, rest.text
    assert rest.json()["outstanding"]["amount_minor"] == 0
    assert rest.json()["waived"]["amount_minor"] == 5_000
    again = await api.client.post(
        f"{API}/fees/{fee['id']}/waive", json={"reason": "Again"}, headers=api.supervisor
    )
    assert_problem(again, 409, "fee_settled")
    assert (await _fees(api, patron.id))["balance"]["amount_minor"] == 0


async def test_a_waiver_larger_than_the_debt_is_refused(api: Api) -> None:
    patron = await api.world.patron()
    fee = await _charge(api, patron.id, 5_000, "Overdue")
    response = await api.client.post(
        f"{API}/fees/{fee['id']}/waive",
        json={"reason": "Generous", "amount_minor": 5_001},
        headers=api.supervisor,
    )
    assert_problem(response, 409, "waiver_too_large")


async def test_a_waiver_lifts_the_fee_block(api: Api) -> None:
    patron = await api.world.patron()
    fee = await _charge(api, patron.id, 30_000, "Overdue")
    status = await api.client.get(f"{API}/cards/{patron.ecard}/status", headers=api.admin)
    assert status.json()["may"]["borrow"] is False
    await api.client.post(
        f"{API}/fees/{fee['id']}/waive", json={"reason": "Charged in error"}, headers=api.supervisor
    )
    status = await api.client.get(f"{API}/cards/{patron.ecard}/status", headers=api.admin)
    assert status.json()["may"]["borrow"] is True


async def test_refund_of_a_paid_fee(api: Api) -> None:
    patron = await api.world.patron()
    fee = await _charge(api, patron.id, 5_000, "Overdue")
    nothing = await api.client.post(
        f"{API}/fees/{fee['id']}/refund", json={"reason": "Nothing paid"}, headers=api.supervisor
    )
    assert_problem(nothing, 409, "nothing_to_refund")
    await _pay(api, patron.id, 5_000, "refund-1")
    too_much = await api.client.post(
        f"{API}/fees/{fee['id']}/refund",
        json={"reason": "Material returned", "amount_minor": 6_000},
        headers=api.supervisor,
    )
    assert_problem(too_much, 409, "refund_too_large")
    response = await api.client.post(
        f"{API}/fees/{fee['id']}/refund",
        json={"reason": "Material returned", "amount_minor": 2_000},
        headers=api.supervisor,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refunded"]["amount_minor"] == 2_000
    assert body["paid"]["amount_minor"] == 5_000


async def test_only_staff_charge_waive_and_refund(api: Api, subtests: pytest.Subtests) -> None:
    patron = await api.world.patron()
    fee = await _charge(api, patron.id, 5_000, "Overdue")
    for kind, path, code in (
        (ActorKind.TERMINAL, "fees", "forbidden_charge"),
        (ActorKind.PATRON, "fees", "forbidden_charge"),
        (ActorKind.TERMINAL, "waive", "forbidden_waive"),
        (ActorKind.SERVICE, "refund", "forbidden_refund"),
        # Forgiving and giving back money is for a supervisor, not the desk alone.
        (ActorKind.DESK, "waive", "forbidden_waive"),
        (ActorKind.DESK, "refund", "forbidden_refund"),
    ):
        with subtests.test(msg=f"{kind.value} {path}"):
            headers = await api.headers(kind, [Scope.FEES_WRITE], patron_id=patron.id)
            if path == "fees":
                response = await api.client.post(
                    f"{API}/patrons/{patron.id}/fees",
                    json={"type": "overdue", "amount_minor": 100, "description": "x"},
                    headers=headers,
                )
            else:
                response = await api.client.post(
                    f"{API}/fees/{fee['id']}/{path}", json={"reason": "x"}, headers=headers
                )
            assert_problem(response, 403, code)
    assert (await _fees(api, patron.id))["balance"]["amount_minor"] == 5_000


async def test_a_patron_cannot_record_their_own_payment(api: Api) -> None:
    patron = await api.world.patron()
    await _charge(api, patron.id, 5_000, "Overdue")
    own = await api.headers(ActorKind.PATRON, [Scope.PAYMENTS_WRITE], patron_id=patron.id)
    response = await api.client.post(
        f"{API}/patrons/{patron.id}/payments",
        json={"amount_minor": 5_000, "method": "online_card"},
        headers={**own, "Idempotency-Key": "self-pay"},
    )
    assert_problem(response, 403, "forbidden_payment")


async def test_another_patrons_fee_is_not_found_for_a_patron_token(api: Api) -> None:
    patron = await api.world.patron()
    other = await api.world.patron()
    await _charge(api, other.id, 5_000, "Overdue")
    own = await api.headers(ActorKind.PATRON, [Scope.FEES_READ], patron_id=patron.id)
    response = await api.client.get(f"{API}/patrons/{other.id}/fees", headers=own)
    assert_problem(response, 404, "patron_not_found")
    mine = await api.client.get(f"{API}/patrons/{patron.id}/fees", headers=own)
    assert mine.status_code == 200
