"""What the case pages need besides rendering: the page context of one case
and of the list, the forms turned into the API's bodies, and the errors in
Chinese. Plain functions over :mod:`central.cases` and :mod:`central.workflow`
so the routes stay thin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kiosk.levels import REASONS, Level

from .. import cases as cases_mod
from .. import workflow
from ..auth import User, utcnow
from ..db import cases as cases_table
from ..workdays import Deadlines

VIEWS = (("action", "待我处理", "To act on"), ("approve", "待我审批", "Mine to approve"), ("all", "全部", "All"))

#: Field of a refused step → what the zh page says.
_ZH_FIELD = {
    "note": "请填写说明（必填）。",
    "due_date": "请填写整改期限：不早于今天，延期须晚于原期限。",
    "attachment_ids": "请先上传书面报告或正式情况说明，并勾选它。",
    "followup": "请先记录回访，再标记已反馈。",
    "reasons": "所选原因不属于该评价等级。",
    "method": "请选择回访方式。",
    "reached": "请选择是否联系上群众。",
    "satisfied": "请选择群众意见。",
    "at": "回访时间不能晚于现在。",
}


def zh_error(exc: Exception, lang: str) -> str:
    """A refused step's message for the page: the API's English under ``?lang=en``,
    a Chinese sentence in the zh UI."""
    msg = str(exc)
    if lang == "en":
        return msg
    status = getattr(exc, "status", 400)
    field = msg.split(":", 1)[0]
    if status == 400 and field in _ZH_FIELD:
        return _ZH_FIELD[field]
    if status == 403:
        return "只有主管或管理员可以处理差评工单。"
    if "another person" in msg:
        return "须由其他主管审批：申请人、制定整改计划的人或反馈人不能审批自己的步骤。"
    if "cannot go to" in msg or "changed by someone else" in msg:
        return "工单状态已变化，此操作不再适用，请刷新页面。"
    if isinstance(exc, cases_mod.CaseNotFound):
        return "没有这个工单。"
    return msg


def case_context(conn: Connection, case_id: int, user: User, *, deadlines: Deadlines,
                 now: datetime | None = None) -> dict[str, Any] | None:
    """Everything case.html shows for ``user``."""
    now = now or utcnow()
    case = cases_mod.get_case(conn, case_id, now=now, show_phone=user.may("see_phone"), deadlines=deadlines)
    if case is None:
        return None
    can_act = user.role in workflow.ACTORS
    moves = []
    if can_act:
        for m in case["moves"]:
            moves.append({**m, "blocked": bool(m["four_eyes"]) and case["state_by"] == user.username})
    return {"case": case, "level": Level.from_wire(case["satisfaction"]), "can_act": can_act, "moves": moves,
            "stages": workflow.STAGES, "stage": workflow.STAGE_OF[case["state"]],
            "level_reasons": REASONS[case["satisfaction"]], "files": {a["id"]: a["name"] for a in case["attachments"]},
            "methods": list(cases_mod.METHOD_ZH.items()), "satisfied": list(cases_mod.SATISFIED_ZH.items()),
            "today": deadlines.local_today(now).isoformat()}


def list_context(conn: Connection, user: User, *, view: str, state: str | None, overdue: bool | None,
                 filters: dict[str, Any], deadlines: Deadlines, limit: int, offset: int) -> dict[str, Any]:
    """Everything cases.html shows: one page of the view, the counts by state, the
    overdue count and how many wait for ``user``'s approval."""
    now = utcnow()
    total, rows = cases_mod.list_cases(conn, state=state, overdue=overdue, view=view, me=user.username, now=now,
                                       deadlines=deadlines, limit=limit, offset=offset, **filters)
    approve_n, _ = cases_mod.list_cases(conn, view="approve", me=user.username, now=now, limit=1)
    by_state: dict[str, int] = dict(conn.execute(sa.select(cases_table.c.state, sa.func.count())
                                 .group_by(cases_table.c.state)).all())
    overdue_n = conn.execute(sa.select(sa.func.count()).where(
        cases_table.c.state.in_(cases_mod.CAN_BE_OVERDUE), cases_table.c.deadline < now)).scalar_one()
    return {"rows": rows, "total": total, "by_state": by_state, "overdue_n": overdue_n, "approve_n": approve_n,
            "views": VIEWS, "view": view, "states": workflow.STATES, "awaiting": workflow.AWAITING_APPROVAL}


def transition_body(form) -> dict[str, Any]:
    """A transition form (multi-valued) as the API's body."""
    body: dict[str, Any] = {"to": form.get("to", ""), "note": (form.get("note") or "")[:4000]}
    reasons = [r for r in form.getlist("reasons") if isinstance(r, str)]
    if reasons:
        body["reasons"] = reasons
    if form.get("due_date"):
        body["due_date"] = form.get("due_date")
    ids = []
    for v in form.getlist("attachment_ids"):
        if isinstance(v, str) and v.isdigit():
            ids.append(int(v))
    if ids:
        body["attachment_ids"] = ids
    return body


def followup_body(form, tz: ZoneInfo) -> dict[str, Any]:
    """A follow-up form as the API's body; ``at`` is the browser's local time."""
    body: dict[str, Any] = {"method": form.get("method"), "reached": {"1": True, "0": False}.get(form.get("reached")),
                            "satisfied": form.get("satisfied") or "unknown", "note": (form.get("note") or "")[:4000]}
    at = (form.get("at") or "").strip()
    if at:
        try:
            local = datetime.fromisoformat(at).replace(tzinfo=tz)
            body["at"] = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            body["at"] = at  # refused with its own message
    return body
