"""汇缴核定: remit_assessments (one per unit and month) and remit_members (a unit's baseline, the 上期 of its first 核定)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 12:00:00

A month of a unit is assessed at most once among the 核定 that stand (a partial unique index
leaves deleted ones out). remit_members rows without a batch are a unit's baseline as ``gjj load``
delivered it: the 上期 of its first 核定 here. Rows with a batch are no longer written: the members
a 核定 counted are read from its batch's rows (batch_row_parts); batch_pk stays, nullable.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pipeline.store.tables import DecimalText

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STANDING = "state <> '已删除'"


def Money() -> sa.types.TypeEngine:  # noqa: N802 - as the models write it
    return sa.Numeric(precision=14, scale=2).with_variant(DecimalText(length=40), "sqlite")


def upgrade() -> None:
    op.create_table(
        "remit_assessments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_pk", sa.Integer(), sa.ForeignKey("batches.id"), nullable=False),
        sa.Column("unit_account", sa.String(length=20), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("serial_number", sa.String(length=30), nullable=False),
        sa.Column("previous_count", sa.Integer(), nullable=False),
        sa.Column("previous_amount", Money(), nullable=False),
        sa.Column("increase_count", sa.Integer(), nullable=False),
        sa.Column("increase_amount", Money(), nullable=False),
        sa.Column("decrease_count", sa.Integer(), nullable=False),
        sa.Column("decrease_amount", Money(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("paid_to_before", sa.String(length=7), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("paid_amount", Money(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("departed", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_remit_assessments_batch_pk", "remit_assessments", ["batch_pk"])
    op.create_index("ix_remit_assessments_unit_account", "remit_assessments", ["unit_account"])
    op.create_index("ix_remit_assessments_serial_number", "remit_assessments", ["serial_number"])
    op.create_index(
        "uq_remit_unit_month",
        "remit_assessments",
        ["unit_account", "month"],
        unique=True,
        sqlite_where=sa.text(STANDING),
        postgresql_where=sa.text(STANDING),
    )
    op.create_table(
        "remit_members",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_pk", sa.Integer(), sa.ForeignKey("batches.id"), nullable=True),
        sa.Column("unit_account", sa.String(length=20), nullable=False),
        sa.Column("member_account", sa.String(length=20), nullable=False),
        sa.Column("base", Money(), nullable=False),
        sa.Column("unit_amount", Money(), nullable=False),
        sa.Column("personal_amount", Money(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_remit_members_unit_batch", "remit_members", ["unit_account", "batch_pk"])


def downgrade() -> None:
    op.drop_index("ix_remit_members_unit_batch", table_name="remit_members")
    op.drop_table("remit_members")
    for name in ("uq_remit_unit_month", "ix_remit_assessments_serial_number", "ix_remit_assessments_unit_account", "ix_remit_assessments_batch_pk"):
        op.drop_index(name, table_name="remit_assessments")
    op.drop_table("remit_assessments")
