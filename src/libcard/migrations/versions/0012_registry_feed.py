"""registry feed: students missing from a full export, and the grace before they expire

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-12 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import libcard.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patron") as batch:
        batch.add_column(
            sa.Column(
                "registry_missing_since", libcard.db.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table("institution") as batch:
        batch.add_column(
            sa.Column("registry_grace_days", sa.Integer(), server_default="30", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("institution") as batch:
        batch.drop_column("registry_grace_days")
    with op.batch_alter_table("patron") as batch:
        batch.drop_column("registry_missing_since")
