"""Money: half-up rounding and the 大写 form; the tables are the worked examples of SPEC.md and the seeds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline.money import FEN, amount_in_words, half_up, money_text, money_texts, monthly_deposit

# Worked examples: issue #3, SPEC.md (from 正确填写票据和结算凭证的基本规定) and the Huludao slips.
WORDS = [
    ("6100", "陆仟壹佰元整"),
    ("1", "壹元整"),
    ("1.00", "壹元整"),
    ("147084.83", "壹拾肆万柒仟零捌拾肆元捌角叁分"),
    ("10.05", "壹拾元零伍分"),
    ("100000", "壹拾万元整"),
    ("0", "零元整"),
    ("34663.50", "叁万肆仟陆佰陆拾叁元伍角"),
    ("1409.50", "壹仟肆佰零玖元伍角"),
    ("6007.14", "陆仟零柒元壹角肆分"),
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
    ("325.04", "叁佰贰拾伍元零肆分"),
    ("10.01", "壹拾元零壹分"),
    ("107000.53", "壹拾万柒仟元零伍角叁分"),
    ("22.42", "贰拾贰元肆角贰分"),
    ("27455.86", "贰万柒仟肆佰伍拾伍元捌角陆分"),
    ("100001", "壹拾万零壹元整"),
    ("100010000", "壹亿零壹万元整"),
    ("0.50", "伍角"),
    ("0.05", "伍分"),
    ("1000.005", "壹仟元零壹分"),
]


@pytest.mark.parametrize(("amount", "words"), WORDS)
def test_amount_in_words(amount: str, words: str) -> None:
    assert amount_in_words(Decimal(amount)) == words


def test_amount_in_words_refuses_floats_and_negatives() -> None:
    with pytest.raises(TypeError):
        amount_in_words(22.42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        amount_in_words(Decimal("-1"))


# SPEC.md, Rules: 2125 × 10% → 213, 4150 × 7% → 291, 4070 × 12% → 488 (so 976 = 488 + 488).
@pytest.mark.parametrize(
    ("base", "ratio", "expected"),
    [("2125", "0.10", "213"), ("4150", "0.07", "291"), ("4070", "0.12", "488"), ("3000", "0.10", "300"), ("2500", "0.05", "125")],
)
def test_monthly_deposit_rounds_half_up(base: str, ratio: str, expected: str) -> None:
    assert monthly_deposit(Decimal(base), Decimal(ratio)) == Decimal(expected)


@pytest.mark.parametrize(("value", "expected"), [("212.5", "213"), ("2.5", "3"), ("0.5", "1"), ("-2.5", "-3"), ("1.49", "1")])
def test_half_up_is_not_bankers_rounding(value: str, expected: str) -> None:
    assert half_up(Decimal(value)) == Decimal(expected)


def test_half_up_to_fen() -> None:
    assert half_up(Decimal("0.125"), FEN) == Decimal("0.13")


def test_a_column_of_amounts_reads_as_each_amount_would() -> None:
    shared = Decimal("1409.5")
    values = [shared, None, Decimal("-0"), shared, Decimal("212.505"), Decimal("1E+3"), None]
    assert money_texts(values) == ["" if value is None else money_text(value) for value in values]
    assert money_texts(values) == ["1409.50", "", "0.00", "1409.50", "212.51", "1000.00", ""]


def test_money_texts_of_a_generator_keep_each_value() -> None:
    # Each Decimal is freed once its text is made, so its id() is reused by the next one.
    assert money_texts(Decimal(text) for text in ["1.5", "2.5", "3.75", "100"]) == ["1.50", "2.50", "3.75", "100.00"]


def test_equal_values_have_one_text_whatever_their_form() -> None:
    values = [Decimal("1.50"), Decimal("1.5"), Decimal("1.500"), Decimal("0"), Decimal("-0"), Decimal("-0.00"), Decimal("0E+2")]
    assert money_texts(values) == ["1.50", "1.50", "1.50", "0.00", "0.00", "0.00", "0.00"]
    assert money_texts(reversed(values)) == ["0.00", "0.00", "0.00", "0.00", "1.50", "1.50", "1.50"]


@pytest.mark.parametrize(("value", "text"), [("-0", "0.00"), ("-0.00", "0.00"), ("-0.004", "0.00"), ("-0.005", "-0.01"), ("0", "0.00"), ("-1.5", "-1.50")])
def test_a_zero_is_never_negative(value: str, text: str) -> None:
    assert money_text(Decimal(value)) == text
