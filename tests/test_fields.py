"""Shared normalisation and checks of cells (schemas/fields.py), written once for every template."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.check.schema import clean_column
from pipeline.errors import Code
from pipeline.services.fakes import fake_id
from schemas.cells import (
    bank_card_cut,
    clean_amount,
    clean_id,
    clean_month,
    clean_name,
    clean_ratio,
    clean_text,
    column_is_clean,
    id18,
    id_check_char,
    id_forms,
    id_maybe_cut,
    id_problem,
    id_problems,
    luhn_ok,
    parse_month,
)
from schemas.fields import (
    Field,
    FieldKind,
    account,
    amount,
    build_schema,
    describe,
    id_number,
    month,
    name,
    seq,
    shared_column_facts,
    text,
)
from schemas.id_types import ID_TYPES, describe_id_of_type, id_of_type, id_type_problem, id_type_problems

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
     ("2024年3月", "2024-03"), ("２０２４０３", "2024-03"), ("2024-13", "2024-13"), ("24-03", "24-03"),
     # yyyy.mm: two digits are a month; 2024.1 may be 2024.10 that a General cell made a number, so it stays (MONTH_FORMAT)
     ("2024.10", "2024-10"), ("2024.01", "2024-01"), ("2024.03", "2024-03"), ("2024.3", "2024-03"), ("2024.12", "2024-12"),
     ("２０２４．１０", "2024-10"), ("2024.1", "2024.1"), ("２０２４．１", "2024.1")],
)
def test_clean_month(raw: str, month: str) -> None:
    assert clean_month(raw) == month


@pytest.mark.parametrize("bad", ["2024-13", "2024-00", "24-03", "March", "", "2024-03-1x", "2024.1", "2024.13", "2024.0"])
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
    "张　三", "张 三", "买买提•艾力", "买买提・艾力", "买买提．艾力", "买买提 · 艾力", "John  Smith", "a.b", "·", "张\u2060三",
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


# --- 证件类型: each type's 证件号码 check (master data), the legacy 15-digit 居民身份证号码 ---------------

LEGACY_ID = "110105491231002"  # VALID_ID's person with the pre-1999 number: no "19", no check digit
NEW_FOREIGN_ID = "91100084019900101" + id_check_char("91100084019900101")  # the 2023 永居证: 9…, MOD 11-2 check

# (证件类型, cell as written, code): a valid and an invalid number of every type.
ID_TYPE_CASES = [
    ("居民身份证", VALID_ID, None),
    ("居民身份证", LEGACY_ID, None),
    ("居民身份证", VALID_ID[:17] + "1", Code.ID_CHECKSUM),
    ("居民身份证", "110105491331002", Code.ID_FORMAT),  # legacy number, month 13
    ("居民身份证", "11010549123100X", Code.ID_FORMAT),  # a legacy number has no check character
    ("居民身份证", "E12345678", Code.ID_FORMAT),
    ("身份证", " 11010519491231002x ", None),  # the alias existing data uses
    ("身份证", LEGACY_ID, None),
    ("身份证", "2.10102199001011E+17", Code.ID_NUMERIC_PRECISION),
    ("护照", "E12345678", None),
    ("护照", "ea1234567", None),  # cleaned to upper case
    ("护照", "P" + "1" * 19, None),  # 20 characters
    ("护照", "E123", Code.ID_FORMAT),
    ("护照", "P" + "1" * 20, Code.ID_FORMAT),
    ("护照", "E-1234567", Code.ID_FORMAT),
    ("护照", "2.10102199001011E+17", Code.ID_NUMERIC_PRECISION),
    ("港澳居民来往内地通行证", "H12345678", None),
    ("港澳居民来往内地通行证", "M1234567890", None),
    ("港澳居民来往内地通行证", "H123456789", Code.ID_FORMAT),  # 9 digits
    ("港澳居民来往内地通行证", "A12345678", Code.ID_FORMAT),
    ("台湾居民来往大陆通行证", "12345678", None),
    ("台湾居民来往大陆通行证", "1234567801", None),
    ("台湾居民来往大陆通行证", "12345678B1", None),
    ("台湾居民来往大陆通行证", "1234567", Code.ID_FORMAT),
    ("台湾居民来往大陆通行证", "A123456789", Code.ID_FORMAT),
    ("外国人永久居留身份证", "USA123456789012", None),
    ("外国人永久居留身份证", NEW_FOREIGN_ID, None),
    ("外国人永久居留身份证", NEW_FOREIGN_ID[:17] + ("1" if NEW_FOREIGN_ID[17] != "1" else "2"), Code.ID_CHECKSUM),
    ("外国人永久居留身份证", VALID_ID, Code.ID_FORMAT),  # a 居民身份证 number under the wrong type
    ("外国人永久居留身份证", "US1234567890123", Code.ID_FORMAT),
    ("其他", "军官证字第0123456号", None),
    ("其他", "X" * 30, None),
    ("其他", "X" * 31, Code.ID_FORMAT),
    ("其他", "A\tB", Code.ID_FORMAT),  # not printable
]


@pytest.mark.parametrize(("id_type", "raw", "code"), ID_TYPE_CASES, ids=[f"{c[0]}-{c[1]}" for c in ID_TYPE_CASES])
def test_id_type_problem(id_type: str, raw: str, code: Code | None) -> None:
    assert id_type_problem(id_type, clean_id(raw)) == code


def test_id_type_problems_of_a_column_are_each_cells() -> None:
    """The 居民身份证 numbers are checked together (numpy), the others one by one: the same answers."""
    types = [case[0] for case in ID_TYPE_CASES] * 2
    values = [clean_id(case[1]) for case in ID_TYPE_CASES] * 2
    assert id_type_problems(types, values) == [id_type_problem(t, v) for t, v in zip(types, values)]
    assert id_type_problems(types, values)[: len(ID_TYPE_CASES)] == [case[2] for case in ID_TYPE_CASES]


def test_every_id_type_of_master_data_is_allowed_and_has_its_message() -> None:
    assert ID_TYPES == ("居民身份证", "身份证", "护照", "港澳居民来往内地通行证", "台湾居民来往大陆通行证", "外国人永久居留身份证", "其他")
    field = id_of_type()
    for id_type in ID_TYPES[2:]:
        message = describe_id_of_type(Code.ID_FORMAT, field, id_type, "E1")
        assert message.startswith(f"{id_type}号码「E1」应为")
    assert "15位" in describe_id_of_type(Code.ID_FORMAT, field, "居民身份证", "123")
    assert "出生日期无效" in describe_id_of_type(Code.ID_FORMAT, field, "身份证", "110105491331002")
    assert "校验位错误" in describe_id_of_type(Code.ID_CHECKSUM, field, "外国人永久居留身份证", NEW_FOREIGN_ID)


@pytest.mark.parametrize(
    ("raw", "code"),
    [(LEGACY_ID, None), ("110105491331002", Code.ID_FORMAT), ("110105490230002", Code.ID_FORMAT), ("11010549123100", Code.ID_FORMAT)],
)
def test_a_unit_file_may_name_a_member_by_the_legacy_15_digit_id(raw: str, code: Code | None) -> None:
    """Where a unit's file names a member, the legacy number is a valid 证件号码 (registration refuses it in its rules)."""
    import pandas as pd

    assert id_problem(raw) == code
    assert id_problems(pd.Series([raw, VALID_ID], dtype=object)).tolist() == [code, None]


def test_a_legacy_id_and_its_18_digit_form_are_one_person() -> None:
    assert id18(LEGACY_ID) == VALID_ID  # "19" before the birth date, the GB 11643 check digit appended
    assert id18(fake_id(date(1975, 6, 30), 7)[:6] + fake_id(date(1975, 6, 30), 7)[8:17]) == fake_id(date(1975, 6, 30), 7)
    assert id18(VALID_ID) == VALID_ID and id18("E12345678") == "E12345678" and id18("USA123456789012") == "USA123456789012"
    assert id_forms(VALID_ID) == (VALID_ID, LEGACY_ID)
    assert id_forms(LEGACY_ID) == (LEGACY_ID, VALID_ID)
    assert id_forms(fake_id(date(2001, 1, 1), 1)) == (fake_id(date(2001, 1, 1), 1),)  # born in 2001: no 15-digit form
    assert id_forms("E12345678") == ("E12345678",)


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        # a space of any kind between two ideographs goes: names padded for alignment
        ("张　三", "张三"),
        ("张 三", "张三"),
        ("张\u00a0三", "张三"),
        ("张\t三", "张三"),
        ("张\u2002\u2002三", "张三"),
        ("欧阳　娜娜", "欧阳娜娜"),
        (" 张 三 丰 ", "张三丰"),
        ("张\u200b三", "张三"),
        ("张\u2060三", "张三"),
        # the dots that stand in for the middle dot of a transliterated name
        ("买买提·艾力", "买买提·艾力"),
        ("买买提•艾力", "买买提·艾力"),
        ("买买提・艾力", "买买提·艾力"),
        ("买买提･艾力", "买买提·艾力"),
        ("买买提．艾力", "买买提·艾力"),
        ("买买提.艾力", "买买提·艾力"),
        ("买买提‧艾力", "买买提·艾力"),
        ("买买提∙艾力", "买买提·艾力"),
        ("买买提⋅艾力", "买买提·艾力"),
        ("买买提\u0387艾力", "买买提·艾力"),
        ("买买提 · 艾力", "买买提·艾力"),
        ("买买提 ． 艾力", "买买提·艾力"),
        ("阿卜杜•热合曼・买买提", "阿卜杜·热合曼·买买提"),
        # Latin names keep one space and their periods
        ("John Smith", "John Smith"),
        ("John  Smith", "John Smith"),
        ("John\u3000Smith", "John Smith"),
        ("J. Smith", "J. Smith"),
        ("Mary Ann 张", "Mary Ann 张"),
        ("ＪＯＨＮ　ＳＭＩＴＨ", "JOHN SMITH"),
    ],
)
def test_clean_name(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean
    assert clean_name(clean) == clean


@given(st.text(alphabet=st.sampled_from("张三买提a B.·•・．\u3000\u00a0\t\u200b"), max_size=12))
@settings(max_examples=200, deadline=None)
def test_clean_name_is_idempotent(raw: str) -> None:
    assert clean_name(clean_name(raw)) == clean_name(raw)


def _failures(field: Field, cells: list[str]) -> list[tuple[str, str]]:
    """Each failing cell of one column as (check, message), the cells cleaned by the field first."""
    import pandas as pd
    import pandera.errors

    cleaned = clean_column(field, cells)
    try:
        build_schema((field,), "test").validate(pd.DataFrame({field.name: cleaned}, dtype=object), lazy=True)
    except pandera.errors.SchemaErrors as error:
        cases = error.failure_cases
        return sorted((str(check), describe(Code(str(check)), field, cleaned[int(index)])) for check, index in zip(cases["check"], cases["index"]))
    return []


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("张3", "「3」(U+0033)"),
        ("张三(曾用名)", "「(」(U+0028)"),
        ("张-三", "「-」(U+002D)"),
        ("张\x1f三", "「\x1f」(U+001F)"),
        ("3张", "「3」(U+0033)"),
        ("张。三", "「。」(U+3002)"),
    ],
)
def test_name_format_names_the_character_and_its_code_point(raw: str, shown: str) -> None:
    ((check, message),) = _failures(name(), [raw])
    assert check == "NAME_FORMAT"
    assert f"含有不允许的字符{shown}" in message and message.startswith("姓名「")


def test_name_format_of_a_leading_period() -> None:
    ((check, message),) = _failures(name(), [".张三"])
    assert check == "NAME_FORMAT" and "不能以「.」(U+002E)开头" in message


@pytest.mark.parametrize("raw", ["张　三", "买买提•艾力", "买买提・艾力", "买买提．艾力", "买买提 ･ 艾力", "John  Smith", "欧阳·娜娜"])
def test_names_with_spaces_and_look_alike_dots_pass(raw: str) -> None:
    assert _failures(name(), [raw]) == []


# --- numbers Excel cut --------------------------------------------------------------------------

#: 211402199005017035 typed into a number cell is 211402199005017000 in a CSV, and that still has a valid check digit.
REAL_ID, CUT_ID = "211402199005017035", "211402199005017000"


@pytest.mark.parametrize(
    ("value", "cut"),
    [(CUT_ID, True), (REAL_ID, False), ("21140219900501700X", False), ("2114021990050170000", False), ("21140219900501000", False)],
)
def test_id_maybe_cut(value: str, cut: bool) -> None:
    assert id_problem(REAL_ID) is None and id_problem(CUT_ID) is None
    assert id_maybe_cut(value) is cut


def test_a_cut_id_with_a_wrong_check_digit_says_excel_may_have_cut_it() -> None:
    cut = next(f"21140219900501{n}000" for n in range(10) if id_problem(f"21140219900501{n}000") is Code.ID_CHECKSUM)
    ((check, message),) = _failures(id_number(), [cut])
    assert check == "ID_CHECKSUM" and "以000结尾" in message and "Excel截断" in message and "文本格式" in message
    ((check, message),) = _failures(id_number(), ["110105194912310021"])
    assert check == "ID_CHECKSUM" and "000" not in message


#: 银联 cards (62, 16–19 digits) and what Excel makes of them in a number cell: 15 digits, then zeros.
CARD_19, CARD_16 = "6222021234567890128", "6228480012345671"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (CARD_19, True),
        (CARD_16, True),
        ("6217000000000001234", True),
        (CARD_19[:15] + "0000", False),
        (CARD_16[:15] + "0", False),
        (CARD_19[:18] + "9", False),
        ("4367421234567890123", True),  # not 银联: no check digit asked
        ("62170000000000", True),  # 14 digits: an account, not a card
        ("62222212345678901234", True),  # 20 digits: an account, not a card
    ],
)
def test_bank_card_check_digit(value: str, ok: bool) -> None:
    assert luhn_ok(CARD_19) and luhn_ok(CARD_16)
    assert bank_card_cut(value) is not ok


BANK = Field("个人存款账户号码", FieldKind.BANK_ACCOUNT, max_length=30)


@pytest.mark.parametrize(
    ("raw", "message_parts"),
    [
        (CARD_19, None),
        (CARD_16, None),
        ("1234567890123", None),
        (CARD_19[:15] + "0000", ("不是有效的银联卡号", "校验位", "Excel截断")),
        (CARD_16[:15] + "0", ("不是有效的银联卡号", "校验位", "Excel截断")),
        ("6.22202E+18", ("已被Excel转成数字", "文本格式")),
        ("6.22202123456789e+18", ("已被Excel转成数字", "文本格式")),
        ("6222 0212 3456 7890 128", ("应为8至30位数字",)),
    ],
)
def test_bank_account_cell(raw: str, message_parts: tuple[str, ...] | None) -> None:
    failures = _failures(BANK, [raw])
    if message_parts is None:
        assert failures == []
        return
    ((check, message),) = failures
    assert check == "BANK_ACCOUNT_FORMAT" and message.startswith(f"「个人存款账户号码」的值「{raw}」")
    assert all(part in message for part in message_parts), message


# --- months a General cell made numbers -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message_parts"),
    [
        ("2026.1", ("2026.1 可能是 2026.10", "请在文本格式的单元格中填写 2026-10", "2026-01")),
        ("２０２６．１", ("2026.1 可能是 2026.10", "2026-10")),
        ("2026.13", ("不是有效的年月", "yyyy-mm")),
        ("2026.10", None),
        ("2026.01", None),
        ("2026.3", None),
    ],
)
def test_month_cell(raw: str, message_parts: tuple[str, ...] | None) -> None:
    failures = _failures(month("补缴开始年月"), [raw])
    if message_parts is None:
        assert failures == []
        return
    ((check, message),) = failures
    assert check == "MONTH_FORMAT" and message.startswith("「补缴开始年月」的值「")
    assert all(part in message for part in message_parts), message
