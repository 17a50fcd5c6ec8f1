"""补缴查询 and 汇缴核定查询 with their deletes, 转柜台, and 隔离区 with 重新处理.

A delete or a re-queue is for admins, asked for on a confirmation page first (a GET that changes
nothing), then done by a POST through the same service function as ``gjj backpay delete``,
``gjj remit delete``; the service refuses what may not be done and the page shows its reason.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from pipeline.errors import Code
from pipeline.run.counter_documents import counter_documents
from pipeline.services.backpay_query import delete_unallocated
from pipeline.services.listings import list_assessments, list_unallocated
from pipeline.services.lookup import referrals, units_with_assessments, units_with_backpay
from pipeline.services.quarantine import quarantined_files, requeue
from pipeline.services.remit import delete_assessment
from pipeline.services.staff import StaffView
from pipeline.store.dbapi import session_reader
from pipeline.web.auth import ADMIN, VIEWER, log_action, page
from pipeline.web.base import console_of, flash, render


def _unit(request: Request, form: FormData | None = None) -> str:
    source = form if form is not None and "unit" in form else request.query_params
    return str(source.get("unit", "")).strip()


@page(VIEWER)
def backpay(request: Request, staff: StaffView, form: FormData) -> Response:
    unit = _unit(request)
    with console_of(request).app.sessions() as session:
        units = units_with_backpay(session)
        listing = list_unallocated(session_reader(session), unit).to_dict() if unit else None
    return render(request, "backpay.html", staff=staff, here="backpay", unit=unit, units=units, listing=listing, admin=staff.may(ADMIN))


@page(ADMIN)
def backpay_confirm(request: Request, staff: StaffView, form: FormData) -> Response:
    unit, serial = _unit(request), request.query_params.get("serial", "")
    with console_of(request).app.sessions() as session:
        records = [r for r in list_unallocated(session_reader(session), unit).to_dict()["records"] if r["业务流水号"] == serial]  # type: ignore[union-attr, index]
    return render(request, "confirm.html", staff=staff, here="backpay", title="删除补缴记录", records=records, action="/backpay/delete", unit=unit, serial=serial,
                  back=f"/backpay?unit={quote(unit)}", question=f"删除单位 {unit} 业务流水号 {serial} 下 {len(records)} 条未分配的补缴记录？")


@page(ADMIN)
def backpay_delete(request: Request, staff: StaffView, form: FormData) -> Response:
    unit, serial = _unit(request, form), str(form.get("serial", ""))
    with console_of(request).app.sessions() as session, session.begin():
        deleted = delete_unallocated(session, unit, serial)
    log_action(request, staff.name, "backpay delete", f"{unit}/{serial}", f"{deleted} 条")
    if deleted:
        flash(request, f"已删除 {deleted} 条补缴记录（业务流水号 {serial}）")
    else:
        flash(request, f"单位 {unit} 没有业务流水号为 {serial} 的未分配补缴记录", error=True)
    return RedirectResponse(f"/backpay?unit={quote(unit)}", status_code=303)


@page(VIEWER)
def remit(request: Request, staff: StaffView, form: FormData) -> Response:
    unit = _unit(request)
    with console_of(request).app.sessions() as session:
        units = units_with_assessments(session)
        listing = list_assessments(session_reader(session), unit) if unit else None
        data = listing.to_dict() if listing is not None else None
    return render(request, "remit.html", staff=staff, here="remit", unit=unit, units=units, listing=data, unknown=bool(unit) and data is None, admin=staff.may(ADMIN))


@page(ADMIN)
def remit_confirm(request: Request, staff: StaffView, form: FormData) -> Response:
    unit, serial = _unit(request), request.query_params.get("serial", "")
    with console_of(request).app.sessions() as session:
        listing = list_assessments(session_reader(session), unit)
        records = [r for r in (listing.to_dict()["核定"] if listing else []) if r["业务流水号"] == serial]  # type: ignore[union-attr, index]
    return render(request, "confirm.html", staff=staff, here="remit", title="删除汇缴核定", records=records, action="/remit/delete", unit=unit, serial=serial,
                  back=f"/remit?unit={quote(unit)}", question=f"删除单位 {unit} 业务流水号 {serial} 的汇缴核定（{len(records)} 个月）？缴至年月将恢复为核定前的月份。")


@page(ADMIN)
def remit_delete(request: Request, staff: StaffView, form: FormData) -> Response:
    unit, serial = _unit(request, form), str(form.get("serial", ""))
    with console_of(request).app.sessions() as session, session.begin():
        deletion = delete_assessment(session, unit, serial)
        if not deletion.deleted:
            session.rollback()
    if deletion.refused is not None:
        log_action(request, staff.name, "remit delete", f"{unit}/{serial}", f"未删除：{deletion.refused}")
        flash(request, f"未删除：{deletion.refused}", error=True)
    else:
        log_action(request, staff.name, "remit delete", f"{unit}/{serial}", f"{'、'.join(deletion.months)}；缴至年月恢复为 {deletion.paid_to_month or '（无）'}")
        flash(request, f"已删除汇缴核定（业务流水号 {serial}，汇缴月度 {'、'.join(deletion.months)}）；缴至年月恢复为 {deletion.paid_to_month or '（无）'}")
    return RedirectResponse(f"/remit?unit={quote(unit)}", status_code=303)


@page(VIEWER)
def counter(request: Request, staff: StaffView, form: FormData) -> Response:
    with console_of(request).app.sessions() as session:
        found = referrals(session)
    documents = {(r.code, r.kind): counter_documents(Code(r.code), r.kind) for r in found}
    return render(request, "referrals.html", staff=staff, here="referrals", referrals=found, documents=documents)


@page(VIEWER)
def quarantine(request: Request, staff: StaffView, form: FormData) -> Response:
    console = console_of(request)
    with console.app.sessions() as session:
        files = quarantined_files(session, console.app.home)
    return render(request, "quarantine.html", staff=staff, here="quarantine", files=files, admin=staff.may(ADMIN))


@page(ADMIN)
def quarantine_requeue(request: Request, staff: StaffView, form: FormData) -> Response:
    folder, name = str(form.get("folder", "")), str(form.get("name", ""))
    console = console_of(request)
    with console.app.sessions() as session:
        outcome = requeue(session, console.app.home, folder, name)
    detail = f"已放回 {outcome.moved_to.parent.name}/{outcome.moved_to.name}" if outcome.moved_to else f"未放回：{outcome.refused}"
    log_action(request, staff.name, "quarantine requeue", f"{folder}/{name}", detail)
    if outcome.moved_to is not None:
        flash(request, f"已将 {name} 放回单位 {folder} 的收件箱（{outcome.moved_to.name}），下一次运行时处理")
    else:
        flash(request, f"未放回：{outcome.refused}", error=True)
    return RedirectResponse("/quarantine", status_code=303)


ROUTES = [
    Route("/backpay", backpay),
    Route("/backpay/delete", backpay_confirm, methods=["GET"]),
    Route("/backpay/delete", backpay_delete, methods=["POST"]),
    Route("/remit", remit),
    Route("/remit/delete", remit_confirm, methods=["GET"]),
    Route("/remit/delete", remit_delete, methods=["POST"]),
    Route("/referrals", counter),
    Route("/quarantine", quarantine),
    Route("/quarantine/requeue", quarantine_requeue, methods=["POST"]),
]
