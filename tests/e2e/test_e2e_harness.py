"""The e2e harness itself: the server starts on its SQLite file and takes the admin token, the
SMTP mailbox collects and the mail parsers find codes and links, Chromium launches with the
portal's Content-Security-Policy in force, and axe-core runs. (SQLite only; see conftest.)"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import httpx
import pytest

from tests.e2e.support import (
    Admin,
    LibcardServer,
    Mail,
    Mailbox,
    Portal,
    SmtpServer,
    activation_code,
    reset_link,
    run_axe,
)


def test_server_answers_and_the_admin_token_works(libcard: LibcardServer, admin: Admin) -> None:
    assert httpx.get(f"{libcard.base_url}/healthz").json() == {"status": "ok"}
    institutions = admin.call("GET", "/institutions")
    assert [i["code"] for i in institutions] == ["nordby"]
    groups = admin.call("GET", f"/institutions/{admin.institution_id}/groups")
    fees = {g["code"]: g["effective"]["card_replacement_fee"]["amount"] for g in groups}
    assert fees["external"] == "50.00"


def test_mailbox_collects_over_smtp_and_waits_per_address(
    smtp: SmtpServer, mailbox: Mailbox
) -> None:
    message = EmailMessage()
    message["From"] = "libcard <noreply@localhost>"
    message["To"] = "Ærø Holm <aero@example.org>"
    message["Subject"] = "Din aktiveringskode"
    message.set_content(
        "Hej Ærø,\n\nDin kode er: 7KQ4-M9XPA2 (kortnummer 27700000000061).\n"
        "Nulstil: http://127.0.0.1:1/reset-password/Ab_c-12%7E.\n"
    )
    with smtplib.SMTP("127.0.0.1", smtp.box.port, timeout=10) as client:
        client.send_message(message)
    mail = mailbox.next_to("AERO@example.org", timeout=10)
    assert mail.subject == "Din aktiveringskode"
    assert activation_code(mail) == "7KQ4M9XPA2"
    assert reset_link(mail, "http://127.0.0.1:1") == "http://127.0.0.1:1/reset-password/Ab_c-12%7E"
    assert mailbox.nothing_more_to("aero@example.org")
    with pytest.raises(AssertionError, match="No mail to"):
        mailbox.next_to("aero@example.org", timeout=0.2)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("Your activation code: ABCDE23456\n", "ABCDE23456"),
        ("Code: ABCDE 23456. Card: 27700000000061", "ABCDE23456"),
        ("<p>Aktivierungscode: <strong>HJKMN-PQRST</strong></p>", "HJKMNPQRST"),
    ],
)
def test_activation_code_is_found_however_it_is_grouped(body: str, code: str) -> None:
    assert activation_code(Mail(to=("x",), subject="", text=body, message=EmailMessage())) == code


def test_chromium_runs_axe_under_the_pages_csp(portal: Portal, base_url: str) -> None:
    page = portal.page()
    response = page.goto("/api/v1/docs")
    assert response is not None
    assert response.ok
    assert "script-src 'self'" in response.headers["content-security-policy"]
    portal.shot(page, "api-docs")
    # The page keeps its CSP: a script tag added to it is refused ...
    with pytest.raises(Exception, match=r"Content Security Policy|CSP|Refused"):
        page.add_script_tag(content="document.title = 'injected'")
    assert page.title() != "injected"
    # ... and axe runs all the same, in place. FastAPI's Swagger page is no portal page and
    # has no `lang`: axe must find that, a serious violation.
    result = run_axe(page)
    assert result["passes"] > 0
    found = {v["id"]: v["impact"] for v in result["violations"]}
    assert found.get("html-has-lang") == "serious", found
    with pytest.raises(AssertionError, match="html-has-lang"):
        portal.axe(page, "api docs")
