"""Rules stage: a template's business rules, one module per template, found by its kind.

Rules are pure: they read master data through their context and write nothing. What an accepted
file changes is written by the store (:mod:`pipeline.store.effects`, one module per kind).

Each module has ``KIND`` and a function:

- ``apply(rows, context) -> list[Issue]`` adds issues and computed amounts to the rows that passed
  the schema, sets their status, and returns file-level issues (e.g. ADJUSTED_THIS_YEAR). It reads
  master data only through ``context.data`` and never sees another unit's members unless its
  business needs them (单位调整, 缴存人登记), and then never names them in a message.

A module whose accepted rows change member records sets ``CHANGES_MEMBERS = True``: the check
takes the member lock (``context.data.lock_members()``) before ``apply`` reads any member, so no
other worker's file changes them until this file commits.

A module whose file is all or nothing sets ``WHOLE_FILE = True`` (汇缴: a 核定 of part of a unit's
members makes no sense): one bad row rejects the file even with ``row_errors: accept_valid``
(:func:`pipeline.check.status.decide`).

A module may also have, for a big sheet whose schema check runs in another process meanwhile:

- ``prepare(context)``, which reads master data ``apply`` will need. It only reads, and never what
  ``apply`` must read after ``context.data.lock_members()``.
- ``screen(columns, excel_rows, context)``, a pure look at the whole sheet by column (its cells
  normalised, its schema failures not known yet) kept as ``context.screened``: 补缴 finds there
  the rows that need no row-by-row check. ``apply`` screens a small sheet's rows itself, and a
  test holds both ways to the same issues as checking every row cell by cell.
"""

from __future__ import annotations

from types import ModuleType

from pipeline.rules import backpay, base_adjust, member_change, registration, remit, seal, transfer, unseal

RULES: dict[str, ModuleType] = {module.KIND: module for module in (backpay, base_adjust, seal, unseal, transfer, registration, remit, member_change)}
