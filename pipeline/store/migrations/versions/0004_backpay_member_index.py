"""drop the unused index on backpay_records.member_account

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 03:30:00

No query looks back-pay records up by member (they are listed and deleted by unit and serial
number), and keeping an index of random member accounts up to date cost every 100k-row file
about 0.1 s of its inserts, more as the table grows.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backpay_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backpay_records_member_account"))


def downgrade() -> None:
    with op.batch_alter_table("backpay_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backpay_records_member_account"), ["member_account"], unique=False)
