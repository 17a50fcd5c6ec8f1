"""Batches: the claim on a file, its serial number, its rows, issues and business effects, and the
result rebuilt from the database.

Everything a file changes is written in the caller's transaction (one file = one transaction),
with bulk inserts rather than one ORM round trip per row. Serial numbers come from a per-day
counter that is incremented in that same transaction, so they are unique and gap-free.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, repeat
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.errors import Code, Issue
from pipeline.memory import paused_gc
from pipeline.model import BatchResult, BatchStatus, RowResult, RowStatus
from pipeline.rules.context import UnitInfo
from pipeline.store import effects
from pipeline.store.bulk import insert_rows
from pipeline.store.tables import ROWS_PER_PART, Batch, BatchIssue, BatchRowPart, SerialCounter


def processed_batch(session: Session, unit_account: str, sha256: str) -> Batch | None:
    """The latest batch of these exact bytes for this unit, if any (a duplicate is never one: it took nothing).

    Only one batch of the bytes ever stands accepted or partially accepted (the unique index); before
    it, or after it was rejected or withdrawn (``withdrawn_at``: its 汇缴核定 deleted), there may be others.
    """
    return session.scalars(
        select(Batch).where(Batch.unit_account == unit_account, Batch.sha256 == sha256, Batch.status != "duplicate").order_by(Batch.id.desc())
    ).first()


def new_batch(session: Session, *, run_id: str, unit_account: str, source_name: str, sha256: str, business_date: date, status: str = "processing") -> Batch:
    """Insert the batch row (the claim on the file) and give it its batch_id."""
    batch = Batch(
        run_id=run_id,
        unit_account=unit_account,
        source_name=source_name,
        sha256=sha256,
        status=status,
        stage="claimed",
        business_date=business_date,
        received_at=datetime.now(),
        header=[],
    )
    session.add(batch)
    session.flush()
    batch.batch_id = f"{business_date:%Y%m%d}-{batch.id:06d}"
    return batch


def next_serial(session: Session, business_date: date, channel: str) -> str:
    """业务流水号 ``1yymmddCC_NNNNNNNNNN``: one counter per business day, bumped atomically."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = (
        module.insert(SerialCounter)
        .values(day=business_date, last_value=1)
        .on_conflict_do_update(index_elements=["day"], set_={"last_value": SerialCounter.last_value + 1})
        .returning(SerialCounter.last_value)
    )
    number = session.execute(statement).scalar_one()
    return f"1{business_date:%y%m%d}{channel}_{number:010d}"


def number(session: Session, result: BatchResult, serial_channel: str) -> None:
    """Give a batch that applies rows its 业务流水号, and its rows the numbers they get (a 缴存人登记's
    new 个人账号): before :func:`record`, so the outputs, which show them, can start."""
    if result.status in (BatchStatus.ACCEPTED, BatchStatus.PARTIALLY_ACCEPTED) and result.has_status(RowStatus.ACCEPTED, RowStatus.PENDING_REVIEW):
        result.serial_number = next_serial(session, result.business_date, serial_channel)
        effects.assign(session, result)


@paused_gc()
def record(session: Session, batch: Batch, result: BatchResult) -> None:
    """Write the rows, issues and business effects of a decided (and numbered) ``result``; close the batch row."""
    batch.kind = result.kind
    batch.status = str(result.status)
    batch.serial_number = result.serial_number
    batch.duplicate_of = result.duplicate_of
    batch.resubmission_of = result.resubmission_of
    batch.header = list(result.header)
    batch.row_count = len(result.rows)
    batch.error_count = len(result.errors)
    batch.processed_at = result.processed_at
    batch.stage = "stored"
    effects.record(session, batch, result)
    batch.totals = result.totals()  # once the effects have judged every row
    write_rows(session, batch, result.rows, result.columns)
    issues = ((batch.id, issue.row, issue.column, str(issue.code), issue.message) for issue in result.all_issues)
    insert_rows(session, BatchIssue.__table__, ("batch_pk", "excel_row", "column", "code", "message"), issues)


_PART_COLUMNS = ("batch_pk", "part", "row_count", "rows")


def _part(rows: list[RowResult], columns: dict[str, list[str]] | None) -> dict[str, Any]:
    """Rows by column, the shape :class:`BatchRowPart` keeps them in (one list per field).

    ``columns`` holds the rows' values by column already, when the rows were just checked.
    """
    amounts = [row.amounts for row in rows]
    computed = [row.computed or None for row in rows]
    return {
        "excel_row": [row.excel_row for row in rows],
        "seq_no": [row.seq_no[:20] for row in rows],
        "status": [str(row.status) for row in rows],
        "values": columns if columns is not None else _value_columns([row.values for row in rows]),
        "amounts": {
            name: [None if (amount := row.get(name)) is None else str(amount) for row in amounts]
            for name in dict.fromkeys(chain.from_iterable(amounts))
        },
        "computed": computed if any(computed) else None,
    }


def _value_columns(values: list[dict[str, str]]) -> dict[str, list[str | None]]:
    """Rows' values by column; a cell a row lacks is null (every row of a batch has the same cells)."""
    return {name: [row.get(name) for row in values] for name in dict.fromkeys(chain.from_iterable(values))}


def write_rows(session: Session, batch: Batch, rows: list[RowResult], columns: dict[str, list[str]] | None = None) -> None:
    """The rows as received and judged, ``ROWS_PER_PART`` to a JSON document (see :class:`BatchRowPart`).

    ``columns`` are the rows' values by column, when the caller has them. Parts are encoded and
    inserted one at a time, so a 100k-row batch is never all JSON at once.
    """
    for part, start in enumerate(range(0, len(rows), ROWS_PER_PART)):
        stop = start + ROWS_PER_PART
        chunk = rows[start:stop]
        values = None if columns is None else {name: column[start:stop] for name, column in columns.items()}
        insert_rows(session, BatchRowPart.__table__, _PART_COLUMNS, [(batch.id, part, len(chunk), _part(chunk, values))])


def _part_rows(part: dict[str, Any] | list[list[Any]]) -> Iterator[tuple[int, str, str, dict[str, str], dict[str, str], dict[str, str] | None]]:
    """The rows of a stored part as ``(excel_row, 序号, status, values, amounts, computed)``.

    Parts written before rows were kept by column are lists of rows in that order already.
    """
    if isinstance(part, list):
        yield from (tuple(row) for row in part)  # type: ignore[misc]
        return
    values, amounts = part["values"], part["amounts"]
    computed = part["computed"] or repeat(None)
    for index, (excel_row, seq_no, status, extra) in enumerate(zip(part["excel_row"], part["seq_no"], part["status"], computed)):
        yield (
            excel_row,
            seq_no,
            status,
            {name: column[index] for name, column in values.items() if column[index] is not None},
            {name: column[index] for name, column in amounts.items() if column[index] is not None},
            extra,
        )


def _stored_rows(session: Session, batch: Batch) -> Iterator[tuple[Any, ...]]:
    query = select(BatchRowPart.rows).where(BatchRowPart.batch_pk == batch.id).order_by(BatchRowPart.part)
    for part in session.scalars(query):
        yield from _part_rows(part)


def load_result(session: Session, batch: Batch, unit: UnitInfo | None, *, rows_with_issues_only: bool = False) -> BatchResult:
    """Rebuild a batch's result from the database, so every output can be rendered again.

    ``rows_with_issues_only`` keeps only the rows that have an issue (what the staff summary shows;
    their counts are in ``batch.totals``), and reads no row at all when no row has one.
    """
    issues_by_row: dict[int | None, list[Issue]] = defaultdict(list)
    for issue in session.scalars(select(BatchIssue).where(BatchIssue.batch_pk == batch.id).order_by(BatchIssue.id)):
        issues_by_row[issue.excel_row].append(Issue(Code(issue.code), issue.message, issue.excel_row, issue.column))
    stored: Iterable[tuple[Any, ...]] = _stored_rows(session, batch)  # nothing is read before it is iterated
    if rows_with_issues_only:
        with_issues = issues_by_row.keys() - {None}
        stored = (row for row in stored if row[0] in with_issues) if with_issues else ()
    rows = [
        RowResult(
            excel_row,
            seq_no,
            values,
            RowStatus(status),
            issues_by_row.get(excel_row, []),
            {name: Decimal(value) for name, value in amounts.items()},
            computed or {},
        )
        for excel_row, seq_no, status, values, amounts, computed in stored
    ]
    result = BatchResult(
        batch_id=batch.batch_id or "",
        unit_account=batch.unit_account,
        unit_name=unit.name if unit else "",
        kind=batch.kind,
        source_name=batch.source_name,
        sha256=batch.sha256,
        business_date=batch.business_date,
        status=BatchStatus(batch.status),
        serial_number=batch.serial_number,
        header=list(batch.header),
        file_issues=issues_by_row.get(None, []),
        rows=rows,
        contact_name=unit.contact_name if unit else "",
        contact_phone=unit.contact_phone if unit else "",
        duplicate_of=batch.duplicate_of,
        resubmission_of=batch.resubmission_of,
        processed_at=batch.processed_at,
    )
    effects.restore(session, batch, result)
    return result
