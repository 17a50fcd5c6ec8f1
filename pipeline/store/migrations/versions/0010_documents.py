"""documents kept content-addressed, and the scans of each review request

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 22:40:00

The scans of a 缴存人信息变更 zip drop (issue #19): ``documents`` holds one row per content (sha256,
content type, size, first seen; the bytes are ``var/documents/<aa>/<sha256>``), and
``review_request_documents`` links a request to its 身份证 and 证明 with their names in the zip.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "review_request_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("entry_name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["review_requests.id"]),
        sa.ForeignKeyConstraint(["sha256"], ["documents.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "kind", name="uq_review_request_documents_request_kind"),
    )
    with op.batch_alter_table("review_request_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_request_documents_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_request_documents_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_request_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_request_documents_sha256"))
        batch_op.drop_index(batch_op.f("ix_review_request_documents_request_id"))
    op.drop_table("review_request_documents")
    op.drop_table("documents")
