"""portal sessions and mail outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:06:27.925571
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import libcard.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbound_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patron_id", sa.Integer(), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["patron_id"], ["patron.id"], name=op.f("fk_outbound_mail_patron_id_patron")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_mail")),
    )
    with op.batch_alter_table("outbound_mail", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbound_mail_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbound_mail_patron_id"), ["patron_id"], unique=False)

    op.create_table(
        "portal_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("patron_id", sa.Integer(), nullable=False),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patron_id"], ["patron.id"], name=op.f("fk_portal_session_patron_id_patron")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_session")),
        sa.UniqueConstraint("digest", name=op.f("uq_portal_session_digest")),
    )
    with op.batch_alter_table("portal_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_session_patron_id"), ["patron_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("portal_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_session_patron_id"))

    op.drop_table("portal_session")
    with op.batch_alter_table("outbound_mail", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_mail_patron_id"))
        batch_op.drop_index(batch_op.f("ix_outbound_mail_next_attempt_at"))

    op.drop_table("outbound_mail")
