"""Bodies of the online payment routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from libcard.payments.rules import PaymentState
from libcard.web.api.schemas import Money


class WebhookAnswer(BaseModel):
    """What a provider is told after a webhook was believed (it retries anything else)."""

    reference: str
    state: PaymentState
    duplicate: bool = Field(description="This event had been received before; nothing changed.")


class OnlinePaymentOut(BaseModel):
    reference: str
    provider: str
    state: PaymentState
    amount: Money
    created_at: datetime
    expires_at: datetime
    failure_reason: str | None
    receipt_id: int | None = Field(description="The ledger payment (receipt number) once paid.")
