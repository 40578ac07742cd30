"""Collection cases: debt handed to an agency. The agency's workflow arrives with its API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class CollectionCase(Base):
    __tablename__ = "collection_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # notice_sent → handed_over → paid_in_full | recalled
    state: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    notice_sent_at: Mapped[datetime | None]
    handed_over_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
