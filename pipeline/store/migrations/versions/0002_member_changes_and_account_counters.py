"""member changes and account counters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 15:55:34.207035
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account_counters',
    sa.Column('unit_account', sa.String(length=20), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('unit_account')
    )
    op.create_table('member_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_pk', sa.Integer(), nullable=False),
    sa.Column('member_account', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('changed_month', sa.String(length=7), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['batch_pk'], ['batches.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('member_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_changes_batch_pk'), ['batch_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_changes_member_account'), ['member_account'], unique=False)

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('profile', sa.JSON(), nullable=True))

    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('computed', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.drop_column('computed')

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('profile')

    with op.batch_alter_table('member_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_changes_member_account'))
        batch_op.drop_index(batch_op.f('ix_member_changes_batch_pk'))

    op.drop_table('member_changes')
    op.drop_table('account_counters')
