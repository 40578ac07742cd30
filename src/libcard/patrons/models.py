"""Patron accounts and their single-use secret tokens (activation codes, reset links)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class Patron(Base):
    __tablename__ = "patron"
    __table_args__ = (
        UniqueConstraint("institution_id", "registry_id"),
        UniqueConstraint("institution_id", "identity_id"),
        UniqueConstraint("institution_id", "email"),
        UniqueConstraint("institution_id", "institutional_email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("patron_group.id"), index=True)
    # Keys of the source systems that own students' and employees' data.
    registry_id: Mapped[str | None] = mapped_column(String(64))
    identity_id: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), index=True)
    birth_date: Mapped[date | None]
    email: Mapped[str | None] = mapped_column(String(254))
    institutional_email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    preferred_language: Mapped[str | None] = mapped_column(String(5))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # When a full registry export first lacked this student; cleared when they reappear.
    registry_missing_since: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SecretToken(Base):
    """An activation code or a password-reset token; only its keyed digest is kept."""

    __tablename__ = "secret_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(80), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
