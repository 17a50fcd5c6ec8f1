"""汇缴's screen (``pipeline.rules.remit.screen``): a big sheet's plain rows found by column give the
same issues, statuses and amounts as checking every row cell by cell."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.check import schema as validate
from pipeline.errors import Code
from pipeline.model import BatchStatus, RowResult
from pipeline.money import monthly_deposit
from pipeline.rules import remit as rules
from pipeline.store import queries
from tests.conftest import Centre
from tests.factories import faulty_identity, kind_file
from tests.test_remit import (
    CODE_CASES,
    OTHER,
    SEED_DATE,
    UNIT,
    Make,
    build_centre,
    figures,
    folder,
    remit_rows,
    run_one,
    set_member,
)

# Cells a 汇缴 row may hold once its schema passed, and some it may hold before (the screen sees
# every row of a big sheet, schema failures included). None: the member's own (right) value.
BASES = [None, None, None, "+", "3000", "2500", "abc", ""]
AMOUNTS = [None, None, None, "+", "281", "249.5", "NaN", "sNaN", "x"]
MONTHS = [("2022-03", "2022-03"), ("2022-03", "2022-03"), ("2022-03", "2022-03"), ("2022-03", "2022-04"), ("2022-1x", "2022-03")]
NOT_NUMBERS = {"abc", "", "NaN", "sNaN", "x"}


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[Centre]:
    """The seed's unit (ten members at 2800, one at 2500, 10% | 10%), one of them sealed, one at 2800.00."""
    made = build_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}")
    members = made.members_of(0)
    set_member(made, members[9].member_account, status="封存", seal_reason="其他封存")
    set_member(made, members[8].member_account, base=Decimal("2800.00"))
    yield made
    made.app.close()


@pytest.fixture
def seed(tmp_path: Path) -> Iterator[Centre]:
    """The seed's unit as it is."""
    made = build_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}")
    yield made
    made.app.close()


def _screened_and_checked_alike(centre: Centre, picks: list[tuple[int, int, int, int, int, int]]) -> None:
    members = centre.members_of(0)
    stranger = centre.members_of(1)[0]
    assert members[0].unit_account == UNIT and stranger.unit_account == OTHER

    def rows() -> list[RowResult]:
        made = []
        for index, (who, identity_fault, base_pick, unit_pick, personal_pick, month_pick) in enumerate(picks):
            member = stranger if who == len(members) else members[who]
            name, id_number = faulty_identity(member, identity_fault, members[(who + 1) % len(members)])
            base = Decimal(2800 if who < 10 else 2500)
            ratio = Decimal("0.10")
            right = {"base": str(base), "unit": str(monthly_deposit(base, ratio)), "personal": str(monthly_deposit(base, ratio))}
            cells = {}
            for key, pick, choices in (("base", base_pick, BASES), ("unit", unit_pick, AMOUNTS), ("personal", personal_pick, AMOUNTS)):
                choice = choices[pick]
                cells[key] = right[key] if choice is None else (right[key] + ".00" if choice == "+" else choice)
            start, end = MONTHS[month_pick]
            values = {
                "序号": str(index + 1),
                rules.ACCOUNT: member.member_account,
                rules.NAME: name,
                "证件号码": id_number,
                rules.BASE: cells["base"],
                rules.UNIT_MONTHLY: cells["unit"],
                rules.PERSONAL_MONTHLY: cells["personal"],
                rules.START: start,
                rules.END: end,
            }
            made.append(RowResult(index + 3, str(index + 1), values))
        return made

    def valid(row: RowResult) -> bool:  # what the schema would let through to the rules
        numbers = (row.values[name] for name in (rules.BASE, rules.UNIT_MONTHLY, rules.PERSONAL_MONTHLY))
        return row.values[rules.START] != "2022-1x" and not NOT_NUMBERS.intersection(numbers)

    with centre.app.sessions() as session:
        unit = queries.unit_info(session, UNIT)
        assert unit is not None
        outcomes: list[Any] = []
        for screened in ("sheet", "rows", "none"):
            context = queries.rule_context(session, centre.app.config, unit, SEED_DATE)
            made = rows()
            clean = [row for row in made if valid(row)]
            context.schema_failed = [row for row in made if not valid(row)]
            if screened == "sheet":  # a big sheet: every row screened while its schema ran
                rules.prepare(context)
                columns = {name: [row.values[name] for row in made] for name in rules.SCREENED}
                context.screened = rules.screen(columns, [row.excel_row for row in made], context)
            elif screened == "rows":  # the rows the schema let through only
                columns = {name: [row.values[name] for row in clean] for name in rules.SCREENED}
                context.screened = rules.screen(columns, [row.excel_row for row in clean], context)
            file_issues = rules.apply(clean, context)
            outcomes.append(
                (
                    [(issue.code, issue.row, issue.column, issue.message) for issue in file_issues],
                    [(row.status, [(i.code, i.column, i.message) for i in row.issues], dict(row.amounts)) for row in clean],
                )
            )
        assert outcomes[0] == outcomes[2]
        assert outcomes[1] == outcomes[2]


PICKS = st.lists(
    # Mostly right cells and a few members named often, so plain rows meet each other.
    st.tuples(
        st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 8, 10]),  # 9: sealed; 8: base 2800.00; 11: another unit's member
        st.sampled_from([0, 0, 0, 0, 1, 2, 3]),
        st.integers(0, len(BASES) - 1),
        st.integers(0, len(AMOUNTS) - 1),
        st.integers(0, len(AMOUNTS) - 1),
        st.integers(0, len(MONTHS) - 1),
    ),
    min_size=1,
    max_size=14,
)


@given(PICKS)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_screened_rows_are_judged_as_row_by_row_checks_judge_them(centre: Centre, picks: list[tuple[int, int, int, int, int, int]]) -> None:
    _screened_and_checked_alike(centre, picks)


def test_a_whole_unit_listed_rightly_is_plain_and_judged_alike(centre: Centre) -> None:
    """Every 正常 member listed once, rightly: every row plain, no file issue, the same as row by row."""
    picks = [(who, 0, 0, 0, 0, 0) for who in range(11) if who != 9]
    _screened_and_checked_alike(centre, picks)
    with centre.app.sessions() as session:
        unit = queries.unit_info(session, UNIT)
        assert unit is not None
        context = queries.rule_context(session, centre.app.config, unit, SEED_DATE)
        members = centre.members_of(0)
        listed = [members[who] for who, *_ in picks]
        base = {True: "2800", False: "2500"}
        columns = {
            rules.ACCOUNT: [m.member_account for m in listed],
            rules.NAME: [m.name for m in listed],
            "证件号码": [m.id_number for m in listed],
            rules.BASE: [base[index < 9] for index in range(len(listed))],
            rules.UNIT_MONTHLY: [base[index < 9][:3] for index in range(len(listed))],
            rules.PERSONAL_MONTHLY: [base[index < 9][:3] for index in range(len(listed))],
            rules.START: ["2022-03"] * len(listed),
            rules.END: ["2022-03"] * len(listed),
        }
        found = rules.screen(columns, list(range(3, 3 + len(listed))), context)
        assert len(found.plain) == len(listed) and found.all_listed and found.months == ("2022-03", "2022-03")


@pytest.mark.parametrize(("case", "make", "expected", "says"), CODE_CASES, ids=[case[0] for case in CODE_CASES])
def test_a_big_sheet_screened_while_its_schema_runs_gets_the_same_issues(
    seed: Centre, monkeypatch: pytest.MonkeyPatch, case: str, make: Make, expected: list[tuple[Code, int | None, str | None]], says: str
) -> None:
    """From APART_ROWS rows on the sheet is screened by column while its schema runs apart: each code
    comes out as the row-by-row check gives it (tests/test_remit.py)."""
    monkeypatch.setattr(validate, "APART_ROWS", 2)
    screened: list[bool] = []
    screen = rules.screen
    monkeypatch.setattr(rules, "screen", lambda *args: screened.append(True) or screen(*args))
    kind_file(folder(seed), "汇缴", make(seed))

    result = run_one(seed, SEED_DATE)

    assert screened == [True]
    assert result.status is BatchStatus.REJECTED
    assert [(issue.code, issue.row, issue.column) for issue in result.all_issues] == expected
    assert says in result.all_issues[0].message


def test_a_big_sheet_listed_rightly_is_accepted_screened(seed: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "APART_ROWS", 2)
    kind_file(folder(seed), "汇缴", remit_rows(seed, "2022-03", "2022-03"))

    result = run_one(seed, SEED_DATE)

    assert result.status is BatchStatus.ACCEPTED and not result.all_issues
    assert [figures(a) for a in result.assessments] == [("2022-03", 11, "6100.00", 0, "0.00", 0, "0.00", 11, "6100.00")]
