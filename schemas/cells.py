"""What one cell holds: normalisation, parsing, and the GB 11643 check of an ID number.

Every cell arrives as text (the reader keeps what the cell held: a number, a date). The cleaners
here turn the spellings a unit may type into one (full-width to half-width, ``2024年3月`` to
``2024-03``, ``1,000.00元`` to ``1000.00``); the parsers read a cleaned cell, ``None`` when it
does not parse. :mod:`schemas.fields` builds the column checks on top of them.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

from pipeline.errors import Code

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

_SPACES = "\u00a0\u3000\u200b\u200c\u200d\ufeff\u2007\u202f"
#: A cleaned 证件号码 of the right shape: 17 digits and a digit or X.
ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
#: A number as Excel or the reader writes a long one: its last digits are lost (2.11402199005017e+17).
SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")
_MONTH_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})$"),
    # Not yyyy.1: typed into a General cell, 2026.10 is the number 2026.1 (see AMBIGUOUS_MONTH).
    re.compile(r"^(\d{4})\.(\d{2}|[2-9])$"),
    re.compile(r"^(\d{4})年(\d{1,2})月$"),
    # A real Excel date cell arrives as an ISO date; the day does not matter for a month.
    re.compile(r"^(\d{4})-(\d{2})-\d{2}(?:[ T]00:00:00)?$"),
)
#: A month written as the number yyyy.1: 2026.10 typed into a General cell becomes the number 2026.1,
#: which may as well be January. Refused (MONTH_FORMAT), never guessed.
AMBIGUOUS_MONTH = re.compile(r"^\d{4}\.1$")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00:00)?$")
#: A cleaned amount or ratio: digits, an optional minus and decimal part.
AMOUNT = re.compile(r"^-?\d+(\.\d+)?$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")


# --- normalisation -------------------------------------------------------------------------


_STRIP = " \t\r\n" + _SPACES


def clean_text(value: str) -> str:
    """NFKC (full-width → half-width) and trim, non-breaking and ideographic spaces included."""
    if value.isascii():  # NFKC leaves ASCII alone and every non-ASCII space is absent: the common case
        return value.strip(" \t\r\n")
    return unicodedata.normalize("NFKC", value).strip(_STRIP)


#: Joins a column's cells for the column-wide checks below: not a space, left alone by NFKC, and a
#: starter, so no character of one cell can combine with the next cell's.
_CELL_SEPARATOR = "\x1f"


def column_is_clean(cells: list[str], *, upper: bool = False) -> bool:
    """Whether :func:`clean_text` (and with ``upper``, :func:`clean_id`) leaves every cell as it is.

    Checked once on the column's joined text, at C speed: no space or other stripped character
    anywhere, already in NFKC, and (``upper``) no lower-case letter. A column that fails is
    cleaned cell by cell.
    """
    return _joined_is_clean(_CELL_SEPARATOR.join(cells), upper=upper)


def _joined_is_clean(joined: str, *, upper: bool = False) -> bool:
    if any(char in joined for char in _STRIP):
        return False
    if not (joined.isascii() or unicodedata.is_normalized("NFKC", joined)):
        return False
    return not upper or joined.upper() == joined


#: The ideographs a name may hold (CJK Unified Ideographs, Extension A, and the supplementary planes' extensions).
CJK = "\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff"
#: The middle dot of a transliterated name (间隔号, 买买提·艾力), and what input methods, fonts and
#: other locales put in its place: bullets, the katakana and Taiwanese middle dots, dot operators.
MIDDLE_DOT = "\u00b7"
NAME_DOTS = "\u00b7\u0387\u1427\u16eb\u2022\u2027\u2219\u22c5\u2e31\u30fb\uff65"
_NAME_SPACE_CHARS = " \t\n\r\v\f\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
_NAME_INVISIBLE_CHARS = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
#: Every character :func:`clean_name` may change or drop that :func:`clean_text` leaves inside a name.
_NAME_SPECIAL_CHARS = _NAME_SPACE_CHARS + _NAME_INVISIBLE_CHARS + "." + NAME_DOTS.replace(MIDDLE_DOT, "")
_NAME_SPECIAL = re.compile(f"[{re.escape(_NAME_SPECIAL_CHARS)}]")
_NAME_SPACES = re.compile(f"[{re.escape(_NAME_SPACE_CHARS)}]+")
_NAME_INVISIBLE = re.compile(f"[{_NAME_INVISIBLE_CHARS}]")
_NAME_DOT_TABLE = str.maketrans(dict.fromkeys(NAME_DOTS, MIDDLE_DOT))
_PERIOD_BETWEEN_CJK = re.compile(f"(?<=[{CJK}]) ?\\. ?(?=[{CJK}])")
_SPACE_AT_DOT = re.compile(f" ?{MIDDLE_DOT} ?")
_SPACE_BETWEEN_CJK = re.compile(f"(?<=[{CJK}]) (?=[{CJK}])")


def clean_name(value: str) -> str:
    """A 姓名 as it is checked, compared and stored: :func:`clean_text`, then spaces and dots made one.

    Any space between two ideographs goes ("张　三", padded for alignment, is 张三); other runs of
    spaces become one (John Smith); the dots that stand in for the middle dot, and a period
    between two ideographs (买买提．艾力), become U+00B7 with no space around it (买买提·艾力).
    """
    text = clean_text(value)
    if not _NAME_SPECIAL.search(text):
        return text
    text = _NAME_INVISIBLE.sub("", text).translate(_NAME_DOT_TABLE)
    text = _NAME_SPACES.sub(" ", text)
    text = _PERIOD_BETWEEN_CJK.sub(MIDDLE_DOT, text)
    text = _SPACE_AT_DOT.sub(MIDDLE_DOT, text)
    return _SPACE_BETWEEN_CJK.sub("", text).strip(" ")


def name_column_is_clean(cells: list[str]) -> bool:
    """Whether :func:`clean_name` leaves every cell as it is (see :func:`column_is_clean`)."""
    joined = _CELL_SEPARATOR.join(cells)
    return _joined_is_clean(joined) and not any(char in joined for char in _NAME_SPECIAL_CHARS)  # faster than the regex here


def clean_id(value: str) -> str:
    text = clean_text(value)
    upper = text.upper()
    return text if upper == text else upper  # keep the cell's own string: no copy per ID held


def parse_month(value: str) -> tuple[int, int] | None:
    """``(year, month)`` of a month cell in any accepted spelling, or ``None``."""
    for pattern in _MONTH_PATTERNS:
        match = pattern.match(value)
        if match:
            year, month = int(match.group(1)), int(match.group(2))
            if 1900 <= year <= 2999 and 1 <= month <= 12:
                return year, month
            return None
    return None


def clean_month(value: str) -> str:
    """Months become ``yyyy-mm``; anything unparseable is left for MONTH_FORMAT to report."""
    text = clean_text(value)
    parsed = parse_month(text)
    return f"{parsed[0]:04d}-{parsed[1]:02d}" if parsed else text


def clean_amount(value: str) -> str:
    """Amounts lose thousands separators (``1,000.00`` → ``1000.00``) and a trailing 元."""
    text = clean_text(value).removesuffix("元").strip()
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    return text


def clean_ratio(value: str) -> str:
    """Deposit ratios as decimals: ``12%`` → ``0.12``; ``0.12`` stays."""
    text = clean_text(value)
    if text.endswith("%") and AMOUNT.match(text[:-1]):
        return str(Decimal(text[:-1]) / 100)
    return text


def parse_date(value: str) -> date | None:
    match = _DATE.match(value)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def clean_date(value: str) -> str:
    text = clean_text(value)
    parsed = parse_date(text)
    return parsed.isoformat() if parsed else text


def parse_amount(value: str) -> Decimal | None:
    if not AMOUNT.match(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


# --- ID numbers (GB 11643) -------------------------------------------------------------------


def id_problem(value: str) -> Code | None:
    """The GB 11643 check of a cleaned 证件号码; ``None`` when it is a valid ID.

    A legacy 15-digit 居民身份证号码 (see :func:`legacy_id_problem`) is valid too: it names the same
    person as its 18-digit form (:func:`id18`).
    """
    if SCIENTIFIC.match(value):
        return Code.ID_NUMERIC_PRECISION
    if len(value) == 15:
        return legacy_id_problem(value)
    if not ID_SHAPE.match(value) or id_birth_date(value) is None:
        return Code.ID_FORMAT
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], ID_WEIGHTS))
    if ID_CHECK_CHARS[total % 11] != value[17]:
        return Code.ID_CHECKSUM
    return None


def id_maybe_cut(value: str) -> bool:
    """Whether a valid-looking 18-digit 证件号码 may be one Excel cut: it ends in 000.

    Excel keeps 15 significant digits: an ID typed into a number cell loses its last three, and a
    CSV saved from that cell holds the digits with 000 at the end (211402199005017035 →
    211402199005017000). About one such ID in eleven still has a valid check digit. A real ID
    ending in 000 is rare, so where a new ID enters the system it is checked at the counter.
    """
    return len(value) == 18 and value.endswith("000") and value.isdigit()


#: A 银联 card number: 62 and 16 to 19 digits in all, with a Luhn check digit (ISO/IEC 7812).
_UNIONPAY_CARD = re.compile(r"^62\d{14,17}$")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of digits, its check digit last."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def bank_card_cut(value: str) -> bool:
    """Whether a cleaned 个人存款账户号码 is a 银联 card number whose check digit is wrong: mistyped,
    or cut by Excel (a 19-digit card typed into a number cell keeps 15 digits and four zeros)."""
    return _UNIONPAY_CARD.match(value) is not None and not luhn_ok(value)


_ID_WEIGHT_VECTOR = np.array(ID_WEIGHTS, dtype=np.int64)
_ID_CHECK_BYTES = np.frombuffer(ID_CHECK_CHARS.encode("ascii"), dtype=np.uint8)
_DAYS_IN_MONTH = np.array((0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), dtype=np.int64)
_DIGIT_0, _DIGIT_9, _LETTER_X = ord("0"), ord("9"), ord("X")


def id_problems(values: pd.Series) -> pd.Series:
    """:func:`id_problem` of every cell, the same answers, computed with numpy for the usual IDs.

    18-character ASCII cells are checked as the rows of a byte matrix (shape, birth date, then
    the GB 11643 check digit); every other cell (a legacy 15-digit ID among them), and any cell
    not of 17 digits and a digit or X, goes through :func:`id_problem` itself.
    """
    cells = values.tolist()
    count = len(cells)
    problems = np.full(count, None, dtype=object)
    if not count:
        return pd.Series(problems, index=values.index, dtype=object)
    lengths = np.fromiter(map(len, cells), dtype=np.int64, count=count)
    joined = "".join(cells)
    if joined.isascii() and (lengths == 18).all():
        usual = np.arange(count)
        matrix = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    else:
        usual = np.flatnonzero(lengths == 18)
        usual = usual[[cells[index].isascii() for index in usual.tolist()]] if len(usual) else usual
        others = np.setdiff1d(np.arange(count), usual, assume_unique=True)
        problems[others] = [id_problem(cells[index]) for index in others.tolist()] if len(others) else []
        if not len(usual):
            return pd.Series(problems, index=values.index, dtype=object)
        matrix = np.frombuffer("".join([cells[index] for index in usual.tolist()]).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    body, last = matrix[:, :17], matrix[:, 17]
    shaped = ((body >= _DIGIT_0) & (body <= _DIGIT_9)).all(axis=1) & (
        ((last >= _DIGIT_0) & (last <= _DIGIT_9)) | (last == _LETTER_X)
    )
    digits = body.astype(np.int64) - _DIGIT_0
    year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_ok = (month >= 1) & (month <= 12)
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    born = (year >= 1) & month_ok & (day >= 1) & (day <= last_day)
    checked = _ID_CHECK_BYTES[(digits * _ID_WEIGHT_VECTOR).sum(axis=1) % 11] == last
    odd = usual[~shaped]
    if len(odd):
        problems[odd] = [id_problem(cells[index]) for index in odd.tolist()]
    problems[usual[shaped & ~born]] = Code.ID_FORMAT
    problems[usual[shaped & born & ~checked]] = Code.ID_CHECKSUM
    return pd.Series(problems, index=values.index, dtype=object)


def id_birth_date(value: str) -> date | None:
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def id_check_char(first17: str) -> str:
    """The 18th character for 17 digits (used by the fake-data generators too)."""
    return ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


# --- legacy 15-digit IDs (the 证件类型 of master data: schemas/id_types.py) ----------------------

#: A legacy (pre-1999) 15-digit 居民身份证号码: 6-digit region, yymmdd birth date (19yy), 3-digit sequence.
LEGACY_ID_SHAPE = re.compile(r"^\d{15}$")


def legacy_id_problem(value: str) -> Code | None:
    """The check of a legacy 15-digit 居民身份证号码: 15 digits with a real birth date (19yy); it has no check digit."""
    if not LEGACY_ID_SHAPE.match(value):
        return Code.ID_FORMAT
    try:
        date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
    except ValueError:
        return Code.ID_FORMAT
    return None


def id18(value: str) -> str:
    """The form in which two 证件号码 are compared: a legacy 15-digit number as its 18-digit form
    ("19" inserted before the yymmdd birth date, the GB 11643 check digit appended), any other value as it is.

    One person may be named by either form (master data may hold the one, a unit's file the other).
    Cheap for the usual 18-character value: one length test.
    """
    if len(value) != 15 or not value.isdigit() or not value.isascii():
        return value
    first17 = f"{value[:6]}19{value[6:]}"
    return first17 + id_check_char(first17)


def id_forms(value: str) -> tuple[str, ...]:
    """Every spelling a stored 证件号码 of the same person may have: ``value``, its 18-digit form if it
    is a legacy 15-digit number, its 15-digit form if it is an 18-digit number of someone born in 19xx.

    For looking a person up by equality (``IN``) in the database; what is found is the same person
    when its :func:`id18` is ``value``'s (an 18-digit ``value`` is taken as checked: no check digit
    is computed here, so a whole master-data file's numbers cost a slice each).
    """
    if len(value) == 15:
        full = id18(value)
        return (value, full) if full != value else (value,)
    if len(value) == 18 and value[6:8] == "19" and value[:17].isdigit() and value.isascii():
        return value, value[:6] + value[8:17]
    return (value,)
