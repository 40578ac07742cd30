"""End-to-end fixtures: the real `libcard serve`, a real SMTP mailbox and Debian's Chromium.

The e2e tests run on SQLite only: one server for the whole e2e package, on a fresh SQLite
file in a temporary directory. The database layer is covered on both SQLite and PostgreSQL
by the service and API tests; here what matters is what a patron sees in a browser.

The server sends mail over SMTP to an aiosmtpd server on loopback that keeps every message;
`mailbox.next_to(address)` waits for the next one. Each test makes its own patrons through
the JSON API with an admin token, so tests do not depend on each other's order.

The server also runs SIP2 on a free port, the payment simulator on another, and uses a real
OpenID provider on loopback (tests/oidc/provider.mjs) as its identity broker, for the strong
login before paying and for a new student's activation by single sign-on (its login names a
student id of Nordby's registry). The provider is started first: it must know the server's
callback addresses, and the server its issuer. Apple Wallet passes are configured with a test
certificate hierarchy, and their pushes go to a stand-in for Apple's push service
(tests/wallet/apns_server.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.e2e.desk_support import Desk, StaffUsers, set_up_staff
from tests.e2e.support import (
    AXE_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    INSTALL_HINT,
    Admin,
    Broker,
    LibcardServer,
    Mailbox,
    Portal,
    SmtpServer,
    free_port,
    start_broker,
    start_server,
    stop_server,
)
from tests.e2e.wallet_support import WalletPush, start_wallet_push


@pytest.fixture(scope="package")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp: SmtpServer) -> Mailbox:
    return smtp.box


@pytest.fixture(scope="package")
def libcard_port() -> int:
    """The server's HTTP port, chosen before the broker starts (it names the callback)."""
    return free_port()


@pytest.fixture(scope="package")
def broker(libcard_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = start_broker(
        tmp_path_factory.mktemp("e2e-broker"), f"http://127.0.0.1:{libcard_port}"
    )
    yield running
    running.stop()


@pytest.fixture(scope="package")
def push_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WalletPush]:
    running = start_wallet_push(tmp_path_factory.mktemp("e2e-wallet"))
    yield running
    running.server.stop()


@pytest.fixture(scope="package")
def libcard(
    smtp: SmtpServer,
    broker: Broker,
    push_service: WalletPush,
    libcard_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LibcardServer]:
    workdir = tmp_path_factory.mktemp("e2e-libcard")
    server = start_server(
        workdir, smtp.box.port, port=libcard_port, broker=broker, extra_env=push_service.env
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="package")
def admin(libcard: LibcardServer) -> Iterator[Admin]:
    client = Admin(libcard.base_url, libcard.admin_token)
    client.set_up_library()
    yield client
    client.close()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: {INSTALL_HINT} (Debian's chromium package)")
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: {INSTALL_HINT} (npm ci in tests/e2e)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def portal(
    browser: Browser, libcard: LibcardServer, request: pytest.FixtureRequest
) -> Iterator[Portal]:
    helper = Portal(browser, libcard.base_url, request.node.name)
    yield helper
    helper.close()


@pytest.fixture
def base_url(libcard: LibcardServer) -> str:
    return libcard.base_url


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """On a failure, add the end of the server's log (and the broker's) to the report."""
    report = yield
    funcargs = item.funcargs if hasattr(item, "funcargs") else {}
    server, broker = funcargs.get("libcard"), funcargs.get("broker")
    if call.when == "call" and call.excinfo is not None:
        if isinstance(server, LibcardServer):
            report.sections.append(("libcard serve log (end)", server.log_tail()))  # type: ignore[attr-defined]
        if isinstance(broker, Broker):
            report.sections.append(("identity broker log (end)", broker.log_tail()))  # type: ignore[attr-defined]
    return report


# --- the lending desk (tests/e2e/test_desk_*.py) -------------------------------------------


@pytest.fixture(scope="package")
def staff_users(browser: Browser, libcard: LibcardServer, admin: Admin) -> StaffUsers:
    """A desk user, a supervisor and an administrator of Nordby, each logged in once (a
    one-time code works once per 30 s step); tests take their browsers' saved state."""
    return set_up_staff(browser, libcard)


@pytest.fixture
def desk(
    browser: Browser,
    libcard: LibcardServer,
    staff_users: StaffUsers,
    request: pytest.FixtureRequest,
) -> Iterator[Desk]:
    helper = Desk(browser, libcard.base_url, request.node.name, staff_users)
    yield helper
    helper.close()
