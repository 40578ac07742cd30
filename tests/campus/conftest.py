"""Campus card tests: the API harness, employees known by their identity portal id, and the
campus card system's token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update

from libcard.access.scopes import Scope
from libcard.audit.models import AuditEvent
from libcard.cards.models import Card
from libcard.context import ActorKind
from libcard.patrons.models import Patron
from tests.api.conftest import API, Api, api  # noqa: F401 — the API harness
from tests.conftest import PatronHandle


@dataclass
class Campus:
    """The API harness with the campus card system's token of the world's institution."""

    api: Api
    headers: dict[str, str]

    async def employee(
        self, identity_id: str, group: str = "employee", **fields: Any
    ) -> PatronHandle:
        """A patron with an id at the identity portal, as the staff identity feed makes them."""
        patron = await self.api.world.patron(group, **fields)
        async with self.api.runtime.unit() as ctx:
            await ctx.session.execute(
                update(Patron).where(Patron.id == patron.id).values(identity_id=identity_id)
            )
        return patron

    async def link(self, identity_id: str, number: str) -> dict[str, Any]:
        response = await self.post(f"/employees/{identity_id}/badges", {"number": number})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def post(self, path: str, json: dict[str, Any] | None = None, **kw: Any) -> Any:
        headers = kw.pop("headers", self.headers)
        return await self.api.client.post(f"{API}/campus{path}", json=json, headers=headers)

    async def status(self, number: str) -> dict[str, Any]:
        """The borrowing decision as a self-checkout terminal asks for it."""
        terminal = await self.api.headers(ActorKind.TERMINAL, [Scope.CARDS_STATUS])
        response = await self.api.client.get(f"{API}/cards/{number}/status", headers=terminal)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def events(self, action: str, patron_id: int) -> list[AuditEvent]:
        async with self.api.runtime.unit(readonly=True) as ctx:
            rows = await ctx.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.patron_id == patron_id)
                .order_by(AuditEvent.id)
            )
            return list(rows.all())

    async def cards(self, patron_id: int) -> list[Card]:
        async with self.api.runtime.unit(readonly=True) as ctx:
            rows = await ctx.session.scalars(
                select(Card).where(Card.patron_id == patron_id).order_by(Card.id)
            )
            return list(rows.all())


@pytest.fixture
async def campus(api: Api) -> Campus:  # noqa: F811 — the fixture imported above
    return Campus(api, await api.headers(ActorKind.CAMPUS_CARD, [Scope.CAMPUS_CARD]))
