"""Cards and the account's PIN credential."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class Card(Base):
    __tablename__ = "card"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Health cards carry a national id number: only its keyed digest is kept, never the number.
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    number_digest: Mapped[str | None] = mapped_column(String(80), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    state_changed_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    replaces_card_id: Mapped[int | None] = mapped_column(ForeignKey("card.id"))


class PinCredential(Base):
    """One PIN per account, shared by its cards; the row is locked while a PIN is checked."""

    __tablename__ = "pin_credential"

    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(80))
    changed_at: Mapped[datetime]
    wrong_in_a_row: Mapped[int] = mapped_column(default=0)
    last_wrong_at: Mapped[datetime | None]
    # The lockout (R6) lives here, beside the count that causes it; lifting it needs staff
    # who saw a photo ID, and the last lift is kept here as well as in the audit log.
    locked_at: Mapped[datetime | None]
    unlocked_at: Mapped[datetime | None]
    unlocked_by: Mapped[str | None] = mapped_column(String(200))
    unlock_photo_id_kind: Mapped[str | None] = mapped_column(String(32))
