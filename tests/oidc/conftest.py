"""Fixtures for strong login: a real OpenID provider (npm's oidc-provider, provider.mjs) on
loopback as the identity broker, and the portal of a libcard that uses it.

The portal runs in-process (https://testserver, as in tests/portal); the broker is a real
HTTP server the portal's broker client talks to over loopback. A test plays the browser at
both: it follows the portal's redirect to the broker with its own client, posts the broker's
login form, and hands the broker's answer (a redirect to the callback) back to the portal.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from fastapi import FastAPI

from libcard.config import Settings
from libcard.kit.clock import FrozenClock
from libcard.runtime import Runtime
from libcard.web.app import create_app
from tests.conftest import TEST_KEYS, PatronHandle, World
from tests.portal.conftest import BASE_URL, login

HERE = Path(__file__).resolve().parent
CALLBACK = f"{BASE_URL}/login/strong/callback"
CLIENT_ID = "libcard"
CLIENT_SECRET = "libcard-test-secret"
SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"


@dataclass
class Provider:
    """A running oidc-provider: its issuer, and how to stop it."""

    issuer: str
    served: str  # where it listens; the issuer unless it announces another
    process: subprocess.Popen[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_provider(log: Path, *args: str) -> Provider:
    """Start provider.mjs for libcard's callback; wait until its discovery document answers."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("node and tests/oidc/node_modules are needed: run scripts/test --install-only")
    command = [
        node,
        str(HERE / "provider.mjs"),
        "--redirect-uri",
        CALLBACK,
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        *args,
    ]
    with log.open("a") as errors:
        process = subprocess.Popen(  # noqa: S603 — our own script, fixed arguments
            command, cwd=HERE, stdout=subprocess.PIPE, stderr=errors, text=True
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=5)
        pytest.fail(f"the OpenID provider did not start:\n{log.read_text()}")
    announced = json.loads(line)
    provider = Provider(announced["issuer"], announced["served"], process)
    discovery = provider.served + "/.well-known/openid-configuration"
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(discovery, timeout=2).status_code == 200:
                return provider
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            provider.stop()
            pytest.fail(f"the OpenID provider never answered:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """The broker of every test here, started once: each login it makes is independent."""
    running = start_provider(tmp_path_factory.mktemp("oidc") / "provider.log")
    yield running
    running.stop()


@pytest.fixture
def other_provider(tmp_path: Path) -> Iterator[Provider]:
    """A second broker with the same client: another issuer for mix-up tests."""
    running = start_provider(tmp_path / "other-provider.log")
    yield running
    running.stop()


def broker_settings(database_url: str, folder: Path, provider: Provider, **extra: Any) -> Settings:
    """Settings of a test installation whose identity broker is `provider`."""
    return Settings(
        database_url=database_url,
        peppers=TEST_KEYS,  # type: ignore[arg-type]
        pepper_file=folder / "unused-secrets.json",
        public_url=BASE_URL,
        broker_issuer=provider.issuer,
        broker_client_id=CLIENT_ID,
        broker_client_secret=CLIENT_SECRET,  # type: ignore[arg-type]
        **extra,
    )


@pytest.fixture
async def runtime(
    database_url: str, clock: FrozenClock, tmp_path: Path, provider: Provider
) -> AsyncIterator[Runtime]:
    """The root conftest's runtime, with the broker configured (tests change it in place)."""
    rt = Runtime.build(broker_settings(database_url, tmp_path, provider), clock=clock)
    yield rt
    await rt.close()


@dataclass
class Browser:
    """One person's browser: the portal's cookies in `portal`, the broker's in `broker`."""

    portal: httpx.AsyncClient
    broker: httpx.AsyncClient

    async def start(self, next_path: str = "/overview") -> str:
        """Ask the portal for a strong login; the broker URL it redirects to."""
        response = await self.portal.get("/login/strong", params={"next": next_path})
        assert response.status_code == 303, response.text
        return response.headers["location"]

    async def at_broker(
        self,
        authorization_url: str,
        person: str,
        *,
        acr: str = "",
        student_id: str = "",
        cancel: bool = False,
        callback: str = CALLBACK,
    ) -> str:
        """Log in at the broker as `person` (or cancel), vouched for as the student
        `student_id` when one is given; the path of `callback` it sends back."""
        response = await self.broker.get(authorization_url)
        for _ in range(10):
            if response.status_code in (302, 303):
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(callback):
                    return location.removeprefix(BASE_URL)
                response = await self.broker.get(location)
                continue
            assert response.status_code == 200, response.text
            interaction = str(response.url).rstrip("/")
            if cancel:
                response = await self.broker.post(f"{interaction}/abort")
            else:
                response = await self.broker.post(
                    f"{interaction}/login",
                    data={"login": person, "acr": acr, "student_id": student_id},
                )
        raise AssertionError("the broker never sent the browser back")

    async def strong_login(
        self, person: str, *, acr: str = "", next_path: str = "/overview"
    ) -> httpx.Response:
        """The whole round: portal → broker login → the portal's callback; its answer."""
        callback = await self.at_broker(await self.start(next_path), person, acr=acr)
        return await self.portal.get(callback)


@dataclass
class StrongPortal:
    app: FastAPI
    runtime: Runtime
    world: World
    clock: FrozenClock
    browsers: list[httpx.AsyncClient] = field(default_factory=list)

    async def browser(self, patron: PatronHandle | None = None) -> Browser:
        """A new browser, logged in to the portal as `patron` when one is given."""
        portal = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL)
        broker = httpx.AsyncClient(timeout=10)
        self.browsers += [portal, broker]
        if patron is not None:
            response = await login(portal, patron.ecard, patron.password)
            assert response.status_code == 303, response.text
        return Browser(portal=portal, broker=broker)


@pytest.fixture
async def strong(world: World, runtime: Runtime, clock: FrozenClock) -> AsyncIterator[StrongPortal]:
    harness = StrongPortal(app=create_app(runtime), runtime=runtime, world=world, clock=clock)
    try:
        yield harness
    finally:
        for client in harness.browsers:
            await client.aclose()
