"""Collection tests: an institution with an agency, fees of a known age, and the two daily
jobs run as the scheduler runs them, on the test clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from libcard.blocks.service import blocks_of
from libcard.collection.models import CollectionCase
from libcard.collection.notices import CollectionReport
from libcard.context import ActorKind
from libcard.fees.rules import FeeType, PaymentMethod
from libcard.fees.service import charge, pay
from libcard.jobs.registry import collection_handover, collection_notices
from libcard.notify.models import OutboundMail
from libcard.policy.rules import BlockCode
from libcard.policy.service import update_institution
from tests.api.conftest import api  # noqa: F401 — the API harness, for the agency's API
from tests.conftest import PatronHandle, World
from tests.desk.conftest import desk  # noqa: F401 — the desk harness, for the desk pages

AGENCY = "Nordic Collect"


@dataclass
class Collection:
    """The world's institution collecting through AGENCY: 100.00 after 30 days, 7 days' notice."""

    world: World

    async def patron(self, amount_minor: int = 15000, **fields: Any) -> PatronHandle:
        patron = await self.world.patron("external", **fields)
        await self.charge(patron.id, amount_minor)
        return patron

    async def charge(self, patron_id: int, amount_minor: int) -> None:
        async with self.world.runtime.unit(self.world.actor(ActorKind.DESK)) as ctx:
            await charge(ctx, patron_id, FeeType.OVERDUE, amount_minor, "Overdue: Kongens Fald")

    async def pay(self, patron_id: int, amount_minor: int, key: str = "desk-1") -> None:
        async with self.world.runtime.unit(self.world.actor(ActorKind.DESK)) as ctx:
            await pay(ctx, patron_id, amount_minor, method=PaymentMethod.CASH, idempotency_key=key)

    async def notices(self) -> CollectionReport:
        runtime = self.world.runtime
        return await collection_notices(runtime, runtime.clock.now())

    async def handover(self) -> CollectionReport:
        runtime = self.world.runtime
        return await collection_handover(runtime, runtime.clock.now())

    async def cases(self, patron_id: int) -> list[CollectionCase]:
        async with self.world.runtime.unit(readonly=True) as ctx:
            query = (
                select(CollectionCase)
                .where(CollectionCase.patron_id == patron_id)
                .order_by(CollectionCase.id)
            )
            return list((await ctx.session.scalars(query)).all())

    async def codes(self, patron_id: int) -> list[BlockCode]:
        async with self.world.runtime.unit(readonly=True) as ctx:
            blocks, _ = await blocks_of(ctx, patron_id)
            return [block.code for block in blocks]

    async def mails(self, patron_id: int, template: str | None = None) -> list[OutboundMail]:
        async with self.world.runtime.unit(readonly=True) as ctx:
            query = select(OutboundMail).where(OutboundMail.patron_id == patron_id)
            if template is not None:
                query = query.where(OutboundMail.template == template)
            return list((await ctx.session.scalars(query.order_by(OutboundMail.id))).all())

    async def handed_over(self, amount_minor: int = 15000) -> tuple[PatronHandle, int]:
        """A patron whose debt went to the agency: notice on day 30, hand-over on day 38."""
        patron = await self.patron(amount_minor)
        clock = self.world.runtime.clock
        clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
        await self.notices()
        clock.advance(timedelta(days=8))  # type: ignore[attr-defined]
        await self.handover()
        [case] = await self.cases(patron.id)
        assert case.state == "handed_over"
        return patron, case.id


@pytest.fixture
async def collection(world: World) -> Collection:
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        await update_institution(
            ctx,
            world.institution_id,
            {
                "collection_agency": AGENCY,
                "collection_min_debt_minor": 10000,
                "collection_min_age_days": 30,
                "collection_notice_days": 7,
            },
        )
    return Collection(world)
