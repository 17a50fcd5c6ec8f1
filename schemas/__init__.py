"""One declarative schema per template, found by the template's kind (its Chinese name).

Each template module declares one :class:`~schemas.template.Template`, ``TEMPLATE``: its ``KIND``,
its fields (from which ``HEADER``, ``TEXT_COLUMNS`` and ``schema(config)`` come), ``TOTAL_COLUMNS``
(amounts a 合计 row is checked against) and ``NOTE`` (the rules shown above the header). The
module answers for its template too: ``backpay.HEADER`` is ``backpay.TEMPLATE.HEADER``.
"""

from __future__ import annotations

from schemas import backpay, base_adjust, member_change, registration, remit, seal, transfer, unseal
from schemas.template import Template

TEMPLATES: dict[str, Template] = {module.TEMPLATE.KIND: module.TEMPLATE for module in (backpay, base_adjust, seal, unseal, transfer, registration, remit, member_change)}


def template_for(kind: str) -> Template:
    try:
        return TEMPLATES[kind]
    except KeyError:
        raise KeyError(f"未知的模板类型「{kind}」，可选：{'、'.join(TEMPLATES)}") from None
