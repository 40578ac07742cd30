"""Fees, the payments that settle them, and the ledger of actions between the two."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class Fee(Base):
    __tablename__ = "fee"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(500))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("card.id"))
    item_barcode: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Payment(Base):
    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("institution_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    # Who took the money and where: printed on the receipt, counted at the desk's day end.
    taken_by: Mapped[str | None] = mapped_column(String(200))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"))
    created_at: Mapped[datetime]


class FeeAction(Base):
    """A line of the ledger: what happened to one fee. Amounts are positive minor units."""

    __tablename__ = "fee_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    fee_id: Mapped[int] = mapped_column(ForeignKey("fee.id"), index=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int]
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    actor_label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
