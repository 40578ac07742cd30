"""Fixtures for online payments: providers in memory, a patron with fees, and helpers that
read what the library's records say."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from libcard.blocks.service import blocks_of
from libcard.context import Actor, ActorKind
from libcard.fees.models import Payment
from libcard.fees.rules import FeeType
from libcard.fees.service import charge
from libcard.notify.models import OutboundMail
from libcard.notify.service import MailLinks
from libcard.payments.checkout import Providers, receive, start_checkout
from libcard.payments.models import OnlinePayment
from libcard.payments.providers.base import ProviderPayment
from libcard.payments.results import Applied
from libcard.policy.rules import BlockCode
from libcard.runtime import Runtime
from tests.conftest import PatronHandle, World
from tests.payments.memory_provider import MemoryProvider
from tests.portal.conftest import Portal, portal  # noqa: F401 — the portal's pages, reused

LINKS = MailLinks("https://library.example")


@dataclass
class Payments:
    """The world, two providers in memory, and what a test needs to pay through them."""

    world: World
    runtime: Runtime
    card: MemoryProvider
    mobilepay: MemoryProvider

    @property
    def providers(self) -> Providers:
        return {"card": self.card, "mobilepay": self.mobilepay}

    def patron_actor(self, patron: PatronHandle) -> Actor:
        return self.world.actor(ActorKind.PATRON, patron_id=patron.id)

    async def charge(
        self, patron: PatronHandle, amount: int, fee_type: FeeType = FeeType.OVERDUE
    ) -> int:
        async with self.runtime.unit(self.world.actor(ActorKind.DESK)) as ctx:
            fee = await charge(ctx, patron.id, fee_type, amount, f"{fee_type.value} fee")
            return fee.id

    async def start(
        self, patron: PatronHandle, provider: str = "card", fee_ids: list[int] | None = None
    ) -> OnlinePayment:
        return await start_checkout(
            self.runtime,
            self.patron_actor(patron),
            self.providers,
            patron_id=patron.id,
            provider=provider,
            fee_ids=fee_ids,
            language="en",
            public_url="https://library.example",
        )

    async def receive(self, provider: str, report: ProviderPayment) -> Applied:
        return await receive(self.runtime, self.providers, provider, report, LINKS)

    async def codes(self, patron: PatronHandle) -> list[BlockCode]:
        async with self.runtime.unit(readonly=True) as ctx:
            blocks, _ = await blocks_of(ctx, patron.id)
            return [block.code for block in blocks]

    async def ledger_payments(self, patron: PatronHandle) -> int:
        async with self.runtime.unit(readonly=True) as ctx:
            count = await ctx.session.scalar(
                select(func.count()).select_from(Payment).where(Payment.patron_id == patron.id)
            )
            return int(count or 0)

    async def payment(self, reference: str) -> OnlinePayment:
        async with self.runtime.unit(readonly=True) as ctx:
            found = await ctx.session.scalar(
                select(OnlinePayment).where(OnlinePayment.reference == reference)
            )
            assert found is not None
            return found

    async def online_payments(self, patron: PatronHandle) -> list[OnlinePayment]:
        async with self.runtime.unit(readonly=True) as ctx:
            query = select(OnlinePayment).where(OnlinePayment.patron_id == patron.id)
            return list((await ctx.session.scalars(query.order_by(OnlinePayment.id))).all())

    async def mails(self, template: str) -> list[OutboundMail]:
        async with self.runtime.unit(readonly=True) as ctx:
            query = select(OutboundMail).where(OutboundMail.template == template)
            return list((await ctx.session.scalars(query.order_by(OutboundMail.id))).all())


@pytest.fixture
def payments(world: World, runtime: Runtime) -> Payments:
    return Payments(
        world,
        runtime,
        MemoryProvider("card"),
        MemoryProvider("mobilepay", reserves_first=True),
    )


def values(mail: OutboundMail) -> dict[str, Any]:
    return {"subject": mail.subject, "body": mail.body}
