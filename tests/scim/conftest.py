"""Fixtures for the SCIM tests: the real app on the test runtime, and identity-portal tokens
made as `libcard token create --actor identity_portal --scope scim --institution …` makes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from libcard.access.scopes import Scope
from libcard.access.service import create_token
from libcard.context import ActorKind
from libcard.policy.service import create_group, create_institution
from libcard.runtime import Runtime
from libcard.web.app import create_app
from tests.conftest import World

SCIM = "/scim/v2"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"


async def make_token(
    runtime: Runtime,
    institution_id: int | None,
    *,
    kind: ActorKind = ActorKind.IDENTITY_PORTAL,
    scopes: tuple[Scope, ...] = (Scope.SCIM,),
) -> str:
    async with runtime.unit() as ctx:
        _, secret = await create_token(
            ctx,
            name="identity portal",
            actor_kind=kind,
            scopes=scopes,
            institution_id=institution_id,
        )
    return secret


async def other_institution(runtime: Runtime) -> int:
    """A second institution with its own employee group."""
    async with runtime.unit() as ctx:
        institution = await create_institution(
            ctx, code="sydby", name="Sydby Library", card_prefix="2771", currency="DKK"
        )
        await create_group(ctx, institution.id, code="employee", name="Employee")
        return institution.id


def employee(user_name: str = "anna.berg@uni.example", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "externalId": "emp-" + user_name.split("@")[0],
        "name": {"givenName": "Anna", "familyName": "Berg"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
    }
    body.update(extra)
    return body


@dataclass
class Scim:
    client: httpx.AsyncClient
    runtime: Runtime
    world: World
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def create(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post(
            f"{SCIM}/Users", json=body or employee(), headers=self.auth
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@pytest.fixture
async def scim(runtime: Runtime, world: World) -> AsyncIterator[Scim]:
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://libcard.test") as client:
        token = await make_token(runtime, world.institution_id)
        yield Scim(client, runtime, world, token)
