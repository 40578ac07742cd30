"""API tokens: stored as digests, with scopes and the actor they act as."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: every institution (the deployment's own admin token).
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(80), unique=True)
    actor_kind: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[list[Any]] = mapped_column()
    # Set for a token that acts for one patron only (the institution's app, a patron's client).
    patron_id: Mapped[int | None] = mapped_column(ForeignKey("patron.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Throttle(Base):
    """A fixed-window counter of failed attempts at a guessable secret, keyed by what is guessed."""

    __tablename__ = "throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_started_at: Mapped[datetime]
    failures: Mapped[int] = mapped_column(default=0)


class PortalSession(Base):
    """A patron logged in to the portal. The cookie holds a secret; only its digest is here."""

    __tablename__ = "portal_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(80), unique=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # the absolute end, however active the patron is
    ended_at: Mapped[datetime | None]
