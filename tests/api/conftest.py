"""Fixtures for the HTTP API tests: the real app on the test runtime, and a token mint.

Every request goes through the ASGI app (middleware, routing, validation, problem mapping)
with `httpx.ASGITransport`; tokens are made with the access service as the system actor,
exactly as `libcard token create` makes them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from libcard.access.scopes import ALL_SCOPES, Scope
from libcard.access.service import create_token
from libcard.context import ActorKind
from libcard.kit.clock import FrozenClock
from libcard.policy.models import Institution
from libcard.policy.service import create_group, create_institution
from libcard.runtime import Runtime
from libcard.web.app import create_app
from tests.conftest import World

API = "/api/v1"
PROBLEM_JSON = "application/problem+json"
_THE_WORLD: Any = object()  # "the world's institution", the default of Api.token


@dataclass
class Api:
    """A client on the app plus the means to mint tokens; `admin` and `desk` are ready-made."""

    client: httpx.AsyncClient
    runtime: Runtime
    world: World
    clock: FrozenClock
    admin: dict[str, str] = field(default_factory=dict)
    desk: dict[str, str] = field(default_factory=dict)
    supervisor: dict[str, str] = field(default_factory=dict)

    async def token(
        self,
        kind: ActorKind = ActorKind.ADMIN,
        scopes: Iterable[Scope] = ALL_SCOPES,
        *,
        institution_id: int | None = _THE_WORLD,
        patron_id: int | None = None,
        valid_days: int | None = None,
        name: str | None = None,
    ) -> str:
        """A token's secret; `institution_id=None` makes a deployment-wide token."""
        if institution_id is _THE_WORLD:
            institution_id = self.world.institution_id
        async with self.runtime.unit() as ctx:
            _, secret = await create_token(
                ctx,
                name=name or f"test {kind.value}",
                actor_kind=kind,
                scopes=scopes,
                institution_id=institution_id,
                patron_id=patron_id,
                valid_days=valid_days,
            )
        return secret

    async def headers(
        self, kind: ActorKind = ActorKind.ADMIN, scopes: Iterable[Scope] = ALL_SCOPES, **kw: Any
    ) -> dict[str, str]:
        return bearer(await self.token(kind, scopes, **kw))

    async def other_institution(self, code: str = "sydby", prefix: str = "2771") -> int:
        """A second institution with one group, `external`, made by the system actor."""
        async with self.runtime.unit() as ctx:
            institution: Institution = await create_institution(
                ctx, code=code, name=f"{code.title()} Library", card_prefix=prefix
            )
            await create_group(ctx, institution.id, code="external", name="External")
            return institution.id


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem document with the given status (and stable `code`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["type"] == f"urn:libcard:problem:{body['code']}"
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
async def api(world: World, runtime: Runtime, clock: FrozenClock) -> AsyncIterator[Api]:
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        harness = Api(client=client, runtime=runtime, world=world, clock=clock)
        harness.admin = await harness.headers(ActorKind.ADMIN)
        harness.desk = await harness.headers(ActorKind.DESK)
        harness.supervisor = await harness.headers(ActorKind.SUPERVISOR)
        yield harness
