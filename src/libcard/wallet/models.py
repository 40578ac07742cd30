"""The wallet passes libcard has handed out, and the devices that asked to hear of changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class WalletPass(Base):
    """A card whose pass was handed out (Apple or Google) and what that pass says now.

    `fingerprint` is a digest of the pass's content; when the card's state, a block, the
    expiry or the branding changes it, the digest changes, `updated_at` moves on (Apple's
    "updated since" tag) and the pass's devices and Google's copy are told.
    """

    __tablename__ = "wallet_pass"

    card_id: Mapped[int] = mapped_column(ForeignKey("card.id"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Google Wallet: when a save link was first handed out, and the content Google last got.
    google_offered_at: Mapped[datetime | None]
    google_fingerprint: Mapped[str | None] = mapped_column(String(64))


class WalletRegistration(Base):
    """A device (Apple's device library identifier) that keeps a card's pass and its push token."""

    __tablename__ = "wallet_registration"
    __table_args__ = (UniqueConstraint("device_library_identifier", "card_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_library_identifier: Mapped[str] = mapped_column(String(128), index=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("wallet_pass.card_id"), index=True)
    push_token: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # Set when the pass changed and the device has not been told yet; cleared once APNs took it.
    push_pending_since: Mapped[datetime | None] = mapped_column(index=True)
