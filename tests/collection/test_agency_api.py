"""The collection agency's API: who sees which case, acknowledgements, payments reported
once however often they are sent, paid in full lifting the block, recalls, and bad input."""

from __future__ import annotations

from datetime import timedelta

from libcard.access.scopes import Scope
from libcard.context import ActorKind
from libcard.policy.rules import BlockCode
from tests.api.conftest import API, Api, assert_problem, bearer
from tests.collection.conftest import AGENCY, Collection


async def _agency(api: Api, name: str = AGENCY, **kw: object) -> dict[str, str]:
    return bearer(
        await api.token(ActorKind.AGENCY, [Scope.COLLECTION], name=name, **kw)  # type: ignore[arg-type]
    )


async def test_only_the_agency_it_was_handed_to_sees_a_case(
    api: Api, collection: Collection
) -> None:
    patron, case_id = await collection.handed_over()
    path = f"{API}/collection/cases/{case_id}"
    assert_problem(await api.client.get(path), 401, "token_required")
    fees_only = bearer(await api.token(ActorKind.AGENCY, [Scope.FEES_READ], name=AGENCY))
    assert_problem(await api.client.get(path, headers=fees_only), 403, "scope_missing")
    other = await _agency(api, "Other Collect")
    assert_problem(await api.client.get(path, headers=other), 404, "case_not_found")
    listing = await api.client.get(f"{API}/collection/cases", headers=other)
    assert listing.json()["cases"] == []
    elsewhere = await _agency(api, institution_id=await api.other_institution())
    assert_problem(await api.client.get(path, headers=elsewhere), 404, "case_not_found")

    agency = await _agency(api)
    found = await api.client.get(path, headers=agency)
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["state"], body["agency"], body["amount"]["amount"]) == (
        "handed_over",
        AGENCY,
        "150.00",
    )
    assert body["patron"]["id"] == patron.id
    assert body["patron"]["card_number"] == patron.ecard
    [fee] = body["fees"]
    assert fee["outstanding"]["amount_minor"] == 15000
    listing = await api.client.get(
        f"{API}/collection/cases", params={"state": "handed_over"}, headers=agency
    )
    assert [c["id"] for c in listing.json()["cases"]] == [case_id]
    assert listing.json()["next_after_id"] is None


async def test_an_agency_token_belongs_to_one_institution(api: Api) -> None:
    # A deployment-wide agency token would see the cases of every institution that uses an
    # agency of the same name.
    answer = await api.client.post(
        f"{API}/tokens",
        headers=await api.headers(institution_id=None),
        json={
            "name": AGENCY,
            "actor_kind": "agency",
            "scopes": ["collection"],
        },
    )
    assert_problem(answer, 422, "token_actor")


async def test_a_notice_still_running_is_not_the_agencys(api: Api, collection: Collection) -> None:
    patron = await collection.patron()
    api.clock.advance(timedelta(days=30))
    await collection.notices()
    [case] = await collection.cases(patron.id)
    agency = await _agency(api)
    got = await api.client.get(f"{API}/collection/cases/{case.id}", headers=agency)
    assert_problem(got, 404, "case_not_found")
    # The library sees it, with a token of the collection scope.
    library = await api.headers(ActorKind.ADMIN, [Scope.COLLECTION])
    got = await api.client.get(f"{API}/collection/cases/{case.id}", headers=library)
    assert got.json()["state"] == "notice_sent"


async def test_paging(api: Api, collection: Collection) -> None:
    ids = [(await collection.handed_over())[1] for _ in range(3)]
    agency = await _agency(api)
    first = (
        await api.client.get(f"{API}/collection/cases", params={"limit": 2}, headers=agency)
    ).json()
    assert [c["id"] for c in first["cases"]] == ids[:2]
    rest = (
        await api.client.get(
            f"{API}/collection/cases",
            params={"limit": 2, "after_id": first["next_after_id"]},
            headers=agency,
        )
    ).json()
    assert ([c["id"] for c in rest["cases"]], rest["next_after_id"]) == (ids[2:], None)
    bad = await api.client.get(f"{API}/collection/cases", params={"state": "x"}, headers=agency)
    assert_problem(bad, 422)


async def test_acknowledge_payments_and_paid_in_full(api: Api, collection: Collection) -> None:
    patron, case_id = await collection.handed_over()
    agency = await _agency(api)
    base = f"{API}/collection/cases/{case_id}"
    first = await api.client.post(f"{base}/acknowledge", headers=agency)
    assert first.status_code == 200, first.text
    api.clock.advance(timedelta(hours=2))
    again = await api.client.post(f"{base}/acknowledge", headers=agency)
    assert again.json()["acknowledged_at"] == first.json()["acknowledged_at"]

    paid_at = (api.clock.now() - timedelta(days=1)).isoformat()
    payment = {"amount_minor": 5000, "paid_at": paid_at, "reference": "NC-1"}
    made = await api.client.post(f"{base}/payments", json=payment, headers=agency)
    assert made.status_code == 201, made.text
    assert (made.json()["paid"]["amount_minor"], made.json()["remaining"]["amount_minor"]) == (
        5000,
        10000,
    )
    retried = await api.client.post(f"{base}/payments", json=payment, headers=agency)
    assert retried.status_code == 200, retried.text
    assert retried.json()["paid"]["amount_minor"] == 5000
    assert len(retried.json()["payments"]) == 1
    fees = await api.client.get(f"{API}/patrons/{patron.id}/fees", headers=api.admin)
    assert fees.json()["balance"]["amount_minor"] == 10000
    # Still blocked: only "paid in full" lifts the block (R14d).
    assert await collection.codes(patron.id) == [BlockCode.IN_COLLECTION]

    reused = {**payment, "amount_minor": 6000}
    assert_problem(
        await api.client.post(f"{base}/payments", json=reused, headers=agency),
        409,
        "reference_reused",
    )
    too_much = {**payment, "amount_minor": 10001, "reference": "NC-2"}
    assert_problem(
        await api.client.post(f"{base}/payments", json=too_much, headers=agency),
        409,
        "more_than_owed",
    )
    future = {
        **payment,
        "reference": "NC-3",
        "paid_at": (api.clock.now() + timedelta(days=1)).isoformat(),
    }
    assert_problem(
        await api.client.post(f"{base}/payments", json=future, headers=agency),
        422,
        "paid_at_future",
    )

    # The last payment under a reference reported before is refused, not recorded twice.
    assert_problem(
        await api.client.post(
            f"{base}/paid-in-full", json={"reference": payment["reference"]}, headers=agency
        ),
        409,
        "reference_reused",
    )
    done = await api.client.post(f"{base}/paid-in-full", json={"reference": "NC-4"}, headers=agency)
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["paid"]["amount_minor"]) == ("paid_in_full", 15000)
    assert await collection.codes(patron.id) == []
    fees = await api.client.get(f"{API}/patrons/{patron.id}/fees", headers=api.admin)
    assert fees.json()["balance"]["amount_minor"] == 0
    assert_problem(
        await api.client.post(f"{base}/paid-in-full", headers=agency), 409, "case_closed"
    )
    # The case stays visible to the agency, closed.
    listing = await api.client.get(
        f"{API}/collection/cases", params={"state": "paid_in_full"}, headers=agency
    )
    assert [c["id"] for c in listing.json()["cases"]] == [case_id]


async def test_bad_payment_reports_are_problems(api: Api, collection: Collection) -> None:
    _, case_id = await collection.handed_over()
    agency = await _agency(api)
    path = f"{API}/collection/cases/{case_id}/payments"
    when = api.clock.now().isoformat()
    for body in (
        {"amount_minor": 0, "paid_at": when, "reference": "A"},
        {"amount_minor": 100, "paid_at": "2026-02-01T10:00:00", "reference": "A"},  # no zone
        {"amount_minor": 100, "paid_at": when},
        {"amount_minor": 100, "paid_at": when, "reference": "A", "extra": 1},
        {"amount_minor": 100, "paid_at": when, "reference": "   "},
    ):
        assert_problem(await api.client.post(path, json=body, headers=agency), 422)
    wrong = {"amount_minor": 100, "paid_at": when, "reference": "A", "currency": "EUR"}
    assert_problem(
        await api.client.post(path, json=wrong, headers=agency), 422, "currency_mismatch"
    )
    assert_problem(
        await api.client.post(f"{API}/collection/cases/99999/acknowledge", headers=agency),
        404,
        "case_not_found",
    )


async def test_recall_by_the_library_and_by_the_agency(api: Api, collection: Collection) -> None:
    patron, case_id = await collection.handed_over()
    agency = await _agency(api)
    library = await api.headers(ActorKind.SUPERVISOR, [Scope.COLLECTION])
    path = f"{API}/collection/cases/{case_id}/recall"
    assert_problem(await api.client.post(path, json={}, headers=library), 422)
    no_scope = await api.headers(ActorKind.DESK, [Scope.FEES_READ])
    assert_problem(
        await api.client.post(path, json={"reason": "x"}, headers=no_scope), 403, "scope_missing"
    )
    recalled = await api.client.post(path, json={"reason": "Disputed at the desk"}, headers=library)
    assert recalled.status_code == 200, recalled.text
    assert (recalled.json()["state"], recalled.json()["closed_reason"]) == (
        "recalled",
        "recalled_by_library",
    )
    assert await collection.codes(patron.id) == []
    assert_problem(
        await api.client.post(path, json={"reason": "again"}, headers=agency), 409, "case_closed"
    )

    other, other_case = await collection.handed_over()
    given_back = await api.client.post(
        f"{API}/collection/cases/{other_case}/recall",
        json={"reason": "Debtor abroad"},
        headers=agency,
    )
    assert given_back.json()["closed_reason"] == "recalled_by_agency"
    assert await collection.codes(other.id) == []
    # A patron's own token never reaches the cases.
    patron_token = await api.headers(ActorKind.PATRON, [Scope.COLLECTION], patron_id=patron.id)
    got = await api.client.get(f"{API}/collection/cases/{case_id}", headers=patron_token)
    assert_problem(got, 403, "forbidden_collection")
