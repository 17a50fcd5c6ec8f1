"""The first waiting file read while ``gjj run`` starts: see :class:`pipeline.read.workbook.EarlyRead`.

Only the parse is early; the file is taken, hashed, checked and recorded as any other, in its turn.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Home
from pipeline.intake.scan import waiting_files
from pipeline.read.workbook import start_early_read


def read_first_waiting(home: Path) -> None:
    """Start parsing the file a run of ``home`` takes first, when it is an xlsx workbook."""
    arrivals = waiting_files(Home(home).inbox)
    if arrivals and arrivals[0].path.suffix.lower() == ".xlsx":
        start_early_read(arrivals[0].path)
