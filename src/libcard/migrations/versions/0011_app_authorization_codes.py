"""app authorization codes: the institution's app login through the portal (OAuth 2.0, PKCE)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import libcard.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_authorization_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("patron_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patron_id"], ["patron.id"], name=op.f("fk_app_authorization_code_patron_id_patron")
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_token.id"],
            name=op.f("fk_app_authorization_code_token_id_api_token"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_authorization_code")),
        sa.UniqueConstraint("digest", name=op.f("uq_app_authorization_code_digest")),
    )
    with op.batch_alter_table("app_authorization_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_app_authorization_code_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_app_authorization_code_patron_id"), ["patron_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("app_authorization_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_authorization_code_patron_id"))
        batch_op.drop_index(batch_op.f("ix_app_authorization_code_expires_at"))

    op.drop_table("app_authorization_code")
