"""Online payments: a checkout with a provider, the fees it pays, and the webhooks received."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class OnlinePayment(Base):
    """One attempt to pay fees with a provider. Becomes a ledger `Payment` once it succeeds."""

    __tablename__ = "online_payment"
    __table_args__ = (UniqueConstraint("provider", "provider_payment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # Ours, sent to the provider and back in every webhook; unguessable, since the return
    # page takes it from the address bar.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    provider_payment_id: Mapped[str | None] = mapped_column(String(200))
    redirect_url: Mapped[str | None] = mapped_column(String(2000))
    language: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # When the provider first reported the money reserved (MobilePay): capture follows.
    authorized_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    ledger_payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))


class OnlinePaymentFee(Base):
    """A fee an online payment pays, with the amount owed on it when the payment started."""

    __tablename__ = "online_payment_fee"

    online_payment_id: Mapped[int] = mapped_column(
        ForeignKey("online_payment.id"), primary_key=True
    )
    fee_id: Mapped[int] = mapped_column(ForeignKey("fee.id"), primary_key=True)
    amount_minor: Mapped[int]


class WebhookEvent(Base):
    """A provider's webhook that was believed and applied; its id is never applied twice."""

    __tablename__ = "payment_webhook_event"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(200))
    online_payment_id: Mapped[int] = mapped_column(ForeignKey("online_payment.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
