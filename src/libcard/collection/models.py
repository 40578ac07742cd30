"""Collection cases (R14d, R15): the notice, the hand-over to the agency, its reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class CollectionCase(Base):
    __tablename__ = "collection_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    # While the notice runs: the debt noticed; once handed over: what the agency collects.
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # notice_sent → settled | cancelled | handed_over → paid_in_full | recalled (rules.CaseState)
    state: Mapped[str] = mapped_column(String(16), index=True)
    agency: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    notice_sent_at: Mapped[datetime | None]
    # The end of the local day the patron may pay by; handed over after it.
    notice_deadline: Mapped[datetime | None]
    handed_over_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    # What the agency has reported paid so far (its partial payments).
    paid_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    recalled_at: Mapped[datetime | None]
    recalled_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(32))
    # The export file the case went to the agency in (`libcard collection export`).
    export_batch: Mapped[str | None] = mapped_column(String(64), index=True)
    exported_at: Mapped[datetime | None]


class CollectionCaseFee(Base):
    """A fee a case covers, with what was outstanding on it when the notice went out."""

    __tablename__ = "collection_case_fee"
    __table_args__ = (UniqueConstraint("case_id", "fee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    fee_id: Mapped[int] = mapped_column(ForeignKey("fee.id"), index=True)
    amount_minor: Mapped[int]


class CollectionPayment(Base):
    """A payment the agency reported for a case; its reference makes the report idempotent."""

    __tablename__ = "collection_payment"
    __table_args__ = (UniqueConstraint("case_id", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))
    reference: Mapped[str] = mapped_column(String(200))
    amount_minor: Mapped[int]
    paid_at: Mapped[datetime]
    reported_at: Mapped[datetime]
