"""collection workflow: notices, hand-over, the agency's reports

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 13:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import libcard.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENTS = ("notice_deadline", "acknowledged_at", "recalled_at", "exported_at")


def upgrade() -> None:
    with op.batch_alter_table("collection_case", schema=None) as batch_op:
        for name in MOMENTS:
            batch_op.add_column(
                sa.Column(name, libcard.db.UTCDateTime(timezone=True), nullable=True)
            )
        batch_op.add_column(
            sa.Column("paid_minor", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("recalled_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("closed_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("export_batch", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_collection_case_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_collection_case_export_batch"), ["export_batch"], unique=False
        )

    op.create_table(
        "collection_case_fee",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("fee_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["collection_case.id"],
            name=op.f("fk_collection_case_fee_case_id_collection_case"),
        ),
        sa.ForeignKeyConstraint(
            ["fee_id"], ["fee.id"], name=op.f("fk_collection_case_fee_fee_id_fee")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_case_fee")),
        sa.UniqueConstraint(
            "case_id", "fee_id", name=op.f("uq_collection_case_fee_case_id_fee_id")
        ),
    )
    with op.batch_alter_table("collection_case_fee", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_case_fee_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_collection_case_fee_fee_id"), ["fee_id"], unique=False)

    op.create_table(
        "collection_payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("paid_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reported_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["collection_case.id"],
            name=op.f("fk_collection_payment_case_id_collection_case"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_collection_payment_payment_id_payment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_payment")),
        sa.UniqueConstraint(
            "case_id", "reference", name=op.f("uq_collection_payment_case_id_reference")
        ),
    )
    with op.batch_alter_table("collection_payment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_payment_case_id"), ["case_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("collection_payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_payment_case_id"))
    op.drop_table("collection_payment")

    with op.batch_alter_table("collection_case_fee", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_case_fee_fee_id"))
        batch_op.drop_index(batch_op.f("ix_collection_case_fee_case_id"))
    op.drop_table("collection_case_fee")

    with op.batch_alter_table("collection_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_case_export_batch"))
        batch_op.drop_index(batch_op.f("ix_collection_case_state"))
        batch_op.drop_column("export_batch")
        batch_op.drop_column("closed_reason")
        batch_op.drop_column("recalled_by")
        batch_op.drop_column("paid_minor")
        for name in reversed(MOMENTS):
            batch_op.drop_column(name)
