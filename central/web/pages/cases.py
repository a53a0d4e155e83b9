"""The 差评 cases: the list, one case, and moving it on (supervisors)."""

from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from kiosk.levels import Level

from ... import cases as cases_mod
from ...api import deps
from ...auth import User, utcnow
from ...db import cases as cases_table
from .. import csrf, i18n
from .common import PAGE_SIZE, filters, forbidden, form, page_number, render, sections, to_login, user_of

router = APIRouter(include_in_schema=False)
#: Which transitions need a note.
NOTE_REQUIRED = {"invalid", "rectified", "fed_back"}


@router.get("/cases")
def cases_page(request: Request):
    user = user_of(request)
    if user is None:
        return to_login(request)
    q = request.query_params
    f = filters(request)
    state = q.get("state") if q.get("state") in cases_mod.STATES else None
    overdue = {"1": True, "0": False}.get(q.get("overdue", ""))
    page = page_number(request)
    with deps.get_engine(request).connect() as conn:
        now = utcnow()
        total, rows = cases_mod.list_cases(conn, state=state, overdue=overdue, now=now,
                                           limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **f)
        all_sections = sections(conn)
        by_state = dict(conn.execute(sa.select(cases_table.c.state, sa.func.count())
                                     .group_by(cases_table.c.state)).all())
        overdue_n = conn.execute(sa.select(sa.func.count()).where(
            cases_table.c.state.in_(cases_mod.UNRECTIFIED), cases_table.c.deadline < now)).scalar_one()
    params = {**{k: v for k, v in f.items() if v}, **({"state": state} if state else {}),
              **({"overdue": q.get("overdue")} if overdue is not None else {})}
    return render(request, "cases.html", user=user, rows=rows, total=total, page=page,
                  pages=max(1, -(-total // PAGE_SIZE)), f=f, state=state, overdue=overdue,
                  sections=all_sections, states=cases_mod.STATES, qs=urlencode(params),
                  by_state=by_state, overdue_n=overdue_n)


def case_view(request: Request, user: User, case_id: int, *, status: int = 200, error: str | None = None,
              draft: dict[str, str] | None = None):
    with deps.get_engine(request).connect() as conn:
        case = cases_mod.get_case(conn, case_id, now=utcnow(), show_phone=user.may("see_phone"))
    if case is None:
        return render(request, "error.html", user=user, status=404, title="404", message=f"no case {case_id}")
    return render(request, "case.html", user=user, case=case, level=Level.from_wire(case["satisfaction"]),
                  next_states=cases_mod.NEXT[case["state"]] if user.may("act") else (),
                  status=status, error=error, draft=draft or {})


@router.get("/cases/{case_id:int}")
def case_page(request: Request, case_id: int):
    user = user_of(request)
    if user is None:
        return to_login(request)
    return case_view(request, user, case_id)


@router.post("/cases/{case_id:int}/transition")
async def case_transition(request: Request, case_id: int):
    user = user_of(request)
    if user is None:
        return to_login(request)
    _ = i18n.translator(i18n.pick(request)[0])
    if not user.may("act"):
        return forbidden(request, user, _("只有主管可以处理差评工单。", "Only supervisors may act on cases."))
    data = await form(request)
    if not csrf.valid(request, request.cookies.get(deps.SESSION_COOKIE), data.get(csrf.FIELD)):
        return forbidden(request, user, _("表单已过期，请刷新页面后重试。", "The form expired; reload the page."))
    to = data.get("to", "")
    note = (data.get("note") or "").strip()[:4000]
    if to in NOTE_REQUIRED and not note:
        msg = {"invalid": _("请填写无效的理由。", "Give the reason why the rating is invalid."),
               "rectified": _("请填写整改措施。", "Say what was done to rectify."),
               "fed_back": _("请填写回访情况。", "Give the callback note.")}[to]
        return case_view(request, user, case_id, status=400, error=msg, draft={to: note})
    try:
        cases_mod.transition(deps.get_engine(request), case_id, to, note, actor=user.username, now=utcnow())
    except cases_mod.CaseNotFound:
        return render(request, "error.html", user=user, status=404, title="404", message=f"no case {case_id}")
    except cases_mod.CaseTransitionError as exc:
        return case_view(request, user, case_id, status=exc.status, error=str(exc), draft={to: note})
    return RedirectResponse(f"/cases/{case_id}", status_code=303)
