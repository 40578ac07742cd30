"""Blocks a person or an event sets (PIN lockout, staff block, card retained)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class StoredBlock(Base):
    __tablename__ = "block"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(500))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("card.id"))
    created_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    placed_by: Mapped[str] = mapped_column(String(200))
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(200))
    lift_note: Mapped[str | None] = mapped_column(String(500))
    photo_id_kind: Mapped[str | None] = mapped_column(String(32))
