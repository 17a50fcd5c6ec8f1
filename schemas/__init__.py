"""One declarative schema per template, found by the template's kind (its Chinese name).

Each template module declares one :class:`~schemas.template.Template`, ``TEMPLATE``: its ``KIND``,
its fields (from which ``HEADER``, ``TEXT_COLUMNS`` and ``schema(config)`` come), ``TOTAL_COLUMNS``
(amounts a 合计 row is checked against) and ``NOTE`` (the rules shown above the header). The
module answers for its template too: ``backpay.HEADER`` is ``backpay.TEMPLATE.HEADER``.

The template modules import pandas and pandera; ``TEMPLATES`` imports them on first use, so that
``import schemas`` (for :data:`KINDS`, e.g. in ``gjj --help``) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.template import Template

    TEMPLATES: dict[str, Template]

#: The kinds of ``TEMPLATES``, in its order (tests/test_startup.py holds the two equal).
KINDS: tuple[str, ...] = ("补缴", "基数调整", "封存", "启封", "单位调整", "缴存人登记", "汇缴", "缴存人信息变更")
#: The 汇缴 template's kind (``schemas.remit.TEMPLATE.KIND``), named where no template is loaded.
REMIT_KIND = "汇缴"


def _templates() -> dict[str, Template]:
    from schemas import backpay, base_adjust, member_change, registration, remit, seal, transfer, unseal

    modules = (backpay, base_adjust, seal, unseal, transfer, registration, remit, member_change)
    return {module.TEMPLATE.KIND: module.TEMPLATE for module in modules}


def _loaded() -> dict[str, Template]:
    templates = globals().get("TEMPLATES")
    if templates is None:
        templates = globals()["TEMPLATES"] = _templates()
    return templates


def __getattr__(name: str) -> Any:
    """``schemas.TEMPLATES``, built (and kept) on first use."""
    if name == "TEMPLATES":
        return _loaded()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def template_for(kind: str) -> Template:
    try:
        return _loaded()[kind]
    except KeyError:
        raise KeyError(f"未知的模板类型「{kind}」，可选：{'、'.join(KINDS)}") from None
