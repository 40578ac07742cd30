"""API tokens: stored as digests, with scopes and the actor they act as."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
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
    # A login at the identity broker in this session (R16): its assurance level (acr), when,
    # and the identity it linked. Kept for this session only; a new session starts without.
    assurance_acr: Mapped[str | None] = mapped_column(String(200))
    assured_at: Mapped[datetime | None]
    linked_identity_id: Mapped[int | None] = mapped_column(ForeignKey("linked_identity.id"))


class LinkedIdentity(Base):
    """A person at the identity broker (national eID, university login), linked to a patron by
    the patron's first strong login. `subject` is a keyed digest of the broker's identifier,
    which may be a national identity number."""

    __tablename__ = "linked_identity"
    __table_args__ = (
        UniqueConstraint("issuer", "subject"),
        UniqueConstraint("patron_id", "issuer"),  # one identity per broker and patron
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(80))
    linked_at: Mapped[datetime]
    last_login_at: Mapped[datetime]


class AppAuthorizationCode(Base):
    """A one-time code of the institution's app login (OAuth 2.0 authorization code with PKCE,
    RFC 8252): the patron allowed `client_id` on the portal; the app trades the code for a
    patron token. Only a keyed digest of the code is stored. A code used a second time
    revokes the token it gave (RFC 6749 4.1.2), so `token_id` is kept."""

    __tablename__ = "app_authorization_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(80), unique=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patron.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(100))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    code_challenge: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id"))
