"""What a template module declares, once: a :class:`Template` whose columns are a tuple of fields.

The header, the columns formatted as text and the pandera schema all come from the fields, so a
column is named in one place. The header needs no config (the header detector matches it before
anything else is known); what the config decides (an enum of the centre's reasons) is filled in
when :meth:`Template.fields` or :meth:`Template.schema` is given the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandera.pandas as pa

from pipeline.config import CentreConfig
from schemas.fields import Field, build_schema


@dataclass(frozen=True)
class Template:
    """One kind of file a unit sends: its columns in header order and what its blank template shows.

    The attribute names are the ones the pipeline reads (``TEMPLATES[kind].HEADER``,
    ``template.schema(config)``); :meth:`module_attribute` makes them the template module's too.
    """

    KIND: str
    #: The columns, in header order; :meth:`fields` fills in what the config decides.
    FIELDS: tuple[Field, ...]
    #: The rules shown above the header of the blank template, with what the configuration decides
    #: as ``{reasons}``, ``{counter_threshold}`` and ``{sealed_unit}`` (see :meth:`note`).
    NOTE: str
    #: Amount columns a 合计 row is checked against.
    TOTAL_COLUMNS: tuple[str, ...] = ()
    #: The columns of the printed confirmation list; without them, every column but 序号.
    CONFIRMATION_COLUMNS: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        header = self.HEADER
        if len(set(header)) != len(header) or not set(self.TOTAL_COLUMNS + self.CONFIRMATION_COLUMNS) <= set(header):
            raise ValueError(f"template {self.KIND}: a column named twice, or a total or confirmation column not in {header}")

    @property
    def HEADER(self) -> tuple[str, ...]:
        """The exact header, in order."""
        return tuple(field.name for field in self.FIELDS)

    @property
    def TEXT_COLUMNS(self) -> frozenset[str]:
        """The columns the blank template formats as text, so Excel keeps their cells as typed."""
        return frozenset(field.name for field in self.FIELDS if field.as_text)

    def fields(self, config: CentreConfig) -> tuple[Field, ...]:
        """The columns as ``config`` has them (an enum's allowed values filled in)."""
        return tuple(field.for_config(config, self.KIND) for field in self.FIELDS)

    def note(self, config: CentreConfig) -> str:
        """The note of the blank template, with the centre's reasons, counter threshold and 集中封存户."""
        return self.NOTE.format(
            reasons="、".join(config.reasons_for(self.KIND)), counter_threshold=config.counter_threshold_text, sealed_unit=config.sealed_unit
        )

    def schema(self, config: CentreConfig) -> pa.DataFrameSchema:
        return build_schema(self.fields(config), self.KIND)

    def module_attribute(self, name: str) -> Any:
        """The ``__getattr__`` (PEP 562) of the template's module: ``backpay.HEADER`` is ``backpay.TEMPLATE.HEADER``."""
        if name.startswith("_") or not hasattr(self, name):
            raise AttributeError(f"the template module of {self.KIND} has no attribute {name!r}")
        return getattr(self, name)
