"""Institutions and patron groups: the stored half of policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from libcard.db import Base


class Institution(Base):
    __tablename__ = "institution"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Card numbers this institution issues: prefix + serial + Luhn digit, `card_number_length` long.
    card_prefix: Mapped[str] = mapped_column(String(8), unique=True)
    card_number_length: Mapped[int] = mapped_column(default=14)
    next_card_serial: Mapped[int] = mapped_column(default=1)
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Copenhagen")
    default_language: Mapped[str] = mapped_column(String(5), default="da")
    max_wrong_pins: Mapped[int] = mapped_column(default=3)
    fee_block_threshold_minor: Mapped[int] = mapped_column(default=22500)
    fee_block_comparison: Mapped[str] = mapped_column(String(2), default="ge")
    fee_block_lifts_at: Mapped[str] = mapped_column(String(16), default="zero")
    # {block code: [actions it stops]}; codes missing here stop every action.
    block_effects: Mapped[dict[str, Any]] = mapped_column(default=dict)
    activation_code_days: Mapped[int] = mapped_column(default=30)
    password_reset_minutes: Mapped[int] = mapped_column(default=60)
    card_valid_years: Mapped[int] = mapped_column(default=5)
    # Collection (R15): debt of at least this much, with its oldest open fee at least this many
    # days old, gets a notice; unpaid after the notice period it goes to the agency. No agency
    # named: nothing goes to collection.
    collection_agency: Mapped[str | None] = mapped_column(String(100), default=None)
    collection_min_debt_minor: Mapped[int] = mapped_column(default=10000, server_default="10000")
    collection_min_age_days: Mapped[int] = mapped_column(default=30, server_default="30")
    collection_notice_days: Mapped[int] = mapped_column(default=7, server_default="7")
    # Paying online (R16): "strong" asks for a login through the identity broker first.
    payment_login: Mapped[str] = mapped_column(
        String(16), default="strong", server_default="strong"
    )
    # The wallet pass's branding (R3): colours as #rrggbb, the barcode ("code128" or "qr"),
    # the contact text on the back of the pass, and a logo (PNG) shown on it.
    wallet_background: Mapped[str] = mapped_column(
        String(7), default="#003366", server_default="#003366"
    )
    wallet_foreground: Mapped[str] = mapped_column(
        String(7), default="#ffffff", server_default="#ffffff"
    )
    wallet_label: Mapped[str] = mapped_column(
        String(7), default="#ccddee", server_default="#ccddee"
    )
    wallet_symbology: Mapped[str] = mapped_column(
        String(8), default="code128", server_default="code128"
    )
    wallet_contact: Mapped[str | None] = mapped_column(String(500), default=None)
    wallet_logo: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # A student missing from full registry exports this many days is expired (never deleted).
    registry_grace_days: Mapped[int] = mapped_column(default=30, server_default="30")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PatronGroup(Base):
    __tablename__ = "patron_group"
    __table_args__ = (UniqueConstraint("institution_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    may_hold_physical_card: Mapped[bool] = mapped_column(default=True)
    card_replacement_fee_minor: Mapped[int] = mapped_column(default=0)
    # {personal field: owner}; owners are registry, identity_portal, desk, patron.
    field_owners: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Optional overrides of the institution's defaults for this group.
    max_wrong_pins: Mapped[int | None] = mapped_column(default=None)
    fee_block_threshold_minor: Mapped[int | None] = mapped_column(default=None)
    block_effects: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # Loan rules. Server defaults, so that groups made before loans existed migrate.
    loan_days: Mapped[int] = mapped_column(default=28, server_default="28")
    max_loans: Mapped[int] = mapped_column(default=50, server_default="50")
    max_renewals: Mapped[int] = mapped_column(default=3, server_default="3")
    # Overdue fines and lost items (see Policy for their meaning).
    fine_per_day_minor: Mapped[int] = mapped_column(default=500, server_default="500")
    fine_cap_minor: Mapped[int] = mapped_column(default=10000, server_default="10000")
    fine_grace_days: Mapped[int] = mapped_column(default=0, server_default="0")
    lost_after_days: Mapped[int] = mapped_column(default=60, server_default="60")
    lost_item_returned: Mapped[str] = mapped_column(
        String(16), default="cancel", server_default="cancel"
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Branch(Base):
    """A library building with a lending desk; staff and self-checkout terminals belong to one."""

    __tablename__ = "branch"
    __table_args__ = (UniqueConstraint("institution_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Terminal(Base):
    """A self-checkout machine's SIP2 login. The password arrives in clear in each login
    message (93), so only its Argon2id hash is kept."""

    __tablename__ = "terminal"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"), index=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    encoding: Mapped[str] = mapped_column(String(16), default="cp850")
    language: Mapped[str | None] = mapped_column(String(5))
    disabled_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
