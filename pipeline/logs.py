"""Logging for the ``gjj`` commands: to ``var/log/gjj.log``, with 证件号码 masked.

An ID number in a log line keeps its first 6 and last 4 characters (SPEC.md, Reliability and
security): ``211402198702190040`` → ``211402********0040``. The filter sits on the handler, so it
masks whatever any module logs.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

ID_NUMBER = re.compile(r"(?<![0-9])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")


def mask_id(id_number: str) -> str:
    """One 证件号码 with only the first 6 and last 4 characters shown (outputs, the staff summary)."""
    if len(id_number) <= 10:
        return id_number
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_ids(text: str) -> str:
    return ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)


class MaskIds(logging.Filter):
    """Masks the message and also a logged exception's traceback (its text may hold cell values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_ids(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_ids(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_ids(record.stack_info)
        return True


def configure(log_dir: Path, level: int = logging.INFO) -> logging.Handler:
    """Send the library's log records to ``log_dir/gjj.log``, IDs masked."""
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_dir / "gjj.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskIds())
    logger = logging.getLogger("pipeline")
    logger.setLevel(level)
    if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == handler.baseFilename for h in logger.handlers):
        logger.addHandler(handler)
    return handler
