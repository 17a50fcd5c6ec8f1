"""Money: ``Decimal`` only, rounded half-up (四舍五入), and its Chinese capital form (大写)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

YUAN = Decimal("1")
FEN = Decimal("0.01")

DIGITS = "零壹贰叁肆伍陆柒捌玖"
SMALL_UNITS = ("", "拾", "佰", "仟")
GROUP_UNITS = ("", "万", "亿", "万")


def half_up(value: Decimal, quantum: Decimal = YUAN) -> Decimal:
    """Round half-up to ``quantum`` (``YUAN`` or ``FEN``): 212.5 → 213, never banker's 212."""
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def quantum_for(rounding: str) -> Decimal:
    """The configured precision: ``yuan`` (四舍五入到元) or ``fen`` (到分)."""
    return YUAN if rounding == "yuan" else FEN


def monthly_deposit(base: Decimal, ratio: Decimal, quantum: Decimal = YUAN) -> Decimal:
    """One side's monthly deposit: 2125 × 10% → 213, 4070 × 12% → 488."""
    return half_up(base * ratio, quantum)


def money_text(value: Decimal) -> str:
    """Amounts in results and CSV: always two decimals, "1000.00"; a zero is never "-0.00"."""
    rounded = half_up(value, FEN)
    return str(rounded.copy_abs() if rounded.is_zero() else rounded)


def money_texts(values: Iterable[Decimal | None]) -> list[str]:
    """:func:`money_text` of each value, ``""`` for ``None``; made once per distinct value.

    A big batch's amounts repeat (the rules round each distinct cell text once), so a column of
    100k amounts needs only a few thousand texts made. Keyed by value: equal values (``1.5`` and
    ``1.50``, ``0`` and ``-0``) have one text, that of the value rounded to 分.
    """
    made: dict[Decimal | None, str] = {None: ""}
    texts = []
    for value in values:
        text = made.get(value)
        if text is None:
            text = made[value] = money_text(value)  # type: ignore[arg-type]
        texts.append(text)
    return texts


def _spell_integer(number: int) -> str:
    digits = str(number)
    out: list[str] = []
    pending_zero = False
    group_has_digit = False
    for index, char in enumerate(digits):
        position = len(digits) - 1 - index
        digit = int(char)
        if digit == 0:
            pending_zero = True
        else:
            if pending_zero and out:
                out.append("零")
            pending_zero = False
            group_has_digit = True
            out.append(DIGITS[digit] + SMALL_UNITS[position % 4])
        if position % 4 == 0 and position > 0:
            if group_has_digit:
                out.append(GROUP_UNITS[position // 4])
                pending_zero = False
            group_has_digit = False
    return "".join(out)


def amount_in_words(amount: Decimal) -> str:
    """The 大写 form of an amount, following 会计基础工作规范.

    The amount is first quantized to 分 half-up. 整 follows 元 only; nothing follows 角 or 分.
    One 零 is written where the 元 digit or the 角 digit is zero before a non-zero 角/分:
    107000.53 → 壹拾万柒仟元零伍角叁分, 10.05 → 壹拾元零伍分.
    """
    if not isinstance(amount, Decimal):
        raise TypeError("amount_in_words takes a Decimal, never a float")
    cents = int(half_up(amount, FEN) * 100)
    if cents < 0:
        raise ValueError("大写金额不能为负数")
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    if cents == 0:
        return "零元整"
    parts: list[str] = []
    if yuan:
        parts.append(_spell_integer(yuan) + "元")
    if jiao == 0 and fen == 0:
        parts.append("整")
        return "".join(parts)
    if yuan and (yuan % 10 == 0 or jiao == 0):
        parts.append("零")
    if jiao:
        parts.append(DIGITS[jiao] + "角")
    if fen:
        parts.append(DIGITS[fen] + "分")
    return "".join(parts)
