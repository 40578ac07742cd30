"""Administration at the desk: the administrator lowers a group's fee block threshold and
changes what the fee block stops, and the terminals' API follows at once; desk users and
supervisors get 403 on the administration pages, also for a forged form. (SQLite only.)

The test makes a group of its own, so the groups other tests use keep their settings."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.desk_support import Desk, forge_post, notice_text
from tests.e2e.support import PHONE, Admin, alert_text, overflow, path_of, squash, submit

# Every administration page.
ADMIN_PAGES = (
    "/desk/admin",
    "/desk/admin/institution",
    "/desk/admin/groups",
    "/desk/admin/groups/new",
    "/desk/admin/branches",
    "/desk/admin/terminals",
    "/desk/admin/terminals/new",
    "/desk/admin/wallet",
)


def test_the_admin_changes_a_groups_fee_block_and_it_takes_effect(desk: Desk, admin: Admin) -> None:
    tag = uuid.uuid4().hex[:6]
    group = admin.call(
        "POST",
        f"/institutions/{admin.institution_id}/groups",
        expect=201,
        json={"code": f"retired-{tag}", "name": f"Retired readers {tag}"},
    )
    patron = admin.register(group["code"], first_name="Asta")
    admin.charge(patron, 10000, "Overdue: 'Matador, bind 2'")
    before = admin.status(patron.ecard)
    assert before["may"]["borrow"] is True, "100 kr. is below the institution's threshold"

    page = desk.as_("admin")
    page.goto("/desk")
    with page.expect_navigation():
        page.locator("header nav").get_by_role("link", name="Administration").click()
    assert path_of(page) == "/desk/admin", page.url
    desk.check(page, "admin")
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name="Patron groups").click()
    desk.check(page, "admin-groups")
    with page.expect_navigation():
        page.get_by_role("link", name=group["name"]).click()
    assert path_of(page) == f"/desk/admin/groups/{group['id']}", page.url
    desk.check(page, "admin-group")

    form = page.locator(f"form[action='/desk/admin/groups/{group['id']}']")
    form.locator("[name=threshold]").fill("50")
    form.locator("[name=reason]").fill("Retired readers pay little: block early")
    submit(page, form)
    assert "settings are saved" in notice_text(page), f"{notice_text(page)} {alert_text(page)}"
    status = admin.status(patron.ecard)
    assert status["may"]["borrow"] is False, status
    assert [b["code"] for b in status["blocks"]] == ["fee_threshold"], status["blocks"]
    assert admin.call("GET", f"/groups/{group['id']}")["fee_block_threshold_minor"] == 5000

    # Now the fee block stops only holds for this group.
    form = page.locator(f"form[action='/desk/admin/groups/{group['id']}']")
    form.locator("[name='mode.fee_threshold']").select_option("own")
    for action in ("borrow", "renew", "hold", "digital"):
        box = form.locator(f"[name='effect.fee_threshold.{action}']")
        box.set_checked(action == "hold")
    form.locator("[name=reason]").fill("Let them borrow; no holds until paid")
    submit(page, form)
    assert "settings are saved" in notice_text(page), f"{notice_text(page)} {alert_text(page)}"
    desk.check(page, "admin-group-saved")
    status = admin.status(patron.ecard)
    assert status["may"]["borrow"] is True, status
    assert status["may"]["hold"] is False, status
    desk.assert_clean()


def test_desk_users_and_supervisors_get_403_on_the_administration(desk: Desk, admin: Admin) -> None:
    external = next(
        g
        for g in admin.call("GET", f"/institutions/{admin.institution_id}/groups")
        if g["code"] == "external"
    )
    for role in ("desk", "supervisor"):
        page = desk.as_(role)
        page.goto("/desk")
        expect(page.locator("header nav").get_by_role("link", name="Administration")).to_have_count(
            0
        )
        for path in ("/desk/admin", "/desk/admin/groups", f"/desk/admin/groups/{external['id']}"):
            answer = page.goto(path)
            assert answer is not None
            assert answer.status == 403, (role, path, answer.status)
            assert "Your role does not allow this" in alert_text(page), alert_text(page)
        desk.check(page, f"admin-403-{role}")

        page.goto("/desk")  # the error page has no form: take the token from the desk
        forged = forge_post(
            page, f"/desk/admin/groups/{external['id']}", {"name": "Hacked", "threshold": "1"}
        )
        assert forged.status == 403, (role, forged.status)
        stored = admin.call("GET", f"/groups/{external['id']}")
        assert stored["name"] == "External users", stored
        assert squash(stored["name"]) != "Hacked"
    desk.assert_clean()


def test_every_administration_page_passes_axe(desk: Desk, admin: Admin) -> None:
    page = desk.as_("admin")
    groups = admin.call("GET", f"/institutions/{admin.institution_id}/groups")
    pages = [*ADMIN_PAGES, f"/desk/admin/groups/{groups[0]['id']}"]
    page.goto("/desk/admin/branches")
    branch = page.locator("main table a[href^='/desk/admin/branches/']").first
    if branch.count():
        pages.append(str(branch.get_attribute("href")))
    for path in pages:
        answer = page.goto(path)
        assert answer is not None
        assert answer.status == 200, (path, answer.status)
        assert page.locator("h1").count() == 1, f"{path} has {page.locator('h1').count()} h1"
        desk.check(page, path.strip("/").replace("/", "-"))
    desk.assert_clean()


def test_the_administration_pages_fit_a_phone(desk: Desk, admin: Admin) -> None:
    page = desk.as_("admin", viewport=PHONE)
    groups = admin.call("GET", f"/institutions/{admin.institution_id}/groups")
    wide = {}
    for path in (*ADMIN_PAGES, f"/desk/admin/groups/{groups[0]['id']}"):
        page.goto(path)
        if (width := overflow(page))["scroll"] > PHONE["width"]:
            wide[path] = width["scroll"]
    assert not wide, f"administration pages wider than {PHONE['width']} px: {wide}"
