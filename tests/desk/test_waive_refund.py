"""Waivers and refunds at the desk: only supervisors and administrators, always with a reason
that is kept with the staff member and branch; the desk role sees no such form and a forged
one changes nothing."""

from __future__ import annotations

import html

from libcard.fees.rules import FeeState
from tests.desk.conftest import DeskHarness, audit_events
from tests.desk.test_payments import clerk, dkk, fees_now, give_fee, hidden_fields
from tests.portal.conftest import alert


async def _pay(desk: DeskHarness, patron_id: int, amount: str) -> None:
    client, _ = await clerk(desk)
    page = await client.get(f"/desk/patrons/{patron_id}/fees")
    form = hidden_fields(page.text, f"/desk/patrons/{patron_id}/payments")
    paid = await client.post(
        f"/desk/patrons/{patron_id}/payments", data={**form, "amount": amount, "method": "cash"}
    )
    assert paid.status_code == 303


async def test_a_supervisor_waives_a_fee_with_a_reason_that_is_audited(
    desk: DeskHarness,
) -> None:
    patron = await desk.world.patron()
    fee_id = await give_fee(desk, patron.id, 5000, "Overdue: Dune")
    client, user = await clerk(desk, "supervisor")
    page = await client.get(f"/desk/patrons/{patron.id}/fees")
    form = hidden_fields(page.text, f"/desk/fees/{fee_id}/waive")
    partly = await client.post(
        f"/desk/fees/{fee_id}/waive",
        data={**form, "amount": "20,00", "reason": "Returned a day late; book drop was full"},
    )
    assert partly.status_code == 303
    assert partly.headers["location"] == f"/desk/patrons/{patron.id}/fees?done=waived"
    [view] = await fees_now(desk, patron.id)
    assert (view.status.waived_minor, view.status.outstanding_minor) == (2000, 3000)
    rest = await client.post(
        f"/desk/fees/{fee_id}/waive", data={**form, "amount": "", "reason": "Goodwill"}
    )
    assert rest.status_code == 303
    [view] = await fees_now(desk, patron.id)
    assert view.status.state is FeeState.WAIVED
    events = await audit_events(desk.runtime, "fee:waiver")
    assert [(e.reason, e.details["amount_minor"]) for e in events] == [
        ("Returned a day late; book drop was full", 2000),
        ("Goodwill", 3000),
    ]
    assert {(e.actor_id, e.branch_id) for e in events} == {(f"staff:{user.id}", desk.branch_id)}
    shown = await client.get(rest.headers["location"])
    assert "The fee is waived." in shown.text
    history = shown.text[shown.text.index('id="fee-history"') :]
    assert "Waiver" in history
    assert "Goodwill" in history
    assert "book drop was full" in history
    # Nothing left to waive: no form, and a resent one is refused.
    assert f'action="/desk/fees/{fee_id}/waive"' not in shown.text
    again = await client.post(f"/desk/fees/{fee_id}/waive", data={**form, "reason": "Again"})
    assert again.status_code == 409
    assert alert(again.text) == "Nothing is owed on this fee any more, so nothing can be waived."


async def test_a_waiver_needs_a_reason_and_cannot_exceed_what_is_owed(
    desk: DeskHarness,
) -> None:
    patron = await desk.world.patron()
    fee_id = await give_fee(desk, patron.id, 5000)
    client, _ = await clerk(desk, "admin")
    page = await client.get(f"/desk/patrons/{patron.id}/fees")
    form = hidden_fields(page.text, f"/desk/fees/{fee_id}/waive")
    no_reason = await client.post(
        f"/desk/fees/{fee_id}/waive", data={**form, "amount": "10", "reason": "  "}
    )
    assert no_reason.status_code == 422
    assert (
        html.unescape(alert(no_reason.text))
        == "Give a reason; it is kept in the account's history."
    )
    assert f'id="waive-{fee_id}-reason"' in no_reason.text
    assert '<details class="action" open>' in no_reason.text
    too_much = await client.post(
        f"/desk/fees/{fee_id}/waive", data={**form, "amount": "60", "reason": "Typo"}
    )
    assert too_much.status_code == 409
    assert alert(too_much.text) == "A waiver cannot be more than what is still owed on the fee."
    assert f'id="waive-{fee_id}-amount" name="amount" type="text" value="60"' in too_much.text
    [view] = await fees_now(desk, patron.id)
    assert view.status.outstanding_minor == 5000
    assert await audit_events(desk.runtime, "fee:waiver") == []


async def test_the_desk_role_sees_no_waive_or_refund_form_and_a_forged_one_is_refused(
    desk: DeskHarness,
) -> None:
    patron = await desk.world.patron()
    fee_id = await give_fee(desk, patron.id, 5000)
    await _pay(desk, patron.id, "10")
    client, _ = await clerk(desk, "desk")
    page = await client.get(f"/desk/patrons/{patron.id}/fees")
    assert page.status_code == 200
    assert "/waive" not in page.text
    assert "/refund" not in page.text
    assert "A supervisor can waive or refund a fee." in page.text
    form = hidden_fields(page.text, f"/desk/patrons/{patron.id}/payments")
    csrf_only = {"csrf": form["csrf"]}
    for action in ("waive", "refund"):
        forged = await client.post(
            f"/desk/fees/{fee_id}/{action}", data={**csrf_only, "reason": "Let me"}
        )
        assert forged.status_code == 403
        assert alert(forged.text) == (
            "Your role does not allow this. Ask a supervisor or an administrator."
        )
    [view] = await fees_now(desk, patron.id)
    assert (view.status.paid_minor, view.status.waived_minor, view.status.refunded_minor) == (
        1000,
        0,
        0,
    )
    assert await audit_events(desk.runtime, "fee:waiver") == []
    assert await audit_events(desk.runtime, "fee:refund") == []


async def test_a_supervisor_refunds_what_was_paid_with_a_reason(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    fee_id = await give_fee(desk, patron.id, 5000, "Replacement: atlas")
    client, user = await clerk(desk, "supervisor")
    page = await client.get(f"/desk/patrons/{patron.id}/fees")
    assert f'action="/desk/fees/{fee_id}/refund"' not in page.text  # nothing paid yet
    await _pay(desk, patron.id, "50")
    page = await client.get(f"/desk/patrons/{patron.id}/fees")
    form = hidden_fields(page.text, f"/desk/fees/{fee_id}/refund")
    too_much = await client.post(
        f"/desk/fees/{fee_id}/refund", data={**form, "amount": "60", "reason": "Atlas found"}
    )
    assert too_much.status_code == 409
    assert "A refund cannot be more than what was paid" in alert(too_much.text)
    done = await client.post(
        f"/desk/fees/{fee_id}/refund", data={**form, "amount": "", "reason": "Atlas found"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/desk/patrons/{patron.id}/fees?done=refunded"
    [view] = await fees_now(desk, patron.id)
    # A refund gives the money back; the fee stays paid (docs/architecture.md, the ledger).
    assert (view.status.refunded_minor, view.status.state) == (5000, FeeState.PAID)
    [event] = await audit_events(desk.runtime, "fee:refund")
    assert (event.actor_id, event.branch_id, event.reason) == (
        f"staff:{user.id}",
        desk.branch_id,
        "Atlas found",
    )
    shown = await client.get(done.headers["location"])
    assert "Give the money back to the patron." in shown.text
    row = shown.text[shown.text.index(f'<tr id="fee-{fee_id}">') :]
    assert dkk(5000) in row[: row.index("</tr>")]
    history = shown.text[shown.text.index('id="fee-history"') :]
    assert "Refund" in history
    assert "Atlas found" in history
    again = await client.post(f"/desk/fees/{fee_id}/refund", data={**form, "reason": "Twice"})
    assert again.status_code == 409
    assert alert(again.text) == "Nothing has been paid for this fee, so nothing can be refunded."


async def test_a_waiver_without_the_csrf_token_is_refused(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    fee_id = await give_fee(desk, patron.id, 5000)
    client, _ = await clerk(desk, "supervisor")
    refused = await client.post(
        f"/desk/fees/{fee_id}/waive", data={"amount": "", "reason": "No token"}
    )
    assert refused.status_code == 403
    assert "This form has expired" in alert(refused.text)
    [view] = await fees_now(desk, patron.id)
    assert view.status.state is FeeState.OPEN
    missing = await client.post("/desk/fees/999999/waive", data={"reason": "No such fee"})
    assert missing.status_code == 404
