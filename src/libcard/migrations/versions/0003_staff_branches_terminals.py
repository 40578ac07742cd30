"""staff, branches, terminals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:08:14.923860
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import libcard.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "branch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("closed_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_branch_institution_id_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch")),
        sa.UniqueConstraint("institution_id", "code", name=op.f("uq_branch_institution_id_code")),
    )
    with op.batch_alter_table("branch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_branch_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("preferred_language", sa.String(length=5), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("password_changed_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("totp_secret", sa.String(length=300), nullable=True),
        sa.Column("totp_enrolled_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("last_login_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_staff_user_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_staff_user_institution_id_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_user_username")),
    )
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_user_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_staff_user_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "terminal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=True),
        sa.Column("disabled_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_terminal_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_terminal_institution_id_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminal")),
        sa.UniqueConstraint("login", name=op.f("uq_terminal_login")),
    )
    with op.batch_alter_table("terminal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_terminal_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_terminal_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "staff_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_user.id"], name=op.f("fk_staff_recovery_code_staff_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_recovery_code")),
        sa.UniqueConstraint("digest", name=op.f("uq_staff_recovery_code_digest")),
    )
    with op.batch_alter_table("staff_recovery_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_recovery_code_staff_id"), ["staff_id"], unique=False
        )

    op.create_table(
        "staff_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("verified_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", libcard.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", libcard.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_user.id"], name=op.f("fk_staff_session_staff_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_session")),
        sa.UniqueConstraint("digest", name=op.f("uq_staff_session_digest")),
    )
    with op.batch_alter_table("staff_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_session_staff_id"), ["staff_id"], unique=False)

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("branch_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(length=500), nullable=True))

    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("taken_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("branch_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_payment_branch_id_branch"), "branch", ["branch_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_payment_branch_id_branch"), type_="foreignkey")
        batch_op.drop_column("branch_id")
        batch_op.drop_column("taken_by")

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("branch_id")

    with op.batch_alter_table("staff_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_session_staff_id"))

    op.drop_table("staff_session")
    with op.batch_alter_table("staff_recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_recovery_code_staff_id"))

    op.drop_table("staff_recovery_code")
    with op.batch_alter_table("terminal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_terminal_institution_id"))
        batch_op.drop_index(batch_op.f("ix_terminal_branch_id"))

    op.drop_table("terminal")
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_user_institution_id"))
        batch_op.drop_index(batch_op.f("ix_staff_user_branch_id"))

    op.drop_table("staff_user")
    with op.batch_alter_table("branch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branch_institution_id"))

    op.drop_table("branch")
