"""Fixtures for the patron portal's pages: the real app over ASGI, seen as a browser sees it.

`portal.client` is one browser and `portal.browser()` opens another one with its own cookies.
The base URL is https://testserver so that httpx keeps the `Secure` `__Host-` cookies. Forms
are posted with the hidden `csrf` field read from the page, as a browser would post them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from libcard.accounts.service import CardStatus, card_status
from libcard.cards.pin import verify_pin
from libcard.context import ActorKind
from libcard.kit.clock import FrozenClock
from libcard.kit.secrets import verify_password
from libcard.notify.models import OutboundMail
from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron
from libcard.runtime import Runtime
from libcard.web.app import create_app
from tests.conftest import PatronHandle, World

BASE_URL = "https://testserver"
SESSION_COOKIE = "__Host-libcard_session"
VISIT_COOKIE = "__Host-libcard_visit"
LANGUAGE_COOKIE = "libcard_lang"
PASSWORD = "Reading-Room-42"
PIN = "2580"

_CSRF = re.compile(r'<input type="hidden" name="csrf" value="([^"]*)"')


def csrf(html: str) -> str:
    """The hidden csrf field of the first form on the page."""
    found = _CSRF.search(html)
    assert found, "the page has no csrf field:\n" + html[:2000]
    return found.group(1)


def alert(html: str) -> str:
    """The text of the page's error (role="alert"), or "" when there is none."""
    found = re.search(r'role="alert"[^>]*>\s*<p>(.*?)</p>', html, re.S)
    return found.group(1).strip() if found else ""


def html_lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def main_part(html: str) -> str:
    """The page between <main> and </main>: what differs between two answers of one form."""
    start, end = html.index("<main"), html.index("</main>")
    return html[start:end]


async def login(
    client: httpx.AsyncClient, login_name: str, password: str, **extra: str
) -> httpx.Response:
    """Open the login page and post it; the answer (303 to /card on success) is returned."""
    page = await client.get("/login")
    assert page.status_code == 200, page.text
    return await client.post(
        "/login",
        data={"login": login_name, "password": password, "csrf": csrf(page.text), **extra},
    )


async def post_form(
    client: httpx.AsyncClient, path: str, data: dict[str, str], *, page: str | None = None
) -> httpx.Response:
    """GET the form (`page`, else `path`), then POST `data` to `path` with its csrf token."""
    form = await client.get(page or path)
    assert form.status_code == 200, (form.status_code, form.headers.get("location"))
    return await client.post(path, data={**data, "csrf": csrf(form.text)})


@dataclass
class Portal:
    """One browser on the portal, the means to open more, and the world behind them."""

    app: FastAPI
    client: httpx.AsyncClient
    runtime: Runtime
    world: World
    clock: FrozenClock
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def browser(self, **headers: str) -> httpx.AsyncClient:
        """Another browser: its own cookie jar, closed with the fixture."""
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL, headers=headers
        )
        return await self._stack.enter_async_context(client)

    async def patron(
        self, group: str = "external", *, password: str = PASSWORD, pin: str = PIN, **kw: Any
    ) -> PatronHandle:
        """An activated patron whose password and PIN are known (see World.patron)."""
        return await self.world.patron(group, password=password, pin=pin, **kw)

    async def logged_in(
        self, patron: PatronHandle, client: httpx.AsyncClient | None = None
    ) -> httpx.AsyncClient:
        """`client` (default: a new browser) logged in as `patron` with its e-card number."""
        client = client or await self.browser()
        response = await login(client, patron.ecard, patron.password)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/card"
        return client


@pytest.fixture
async def portal(world: World, runtime: Runtime, clock: FrozenClock) -> AsyncIterator[Portal]:
    app = create_app(runtime)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client,
        AsyncExitStack() as stack,
    ):
        harness = Portal(app=app, client=client, runtime=runtime, world=world, clock=clock)
        harness._stack = stack
        yield harness


# --- what the library's records say, read beside the pages ----------------------------------


async def mails_to(runtime: Runtime, address: str) -> list[OutboundMail]:
    async with runtime.unit(readonly=True) as ctx:
        query = select(OutboundMail).where(OutboundMail.to_address == address)
        return list((await ctx.session.scalars(query.order_by(OutboundMail.id))).all())


async def card_state(runtime: Runtime, world: World, number: str) -> CardStatus:
    """What a self-checkout machine is told about the card."""
    async with runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        return await card_status(ctx, number)


async def pin_valid(runtime: Runtime, world: World, number: str, pin: str) -> bool:
    async with runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        return (await verify_pin(ctx, number, pin)).valid


async def password_valid(runtime: Runtime, patron_id: int, password: str) -> bool:
    """Checked against the stored hash, so that checking counts no failure."""
    async with runtime.unit(readonly=True) as ctx:
        patron = await get_patron(ctx, patron_id)
        return await verify_password(patron.password_hash, password)


async def patron_row(runtime: Runtime, patron_id: int) -> Patron:
    async with runtime.unit(readonly=True) as ctx:
        return await get_patron(ctx, patron_id)
