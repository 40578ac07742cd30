"""The staff side of the end-to-end tests: staff users made with the real `libcard staff create`,
their two-step login in Chromium (password, then the authenticator app's code, enrolling on the
first login), and a browser helper for desk pages with screenshots at a desk's and a phone's
width, the axe check on exactly what the page showed, and the sideways-scroll check.

A one-time code cannot be used twice in its 30-second step, so each role logs in once per
package (see conftest `staff_users`) and tests open new browser contexts from the saved
storage state. A test that must log a user in again uses one of the user's recovery codes.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
from playwright.sync_api import (
    APIResponse,
    Browser,
    BrowserContext,
    Locator,
    Page,
    Response,
    StorageState,
    ViewportSize,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.support import (
    INSTITUTION,
    LIBCARD,
    PHONE,
    Admin,
    LibcardServer,
    Portal,
    alert_text,
    describe_violations,
    overflow,
    path_of,
    run_axe,
    squash,
    submit,
)

STAFF_PASSWORD = "Lending-Tuesday-Quiet-7"
BRANCH_CODE = "main"
BRANCH_NAME = "Nordby Main Library"
DESK_SIZE: ViewportSize = {"width": 1280, "height": 900}
STAFF_COOKIE = "__Host-libcard_staff"


# --- staff users ------------------------------------------------------------------------


@dataclass
class Staff:
    """A staff user as the tests know them: what they type, and their browser's state."""

    username: str
    name: str
    role: str
    institution: str = INSTITUTION
    branch: str | None = None
    password: str = STAFF_PASSWORD
    key: str | None = None  # the authenticator key, read from the enrolment page
    recovery_codes: list[str] = field(default_factory=list)
    state: StorageState | None = None  # Playwright storage state of a logged-in browser

    def recovery_code(self) -> str:
        """One unused recovery code (each works once)."""
        assert self.recovery_codes, f"{self.username} has no recovery code left"
        return self.recovery_codes.pop()


def create_staff(
    server: LibcardServer,
    role: str,
    *,
    name: str | None = None,
    institution: str = INSTITUTION,
    branch: str | None = None,
    password: str = STAFF_PASSWORD,
) -> Staff:
    """A staff user made with the real command, the password given on standard input."""
    return create_staff_users(
        server, [Staff(_username(role), name or "", role, institution, branch, password)]
    )[0]


def _username(role: str) -> str:
    return f"{role}-{uuid.uuid4().hex[:8]}"


def create_staff_users(server: LibcardServer, users: list[Staff]) -> list[Staff]:
    """`libcard staff create` for each user, the commands run side by side (each takes a
    couple of seconds, most of it Python starting)."""
    running = []
    for user in users:
        user.name = user.name or f"Sam {user.role.title()} {user.username[-4:]}"
        command = [
            LIBCARD,
            "staff",
            "create",
            "--institution",
            user.institution,
            "--username",
            user.username,
            "--name",
            user.name,
            "--role",
            user.role,
            "--password-stdin",
        ]
        if user.branch is not None:
            command += ["--branch", user.branch]
        process = subprocess.Popen(  # noqa: S603 — our own command
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=server.workdir,
            env=server.env,
            text=True,
        )
        running.append((user, process))
    for user, process in running:
        out, err = process.communicate(user.password + "\n", timeout=120)
        assert process.returncode == 0, f"libcard staff create {user.username}: {out}\n{err}"
    return users


def new_staff(role: str, *, name: str = "", branch: str | None = None) -> Staff:
    """A staff user not yet created: give a list of them to create_staff_users."""
    return Staff(_username(role), name, role, INSTITUTION, branch)


def totp_now(key: str) -> str:
    """The code the user's phone shows now (the server uses the real clock too)."""
    return pyotp.TOTP(key).now()


def wrong_code(key: str) -> str:
    """Six digits that are no code of the last or next few steps: refused however the clock is."""
    totp = pyotp.TOTP(key)
    near = {totp.at(time.time() + step * 30) for step in range(-3, 4)}
    return next(
        c for c in (totp.at(time.time() - 86_400 * n) for n in range(1, 50)) if c not in near
    )


# --- the login steps in the browser -----------------------------------------------------


def password_step(page: Page, user: Staff, password: str | None = None) -> Response | None:
    page.goto("/desk/login")
    form = page.locator("form[action='/desk/login']")
    form.locator("[name=username]").fill(user.username)
    form.locator("[name=password]").fill(password or user.password)
    return submit(page, form)


def code_step(page: Page, code: str) -> Response | None:
    """The code on /desk/enrol or /desk/second-factor, whichever the page is."""
    form = page.locator("form:has([name=code])")
    form.locator("[name=code]").fill(code)
    return submit(page, form)


def read_key(page: Page) -> str:
    assert path_of(page) == "/desk/enrol", page.url
    key = squash(page.locator(".secret").inner_text()).replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}", key), key
    return key


def read_recovery_codes(page: Page) -> list[str]:
    codes = [squash(c) for c in page.locator("ul.codes li").all_inner_texts()]
    assert len(codes) >= 5, f"recovery codes page shows {codes}"
    return codes


def enrol(page: Page, user: Staff) -> None:
    """On /desk/enrol: read the key, type the app's code; keeps the recovery codes shown."""
    user.key = read_key(page)
    code_step(page, totp_now(user.key))
    assert not alert_text(page), f"enrolment refused: {alert_text(page)}"
    user.recovery_codes = read_recovery_codes(page)


def first_login(page: Page, user: Staff) -> None:
    """Password, enrolment, recovery codes, then the desk; keeps the browser's state."""
    password_step(page, user)
    assert path_of(page) == "/desk/enrol", f"{user.username}: {page.url} {alert_text(page)}"
    enrol(page, user)
    with page.expect_navigation():
        page.locator("main a[href^='/desk']").last.click()
    assert path_of(page) == "/desk", page.url
    user.state = page.context.storage_state()


def recovery_login(page: Page, user: Staff) -> None:
    """A later login, with a recovery code as the second factor (never the same TOTP step)."""
    password_step(page, user)
    assert path_of(page) == "/desk/second-factor", page.url
    code_step(page, user.recovery_code())
    assert path_of(page) == "/desk", f"{page.url}: {alert_text(page)}"


def log_out(page: Page) -> None:
    with page.expect_navigation():
        page.locator("header form[action='/desk/logout'] [type=submit]").click()
    assert path_of(page) == "/desk/login", page.url


@dataclass
class StaffUsers:
    desk: Staff
    supervisor: Staff
    admin: Staff
    branch: str | None  # the branch's name, if the admin page could make one

    def __getitem__(self, role: str) -> Staff:
        return {"desk": self.desk, "supervisor": self.supervisor, "admin": self.admin}[role]


def new_context(browser: Browser, base_url: str, **kw: Any) -> BrowserContext:
    context = browser.new_context(
        base_url=base_url,
        locale=kw.pop("locale", "en-GB"),
        timezone_id="Europe/Copenhagen",
        viewport=kw.pop("viewport", DESK_SIZE),
        **kw,
    )
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(15_000)
    return context


def make_branch(page: Page, code: str, name: str) -> bool:
    """The admin creates a branch on /desk/admin/branches; False if there is no such page."""
    answer = page.goto("/desk/admin/branches")
    if answer is None or answer.status == 404:
        return False
    form = page.locator("form[action='/desk/admin/branches']")
    form.locator("[name=code]").fill(code)
    form.locator("[name=name]").fill(name)
    form.locator("[name=address]").fill("Torvet 1, 9999 Nordby")
    submit(page, form)
    assert not alert_text(page), f"branch not created: {alert_text(page)}"
    return True


def set_up_staff(browser: Browser, server: LibcardServer) -> StaffUsers:
    """One user of each role, each logged in once; the desk and supervisor at a branch."""
    context = new_context(browser, server.base_url)
    try:
        admin = create_staff(server, "admin", name="Ada Admin")
        page = context.new_page()
        first_login(page, admin)
        branch = BRANCH_CODE if make_branch(page, BRANCH_CODE, BRANCH_NAME) else None
        desk, supervisor = create_staff_users(
            server,
            [
                new_staff("desk", name="Dorte Desk", branch=branch),
                new_staff("supervisor", name="Sune Supervisor", branch=branch),
            ],
        )
        users = StaffUsers(desk, supervisor, admin, BRANCH_NAME if branch else None)
        for user in (users.desk, users.supervisor):
            context.clear_cookies()
            first_login(context.new_page(), user)
        return users
    finally:
        context.close()


# --- desk pages in the browser ----------------------------------------------------------


class Desk(Portal):
    """Browser contexts for one test, logged in as a staff user from the saved state.

    `check(page, name)` takes the page as the person sees it: a screenshot at the desk's
    width and at a phone's, the sideways-scroll check at 390 px, and axe-core on the very HTML
    shown (also the answer to a POST, which a reload would not give back). What it finds is
    collected; `assert_clean()` at the end of a test fails on it, after the test's own checks.
    """

    def __init__(self, browser: Browser, base_url: str, test_name: str, users: StaffUsers) -> None:
        super().__init__(browser, base_url, test_name)
        self.users = users
        self.problems: list[str] = []
        self.checked: list[str] = []

    def as_(self, role: str | Staff, *, locale: str = "en-GB", **kw: Any) -> Page:
        """A new browser (context) of a logged-in staff member, at a desk's width."""
        user = role if isinstance(role, Staff) else self.users[role]
        assert user.state is not None, f"{user.username} never logged in"
        context = self.context(
            locale=locale, viewport=kw.pop("viewport", DESK_SIZE), storage_state=user.state, **kw
        )
        return context.new_page()

    def anonymous(self, **kw: Any) -> Page:
        return self.context(viewport=kw.pop("viewport", DESK_SIZE), **kw).new_page()

    def check(self, page: Page, name: str, *, axe: bool = True) -> None:
        """Screenshots at 1280 and 390 px, axe, and no sideways scroll on the phone."""
        self.checked.append(name)
        self.shot(page, f"{name}-1280")
        if axe:
            self._axe(page, name)
        size = page.viewport_size or DESK_SIZE
        page.set_viewport_size({"width": PHONE["width"], "height": PHONE["height"]})
        try:
            self.shot(page, f"{name}-390")
            width = overflow(page)
            if width["scroll"] > PHONE["width"]:
                self.problems.append(
                    f"{name} ({page.url}) scrolls sideways at 390 px: "
                    f"scrollWidth {width['scroll']} > {PHONE['width']}" + _widest(page)
                )
        finally:
            page.set_viewport_size(size)

    def _axe(self, page: Page, name: str) -> None:
        result = run_axe(page)
        serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
        if serious:
            self.problems.append(f"axe on {name} ({page.url}):\n" + describe_violations(serious))

    def assert_clean(self) -> None:
        assert self.checked, "no desk page was checked"
        assert not self.problems, "\n\n".join(self.problems)


def _widest(page: Page) -> str:
    """The element that sticks out furthest, to say where a page is too wide."""
    found = page.evaluate(
        """() => {
            let worst = null;
            for (const e of document.querySelectorAll('body *')) {
                const r = e.getBoundingClientRect();
                if (r.right > document.documentElement.clientWidth + 1
                    && (!worst || r.right > worst.right)) {
                    worst = {right: Math.round(r.right), tag: e.tagName.toLowerCase(),
                             id: e.id, cls: e.className && String(e.className)};
                }
            }
            return worst;
        }"""
    )
    return f"; widest: {found}" if found else ""


# --- reading desk pages -----------------------------------------------------------------


def notice_text(page: Page) -> str:
    return squash(" ".join(page.locator("[role=status]").all_inner_texts()))


def open_action(page: Page, details: Locator) -> Locator:
    """Open a <details class=action> with its summary, as a person does; its form."""
    if details.get_attribute("open") is None:
        details.locator("summary").first.click()
    return details.locator("form").first


# --- the library's side: the JSON API ----------------------------------------------------


class Terminal:
    """A self-checkout terminal's API client (token scope pin:verify)."""

    def __init__(self, admin: Admin, base_url: str) -> None:
        self.client = httpx.Client(
            base_url=f"{base_url}/api/v1",
            headers={"Authorization": f"Bearer {admin.token('pin:verify', actor='terminal')}"},
            timeout=10,
        )

    def verify(self, number: str, pin: str) -> dict[str, Any]:
        answer = self.client.post(f"/cards/{number}/pin/verify", json={"pin": pin})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def lock(self, number: str, right_pin: str) -> dict[str, Any]:
        """Wrong PINs until the card's PIN is locked."""
        wrong = "0000" if right_pin != "0000" else "1111"
        for _ in range(20):
            last = self.verify(number, wrong)
            if last["locked"]:
                return last
        raise AssertionError(f"the PIN of {number} never locked: {last}")

    def close(self) -> None:
        self.client.close()


def csrf_of(page: Page) -> str:
    """The session's CSRF token, from any form of the page (the log-out form has one)."""
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    assert token, f"no CSRF token on {page.url}"
    return token


def forge_post(page: Page, path: str, form: dict[str, str]) -> APIResponse:
    """A hand-made POST from the logged-in browser, with the session's own CSRF token (what a
    user could send with the developer tools), in the browser's language; not followed."""
    return page.request.post(
        path,
        form={"csrf": csrf_of(page), **form},
        headers={"Accept-Language": "en-GB,en;q=0.9"},
        max_redirects=0,
    )


def has_focus(page: Page, name: str, timeout: float = 3_000) -> bool:
    """Whether the field `name` gets the focus (autofocus runs just after the page loads)."""
    try:
        page.wait_for_function(
            "(name) => document.activeElement && document.activeElement.name === name",
            arg=name,
            timeout=timeout,
        )
    except PlaywrightTimeout:
        return False
    return True
