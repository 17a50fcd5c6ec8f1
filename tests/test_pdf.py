"""PDF outputs: real PDFs rendered into tmp_path and read back as text."""

from __future__ import annotations

import html
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from PIL import Image
from pypdf import PdfReader

from pipeline.config import CentreConfig, load_config
from pipeline.errors import Code, Issue
from pipeline.model import BatchResult, BatchStatus, RowResult, RowStatus
from pipeline.outputs.pdf.context import REPORT_MAX_ISSUES
from pipeline.outputs.pdf.fonts import find_cjk_face
from pipeline.outputs.pdf.render import PdfRenderer, remove_orphan_folders

SERIAL = "122040701_0003502413"
BACKPAY_HEADER = ["序号", "个人账号", "姓名", "证件号码", "补缴原因", "补缴开始年月", "补缴结束年月", "补缴金额"]
ADJUST_HEADER = ["序号", "个人账号", "姓名", "证件号码", "调整后缴存基数"]


def backpay_row(index: int, name: str, amount: str, reason: str = "漏缴") -> RowResult:
    return RowResult(
        excel_row=index + 2,
        seq_no=str(index + 1),
        values={
            "个人账号": f"{index + 1:09d}",
            "姓名": name,
            "证件号码": f"211402199001{index % 10000:04d}1X",
            "补缴原因": reason,
            "补缴开始年月": "2022-01",
            "补缴结束年月": "2022-02",
            "补缴金额": amount,
        },
        amounts={"补缴金额": Decimal(amount)},
    )


def batch(rows: list[RowResult], **changes: object) -> BatchResult:
    fields: dict[str, object] = {
        "batch_id": "20220407-000001",
        "unit_account": "0100012",
        "unit_name": "葫芦岛市连山区建筑工程有限公司",
        "kind": "补缴",
        "source_name": "补缴清册.xlsx",
        "sha256": "0" * 64,
        "business_date": date(2022, 4, 7),
        "status": BatchStatus.ACCEPTED,
        "serial_number": SERIAL,
        "header": BACKPAY_HEADER,
        "rows": rows,
        "contact_name": "赵晓东",
        "contact_phone": "18912345678",
    }
    fields.update(changes)
    return BatchResult(**fields)  # type: ignore[arg-type]


def page_texts(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def pdf_text(path: Path) -> str:
    return "\n".join(page_texts(path))


def compact(text: str) -> str:
    """Text without whitespace: a cell that wraps in the PDF still matches."""
    return re.sub(r"\s+", "", text)


def embedded_fonts(path: Path) -> set[str]:
    names = set()
    for page in PdfReader(path).pages:
        resources: Any = page["/Resources"]
        for font in resources["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]))
    return names


@pytest.fixture(scope="module")
def config() -> CentreConfig:
    return load_config()


@pytest.fixture(scope="module")
def renderer(config: CentreConfig):
    with PdfRenderer(config) as pdf:
        yield pdf


def test_backpay_slip_has_every_field_of_the_huludao_slip(renderer: PdfRenderer, tmp_path: Path) -> None:
    names = ["王小红", "欧阳娜娜", "买买提·艾力"]
    rows = [backpay_row(0, names[0], "100000.00"), backpay_row(1, names[1], "47000.00", "少缴")]
    rows.append(backpay_row(2, names[2], "84.83", "补差"))
    rejected = backpay_row(3, "不该出现", "5.00")
    rejected.status = RowStatus.REJECTED
    path = tmp_path / "slip.pdf"

    renderer.slip(batch([*rows, rejected], status=BatchStatus.PARTIALLY_ACCEPTED), path)

    text = compact(pdf_text(path))
    for expected in (
        "葫芦岛市公积金管理中心补缴凭条",
        "业务日期：2022-04-07",
        SERIAL,
        "葫芦岛市连山区建筑工程有限公司",
        "0100012",
        "赵晓东",
        "18912345678",
        "147084.83",
        "壹拾肆万柒仟零捌拾肆元捌角叁分",
        "202201-202202",
        "打印日期：2022年04月07日",
        "294756317375",
        "104227619876",
        "葫芦岛市住房公积金管理中心",
        "中国银行葫芦岛分行",
        "注意：缴款时告知银行柜台人员备注单位账号！",
        *names,
    ):
        assert expected in text
    assert "补缴人数3补缴金额147084.83" in text
    assert "不该出现" not in text
    assert "21140219900100011X" in text


@pytest.mark.parametrize(
    ("amounts", "words", "figure"),
    [
        pytest.param(["6100"], "陆仟壹佰元整", "6100.00", id="6100"),
        pytest.param(["1.00"], "壹元整", "1.00", id="1.00"),
        pytest.param(["100000.50", "7000.03"], "壹拾万柒仟元零伍角叁分", "107000.53", id="107000.53"),
        pytest.param(["22.42"], "贰拾贰元肆角贰分", "22.42", id="22.42"),
    ],
)
def test_slip_prints_total_in_words(
    renderer: PdfRenderer, tmp_path: Path, amounts: list[str], words: str, figure: str
) -> None:
    rows = [backpay_row(index, "李四", amount) for index, amount in enumerate(amounts)]
    path = tmp_path / "slip.pdf"
    renderer.slip(batch(rows), path)
    text = compact(pdf_text(path))
    assert f"补缴金额(大/小写){words}{figure}" in text


def test_big_slip_lists_first_rows_and_points_to_detail_csv(renderer: PdfRenderer, tmp_path: Path) -> None:
    rows = [backpay_row(index, f"测试{index:03d}", "10.00") for index in range(250)]
    path = tmp_path / "slip.pdf"
    renderer.slip(batch(rows), path)

    assert len(PdfReader(path).pages) <= 2
    text = pdf_text(path)
    assert "共 250 行，完整明细见 detail.csv" in text
    assert "测试039" in text
    assert "测试040" not in text
    assert "贰仟伍佰元整" in text


def test_confirmation_for_other_kinds(renderer: PdfRenderer, tmp_path: Path) -> None:
    rows = [
        RowResult(
            excel_row=2,
            seq_no="1",
            values={
                "个人账号": "000000001",
                "姓名": "王五",
                "证件号码": "21140219900101123X",
                "调整后缴存基数": "4070",
            },
            amounts={"个人月缴存额": Decimal("488"), "单位月缴存额": Decimal("488")},
        ),
        RowResult(excel_row=3, seq_no="2", values={"姓名": "钱七"}, status=RowStatus.COUNTER),
    ]
    path = tmp_path / "confirm.pdf"
    renderer.slip(batch(rows, kind="基数调整", header=ADJUST_HEADER), path)

    text = compact(pdf_text(path))
    assert "葫芦岛市公积金管理中心基数调整确认单" in text
    assert SERIAL in text
    for expected in ("个人账号", "调整后缴存基数", "个人月缴存额", "单位月缴存额", "王五", "4070", "488.00"):
        assert expected in text
    assert "已受理1行，转柜台1行" in text
    assert "钱七" not in text
    assert "中心收款账户信息" not in text


def test_text_is_escaped_not_interpreted(renderer: PdfRenderer, tmp_path: Path) -> None:
    path = tmp_path / "slip.pdf"
    renderer.slip(batch([backpay_row(0, "<b>王</b>&amp;", "1.00")]), path)
    assert "<b>王</b>&amp;" in pdf_text(path)


def rejected_batch() -> BatchResult:
    rows = [
        RowResult(
            excel_row=5,
            seq_no="1",
            values={},
            status=RowStatus.REJECTED,
            issues=[
                Issue(Code.ID_CHECKSUM, "证件号码校验位错误", row=5, column="证件号码"),
                Issue(Code.MONTH_FORMAT, "年月应为 yyyy-mm", row=5, column="补缴开始年月"),
            ],
        ),
        RowResult(excel_row=6, seq_no="2", values={}, status=RowStatus.NOT_APPLIED),
        RowResult(
            excel_row=17,
            seq_no="13",
            values={},
            status=RowStatus.COUNTER,
            issues=[Issue(Code.COUNTER_CROSS_YEAR, "跨年补缴，须到柜台办理", row=17, column="补缴结束年月")],
        ),
        RowResult(
            excel_row=1048,
            seq_no="1044",
            values={},
            status=RowStatus.REJECTED,
            issues=[Issue(Code.TRANSFER_SOURCE_MISMATCH, "转出单位不是该缴存人的当前单位", row=1048)],
        ),
    ]
    return batch(
        rows,
        status=BatchStatus.REJECTED,
        serial_number=None,
        file_issues=[Issue(Code.TOTAL_MISMATCH, "合计行补缴金额 100.00 与明细合计 99.00 不符")],
    )


def test_report_lists_every_issue(renderer: PdfRenderer, tmp_path: Path) -> None:
    result = rejected_batch()
    path = tmp_path / "report.pdf"
    renderer.report(result, path)

    text = pdf_text(path)
    assert "葫芦岛市公积金管理中心文件退回报告" in text
    for expected in ("补缴清册.xlsx", "20220407-000001", "2022-04-07", "已退回", "TOTAL_MISMATCH", "合计行与明细不符"):
        assert expected in text
    lines = text.splitlines()
    for row in result.rows:
        for issue in row.issues:
            assert any(str(issue.row) in line and str(issue.code) in line for line in lines)
    counter_line = next(line for line in lines if "COUNTER_CROSS_YEAR" in line)
    assert "转柜台" in counter_line
    assert "行错误3条，转柜台1条" in compact(text)


def id_format_rows(count: int) -> list[RowResult]:
    """``count`` rejected rows from Excel row 2 on, each with one ID_FORMAT issue."""
    return [
        RowResult(
            excel_row=index + 2,
            seq_no=str(index + 1),
            values={},
            status=RowStatus.REJECTED,
            issues=[Issue(Code.ID_FORMAT, "证件号码应为18位", row=index + 2, column="证件号码")],
        )
        for index in range(count)
    ]


def test_report_repeats_table_header_on_every_page(renderer: PdfRenderer, tmp_path: Path) -> None:
    rows = id_format_rows(120)
    path = tmp_path / "report.pdf"
    renderer.report(batch(rows, status=BatchStatus.REJECTED), path)

    pages = page_texts(path)
    assert len(pages) >= 3
    for page in pages:
        assert "行号" in page
        assert "错误代码" in page
    listed = {int(number) for number in re.findall(r"^(\d+) 证件号码 ID_FORMAT", "\n".join(pages), re.MULTILINE)}
    assert listed == set(range(2, 122))


def test_long_report_prints_the_first_issues_and_points_to_report_xlsx(renderer: PdfRenderer, tmp_path: Path) -> None:
    count = REPORT_MAX_ISSUES + 5
    rows = id_format_rows(count)
    path = tmp_path / "report.pdf"
    renderer.report(batch(rows, status=BatchStatus.REJECTED), path)

    text = pdf_text(path)
    listed = {int(number) for number in re.findall(r"^(\d+) 证件号码 ID_FORMAT", text, re.MULTILINE)}
    assert listed == set(range(2, REPORT_MAX_ISSUES + 2))
    assert f"以上为前{REPORT_MAX_ISSUES}条；共{count}条，完整清单见report.xlsx" in compact(text)
    assert f"行错误{count}条" in compact(text)


def test_character_outside_the_subset_renders_after_warm_up(config: CentreConfig, tmp_path: Path) -> None:
    rare = "龘㵘"
    face = find_cjk_face()
    with TTFont(face.path, fontNumber=face.index, lazy=True) as font:
        cmap = font.getBestCmap()
    if not all(ord(char) in cmap for char in rare):
        pytest.skip(f"{face.path} lacks {rare}")

    with PdfRenderer(config, face) as renderer:
        renderer.slip(batch([backpay_row(0, "张三", "1.00")]), tmp_path / "first.pdf")
        renderer.slip(batch([backpay_row(0, "张三", "2.00")]), tmp_path / "same.pdf")
        assert renderer.fonts.builds == 1
        assert not set(rare) & renderer.fonts.chars

        path = tmp_path / "rare.pdf"
        renderer.slip(batch([backpay_row(0, f"张{rare}", "1.00")]), path)

        assert renderer.fonts.builds == 2
        assert set(rare) <= renderer.fonts.chars
    assert f"张{rare}" in pdf_text(path)
    assert all("GJJ-CJK" in name for name in embedded_fonts(path))


def test_diverse_run_prefills_once_then_grows_a_small_extra_subset(config: CentreConfig, tmp_path: Path) -> None:
    """After ``prefill_after`` rebuilds the main subset takes the prefill set and stays as it is."""
    names = ["甲乙", "丙丁", "戊己", "庚辛", "壬癸"]
    missing = "\U0010fffd"  # in no font: must not cause a rebuild
    with PdfRenderer(config, prefill=frozenset("戊己"), prefill_after=1) as renderer:
        for index, name in enumerate(names):
            renderer.slip(batch([backpay_row(0, name, "1.00")]), tmp_path / f"{index}.pdf")
        fonts = renderer.fonts
        assert (fonts.main.builds, fonts.extra.builds if fonts.extra else 0) == (2, 2)
        assert set("甲乙丙丁戊己") <= fonts.main.chars
        assert set("庚辛壬癸") <= fonts.extra.chars if fonts.extra else False
        assert not set("庚辛壬癸") & fonts.main.chars

        for index in range(2):
            renderer.slip(batch([backpay_row(0, f"壬{missing}", "1.00")]), tmp_path / f"missing{index}.pdf")
        assert fonts.builds == 4
    last = tmp_path / "4.pdf"
    assert "壬癸" in pdf_text(last)
    assert embedded_fonts(last) and all("GJJ-CJK" in name for name in embedded_fonts(last))


@pytest.mark.parametrize("document", ["slip", "report"])
def test_only_the_subset_font_is_embedded(renderer: PdfRenderer, tmp_path: Path, document: str) -> None:
    """The full Noto face costs seconds per PDF; it must only ever be a fallback."""
    path = tmp_path / f"{document}.pdf"
    if document == "slip":
        renderer.slip(batch([backpay_row(0, "周杰", "1.00")]), path)
    else:
        renderer.report(rejected_batch(), path)
    fonts = embedded_fonts(path)
    assert fonts
    assert all("GJJ-CJK" in name for name in fonts)


RASTER_DPI = 50
WORD = re.compile(r'<word xMin="(?P<x0>[\d.]+)" yMin="(?P<y0>[\d.]+)" xMax="(?P<x1>[\d.]+)" yMax="(?P<y1>[\d.]+)">(?P<text>[^<]*)</word>')


def word_boxes(path: Path) -> dict[str, tuple[float, float, float, float]]:
    """The words of page 1 as poppler's text layer has them, with their boxes in points from the top left."""
    xhtml = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"], check=True, capture_output=True, text=True, timeout=60).stdout
    return {html.unescape(m["text"]): (float(m["x0"]), float(m["y0"]), float(m["x1"]), float(m["y1"])) for m in WORD.finditer(xhtml)}


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_slip_rasterises_with_its_text_drawn_where_the_text_layer_has_it(renderer: PdfRenderer, tmp_path: Path) -> None:
    """The slip as a printer sees it: an A4 page of dark text on white paper.

    Text extraction alone passes when the glyphs draw nothing (an empty font subset, white text):
    here the pixels inside the boxes of the title, the serial number, the name and the 大写 amount
    must be inked, the margins white and the page mostly paper.
    """
    path = tmp_path / "slip.pdf"
    renderer.slip(batch([backpay_row(0, "王小红", "1.00")]), path)
    subprocess.run(
        ["pdftoppm", "-r", str(RASTER_DPI), "-png", "-f", "1", "-l", "1", "-singlefile", str(path), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    page = PdfReader(path).pages[0].mediabox
    width, height, scale = float(page.width), float(page.height), RASTER_DPI / 72
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    with Image.open(tmp_path / "page.png") as image:
        assert image.format == "PNG"
        assert image.size == (math.ceil(width * scale), math.ceil(height * scale))
        gray = image.convert("L")

    def ink(x0: float, y0: float, x1: float, y1: float) -> float:
        """The share of dark pixels in a box given in points."""
        crop = gray.crop((int(x0 * scale), int(y0 * scale), math.ceil(x1 * scale), math.ceil(y1 * scale)))
        return sum(crop.histogram()[:128]) / (crop.width * crop.height)

    words = word_boxes(path)
    for word in ("葫芦岛市公积金管理中心补缴凭条", f"业务流水号：{SERIAL}", "王小红", "壹元整"):
        assert ink(*words[word]) > 0.04, f"{word} is in the text layer but not drawn"
    left = min(x0 for x0, _, _, _ in words.values())
    assert left > 20
    assert ink(0, 0, left - 5, height) == 0 and ink(width - left + 5, 0, width, height) == 0  # white margins
    assert ink(0, 0, width, height) < 0.1  # mostly paper: not a black or grey page


def test_a_killed_renderers_font_folder_is_removed_by_the_next_one(tmp_path: Path) -> None:
    """A process killed mid-batch runs no finalizer: its font files stay until a renderer sweeps them."""
    code = (
        "import os, signal; from pipeline.config import load_config; from pipeline.outputs.pdf.render import PdfRenderer;"
        "renderer = PdfRenderer(load_config(None)); renderer.warm(); print(renderer._folder, flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    )
    environment = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL
    killed = Path(done.stdout.strip())
    assert killed.parent == tmp_path and any(killed.iterdir())  # the font subset the killed process made
    own = tmp_path / f"gjj-pdf-{os.getpid()}-living"
    own.mkdir()
    legacy = tmp_path / "gjj-pdf-unknown"
    legacy.mkdir()
    assert remove_orphan_folders(tmp_path) == [killed]
    assert not killed.exists()
    assert own.exists() and legacy.exists()  # a living process's folder, and one whose owner it cannot tell


_LOOKUPS = """
import ctypes.util, sys
looked_up = []
real = ctypes.util.find_library
ctypes.util.find_library = lambda name: looked_up.append(name) or real(name)
{before}
from pipeline.outputs.pdf.render import PdfRenderer
import weasyprint
pdf = weasyprint.HTML(string="<p>补缴凭条</p>").write_pdf()
print(len(looked_up), pdf[:5].decode())
"""

# The first import of WeasyPrint's library module fails as it would where no library opens by a plain name.
_FAILS_ONCE = """
import importlib.abc
class FailOnce(importlib.abc.MetaPathFinder):
    failed = False
    def find_spec(self, name, path, target=None):
        if name == "weasyprint.text.ffi" and not FailOnce.failed:
            FailOnce.failed = True
            raise OSError("cannot load library 'libgobject-2.0-0'")
        return None
sys.meta_path.insert(0, FailOnce())
"""


@pytest.mark.parametrize(
    ("before", "lookups"),
    [
        pytest.param("", "0", id="libraries-opened-by-name"),
        pytest.param(_FAILS_ONCE, "many", id="fallback-the-usual-way"),
    ],
)
def test_weasyprint_is_imported_without_searching_for_its_libraries(before: str, lookups: str) -> None:
    """WeasyPrint's import asks ctypes to find no library (its gcc and ld runs took 0.27 s), and still
    imports the usual way, searching, when that fails."""
    script = _LOOKUPS.format(before=before)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert done.returncode == 0, done.stderr
    count, header = done.stdout.split()
    assert header == "%PDF-"
    assert (int(count) == 0) if lookups == "0" else (int(count) > 0)



_LEAVING_AT_ONCE = """
import os, sys
sys.path.insert(0, "tests")
from test_pdf import backpay_row, batch
from pipeline.config import load_config
from pipeline.outputs.pdf.render import PdfRenderer
renderer = PdfRenderer(load_config())
renderer.warm()
renderer.slip(batch([backpay_row(0, "甲乙丙丁", "1.00")]), sys.argv[1])  # new characters: a new subset and font configuration
assert renderer.fonts.builds == 2
renderer.close()
os._exit(0)  # as the forked PDF process and gjj itself leave: nothing is garbage-collected
"""


def test_weasyprints_copies_of_the_subsets_go_with_the_renderer_even_without_garbage_collection(tmp_path: Path) -> None:
    """WeasyPrint keeps a copy of each @font-face font until its configuration is collected: in the renderer's folder."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _LEAVING_AT_ONCE, str(tmp_path / "slip.pdf")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "TMPDIR": str(temp), "GJJ_FONT_CACHE": "off"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "甲乙丙丁" in pdf_text(tmp_path / "slip.pdf")
    assert not list(temp.iterdir())
