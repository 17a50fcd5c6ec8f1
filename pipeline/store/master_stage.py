"""The members of a ``gjj load`` staged in a temporary table, checked and applied there.

A city's master data (a million members) is never held in Python: each block of checked rows goes
into ``load_members_stage`` (COPY on PostgreSQL, JSON arrays on SQLite: :func:`insert_rows`),
with flags saying which of its cells already have an issue. The checks that need the whole file or
the database — duplicates in the file, units that do not exist, a person another open account
holds — are queries over it; their answers are few rows. Applying is two statements: the changed
members updated, the new ones inserted; a member whose loaded fields equal the file's is not
written at all.

The table lives in the caller's transaction (PostgreSQL drops it on commit, SQLite when
:meth:`MemberStage.drop` is called); nothing is written to ``members`` before :meth:`apply`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, text
from sqlalchemy.orm import Session

from pipeline.store.tables import OPEN_MEMBER, Member

#: The member columns ``gjj load`` writes, in the order of the master data file.
LOADED = (
    "member_account",
    "unit_account",
    "name",
    "id_type",
    "id_number",
    "status",
    "base",
    "balance",
    "opened_on",
    "seal_reason",
    "last_base_adjust_year",
)
#: Bits of ``flags``: which checks a row already failed.
BAD, BAD_ACCOUNT, BAD_UNIT, BAD_ID = 1, 2, 4, 8
NEW, CHANGED = "n", "u"

STAGE = Table(
    "load_members_stage",
    MetaData(),
    Column("excel_row", Integer, primary_key=True),
    *(Column(name, Member.__table__.c[name].type) for name in LOADED),
    Column("id18", String(30)),
    Column("flags", Integer),
    Column("change", String(1)),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
STAGED = ("excel_row", *LOADED, "id18", "flags")
#: SQLite for the load: page caches of 256 MB (negative: KiB) for the database and for the stage.
SQLITE_PRAGMAS = {"main.cache_size": -262144, "temp.cache_size": -262144}
_CHUNK = 5000
#: From this many new members on, PostgreSQL checks their units in one query (see :meth:`MemberStage.apply`).
BULK_ROWS = 100_000


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class MemberStage:
    """The staged members of one load (see the module's docstring)."""

    def __init__(self, session: Session):
        self.session = session
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        self._new_rows = 0
        self._pragmas: list[tuple[str, Any]] = []
        self.session.execute(text(f"DROP TABLE IF EXISTS {STAGE.name}"))  # a stage left by a load rolled back on this connection
        STAGE.create(session.connection())
        if not self.postgresql:
            # The load's indexes (members: four; the stage) outgrow SQLite's 2 MB page cache at city
            # scale, and every insert then reads pages back from disk: a bigger cache for this load.
            for pragma, value in SQLITE_PRAGMAS.items():
                self._pragmas.append((pragma, session.execute(text(f"PRAGMA {pragma}")).scalar()))
                session.execute(text(f"PRAGMA {pragma} = {value}"))

    def drop(self) -> None:
        """Drop the stage (SQLite, and its page cache set back; PostgreSQL drops it with the transaction, committed or not)."""
        if not self.postgresql:
            self.session.execute(text(f"DROP TABLE IF EXISTS {STAGE.name}"))
            for pragma, value in self._pragmas:
                self.session.execute(text(f"PRAGMA {pragma} = {value}"))

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        """Rows in :data:`STAGED` order, with the values as the driver stores them (:attr:`stores_text`)."""
        connection = self.session.connection()
        driver = connection.connection.driver_connection
        if self.postgresql:
            with driver.cursor() as cursor, cursor.copy(f"COPY {STAGE.name} ({', '.join(STAGED)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        cursor = driver.cursor()
        try:
            cursor.executemany(f"INSERT INTO {STAGE.name} ({', '.join(STAGED)}) VALUES ({', '.join('?' for _ in STAGED)})", rows)
        finally:
            cursor.close()

    @property
    def stores_text(self) -> bool:
        """Whether money and dates go to the driver as text (SQLite: what ``DecimalText`` and ``Date`` store)."""
        return not self.postgresql

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        return list(self.session.execute(text(sql), params))

    def units_named(self) -> list[str]:
        """Every unit a member row names (its 单位账号 cell without an issue)."""
        return [unit for (unit,) in self._rows(f"SELECT DISTINCT unit_account FROM {STAGE.name} WHERE (flags & {BAD_UNIT}) = 0")]

    def rows_of_units(self, units: Sequence[str]) -> list[tuple[int, str]]:
        """(Excel row, 单位账号) of the rows naming one of ``units``."""
        found: list[tuple[int, str]] = []
        for chunk in _chunks(list(units)):
            statement = text(f"SELECT excel_row, unit_account FROM {STAGE.name} WHERE (flags & {BAD_UNIT}) = 0 AND unit_account IN :units")
            found += self.session.execute(statement.bindparams(_expanding("units")), {"units": list(chunk)}).all()
        return sorted(found)

    def duplicates(self, column: str, flag: int) -> list[list[tuple[int, str]]]:
        """Groups of (Excel row, value) of the rows that share ``column`` (``id18``: one person), ``flag`` unset."""
        shown = "id_number" if column == "id18" else column
        sql = (
            f"SELECT s.excel_row, s.{shown}, s.{column} FROM {STAGE.name} s JOIN "
            f"(SELECT {column} AS k FROM {STAGE.name} WHERE (flags & {flag}) = 0 GROUP BY {column} HAVING count(*) > 1) d ON d.k = s.{column} "
            f"WHERE (s.flags & {flag}) = 0 ORDER BY s.{column}, s.excel_row"
        )
        groups: dict[str, list[tuple[int, str]]] = {}
        for excel_row, value, key in self._rows(sql):
            groups.setdefault(key, []).append((excel_row, value))
        return list(groups.values())

    def refuse(self, excel_rows: Iterable[int]) -> None:
        """Mark these rows refused (an issue found by a query)."""
        rows = sorted(set(excel_rows))
        for chunk in _chunks(rows):
            statement = text(f"UPDATE {STAGE.name} SET flags = flags | {BAD} WHERE excel_row IN :rows").bindparams(_expanding("rows"))
            self.session.execute(statement, {"rows": list(chunk)})

    def held_elsewhere(self) -> list[tuple[int, str, str, str, str]]:
        """(Excel row, its 个人账号, its 证件号码, the other account, the number it holds) for every good row
        whose person (either form of the number) an open account other than the row's own holds."""
        open_member = OPEN_MEMBER.replace("status", "m.status")
        # The spellings of a person's number (schemas.cells.id_forms): as sent, its 18-digit form (a
        # legacy 15-digit number), its 15-digit form (an 18-digit number of someone born in 19xx).
        forms = (
            ("s.id_number", "1 = 1"),
            ("s.id18", "s.id18 <> s.id_number"),
            ("substr(s.id_number, 1, 6) || substr(s.id_number, 9, 9)", "length(s.id_number) = 18 AND substr(s.id_number, 7, 2) = '19'"),
        )
        sql = " UNION ".join(
            f"SELECT s.excel_row, s.member_account, s.id_number, m.member_account, m.id_number FROM {STAGE.name} s "
            f"JOIN members m ON m.id_number = {form} WHERE s.flags = 0 AND {condition} AND m.member_account <> s.member_account AND {open_member}"
            for form, condition in forms
        )
        return [tuple(row) for row in self._rows(sql)]

    def good_accounts(self, accounts: Sequence[str]) -> set[str]:
        """Those of ``accounts`` that a good row of the file loads."""
        found: set[str] = set()
        for chunk in _chunks(list(accounts)):
            statement = text(f"SELECT member_account FROM {STAGE.name} WHERE flags = 0 AND member_account IN :accounts").bindparams(_expanding("accounts"))
            found.update(account for (account,) in self.session.execute(statement, {"accounts": list(chunk)}))
        return found

    def names_unit(self, unit: str) -> bool:
        return bool(self._rows(f"SELECT 1 FROM {STAGE.name} WHERE flags = 0 AND unit_account = :unit LIMIT 1", unit=unit))

    def compare(self) -> dict[str, int]:
        """Mark each good row new, changed or neither against ``members``; the counts of each."""
        differs = " OR ".join(f"m.{name} {'IS DISTINCT FROM' if self.postgresql else 'IS NOT'} {STAGE.name}.{name}" for name in LOADED[1:])
        self.session.execute(
            text(
                f"UPDATE {STAGE.name} SET change = CASE "
                f"WHEN NOT EXISTS (SELECT 1 FROM members m WHERE m.member_account = {STAGE.name}.member_account) THEN '{NEW}' "
                f"WHEN EXISTS (SELECT 1 FROM members m WHERE m.member_account = {STAGE.name}.member_account AND ({differs})) THEN '{CHANGED}' "
                f"END WHERE flags = 0"
            )
        )
        counts = {NEW: 0, CHANGED: 0, "": 0}
        for change, count in self._rows(f"SELECT change, count(*) FROM {STAGE.name} WHERE flags = 0 GROUP BY change"):
            counts[change or ""] = count
        self._new_rows = counts[NEW]
        return counts

    def touched_units(self) -> set[str]:
        """The units a new or changed member is in, or leaves (asked before :meth:`apply`)."""
        sql = (
            f"SELECT unit_account FROM {STAGE.name} WHERE change IS NOT NULL UNION "
            f"SELECT m.unit_account FROM members m JOIN {STAGE.name} s ON s.member_account = m.member_account WHERE s.change = '{CHANGED}'"
        )
        return {unit for (unit,) in self._rows(sql)}

    def apply(self) -> None:
        """Write the changed members (their loaded fields only), then the new ones.

        Changed first: a person whose number moves from one account to another in the file is free
        for the new account once the old one holds its new number.
        """
        assignments = ", ".join(f"{name} = s.{name}" for name in LOADED[1:])
        self.session.execute(
            text(f"UPDATE members SET {assignments} FROM {STAGE.name} s WHERE s.member_account = members.member_account AND s.change = '{CHANGED}'")
        )
        columns = ", ".join(LOADED)
        insert = text(f"INSERT INTO members ({columns}) SELECT {columns} FROM {STAGE.name} WHERE change = '{NEW}' ORDER BY excel_row")
        if self.postgresql and self._new_rows >= BULK_ROWS:
            self._insert_checking_units_once(insert)
        else:
            self.session.execute(insert)

    def _insert_checking_units_once(self, insert: Any) -> None:
        """Insert with ``members``' foreign keys (its unit) dropped, then added again in the same transaction.

        PostgreSQL checks a foreign key with a trigger per inserted row: a million new members take
        ten seconds of a city's load for that alone. Adding the key again checks every row in one
        query; a member whose unit is missing still fails the whole load, and no other session ever
        sees ``members`` without its key (the table is locked until the load commits or rolls back).
        """
        keys = self._rows("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'members'::regclass AND contype = 'f' ORDER BY conname")
        for name, _ in keys:
            self.session.execute(text(f'ALTER TABLE members DROP CONSTRAINT "{name}"'))
        self.session.execute(insert)
        for name, definition in keys:
            self.session.execute(text(f'ALTER TABLE members ADD CONSTRAINT "{name}" {definition}'))


def _expanding(name: str) -> Any:
    return bindparam(name, expanding=True)
