"""wallet passes, their devices, and the institution's pass branding

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:55:03.636253
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import libcard.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)

    op.create_table(
        "wallet_pass",
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("google_offered_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("google_fingerprint", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["card.id"], name=op.f("fk_wallet_pass_card_id_card")),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_wallet_pass")),
    )
    op.create_table(
        "wallet_registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_library_identifier", sa.String(length=128), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("push_token", sa.String(length=200), nullable=False),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("push_pending_since", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["wallet_pass.card_id"],
            name=op.f("fk_wallet_registration_card_id_wallet_pass"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_registration")),
        sa.UniqueConstraint(
            "device_library_identifier",
            "card_id",
            name=op.f("uq_wallet_registration_device_library_identifier_card_id"),
        ),
    )
    with op.batch_alter_table("wallet_registration", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wallet_registration_card_id"), ["card_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_wallet_registration_device_library_identifier"),
            ["device_library_identifier"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_wallet_registration_push_pending_since"),
            ["push_pending_since"],
            unique=False,
        )

    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "wallet_background", sa.String(length=7), server_default="#003366", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "wallet_foreground", sa.String(length=7), server_default="#ffffff", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("wallet_label", sa.String(length=7), server_default="#ccddee", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "wallet_symbology", sa.String(length=8), server_default="code128", nullable=False
            )
        )
        batch_op.add_column(sa.Column("wallet_contact", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("wallet_logo", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))

    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.drop_column("wallet_logo")
        batch_op.drop_column("wallet_contact")
        batch_op.drop_column("wallet_symbology")
        batch_op.drop_column("wallet_label")
        batch_op.drop_column("wallet_foreground")
        batch_op.drop_column("wallet_background")

    with op.batch_alter_table("wallet_registration", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_registration_push_pending_since"))
        batch_op.drop_index(batch_op.f("ix_wallet_registration_device_library_identifier"))
        batch_op.drop_index(batch_op.f("ix_wallet_registration_card_id"))

    op.drop_table("wallet_registration")
    op.drop_table("wallet_pass")
