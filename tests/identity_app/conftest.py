"""Fixtures for single sign-on and the app's login through the portal: a real OpenID provider
(tests/oidc/provider.mjs) on loopback as the identity broker, the portal and API in-process.

The broker here knows libcard's single sign-on callback. A test plays one person's browser at
the portal and the broker, and the app at the API: it reads the code from the portal's redirect
to the app's redirect URI, as the phone's browser would hand it to the app.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from libcard.access.sessions import SessionRules, start_session
from libcard.identity.broker import BrokerLogin
from libcard.identity.service import strong_login
from libcard.kit.clock import FrozenClock
from libcard.patrons.models import Patron
from libcard.runtime import Runtime
from libcard.web.app import create_app
from libcard.web.portal.visit import patron_actor
from tests.conftest import PatronHandle, World
from tests.oidc.conftest import SUBSTANTIAL, Browser, Provider, broker_settings, start_provider
from tests.portal.conftest import BASE_URL, csrf, login

SSO_CALLBACK = f"{BASE_URL}/login/sso/callback"
APP = "dk.example.library"
APP_REDIRECT = "dk.example.library:/oauth"
OTHER_APP = "dk.example.other"
OTHER_REDIRECT = "https://other.example/callback"
LOOPBACK_REDIRECT = "http://127.0.0.1/callback"
API = "/api/v1"
RULES = SessionRules(idle=timedelta(hours=1), lifetime=timedelta(hours=12))

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def pkce() -> tuple[str, str]:
    """A fresh PKCE verifier and its S256 challenge, as an app makes them."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """The broker, with libcard's single sign-on callback as the client's redirect URI."""
    log = tmp_path_factory.mktemp("oidc-sso") / "provider.log"
    running = start_provider(log, "--redirect-uri", SSO_CALLBACK)
    yield running
    running.stop()


@pytest.fixture
async def runtime(
    database_url: str, clock: FrozenClock, tmp_path: Path, provider: Provider
) -> AsyncIterator[Runtime]:
    settings = broker_settings(
        database_url,
        tmp_path,
        provider,
        app_clients={APP: [APP_REDIRECT, LOOPBACK_REDIRECT], OTHER_APP: [OTHER_REDIRECT]},
    )
    rt = Runtime.build(settings, clock=clock)
    yield rt
    await rt.close()


@dataclass
class Person(Browser):
    """One person's browser at the portal and the broker, coming back by single sign-on."""

    async def sso_login(
        self, person: str, *, acr: str = "", student_id: str = "", start: str = ""
    ) -> httpx.Response:
        """From the login page's link (or `start`) to the broker and back; the portal's answer."""
        if not start:
            page = await self.portal.get("/login")
            found = re.search(r'id="sso-login" class="button" href="([^"]+)"', page.text)
            assert found, "the login page has no single sign-on link"
            start = found.group(1).replace("&amp;", "&")
        to_broker = await self.portal.get(start)
        assert to_broker.status_code == 303, to_broker.text
        callback = await self.at_broker(
            to_broker.headers["location"],
            person,
            acr=acr,
            student_id=student_id,
            callback=SSO_CALLBACK,
        )
        return await self.portal.get(callback)

    async def consent_page(self, params: dict[str, str]) -> httpx.Response:
        return await self.portal.get("/app/authorize", params=params)

    async def decide(self, page: httpx.Response, decision: str) -> httpx.Response:
        """Press Allow or Deny on the consent page: the form's hidden fields, as posted."""
        fields = dict(_HIDDEN.findall(page.text))
        fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
        return await self.portal.post("/app/authorize", data={**fields, "decision": decision})


def authorize_params(
    challenge: str, *, client_id: str = APP, redirect_uri: str = APP_REDIRECT, state: str = "st-1"
) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
    }


@dataclass
class AppPortal:
    app: FastAPI
    runtime: Runtime
    world: World
    clock: FrozenClock
    provider: Provider
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def _client(self, **kw: object) -> httpx.AsyncClient:
        client = httpx.AsyncClient(**kw)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    async def person(self, patron: PatronHandle | None = None) -> Person:
        """A new browser, logged in to the portal with the password when `patron` is given."""
        portal = self._client(transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL)
        person = Person(portal=portal, broker=self._client(timeout=10))
        if patron is not None:
            response = await login(portal, patron.ecard, patron.password)
            assert response.status_code == 303, response.text
        return person

    def api(self) -> httpx.AsyncClient:
        """The app's own HTTP client at the API."""
        return self._client(transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL)

    async def link(self, patron: PatronHandle, person: str) -> None:
        """The identity linked to the patron, as the strong login after the password links it
        (the broker here knows only the single sign-on callback)."""
        async with self.runtime.unit() as ctx:
            row = await ctx.session.get(Patron, patron.id)
            assert row is not None
            session, _ = await start_session(ctx, patron.id, RULES)
            vouched = BrokerLogin(issuer=self.provider.issuer, subject=person, acr=SUBSTANTIAL)
            await strong_login(ctx.as_actor(patron_actor(row)), session.id, vouched, [SUBSTANTIAL])


@pytest.fixture
async def apps(
    world: World, runtime: Runtime, clock: FrozenClock, provider: Provider
) -> AsyncIterator[AppPortal]:
    harness = AppPortal(
        app=create_app(runtime), runtime=runtime, world=world, clock=clock, provider=provider
    )
    try:
        yield harness
    finally:
        for client in harness.clients:
            await client.aclose()


async def password_login_then(person: Person, patron: PatronHandle, target: str) -> httpx.Response:
    """The login page with `next`, posted with the password; the answer."""
    page = await person.portal.get("/login", params={"next": target})
    return await person.portal.post(
        "/login",
        data={
            "login": patron.ecard,
            "password": patron.password,
            "next": target,
            "csrf": csrf(page.text),
        },
    )
