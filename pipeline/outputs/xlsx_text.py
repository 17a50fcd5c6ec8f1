"""Text and values meant for a spreadsheet: formula neutralising for CSV, widths, number formats, cell XML.

Formula injection: report.xlsx writes every text as an escaped text cell (:func:`text_element`),
so a unit's ``=1+1`` stays the text ``=1+1`` and is never evaluated, and the text is not altered,
so the resubmitted file carries exactly what the unit wrote. A CSV output has no cell type:
:func:`neutralise_formula` is its only defence, and it changes the text.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta
from typing import Any

DEFAULT_SHEET = "Sheet1"

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
TIME_FORMAT = "hh:mm:ss"
DURATION_FORMAT = "[h]:mm:ss"
TEXT_FORMAT = "@"

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise_formula(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula (OWASP CSV injection).

    For CSV outputs only: a leading ``=``, ``+``, ``-``, ``@``, tab, CR or LF makes Excel/WPS
    evaluate the cell. This also quotes negative-looking text such as ``-5``; CSV has no cell types,
    so that is the price of safety. report.xlsx does not use this: it writes typed string cells.
    """
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


#: A cell start that :func:`neutralise_formula` changes, in a column joined by NULs (cells never hold one).
_TRIGGER_AT_START = re.compile("\x00[" + re.escape("".join(FORMULA_TRIGGERS)) + "]")


def neutralise_column(cells: list[str]) -> list[str]:
    """:func:`neutralise_formula` of every cell; a column where no cell needs it is found so at once."""
    if not _TRIGGER_AT_START.search("\x00" + "\x00".join(cells)):
        return cells
    return [neutralise_formula(cell) for cell in cells]


def display_width(text: str) -> int:
    """Width of ``text`` in Excel character units: CJK and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def column_width(name: str, *, minimum: int = 8, maximum: int = 50) -> int:
    """Width of a column headed ``name``: the header and a margin, within ``minimum`` and ``maximum``."""
    return max(minimum, min(maximum, display_width(name) + 4))


def temporal_format(value: Any) -> str | None:
    """Number format for date/time values; ``None`` for everything else."""
    if isinstance(value, datetime):
        if value.hour or value.minute or value.second or value.microsecond:
            return DATETIME_FORMAT
        return DATE_FORMAT
    if isinstance(value, date):
        return DATE_FORMAT
    if isinstance(value, time):
        return TIME_FORMAT
    if isinstance(value, timedelta):
        return DURATION_FORMAT
    return None


#: UTF-16 units an Excel cell holds (xlsxwriter enforces it).
_MAX_TEXT = 32_767
#: Text that needs escaping in a cell: XML's ``&<>``, control characters, non-characters, and
#: a literal ``_xHHHH_`` (Excel's own escape for control characters).
_TEXT_TO_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_EXCEL_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f]")


def _cut_to_cell_limit(text: str) -> str:
    """``text`` cut to the 32,767 UTF-16 units an Excel cell holds, never inside a character."""
    if len(text.encode("utf-16-le", "surrogatepass")) // 2 <= _MAX_TEXT:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > _MAX_TEXT:
            return text[:index]
    return text


def text_element(text: str) -> str:
    """The ``<t>`` element of an inline text cell: cut to what a cell holds, escaped as xlsxwriter escapes it.

    Control characters become ``_xHHHH_`` (a literal ``_xHHHH_`` keeps its meaning through an
    escaped underscore), ``&<>`` become entities, and leading or trailing whitespace is kept.
    """
    if len(text) > _MAX_TEXT // 2:
        text = _cut_to_cell_limit(text)
    if _TEXT_TO_ESCAPE.search(text):
        text = _EXCEL_ESCAPE.sub(r"_x005F\1", text)
        text = _CONTROL_CHARACTER.sub(lambda match: f"_x{ord(match.group()):04X}_", text)
        text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if text[:1].isspace() or text[-1:].isspace():
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"
