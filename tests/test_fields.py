"""Shared normalisation and checks of cells (schemas/fields.py), written once for every template."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.check.schema import clean_column
from pipeline.errors import Code
from pipeline.services.fakes import fake_id
from schemas.cells import clean_amount, clean_id, clean_month, clean_ratio, clean_text, column_is_clean, id_problem, parse_month
from schemas.fields import Field, account, amount, id_number, month, name, seq, shared_column_facts, text

VALID_ID = "11010519491231002X"  # GB 11643's own example


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  张三 ", "张三"),
        ("\u00a0张三\u3000", "张三"),
        ("ＡＢＣ１２３", "ABC123"),
        ("\ufeff漏缴", "漏缴"),
        ("２０２４－０３", "2024-03"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    ("raw", "month"),
    [("2024-03", "2024-03"), ("2024-3", "2024-03"), ("202403", "2024-03"), ("2024/03", "2024-03"), ("2024-03-01", "2024-03"),
     ("2024年3月", "2024-03"), ("２０２４０３", "2024-03"), ("2024-13", "2024-13"), ("24-03", "24-03")],
)
def test_clean_month(raw: str, month: str) -> None:
    assert clean_month(raw) == month


@pytest.mark.parametrize("bad", ["2024-13", "2024-00", "24-03", "March", "", "2024-03-1x"])
def test_parse_month_rejects(bad: str) -> None:
    assert parse_month(bad) is None


@pytest.mark.parametrize(("raw", "clean"), [("1,000.00", "1000.00"), ("1,234,567.5", "1234567.5"), ("１０００", "1000"), ("100元", "100"), ("1,00", "1,00")])
def test_clean_amount(raw: str, clean: str) -> None:
    assert clean_amount(raw) == clean


@pytest.mark.parametrize(("raw", "clean"), [("12%", "0.12"), ("0.12", "0.12"), ("５%", "0.05")])
def test_clean_ratio(raw: str, clean: str) -> None:
    assert clean_ratio(raw) == clean


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (VALID_ID, None),
        ("11010519491231002x", None),
        (" 11010519491231002X ", None),
        ("１１０１０５１９４９１２３１００２Ｘ", None),
        ("110105194912310021", Code.ID_CHECKSUM),
        ("11010519491231002", Code.ID_FORMAT),
        ("1101051949123100200", Code.ID_FORMAT),
        ("11010519491331002X", Code.ID_FORMAT),
        ("11010519490230002X", Code.ID_FORMAT),
        ("A1010519491231002X", Code.ID_FORMAT),
        ("2.10102199001011e+17", Code.ID_NUMERIC_PRECISION),
        ("2.10102199001011E+17", Code.ID_NUMERIC_PRECISION),
        ("1.1010519491231e+17", Code.ID_NUMERIC_PRECISION),
    ],
)
def test_id_problem(raw: str, code: Code | None) -> None:
    assert id_problem(clean_id(raw)) == code


def test_fake_ids_are_valid() -> None:
    from datetime import date

    assert all(id_problem(fake_id(date(1990, 1, 1), n)) is None for n in range(50))


# A column is cleaned as a whole when cleaning would change none of its cells; it must give
# exactly what cleaning each cell gives, whatever the column holds.
_TRICKY_CELLS = [
    "张三", " 张三", "张三\u3000", "ＡＢＣ", "e\u0301", "\u0301", "a\u00a0b", "11010519491231002x", "\ufeff1",
    "", " ", "\x1f", "Mary Ann", "ß", "2024-03", "１２", "\t0\r\n", "欧阳·娜娜",
]


@pytest.mark.parametrize("field", [name(), id_number(), account(), seq(), month("补缴开始年月"), amount("补缴金额"), text("备注")])
@given(cells=st.lists(st.one_of(st.sampled_from(_TRICKY_CELLS), st.text(max_size=6)), max_size=8))
@settings(max_examples=60, deadline=None)
def test_clean_column_is_cleaning_every_cell(field: Field, cells: list[str]) -> None:
    assert clean_column(field, cells) == [field.clean(cell) for cell in cells]


@pytest.mark.parametrize(
    ("cells", "upper", "clean"),
    [
        (["张三", "李四"], False, True),
        (["张三", "李四 "], False, False),
        (["ＡＢＣ"], False, False),
        (["e\u0301"], False, False),
        (["11010519491231002X"], True, True),
        (["11010519491231002x"], True, False),
        (["11010519491231002x"], False, True),
    ],
)
def test_column_is_clean(cells: list[str], upper: bool, clean: bool) -> None:
    assert column_is_clean(cells, upper=upper) is clean


def test_checks_sharing_column_facts_find_the_same_failures() -> None:
    """A column's checks work out its lengths and ID problems once; the failures are the same as without."""
    import pandas as pd
    import pandera.errors

    from pipeline.config import load_config
    from schemas import backpay

    config = load_config()
    schema = backpay.schema(config)
    cells = {
        "序号": ["1", "2", "", "4", "5"],
        "个人账号": ["300000001", "30000000x", "", "1" * 40, "300000005"],
        "姓名": ["张三", "李4", "", "王" * 60, "赵六"],
        "证件号码": [VALID_ID, VALID_ID[:17] + "1", "", "2.10102199001011e+17", "110105194913310021"],
        "补缴原因": ["漏缴", "随便", "", "漏缴", "漏缴"],
        "补缴开始年月": ["2024-03", "2024-13", "", "2024-03", "2024-03"],
        "补缴结束年月": ["2024-05", "2024-05", "", "2024-05", "2024-05"],
        "补缴金额": ["1000", "-5", "", "abc", "0"],
    }

    def failures(shared: bool) -> list[tuple[str, str, int]]:
        frame = pd.DataFrame(cells, dtype=object)
        try:
            if shared:
                with shared_column_facts():
                    schema.validate(frame, lazy=True)
            else:
                schema.validate(frame, lazy=True)
        except pandera.errors.SchemaErrors as error:
            cases = error.failure_cases
            return sorted(zip(cases["column"], cases["check"], map(int, cases["index"])))
        return []

    found = failures(shared=True)
    assert found == failures(shared=False)
    assert ("证件号码", "ID_NUMERIC_PRECISION", 3) in found and ("证件号码", "ID_CHECKSUM", 1) in found
    assert ("证件号码", "ID_FORMAT", 4) in found and ("姓名", "TEXT_TOO_LONG", 3) in found and ("序号", "CELL_EMPTY", 2) in found
