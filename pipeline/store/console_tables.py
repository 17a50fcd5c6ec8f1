"""The web console's tables (``gjj serve``, migration 0011): staff accounts and the audit log.

Kept beside :mod:`pipeline.store.tables` on the same ``Base``; the migrations (and the test that holds
them to the models) take ``Base`` from here, so these tables are registered with its metadata.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.store.tables import Base

#: The roles of the staff web console, each allowed what the ones before it are (SPEC.md "Staff web console").
STAFF_ROLES = ("viewer", "reviewer", "admin")


class StaffAccount(Base):
    """A person who logs in to the web console (``gjj staff add``): role, Argon2 hash, lock-out state."""

    __tablename__ = "staff_accounts"
    __table_args__ = (UniqueConstraint("name", name="uq_staff_accounts_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Wrong passwords in a row; the account is locked (``locked_until``) when it reaches the limit.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    password_changed_at: Mapped[datetime] = mapped_column(DateTime)


class ConsoleAudit(Base):
    """One action in the web console, kept: when, which staff account, what, on what, and how it went."""

    __tablename__ = "console_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    staff: Mapped[str] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(255))
    detail: Mapped[str] = mapped_column(Text)
