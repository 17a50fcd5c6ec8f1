"""Rules stage: a template's business rules, one module per template, found by its kind.

Each module has ``apply(rows, context)``: it adds issues and computed amounts to the rows that
passed the schema and sets their status. Rules read master data only through the
:class:`~pipeline.rules.context.RuleContext` the store stage loaded for the unit, so they never
see another unit's members.
"""

from __future__ import annotations

from types import ModuleType

from pipeline.rules import backpay

RULES: dict[str, ModuleType] = {backpay.KIND: backpay}
