"""batch rows stored in parts of 5,000 rows

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 19:40:00

A batch's rows are kept to re-render its outputs; one JSON document per 5,000 rows replaces one
table row per file row (a 100k-row file was 100,000 inserts). Existing rows are carried over.
"""

from __future__ import annotations

from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ROWS_PER_PART = 5000

batch_rows = sa.table(
    "batch_rows",
    sa.column("id", sa.Integer),
    sa.column("batch_pk", sa.Integer),
    sa.column("excel_row", sa.Integer),
    sa.column("seq_no", sa.String),
    sa.column("status", sa.String),
    sa.column("values", sa.JSON),
    sa.column("amounts", sa.JSON),
    sa.column("computed", sa.JSON),
)
batch_row_parts = sa.table(
    "batch_row_parts",
    sa.column("batch_pk", sa.Integer),
    sa.column("part", sa.Integer),
    sa.column("row_count", sa.Integer),
    sa.column("rows", sa.JSON),
)


def upgrade() -> None:
    op.create_table(
        "batch_row_parts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_pk", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["batch_pk"], ["batches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_pk", "part"),
    )
    with op.batch_alter_table("batch_row_parts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_row_parts_batch_pk"), ["batch_pk"], unique=False)

    connection = op.get_bind()
    query = sa.select(batch_rows).order_by(batch_rows.c.batch_pk, batch_rows.c.id)
    for batch_pk, rows in groupby(connection.execute(query), key=lambda row: row.batch_pk):
        kept = [[row.excel_row, row.seq_no, row.status, row.values, row.amounts, row.computed] for row in rows]
        for part, start in enumerate(range(0, len(kept), ROWS_PER_PART)):
            chunk = kept[start : start + ROWS_PER_PART]
            connection.execute(sa.insert(batch_row_parts).values(batch_pk=batch_pk, part=part, row_count=len(chunk), rows=chunk))

    with op.batch_alter_table("batch_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_rows_batch_pk"))
    op.drop_table("batch_rows")


def downgrade() -> None:
    op.create_table(
        "batch_rows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_pk", sa.Integer(), nullable=False),
        sa.Column("excel_row", sa.Integer(), nullable=False),
        sa.Column("seq_no", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("amounts", sa.JSON(), nullable=False),
        sa.Column("computed", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["batch_pk"], ["batches.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("batch_rows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_rows_batch_pk"), ["batch_pk"], unique=False)

    connection = op.get_bind()
    query = sa.select(batch_row_parts).order_by(batch_row_parts.c.batch_pk, batch_row_parts.c.part)
    for part in connection.execute(query):
        rows = [
            {"batch_pk": part.batch_pk, "excel_row": r[0], "seq_no": r[1], "status": r[2], "values": r[3], "amounts": r[4], "computed": r[5]}
            for r in part.rows
        ]
        if rows:
            connection.execute(sa.insert(batch_rows), rows)

    with op.batch_alter_table("batch_row_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_row_parts_batch_pk"))
    op.drop_table("batch_row_parts")
