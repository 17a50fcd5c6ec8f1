"""report.pdf, the 补缴凭条 and the 确认单 of a real run, checked as a person would read them.

Pages are rasterised with pdftoppm (every page must come out, none blank) and read back with
pdftotext: every error row of a 60-error report is listed, every page says which page it is,
the 大写 amount is printed. Layout is checked on word boxes (``pdftotext -bbox``), the positions
a reader sees: amounts in a column share their right edge (right-aligned) while their left edges
differ; long names and addresses are printed in full, inside the page, and no word overlaps
another (overflowing text would run into its neighbour or off the page).
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from pipeline.money import amount_in_words
from pipeline.run.processor import FileOutcome
from pipeline.services.fakes import fake_id, registration_row, write_master_files
from pipeline.services.load import load_master_data
from tests.conftest import BUSINESS_DATE, Centre, make_centre
from tests.factories import backpay_file, kind_file, row_for

LONG_UNIT = "葫芦岛市连山区钢屯镇新兴农业机械制造与农产品深加工专业合作社联合社有限责任公司第一分公司"
LONG_MEMBER = "欧阳娜仁托娅·阿卜杜热合曼·买买提艾力"
LONG_NEWCOMER = "司马热依汗古丽·阿不都克热木·努尔麦麦提"
LONG_ADDRESS = "辽宁省葫芦岛市连山区钢屯镇新兴村三组幸福家园小区十七号楼二单元一千二百零三室"
LONG_FILE = "补缴清册_连山区钢屯镇新兴农业机械制造专业合作社_2024年8月份职工漏缴少缴补差明细表_第二批.xlsx"
BACKPAY_AMOUNTS = ("147084.83", "5", "1234.5")  # rounded half-up to 元: 147085, 5, 1235
ERROR_ROWS = 60
NS = {"x": "http://www.w3.org/1999/xhtml"}
MARGIN_PT = 14 / 25.4 * 72  # pdf.css: @page margin 14mm left and right


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Word) -> bool:
        """Ink on ink: the boxes share more than half a line's height and any width.

        Boxes of consecutive lines of one cell touch by a point (glyph boxes are taller than
        the line height); that is not an overlap.
        """
        shared_height = min(self.y1, other.y1) - max(self.y0, other.y0)
        shared_width = min(self.x1, other.x1) - max(self.x0, other.x0)
        return shared_width > 0.5 and shared_height > 0.5 * min(self.y1 - self.y0, other.y1 - other.y0)


@dataclass
class Page:
    width: float
    height: float
    words: list[Word]


def bbox_pages(pdf: Path) -> list[Page]:
    """Every page's size and word boxes, in points, as pdftotext sees them."""
    xhtml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    root = ET.fromstring(xhtml)
    pages = []
    for page in root.iterfind(".//x:page", NS):
        words = [
            Word(word.text or "", *(float(word.attrib[key]) for key in ("xMin", "yMin", "xMax", "yMax")))
            for word in page.iterfind("x:word", NS)
        ]
        pages.append(Page(float(page.attrib["width"]), float(page.attrib["height"]), words))
    return pages


def layout_text(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", "-layout", *pages, str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


@dataclass
class PdfRun:
    centre: Centre
    outcomes: dict[str, FileOutcome]


def _long_master_data(centre: Centre) -> None:
    """Give unit 0 and its first member long names (an upsert of the master data)."""
    units = [replace(unit, name=LONG_UNIT) if index == 0 else unit for index, unit in enumerate(centre.units)]
    first = centre.members_of(0)[0]
    members = [replace(member, name=LONG_MEMBER) if member == first else member for member in centre.members]
    units_file, members_file = write_master_files(centre.app.home.root / "master-long", units, members)
    with centre.app.sessions() as session, session.begin():
        assert load_master_data(session, centre.app.config, units_file, members_file).ok
    centre.units, centre.members = units, members


def _error_rows(centre: Centre) -> list[list[object]]:
    """60 rows, one error each, cycling through a bad reason, a bad amount and a bad month."""
    members = centre.members_of(0)[3:]
    rows = []
    for index in range(ERROR_ROWS):
        member = members[index % len(members)]
        if index % 3 == 0:
            rows.append(row_for(member, index + 1, reason="欠缴"))
        elif index % 3 == 1:
            rows.append(row_for(member, index + 1, amount="abc"))
        else:
            rows.append(row_for(member, index + 1, start="2024-13"))
    return rows


@pytest.fixture(scope="module")
def pdf_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PdfRun]:
    root = tmp_path_factory.mktemp("pdf-pages")
    centre = make_centre(root / "home", f"sqlite:///{root / 'gjj.db'}")
    try:
        _long_master_data(centre)
        own = centre.members_of(0)
        folder = centre.inbox / centre.unit(0).unit_account
        paid = zip(own[: len(BACKPAY_AMOUNTS)], BACKPAY_AMOUNTS, strict=True)
        backpay_file(folder, [row_for(member, seq, amount=amount) for seq, (member, amount) in enumerate(paid, 1)], "补缴清册.xlsx")
        backpay_file(folder, _error_rows(centre), LONG_FILE)
        newcomer = registration_row(1, LONG_NEWCOMER, fake_id(date(1995, 5, 5), 911), "4070", "488", "488")
        newcomer[11] = LONG_ADDRESS
        other = registration_row(2, "钱多", fake_id(date(1998, 8, 8), 912), "12000", "1440", "1440")
        kind_file(folder, "缴存人登记", [newcomer, other])
        summary = centre.run(BUSINESS_DATE)
        yield PdfRun(centre, {outcome.source: outcome for outcome in summary.outcomes})
    finally:
        centre.app.close()


def _document(pdf_run: PdfRun, source: str, name: str) -> Path:
    path = pdf_run.outcomes[source].outputs / name
    assert path.is_file(), sorted(p.name for p in path.parent.iterdir())
    return path


@pytest.fixture(scope="module")
def report(pdf_run: PdfRun) -> Path:
    return _document(pdf_run, LONG_FILE, "report.pdf")


def test_the_run_is_what_the_documents_are_about(pdf_run: PdfRun) -> None:
    statuses = {source: str(outcome.result.status) for source, outcome in pdf_run.outcomes.items()}
    assert statuses == {"补缴清册.xlsx": "accepted", LONG_FILE: "rejected", "缴存人登记.xlsx": "accepted"}
    assert len(pdf_run.outcomes[LONG_FILE].result.errors) == ERROR_ROWS
    registered = pdf_run.outcomes["缴存人登记.xlsx"]
    assert LONG_ADDRESS in (registered.outputs / "detail.csv").read_text(encoding="utf-8-sig")


def test_report_pages_rasterise_and_are_numbered(report: Path, tmp_path: Path) -> None:
    pages = len(PdfReader(report).pages)
    assert pages >= 2
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(report), str(tmp_path / "page")], check=True, timeout=120)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == pages
    for image_path in images:
        with Image.open(image_path) as image:
            dark = sum(image.convert("L").histogram()[:128])
            assert dark > 500, f"{image_path.name} is blank"
    for number in range(1, pages + 1):
        text = compact(layout_text(report, number))
        assert f"第{number}页/共{pages}页" in text
        assert "行号" in text and "错误代码" in text  # the table header repeats on every page


def test_report_text_lists_every_error_row(pdf_run: PdfRun, report: Path) -> None:
    lines = layout_text(report).splitlines()
    issues = [issue for row in pdf_run.outcomes[LONG_FILE].result.rows for issue in row.issues]
    assert len(issues) == ERROR_ROWS
    for issue in issues:
        pattern = re.compile(rf"^\s*{issue.row}\s+{issue.column}\s+{issue.code}\b")
        assert any(pattern.search(line) for line in lines), f"row {issue.row} {issue.code} not found"
    assert f"行错误{ERROR_ROWS}条" in compact(layout_text(report))


def _column_words(page: Page, header: str, values: list[str]) -> tuple[Word, list[Word]]:
    """The column header (the last word ``header`` above the values) and, for each value, the
    word nearest to the header's right edge: the cells of that column whatever their alignment."""
    first_value = min(word.y0 for word in page.words if word.text in values)
    heads = [word for word in page.words if len(word.text) >= 2 and header.startswith(word.text) and word.y1 <= first_value]
    head = max(heads, key=lambda word: word.y0)  # a header that wraps starts with its first line
    cells = [
        min((word for word in page.words if word.text == value and word.y0 > head.y1), key=lambda word: abs(word.x1 - head.x1))
        for value in values
    ]
    return head, cells


def printed_whole(page: Page, expected: str) -> bool:
    """``expected`` is on the page, on one line or wrapped onto lines that start at one left edge."""
    parts = [word for word in page.words if word.text and word.text in expected]
    if any(word.text == expected for word in parts):
        return True
    by_edge: dict[float, list[Word]] = {}
    for word in parts:
        by_edge.setdefault(round(word.x0 * 2) / 2, []).append(word)
    for column in by_edge.values():
        column.sort(key=lambda word: word.y0)
        for start in range(len(column)):
            joined = ""
            for word in column[start:]:
                joined += word.text
                if joined == expected:
                    return True
                if not expected.startswith(joined):
                    break
    return False


def test_slip_amounts_are_right_aligned_and_the_total_is_in_words(pdf_run: PdfRun) -> None:
    slip = _document(pdf_run, "补缴清册.xlsx", "slip.pdf")
    result = pdf_run.outcomes["补缴清册.xlsx"].result
    amounts = ["147085.00", "5.00", "1235.00"]
    (page,) = bbox_pages(slip)
    head, cells = _column_words(page, "补缴金额", amounts)
    rights = {round(word.x1, 1) for word in [*cells]}
    lefts = {round(word.x0, 1) for word in cells}
    assert max(rights) - min(rights) < 0.5, "amounts do not share their right edge"
    assert len(lefts) == 3, "amounts share their left edge: left-aligned"
    assert abs(head.x1 - max(rights)) < 0.5, "the column header is not right-aligned with its amounts"
    text = compact(layout_text(slip))
    assert amount_in_words(result.accepted_total("补缴金额")) == "壹拾肆万捌仟叁佰贰拾伍元整"
    assert "补缴金额(大/小写)壹拾肆万捌仟叁佰贰拾伍元整" in text


def _assert_right_aligned(page: Page, header: str, amounts: list[str]) -> None:
    head, cells = _column_words(page, header, amounts)
    assert abs(cells[0].x1 - cells[1].x1) < 0.5, f"{header}: right edges differ"
    assert abs(cells[0].x0 - cells[1].x0) > 2, f"{header}: left edges agree (left-aligned)"
    assert abs(head.x1 - cells[0].x1) < 0.5, f"{header}: header not aligned with its amounts"


@pytest.mark.parametrize(
    ("header", "amounts"),
    [
        ("个人月缴存额", ["488.00", "1440.00"]),
        ("单位月缴存额", ["488.00", "1440.00"]),
        ("缴存基数", ["4070.00", "12000.00"]),
        ("月缴存额", ["976.00", "2880.00"]),
    ],
)
def test_confirmation_amounts_are_right_aligned(pdf_run: PdfRun, header: str, amounts: list[str]) -> None:
    (page,) = bbox_pages(_document(pdf_run, "缴存人登记.xlsx", "slip.pdf"))
    _assert_right_aligned(page, header, amounts)


def test_confirmation_base_column_is_right_aligned(pdf_run: PdfRun) -> None:
    (page,) = bbox_pages(_document(pdf_run, "缴存人登记.xlsx", "slip.pdf"))
    _assert_right_aligned(page, "缴存基数", ["4070.00", "12000.00"])


@pytest.mark.parametrize(
    ("source", "document", "texts"),
    [
        ("补缴清册.xlsx", "slip.pdf", [LONG_UNIT, LONG_MEMBER]),
        ("缴存人登记.xlsx", "slip.pdf", [LONG_UNIT, LONG_NEWCOMER]),
        (LONG_FILE, "report.pdf", [LONG_UNIT, LONG_FILE]),
    ],
)
def test_long_names_are_printed_whole_inside_the_page(pdf_run: PdfRun, source: str, document: str, texts: list[str]) -> None:
    path = _document(pdf_run, source, document)
    pages = bbox_pages(path)
    for expected in texts:
        assert any(printed_whole(page, expected) for page in pages), f"{expected} is not printed whole"
    for number, page in enumerate(pages, start=1):
        for word in page.words:
            assert word.x0 >= MARGIN_PT - 1 and word.x1 <= page.width - MARGIN_PT + 1, f"page {number}: {word} leaves the page"
            assert word.y0 >= 0 and word.y1 <= page.height, f"page {number}: {word} leaves the page"
        clashes = [(a, b) for i, a in enumerate(page.words) for b in page.words[i + 1 :] if a.overlaps(b)]
        assert not clashes, f"page {number}: words overlap {clashes[:3]}"


def test_a_long_name_wraps_inside_its_column(pdf_run: PdfRun) -> None:
    """The 40-character unit name wraps onto lines that all start at the cell's left edge."""
    slip = _document(pdf_run, "补缴清册.xlsx", "slip.pdf")
    (page,) = bbox_pages(slip)
    label = next(word for word in page.words if word.text == "单位名称")
    parts = [word for word in page.words if word.text and word.text in LONG_UNIT and len(word.text) > 2 and word.x0 > label.x1]
    assert "".join(word.text for word in sorted(parts, key=lambda word: word.y0)) == LONG_UNIT
    assert len({round(word.y0) for word in parts}) >= 2, "the long name did not wrap"
    assert len({round(word.x0, 1) for word in parts}) == 1
    account_label = next(word for word in page.words if word.text == "单位账号")
    assert max(word.x1 for word in parts) < account_label.x0
