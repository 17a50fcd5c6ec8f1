"""members.id_number holds a 证件号码 of any 证件类型: up to 30 characters

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:00:00

Master data holds, beside the 居民身份证 (18 digits, or the legacy 15), 护照 numbers of up to 20
characters and 其他 numbers of up to 30 (schemas/id_types.py, ``id_type_problem``); ``String(18)``
would refuse them on PostgreSQL. The partial unique index (one open account per 证件号码) is dropped
and made again around the change, as SQLite's batch mode rebuilds the table.

The downgrade shortens the column again; on PostgreSQL it fails while a member holds a longer number.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN_MEMBER = "status <> '销户'"


def _open_id_index() -> None:
    op.create_index(
        "uq_members_open_id_number", "members", ["id_number"], unique=True, sqlite_where=sa.text(OPEN_MEMBER), postgresql_where=sa.text(OPEN_MEMBER)
    )


def _id_number_length(old: int, new: int) -> None:
    op.drop_index("uq_members_open_id_number", table_name="members")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.alter_column("id_number", existing_type=sa.String(length=old), type_=sa.String(length=new), existing_nullable=False)
    _open_id_index()


def upgrade() -> None:
    _id_number_length(18, 30)


def downgrade() -> None:
    _id_number_length(30, 18)
