"""review requests of 缴存人信息变更 (姓名, 证件号码) and the decisions on them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 16:10:00

A 姓名 or 证件号码 change waits for a reviewer (issue #19): ``review_requests`` holds what it would
change and its state (待审核, 审核通过, 退回, 不通过) with the last decision; ``review_decisions``
keeps every decision (who, when, why).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_pk", sa.Integer(), nullable=False),
        sa.Column("excel_row", sa.Integer(), nullable=False),
        sa.Column("unit_account", sa.String(length=20), nullable=False),
        sa.Column("member_account", sa.String(length=20), nullable=False),
        sa.Column("item", sa.String(length=20), nullable=False),
        sa.Column("old_value", sa.String(length=100), nullable=False),
        sa.Column("new_value", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=50), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["batch_pk"], ["batches.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_requests_batch_pk"), ["batch_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_requests_unit_account"), ["unit_account"], unique=False)
        batch_op.create_index("ix_review_requests_member_state", ["member_account", "state"], unique=False)
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.String(length=50), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["review_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_decisions_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_decisions_request_id"))
    op.drop_table("review_decisions")
    with op.batch_alter_table("review_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_review_requests_member_state")
        batch_op.drop_index(batch_op.f("ix_review_requests_unit_account"))
        batch_op.drop_index(batch_op.f("ix_review_requests_batch_pk"))
    op.drop_table("review_requests")
