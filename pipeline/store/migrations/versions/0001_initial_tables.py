"""initial tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 15:42:22.086200
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pipeline.store.tables

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batches',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_id', sa.String(length=40), nullable=True),
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('unit_account', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=True),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.String(length=10), nullable=False),
    sa.Column('serial_number', sa.String(length=30), nullable=True),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=True),
    sa.Column('duplicate_of', sa.String(length=40), nullable=True),
    sa.Column('header', sa.JSON(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('batch_id'),
    sa.UniqueConstraint('serial_number')
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batches_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batches_unit_account'), ['unit_account'], unique=False)
        batch_op.create_index('uq_batches_unit_sha256', ['unit_account', 'sha256'], unique=True, sqlite_where=sa.text("status <> 'duplicate'"), postgresql_where=sa.text("status <> 'duplicate'"))

    op.create_table('serial_counters',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day')
    )
    op.create_table('units',
    sa.Column('unit_account', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('unit_ratio', sa.Numeric(precision=6, scale=4).with_variant(pipeline.store.tables.DecimalText(length=40), 'sqlite'), nullable=False),
    sa.Column('personal_ratio', sa.Numeric(precision=6, scale=4).with_variant(pipeline.store.tables.DecimalText(length=40), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('paid_to_month', sa.String(length=7), nullable=False),
    sa.Column('contact_name', sa.String(length=50), nullable=False),
    sa.Column('contact_phone', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('unit_account')
    )
    op.create_table('backpay_records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_pk', sa.Integer(), nullable=False),
    sa.Column('unit_account', sa.String(length=20), nullable=False),
    sa.Column('member_account', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('start_month', sa.String(length=7), nullable=False),
    sa.Column('end_month', sa.String(length=7), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2).with_variant(pipeline.store.tables.DecimalText(length=40), 'sqlite'), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('serial_number', sa.String(length=30), nullable=False),
    sa.Column('entered_on', sa.Date(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['batch_pk'], ['batches.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('backpay_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backpay_records_batch_pk'), ['batch_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_backpay_records_member_account'), ['member_account'], unique=False)
        batch_op.create_index(batch_op.f('ix_backpay_records_unit_account'), ['unit_account'], unique=False)

    op.create_table('batch_issues',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_pk', sa.Integer(), nullable=False),
    sa.Column('excel_row', sa.Integer(), nullable=True),
    sa.Column('column', sa.String(length=50), nullable=True),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['batch_pk'], ['batches.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('batch_issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_issues_batch_pk'), ['batch_pk'], unique=False)

    op.create_table('batch_rows',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_pk', sa.Integer(), nullable=False),
    sa.Column('excel_row', sa.Integer(), nullable=False),
    sa.Column('seq_no', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('amounts', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['batch_pk'], ['batches.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_rows_batch_pk'), ['batch_pk'], unique=False)

    op.create_table('members',
    sa.Column('member_account', sa.String(length=20), nullable=False),
    sa.Column('unit_account', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('id_type', sa.String(length=20), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('base', sa.Numeric(precision=14, scale=2).with_variant(pipeline.store.tables.DecimalText(length=40), 'sqlite'), nullable=False),
    sa.Column('balance', sa.Numeric(precision=14, scale=2).with_variant(pipeline.store.tables.DecimalText(length=40), 'sqlite'), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=True),
    sa.Column('seal_reason', sa.String(length=20), nullable=False),
    sa.Column('last_base_adjust_year', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['unit_account'], ['units.unit_account'], ),
    sa.PrimaryKeyConstraint('member_account')
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_members_id_number'), ['id_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_members_unit_account'), ['unit_account'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_members_unit_account'))
        batch_op.drop_index(batch_op.f('ix_members_id_number'))

    op.drop_table('members')
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_rows_batch_pk'))

    op.drop_table('batch_rows')
    with op.batch_alter_table('batch_issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_issues_batch_pk'))

    op.drop_table('batch_issues')
    with op.batch_alter_table('backpay_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backpay_records_unit_account'))
        batch_op.drop_index(batch_op.f('ix_backpay_records_member_account'))
        batch_op.drop_index(batch_op.f('ix_backpay_records_batch_pk'))

    op.drop_table('backpay_records')
    op.drop_table('units')
    op.drop_table('serial_counters')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index('uq_batches_unit_sha256', sqlite_where=sa.text("status <> 'duplicate'"), postgresql_where=sa.text("status <> 'duplicate'"))
        batch_op.drop_index(batch_op.f('ix_batches_unit_account'))
        batch_op.drop_index(batch_op.f('ix_batches_run_id'))

    op.drop_table('batches')
