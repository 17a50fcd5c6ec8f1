"""a batch whose work was undone as a whole may be sent again

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:00:00

- ``batches.withdrawn_at``: set when ``gjj remit delete`` (or the console) deletes the 汇缴核定 of a
  batch; the unique index on (unit, sha256) no longer covers such a batch, so the unit may send the
  very same 汇缴清册 again and have it assessed anew (before, identical bytes were DUPLICATE_FILE).
- An index on ``review_decisions.decided_at``: the day's staff summary lists a day's decisions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BEFORE = "status NOT IN ('duplicate', 'rejected')"
AFTER = "status NOT IN ('duplicate', 'rejected') AND withdrawn_at IS NULL"


def _sha256_index(where: str) -> None:
    op.create_index(
        "uq_batches_unit_sha256", "batches", ["unit_account", "sha256"], unique=True, sqlite_where=sa.text(where), postgresql_where=sa.text(where)
    )


def upgrade() -> None:
    with op.batch_alter_table("batches", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(), nullable=True))
    op.drop_index("uq_batches_unit_sha256", table_name="batches")
    _sha256_index(AFTER)
    op.create_index("ix_review_decisions_decided_at", "review_decisions", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_review_decisions_decided_at", table_name="review_decisions")
    op.drop_index("uq_batches_unit_sha256", table_name="batches")
    _sha256_index(BEFORE)
    with op.batch_alter_table("batches", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("withdrawn_at")
