"""Fixtures for the desk's pages: the real app over ASGI, seen as a staff member's browser.

`desk.staff(role)` makes a staff user; `desk.logged_in(user)` opens a browser that went
through the password and the authenticator step (enrolling on first login, as a new user
does). Codes come from the test clock, as the user's phone would show them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from libcard.audit.models import AuditEvent
from libcard.kit.clock import FrozenClock
from libcard.policy.branches import create_branch
from libcard.policy.service import create_group, create_institution
from libcard.runtime import Runtime
from libcard.staff import totp
from libcard.staff.service import create_staff
from libcard.web.app import create_app
from tests.conftest import World
from tests.portal.conftest import BASE_URL, csrf

STAFF_PASSWORD = "Lending-Tuesday-Quiet-7"
SESSION_COOKIE = "__Host-libcard_staff"
_SECRET = re.compile(r'<span class="secret"[^>]*>([A-Z2-7]+)</span>')
_CODES = re.compile(r'<ul class="codes"[^>]*>(.*?)</ul>', re.S)


@dataclass
class StaffHandle:
    id: int
    username: str
    password: str
    institution_id: int
    branch_id: int | None
    totp_secret: str | None = None
    recovery_codes: list[str] = field(default_factory=list)


@dataclass
class DeskHarness:
    app: FastAPI
    runtime: Runtime
    world: World
    clock: FrozenClock
    branch_id: int
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def browser(self) -> httpx.AsyncClient:
        # In English, unless a test asks for another language: assertions read English texts.
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=BASE_URL,
            headers={"Accept-Language": "en"},
        )
        return await self._stack.enter_async_context(client)

    async def staff(
        self,
        role: str = "desk",
        *,
        institution_id: int | None = None,
        branch_id: int | None = -1,
        must_change_password: bool = False,
    ) -> StaffHandle:
        """A staff user of the world's institution (or another), at the world's branch."""
        institution = institution_id or self.world.institution_id
        branch = self.branch_id if branch_id == -1 else branch_id
        username = f"{role}-{uuid.uuid4().hex[:8]}"
        async with self.runtime.unit() as ctx:
            staff = await create_staff(
                ctx,
                institution,
                username=username,
                display_name=f"Sam {role.title()}",
                role=role,
                password=STAFF_PASSWORD,
                branch_id=branch if institution == self.world.institution_id else None,
                must_change_password=must_change_password,
            )
        return StaffHandle(staff.id, username, STAFF_PASSWORD, institution, staff.branch_id)

    def code(self, user: StaffHandle, *, later_steps: int = 0) -> str:
        assert user.totp_secret is not None
        moment = self.clock.now().timestamp() + later_steps * totp.STEP_SECONDS
        return totp.code_at(user.totp_secret, moment)

    async def password_step(
        self, user: StaffHandle, client: httpx.AsyncClient, password: str | None = None
    ) -> httpx.Response:
        page = await client.get("/desk/login")
        assert page.status_code == 200, page.text
        return await client.post(
            "/desk/login",
            data={
                "username": user.username,
                "password": password or user.password,
                "csrf": csrf(page.text),
            },
        )

    async def logged_in(
        self, user: StaffHandle, client: httpx.AsyncClient | None = None
    ) -> httpx.AsyncClient:
        """A browser past both login steps; the first login enrols the authenticator."""
        client = client or await self.browser()
        step = await self.password_step(user, client)
        assert step.status_code == 303, step.text
        if user.totp_secret is None:
            enrol = await client.get("/desk/enrol")
            assert enrol.status_code == 200, enrol.text
            found = _SECRET.search(enrol.text)
            assert found, enrol.text
            user.totp_secret = found.group(1)
            done = await client.post(
                "/desk/enrol", data={"code": self.code(user), "csrf": csrf(enrol.text)}
            )
            assert done.status_code == 200, done.text
            codes = _CODES.search(done.text)
            assert codes
            user.recovery_codes = re.findall(r"<li>([A-Z0-9]+)</li>", codes.group(1))
        else:
            # A code of the next step: the one of this step may have been used already.
            self.clock.advance(timedelta(seconds=totp.STEP_SECONDS))
            page = await client.get("/desk/second-factor")
            done = await client.post(
                "/desk/second-factor", data={"code": self.code(user), "csrf": csrf(page.text)}
            )
            assert done.status_code == 303, done.text
        return client

    async def other_institution(self) -> tuple[int, int]:
        """A second institution with an external group: (institution id, group id)."""
        async with self.runtime.unit() as ctx:
            other = await create_institution(
                ctx, code="sydby", name="Sydby Library", card_prefix="2771", currency="DKK"
            )
            group = await create_group(ctx, other.id, code="external", name="External")
        return other.id, group.id


@pytest.fixture
async def desk(world: World, runtime: Runtime, clock: FrozenClock) -> AsyncIterator[DeskHarness]:
    app = create_app(runtime)
    async with runtime.unit() as ctx:
        branch = await create_branch(ctx, world.institution_id, code="main", name="Main Library")
    async with AsyncExitStack() as stack:
        harness = DeskHarness(app, runtime, world, clock, branch.id)
        harness._stack = stack
        yield harness


async def page_form(
    client: httpx.AsyncClient, page: str, path: str, data: dict[str, str]
) -> httpx.Response:
    """GET `page`, then POST `data` to `path` with the page's csrf token."""
    form = await client.get(page)
    assert form.status_code == 200, (form.status_code, form.headers.get("location"))
    return await client.post(path, data={**data, "csrf": csrf(form.text)})


async def audit_events(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with runtime.unit(readonly=True) as ctx:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list((await ctx.session.scalars(query)).all())
