"""linked identities: a patron's login at the identity broker, and the assurance of a portal session

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 13:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import libcard.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "linked_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patron_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("linked_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patron_id"], ["patron.id"], name=op.f("fk_linked_identity_patron_id_patron")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linked_identity")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_linked_identity_issuer_subject")),
        sa.UniqueConstraint(
            "patron_id", "issuer", name=op.f("uq_linked_identity_patron_id_issuer")
        ),
    )
    with op.batch_alter_table("linked_identity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_linked_identity_patron_id"), ["patron_id"], unique=False
        )

    with op.batch_alter_table("portal_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assurance_acr", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("assured_at", libcard.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("linked_identity_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_portal_session_linked_identity_id_linked_identity"),
            "linked_identity",
            ["linked_identity_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("portal_session", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_portal_session_linked_identity_id_linked_identity"), type_="foreignkey"
        )
        batch_op.drop_column("linked_identity_id")
        batch_op.drop_column("assured_at")
        batch_op.drop_column("assurance_acr")

    with op.batch_alter_table("linked_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_linked_identity_patron_id"))

    op.drop_table("linked_identity")
