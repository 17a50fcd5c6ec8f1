"""run events, and each batch's row totals, for the day's staff summary

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 16:00:00

The staff summary of a business date is built from the database (issue #23): every batch of that
date, and every event a run reported that is no batch (``run_events``: a failed file, a folder or
file it may not read, a file in a subfolder, a file quarantined unread), whichever process made it.
``batches.totals`` keeps the counts per row status and the accepted amounts, so the page never
reads a batch's rows for them; batches stored before this migration have none, and are read whole.
``batches.business_date`` gets an index: the page reads one day's batches out of years of them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("unit_account", sa.String(length=255), nullable=False),
        sa.Column("source_name", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("happened_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("run_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_events_business_date"), ["business_date"], unique=False)
    # Plain statements, not batch mode, as in 0005: batch mode would copy the batches table, which
    # other tables' foreign keys refer to.
    op.add_column("batches", sa.Column("totals", sa.JSON(), nullable=True))
    op.create_index("ix_batches_business_date", "batches", ["business_date"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_batches_business_date", table_name="batches")
    with op.batch_alter_table("batches", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("totals")
    with op.batch_alter_table("run_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_events_business_date"))
    op.drop_table("run_events")
