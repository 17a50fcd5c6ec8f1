"""The core system's feed of money received (``gjj load --payments``): one line per 业务流水号 paid.

Read and cell-checked like the master data files (:mod:`schemas.masterdata`): every cell must be
there, 到账日期 a date, 到账金额 an amount above zero.
"""

from __future__ import annotations

import pandera.pandas as pa

from schemas.fields import Field, FieldKind, amount, build_schema, text

SERIAL, PAID_ON, AMOUNT = "业务流水号", "到账日期", "到账金额"

PAYMENT_FIELDS: tuple[Field, ...] = (
    text(SERIAL, 30),
    Field(PAID_ON, FieldKind.DATE, max_length=20),
    amount(AMOUNT, positive=True),
)

PAYMENT_HEADER = tuple(field.name for field in PAYMENT_FIELDS)


def payment_schema() -> pa.DataFrameSchema:
    return build_schema(PAYMENT_FIELDS, "到账")
