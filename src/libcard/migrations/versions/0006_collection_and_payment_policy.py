"""collection and payment policy: the institution's collection agency, the debt and age that
start a collection notice, the notice period, and the login asked for before paying online

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 13:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Server defaults, so that institutions made before these settings existed migrate to them.
NUMBERS = (
    ("collection_min_debt_minor", "10000"),
    ("collection_min_age_days", "30"),
    ("collection_notice_days", "7"),
)


def upgrade() -> None:
    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.add_column(sa.Column("collection_agency", sa.String(length=100), nullable=True))
        for name, default in NUMBERS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), server_default=default, nullable=False)
            )
        batch_op.add_column(
            sa.Column(
                "payment_login", sa.String(length=16), server_default="strong", nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.drop_column("payment_login")
        for name, _ in reversed(NUMBERS):
            batch_op.drop_column(name)
        batch_op.drop_column("collection_agency")
