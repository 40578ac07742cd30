"""fines and lost items: fine and lost-item policy per patron group, a loan's fine, lost state
and replacement invoice, and the record of daily job runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:02:11.407318
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import libcard.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_LOAN = sa.text("returned_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("started_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
        sa.UniqueConstraint("name", "day", name=op.f("uq_job_run_name_day")),
    )
    with op.batch_alter_table("loan", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lost_at", libcard.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("fine_fee_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("replacement_fee_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_loan_due_at_open",
            ["due_at"],
            unique=False,
            postgresql_where=OPEN_LOAN,
            sqlite_where=OPEN_LOAN,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_loan_fine_fee_id_fee"), "fee", ["fine_fee_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_loan_replacement_fee_id_fee"), "fee", ["replacement_fee_id"], ["id"]
        )

    # Server defaults, so that groups made before fines existed migrate to the defaults.
    with op.batch_alter_table("patron_group", schema=None) as batch_op:
        for name, default in (
            ("fine_per_day_minor", "500"),
            ("fine_cap_minor", "10000"),
            ("fine_grace_days", "0"),
            ("lost_after_days", "60"),
        ):
            batch_op.add_column(
                sa.Column(name, sa.Integer(), server_default=default, nullable=False)
            )
        batch_op.add_column(
            sa.Column(
                "lost_item_returned",
                sa.String(length=16),
                server_default="cancel",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("patron_group", schema=None) as batch_op:
        for name in (
            "lost_item_returned",
            "lost_after_days",
            "fine_grace_days",
            "fine_cap_minor",
            "fine_per_day_minor",
        ):
            batch_op.drop_column(name)

    with op.batch_alter_table("loan", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_loan_replacement_fee_id_fee"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_loan_fine_fee_id_fee"), type_="foreignkey")
        batch_op.drop_index(
            "ix_loan_due_at_open", postgresql_where=OPEN_LOAN, sqlite_where=OPEN_LOAN
        )
        batch_op.drop_column("replacement_fee_id")
        batch_op.drop_column("fine_fee_id")
        batch_op.drop_column("lost_at")

    op.drop_table("job_run")
