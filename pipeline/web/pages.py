"""首页, 待审核 (the queue with its batches, each approved at once by 整批通过; a request with the
member's record and the scans inline, the decisions),
the scans themselves, 缴存人查询 and 操作日志.

A decision calls :func:`pipeline.services.review.review` exactly as ``gjj review`` does, with the
staff account as the reviewer, and then rebuilds the day's staff summary as the command does.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from pipeline.model import DOCUMENT_SUFFIXES
from pipeline.services import audit
from pipeline.services.documents import document_file, request_documents
from pipeline.services.listings import ReviewView, list_requests
from pipeline.services.lookup import find_members, latest_runs, member_record, run_files
from pipeline.services.quarantine import quarantined_files
from pipeline.services.review import DecisionOutcome, Recorder, review, review_batch, show_request
from pipeline.services.staff import StaffView
from pipeline.store.dbapi import session_reader
from pipeline.store.states import REVIEW_APPROVED, REVIEW_PENDING, REVIEW_REFUSED, REVIEW_RETURNED
from pipeline.store.tables import Member, RequestDocument, ReviewRequest, StoredDocument
from pipeline.web.auth import REVIEWER, VIEWER, log_action, page
from pipeline.web.base import console_of, flash, render

DECISIONS = {"approve": REVIEW_APPROVED, "return": REVIEW_RETURNED, "refuse": REVIEW_REFUSED}
#: The only types a scan is served as; anything else stored (nothing should be) is not served at all.
SERVED_TYPES = frozenset({"image/png", "image/jpeg", "application/pdf"})
CONTENT_ID = re.compile(r"[0-9a-f]{64}")
DOCUMENT_CSP = "default-src 'none'; img-src 'self'; object-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"


@page(VIEWER)
def home(request: Request, staff: StaffView, form: FormData) -> Response:
    console = console_of(request)
    with console.app.sessions() as session:
        runs = latest_runs(session)
        pending = session.scalar(select(func.count()).select_from(ReviewRequest).where(ReviewRequest.state == REVIEW_PENDING)) or 0
        quarantined = len(quarantined_files(session, console.app.home))
    return render(request, "home.html", staff=staff, here="home", runs=runs, pending=pending, quarantined=quarantined)


@page(VIEWER)
def run_page(request: Request, staff: StaffView, form: FormData) -> Response:
    run_id = request.path_params["run_id"]
    with console_of(request).app.sessions() as session:
        files = run_files(session, run_id)
    if not files:
        return render(request, "error.html", 404, staff=staff, title="未找到", message=f"没有运行 {run_id}")
    return render(request, "run.html", staff=staff, here="home", run_id=run_id, files=files)


@page(VIEWER)
def reviews(request: Request, staff: StaffView, form: FormData) -> Response:
    show_all = request.query_params.get("all") == "1"
    with console_of(request).app.sessions() as session:
        views = list_requests(session_reader(session), include_decided=show_all)
    batches = [] if show_all else waiting_batches(views)
    return render(
        request,
        "reviews.html",
        staff=staff,
        here="reviews",
        views=list(reversed(views)) if show_all else views,
        show_all=show_all,
        batches=batches,
        may_decide=staff.may(REVIEWER),
    )


def waiting_batches(views: list[ReviewView]) -> list[dict[str, object]]:
    """The batches with requests waiting, in the queue's order: batch, unit, what they ask, how many."""
    batches: dict[str, dict[str, object]] = {}
    for view in views:
        entry = batches.setdefault(view.batch_id, {"batch_id": view.batch_id, "unit": view.unit_account, "items": [], "count": 0})
        entry["count"] = int(str(entry["count"])) + 1
        items = entry["items"]
        assert isinstance(items, list)
        if view.item not in items:
            items.append(view.item)
    return list(batches.values())


@page(VIEWER)
def review_page(request: Request, staff: StaffView, form: FormData) -> Response:
    request_id = request.path_params["request_id"]
    console = console_of(request)
    with console.app.sessions() as session:
        view = show_request(session, request_id)
        documents = request_documents(session, console.app.home.documents, request_id)
        member = session.get(Member, view.member_account) if view is not None else None
        if member is not None:
            session.expunge(member)
    if view is None:
        return render(request, "error.html", 404, staff=staff, title="未找到", message=f"没有编号为 {request_id} 的审核申请")
    return render(request, "review.html", staff=staff, here="reviews", view=view, documents=documents, member=member, may_decide=staff.may(REVIEWER))


def _audited(staff: StaffView, action: str, target: str, detail: Callable[[DecisionOutcome], str]) -> Recorder:
    """The audit log entry of a decision, written in the decision's transaction: both or neither."""

    def record(session: Session, outcome: DecisionOutcome) -> None:
        audit.record(session, staff.name, action, target, detail(outcome))

    return record


def _decision(request: Request, form: FormData, default: str = "") -> tuple[str, str | None]:
    """The form's decision and the state it sets; an unknown one is flashed and has no state."""
    decision = str(form.get("decision", default))
    state = DECISIONS.get(decision)
    if state is None:
        flash(request, "未知的审核操作", error=True)
    return decision, state


def _refusal_reported(request: Request, staff: StaffView, action: str, target: str, refused: str | None) -> bool:
    """A decision the review refused (already decided, the member changed …) is logged and flashed."""
    if refused is None:
        return False
    log_action(request, staff.name, action, target, f"未审核：{refused}")
    flash(request, f"未审核：{refused}", error=True)
    return True


@page(REVIEWER)
def decide(request: Request, staff: StaffView, form: FormData) -> Response:
    request_id = request.path_params["request_id"]
    decision, state = _decision(request, form)
    if state is None:
        return RedirectResponse(f"/reviews/{request_id}", status_code=303)
    reason = str(form.get("reason", ""))
    app = console_of(request).app
    action, target = f"review {decision}", f"审核申请 {request_id}"
    detail = state + (f"：{reason.strip()}" if reason.strip() else "")
    outcome = review(app.sessions, app.home.outbox, request_id, state, staff.name, reason, config=app.config, record=_audited(staff, action, target, lambda _: detail))
    if outcome.decided_at is not None:
        app.write_summary(outcome.decided_at.date())  # the day's staff page lists the decision, as after `gjj review`
    if not _refusal_reported(request, staff, action, target, outcome.refused):
        view = outcome.request
        assert view is not None
        flash(request, f"申请 {request_id}：{state}（{view.member_account} {view.what}）")
    return RedirectResponse(f"/reviews/{request_id}", status_code=303)


@page(REVIEWER)
def decide_batch(request: Request, staff: StaffView, form: FormData) -> Response:
    """整批通过、整批退回、整批不通过: every request of the batch still waiting, decided at once as
    ``gjj review approve|return|refuse --batch`` does (退回 and 不通过 with the reason the unit is told)."""
    batch_id = str(request.path_params["batch_id"])
    decision, state = _decision(request, form, default="approve")  # the old 整批通过 form sends none
    if state is None:
        return RedirectResponse("/reviews", status_code=303)
    reason = str(form.get("reason", "")).strip()
    app = console_of(request).app
    action, target = f"review {decision} batch", f"批次 {batch_id}"
    recorded = _audited(staff, action, target, lambda outcome: f"{state} {len(outcome.request_ids)} 条" + (f"：{reason}" if reason else ""))
    outcome = review_batch(app.sessions, app.home.outbox, batch_id, state, staff.name, reason, config=app.config, record=recorded)
    if outcome.decided_at is not None:
        app.write_summary(outcome.decided_at.date())
    if not _refusal_reported(request, staff, action, target, outcome.refused):
        flash(request, f"批次 {batch_id}：{len(outcome.request_ids)} 条申请{state}")
    return RedirectResponse("/reviews", status_code=303)


@page(REVIEWER)
def document(request: Request, staff: StaffView, form: FormData) -> Response:
    """A scan by its content id, only if it is a stored scan of a review request, as what it is."""
    content_id = str(request.path_params["content_id"])
    if not CONTENT_ID.fullmatch(content_id):
        return render(request, "error.html", 404, staff=staff, title="未找到", message="材料不存在")
    console = console_of(request)
    with console.app.sessions() as session:
        stored = session.get(StoredDocument, content_id)
        used = session.scalar(select(func.count()).select_from(RequestDocument).where(RequestDocument.sha256 == content_id)) or 0
    path = document_file(console.app.home.documents, content_id)
    if stored is None or not used or path is None or stored.content_type not in SERVED_TYPES:
        return render(request, "error.html", 404, staff=staff, title="未找到", message="材料不存在")
    name = f"{content_id[:12]}.{DOCUMENT_SUFFIXES.get(stored.content_type, 'bin')}"
    headers = {
        "content-disposition": f'inline; filename="{name}"',
        "x-content-type-options": "nosniff",
        "cache-control": "private, no-store",
        "content-security-policy": DOCUMENT_CSP,
    }
    return Response(path.read_bytes(), media_type=stored.content_type, headers=headers)


@page(VIEWER)
def members(request: Request, staff: StaffView, form: FormData) -> Response:
    text = request.query_params.get("q", "").strip()
    with console_of(request).app.sessions() as session:
        found = find_members(session, text)
        session.expunge_all()
    if text:
        log_action(request, staff.name, "member search", text if len(text) <= 12 else f"{text[:6]}…{text[-4:]}", f"{len(found)} 条")
    return render(request, "members.html", staff=staff, here="members", q=text, found=found)


@page(VIEWER)
def member_page(request: Request, staff: StaffView, form: FormData) -> Response:
    with console_of(request).app.sessions() as session:
        record = member_record(session, request.path_params["account"])
        session.expunge_all()
    if record is None:
        return render(request, "error.html", 404, staff=staff, title="未找到", message="没有该个人账号")
    log_action(request, staff.name, "member view", record.member.member_account)
    return render(request, "member.html", staff=staff, here="members", record=record)


@page(VIEWER)
def audit_log(request: Request, staff: StaffView, form: FormData) -> Response:
    who = request.query_params.get("staff", "").strip() or None
    with console_of(request).app.sessions() as session:
        found = audit.entries(session, staff=who)
    return render(request, "audit.html", staff=staff, here="audit", entries=found, who=who or "")


ROUTES = [
    Route("/", home),
    Route("/runs/{run_id}", run_page),
    Route("/reviews", reviews),
    Route("/reviews/{request_id:int}", review_page),
    Route("/reviews/{request_id:int}/decide", decide, methods=["POST"]),
    Route("/reviews/batches/{batch_id}/approve", decide_batch, methods=["POST"]),  # a page opened before 整批退回 existed
    Route("/reviews/batches/{batch_id}/decide", decide_batch, methods=["POST"]),
    Route("/documents/{content_id}", document),
    Route("/members", members),
    Route("/members/{account}", member_page),
    Route("/audit", audit_log),
]
