"""Audit events. Append-only: the migration adds triggers that refuse UPDATE and DELETE."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_patron_at", "patron_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed for the wallet's look at which patrons changed in the last minutes.
    at: Mapped[datetime] = mapped_column(index=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"))
    actor_kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str] = mapped_column(String(200))
    branch_id: Mapped[int | None] = mapped_column()  # where a staff member acted
    reason: Mapped[str | None] = mapped_column(String(500))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    # No foreign key: the log outlives what it speaks of (anonymised patrons, removed tokens).
    patron_id: Mapped[int | None] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
