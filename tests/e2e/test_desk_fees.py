"""Money at the desk: a cash payment with its printable receipt (amount, method, staff,
branch, what it settled); a supervisor waives a fee and refunds a payment; a desk user sees
no waive form and a forged one is refused with the fee unchanged. (SQLite only.)"""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.desk_support import Desk, forge_post, notice_text, open_action
from tests.e2e.support import Admin, Patron, alert_text, no_space, path_of, squash, submit

OVERDUE = (12000, "Overdue: 'Forbrydelse og straf'")
DAMAGE = (8000, "Damaged: 'Kalaallit Nunaat, atlas'")


def _fees(admin: Admin, patron: Patron) -> dict[str, dict[str, Any]]:
    """The patron's fees from the JSON API, by description."""
    answer = admin.call("GET", f"/patrons/{patron.id}/fees")
    return {fee["description"]: fee for fee in answer["fees"]}


def _with_two_fees(admin: Admin, first_name: str) -> tuple[Patron, int, int]:
    patron = admin.register("external", first_name=first_name)
    overdue = admin.charge(patron, *OVERDUE)
    damage = admin.charge(patron, *DAMAGE, kind="other")
    return patron, int(overdue["id"]), int(damage["id"])


def _open_fees_page(page: Page, patron: Patron) -> None:
    page.goto(f"/desk/patrons/{patron.id}")
    with page.expect_navigation():
        page.locator("#fees").get_by_role("link", name="Take a payment / fees").click()
    assert path_of(page) == f"/desk/patrons/{patron.id}/fees", page.url


def test_a_cash_payment_is_recorded_with_a_receipt(desk: Desk, admin: Admin) -> None:
    patron, overdue_id, _ = _with_two_fees(admin, "Margrethe")
    page = desk.as_("desk")
    _open_fees_page(page, patron)
    assert no_space("DKK 200.00") in no_space(page.locator("#balance").inner_text())
    desk.check(page, "fees-desk")

    form = page.locator(f"form[action='/desk/patrons/{patron.id}/payments']")
    form.locator("[name=amount]").fill("500")
    submit(page, form)
    assert no_space("more than the DKK 200.00 owed") in no_space(alert_text(page)), alert_text(page)
    desk.check(page, "payment-refused")
    assert _fees(admin, patron)[OVERDUE[1]]["paid"]["amount_minor"] == 0

    form = page.locator(f"form[action='/desk/patrons/{patron.id}/payments']")
    form.locator("[name=amount]").fill("120,00")
    form.locator("#method-cash").check()
    form.locator(f"[name=settle-{overdue_id}]").check()
    form.locator("[name=note]").fill("Till 2")
    submit(page, form)
    assert "/receipt" in path_of(page), page.url
    assert "payment is recorded" in notice_text(page), notice_text(page)
    receipt = page.locator("#receipt")
    assert no_space(receipt.locator("#receipt-amount").inner_text()) == no_space("DKK 120.00")
    assert squash(receipt.locator("#receipt-method").inner_text()) == "Cash"
    assert desk.users.desk.name in receipt.locator("#receipt-staff").inner_text()
    if desk.users.branch:
        assert squash(receipt.locator("#receipt-branch").inner_text()) == desk.users.branch
    settled = squash(receipt.locator("#receipt-settled tbody").inner_text())
    assert OVERDUE[1] in settled, settled
    assert DAMAGE[1] not in settled, settled
    assert no_space("DKK 80.00") in no_space(receipt.locator("#receipt-balance").inner_text())
    assert "Till 2" in receipt.inner_text()
    desk.check(page, "receipt")
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator("#receipt-amount")).to_be_visible()
    desk.shot(page, "receipt-print")
    page.emulate_media(media="screen")

    fees = _fees(admin, patron)
    assert fees[OVERDUE[1]]["outstanding"]["amount_minor"] == 0, fees
    assert fees[DAMAGE[1]]["outstanding"]["amount_minor"] == DAMAGE[0], fees
    desk.assert_clean()


def test_a_desk_user_cannot_waive_even_with_a_forged_form(desk: Desk, admin: Admin) -> None:
    patron, overdue_id, _ = _with_two_fees(admin, "Holger")
    page = desk.as_("desk")
    _open_fees_page(page, patron)
    expect(page.locator("form[action$='/waive']")).to_have_count(0)
    expect(page.locator("form[action$='/refund']")).to_have_count(0)
    assert "A supervisor can waive or refund a fee." in page.locator("main").inner_text()

    answer = forge_post(
        page, f"/desk/fees/{overdue_id}/waive", {"amount": "", "reason": "Forged by a desk user"}
    )
    assert answer.status == 403, (answer.status, answer.text()[:300])
    assert "supervisor" in answer.text()
    fee = _fees(admin, patron)[OVERDUE[1]]
    assert fee["waived"]["amount_minor"] == 0, fee
    assert fee["outstanding"]["amount_minor"] == OVERDUE[0], fee
    desk.check(page, "fees-desk-no-waive")
    desk.assert_clean()


def test_a_supervisor_waives_a_fee_and_refunds_a_payment(desk: Desk, admin: Admin) -> None:
    patron, overdue_id, damage_id = _with_two_fees(admin, "Ejnar")
    admin.call(
        "POST",
        f"/patrons/{patron.id}/payments",
        expect=201,
        json={"amount_minor": OVERDUE[0], "method": "cash", "fee_ids": [overdue_id]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    page = desk.as_("supervisor")
    _open_fees_page(page, patron)
    desk.check(page, "fees-supervisor")

    waive = open_action(page, page.locator(f"#fee-{damage_id} details.action").first)
    submit(page, waive)  # no reason
    assert "Give a reason" in alert_text(page), alert_text(page)
    assert _fees(admin, patron)[DAMAGE[1]]["waived"]["amount_minor"] == 0
    desk.check(page, "waive-refused")

    waive = open_action(page, page.locator(f"#fee-{damage_id} details.action").first)
    waive.locator("[name=reason]").fill("Atlas was damaged before the loan")
    submit(page, waive)
    assert "fee is waived" in notice_text(page), notice_text(page)
    fee = _fees(admin, patron)[DAMAGE[1]]
    assert fee["waived"]["amount_minor"] == DAMAGE[0], fee
    assert fee["outstanding"]["amount_minor"] == 0, fee

    refund = open_action(
        page, page.locator(f"#fee-{overdue_id} details.action:has(form[action$='/refund'])")
    )
    refund.locator("[name=amount]").fill("50")
    refund.locator("[name=reason]").fill("Returned on time; the return was booked late")
    submit(page, refund)
    assert "refund is recorded" in notice_text(page), notice_text(page)
    fee = _fees(admin, patron)[OVERDUE[1]]
    assert fee["refunded"]["amount_minor"] == 5000, fee
    history = squash(page.locator("table#fee-history").inner_text())
    assert "Waiver" in history, history
    assert "Refund" in history, history
    assert desk.users.supervisor.name in history, history
    assert "Atlas was damaged before the loan" in history, history
    desk.check(page, "waived-and-refunded")
    desk.assert_clean()
