"""The campus card system reports employee badges lost, blocked and replaced (R10, R11)."""

from __future__ import annotations

from sqlalchemy import select

from libcard.accounts.service import card_status
from libcard.cards.rules import CardKind
from libcard.context import ActorKind
from libcard.fees.models import Fee
from libcard.fees.service import balance_of
from libcard.notify.models import OutboundMail
from tests.api.conftest import assert_problem
from tests.campus.conftest import Campus


async def test_a_first_badge_is_linked_to_the_employee_by_identity_id(campus: Campus) -> None:
    employee = await campus.employee("E1001")
    badge = await campus.link("E1001", "EB-100234")
    assert badge["kind"] == CardKind.EMPLOYEE_BADGE
    assert badge["number"] == "EB100234"
    assert badge["state"] == "active"
    assert (badge["patron_id"], badge["identity_id"]) == (employee.id, "E1001")
    assert (await campus.status("EB100234"))["usable"] is True

    # The campus card system repeats a call it got no answer to: same badge, no second one.
    assert await campus.link("E1001", "eb 100234") == badge
    assert [c.kind for c in await campus.cards(employee.id)] == ["ecard", "employee_badge"]
    [issued] = [
        e
        for e in await campus.events("card:issue", employee.id)
        if e.details["kind"] == "employee_badge"
    ]
    assert issued.actor_kind == ActorKind.CAMPUS_CARD


async def test_a_lost_badge_is_refused_at_once_and_its_use_logged(campus: Campus) -> None:
    employee = await campus.employee("E1002", email="lene.dahl@example.org")
    await campus.link("E1002", "EB200001")

    response = await campus.post("/badges/EB200001/lost")
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "lost"

    status = await campus.status("EB200001")
    assert status["usable"] is False
    assert status["refusal"]["code"] == "card_lost"
    assert not any(status["may"].values())
    # R10: the employee's e-card keeps working.
    assert (await campus.status(employee.ecard))["usable"] is True

    [report] = await campus.events("card:report_lost", employee.id)
    assert report.actor_kind == ActorKind.CAMPUS_CARD
    [use] = await campus.events("card:use_refused", employee.id)
    assert use.details["possible_misuse"] is True
    async with campus.api.runtime.unit(readonly=True) as ctx:
        mails = (await ctx.session.scalars(select(OutboundMail.template))).all()
    assert "card_reported_lost" in mails

    # Reported again: the same answer, nothing new recorded.
    again = await campus.post("/badges/EB200001/lost")
    assert again.status_code == 200
    assert again.json() == response.json()
    assert len(await campus.events("card:report_lost", employee.id)) == 1


async def test_a_blocked_badge_is_refused_by_the_status_service(campus: Campus) -> None:
    employee = await campus.employee("E1003", email="ole.krogh@example.org")
    await campus.link("E1003", "EB300001")

    response = await campus.post("/badges/EB300001/blocked")
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "lost"

    # The decision SIP2, the desk and the status API all make, asked of the service itself.
    world = campus.api.world
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        status = await card_status(ctx, "EB300001")
        ecard = await card_status(ctx, employee.ecard)
    assert status.refusal == "card_lost"
    assert not any(status.may.values())
    assert ecard.refusal is None

    [block] = await campus.events("card:block", employee.id)
    assert block.actor_kind == ActorKind.CAMPUS_CARD
    [use] = await campus.events("card:use_refused", employee.id)
    assert (use.actor_kind, use.details["possible_misuse"]) == (ActorKind.TERMINAL, True)
    # A block is no loss: the employee is not told their badge was reported lost.
    async with campus.api.runtime.unit(readonly=True) as ctx:
        mails = (await ctx.session.scalars(select(OutboundMail.template))).all()
    assert "card_reported_lost" not in mails

    # Blocked, then reported lost too: it is refused already, nothing changes.
    lost = await campus.post("/badges/EB300001/lost")
    assert lost.status_code == 200
    assert lost.json() == response.json()
    assert await campus.events("card:report_lost", employee.id) == []


async def test_a_replaced_badge_is_refused_and_the_new_one_works_without_a_fee(
    campus: Campus,
) -> None:
    employee = await campus.employee("E1004")
    old = await campus.link("E1004", "EB400001")

    response = await campus.post("/badges/EB400001/replacement", {"number": "EB400002"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["old"]["number"], body["old"]["state"]) == ("EB400001", "replaced")
    new = body["new"]
    assert (new["number"], new["state"], new["kind"]) == ("EB400002", "active", "employee_badge")
    assert (new["patron_id"], new["identity_id"]) == (employee.id, "E1004")
    assert new["replaces_card_id"] == old["id"]

    old_status = await campus.status("EB400001")
    assert (old_status["usable"], old_status["refusal"]["code"]) == (False, "card_replaced")
    new_status = await campus.status("EB400002")
    assert new_status["usable"] is True
    assert new_status["patron"]["id"] == employee.id

    # R11: no fee, not even one waived at once.
    assert new_status["balance"]["amount_minor"] == 0
    async with campus.api.runtime.unit() as ctx:
        assert await balance_of(ctx, employee.id) == 0
        assert (await ctx.session.scalars(select(Fee))).all() == []
    [replace] = await campus.events("card:replace", employee.id)
    assert replace.actor_kind == ActorKind.CAMPUS_CARD
    assert replace.details["fee_id"] is None

    # The same request again: the same answer and still one new badge.
    replay = await campus.post("/badges/EB400001/replacement", {"number": "EB 400002"})
    assert replay.status_code == 201, replay.text
    assert replay.json() == body
    badges = [c.number for c in await campus.cards(employee.id) if c.kind == "employee_badge"]
    assert badges == ["EB400001", "EB400002"]
    assert len(await campus.events("card:replace", employee.id)) == 1


async def test_a_lost_badge_is_replaced_later(campus: Campus) -> None:
    await campus.employee("E1005")
    await campus.link("E1005", "EB500001")
    assert (await campus.post("/badges/EB500001/lost")).status_code == 200
    response = await campus.post("/badges/EB500001/replacement", {"number": "EB500002"})
    assert response.status_code == 201, response.text
    assert response.json()["old"]["state"] == "replaced"
    assert (await campus.status("EB500002"))["usable"] is True
    assert (await campus.status("EB500001"))["refusal"]["code"] == "card_replaced"


async def test_a_new_number_in_use_is_a_conflict(campus: Campus) -> None:
    await campus.employee("E1006")
    await campus.employee("E1007")
    await campus.link("E1006", "EB600001")
    await campus.link("E1007", "EB700001")

    taken = await campus.post("/badges/EB600001/replacement", {"number": "EB700001"})
    body = assert_problem(taken, 409, "card_number_in_use")
    assert "another card" in body["detail"]
    same = await campus.post("/badges/EB600001/replacement", {"number": "EB600001"})
    assert_problem(same, 409, "card_number_in_use")
    # A number of the library's own series is not the campus card system's to hand out.
    own_series = await campus.post("/badges/EB600001/replacement", {"number": "27700000000061"})
    assert_problem(own_series, 422, "card_number_format")
    bad = await campus.post("/badges/EB600001/replacement", {"number": "EB/60"})
    assert_problem(bad, 422, "card_number_format")
    # Nothing happened to either badge.
    assert (await campus.status("EB600001"))["usable"] is True
    assert (await campus.status("EB700001"))["usable"] is True

    # Linking a number in use is refused the same way.
    await campus.employee("E1008")
    assert_problem(
        await campus.post("/employees/E1008/badges", {"number": "EB600001"}),
        409,
        "card_number_in_use",
    )


async def test_a_badge_replaced_already_is_not_replaced_again(campus: Campus) -> None:
    await campus.employee("E1009")
    await campus.link("E1009", "EB900001")
    first = await campus.post("/badges/EB900001/replacement", {"number": "EB900002"})
    assert first.status_code == 201
    second = await campus.post("/badges/EB900001/replacement", {"number": "EB900003"})
    assert_problem(second, 409, "card_replaced")
    assert (await campus.status("EB900002"))["usable"] is True


async def test_an_employee_holding_a_badge_gets_no_second_first_badge(campus: Campus) -> None:
    await campus.employee("E1010")
    await campus.link("E1010", "EB100001")
    response = await campus.post("/employees/E1010/badges", {"number": "EB100002"})
    body = assert_problem(response, 409, "badge_exists")
    assert "replacement" in body["detail"]
    # Once that badge is lost, a new first badge may be linked.
    assert (await campus.post("/badges/EB100001/lost")).status_code == 200
    assert (await campus.link("E1010", "EB100002"))["state"] == "active"
