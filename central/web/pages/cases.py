"""The 差评 cases: the list (what needs action first), one case, and its steps,
follow-ups and files (supervisors). The context and the forms are
:mod:`central.web.case_forms`; the rules are :mod:`central.workflow`."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from ... import attachments as attachments_mod
from ... import cases as cases_mod
from ... import stats as stats_mod
from ...api import deps
from ...auth import User, utcnow
from .. import case_forms, csrf, i18n
from .common import PAGE_SIZE, filter_params, filters, forbidden, page_number, render, sections, to_login, user_of
from .overview import page_sources

router = APIRouter(include_in_schema=False)


@router.get("/cases")
def cases_page(request: Request):
    user = user_of(request)
    if user is None:
        return to_login(request)
    q = request.query_params
    source, source_error = page_sources(request)
    f = {**filters(request), "source": source}
    asked = q.get("view")
    view = asked if asked is not None and asked in cases_mod.VIEWS else "action"
    state = q.get("state") if q.get("state") in cases_mod.STATES else None
    overdue = {"1": True, "0": False}.get(q.get("overdue", ""))
    page = page_number(request)
    with deps.get_engine(request).connect() as conn:
        ctx = case_forms.list_context(conn, user, view=view, state=state, overdue=overdue, filters=f,
                                      deadlines=deps.get_settings(request).deadlines, limit=PAGE_SIZE,
                                      offset=(page - 1) * PAGE_SIZE)
        all_sections = sections(conn)
    params = {"view": view, **filter_params(f), **({"state": state} if state else {}),
              **({"overdue": q.get("overdue")} if overdue is not None else {})}
    return render(request, "cases.html", user=user, page=page, pages=max(1, -(-ctx["total"] // PAGE_SIZE)),
                  f=f, state=state, overdue=overdue, sections=all_sections, qs=urlencode(params),
                  sources=stats_mod.SOURCE_LABELS, source=source or (), source_error=source_error,
                  source_label=stats_mod.source_label, **ctx)


def case_view(request: Request, user: User, case_id: int, *, status: int = 200, error: str | None = None,
              draft: dict[str, str] | None = None):
    with deps.get_engine(request).connect() as conn:
        ctx = case_forms.case_context(conn, case_id, user, deadlines=deps.get_settings(request).deadlines)
    if ctx is None:
        return render(request, "error.html", user=user, status=404, title="404", message=f"no case {case_id}")
    return render(request, "case.html", user=user, status=status, error=error, draft=draft or {}, **ctx)


@router.get("/cases/{case_id:int}")
def case_page(request: Request, case_id: int):
    user = user_of(request)
    if user is None:
        return to_login(request)
    return case_view(request, user, case_id)


async def _case_post(request: Request):
    """The user and the (multi-valued) form of a case post, or the page that refuses it."""
    user = user_of(request)
    if user is None:
        return None, None, to_login(request)
    _ = i18n.translator(i18n.pick(request)[0])
    if not user.may("act"):
        return user, None, forbidden(request, user, _("只有主管可以处理差评工单。", "Only supervisors may act on cases."))
    data = await request.form()
    token = data.get(csrf.FIELD)
    if not csrf.valid(request, request.cookies.get(deps.SESSION_COOKIE), token if isinstance(token, str) else None):
        return user, None, forbidden(request, user, _("表单已过期，请刷新页面后重试。", "The form expired; reload the page."))
    return user, data, None


def _refused(request: Request, user: User, case_id: int, exc: Exception, draft: dict[str, str] | None = None):
    if isinstance(exc, cases_mod.CaseNotFound) or getattr(exc, "status", None) == 404:
        return render(request, "error.html", user=user, status=404, title="404", message=f"no case {case_id}")
    return case_view(request, user, case_id, status=getattr(exc, "status", 400),
                     error=case_forms.zh_error(exc, i18n.pick(request)[0]), draft=draft)


@router.post("/cases/{case_id:int}/transition")
async def case_transition(request: Request, case_id: int):
    user, data, stop = await _case_post(request)
    if stop is not None:
        return stop
    body = case_forms.transition_body(data)
    try:
        cases_mod.transition(deps.get_engine(request), case_id, body, actor=user.username, role=user.role,
                             now=utcnow(), deadlines=deps.get_settings(request).deadlines)
    except (cases_mod.CaseNotFound, cases_mod.CaseTransitionError) as exc:
        return _refused(request, user, case_id, exc, {body["to"]: body["note"], "due_date": body.get("due_date", "")})
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id:int}/followups")
async def case_followup(request: Request, case_id: int):
    user, data, stop = await _case_post(request)
    if stop is not None:
        return stop
    body = case_forms.followup_body(data, deps.get_settings(request).tz)
    try:
        cases_mod.add_followup(deps.get_engine(request), case_id, body, actor=user.username, role=user.role,
                               now=utcnow())
    except (cases_mod.CaseNotFound, cases_mod.CaseTransitionError) as exc:
        return _refused(request, user, case_id, exc)
    return RedirectResponse(f"/cases/{case_id}#followups", status_code=303)


@router.post("/cases/{case_id:int}/attachments")
async def case_upload(request: Request, case_id: int):
    user, data, stop = await _case_post(request)
    if stop is not None:
        return stop
    upload = data.get("file")
    try:
        if upload is None or isinstance(upload, str):
            raise attachments_mod.AttachmentError("the file is empty: choose one")
        content = await upload.read(attachments_mod.MAX_BYTES + 1)
        attachments_mod.store(deps.get_engine(request), case_id, upload.filename, upload.content_type, content,
                              actor=user.username, now=utcnow())
    except attachments_mod.AttachmentError as exc:
        if exc.status == 404:
            return _refused(request, user, case_id, exc)
        lang = i18n.pick(request)[0]
        msg = str(exc) if lang == "en" else "附件只接受不超过 10 MB 的 PDF、PNG 或 JPEG 文件。"
        return case_view(request, user, case_id, status=exc.status, error=msg)
    return RedirectResponse(f"/cases/{case_id}#attachments", status_code=303)
