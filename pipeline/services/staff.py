"""Staff accounts of the web console (``gjj staff``, ``gjj serve``): passwords, roles, log-in and lock-out.

A password is kept as an Argon2id hash (argon2-cffi's defaults), never as text. A log-in is refused
alike for an unknown name and a wrong password; :data:`LOCK_AFTER` wrong passwords in a row lock
the account for :data:`LOCK_MINUTES` minutes, during which even the right password is refused. A
disabled account cannot log in. Refusals are data (:class:`LoginOutcome`), not exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.console_tables import STAFF_ROLES, StaffAccount

LOCK_AFTER = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10
WRONG = "账号或密码错误"

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so an unknown name costs as long as a wrong password
    (made on first use: hashing costs tens of milliseconds and 64 MiB, not for every ``gjj`` command)."""
    return _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class StaffView:
    """A staff account as the console and the commands show it (no hash)."""

    name: str
    role: str
    disabled: bool
    locked_until: datetime | None
    #: A session begun before this is over (a new password ends the sessions of the old one).
    password_changed_at: datetime

    def may(self, role: str) -> bool:
        """Whether this account holds ``role`` or a higher one (viewer < reviewer < admin)."""
        return STAFF_ROLES.index(self.role) >= STAFF_ROLES.index(role)


@dataclass(frozen=True)
class LoginOutcome:
    staff: StaffView | None = None
    refused: str | None = None
    #: What the audit log records about the attempt (``wrong password``, ``locked``…).
    detail: str = ""


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


def _view(account: StaffAccount) -> StaffView:
    return StaffView(account.name, account.role, account.disabled, account.locked_until, account.password_changed_at)


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used, or None."""
    if len(password) < MIN_PASSWORD:
        return f"密码至少 {MIN_PASSWORD} 个字符"
    return None


def add_staff(session: Session, name: str, role: str, password: str, now: datetime | None = None) -> str | None:
    """Create an account; the reason when refused (a taken name, an unknown role, a short password)."""
    name = name.strip()
    if not name or len(name) > 50:
        return "账号名称须为 1–50 个字符"
    if role not in STAFF_ROLES:
        return f"角色「{role}」无效，可选：{'、'.join(STAFF_ROLES)}"
    if (problem := password_problem(password)) is not None:
        return problem
    if session.scalars(select(StaffAccount).where(StaffAccount.name == name)).first() is not None:
        return f"账号「{name}」已存在"
    moment = now or _now()
    session.add(StaffAccount(name=name, role=role, password_hash=_hasher.hash(password), disabled=False, failed_logins=0, created_at=moment, password_changed_at=moment))
    session.flush()
    return None


def _account(session: Session, name: str, *, for_update: bool = False) -> StaffAccount | None:
    query = select(StaffAccount).where(StaffAccount.name == name)
    return session.scalars(query.with_for_update() if for_update else query).first()


def set_password(session: Session, name: str, password: str, now: datetime | None = None) -> str | None:
    """A new password (which also lifts a lock-out); the reason when refused."""
    account = _account(session, name, for_update=True)
    if account is None:
        return f"没有账号「{name}」"
    if (problem := password_problem(password)) is not None:
        return problem
    account.password_hash = _hasher.hash(password)
    account.password_changed_at = now or _now()
    account.failed_logins, account.locked_until = 0, None
    return None


def disable_staff(session: Session, name: str) -> str | None:
    """Disable an account: it can no longer log in, and its open sessions end at their next request."""
    account = _account(session, name, for_update=True)
    if account is None:
        return f"没有账号「{name}」"
    account.disabled = True
    return None


def staff(session: Session, name: str) -> StaffView | None:
    """The account as it is now (every console request checks it: a disabled account is logged out)."""
    account = _account(session, name)
    return None if account is None else _view(account)


def list_staff(session: Session) -> list[StaffView]:
    return [_view(account) for account in session.scalars(select(StaffAccount).order_by(StaffAccount.name))]


def authenticate(session: Session, name: str, password: str, now: datetime | None = None) -> LoginOutcome:
    """Check a log-in; count a wrong password and lock the account at :data:`LOCK_AFTER` of them."""
    moment = now or _now()
    account = _account(session, name.strip(), for_update=True)
    if account is None:
        _verify(_dummy_hash(), password)
        return LoginOutcome(refused=WRONG, detail="unknown account")
    if account.locked_until is not None and account.locked_until > moment:
        return LoginOutcome(refused=f"账号已锁定（连续 {LOCK_AFTER} 次密码错误），请于 {account.locked_until:%H:%M} 后再试", detail="locked")
    if not _verify(account.password_hash, password):
        account.failed_logins += 1
        if account.failed_logins >= LOCK_AFTER:
            account.failed_logins, account.locked_until = 0, moment + timedelta(minutes=LOCK_MINUTES)
            return LoginOutcome(refused=f"连续 {LOCK_AFTER} 次密码错误，账号已锁定 {LOCK_MINUTES} 分钟", detail="wrong password; locked")
        return LoginOutcome(refused=WRONG, detail=f"wrong password ({account.failed_logins})")
    if account.disabled:
        return LoginOutcome(refused="账号已停用", detail="disabled")
    account.failed_logins, account.locked_until = 0, None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return LoginOutcome(staff=_view(account))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
