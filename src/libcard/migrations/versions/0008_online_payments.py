"""online payments: checkouts with a provider, their states and webhooks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 13:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import libcard.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "online_payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("patron_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=200), nullable=True),
        sa.Column("redirect_url", sa.String(length=2000), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("authorized_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.Column("ledger_payment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_online_payment_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["patron_id"], ["patron.id"], name=op.f("fk_online_payment_patron_id_patron")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_payment_id"],
            ["payment.id"],
            name=op.f("fk_online_payment_ledger_payment_id_payment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_online_payment")),
        sa.UniqueConstraint(
            "provider",
            "provider_payment_id",
            name=op.f("uq_online_payment_provider_provider_payment_id"),
        ),
        sa.UniqueConstraint("reference", name=op.f("uq_online_payment_reference")),
    )
    with op.batch_alter_table("online_payment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_online_payment_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_online_payment_patron_id"), ["patron_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_online_payment_state"), ["state"], unique=False)

    op.create_table(
        "online_payment_fee",
        sa.Column("online_payment_id", sa.Integer(), nullable=False),
        sa.Column("fee_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fee_id"], ["fee.id"], name=op.f("fk_online_payment_fee_fee_id_fee")
        ),
        sa.ForeignKeyConstraint(
            ["online_payment_id"],
            ["online_payment.id"],
            name=op.f("fk_online_payment_fee_online_payment_id_online_payment"),
        ),
        sa.PrimaryKeyConstraint("online_payment_id", "fee_id", name=op.f("pk_online_payment_fee")),
    )

    op.create_table(
        "payment_webhook_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("online_payment_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("received_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["online_payment_id"],
            ["online_payment.id"],
            name=op.f("fk_payment_webhook_event_online_payment_id_online_payment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_webhook_event")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("uq_payment_webhook_event_provider_event_id")
        ),
    )
    with op.batch_alter_table("payment_webhook_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_webhook_event_online_payment_id"),
            ["online_payment_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_webhook_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_webhook_event_online_payment_id"))
    op.drop_table("payment_webhook_event")
    op.drop_table("online_payment_fee")
    with op.batch_alter_table("online_payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_online_payment_state"))
        batch_op.drop_index(batch_op.f("ix_online_payment_patron_id"))
        batch_op.drop_index(batch_op.f("ix_online_payment_institution_id"))
    op.drop_table("online_payment")
