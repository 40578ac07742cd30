"""loans

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:04:23.243693
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import libcard.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("barcode", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("replacement_cost_minor", sa.Integer(), nullable=False),
        sa.Column("loanable", sa.Boolean(), nullable=False),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_item_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["institution.id"], name=op.f("fk_item_institution_id_institution")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item")),
        sa.UniqueConstraint(
            "institution_id", "barcode", name=op.f("uq_item_institution_id_barcode")
        ),
    )
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_item_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "loan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("patron_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("checked_out_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("renewals", sa.Integer(), nullable=False),
        sa.Column("returned_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_loan_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(["card_id"], ["card.id"], name=op.f("fk_loan_card_id_card")),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["institution.id"], name=op.f("fk_loan_institution_id_institution")
        ),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], name=op.f("fk_loan_item_id_item")),
        sa.ForeignKeyConstraint(
            ["patron_id"], ["patron.id"], name=op.f("fk_loan_patron_id_patron")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan")),
    )
    with op.batch_alter_table("loan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_loan_card_id"), ["card_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_loan_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_loan_item_id"), ["item_id"], unique=False)
        batch_op.create_index(
            "ix_loan_patron_id_returned_at", ["patron_id", "returned_at"], unique=False
        )
        batch_op.create_index(
            "uq_loan_item_id_open",
            ["item_id"],
            unique=True,
            postgresql_where=sa.text("returned_at IS NULL"),
            sqlite_where=sa.text("returned_at IS NULL"),
        )

    with op.batch_alter_table("patron_group", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("loan_days", sa.Integer(), server_default="28", nullable=False)
        )
        batch_op.add_column(
            sa.Column("max_loans", sa.Integer(), server_default="50", nullable=False)
        )
        batch_op.add_column(
            sa.Column("max_renewals", sa.Integer(), server_default="3", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("patron_group", schema=None) as batch_op:
        batch_op.drop_column("max_renewals")
        batch_op.drop_column("max_loans")
        batch_op.drop_column("loan_days")

    with op.batch_alter_table("loan", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_loan_item_id_open",
            postgresql_where=sa.text("returned_at IS NULL"),
            sqlite_where=sa.text("returned_at IS NULL"),
        )
        batch_op.drop_index("ix_loan_patron_id_returned_at")
        batch_op.drop_index(batch_op.f("ix_loan_item_id"))
        batch_op.drop_index(batch_op.f("ix_loan_institution_id"))
        batch_op.drop_index(batch_op.f("ix_loan_card_id"))
        batch_op.drop_index(batch_op.f("ix_loan_branch_id"))

    op.drop_table("loan")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_institution_id"))
        batch_op.drop_index(batch_op.f("ix_item_branch_id"))

    op.drop_table("item")
