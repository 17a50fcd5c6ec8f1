"""The scans of review requests, as staff see them (``gjj review show``, later the web console).

A request's scans are read from the database (kind, name in the unit's zip, content type, size,
sha256) with the path of their content-addressed file; :func:`export_documents` copies them to a
folder of the reviewer's choice as ``<申请编号>_<kind>.<ext>``; :func:`document_file` finds a
file by its content id only (a sha256), so a URL can never name a path.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.model import DOCUMENT_SUFFIXES
from pipeline.store.documents import document_path
from pipeline.store.tables import RequestDocument, StoredDocument


@dataclass(frozen=True)
class DocumentView:
    """One scan of a request."""

    kind: str
    entry_name: str
    content_type: str
    size: int
    sha256: str
    path: Path

    @property
    def suffix(self) -> str:
        return DOCUMENT_SUFFIXES.get(self.content_type, "bin")

    @property
    def present(self) -> bool:
        return self.path.is_file()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "entry_name": self.entry_name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "path": str(self.path),
        }


def request_documents(session: Session, root: Path, request_id: int) -> list[DocumentView]:
    """The scans of review request ``request_id`` (身份证 first), with where their bytes are under ``root``."""
    query = (
        select(RequestDocument.kind, RequestDocument.entry_name, StoredDocument.content_type, StoredDocument.size, StoredDocument.sha256)
        .join(StoredDocument, StoredDocument.sha256 == RequestDocument.sha256)
        .where(RequestDocument.request_id == request_id)
        .order_by(RequestDocument.kind.desc(), RequestDocument.id)
    )
    return [DocumentView(kind, entry, content_type, size, sha256, document_path(root, sha256)) for kind, entry, content_type, size, sha256 in session.execute(query)]


def document_file(root: Path, sha256: str) -> Path | None:
    """The stored file of content id ``sha256``, or None (not a sha256, or not kept)."""
    try:
        path = document_path(root, sha256)
    except ValueError:
        return None
    return path if path.is_file() else None


def export_documents(request_id: int, documents: list[DocumentView], folder: Path) -> list[Path]:
    """Copy ``documents`` into ``folder`` as ``<request_id>_<kind>.<ext>``; the copies' paths.

    A scan whose stored file is missing is not copied (``FileNotFoundError`` names it)."""
    missing = [document.entry_name for document in documents if not document.present]
    if missing:
        raise FileNotFoundError(f"stored scans missing: {', '.join(missing)}")
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for document in documents:
        target = folder / f"{request_id}_{document.kind}.{document.suffix}"
        shutil.copyfile(document.path, target)
        copies.append(target)
    return copies
