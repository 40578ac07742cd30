"""Changing the PIN on /pin, proven by the password (R5); the self-checkout terminals' API then
accepts the new PIN and refuses the old one. (SQLite only; see conftest.)"""

from __future__ import annotations

import httpx

from tests.e2e.support import Admin, LibcardServer, Portal, alert_text, form_with, log_in, submit

NEW_PIN = "7391"


def test_a_pin_changed_on_the_page_is_the_one_the_terminal_accepts(
    admin: Admin, portal: Portal, libcard: LibcardServer
) -> None:
    patron = admin.register("external")
    page = portal.page()
    log_in(page, patron.ecard, patron.password)
    page.goto("/pin")
    portal.shot(page, "pin")

    form = form_with(page, "pin_repeat")
    form.locator("[name=password]").fill("Not-My-Password-123")
    form.locator("[name=pin]").fill(NEW_PIN)
    form.locator("[name=pin_repeat]").fill(NEW_PIN)
    submit(page, form)
    assert alert_text(page), "a wrong password must be refused with role=alert"
    portal.shot(page, "pin-wrong-password")

    form = form_with(page, "pin_repeat")
    form.locator("[name=password]").fill(patron.password)
    form.locator("[name=pin]").fill(NEW_PIN)
    form.locator("[name=pin_repeat]").fill(NEW_PIN)
    submit(page, form)
    assert not alert_text(page), alert_text(page)
    portal.shot(page, "pin-changed")

    terminal = admin.token("pin:verify", actor="terminal")
    with httpx.Client(
        base_url=f"{libcard.base_url}/api/v1",
        headers={"Authorization": f"Bearer {terminal}"},
        timeout=10,
    ) as api:
        new = api.post(f"/cards/{patron.ecard}/pin/verify", json={"pin": NEW_PIN}).json()
        assert new["valid"] is True, new
        old = api.post(f"/cards/{patron.ecard}/pin/verify", json={"pin": patron.pin}).json()
        assert old["valid"] is False, old
        assert old["locked"] is False, old
