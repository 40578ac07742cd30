"""Items and loans over the API (B2): create, change, look up and import items; check out,
renew and check in with the services' refusal codes; scopes and a patron's own token; the
group's loan rules through the policy API."""

from __future__ import annotations

from sqlalchemy import select

from libcard.access.scopes import Scope
from libcard.audit.models import AuditEvent
from libcard.blocks.service import place_staff_block
from libcard.cards.service import find_card, report_lost
from libcard.context import ActorKind
from libcard.policy.branches import create_branch
from tests.api.conftest import API, Api, assert_problem

CSV = (
    "barcode;title;branch_code;replacement_cost;loanable\n"
    "3800001;Kongens Fald;main;120,00;yes\n"
    "3800002;Hærværk;nowhere;80,00;yes\n"
    "3800003;Atlas;main;450,00;no\n"
)


async def _branch(api: Api) -> int:
    async with api.runtime.unit(api.world.actor(ActorKind.ADMIN)) as ctx:
        branch = await create_branch(ctx, api.world.institution_id, code="main", name="Main")
        return branch.id


async def test_items_are_created_changed_looked_up_and_imported(api: Api) -> None:
    branch_id = await _branch(api)
    body = {
        "barcode": "3700001",
        "title": "Den store danske encyklopædi",
        "branch_id": branch_id,
        "replacement_cost_minor": 45000,
    }
    created = await api.client.post(f"{API}/items", json=body, headers=api.desk)
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["barcode"], item["loanable"], item["on_loan"]) == ("3700001", True, False)
    assert item["replacement_cost"] == {
        "amount_minor": 45000,
        "currency": "DKK",
        "amount": "450.00",
    }
    again = await api.client.post(f"{API}/items", json=body, headers=api.desk)
    assert_problem(again, 409, "item_exists")
    everywhere = await api.headers(ActorKind.ADMIN, institution_id=None)
    unnamed = await api.client.post(f"{API}/items", json=body, headers=everywhere)
    assert_problem(unnamed, 422, "institution_required")

    changed = await api.client.patch(
        f"{API}/items/{item['id']}", json={"loanable": False}, headers=api.desk
    )
    assert changed.status_code == 200
    found = await api.client.get(f"{API}/items/by-barcode/3700001", headers=api.desk)
    assert (found.json()["id"], found.json()["loanable"]) == (item["id"], False)
    missing = await api.client.get(f"{API}/items/by-barcode/0000000", headers=api.desk)
    assert_problem(missing, 404, "item_not_found")

    csv_headers = {**api.desk, "Content-Type": "text/csv"}
    report = await api.client.post(f"{API}/items/import", content=CSV, headers=csv_headers)
    assert report.status_code == 200, report.text
    assert report.json()["created"] == 2
    [error] = report.json()["errors"]
    assert (error["line"], error["code"]) == (3, "branch_not_found")
    repeat = await api.client.post(f"{API}/items/import", content=CSV, headers=csv_headers)
    assert (repeat.json()["created"], repeat.json()["unchanged"]) == (0, 2)
    as_json = await api.client.post(f"{API}/items/import", content=CSV, headers=api.desk)
    assert_problem(as_json, 415, "csv_media_type")


async def test_check_out_renew_and_check_in_with_the_services_refusals(api: Api) -> None:
    branch_id = await _branch(api)
    patron = await api.world.patron(physical=True)
    for barcode in ("3800001", "3800002"):
        body = {
            "barcode": barcode,
            "title": f"Book {barcode}",
            "branch_id": branch_id,
            "replacement_cost_minor": 12000,
        }
        assert (await api.client.post(f"{API}/items", json=body, headers=api.desk)).is_success
    machine = await api.headers(ActorKind.TERMINAL, [Scope.LOANS_WRITE])

    lent = await api.client.post(
        f"{API}/loans",
        json={"card_number": patron.physical, "item_barcode": "3800001"},
        headers=machine,
    )
    assert lent.status_code == 201, lent.text
    loan = lent.json()
    assert (loan["patron_id"], loan["item"]["title"], loan["renewals"]) == (
        patron.id,
        "Book 3800001",
        0,
    )
    assert (loan["renewals_allowed"], loan["overdue"], loan["returned_at"]) == (3, False, None)
    taken = await api.client.post(
        f"{API}/loans",
        json={"card_number": patron.ecard, "item_barcode": "3800001"},
        headers=machine,
    )
    assert_problem(taken, 409, "item_on_loan_to_patron")
    listed = await api.client.get(f"{API}/patrons/{patron.id}/loans", headers=api.desk)
    assert [row["id"] for row in listed.json()] == [loan["id"]]
    out = await api.client.get(f"{API}/items/by-barcode/3800001", headers=api.desk)
    assert (out.json()["on_loan"], out.json()["due_at"]) == (True, loan["due_at"])

    renewed = await api.client.post(
        f"{API}/loans/renew", json={"item_barcode": "3800001"}, headers=machine
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["renewals"] == 1
    async with api.runtime.unit(api.world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, patron.id, "Ask at the desk", None)
    blocked = await api.client.post(
        f"{API}/loans/renew", json={"item_barcode": "3800001"}, headers=machine
    )
    problem = assert_problem(blocked, 409, "blocked")
    assert (problem["block"], problem["blocks"]) == ("staff", ["staff"])

    back = await api.client.post(
        f"{API}/loans/checkin", json={"item_barcode": "3800001"}, headers=machine
    )
    assert back.status_code == 200, back.text
    assert back.json()["returned_at"] is not None
    not_out = await api.client.post(
        f"{API}/loans/checkin", json={"item_barcode": "3800001"}, headers=machine
    )
    assert_problem(not_out, 409, "item_not_on_loan")

    # A lost card is refused with its own code, and its use is shown to staff (R10).
    async with api.runtime.unit(api.world.actor(ActorKind.DESK)) as ctx:
        await report_lost(ctx, (await find_card(ctx, patron.physical or "")).id)
    lost = await api.client.post(
        f"{API}/loans",
        json={"card_number": patron.physical, "item_barcode": "3800002"},
        headers=machine,
    )
    assert_problem(lost, 409, "card_lost")
    async with api.runtime.unit(readonly=True) as ctx:
        noted = await ctx.session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "card:use_refused")
        )
        assert [d["where"] for d in noted] == ["checkout"]


async def test_scopes_and_a_patrons_own_token(api: Api) -> None:
    branch_id = await _branch(api)
    me, other = await api.world.patron(), await api.world.patron()
    body = {"barcode": "3800001", "title": "Atlas", "branch_id": branch_id}
    reader = await api.headers(ActorKind.DESK, [Scope.ITEMS_READ, Scope.LOANS_READ])
    no_scope = await api.client.post(
        f"{API}/items", json={**body, "replacement_cost_minor": 0}, headers=reader
    )
    assert_problem(no_scope, 403, "scope_missing")
    no_lending = await api.client.post(
        f"{API}/loans", json={"card_number": me.ecard, "item_barcode": "3800001"}, headers=reader
    )
    assert_problem(no_lending, 403, "scope_missing")
    for barcode, patron in (("3800001", me), ("3800002", other)):
        item = {**body, "barcode": barcode, "replacement_cost_minor": 0}
        assert (await api.client.post(f"{API}/items", json=item, headers=api.desk)).is_success
        lent = await api.client.post(
            f"{API}/loans",
            json={"card_number": patron.ecard, "item_barcode": barcode},
            headers=api.desk,
        )
        assert lent.status_code == 201

    mine = await api.headers(
        ActorKind.PATRON, [Scope.LOANS_READ, Scope.LOANS_WRITE], patron_id=me.id
    )
    theirs = await api.client.get(f"{API}/patrons/{other.id}/loans", headers=mine)
    assert_problem(theirs, 404, "patron_not_found")
    forged = await api.client.post(
        f"{API}/loans/renew", json={"item_barcode": "3800002"}, headers=mine
    )
    assert_problem(forged, 404, "loan_not_found")
    own = await api.client.post(
        f"{API}/loans/renew", json={"item_barcode": "3800001"}, headers=mine
    )
    assert own.status_code == 200, own.text
    lend_myself = await api.client.post(
        f"{API}/loans/checkin", json={"item_barcode": "3800001"}, headers=mine
    )
    assert_problem(lend_myself, 403, "forbidden_loan")


async def test_the_group_api_takes_and_gives_the_loan_rules(api: Api) -> None:
    group = f"{API}/groups/{api.world.groups['external']}"
    changes = {"loan_days": 14, "fine_per_day_minor": 250, "lost_item_returned": "keep"}
    changed = await api.client.patch(group, json=changes, headers=api.admin)
    assert changed.status_code == 200, changed.text
    out = changed.json()
    assert (out["loan_days"], out["fine_per_day_minor"], out["lost_item_returned"]) == (
        14,
        250,
        "keep",
    )
    assert out["effective"]["fine_per_day"]["amount"] == "2.50"
    assert out["effective"]["max_renewals"] == 3
    wrong = await api.client.patch(group, json={"loan_days": 0}, headers=api.admin)
    assert_problem(wrong, 422, "invalid_request")
    unset = await api.client.patch(group, json={"max_loans": None}, headers=api.admin)
    assert_problem(unset, 422, "invalid_policy")
    assert (await api.client.get(group, headers=api.admin)).json()["loan_days"] == 14
