"""axe-core (WCAG 2.0 and 2.1, levels A and AA) on every portal page, in the states a patron
meets: empty forms, a refused form, a blocked account with fees, a card just reported lost.
No serious or critical violation may be left. (SQLite only; see conftest.)

This test's browser context bypasses the pages' Content-Security-Policy, because axe is
injected as a script; it is used for nothing but the axe checks.
"""

from __future__ import annotations

from tests.e2e.support import (
    Admin,
    LibcardServer,
    Mailbox,
    Portal,
    form_with,
    log_in,
    path_of,
    reset_link,
    submit,
)


def test_every_page_passes_axe(
    admin: Admin, portal: Portal, mailbox: Mailbox, libcard: LibcardServer
) -> None:
    patron = admin.register("external", physical=True)
    assert patron.email is not None
    assert patron.physical_id is not None
    admin.charge(patron, 30000, "Replacement: 'Kongens Fald'", kind="replacement")
    admin.charge(patron, 2000, "Overdue: 'Hærværk'")
    page = portal.page()

    def check(path: str, name: str) -> None:
        assert path_of(page) == path, f"{name}: expected {path}, at {page.url}"
        portal.shot(page, name)
        portal.axe(page, name)

    page.goto("/login")
    check("/login", "login")
    log_in(page, patron.ecard, "Not-The-Password-42")
    check("/login", "login-refused")

    page.goto("/activate")
    check("/activate", "activate")
    form = form_with(page, "code")
    form.locator("[name=card_number]").fill(patron.ecard)
    form.locator("[name=code]").fill("ABCDEFGHJK")
    submit(page, form)
    check("/activate", "activate-refused")

    page.goto("/forgot-password")
    check("/forgot-password", "forgot")
    form = form_with(page, "email")
    form.locator("[name=email]").fill(patron.email)
    submit(page, form)
    check("/forgot-password", "forgot-sent")
    link = reset_link(mailbox.next_to(patron.email), libcard.base_url)
    page.goto(link)
    check(link.removeprefix(libcard.base_url), "reset")

    log_in(page, patron.ecard, patron.password)
    check("/card", "card")
    for path in ("/overview", "/my-data", "/password", "/pin", "/lost-card"):
        page.goto(path)
        check(path, path.strip("/"))

    form = form_with(page, "card_id")
    form.locator(f"[name=card_id][value='{patron.physical_id}']").check()
    form.locator("[name=confirm]").check()
    submit(page, form)
    check("/lost-card", "lost-card-reported")
