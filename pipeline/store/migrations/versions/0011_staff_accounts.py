"""staff accounts of the web console, and the log of what they did

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 02:10:00

The staff web console (``gjj serve``, issue #20): ``staff_accounts`` holds one row per person (name,
role viewer/reviewer/admin, Argon2 hash, disabled, failed log-ins in a row and locked until), and
``console_audit`` every console action (when, staff account, action, target, detail), log-ins included.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_staff_accounts_name"),
    )
    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("staff", sa.String(length=50), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_audit_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_audit_at"))
    op.drop_table("console_audit")
    op.drop_table("staff_accounts")
