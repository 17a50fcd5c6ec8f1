"""Scans kept by their content: a ``documents`` row per sha256 and the file ``<root>/<aa>/<sha256>``.

The root is ``$GJJ_HOME/var/documents`` (:attr:`pipeline.config.Home.documents`), never inside an
outbox: units never get scans back. A file is written once (a temporary file in its folder,
fsync, ``os.replace``, then the folder is synced); the same bytes sent again, by any unit, reuse
it. The files of a batch are written before its transaction commits, so a committed request
always finds its scans; a file written for a batch that then rolls back is only an unused copy.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.config import Limits
from pipeline.errors import Fault
from pipeline.model import Document
from pipeline.read.bundle import scan_bytes
from pipeline.store.bulk import insert_rows
from pipeline.store.tables import RequestDocument, ReviewRequest, StoredDocument

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def document_path(root: Path, sha256: str) -> Path:
    """Where the bytes of ``sha256`` are kept; a value that is not a sha256 is refused (ValueError)."""
    if not SHA256.match(sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    return root / sha256[:2] / sha256


def link(session: Session, request_id: int, documents: Iterable[Document], now: datetime) -> None:
    """Keep ``documents`` (a row per new content) as the scans of the review request ``request_id``."""
    link_all(session, ((request_id, document) for document in documents), now)


def link_all(session: Session, scans: Iterable[tuple[int, Document]], now: datetime) -> None:
    """Keep each ``(request_id, document)`` as a scan of that review request: a ``documents`` row per
    new content (each content once, however many requests share it), the links in bulk."""
    scans = list(scans)
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    for document in {document.sha256: document for _, document in scans}.values():
        session.execute(
            module.insert(StoredDocument)
            .values(sha256=document.sha256, content_type=document.content_type, size=document.size, first_seen=now)
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
    links = ((request_id, document.sha256, document.kind, document.entry) for request_id, document in scans)
    insert_rows(session, RequestDocument.__table__, ("request_id", "sha256", "kind", "entry_name"), links)


def write_document(root: Path, sha256: str, data: bytes) -> Path:
    """Put ``data`` (whose sha256 is ``sha256``) in place, durably; nothing is done when it is there already."""
    target = document_path(root, sha256)
    if target.is_file() and target.stat().st_size == len(data):
        return target
    target.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    temporary = target.with_name(f".{sha256}.tmp-{os.getpid()}")
    try:
        # Identity scans: readable by the service's group at most, whatever the umask lets through.
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return target


def keep_files(session: Session, root: Path, source: Path, batch_pk: int, limits: Limits) -> list[Path]:
    """Write the scans the batch's review requests link to, read again from the zip ``source``
    (with the read stage's bounds); a scan whose bytes changed since they were checked is a fault."""
    query = (
        select(RequestDocument.entry_name, RequestDocument.sha256)
        .join(ReviewRequest, ReviewRequest.id == RequestDocument.request_id)
        .where(ReviewRequest.batch_pk == batch_pk)
        .order_by(RequestDocument.id)
    )
    written = []
    for entry, sha256 in session.execute(query).all():
        if document_path(root, sha256).is_file():
            written.append(document_path(root, sha256))
            continue
        data = scan_bytes(source, entry, limits)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise Fault(f"the scan {entry!r} of {source.name} changed while it was processed")
        written.append(write_document(root, sha256, data))
    return written
