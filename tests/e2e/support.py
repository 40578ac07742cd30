"""What the end-to-end tests are built of: a real SMTP mailbox, the `libcard serve` process,
an admin client on its JSON API, and helpers for driving the portal in Chromium and checking
it with axe-core.

Nothing here is mocked: the server is the installed `libcard` command, mail arrives over SMTP
from the server's own sender, and the browser is Debian's Chromium.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response

# Re-exported: the tests take everything they are built of from this module.
from tests.e2e.admin import INSTITUTION as INSTITUTION
from tests.e2e.admin import PASSWORD as PASSWORD
from tests.e2e.admin import PIN as PIN
from tests.e2e.admin import Admin as Admin
from tests.e2e.admin import Patron as Patron

ROOT = Path(__file__).resolve().parents[2]
E2E = Path(__file__).resolve().parent
SCREENSHOTS = E2E / "screenshots"
AXE_JS = E2E / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LIBCARD = str(Path(sys.executable).parent / "libcard")
INSTALL_HINT = "run the README's test command, scripts/test, which installs it"
# The identity broker of the strong login: the strong-login tests' OpenID provider.
BROKER_DIR = ROOT / "tests" / "oidc"
BROKER_CLIENT_ID = "libcard"
BROKER_CLIENT_SECRET = "libcard-e2e-secret"

PHONE = {"width": 390, "height": 844}
MAIL_TIMEOUT = 30.0  # the sender works through its outbox within a few seconds
# The activation code's alphabet (libcard.kit.secrets.CODE_ALPHABET): no 0, O, 1, I or L.
_CODE_CHAR = "[A-HJKMNP-Z2-9]"
_CODE_SHAPED = re.compile(
    rf"(?<![A-Za-z0-9])({_CODE_CHAR}{{2,10}}(?:[ \-]{_CODE_CHAR}{{2,10}}){{0,4}})(?![A-Za-z0-9])"
)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def squash(text: str) -> str:
    """Text with every run of white space (incl. no-break spaces) made one plain space."""
    return " ".join(text.split())


def no_space(text: str) -> str:
    """Text with all white space removed: compares '50,00 kr.' with '50,00\xa0kr.'."""
    return "".join(text.split())


def digits(text: str | None) -> str:
    """The digits of a text: a card number however it is grouped on the page."""
    return re.sub(r"\D", "", text or "")


# --- mail -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    to: tuple[str, ...]
    subject: str
    text: str  # every text part of the message, decoded, one after another
    message: EmailMessage


class Mailbox:
    """Collects every message the SMTP server is given; tests take them out by recipient."""

    def __init__(self) -> None:
        self._mails: list[Mail] = []
        self._taken: set[int] = set()
        self._changed = threading.Condition()
        self.port = 0

    def deliver(self, recipients: list[str], content: bytes) -> None:
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        parts: list[str] = []
        for part in message.walk():
            if part.get_content_maintype() == "text" and not part.is_multipart():
                parts.append(str(part.get_content()))
        mail = Mail(
            to=tuple(r.lower() for r in recipients),
            subject=str(message.get("Subject", "")),
            text="\n".join(parts),
            message=message,
        )
        with self._changed:
            self._mails.append(mail)
            self._changed.notify_all()

    def next_to(self, address: str, timeout: float = MAIL_TIMEOUT) -> Mail:
        """The oldest message to `address` that no test has taken yet; waits for it."""
        address = address.lower()
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index, mail in enumerate(self._mails):
                    if index not in self._taken and address in mail.to:
                        self._taken.add(index)
                        return mail
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.to, m.subject) for m in self._mails]
                    raise AssertionError(
                        f"No mail to {address} within {timeout:.0f} s; the mailbox holds {seen}"
                    )
                self._changed.wait(left)

    def nothing_more_to(self, address: str) -> bool:
        address = address.lower()
        with self._changed:
            return not any(
                i not in self._taken and address in m.to for i, m in enumerate(self._mails)
            )


class _Collector:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.box.deliver(list(envelope.rcpt_tos), content)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    box: Mailbox
    controller: Controller

    @classmethod
    def start(cls) -> SmtpServer:
        box = Mailbox()
        port = free_port()
        controller = Controller(_Collector(box), hostname="127.0.0.1", port=port)
        controller.start()
        box.port = port
        return cls(box=box, controller=controller)

    def stop(self) -> None:
        self.controller.stop()


def activation_code(mail: Mail) -> str:
    """The activation code in a mail, as typed from it (separators kept out)."""
    found = {
        no_space(m).replace("-", "")
        for m in _CODE_SHAPED.findall(mail.text)
        if len(no_space(m).replace("-", "")) == 10
    }
    if len(found) != 1:
        raise AssertionError(f"Expected one 10-character activation code, found {found}:\n{mail}")
    return found.pop()


def reset_link(mail: Mail, base_url: str) -> str:
    match = re.search(re.escape(base_url) + r"/reset-password/[A-Za-z0-9_\-%~]+", mail.text)
    if match is None:
        raise AssertionError(f"No {base_url}/reset-password/… link in the mail:\n{mail.text}")
    return match.group(0)


# --- the identity broker -----------------------------------------------------------------


@dataclass
class Broker:
    """A running OpenID provider (tests/oidc/provider.mjs) with libcard as its one client.

    Its login form takes any name as a person (the name is the subject), so each test logs in
    as a person of its own: an identity links to the first patron who uses it. A student id
    typed with the name is the claim `student_id`, which names a student in Nordby's
    registry (activation by single sign-on)."""

    issuer: str
    process: subprocess.Popen[str]
    log_path: Path

    def env(self) -> dict[str, str]:
        """libcard's settings for this broker."""
        return {
            "LIBCARD_BROKER_ISSUER": self.issuer,
            "LIBCARD_BROKER_CLIENT_ID": BROKER_CLIENT_ID,
            "LIBCARD_BROKER_CLIENT_SECRET": BROKER_CLIENT_SECRET,
            "LIBCARD_BROKER_SCOPES": "openid person",  # person: the claim student_id
            "LIBCARD_BROKER_REGISTRY_CLAIM": "student_id",
            "LIBCARD_BROKER_REGISTRY_INSTITUTION": INSTITUTION,
        }

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def log_in_at_broker(page: Page, broker: Broker, person: str, *, student_id: str = "") -> None:
    """On the broker's login form (the browser on its way there): log in as `person`, whose
    institution's login vouches for `student_id` when one is given."""
    page.wait_for_url(f"{broker.issuer}/interaction/**")
    form = form_with(page, "login")
    form.locator("[name=login]").fill(person)
    if student_id:
        form.locator("[name=student_id]").fill(student_id)
    form.get_by_role("button", name="Log in").click()


def start_broker(workdir: Path, base_url: str) -> Broker:
    """Start the provider for the libcard at `base_url` (the strong login's and the single
    sign-on's callbacks are the redirect URIs it allows); wait until its discovery document
    answers."""
    node = shutil.which("node")
    if node is None or not (BROKER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise AssertionError(f"node and tests/oidc/node_modules are needed: {INSTALL_HINT}")
    log_path = workdir / "broker.log"
    command = [
        node,
        str(BROKER_DIR / "provider.mjs"),
        "--redirect-uri",
        f"{base_url}/login/strong/callback",
        "--redirect-uri",
        f"{base_url}/login/sso/callback",
        "--client-id",
        BROKER_CLIENT_ID,
        "--client-secret",
        BROKER_CLIENT_SECRET,
    ]
    with log_path.open("a") as errors:
        process = subprocess.Popen(  # noqa: S603 — our own script, fixed arguments
            command, cwd=BROKER_DIR, stdout=subprocess.PIPE, stderr=errors, text=True
        )
    assert process.stdout is not None
    line = process.stdout.readline()  # one JSON line once it listens
    if not line:
        process.wait(timeout=5)
        raise AssertionError(f"the OpenID provider did not start:\n{log_path.read_text()}")
    broker = Broker(str(json.loads(line)["issuer"]), process, log_path)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and process.poll() is None:
        try:
            discovery = f"{broker.issuer}/.well-known/openid-configuration"
            if httpx.get(discovery, timeout=2).status_code == 200:
                return broker
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    broker.stop()
    raise AssertionError(f"the OpenID provider never answered:\n{log_path.read_text()}")


# --- the server -------------------------------------------------------------------------


@dataclass
class LibcardServer:
    base_url: str
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    admin_token: str
    sip2_port: int  # the SIP2 server for self-checkout machines, on 127.0.0.1
    payments_simulator_url: str

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def libcard_env(workdir: Path, smtp_port: int, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBCARD_")}
    env.update(
        LIBCARD_DATABASE_URL=f"sqlite:///{workdir / 'libcard.sqlite3'}",
        LIBCARD_PEPPER_FILE=str(workdir / "secrets.json"),
        LIBCARD_MAIL_TRANSPORT="smtp",
        LIBCARD_SMTP_HOST="127.0.0.1",
        LIBCARD_SMTP_PORT=str(smtp_port),
        LIBCARD_SMTP_TIMEOUT_SECONDS="5",
        LIBCARD_PUBLIC_URL=base_url,
        LIBCARD_MAIL_DIR=str(workdir / "mail"),
        # The payment simulator that `serve` starts: a port of its own for each server.
        LIBCARD_PAYMENTS_SIMULATOR_PORT=str(free_port()),
    )
    return env


def start_server(
    workdir: Path,
    smtp_port: int,
    *,
    port: int | None = None,
    broker: Broker | None = None,
    extra_env: dict[str, str] | None = None,
) -> LibcardServer:
    """`libcard token create` (which migrates the fresh SQLite file), then `libcard serve` with
    SIP2 on a free port. `port` is the HTTP port, when a broker already names its callback;
    with `broker` the portal's strong login goes there; `extra_env` adds settings."""
    port = port or free_port()
    sip2_port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = libcard_env(workdir, smtp_port, base_url)
    if broker is not None:
        env.update(broker.env())
    env.update(extra_env or {})
    made = subprocess.run(  # noqa: S603 — our own command
        [LIBCARD, "token", "create", "--name", "e2e admin"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 — our own command
            [LIBCARD, "serve", "--port", str(port), "--sip2-port", str(sip2_port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    simulator = f"http://127.0.0.1:{env['LIBCARD_PAYMENTS_SIMULATOR_PORT']}"
    server = LibcardServer(base_url, workdir, env, process, log_path, token, sip2_port, simulator)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"libcard serve exited:\n{server.log_tail()}")
        if _answers(f"{base_url}/healthz") and _listens(sip2_port):
            return server
        time.sleep(0.1)
    stop_server(server)
    raise AssertionError(f"libcard serve did not answer within 60 s:\n{server.log_tail()}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop_server(server: LibcardServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


class Portal:
    """Browser contexts for one test, with screenshots and the axe check. Every context keeps
    the pages' Content-Security-Policy, the axe check's included (run_axe)."""

    def __init__(self, browser: Browser, base_url: str, test_name: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.test_name = slug(test_name)
        for old in SCREENSHOTS.glob(f"{self.test_name}-*.png"):  # from an earlier run
            old.unlink()
        self._contexts: list[BrowserContext] = []

    def context(
        self,
        *,
        locale: str = "en-GB",
        viewport: dict[str, int] | None = None,
        storage_state: Any = None,
    ) -> BrowserContext:
        context = self.browser.new_context(
            base_url=self.base_url,
            locale=locale,
            timezone_id="Europe/Copenhagen",
            viewport=viewport or PHONE,
            is_mobile=False,
            has_touch=False,
            storage_state=storage_state,
        )
        context.set_default_timeout(10_000)
        context.set_default_navigation_timeout(15_000)
        self._contexts.append(context)
        return context

    def page(self, **kw: Any) -> Page:
        return self.context(**kw).new_page()

    def close(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()

    def shot(self, page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{self.test_name}-{slug(name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def axe(self, page: Page, name: str) -> dict[str, Any]:
        """Fails on any serious or critical axe violation, listing them readably."""
        result = run_axe(page)
        serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert not serious, f"axe on {name} ({page.url}):\n" + describe_violations(serious)
        return result


@cache
def _axe_source() -> str:
    if not AXE_JS.is_file():
        raise AssertionError(f"{AXE_JS} is missing: {INSTALL_HINT} (npm ci in tests/e2e)")
    # Evaluated as an expression: end on a plain value, not on what the script's last line is.
    return AXE_JS.read_text() + "\n;undefined"


def run_axe(page: Page) -> dict[str, Any]:
    """axe-core (WCAG 2.0/2.1 A and AA) on what `page` shows now, in place: a POST's answer
    as answered, under the page's own Content-Security-Policy. axe arrives through the
    browser's DevTools protocol, which the policy does not govern (as a script tag it would be
    refused, rightly), and stays until the page is left."""
    if page.evaluate("typeof window.axe") == "undefined":
        page.evaluate(_axe_source())
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            const nodes = (list) => list.map((n) => ({
                target: n.target.join(' '), html: n.html, summary: n.failureSummary || ''}));
            return {
                violations: r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                    helpUrl: v.helpUrl, nodes: nodes(v.nodes)})),
                passes: r.passes.length, incomplete: r.incomplete.length,
            };
        }""",
        AXE_TAGS,
    )
    return dict(result)


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    at {node['target']}: {node['html'][:160]}")
            for detail in node["summary"].splitlines():
                lines.append(f"      {detail}")
        if len(v["nodes"]) > 5:
            lines.append(f"    … and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


def fill_password_and_pin(
    form: Locator, password: str, pin: str, *, pin_repeat: str | None = None
) -> None:
    """The fields of portal/_password_and_pin.html: the new password and PIN, each twice."""
    form.locator("[name=password]").fill(password)
    form.locator("[name=password_repeat]").fill(password)
    form.locator("[name=pin]").fill(pin)
    form.locator("[name=pin_repeat]").fill(pin if pin_repeat is None else pin_repeat)


def activation_form(page: Page, number: str, code: str, password: str, pin: str) -> Locator:
    """/activate with its form filled in, not yet sent: card number, code, password, PIN."""
    page.goto("/activate")
    form = form_with(page, "code")
    form.locator("[name=card_number]").fill(number)
    form.locator("[name=code]").fill(code)
    fill_password_and_pin(form, password, pin)
    return form


def submit(page: Page, form: Locator) -> Response | None:
    """Submit a form with its submit button, as a person would; the answer's response."""
    with page.expect_navigation() as navigation:
        form.locator("[type=submit]").first.click()
    return navigation.value


def form_with(page: Page, field_name: str) -> Locator:
    return page.locator(f"form:has([name={field_name}])").first


def log_in(page: Page, login: str, password: str) -> Response | None:
    page.goto("/login")
    form = form_with(page, "login")
    form.locator("[name=login]").fill(login)
    form.locator("[name=password]").fill(password)
    return submit(page, form)


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def alert_text(page: Page) -> str:
    alerts = page.locator("[role=alert]")
    return squash(" ".join(alerts.all_inner_texts()))


def main_nav(page: Page) -> Locator:
    return page.locator("nav:has(a[href$='/overview'])").first


def remove_csrf(form: Locator) -> None:
    form.evaluate("(f) => f.querySelectorAll('[name=csrf]').forEach((e) => e.remove())")


def set_hidden(form: Locator, name: str, value: str) -> None:
    """Replace every field `name` of the form by one hidden input: a hand-made POST."""
    form.evaluate(
        """(f, [name, value]) => {
            f.querySelectorAll(`[name="${name}"]`).forEach((e) => e.remove());
            const input = document.createElement('input');
            input.type = 'hidden'; input.name = name; input.value = value;
            f.appendChild(input);
        }""",
        [name, value],
    )


@cache
def catalogue(language: str) -> Catalog:
    path = ROOT / "src" / "libcard" / "locale" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def translated(text: str, language: str) -> str:
    """The catalogue's translation of an English text of the pages."""
    message = catalogue(language).get(text)
    assert message is not None, f"{text!r} is not in the {language} catalogue"
    assert message.string, f"{text!r} has no {language} translation"
    return str(message.string)


def overflow(page: Page) -> dict[str, int]:
    return dict(
        page.evaluate(
            "() => ({scroll: document.documentElement.scrollWidth,"
            " client: document.documentElement.clientWidth})"
        )
    )
