"""One declarative schema per template, found by the template's kind (its Chinese name).

Each template module defines ``KIND``, ``HEADER`` (the exact header, in order), ``TOTAL_COLUMNS``
(amounts a 合计 row is checked against), ``TEXT_COLUMNS`` (formatted as text in the blank
template), ``NOTE`` (the rules shown above the header) and ``fields(config)`` / ``schema(config)``.
"""

from __future__ import annotations

from types import ModuleType

from schemas import backpay, base_adjust, registration, seal, transfer, unseal

TEMPLATES: dict[str, ModuleType] = {module.KIND: module for module in (backpay, base_adjust, seal, unseal, transfer, registration)}


def template_for(kind: str) -> ModuleType:
    try:
        return TEMPLATES[kind]
    except KeyError:
        raise KeyError(f"未知的模板类型「{kind}」，可选：{'、'.join(TEMPLATES)}") from None
