"""Staff of one institution never see another's patrons, cards, fees, receipts or groups: the
other institution's ids answer 404, its card numbers are not found, its names are not found,
and a forged form changes nothing. (SQLite only; see conftest.)

This module runs a `libcard serve` of its own with two institutions, so that the package's
server keeps the single institution the portal tests count on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser

from tests.e2e.desk_support import (
    Desk,
    Staff,
    StaffUsers,
    create_staff_users,
    first_login,
    forge_post,
    new_context,
)
from tests.e2e.support import (
    Admin,
    LibcardServer,
    Patron,
    SmtpServer,
    alert_text,
    path_of,
    squash,
    start_server,
    stop_server,
)

OTHER = "sydby"


@dataclass
class TwoLibraries:
    server: LibcardServer
    nordby: Admin  # the JSON API, as Nordby's integrations see it
    sydby: Admin
    nordby_patron: Patron
    nordby_fee_id: int
    nordby_payment_id: int
    nordby_group_id: int
    sydby_patron: Patron
    sydby_staff: StaffUsers  # Sydby's desk user and administrator


@pytest.fixture(scope="module")
def two_libraries(
    smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory, browser: Browser
) -> Iterator[TwoLibraries]:
    server = start_server(tmp_path_factory.mktemp("e2e-two-libraries"), smtp.box.port)
    nordby = Admin(server.base_url, server.admin_token)
    sydby = Admin(server.base_url, server.admin_token)
    try:
        nordby.set_up_library()
        made = sydby.call(
            "POST",
            "/institutions",
            expect=201,
            json={
                "code": OTHER,
                "name": "Sydby Library",
                "card_prefix": "2771",
                "currency": "DKK",
                "default_language": "da",
            },
        )
        sydby.institution_id = int(made["id"])
        sydby.call(
            "POST",
            f"/institutions/{sydby.institution_id}/groups",
            expect=201,
            json={"code": "external", "name": "Sydby externals"},
        )
        patron = nordby.register("external", physical=True, first_name="Nanna")
        fee = nordby.charge(patron, 4000, "Overdue: 'Nordby local history'")
        payment = nordby.call(
            "POST",
            f"/patrons/{patron.id}/payments",
            expect=201,
            json={"amount_minor": 1000, "method": "cash"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        group = next(
            g
            for g in nordby.call("GET", f"/institutions/{nordby.institution_id}/groups")
            if g["code"] == "external"
        )
        desk_user, admin_user = create_staff_users(
            server,
            [
                Staff(f"sydby-desk-{patron.id}", "Sigrid Sydby", "desk", OTHER),
                Staff(f"sydby-admin-{patron.id}", "Arne Sydby", "admin", OTHER),
            ],
        )
        context = new_context(browser, server.base_url)
        try:
            for user in (desk_user, admin_user):
                context.clear_cookies()
                first_login(context.new_page(), user)
        finally:
            context.close()
        yield TwoLibraries(
            server=server,
            nordby=nordby,
            sydby=sydby,
            nordby_patron=patron,
            nordby_fee_id=int(fee["id"]),
            nordby_payment_id=int(payment["id"]),
            nordby_group_id=int(group["id"]),
            sydby_patron=sydby.register("external", first_name="Sune"),
            sydby_staff=StaffUsers(desk_user, desk_user, admin_user, None),
        )
    finally:
        nordby.close()
        sydby.close()
        stop_server(server)


@pytest.fixture
def sydby_desk(
    browser: Browser, two_libraries: TwoLibraries, request: pytest.FixtureRequest
) -> Iterator[Desk]:
    helper = Desk(
        browser, two_libraries.server.base_url, request.node.name, two_libraries.sydby_staff
    )
    yield helper
    helper.close()


def test_another_institutions_patron_pages_answer_404(
    two_libraries: TwoLibraries, sydby_desk: Desk
) -> None:
    nordby = two_libraries.nordby_patron
    page = sydby_desk.as_("desk")

    # The desk works for Sydby's own patron ...
    own = page.goto(f"/desk/patrons/{two_libraries.sydby_patron.id}")
    assert own is not None
    assert own.status == 200, own.status
    assert squash(page.locator("h1").inner_text()) == two_libraries.sydby_patron.name

    # ... and knows nothing of Nordby's.
    for path in (
        f"/desk/patrons/{nordby.id}",
        f"/desk/patrons/{nordby.id}/fees",
        f"/desk/patrons/{nordby.id}/address",
        f"/desk/payments/{two_libraries.nordby_payment_id}/receipt",
    ):
        answer = page.goto(path)
        assert answer is not None
        assert answer.status == 404, (path, answer.status)
        html = page.content()
        assert nordby.last_name not in html, f"{path} shows Nordby's patron"
        assert nordby.ecard not in html, f"{path} shows Nordby's card"
    sydby_desk.check(page, "other-institution-404")

    for number in (nordby.ecard, str(nordby.physical)):
        page.goto("/desk")
        page.locator("#card").fill(number)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert path_of(page) == "/desk/find", f"{number} opened {page.url}"
        assert alert_text(page), "a card of another institution must be refused"
    sydby_desk.check(page, "other-institution-card")

    page.goto(f"/desk/search?name={nordby.last_name}")
    assert nordby.last_name not in page.locator("main").inner_text()
    assert "No patron matches" in page.locator("main").inner_text()

    # Forged forms with the session's own CSRF token: 404, and nothing changes.
    for path, form in (
        (f"/desk/patrons/{nordby.id}/blocks", {"reason": "Forged from Sydby"}),
        (f"/desk/patrons/{nordby.id}/address", {"street": "Forged 1"}),
        (f"/desk/patrons/{nordby.id}/payments", {"amount": "10", "method": "cash"}),
    ):
        forged = forge_post(page, path, form)
        assert forged.status == 404, (path, forged.status)
    status = two_libraries.nordby.status(nordby.ecard)
    assert status["blocks"] == [], status["blocks"]
    assert two_libraries.nordby.patron(nordby)["street"] is None
    fees = two_libraries.nordby.call("GET", f"/patrons/{nordby.id}/fees")
    assert fees["balance"]["amount_minor"] == 3000, fees
    sydby_desk.assert_clean()


def test_another_institutions_fees_and_groups_answer_404_to_its_administrator(
    two_libraries: TwoLibraries, sydby_desk: Desk
) -> None:
    page = sydby_desk.as_("admin")
    answer = page.goto(f"/desk/admin/groups/{two_libraries.nordby_group_id}")
    assert answer is not None
    assert answer.status == 404, answer.status
    assert "External users" not in page.locator("main").inner_text()
    sydby_desk.check(page, "other-institution-group")

    page.goto("/desk/admin/groups")
    assert "External users" not in page.locator("main").inner_text()
    assert "Sydby externals" in page.locator("main").inner_text()

    fee = two_libraries.nordby_fee_id
    for path, form in (
        (f"/desk/fees/{fee}/waive", {"reason": "Forged from Sydby"}),
        (f"/desk/fees/{fee}/refund", {"reason": "Forged from Sydby"}),
        (f"/desk/admin/groups/{two_libraries.nordby_group_id}", {"name": "Forged"}),
    ):
        forged = forge_post(page, path, form)
        assert forged.status == 404, (path, forged.status)
    nordby = two_libraries.nordby
    fees = nordby.call("GET", f"/patrons/{two_libraries.nordby_patron.id}/fees")
    assert fees["balance"]["amount_minor"] == 3000, fees
    assert nordby.call("GET", f"/groups/{two_libraries.nordby_group_id}")["name"] == (
        "External users"
    )
    sydby_desk.assert_clean()
