"""a rejected file may be sent again; one open account per 证件号码

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:00:00

- The unique index on (unit, sha256) no longer covers rejected batches: identical bytes of a file
  rejected as a whole are processed again (``batches.resubmission_of`` names the rejected batch);
  bytes that were accepted or partially accepted stay DUPLICATE_FILE.
- A 证件号码 belongs to at most one open account (SPEC.md, Decisions): a unique index among open
  members. Master data that already breaks it is listed and the upgrade stops, changing nothing,
  so the centre can correct the core system's data and load it again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pipeline.errors import ConfigError

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN_MEMBER = "status <> '销户'"
TOOK_THE_BYTES = "status NOT IN ('duplicate', 'rejected')"
SHOWN = 20


def shared_id_numbers(connection: sa.Connection) -> list[tuple[str, list[str]]]:
    """证件号码 held by more than one open account, with those accounts."""
    rows = connection.execute(
        sa.text(f"SELECT id_number, member_account FROM members WHERE {OPEN_MEMBER} ORDER BY id_number, member_account")
    ).all()
    accounts: dict[str, list[str]] = {}
    for id_number, account in rows:
        accounts.setdefault(id_number, []).append(account)
    return [(id_number, held) for id_number, held in accounts.items() if len(held) > 1]


def _refuse(shared: list[tuple[str, list[str]]]) -> None:
    lines = [f"  {id_number[:6]}********{id_number[-4:]}：{'、'.join(accounts)}" for id_number, accounts in shared[:SHOWN]]
    more = f"\n  ……另有 {len(shared) - SHOWN} 个" if len(shared) > SHOWN else ""
    raise ConfigError(
        f"主数据中有 {len(shared)} 个证件号码同时属于多个未销户的个人账号，不能建立“一人一个开户账户”的唯一索引；"
        "数据库未作任何改动。请在核心系统中核实、合并或销户后重新导出并 gjj load，再运行本命令：\n"
        + "\n".join(lines)
        + more
    )


# Plain statements, not batch mode: SQLite adds a column and drops or creates an index in place,
# while batch mode would copy the batches table, which other tables' foreign keys refer to.


def _sha256_index(where: str) -> None:
    op.create_index(
        "uq_batches_unit_sha256", "batches", ["unit_account", "sha256"], unique=True, sqlite_where=sa.text(where), postgresql_where=sa.text(where)
    )


def upgrade() -> None:
    shared = shared_id_numbers(op.get_bind())
    if shared:
        _refuse(shared)
    op.add_column("batches", sa.Column("resubmission_of", sa.String(length=40), nullable=True))
    op.drop_index("uq_batches_unit_sha256", table_name="batches")
    _sha256_index(TOOK_THE_BYTES)
    op.create_index(
        "uq_members_open_id_number", "members", ["id_number"], unique=True, sqlite_where=sa.text(OPEN_MEMBER), postgresql_where=sa.text(OPEN_MEMBER)
    )


def downgrade() -> None:
    op.drop_index("uq_members_open_id_number", table_name="members")
    op.drop_index("uq_batches_unit_sha256", table_name="batches")
    _sha256_index("status <> 'duplicate'")
    with op.batch_alter_table("batches", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("resubmission_of")
