"""The patron view at the desk: group, cards and their states, every block with its reason,
since when and how it lifts (the same words the JSON API gives), fees and balance, and the
account's recent events with who did them. (SQLite only; see conftest.)"""

from __future__ import annotations

from datetime import datetime

from playwright.sync_api import expect

from tests.e2e.desk_support import Desk, Terminal
from tests.e2e.support import Admin, LibcardServer, no_space, squash

FEE = (30000, "Overdue: 'Kongens Fald'")
STAFF_REASON = "Three damaged books: talk to the desk before borrowing again."


def test_the_patron_view_shows_groups_cards_blocks_fees_and_events(
    desk: Desk, admin: Admin, libcard: LibcardServer
) -> None:
    patron = admin.register("external", physical=True, first_name="Gunhild")
    assert patron.physical_id is not None
    assert patron.ecard_id is not None
    admin.charge(patron, FEE[0], FEE[1])
    admin.call("POST", f"/patrons/{patron.id}/blocks", expect=201, json={"reason": STAFF_REASON})
    terminal = Terminal(admin, libcard.base_url)
    try:
        terminal.lock(patron.ecard, patron.pin)
    finally:
        terminal.close()
    status = admin.status(patron.ecard, "en")
    assert {b["code"] for b in status["blocks"]} == {"fee_threshold", "staff", "pin_locked"}

    page = desk.as_("desk")
    page.goto(f"/desk/patrons/{patron.id}")
    desk.check(page, "patron")
    assert squash(page.locator("h1").inner_text()) == patron.name
    person = squash(page.locator("section:has(#person-title)").inner_text())
    assert "Group External users" in person, person
    assert str(patron.email) in person, person

    for card_id, number in ((patron.ecard_id, patron.ecard), (patron.physical_id, patron.physical)):
        card = squash(page.locator(f"#card-{card_id}").inner_text())
        assert str(number) in card, card
        assert "State Active" in card, card

    articles = page.locator("#blocks article.block")
    expect(articles).to_have_count(len(status["blocks"]))
    shown = {}
    for article in articles.all():
        shown[squash(article.locator("h3").inner_text())] = article
    for block in status["blocks"]:
        title = squash(block["title"])
        assert title in shown, f"block {block['code']} ({title}) not shown; shown: {list(shown)}"
        article = shown[title]
        if block["reason"]:
            reason = squash(article.locator(".block-reason").inner_text())
            assert squash(block["reason"]) in reason, (reason, block["reason"])
        lift = squash(article.locator(".block-lift").inner_text())
        assert squash(block["lift"]) in lift, (lift, block["lift"])
        since = squash(article.locator(".block-since").inner_text())
        assert str(datetime.fromisoformat(block["since"]).year) in since, since
        assert squash(article.locator(".block-stops").inner_text()), "what it stops is not said"
    assert STAFF_REASON in page.locator("#blocks").inner_text()
    # Each block offers its own next step: pay, lift the lockout, lift the staff block.
    expect(page.locator("#blocks a[href$='/fees']")).to_have_count(1)
    expect(page.locator("#pin-unlock")).to_have_count(1)
    expect(page.locator("#blocks details:has(form[action*='/lift'])")).to_have_count(1)

    assert no_space("DKK300.00") in no_space(page.locator("#balance").inner_text())
    fees = squash(page.locator("table#open-fees").inner_text())
    assert FEE[1] in fees, fees

    events = squash(page.locator("table#events").inner_text())
    for label in ("Registered", "Card issued", "Fee charged", "Block placed", "PIN locked"):
        assert label in events, f"{label!r} missing from the recent events: {events}"
    desk.assert_clean()
