"""Staff users, their recovery codes and their sessions (kept apart from patrons' sessions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class StaffUser(Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"), index=True)
    # Unique across the deployment: the login page asks for no institution.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16))
    preferred_language: Mapped[str | None] = mapped_column(String(5))
    password_hash: Mapped[str] = mapped_column(String(200))
    password_changed_at: Mapped[datetime]
    # Set when an administrator chose the password: the user picks their own at next login.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # The TOTP secret, encrypted with a key derived from the server secret; a secret without
    # `totp_enrolled_at` is an enrolment begun but not yet confirmed with a code.
    totp_secret: Mapped[str | None] = mapped_column(String(300))
    totp_enrolled_at: Mapped[datetime | None]
    # The last 30-second step a code was accepted for: the same code never works twice.
    totp_last_step: Mapped[int | None] = mapped_column()
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class StaffRecoveryCode(Base):
    """A single-use code for when the phone with the authenticator is gone."""

    __tablename__ = "staff_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    digest: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class StaffSession(Base):
    """A staff member logged in to the desk. Until `verified_at` only the password was given:
    such a session opens the second-factor page and nothing else."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(80), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
