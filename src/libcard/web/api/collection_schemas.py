"""Request and response bodies of the collection agency's API (R14d, R15)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from libcard.collection.rules import CaseState
from libcard.web.api.schemas import MinorUnits, Money, Strict, Text200, Text500


class CasePatronOut(BaseModel):
    """Who owes: what the agency needs to reach them."""

    id: int
    card_number: str | None
    first_name: str
    last_name: str
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    email: str | None


class CaseFeeOut(BaseModel):
    fee_id: int
    created_at: datetime
    type: str
    description: str
    noticed: Money = Field(description="Outstanding when the notice went out.")
    outstanding: Money = Field(description="Outstanding in the library's ledger now.")


class CasePaymentOut(BaseModel):
    reference: str
    amount: Money
    paid_at: datetime
    reported_at: datetime


class CaseSummaryOut(BaseModel):
    id: int
    state: CaseState
    agency: str | None
    patron: CasePatronOut
    amount: Money = Field(description="What the case collects (while the notice runs: noticed).")
    paid: Money = Field(description="What the agency has reported paid so far.")
    remaining: Money = Field(description="What is still to collect.")
    notice_sent_at: datetime | None
    notice_deadline: datetime | None
    handed_over_at: datetime | None
    acknowledged_at: datetime | None
    closed_at: datetime | None
    closed_reason: str | None
    recalled_at: datetime | None


class CaseOut(CaseSummaryOut):
    fees: list[CaseFeeOut]
    payments: list[CasePaymentOut]


class CasePage(BaseModel):
    cases: list[CaseSummaryOut]
    next_after_id: int | None = Field(
        description="Send as `after_id` for the next page; null on the last page."
    )


class AgencyPaymentIn(Strict):
    amount_minor: MinorUnits
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    paid_at: AwareDatetime = Field(description="When the patron paid the agency.")
    reference: Text200 = Field(description="The agency's own reference; a retry sends it again.")


class PaidInFullIn(Strict):
    reference: Text200 | None = Field(
        default=None, description="The reference of the last payment, if one is still unreported."
    )
    paid_at: AwareDatetime | None = None


class RecallIn(Strict):
    reason: Text500
